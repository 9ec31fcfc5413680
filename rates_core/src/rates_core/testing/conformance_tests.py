"""The conformance suite for the backend named on the command line.

Collected automatically by ``pytest -p rates_core.testing --rates-backend NAME`` when no test
paths are given (or pass this file, e.g. ``--pyargs rates_core.testing.conformance_tests``).

:class:`TestConformance` is :class:`~rates_core.testing.suite.ConformanceSuite` itself, so the
command line and a plugin's own subclass run the same tests with the same parametrisation
(``test_model_library`` included).
"""

from __future__ import annotations

from rates_core.testing.library import (
    LIBRARY,
    LIBRARY_DT,
    LIBRARY_STEPS,
    library_circuit,
    library_needs,
    library_outputs,
)
from rates_core.testing.suite import ConformanceSuite

__all__ = [
    "LIBRARY",
    "LIBRARY_DT",
    "LIBRARY_STEPS",
    "TestConformance",
    "library_circuit",
    "library_needs",
    "library_outputs",
]


class TestConformance(ConformanceSuite):
    """The suite for ``--rates-backend`` (and ``--rates-solver``)."""
