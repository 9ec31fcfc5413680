"""initial_state= and history= with one value per unit a path matches (issue 22): arrays set
populations, wildcards over nodes and sub-circuits; wrong values are ModelErrors naming the
path and the expected count."""

from __future__ import annotations

import numpy as np
import pytest

from rates_core.errors import ModelError
from rates_core.frontend.templates import CircuitTemplate
from rates_core.testing import combinations as cb

V0 = np.array([-1.0, -1.5, -2.0, -2.5, -3.0])


def _run(circuit: CircuitTemplate, **kwargs):
    return circuit.run(0.5, 1e-3, solver="rk4", outputs={"v": "all/qif_op/v"}, **kwargs)


@pytest.mark.parametrize("vectorize", [True, False])
def test_one_value_per_unit_is_the_first_sample(vectorize: bool) -> None:
    circuit = cb.one_delayed_edge_network(5)
    frame = _run(circuit, vectorize=vectorize, initial_state={"all/qif_op/v": V0})
    np.testing.assert_array_equal(frame["v"].iloc[0].to_numpy(), V0)


def test_a_population_and_separate_nodes_give_the_same_trajectory() -> None:
    """The vectorised population of 5 units and 5 unvectorised nodes, to 1e-12."""
    circuit = cb.one_delayed_edge_network(5)
    state = {"all/qif_op/v": V0, "all/qif_op/r": 0.5}
    vec = _run(circuit, vectorize=True, initial_state=state)
    unvec = _run(circuit, vectorize=False, initial_state=state)
    assert vec["v"].iloc[0, 0] == -1.0 and unvec["v"].iloc[-1, 0] != -1.0
    np.testing.assert_allclose(vec.to_numpy(), unvec.to_numpy(), rtol=0, atol=1e-12)


def test_a_scalar_still_sets_every_unit_and_arrays_reach_sub_circuits() -> None:
    sub = cb.one_delayed_edge_network(5)
    big = CircuitTemplate(name="big", circuits={"a": sub, "b": sub})
    frame = _run(big, initial_state={"a/all/qif_op/v": V0, "b/all/qif_op/v": -4.0})
    first = frame["v"].iloc[0]
    np.testing.assert_array_equal(first[[f"a/p{i}" for i in range(5)]].to_numpy(), V0)
    np.testing.assert_array_equal(first[[f"b/p{i}" for i in range(5)]].to_numpy(), -4.0)


@pytest.mark.parametrize(
    ("path", "value", "match"),
    [
        ("all/qif_op/v", V0[:4], r"'all/qif_op/v'.* 4 values .* 5 units: expected a scalar or 5"),
        ("all/qif_op/v", [-1.0, np.nan, -1.0, -1.0, -1.0], r"'p1/qif_op/v'.* nan: .*finite"),
        ("all/qif_op/v", "low", r"'all/qif_op/v'.*expected real numbers"),
        ("all/qif_op/v", [[1.0], [2.0, 3.0]], r"'all/qif_op/v'.*expected a number or an array"),
        ("all/qif_op/eta", V0, r"'p0/qif_op/eta' is not a state variable"),
    ],
)
@pytest.mark.parametrize("vectorize", [True, False])
def test_wrong_values_are_model_errors(vectorize: bool, path: str, value, match: str) -> None:
    circuit = cb.one_delayed_edge_network(5)
    with pytest.raises(ModelError, match=match):
        _run(circuit, vectorize=vectorize, initial_state={path: value})


def test_history_takes_the_same_per_unit_arrays_and_names_a_wrong_length() -> None:
    circuit = cb.one_delayed_edge_network(5, delay=0.3)
    per_unit = {"all/qif_op/r": np.linspace(0.1, 0.5, 5)}
    same = {f"p{i}/qif_op/r": r for i, r in enumerate(np.linspace(0.1, 0.5, 5))}
    a = _run(circuit, history=per_unit)
    b = _run(circuit, history=same)
    np.testing.assert_allclose(a.to_numpy(), b.to_numpy(), rtol=0, atol=1e-12)
    with pytest.raises(ModelError, match=r"'p0/qif_op/r'.* 3 values .* 5 units"):
        _run(circuit, history={"all/qif_op/r": np.ones(3)})
