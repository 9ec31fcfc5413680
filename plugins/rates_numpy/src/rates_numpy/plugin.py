"""Hook implementations of rates-numpy (the target of its ``rates`` entry point).

Heavy imports (numpy, sympy, scipy) happen inside the hook bodies.
"""

from __future__ import annotations

from rates_core.plugins import BackendInfo, SolverInfo, backend_hooks, hookimpl
from rates_numpy import BACKEND, FIXED_SOLVERS, SCIPY_SOLVER

CAPABILITIES = frozenset(
    {
        "execute",
        "adaptive",
        "dde",
        "dde_algebraic",
        "complex",
        "float32",
        "vectorised",
        "jacobian",
    }
)

_DESCRIPTIONS = {
    "euler": "explicit Euler (fixed step)",
    "heun": "Heun's method, the explicit trapezoid rule (fixed step, order 2)",
    "rk4": "classic fourth-order Runge-Kutta (fixed step)",
}


@hookimpl
def register_backends() -> list[BackendInfo]:
    return [
        BackendInfo(
            BACKEND,
            CAPABILITIES,
            "Generated NumPy code (plain Python floats for small scalar models).",
            runtime_modules=("numpy",),
        )
    ]


@hookimpl
def register_solvers() -> list[SolverInfo]:
    solvers = [
        SolverInfo(name, BACKEND, adaptive=False, description=_DESCRIPTIONS[name], any_backend=True)
        for name in FIXED_SOLVERS
    ]
    solvers.append(
        SolverInfo(
            SCIPY_SOLVER,
            BACKEND,
            adaptive=True,
            capabilities=frozenset({"adaptive", "dde", "complex", "jacobian"}),
            description="scipy.integrate.solve_ivp (method=RK45|RK23|DOP853|Radau|BDF|LSODA)",
            any_backend=True,
        )
    )
    return solvers


#: ``emit_function`` and ``solve``, called on this plugin only (for its backend and solvers)
emit_function, solve = backend_hooks("rates_numpy.emit:emit_function", "rates_numpy.solvers:solve")
