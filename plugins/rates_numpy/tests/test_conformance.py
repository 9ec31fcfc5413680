"""rates-numpy against the conformance suite of rates_core.testing (every declared capability),
including the model-library test of ``rates_core.testing.conformance_tests``."""

from __future__ import annotations

import rates_core.testing.conformance_tests as conformance


class TestNumpyConformance(conformance.TestConformance):
    backend = "numpy"
    known_failures: dict[str, list[str]] = {}
