"""rates_core.sweep.grid_search on rates-numpy: every set equals its own ``run`` (issue 11)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rates_core import CircuitTemplate
from rates_core.errors import ModelError
from rates_core.sweep import Sweep, grid_search

ADAPTIVE = {"method": "RK45", "rtol": 1e-8, "atol": 1e-10}


@pytest.fixture(scope="module")
def qif() -> CircuitTemplate:
    return CircuitTemplate.from_yaml("rates_core.models.qif.qif")


@pytest.fixture(scope="module")
def net(qif: CircuitTemplate) -> CircuitTemplate:
    """Two QIF nodes, a delayed edge a -> b and an instantaneous edge b -> a."""
    node = qif.get_node("p")
    return CircuitTemplate(
        name="net",
        nodes={"a": node, "b": node},
        edges=[
            ("a/qif_op/r", "b/qif_op/r_in", None, {"weight": 5.0, "delay": 0.2}),
            ("b/qif_op/r", "a/qif_op/r_in", None, {"weight": 3.0}),
        ],
    )


NET_MAP = {
    "eta": {"vars": ["qif_op/eta"], "nodes": ["a"]},
    "d": {"vars": ["delay"], "edges": [("a/qif_op/r", "b/qif_op/r_in")]},
    "w": {"vars": ["weight"], "edges": [("b", "a")]},
}
NET_GRID = {
    "eta": [-6.0, -5.0, -4.0, 0.5, 1.0, -2.0, -3.0],
    "d": [0.1, 0.2, 0.3, 0.15, 0.25, 0.3, 0.1],
    "w": [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
}


def _net_reference(net, row, solver, **kw):
    c = net.update_var(
        node_vars={"a/qif_op/eta": row["eta"]},
        edge_vars=[
            ("a/qif_op/r", "b/qif_op/r_in", {"delay": row["d"]}),
            ("b", "a", {"weight": row["w"]}),
        ],
    )
    return c.run(1.0, 1e-3, outputs={"r": "all/qif_op/r"}, solver=solver, **kw)


@pytest.mark.parametrize(("solver", "options"), [("euler", {}), ("rk4", {}), ("scipy", ADAPTIVE)])
def test_qif_sets_equal_individual_runs(qif, solver, options):
    pm = {
        "eta": {"vars": ["qif_op/eta"], "nodes": ["p"]},
        "J": {"vars": ["weight"], "edges": [("p/qif_op/r", "p/qif_op/r_in")]},
    }
    outputs = {"r": "p/qif_op/r", "v": "p/qif_op/v"}
    res, grid = grid_search(
        qif,
        {"eta": [-6.0, -5.0, -4.0], "J": [10.0, 15.0]},
        pm,
        1.0,
        1e-3,
        outputs,
        sampling_step_size=1e-2,
        permute_grid=True,
        solver=solver,
        batch_size=4,  # two batches, the second padded
        **options,
    )
    assert list(grid.index) == [f"qif_{i}" for i in range(6)]
    assert list(grid.columns) == ["eta", "J"]
    assert grid["eta"].tolist() == [-6.0, -5.0, -4.0] * 2  # PyRates's order
    assert res.shape == (100, 12)
    assert res.columns[0] == ("r", "qif_0", "p", "qif_op/r")
    for label in grid.index:
        c = qif.update_var(
            node_vars={"p/qif_op/eta": grid.loc[label, "eta"]},
            edge_vars=[("p/qif_op/r", "p/qif_op/r_in", {"weight": grid.loc[label, "J"]})],
        )
        ref = c.run(1.0, 1e-3, outputs=outputs, solver=solver, sampling_step_size=1e-2, **options)
        for k in outputs:
            got = res[(k, label, "p", f"qif_op/{k}")].to_numpy()
            np.testing.assert_allclose(got, ref[k].to_numpy(), rtol=0, atol=1e-12)
        np.testing.assert_allclose(res.index.to_numpy(), ref.index.to_numpy(), atol=1e-15)


@pytest.mark.parametrize(
    ("solver", "options", "batch_size"),
    [("euler", {}, 3), ("heun", {}, 20), ("scipy", ADAPTIVE, 3)],
)
def test_network_with_delays_and_edges(net, solver, options, batch_size):
    sweep = Sweep(
        net,
        NET_MAP,
        1.0,
        1e-3,
        {"r": "all/qif_op/r"},
        solver=solver,
        batch_size=batch_size,
        **options,
    )
    res, grid = sweep.run(NET_GRID)
    assert res.shape == (1000, 14)
    # a zero weight removes an edge: its set gets its own layout, compiled once more
    assert 1 <= len(sweep.compiled) <= 2
    for label in grid.index:
        ref = _net_reference(net, grid.loc[label], solver, **options)
        for n in "ab":
            np.testing.assert_allclose(
                res[("r", label, n, "qif_op/r")].to_numpy(),
                ref[("r", n, "qif_op/r")].to_numpy(),
                rtol=0,
                atol=1e-12,
            )


def test_compile_once_across_runs(qif):
    pm = {"eta": {"vars": ["qif_op/eta"], "nodes": ["p"]}}
    sweep = Sweep(qif, pm, 0.2, 1e-3, {"r": "p/qif_op/r"}, batch_size=40)
    etas = np.linspace(-6, -4, 100)
    a, _ = sweep.run({"eta": etas})
    b, _ = sweep.run({"eta": etas[::-1]})
    assert len(sweep.compiled) == 1  # three batches of 40 (last padded), twice: one function
    np.testing.assert_array_equal(a.to_numpy()[:, ::-1], b.to_numpy())


def test_dataframe_grid_cutoff_and_algebraic_output(qif):
    grid = pd.DataFrame({"eta": [-5.0, -4.0]}, index=["x", "y"])
    pm = {"eta": {"vars": ["qif_op/eta"], "nodes": ["p"]}}
    res, g = grid_search(
        qif, grid, pm, 0.5, 1e-3, {"rin": "p/qif_op/r_in", "r": "p/qif_op/r"}, cutoff=0.2
    )
    assert list(g.index) == ["qif_x", "qif_y"]
    assert res.index[0] == pytest.approx(0.2)
    np.testing.assert_allclose(
        res[("rin", "qif_x", "p", "qif_op/r_in")], 15.0 * res[("r", "qif_x", "p", "qif_op/r")]
    )


def test_errors(qif):
    pm = {"eta": {"vars": ["qif_op/eta"], "nodes": ["p"]}}
    with pytest.raises(ModelError, match="no entry in param_map"):
        grid_search(qif, {"tau": [1.0]}, pm, 0.1, 1e-3, {"r": "p/qif_op/r"})
    with pytest.raises(ModelError, match="same length"):
        grid_search(qif, {"eta": [1.0], "x": [1, 2]}, pm, 0.1, 1e-3, {"r": "p/qif_op/r"})


def test_progress_bar_over_batches(qif, capsys):
    pytest.importorskip("tqdm")
    pm = {"eta": {"vars": ["qif_op/eta"], "nodes": ["p"]}}
    grid_search(
        qif,
        {"eta": [-6.0, -5.0, -4.0]},
        pm,
        0.1,
        1e-3,
        {"r": "p/qif_op/r"},
        batch_size=1,
        progress=True,
    )
    err = capsys.readouterr().err
    assert "sweep" in err and "3/3" in err


@pytest.mark.parametrize(("solver", "options"), [("rk4", {}), ("scipy", ADAPTIVE)])
def test_inputs_and_initial_state(net, solver, options):
    n_steps = 500
    drive = np.sin(np.arange(n_steps) * 1e-3 * 20.0)
    pm = {"eta": {"vars": ["qif_op/eta"], "nodes": ["a", "b"]}}
    etas = [-6.0, -5.0, -4.0]
    kwargs = dict(
        inputs={"a/qif_op/I_ext": drive},
        initial_state={"b/qif_op/v": -1.0},
        sampling_step_size=1e-2,
        solver=solver,
        **options,
    )
    res, grid = grid_search(
        net, {"eta": etas}, pm, 0.5, 1e-3, {"v": "all/qif_op/v"}, batch_size=20, **kwargs
    )
    for label, eta in zip(grid.index, etas):
        c = net.update_var(node_vars={"a/qif_op/eta": eta, "b/qif_op/eta": eta})
        ref = c.run(0.5, 1e-3, outputs={"v": "all/qif_op/v"}, **kwargs)
        for n in "ab":
            np.testing.assert_allclose(
                res[("v", label, n, "qif_op/v")].to_numpy(),
                ref[("v", n, "qif_op/v")].to_numpy(),
                rtol=0,
                atol=1e-12,
            )
