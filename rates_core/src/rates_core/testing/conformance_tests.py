"""The conformance suite for the backend named on the command line.

Collected automatically by ``pytest -p rates_core.testing --rates-backend NAME`` when no test
paths are given (or pass this file, e.g. ``--pyargs rates_core.testing.conformance_tests``).
"""

from __future__ import annotations

from rates_core.testing.suite import ConformanceSuite


class TestConformance(ConformanceSuite):
    """The suite for ``--rates-backend`` (and ``--rates-solver``)."""
