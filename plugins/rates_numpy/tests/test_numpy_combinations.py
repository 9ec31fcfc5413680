"""Feature combinations that crashed (issue 18) run on rates-numpy, vectorised and not, with
the same numbers (and against SciPy references)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from rates_core.pipeline import build_run_system
from rates_core.sweep import grid_search
from rates_core.testing import combinations as cb

T, DT = 2.0, 1e-3
#: vectorised against scalar code: the same arithmetic, up to rounding
SAME = 1e-10


def _both(circuit, **kwargs):
    """The run vectorised and not, columns in one order."""
    vec = circuit.run(T, DT, solver="rk4", vectorize=True, **kwargs)
    scalar = circuit.run(T, DT, solver="rk4", vectorize=False, **kwargs)
    return vec, scalar[vec.columns]


def test_one_delayed_edge_in_a_vectorised_population():
    circuit = cb.one_delayed_edge_network(40)
    assert len(build_run_system(circuit, True).ir.populations) == 1
    vec, scalar = _both(circuit)
    np.testing.assert_allclose(vec.to_numpy(), scalar.to_numpy(), rtol=0, atol=SAME)
    # the edge matters: p1 (target) leaves p2 (same node, no input) behind
    assert np.max(np.abs(vec["p1/qif_op/r"] - vec["p2/qif_op/r"])) > 0.05


@pytest.mark.parametrize("attrs", [{}, {"delay": 0.2}, {"delay": 0.2, "spread": 0.1}])
def test_one_unit_driving_one_unit_of_a_population(attrs):
    """A one-unit source into one unit of a population of 40, plain, delayed or through a
    gamma kernel (all three were an (40 x 1) matrix times a scalar)."""
    circuit = cb.driven_population(40, **attrs)
    vec, scalar = _both(circuit)
    np.testing.assert_allclose(vec.to_numpy(), scalar.to_numpy(), rtol=0, atol=SAME)
    assert np.max(np.abs(vec["p1/qif_op/r"] - vec["p2/qif_op/r"])) > 0.05


def test_long_gamma_kernel_between_identical_nodes():
    circuit = cb.spread_edge_circuit(0.6, 0.1)  # order 36: 40 states, built vectorised
    assert len(build_run_system(circuit, True).ir.populations) == 1
    vec, scalar = _both(circuit, outputs={"a": "a/qif_op/r", "b": "b/qif_op/r"})
    np.testing.assert_allclose(vec.to_numpy(), scalar.to_numpy(), rtol=0, atol=SAME)
    assert np.max(np.abs(vec["b"] - vec["a"])) > 0.1


SPREADS = [0.2, 0.1, 0.2, 0.5]  # orders 6, 25, 6, 1


@pytest.mark.parametrize("batch_size", [4, 3])
def test_spread_sweep_sets_equal_their_own_runs(batch_size):
    """A fixed-step sweep over ``spread`` whose batch needs kernel orders 6, 25 and 1: one
    chain per order in one System, each set equal to its own run."""
    circuit = cb.spread_edge_circuit(0.5, 0.2)
    edge = ("a/qif_op/r", "b/qif_op/r_in")
    results, _ = grid_search(
        circuit,
        param_grid={"spread": SPREADS},
        param_map={"spread": {"vars": ["spread"], "edges": [edge]}},
        simulation_time=T,
        step_size=DT,
        outputs={"r": "b/qif_op/r"},
        solver="rk4",
        batch_size=batch_size,
    )
    swept = results["r"].to_numpy()
    for i, spread in enumerate(SPREADS):
        one = circuit.update_var(edge_vars=[(*edge, {"spread": spread})])
        ref = one.run(T, DT, solver="rk4", outputs={"r": "b/qif_op/r"})["r"].to_numpy()
        np.testing.assert_allclose(swept[:, i], ref, rtol=0, atol=1e-12)
    assert np.max(np.abs(swept[:, 0] - swept[:, 1])) > 1e-4  # the sets differ


def test_edge_template_with_a_state_default_outputs_match_scipy():
    """QIF with synaptic depression on its recurrent edge, ``outputs=None``: the edge's state
    is a column too, and every column matches a tight SciPy solution of the same equations."""
    frame = cb.qif_depression_circuit(1).run(T, DT, solver="rk4")
    edge = "sd_edge[p0/qif_op/r->p0/qif_op/r_in]/sd_op/x"
    assert list(frame.columns) == ["p0/qif_op/r", "p0/qif_op/v", edge]
    t = frame.index.to_numpy()
    ref = solve_ivp(
        cb.qif_depression_rhs, (0.0, T), [0.01, -2.0, 1.0], "DOP853", t, rtol=1e-12, atol=1e-12
    ).y.T
    np.testing.assert_allclose(frame.to_numpy(), ref, rtol=0, atol=1e-8)  # rk4 at dt=1e-3
    assert frame[edge].iloc[-1] < 0.99  # depression happened


def test_edge_template_with_a_state_vectorised_equals_scalar():
    vec, scalar = _both(cb.qif_depression_circuit(3))
    assert len(vec.columns) == 9
    np.testing.assert_allclose(vec.to_numpy(), scalar.to_numpy(), rtol=0, atol=SAME)
