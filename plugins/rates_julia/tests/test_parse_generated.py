"""Models drawn by the conformance suite's generator (rates_core.testing.generator), emitted as
Julia, parse without ERROR / MISSING nodes under tree-sitter-julia, vectorised and not (the
generator's runs need Julia; this needs none)."""

from __future__ import annotations

import pytest
from julia_syntax import assert_parses, function_signatures

pytest.importorskip("hypothesis")

from hypothesis import HealthCheck, given, seed, settings  # noqa: E402

from rates_core.system import build_system  # noqa: E402
from rates_core.testing import generator as gen  # noqa: E402
from rates_julia.solvers import emit_function  # noqa: E402


@seed(0)
@settings(max_examples=15, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(model=gen.models(capabilities=("complex", "dde")))
def test_generated_model_parses(model: gen.GeneratedModel) -> None:
    circuit = model.circuit()
    inputs = list(model.inputs(gen.ADAPTIVE_DT, adaptive=True))
    for vectorize in (True, False):
        system = build_system(circuit, vectorize=vectorize, inputs=inputs)
        emitted = emit_function(system)
        what = f"generated model (vectorize={vectorize}):\n{model.to_yaml()}"
        assert_parses(emitted.source, what)
        want = "f!(dy, y, h, p, t)" if system.delayed else "f!(dy, y, p, t)"
        assert function_signatures(emitted.source).get("f!") == want, what
