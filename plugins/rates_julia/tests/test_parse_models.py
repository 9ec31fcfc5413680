"""Every conformance model and every template of the model library, emitted as Julia, parses
without ERROR / MISSING nodes under tree-sitter-julia (vectorised and not, and as standalone
export files)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from julia_syntax import assert_parses, function_signatures

from rates_core.backend import EmitOptions
from rates_core.plugins import EmitContext
from rates_core.system import build_system
from rates_core.testing import references as ref
from rates_core.testing.conformance_tests import LIBRARY, library_circuit
from rates_julia.solvers import emit_function


def _suite_networks() -> dict[str, Callable[[], Any]]:
    """The coupled networks the conformance suite builds (dense, sparse, index coupling)."""
    from rates_core.testing import suite

    def dense() -> Any:
        labels, _, circuit = ref.rate_network_nodes(20)
        return circuit.add_edges_from_matrix(
            "op/r", "op/r_in", labels, weight=suite._dense_weights(20)
        )

    def sparse() -> Any:
        labels, _, circuit = ref.rate_network_nodes(20)
        return circuit.add_edges_from_matrix(
            "op/r", "op/r_in", labels, weight=suite._sparse_weights(20, 30)
        )

    def index() -> Any:
        import numpy as np

        labels, _, circuit = ref.rate_network_nodes(20)
        perm = np.random.default_rng(5).permutation(20)
        edges = [[f"p{perm[i]}/op/r", f"p{i}/op/r_in", None, {"weight": 1.0}] for i in range(20)]
        return circuit.add_edges(edges)

    def delayed() -> Any:
        labels, _, circuit = ref.rate_network_nodes(6)
        edges = [
            [f"p{i}/op/r", f"p{(i + 1) % 6}/op/r_in", None, {"weight": 0.5, "delay": 0.1 * (i + 1)}]
            for i in range(6)
        ]
        return circuit.add_edges(edges)

    return {"dense": dense, "sparse": sparse, "index": index, "delayed_network": delayed}


REFERENCE_MODELS: dict[str, Callable[[], Any]] = {
    "decay": ref.decay_circuit,
    "harmonic": ref.harmonic_circuit,
    "logistic": ref.logistic_circuit,
    "van_der_pol": ref.van_der_pol_circuit,
    "lorenz": ref.lorenz_circuit,
    "jansen_rit": ref.jansen_rit_circuit,
    "stuart_landau": ref.stuart_landau_circuit,
    "convergence": ref.convergence_circuit,
    "leaky": ref.leaky_integrator_circuit,
    "integrators3": lambda: ref.integrator_network(3),
    "integrators40": lambda: ref.integrator_network(40),
    "summed_edges": ref.summed_edges_circuit,
    "edge_template": ref.edge_template_circuit,
    "delay": ref.delay_circuit,
    "delay_edge": ref.delay_edge_circuit,
    "gamma_kernel": ref.gamma_kernel_circuit,
    **_suite_networks(),
}
if hasattr(ref, "delay_algebraic_circuit"):
    REFERENCE_MODELS["delay_algebraic"] = ref.delay_algebraic_circuit

#: extrinsic inputs the suite gives some models (they change the emitted code)
INPUTS = {"leaky": ["n/op/u"], "integrators3": ["all/op/u"], "integrators40": ["all/op/u"]}


def _check(source: str, what: str, delays: bool) -> None:
    assert_parses(source, what)
    sigs = function_signatures(source)
    want = "f!(dy, y, h, p, t)" if delays else "f!(dy, y, p, t)"
    assert sigs.get("f!") == want, f"{what}: f! signature {sigs.get('f!')!r}"
    if "jac!" in sigs:
        assert sigs["jac!"] == ("jac!(J, y, h, p, t)" if delays else "jac!(J, y, p, t)")


@pytest.mark.parametrize("vectorize", [True, False], ids=["vectorised", "flat"])
@pytest.mark.parametrize("name", sorted(REFERENCE_MODELS))
def test_reference_model_parses(name: str, vectorize: bool) -> None:
    system = build_system(
        REFERENCE_MODELS[name](), vectorize=vectorize, inputs=INPUTS.get(name, ())
    )
    emitted = emit_function(system)
    _check(emitted.source, name, bool(system.delayed))


@pytest.mark.parametrize("case", ref.FUNCTION_CASES, ids=[c.id for c in ref.FUNCTION_CASES])
def test_function_case_parses(case: ref.FunctionCase) -> None:
    system = build_system(case.circuit())
    emitted = emit_function(system)
    _check(emitted.source, case.id, False)


@pytest.mark.parametrize("vectorize", [True, False], ids=["vectorised", "flat"])
@pytest.mark.parametrize("entry", LIBRARY, ids=[f"{e.file}.{e.template}" for e in LIBRARY])
def test_library_model_parses(entry: Any, vectorize: bool) -> None:
    system = build_system(library_circuit(entry), vectorize=vectorize)
    emitted = emit_function(system, EmitContext(options=EmitOptions(standalone=True)))
    (text,) = emitted.extras["files"].values()
    assert text == emitted.source
    _check(text, entry.reference, bool(system.delayed))
    assert "default_params() = " in text and "initial_state() = " in text
