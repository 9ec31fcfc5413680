"""rates-numpy against the conformance suite of rates_core.testing (every declared capability)."""

from __future__ import annotations

from rates_core.testing import ConformanceSuite


class TestNumpyConformance(ConformanceSuite):
    backend = "numpy"
    known_failures: dict[str, list[str]] = {}
