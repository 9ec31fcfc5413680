"""build_run_system: small circuits are integrated unvectorised and built once."""

from __future__ import annotations

import pytest

from rates_core import pipeline
from rates_core.testing import references as ref


@pytest.fixture
def builds(monkeypatch):
    calls = []
    real = pipeline.build_system

    def counting(circuit, vectorize=True, **options):
        calls.append(vectorize)
        return real(circuit, vectorize=vectorize, **options)

    monkeypatch.setattr(pipeline, "build_system", counting)
    return calls


def test_a_small_circuit_is_built_once_unvectorised(builds):
    system = pipeline.build_run_system(ref.jansen_rit_circuit(), True)
    assert builds == [False]
    assert len(system.ir.populations) == 3  # one population per node: scalar code


def test_a_large_network_is_built_once_vectorised(builds):
    _, _, circuit = ref.rate_network_nodes(40)  # 40 nodes, 80 states
    system = pipeline.build_run_system(circuit, True)
    assert builds == [True]
    assert system.n_states == 80


def test_few_nodes_with_many_states_end_vectorised(builds):
    """20 nodes (at most SMALL_SYSTEM) of 2 states each: the unvectorised System has more than
    SMALL_SYSTEM states, so it is built again vectorised."""
    _, _, circuit = ref.rate_network_nodes(20)
    system = pipeline.build_run_system(circuit, True)
    assert builds == [False, True]
    assert system.n_states == 40 and len(system.ir.populations) < 20


def test_vectorize_false_is_kept(builds):
    _, _, circuit = ref.rate_network_nodes(40)
    pipeline.build_run_system(circuit, False)
    assert builds == [False]
