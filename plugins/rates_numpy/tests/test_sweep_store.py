"""Sweep stores that cannot lie (issue 17): a resumed sweep returns its own results or
recomputes them, never another sweep's, and its pool workers do not outlive it."""

from __future__ import annotations

import concurrent.futures as cf
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
import warnings

import pandas as pd
import pytest

from rates_core import CircuitTemplate
from rates_core.errors import StoreError
from rates_core.sweep import StoreWarning, grid_search

PMAP = {"eta": {"vars": ["qif_op/eta"], "nodes": ["p"]}}
GRID = {"eta": [-6.0, -5.0, -4.0, -3.0]}
OUT = {"r": "p/qif_op/r"}
T = 0.2


@pytest.fixture(scope="module")
def qif() -> CircuitTemplate:
    return CircuitTemplate.from_yaml("rates_core.models.qif.qif")


def sweep(qif, store=None, simulation_time=T, grid=GRID, executor=None) -> pd.DataFrame:
    """Four sets in two batches of two (batch 1: sets qif_2 and qif_3)."""
    res, _ = grid_search(
        qif,
        grid,
        PMAP,
        simulation_time,
        1e-3,
        OUT,
        sampling_step_size=1e-2,
        batch_size=2,
        store=store,
        executor=executor,
    )
    return res


@pytest.fixture(scope="module")
def reference(qif) -> pd.DataFrame:
    return sweep(qif)


def test_store_without_fingerprint_is_refused(qif, tmp_path):
    """Finding: with sweep.json deleted a longer sweep returned a shorter sweep's batches."""
    pytest.importorskip("pyarrow")
    store = tmp_path / "s.parquet"
    sweep(qif, store, simulation_time=T)
    (store / "sweep.json").unlink()
    with pytest.raises(StoreError, match=r"s.parquet' has no sweep.json .* delete the directory"):
        sweep(qif, store, simulation_time=2 * T)
    longer = sweep(qif, tmp_path / "new.parquet", simulation_time=2 * T)
    assert len(longer) == 40  # what a fresh store gives: 2T / sampling step rows


class GatedExecutor(cf.Executor):
    """Runs each task here, once ``gate`` is set: holds a sweep between opening its store and
    finishing its first batch."""

    def __init__(self, gate: threading.Event) -> None:
        self.gate = gate

    def submit(self, fn, /, *args, **kwargs):
        assert self.gate.wait(60)
        future: cf.Future = cf.Future()
        future.set_result(fn(*args, **kwargs))
        return future


def test_two_sweeps_at_once_on_one_new_store(qif, reference, tmp_path):
    pytest.importorskip("pyarrow")
    store = tmp_path / "s.parquet"
    gate = threading.Event()
    result: dict = {}

    def first() -> None:
        try:
            result["res"] = sweep(qif, store, executor=GatedExecutor(gate))
        except BaseException as exc:  # reported below
            result["error"] = exc

    thread = threading.Thread(target=first)
    thread.start()
    try:
        deadline = time.monotonic() + 60
        while not (store / "sweep.json").exists():  # the first sweep holds the store
            assert thread.is_alive() and time.monotonic() < deadline
            time.sleep(0.01)
        for simulation_time in (T, 2 * T):  # the same sweep again, and another one
            with pytest.raises(StoreError, match=r"s.parquet' is in use by another running"):
                sweep(qif, store, simulation_time=simulation_time)
    finally:
        gate.set()
        thread.join(60)
    assert "error" not in result, result.get("error")
    pd.testing.assert_frame_equal(result["res"], reference, check_exact=True)
    pd.testing.assert_frame_equal(sweep(qif, store), reference, check_exact=True)  # resumes


def _zeroed(store, other) -> None:
    path = store / "batch-000001.parquet"
    path.write_bytes(b"\0" * path.stat().st_size)


def _truncated(store, other) -> None:
    path = store / "batch-000001.parquet"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _copied_from_another_sweep(store, other) -> None:
    for path in other.glob("batch-000001.*"):  # the file and its commit record
        shutil.copyfile(path, store / path.name)


def _foreign_with_the_right_name(store, other) -> None:
    path = store / "batch-000001.parquet"
    real = pd.read_parquet(path)
    pd.DataFrame(0.0, index=real.index, columns=real.columns).to_parquet(path)


@pytest.mark.parametrize(
    "damage", [_zeroed, _truncated, _copied_from_another_sweep, _foreign_with_the_right_name]
)
def test_bad_batch_is_recomputed_not_returned(qif, reference, tmp_path, damage):
    pytest.importorskip("pyarrow")
    store, other = tmp_path / "s.parquet", tmp_path / "other.parquet"
    sweep(qif, store)
    # another sweep: same labels, shapes and times, other values of eta
    sweep(qif, other, grid={"eta": [-2.0, -1.0, 0.0, 1.0]})
    damage(store, other)
    with pytest.warns(StoreWarning, match=r"s.parquet'.*batch file batch-000001.parquet .*recomp"):
        resumed = sweep(qif, store)
    pd.testing.assert_frame_equal(resumed, reference, check_exact=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error", StoreWarning)  # the recomputed batch is committed
        pd.testing.assert_frame_equal(sweep(qif, store), reference, check_exact=True)


POOL_SCRIPT = """
from rates_core import CircuitTemplate
from rates_core.sweep import grid_search

if __name__ == "__main__":
    qif = CircuitTemplate.from_yaml("rates_core.models.qif.qif")
    grid_search(
        qif, {"eta": [-6.0, -5.0, -4.0, -3.0]}, {"eta": {"vars": ["qif_op/eta"], "nodes": ["p"]}},
        1e5, 1e-3, {"r": "p/qif_op/r"}, sampling_step_size=100.0, batch_size=2, executor=2,
    )
"""


def _alive_children(pid: int) -> list[int]:
    """Live (not zombie) processes whose parent is ``pid``, from /proc."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(entry))
    return found


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _is_pool_worker(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return b"spawn_main" in fh.read()
    except OSError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_pool_workers_die_with_a_killed_sweep(tmp_path):
    script = tmp_path / "pool_sweep.py"
    script.write_text(textwrap.dedent(POOL_SCRIPT))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    parent = subprocess.Popen([sys.executable, str(script)], env=env)
    workers: list[int] = []
    try:
        deadline = time.monotonic() + 120
        while len(workers) < 2:
            assert parent.poll() is None, "the sweep ended before it could be killed"
            assert time.monotonic() < deadline, "no pool workers started"
            workers = [p for p in _alive_children(parent.pid) if _is_pool_worker(p)]
            time.sleep(0.05)
        time.sleep(1.0)  # let the workers start on their batches
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait()
        deadline = time.monotonic() + 10
        while any(_alive(p) for p in workers) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not [p for p in workers if _alive(p)], "pool workers outlived the killed sweep"
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
        for pid in workers:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
