"""Backend-free parts of rates_core.sweep: grids, parameter maps, applying values, the store."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from rates_core import CircuitTemplate, NodeTemplate, OperatorTemplate
from rates_core.errors import ModelError, StoreError
from rates_core.sweep import (
    ParquetStore,
    StoreWarning,
    _normalise_map,
    apply_values,
    linearize_grid,
)


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


def _frame(label: str = "m_0"):
    import pandas as pd

    cols = pd.MultiIndex.from_tuples([("r", label, "a", "li/r")])
    return pd.DataFrame(np.arange(3.0)[:, None] / 3, columns=cols, index=[0.0, 0.1, 0.2])


def _grid():
    import pandas as pd

    return pd.DataFrame({"x": [1.0]}, index=["m_0"])


def test_parquet_store_roundtrip_and_fingerprint(tmp_path):
    pytest.importorskip("pyarrow")
    import pandas as pd

    store = ParquetStore(tmp_path / "s")
    store.open("abc", _grid(), 2)
    assert store.done() == set()
    frame = _frame()
    store.write(1, frame)
    assert store.done() == {1}
    times = np.array([0.0, 0.1, 0.2])
    pd.testing.assert_frame_equal(store.read(1, ["m_0"], ["r"], times), frame)
    assert not list((tmp_path / "s").glob(".*.tmp"))
    store.close()
    again = ParquetStore(tmp_path / "s")
    again.open("abc", _grid(), 2)  # same sweep: resumes
    pd.testing.assert_frame_equal(again.read(1), frame)
    again.close()
    with pytest.raises(StoreError, match="belongs to another sweep"):
        ParquetStore(tmp_path / "s").open("other", _grid(), 2)


def test_store_lock_refuses_a_second_writer_until_closed(tmp_path):
    pytest.importorskip("pyarrow")
    first = ParquetStore(tmp_path / "s")
    first.open("abc", _grid(), 1)
    with pytest.raises(StoreError, match=r"s' is in use by another running sweep \(pid \d+ on"):
        ParquetStore(tmp_path / "s").open("abc", _grid(), 1)
    first.close()
    second = ParquetStore(tmp_path / "s")
    second.open("abc", _grid(), 1)
    second.close()


LOCK_HOLDER = """
import sys, time
import pandas as pd
from rates_core.sweep import ParquetStore
ParquetStore(sys.argv[1]).open("abc", pd.DataFrame({"x": [1.0]}, index=["m_0"]), 1)
print("locked", flush=True)
time.sleep(60)
"""


def test_store_lock_of_a_killed_process_is_released(tmp_path):
    pytest.importorskip("pyarrow")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    holder = subprocess.Popen(
        [sys.executable, "-c", LOCK_HOLDER, str(tmp_path / "s")],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(StoreError, match=f"pid {holder.pid} "):
            ParquetStore(tmp_path / "s").open("abc", _grid(), 1)
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(timeout=10)
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
        holder.stdout.close()
    store = ParquetStore(tmp_path / "s")
    store.open("abc", _grid(), 1)  # the killed process's lock is gone with it
    store.close()


def test_store_without_fingerprint_is_used_only_while_empty(tmp_path):
    pytest.importorskip("pyarrow")
    (tmp_path / "empty").mkdir()
    store = ParquetStore(tmp_path / "empty")
    store.open("abc", _grid(), 1)  # an empty directory becomes a store
    store.write(0, _frame())
    store.close()
    (tmp_path / "empty" / "sweep.json").unlink()
    with pytest.raises(StoreError, match=r"has no sweep.json .* holds files \(batch-000000"):
        ParquetStore(tmp_path / "empty").open("abc", _grid(), 1)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(StoreError, match="delete the directory or use another store path"):
        ParquetStore(tmp_path / "other").open("abc", _grid(), 1)
    assert sorted(p.name for p in (tmp_path / "other").iterdir()) == [".lock", "notes.txt"]


def test_store_path_that_is_a_file_or_has_a_broken_fingerprint(tmp_path):
    pytest.importorskip("pyarrow")
    (tmp_path / "file").write_text("x")
    with pytest.raises(StoreError, match="cannot be created as a directory"):
        ParquetStore(tmp_path / "file").open("abc", _grid(), 1)
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "sweep.json").write_bytes(b'{"fingerprint": "ab')
    with pytest.raises(StoreError, match="sweep.json cannot be read"):
        ParquetStore(tmp_path / "s").open("abc", _grid(), 1)


def test_store_read_refuses_batches_this_sweep_did_not_commit(tmp_path):
    pytest.importorskip("pyarrow")
    times = np.array([0.0, 0.1, 0.2])
    path = tmp_path / "s"
    store = ParquetStore(path)
    store.open("abc", _grid(), 3)
    for index in range(3):
        store.write(index, _frame())
    (path / "batch-000000.json").unlink()
    (path / "batch-000002.parquet").write_bytes(b"\0" * 64)
    with pytest.warns(StoreWarning, match="batch-000000.parquet has no commit record"):
        assert store.read(0, ["m_0"], ["r"], times) is None
    with pytest.warns(StoreWarning, match="batch-000002.parquet does not match its checksum"):
        assert store.read(2, ["m_0"], ["r"], times) is None
    # the right file, read with other expectations
    with pytest.warns(StoreWarning, match="other parameter sets"):
        assert store.read(1, ["m_9"], ["r"], times) is None
    with pytest.warns(StoreWarning, match="other outputs"):
        assert store.read(1, ["m_0"], ["v"], times) is None
    with pytest.warns(StoreWarning, match="other sample times"):
        assert store.read(1, ["m_0"], ["r"], np.array([0.0, 0.2, 0.4])) is None
    store.close()
    other = ParquetStore(path)
    other.fingerprint = "other"  # reading with another sweep's fingerprint
    with pytest.warns(StoreWarning, match="committed by another sweep"):
        assert other.read(1) is None


ORPHAN = """
import subprocess, sys
watcher = (
    "import os, threading, time; from rates_core.sweep import _exit_when_orphaned; "
    "threading.Thread(target=_exit_when_orphaned, args=(os.getppid(), 0.05), daemon=True)"
    ".start(); print('watching', flush=True); time.sleep(60)"
)
child = subprocess.Popen([sys.executable, "-c", watcher], stdout=subprocess.PIPE, text=True)
child.stdout.readline()
print(child.pid, flush=True)
child.wait()
"""


@pytest.mark.skipif(os.name != "posix", reason="POSIX re-parents orphans")
def test_parent_watch_ends_an_orphaned_worker():
    """The watch pool workers run where Linux's parent-death signal is not available."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    parent = subprocess.Popen(
        [sys.executable, "-c", ORPHAN], stdout=subprocess.PIPE, text=True, env=env
    )
    child = None
    try:
        child = int(parent.stdout.readline())
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(timeout=10)
        deadline = time.monotonic() + 10
        while _running(child) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _running(child), "the orphaned process did not exit"
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
        parent.stdout.close()
        if child is not None and _running(child):
            os.kill(child, signal.SIGKILL)


def _running(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie nobody reaped counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True  # no /proc: the signal check above is all there is
