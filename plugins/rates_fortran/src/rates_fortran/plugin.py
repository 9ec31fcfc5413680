"""Hook implementations of rates-fortran (the target of its ``rates`` entry point).

Nothing heavy is imported here: numpy, sympy and the compiler are touched inside the hooks.
``execute`` is declared only when a Fortran compiler is on PATH (without one, ``rates export
--backend fortran`` still writes the files).
"""

from __future__ import annotations

from rates_core.plugins import BackendInfo, SolverInfo, backend_hooks, hookimpl, solver_family
from rates_fortran import ADAPTIVE_SOLVER, BACKEND, FIXED_SOLVERS

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
    fixed = {name: _DESCRIPTIONS[method] for method, name in FIXED_SOLVERS.items()}
    dopri5 = SolverInfo(
        ADAPTIVE_SOLVER,
        BACKEND,
        adaptive=True,
        capabilities=frozenset({"adaptive", "dde", "complex"}),
        description="Dormand-Prince 5(4) in compiled Fortran (options rtol, atol, max_step)",
    )
    # the fixed-step loops read delays="grid" (rounded to whole steps) from their ring
    grid = {"grid_delays"}
    return [*solver_family(BACKEND, fixed, adaptive=False, capabilities=grid), dopri5]


#: ``emit_function`` and ``solve``, called on this plugin only (for its backend and solvers)
emit_function, solve = backend_hooks(
    "rates_fortran.emit:emit_function", "rates_fortran.solvers:solve"
)
