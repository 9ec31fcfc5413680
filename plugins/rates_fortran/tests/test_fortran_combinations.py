"""Feature combinations that crashed (issue 18) compile and run on rates-fortran, vectorised,
with the numbers of rates-numpy's scalar code."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from rates_core.sweep import grid_search
from rates_core.testing import combinations as cb

pytestmark = pytest.mark.skipif(shutil.which("gfortran") is None, reason="needs gfortran")
numpy_backend = pytest.importorskip("rates_numpy")

T, DT = 1.0, 1e-3
#: compiled Fortran against NumPy's scalar code, the same RK4 steps: rounding only
SAME = 1e-9

CIRCUITS = {
    "one_delayed_edge": lambda: cb.one_delayed_edge_network(40),
    "driven_by_gamma_kernel": lambda: cb.driven_population(40, delay=0.2, spread=0.1),
    "gamma_order_36": lambda: cb.spread_edge_circuit(0.6, 0.1),
    "edge_with_a_state": lambda: cb.qif_depression_circuit(3),
}


@pytest.mark.parametrize("name", list(CIRCUITS))
def test_vectorised_fortran_equals_scalar_numpy(name):
    """Default outputs (every state, edge states too), vectorised Fortran against scalar
    NumPy."""
    circuit = CIRCUITS[name]()
    fortran = circuit.run(T, DT, solver="rk4", backend="fortran", vectorize=True)
    numpy_ = circuit.run(T, DT, solver="rk4", backend="numpy", vectorize=False)
    assert sorted(fortran.columns) == sorted(numpy_.columns)
    np.testing.assert_allclose(
        fortran.to_numpy(), numpy_[fortran.columns].to_numpy(), rtol=0, atol=SAME
    )


def test_spread_sweep_sets_equal_their_own_runs():
    """One batch with gamma orders 6, 25 and 1 (one chain per order), each set equal to its
    own run."""
    spreads = [0.2, 0.1, 0.5]
    circuit = cb.spread_edge_circuit(0.5, 0.2)
    edge = ("a/qif_op/r", "b/qif_op/r_in")
    results, _ = grid_search(
        circuit,
        param_grid={"spread": spreads},
        param_map={"spread": {"vars": ["spread"], "edges": [edge]}},
        simulation_time=T,
        step_size=DT,
        outputs={"r": "b/qif_op/r"},
        backend="fortran",
        solver="rk4",
    )
    swept = results["r"].to_numpy()
    for i, spread in enumerate(spreads):
        one = circuit.update_var(edge_vars=[(*edge, {"spread": spread})])
        ref = one.run(T, DT, solver="rk4", outputs={"r": "b/qif_op/r"})["r"].to_numpy()
        np.testing.assert_allclose(swept[:, i], ref, rtol=0, atol=SAME)
