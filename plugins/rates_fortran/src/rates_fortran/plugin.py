"""Hook implementations of rates-fortran (the target of its ``rates`` entry point).

Nothing heavy is imported here: numpy, sympy and the compiler are touched inside the hooks.
``execute`` is declared only when a Fortran compiler is on PATH (without one, ``rates export
--backend fortran`` still writes the files).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rates_core.plugins import BackendInfo, SolverInfo, hookimpl
from rates_fortran import ADAPTIVE_SOLVER, BACKEND, FIXED_SOLVERS

if TYPE_CHECKING:
    from rates_core.backend import EmittedFunction, Problem, Trajectory
    from rates_core.plugins import EmitContext
    from rates_core.system import System

#: Capabilities besides ``execute`` (declared when gfortran is found). ``continuation``: Auto-07p
#: files (``get_run_func(..., auto=True)``, :mod:`rates_fortran.auto`).
BASE_CAPABILITIES = frozenset(
    {"adaptive", "dde", "complex", "vectorised", "jacobian", "continuation"}
)

_DESCRIPTIONS = {
    "euler": "explicit Euler in compiled Fortran (fixed step, order 1)",
    "heun": "Heun's method in compiled Fortran (fixed step, order 2)",
    "rk4": "classic Runge-Kutta in compiled Fortran (fixed step, order 4)",
}


def capabilities() -> frozenset[str]:
    from rates_fortran.build import have_compiler

    return BASE_CAPABILITIES | ({"execute"} if have_compiler() else set())


@hookimpl
def register_backends() -> list[BackendInfo]:
    return [
        BackendInfo(
            BACKEND,
            capabilities(),
            "Fortran 2008 compiled with gfortran (bind(c) + ctypes); Auto-07p files",
            runtime_modules=("ctypes",),
        )
    ]


@hookimpl
def register_solvers() -> list[SolverInfo]:
    solvers = [
        SolverInfo(name, BACKEND, adaptive=False, description=_DESCRIPTIONS[method])
        for method, name in FIXED_SOLVERS.items()
    ]
    solvers.append(
        SolverInfo(
            ADAPTIVE_SOLVER,
            BACKEND,
            adaptive=True,
            capabilities=frozenset({"adaptive", "dde", "complex"}),
            description="Dormand-Prince 5(4) in compiled Fortran (options rtol, atol, max_step)",
        )
    )
    return solvers


@hookimpl
def register_builtins(backend: str) -> dict[str, Any] | None:
    if backend != BACKEND:
        return None
    return {}


@hookimpl
def emit_function(backend: str, system: System, context: EmitContext) -> EmittedFunction:
    from rates_fortran.emit import emit_function as emit

    return emit(
        system,
        context.options,
        builtins=dict(context.builtins),
        imports=list(context.imports),
    )


@hookimpl
def solve(solver: str, function: EmittedFunction, problem: Problem) -> Trajectory:
    from rates_fortran.solvers import solve as run

    return run(solver, function, problem)
