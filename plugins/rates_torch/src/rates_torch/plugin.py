"""Hook implementations of rates-torch (the target of its ``rates`` entry point).

torch and sympy are imported inside the hook bodies only. ``gpu`` is declared only where
``torch.cuda.is_available()``; ``execute`` only where torch can be imported.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from typing import Any

from rates_core.plugins import BackendInfo, SolverInfo, backend_hooks, hookimpl, solver_family
from rates_torch import BACKEND, SDE_SOLVERS

#: Declared whenever torch is importable (``gpu`` is added when CUDA is available).
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
        "autodiff",
        "batched",
        "sde",
        "sde_delays",
        "grid_delays",
    }
)

#: ``FIXED_SOLVERS`` and ``ADAPTIVE_SOLVERS`` (in order) and their descriptions.
_FIXED = {
    "torch_euler": "explicit Euler in torch (fixed step, order 1)",
    "torch_heun": "Heun's method in torch (fixed step, order 2)",
    "torch_rk4": "classic fourth-order Runge-Kutta in torch (fixed step, order 4)",
}
_SDE = {
    "torch_euler_maruyama": "Euler-Maruyama in torch for white noise xi() (Ito; fixed step; "
    "without noise Euler, order 1)",
    "torch_heun_stochastic": "stochastic Heun in torch for white noise xi() (Stratonovich; "
    "fixed step; without noise Heun, order 2)",
}
_ADAPTIVE = {"torch_dopri5": "Dormand-Prince 5(4) in torch with error control (rtol, atol)"}


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
    grads = [leaves[i].grad for i in which]  # None: the output does not depend on args[i]
    return [np.zeros(leaves[i].shape) if g is None else g.numpy() for i, g in zip(which, grads)]


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
    return [
        *solver_family(BACKEND, _FIXED, adaptive=False),
        *solver_family(BACKEND, _ADAPTIVE, adaptive=True, capabilities={"adaptive"}),
        *solver_family(BACKEND, _SDE, adaptive=False, capabilities={"sde", "sde_delays"}),
    ]


#: ``emit_function`` and ``solve``, called on this plugin only (for its backend and solvers)
emit_function, solve = backend_hooks(
    "rates_torch.emit:emit_function",
    "rates_torch.solvers:solve",
    routes=dict.fromkeys(SDE_SOLVERS, "rates_torch.sde:solve"),
)
