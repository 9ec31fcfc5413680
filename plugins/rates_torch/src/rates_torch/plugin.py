"""Hook implementations of rates-torch (the target of its ``rates`` entry point).

torch and sympy are imported inside the hook bodies only. ``gpu`` is declared only where
``torch.cuda.is_available()``; ``execute`` only where torch can be imported.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from typing import Any

from rates_core.plugins import BackendInfo, SolverInfo, backend_hooks, hookimpl
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


def vjp(func: Any, args: tuple, which: Sequence[int], cotangent: Any) -> list[Any]:
    """Gradients of ``sum(cotangent * func(*args))`` with respect to ``args[i]``, ``i`` in
    ``which``, by torch.autograd, as NumPy arrays (the contract's ``BackendInfo.vjp``)."""
    import numpy as np
    import torch

    values = list(args)
    leaves = {}
    for i in which:
        leaves[i] = torch.tensor(np.asarray(values[i], dtype=float), requires_grad=True)
        values[i] = leaves[i]
    out = func(*values)
    (out.reshape(-1) * torch.as_tensor(np.asarray(cotangent), dtype=out.dtype)).sum().backward()
    return [leaves[i].grad.numpy() for i in which]


@hookimpl
def register_backends() -> list[BackendInfo]:
    return [
        BackendInfo(
            BACKEND,
            _capabilities(),
            "Generated torch code: differentiable, batched parameter sets, CPU or CUDA.",
            vjp=vjp,
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


#: ``emit_function`` and ``solve``, called on this plugin only (for its backend and solvers)
emit_function, solve = backend_hooks("rates_torch.emit:emit_function", "rates_torch.solvers:solve")
