"""rates-torch against the conformance suite of rates_core.testing (every declared capability),
including the model-library test of ``rates_core.testing.conformance_tests``. The suite's ``vjp``
comes from the backend's registration (``BackendInfo.vjp``), as under ``rates conformance``."""

from __future__ import annotations

import rates_core.testing.conformance_tests as conformance


class TestTorchConformance(conformance.TestConformance):
    backend = "torch"
    # unvectorised torch runs of large generated models are slow: a few in CI, more in
    # `nox -s fuzz`
    generated_examples = 4
