"""Hook implementations of rates-numpy (the target of its ``rates`` entry point).

Heavy imports (numpy, sympy, scipy) happen inside the hook bodies.
"""

from __future__ import annotations

from rates_core.plugins import BackendInfo, SolverInfo, backend_hooks, hookimpl, solver_family
from rates_numpy import BACKEND, SCIPY_SOLVER, SDE_SOLVERS

CAPABILITIES = frozenset(
    {
        "execute",
        "adaptive",
        "dde",
        "dde_algebraic",
        "dde_outputs",
        "complex",
        "float32",
        "vectorised",
        "jacobian",
        "sde",
        "sde_delays",
        "grid_delays",
    }
)

#: The fixed-step solvers (``FIXED_SOLVERS``, in order) and their descriptions.
_DESCRIPTIONS = {
    "euler": "explicit Euler (fixed step)",
    "heun": "Heun's method, the explicit trapezoid rule (fixed step, order 2)",
    "rk4": "classic fourth-order Runge-Kutta (fixed step)",
}
#: The SDE solvers (``SDE_SOLVERS``, for white noise ``xi()``) and their descriptions.
_SDE_DESCRIPTIONS = {
    "euler_maruyama": "Euler-Maruyama for white noise xi() (Ito; fixed step; without noise "
    "Euler, order 1)",
    "heun_stochastic": "stochastic Heun for white noise xi() (Stratonovich; fixed step; "
    "without noise Heun, order 2)",
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
    fixed = solver_family(BACKEND, _DESCRIPTIONS, adaptive=False, any_backend=True)
    scipy = SolverInfo(
        SCIPY_SOLVER,
        BACKEND,
        adaptive=True,
        capabilities=frozenset({"adaptive", "dde", "complex", "jacobian"}),
        description="scipy.integrate.solve_ivp (method=RK45|RK23|DOP853|Radau|BDF|LSODA)",
        any_backend=True,
    )
    sde = solver_family(
        BACKEND, _SDE_DESCRIPTIONS, adaptive=False, capabilities={"sde", "sde_delays"}
    )
    return [*fixed, scipy, *sde]


#: ``emit_function`` and ``solve``, called on this plugin only (for its backend and solvers)
emit_function, solve = backend_hooks(
    "rates_numpy.emit:emit_function",
    "rates_numpy.solvers:solve",
    routes=dict.fromkeys(SDE_SOLVERS, "rates_numpy.sde:solve"),
)
