"""Hook implementations of rates-numba (the target of its ``rates`` entry point).

numba, numpy and sympy are imported inside the hook bodies only, so listing plugins stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rates_core.plugins import BackendInfo, SolverInfo, hookimpl
from rates_numba import ADAPTIVE_METHOD, BACKEND, FIXED_METHODS

if TYPE_CHECKING:
    from rates_core.backend import EmittedFunction, Problem, Trajectory
    from rates_core.plugins import EmitContext
    from rates_core.system import System

#: What the backend declares; ``dde`` is declared by the fixed-step solvers only (``dopri5``
#: has no history).
CAPABILITIES = frozenset({"execute", "adaptive", "complex", "float32", "vectorised"})

_DESCRIPTIONS = {
    "euler": "explicit Euler, whole run compiled by numba (fixed step)",
    "heun": "Heun's method, whole run compiled by numba (fixed step, order 2)",
    "rk4": "classic fourth-order Runge-Kutta, whole run compiled by numba (fixed step)",
}


@hookimpl
def register_backends() -> list[BackendInfo]:
    return [
        BackendInfo(
            BACKEND,
            CAPABILITIES,
            "Generated NumPy code compiled by numba; whole runs in compiled loops.",
            runtime_modules=("numba",),
        )
    ]


@hookimpl
def register_solvers() -> list[SolverInfo]:
    solvers = [
        SolverInfo(
            f"{BACKEND}_{m}",
            BACKEND,
            adaptive=False,
            capabilities=frozenset({"dde"}),
            description=_DESCRIPTIONS[m],
        )
        for m in FIXED_METHODS
    ]
    solvers.append(
        SolverInfo(
            f"{BACKEND}_{ADAPTIVE_METHOD}",
            BACKEND,
            adaptive=True,
            description="Dormand-Prince 5(4), whole run compiled by numba (options rtol, atol, "
            "first_step, max_steps; no delays)",
        )
    )
    return solvers


@hookimpl
def emit_function(backend: str, system: System, context: EmitContext) -> EmittedFunction:
    from rates_numba.emit import emit_function as emit

    return emit(system, context.options, dict(context.builtins), list(context.imports))


@hookimpl
def solve(solver: str, function: EmittedFunction, problem: Problem) -> Trajectory:
    from rates_numba.solvers import solve as run

    return run(solver, function, problem)


def available() -> Any:
    """Whether numba imports here (for messages; the hooks import it when they run)."""
    try:
        import numba  # noqa: F401
    except ImportError:
        return False
    return True
