"""Hook implementations of rates-numba (the target of its ``rates`` entry point).

numba, numpy and sympy are imported inside the hook bodies only, so listing plugins stays fast.
"""

from __future__ import annotations

from typing import Any

from rates_core.plugins import BackendInfo, SolverInfo, backend_hooks, hookimpl, solver_family
from rates_numba import ADAPTIVE_METHOD, BACKEND, FIXED_METHODS, SDE_SOLVERS

#: What the backend declares; ``dde`` is declared by the fixed-step ODE solvers only
#: (``dopri5`` has no history), ``sde`` and ``sde_delays`` by the SDE solvers.
CAPABILITIES = frozenset(
    {"execute", "adaptive", "complex", "float32", "vectorised", "sde", "sde_delays"}
)

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
    fixed = {f"{BACKEND}_{m}": _DESCRIPTIONS[m] for m in FIXED_METHODS}
    adaptive = {
        f"{BACKEND}_{ADAPTIVE_METHOD}": "Dormand-Prince 5(4), whole run compiled by numba "
        "(options rtol, atol, first_step, max_steps; no delays)"
    }
    sde = {
        f"{BACKEND}_euler_maruyama": "Euler-Maruyama for white noise xi(), whole run compiled "
        "by numba (Ito; fixed step; without noise Euler, order 1)",
        f"{BACKEND}_heun_stochastic": "stochastic Heun for white noise xi(), whole run compiled "
        "by numba (Stratonovich; fixed step; without noise Heun, order 2)",
    }
    return [
        *solver_family(BACKEND, fixed, adaptive=False, capabilities={"dde", "grid_delays"}),
        *solver_family(BACKEND, adaptive, adaptive=True),
        *solver_family(
            BACKEND, sde, adaptive=False, capabilities={"sde", "sde_delays", "grid_delays"}
        ),
    ]


#: ``emit_function`` and ``solve``, called on this plugin only (for its backend and solvers)
emit_function, solve = backend_hooks(
    "rates_numba.emit:emit_function",
    "rates_numba.solvers:solve",
    routes=dict.fromkeys(SDE_SOLVERS, "rates_numba.sde:solve"),
)


def available() -> Any:
    """Whether numba imports here (for messages; the hooks import it when they run)."""
    try:
        import numba  # noqa: F401
    except ImportError:
        return False
    return True
