"""rates-torch: the PyTorch backend of rates.

Generated torch code (a functional vector field ``f(t, y, *delayed, *params) -> dy``),
differentiable solvers written in torch (``torch_euler``, ``torch_heun``, ``torch_rk4`` and the
adaptive Dormand-Prince ``torch_dopri5``), delays through a ring history of tensors, a leading
batch dimension over parameter sets, CPU or CUDA.

The hooks live in :mod:`rates_torch.plugin` (target of the ``rates`` entry point). Importing this
package imports neither torch nor sympy: :func:`simulate`, :func:`fit` and :class:`TorchModel`
are loaded on first use from :mod:`rates_torch.api`.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

#: The backend name this plugin owns.
BACKEND = "torch"
#: Fixed-step solvers (names are unique across plugins: rates-numpy owns ``euler`` ...).
FIXED_SOLVERS = ("torch_euler", "torch_heun", "torch_rk4")
#: The adaptive solver: Dormand-Prince 5(4) with error control.
ADAPTIVE_SOLVERS = ("torch_dopri5",)
#: SDE solvers for models with white noise xi() (:mod:`rates_torch.sde`).
SDE_SOLVERS = ("torch_euler_maruyama", "torch_heun_stochastic")
SOLVERS = FIXED_SOLVERS + ADAPTIVE_SOLVERS

_LAZY = {"simulate", "fit", "TorchModel", "FitResult"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from rates_torch import api

        return getattr(api, name)
    raise AttributeError(f"module 'rates_torch' has no attribute {name!r}")
