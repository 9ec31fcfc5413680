"""rates-numba against the conformance suite of rates_core.testing (every declared capability)."""

from __future__ import annotations

import rates_core.testing.conformance_tests as conformance


class TestNumbaConformance(conformance.TestConformance):
    backend = "numba"
    known_failures: dict[str, list[str]] = {}
