"""rates-numba against the conformance suite of rates_core.testing (every declared capability)."""

from __future__ import annotations

import rates_core.testing.conformance_tests as conformance


class TestNumbaConformance(conformance.TestConformance):
    backend = "numba"
    known_failures = {}
    # numba compiles every generated model's loops for each solver (about 30 s a model on a
    # loaded 2-core machine): a few in CI, more in `nox -s fuzz` / `--rates-fuzz N`
    generated_examples = 4
