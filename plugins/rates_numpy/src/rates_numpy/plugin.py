"""Hook implementations of rates-numpy (the target of its ``rates`` entry point).

Heavy imports (numpy, sympy, scipy) happen inside the hook bodies.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rates_core.plugins import BackendInfo, SolverInfo, hookimpl
from rates_numpy import BACKEND, FIXED_SOLVERS, SCIPY_SOLVER, SDE_SOLVERS

if TYPE_CHECKING:
    from rates_core.backend import EmittedFunction, Problem, Trajectory
    from rates_core.plugins import EmitContext
    from rates_core.system import System

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
        "sde",
    }
)

_DESCRIPTIONS = {
    "euler": "explicit Euler (fixed step)",
    "heun": "Heun's method, the explicit trapezoid rule (fixed step, order 2)",
    "rk4": "classic fourth-order Runge-Kutta (fixed step)",
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
    solvers.extend(
        SolverInfo(
            name,
            BACKEND,
            adaptive=False,
            capabilities=frozenset({"sde"}),
            description=_DESCRIPTIONS[name],
        )
        for name in SDE_SOLVERS
    )
    return solvers


@hookimpl
def register_builtins(backend: str) -> dict[str, Any] | None:
    if backend != BACKEND:
        return None
    return {}


@hookimpl
def emit_function(backend: str, system: System, context: EmitContext) -> EmittedFunction:
    from rates_numpy.emit import emit_function as emit

    return emit(
        system,
        context.options,
        builtins=dict(context.builtins),
        imports=list(context.imports),
    )


@hookimpl
def solve(solver: str, function: EmittedFunction, problem: Problem) -> Trajectory:
    if solver in SDE_SOLVERS:
        from rates_numpy.sde import solve as run_sde

        return run_sde(solver, function, problem)
    from rates_numpy.solvers import solve as run

    return run(solver, function, problem)
