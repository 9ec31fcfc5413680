"""Hook implementations of rates-torch (the target of its ``rates`` entry point).

torch and sympy are imported inside the hook bodies only. ``gpu`` is declared only where
``torch.cuda.is_available()``; ``execute`` only where torch can be imported.
"""

from __future__ import annotations

import importlib.util
from typing import Any

from rates_core.plugins import BackendInfo, SolverInfo, hookimpl
from rates_torch import ADAPTIVE_SOLVERS, BACKEND, FIXED_SOLVERS

#: Declared whenever torch is importable (``gpu`` is added when CUDA is available).
CAPABILITIES = frozenset(
    {
        "execute",
        "adaptive",
        "dde",
        "dde_algebraic",
        "complex",
        "float32",
        "vectorised",
        "autodiff",
        "batched",
    }
)

_DESCRIPTIONS = {
    "torch_euler": "explicit Euler in torch (fixed step, order 1)",
    "torch_heun": "Heun's method in torch (fixed step, order 2)",
    "torch_rk4": "classic fourth-order Runge-Kutta in torch (fixed step, order 4)",
    "torch_dopri5": "Dormand-Prince 5(4) in torch with error control (rtol, atol)",
}


def _capabilities() -> frozenset[str]:
    if importlib.util.find_spec("torch") is None:
        return frozenset()
    caps = set(CAPABILITIES)
    try:
        import torch

        if torch.cuda.is_available():
            caps.add("gpu")
    except Exception:  # a broken torch install: nothing runs
        return frozenset()
    return frozenset(caps)


@hookimpl
def register_backends() -> list[BackendInfo]:
    return [
        BackendInfo(
            BACKEND,
            _capabilities(),
            "Generated torch code: differentiable, batched parameter sets, CPU or CUDA.",
            runtime_modules=("torch",),
        )
    ]


@hookimpl
def register_solvers() -> list[SolverInfo]:
    solvers = [
        SolverInfo(name, BACKEND, adaptive=False, description=_DESCRIPTIONS[name])
        for name in FIXED_SOLVERS
    ]
    solvers += [
        SolverInfo(
            name,
            BACKEND,
            adaptive=True,
            capabilities=frozenset({"adaptive"}),
            description=_DESCRIPTIONS[name],
        )
        for name in ADAPTIVE_SOLVERS
    ]
    return solvers


@hookimpl
def register_builtins(backend: str) -> dict[str, Any] | None:
    if backend != BACKEND:
        return None
    return {}


@hookimpl
def emit_function(backend: str, system: Any, options: Any) -> Any | None:
    if backend != BACKEND:
        return None
    from rates_core.plugins import default_host
    from rates_torch.emit import emit_function as emit

    host = default_host()
    return emit(
        system,
        options,
        builtins=host.builtins(BACKEND),
        imports=host.imports(BACKEND, system),
    )


@hookimpl
def solve(solver: str, function: Any, problem: Any) -> Any | None:
    if solver not in FIXED_SOLVERS and solver not in ADAPTIVE_SOLVERS:
        return None
    from rates_torch.solvers import solve as run

    return run(solver, function, problem)
