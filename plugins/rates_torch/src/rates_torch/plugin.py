"""Hook implementations of rates-torch (the target of its ``rates`` entry point).

torch and sympy are imported inside the hook bodies only. ``gpu`` is declared only where
``torch.cuda.is_available()``; ``execute`` only where torch can be imported.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from rates_core.plugins import BackendInfo, SolverInfo, hookimpl
from rates_torch import ADAPTIVE_SOLVERS, BACKEND, FIXED_SOLVERS, SDE_SOLVERS

if TYPE_CHECKING:
    from rates_core.backend import EmittedFunction, Problem, Trajectory
    from rates_core.plugins import EmitContext
    from rates_core.system import System

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
        "sde",
    }
)

_DESCRIPTIONS = {
    "torch_euler": "explicit Euler in torch (fixed step, order 1)",
    "torch_heun": "Heun's method in torch (fixed step, order 2)",
    "torch_rk4": "classic fourth-order Runge-Kutta in torch (fixed step, order 4)",
    "torch_dopri5": "Dormand-Prince 5(4) in torch with error control (rtol, atol)",
    "torch_euler_maruyama": "Euler-Maruyama in torch for white noise xi() (Ito; fixed step; "
    "without noise Euler, order 1)",
    "torch_heun_stochastic": "stochastic Heun in torch for white noise xi() (Stratonovich; "
    "fixed step; without noise Heun, order 2)",
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
    solvers += [
        SolverInfo(
            name,
            BACKEND,
            adaptive=False,
            capabilities=frozenset({"sde"}),
            description=_DESCRIPTIONS[name],
        )
        for name in SDE_SOLVERS
    ]
    return solvers


@hookimpl
def register_builtins(backend: str) -> dict[str, Any] | None:
    if backend != BACKEND:
        return None
    return {}


@hookimpl
def emit_function(backend: str, system: System, context: EmitContext) -> EmittedFunction:
    from rates_torch.emit import emit_function as emit

    return emit(
        system,
        context.options,
        builtins=dict(context.builtins),
        imports=list(context.imports),
    )


@hookimpl
def solve(solver: str, function: EmittedFunction, problem: Problem) -> Trajectory:
    if solver in SDE_SOLVERS:
        from rates_torch.sde import solve as run_sde

        return run_sde(solver, function, problem)
    from rates_torch.solvers import solve as run

    return run(solver, function, problem)
