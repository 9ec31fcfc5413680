"""rates: neural population and oscillator network models from equations.

The public API lives here so that PyRates users change one import line::

    from rates_core import CircuitTemplate, NodeTemplate, EdgeTemplate, OperatorTemplate

Population-scale networks use ``PopulationTemplate`` (n units of one node with per-unit values)
and ``Connectivity`` (weight matrices or global coupling between populations). Whole-brain
networks use ``Connectome`` (TVB's connectome files, delays from tract lengths, weight
normalisation) and the coupling functions ``LinearCoupling``, ``SigmoidalCoupling`` and
``DifferenceCoupling``.

Names are imported lazily (PEP 562) so that ``rates plugins`` and plugin discovery do not pay
for sympy and scipy.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "ArgumentError": "rates_core.errors",
    "BackendUnavailableError": "rates_core.errors",
    "CacheError": "rates_core.errors",
    "DiscardedEditWarning": "rates_core.errors",
    "InitialStateWarning": "rates_core.errors",
    "EquationError": "rates_core.errors",
    "MissingDependencyError": "rates_core.errors",
    "ModelError": "rates_core.errors",
    "OutputExistsError": "rates_core.errors",
    "OutputFileError": "rates_core.errors",
    "PluginConflictError": "rates_core.errors",
    "RatesError": "rates_core.errors",
    "RatesWarning": "rates_core.errors",
    "SolverError": "rates_core.errors",
    "StoreError": "rates_core.errors",
    "UnknownBackendError": "rates_core.errors",
    "CircuitTemplate": "rates_core.frontend",
    "Connectivity": "rates_core.frontend",
    "PopulationTemplate": "rates_core.frontend",
    "EdgeTemplate": "rates_core.frontend",
    "NodeTemplate": "rates_core.frontend",
    "OperatorTemplate": "rates_core.frontend",
    "load_template": "rates_core.frontend",
    "Connectome": "rates_core.connectome",
    "load_connectome": "rates_core.connectome",
    "LinearCoupling": "rates_core.coupling",
    "SigmoidalCoupling": "rates_core.coupling",
    "DifferenceCoupling": "rates_core.coupling",
    "System": "rates_core.system",
    "build_system": "rates_core.system",
    "integrate": "rates_core.simulate",
}


def clear_frontend_caches(**kwargs: Any) -> None:
    """Kept for PyRates compatibility: rates keeps no template cache between loads."""


def clear(model: Any = None, **kwargs: Any) -> None:
    """Kept for PyRates compatibility: forgets ``model``'s last final state (see
    ``CircuitTemplate.clear``); rates keeps no generated files or caches to remove."""
    if model is not None:
        model.clear()


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'rates_core' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(list(globals()) + list(_EXPORTS))


__all__ = sorted([*_EXPORTS, "clear", "clear_frontend_caches", "__version__"])
