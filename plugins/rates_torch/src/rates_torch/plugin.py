"""Hook implementations of rates-torch (the target of its ``rates`` entry point).

torch and sympy are imported inside the hook bodies only: registration runs in every rates
process, whichever backend it uses, and importing torch costs seconds and hundreds of MiB.
``execute`` is declared where torch can be found; ``gpu`` where ``torch.cuda.is_available()``,
asked only of a torch built for a GPU (a CPU build says so in its ``torch/version.py``, read as
text without importing torch).
"""

from __future__ import annotations

import importlib.util
import re
import sys
from collections.abc import Sequence
from pathlib import Path
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


#: A GPU toolkit named in ``torch/version.py`` (``cuda = '12.8'``; ``None`` in a CPU build).
_GPU_BUILD = re.compile(r"^(?:cuda|hip|rocm|xpu)\s*(?::[^=\n]*)?=\s*['\"]", re.MULTILINE)


def _gpu_build(spec: Any) -> bool:
    """Whether the torch found by ``spec`` was built for a GPU; True when its version file
    cannot be read (then torch itself is asked)."""
    for folder in spec.submodule_search_locations or ():
        try:
            text = (Path(folder) / "version.py").read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        return bool(_GPU_BUILD.search(text))
    return True


def _capabilities() -> frozenset[str]:
    spec = importlib.util.find_spec("torch")
    if spec is None:
        return frozenset()
    caps = set(CAPABILITIES)
    if "torch" not in sys.modules and not _gpu_build(spec):
        return frozenset(caps)  # a CPU build: no GPU, and torch stays unimported
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
