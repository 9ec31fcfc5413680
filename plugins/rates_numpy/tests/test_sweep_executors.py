"""Sweeps on other executors (process pool, Dask) and with a store that survives a kill."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pandas as pd
import pytest

from rates_core import CircuitTemplate
from rates_core.sweep import grid_search

PMAP = {
    "eta": {"vars": ["qif_op/eta"], "nodes": ["p"]},
    "J": {"vars": ["weight"], "edges": [("p/qif_op/r", "p/qif_op/r_in")]},
}
GRID = {"eta": list(np.linspace(-6.0, -3.0, 6)), "J": [10.0, 15.0]}
OUT = {"r": "p/qif_op/r"}


@pytest.fixture(scope="module")
def qif() -> CircuitTemplate:
    return CircuitTemplate.from_yaml("rates_core.models.qif.qif")


@pytest.fixture(scope="module")
def reference(qif) -> pd.DataFrame:
    res, _ = grid_search(qif, GRID, PMAP, 0.5, 1e-3, OUT, permute_grid=True, batch_size=3)
    return res


def test_process_pool_equals_inprocess(qif, reference):
    res, _ = grid_search(
        qif, GRID, PMAP, 0.5, 1e-3, OUT, permute_grid=True, batch_size=3, executor=2
    )
    pd.testing.assert_frame_equal(res, reference, check_exact=True)


def test_store_written_and_reused(qif, reference, tmp_path):
    pytest.importorskip("pyarrow")
    store = tmp_path / "sweep.parquet"
    res, _ = grid_search(
        qif, GRID, PMAP, 0.5, 1e-3, OUT, permute_grid=True, batch_size=3, store=store
    )
    pd.testing.assert_frame_equal(res, reference, check_exact=True)
    files = sorted(store.glob("batch-*.parquet"))
    assert len(files) == 4
    stamps = [f.stat().st_mtime_ns for f in files]
    again, _ = grid_search(
        qif, GRID, PMAP, 0.5, 1e-3, OUT, permute_grid=True, batch_size=3, store=store
    )
    pd.testing.assert_frame_equal(again, reference, check_exact=True)
    assert [f.stat().st_mtime_ns for f in files] == stamps  # nothing recomputed


SCRIPT = """
import numpy as np
from rates_core import CircuitTemplate
from rates_core.sweep import grid_search

qif = CircuitTemplate.from_yaml("rates_core.models.qif.qif")
grid_search(
    qif, {{"eta": list(np.linspace(-6.0, -3.0, 40))}},
    {{"eta": {{"vars": ["qif_op/eta"], "nodes": ["p"]}}}},
    {T}, 1e-3, {{"r": "p/qif_op/r"}}, sampling_step_size=1e-2, batch_size=2,
    store={store!r},
)
"""


def test_killed_sweep_resumes(qif, tmp_path):
    pytest.importorskip("pyarrow")
    store = tmp_path / "killed.parquet"
    script = tmp_path / "sweep_script.py"
    script.write_text(textwrap.dedent(SCRIPT.format(T=20.0, store=str(store))))
    proc = subprocess.Popen([sys.executable, str(script)])
    try:
        deadline = time.monotonic() + 120
        while len(list(store.glob("batch-*.parquet"))) < 3:
            assert proc.poll() is None, "the sweep ended before it could be killed"
            assert time.monotonic() < deadline
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    finished = sorted(store.glob("batch-*.parquet"))
    assert 3 <= len(finished) < 20
    stamps = {f.name: f.stat().st_mtime_ns for f in finished}
    kwargs = dict(sampling_step_size=1e-2, batch_size=2)
    grid = {"eta": list(np.linspace(-6.0, -3.0, 40))}
    pm = {"eta": {"vars": ["qif_op/eta"], "nodes": ["p"]}}
    resumed, _ = grid_search(qif, grid, pm, 20.0, 1e-3, OUT, store=store, **kwargs)
    assert {f.name: f.stat().st_mtime_ns for f in finished} == stamps  # kept, not recomputed
    assert len(list(store.glob("batch-*.parquet"))) == 20
    fresh, _ = grid_search(qif, grid, pm, 20.0, 1e-3, OUT, **kwargs)
    pd.testing.assert_frame_equal(resumed, fresh, check_exact=True)


@pytest.fixture(scope="module")
def dask_client():
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    )
    client = distributed.Client(cluster)
    yield client
    client.close()
    cluster.close()


def test_dask_cluster_equals_inprocess(qif, reference, dask_client):
    res, _ = grid_search(
        qif, GRID, PMAP, 0.5, 1e-3, OUT, permute_grid=True, batch_size=3, executor=dask_client
    )
    pd.testing.assert_frame_equal(res, reference, check_exact=True)


def test_dask_worker_killed_mid_sweep(qif, dask_client, tmp_path):
    pytest.importorskip("pyarrow")
    grid = {"eta": list(np.linspace(-6.0, -3.0, 16))}
    pm = {"eta": {"vars": ["qif_op/eta"], "nodes": ["p"]}}
    kwargs = dict(sampling_step_size=1e-2, batch_size=2)
    expected, _ = grid_search(qif, grid, pm, 10.0, 1e-3, OUT, **kwargs)
    store = tmp_path / "dask.parquet"
    result: dict = {}

    def sweep() -> None:
        try:
            result["res"] = grid_search(
                qif, grid, pm, 10.0, 1e-3, OUT, executor=dask_client, store=store, **kwargs
            )[0]
        except BaseException as exc:  # reported by the assertion below
            result["error"] = exc

    thread = threading.Thread(target=sweep)
    thread.start()
    deadline = time.monotonic() + 120
    while not list(store.glob("batch-*.parquet")):
        assert thread.is_alive() and time.monotonic() < deadline
        time.sleep(0.01)
    pids = dask_client.run(os.getpid)  # worker address -> process id
    busy = dask_client.processing()  # worker address -> keys of the tasks it runs
    victim = next((w for w in pids if busy.get(w)), next(iter(pids)))
    os.kill(pids[victim], signal.SIGKILL)  # the nanny restarts it; Dask reruns its tasks
    killed_with = len(list(store.glob("batch-*.parquet")))
    thread.join(timeout=180)
    assert not thread.is_alive()
    assert "error" not in result, result.get("error")
    assert killed_with < 8
    pd.testing.assert_frame_equal(result["res"], expected, check_exact=True)
