"""Backend-free parts of rates_core.sweep: grids, parameter maps, applying values, the store."""

from __future__ import annotations

import numpy as np
import pytest

from rates_core import CircuitTemplate, NodeTemplate, OperatorTemplate
from rates_core.errors import ModelError
from rates_core.sweep import ParquetStore, _normalise_map, apply_values, linearize_grid


def test_linearize_zipped_and_permuted():
    g = linearize_grid({"a": [1.0, 2.0], "b": [3.0, 4.0]})
    assert g.to_numpy().tolist() == [[1.0, 3.0], [2.0, 4.0]]
    p = linearize_grid({"a": [1.0, 2.0, 3.0], "b": [10.0, 20.0]}, permute=True)
    # PyRates's order (numpy.meshgrid): the first key varies fastest
    assert p["a"].tolist() == [1.0, 2.0, 3.0] * 2
    assert p["b"].tolist() == [10.0] * 3 + [20.0] * 3
    with pytest.raises(ModelError, match="same length"):
        linearize_grid({"a": [1.0], "b": [1.0, 2.0]})


def test_normalise_map():
    m = _normalise_map(
        {"x": {"vars": "op/k", "nodes": "n"}, "w": {"vars": ["weight"], "edges": [("a", "b", 0)]}},
        ["x", "w"],
    )
    assert m == {
        "x": {"vars": ["op/k"], "nodes": ["n"]},
        "w": {"vars": ["weight"], "edges": [("a", "b")]},
    }
    with pytest.raises(ModelError, match="edge index"):
        _normalise_map({"w": {"vars": ["weight"], "edges": [("a", "b", 1)]}}, ["w"])
    with pytest.raises(ModelError, match="not one of weight"):
        _normalise_map({"w": {"vars": ["gain"], "edges": [("a", "b")]}}, ["w"])
    with pytest.raises(ModelError, match="needs 'nodes' or 'edges'"):
        _normalise_map({"w": {"vars": ["gain"]}}, ["w"])


def _circuit() -> CircuitTemplate:
    li = OperatorTemplate(
        name="li",
        equations=["r' = (r0 - r)/tau + m_in"],
        variables={"r": "output(0.0)", "r0": 1.0, "tau": 0.5, "m_in": "input(0.0)"},
    )
    node = NodeTemplate(name="pop", operators=[li])
    return CircuitTemplate(
        name="net",
        nodes={"a": node, "b": node},
        edges=[("a/li/r", "b/li/m_in", None, {"weight": 2.0})],
    )


def test_apply_values_nodes_and_edges():
    pm = _normalise_map(
        {
            "tau": {"vars": ["li/tau"], "nodes": ["a", "b"]},
            "w": {"vars": ["weight"], "edges": [("a/li/r", "b/li/m_in")]},
        },
        ["tau", "w"],
    )
    c = apply_values(_circuit(), {"tau": 3.0, "w": 7.0}, pm)
    assert float(c["a/li"].variables["tau"].array) == 3.0
    assert float(c["b/li"].variables["tau"].array) == 3.0
    assert c.edges[0].attributes["weight"] == 7.0


def test_parquet_store_roundtrip_and_fingerprint(tmp_path):
    pytest.importorskip("pyarrow")
    import pandas as pd

    store = ParquetStore(tmp_path / "s")
    grid = pd.DataFrame({"x": [1.0, 2.0]}, index=["m_0", "m_1"])
    store.open("abc", grid, 2)
    assert store.done() == set()
    cols = pd.MultiIndex.from_tuples([("r", "m_0", "a", "li/r")])
    frame = pd.DataFrame(np.arange(3.0)[:, None] / 3, columns=cols, index=[0.0, 0.1, 0.2])
    store.write(1, frame)
    assert store.done() == {1}
    pd.testing.assert_frame_equal(store.read(1), frame)
    assert not list((tmp_path / "s").glob("*.tmp"))
    ParquetStore(tmp_path / "s").open("abc", grid, 2)  # same sweep: resumes
    with pytest.raises(ModelError, match="another sweep"):
        ParquetStore(tmp_path / "s").open("other", grid, 2)
