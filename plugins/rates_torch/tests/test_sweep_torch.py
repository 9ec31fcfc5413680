"""rates_core.sweep with the torch backend: a batch of parameter sets is one compiled torch
function over the copies of the circuit, and every set equals its own run."""

from __future__ import annotations

import numpy as np
import pytest

from rates_core import CircuitTemplate
from rates_core.sweep import grid_search


@pytest.mark.parametrize("solver", ["torch_euler", "torch_rk4"])
def test_torch_sweep_equals_single_runs(solver: str) -> None:
    qif = CircuitTemplate.from_yaml("rates_core.models.qif.qif")
    grid = {"eta": [-6.0, -5.0, -4.0, -3.0], "Delta": [0.5, 1.0, 1.5, 2.0]}
    param_map = {
        "eta": {"vars": ["qif_op/eta"], "nodes": ["p"]},
        "Delta": {"vars": ["qif_op/Delta"], "nodes": ["p"]},
    }
    outputs = {"r": "p/qif_op/r"}
    results, table = grid_search(
        qif, grid, param_map, 2.0, 1e-3, outputs, backend="torch", solver=solver, batch_size=4
    )
    assert results.shape == (2000, 4)
    for label, row in table.iterrows():
        single = qif.update_var(
            node_vars={"p/qif_op/eta": row["eta"], "p/qif_op/Delta": row["Delta"]}
        ).run(2.0, 1e-3, outputs=outputs, backend="torch", solver=solver)
        got = results["r"][label].to_numpy().ravel()
        np.testing.assert_allclose(got, single["r"].to_numpy().ravel(), rtol=0, atol=1e-12)
