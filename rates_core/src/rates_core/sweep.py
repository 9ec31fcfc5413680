"""Parameter sweeps: compile once, run many parameter sets, in-process, in a process pool or on
a Dask cluster (issue 11).

:func:`grid_search` takes PyRates's arguments and returns PyRates's shapes::

    results, grid = grid_search(
        qif, param_grid={"eta": [-6.0, -5.0, -4.0]},
        param_map={"eta": {"vars": ["qif_op/eta"], "nodes": ["p"]}},
        simulation_time=10.0, step_size=1e-3, outputs={"r": "p/qif_op/r"},
    )
    results["r"]            # columns: (parameter-set label, node, op/var), rows: time
    grid.loc["qif_1"]       # the values of set "qif_1"

How it runs. Parameters are runtime arguments of the generated vector field, never constants in
its source, so a sweep generates and compiles code once and only changes the arguments:

- Fixed-step solvers (``euler``, ``heun``, ``rk4``, any solver its plugin declares non-adaptive)
  run ``batch_size`` parameter sets as one system: the circuit is copied ``batch_size`` times as
  sub-circuits of one circuit, so identical nodes of all copies become one vectorised population
  and every parameter becomes a vector with one value per copy. Every batch has the same size
  (the last is padded by repeating its last set, whose copies are dropped), so all batches share
  one System layout and one compiled function; the solver integrates a whole batch per call. The
  copies are uncoupled and the arithmetic per copy is that of a single run, so each set's result
  equals its own ``run`` (up to floating-point rounding of vectorised against scalar code).
- Adaptive solvers (``scipy``) choose their steps from an error norm over the whole state
  vector, so copies solved together would change each other's steps: there, every set is solved
  on its own (its own ``solve`` call), the compiled function again shared by all sets. A batch is
  then a group of sets run by one task.
- Values that change the structure of the System (an edge weight of zero removes the edge, a
  ``spread`` changes the order of its gamma kernel, values that are all equal in a batch become
  one scalar parameter) give another System layout: each layout is compiled once (within one
  call; workers of a pool or cluster compile once per task, the generated sources coming from
  the per-user cache). Sets of one batch whose ``spread`` values need different kernel orders
  get one gamma chain per order in the batch's System (the IR splits such a projection by
  order), so each set still integrates the chain of its own run.
- Noise (``randn`` in an equation) with ``seed=``: a batch draws from one generator for all its
  copies, so a noisy set's trajectory depends on its batch and differs from its own ``run``
  (the sweep as a whole is reproducible for the same grid, seed and batch size).

Executors (``executor=``): ``None`` / ``"inprocess"`` runs the batches here one after another;
``"processes"`` (or an int, the number of processes, or any ``concurrent.futures.Executor``)
runs them in a local process pool; ``"dask"`` starts a ``dask.distributed.LocalCluster`` for the
call, and a ``dask.distributed.Client`` runs them on that client's cluster (``pip install
rates-core[dask]``). Batches are tasks; a lost Dask worker's tasks are retried by Dask. Results
do not depend on the executor.

``store="sweep.parquet"``: a directory of Parquet files, one per finished batch, plus
``sweep.json`` with a fingerprint of the call. Running the same call again with the same store
skips the batches it finds; a killed sweep loses at most the batches that were running (``pip
install rates-core[store]`` for pyarrow). A store never returns another sweep's results:

- the fingerprint is mandatory: a store of another call is refused, and so is a directory that
  holds files but no ``sweep.json`` (nothing tells which sweep they belong to); an empty or new
  directory becomes a store;
- one writer at a time: the sweep holds an exclusive lock (``.lock``, ``flock``) from opening the
  store to its end, and a second sweep on the same store fails at once with a
  :class:`~rates_core.errors.StoreError` naming the holder; the OS drops the lock of a killed
  process, so a stale lock never blocks;
- every batch is committed with a record (``batch-000012.json``: fingerprint, batch index and a
  sha256 of the file bound to both), written before the file; on resume a batch file must match
  its record and hold this batch's labels, this sweep's outputs and sample times, else it is
  recomputed after a :class:`StoreWarning` naming it (zeroed, truncated, foreign or copied from
  another store or batch): a damaged file never reaches pyarrow unchecked;
- every file is written to a temporary name, synced and renamed, so it is complete or absent.

Why Parquet files rather than one Zarr array: each batch is an independent file, so no shared
metadata is ever rewritten while a batch is written and a kill can never leave a half-updated
store; the files are plain DataFrames (time index, hierarchical columns) that pandas,
``dask.dataframe`` or DuckDB read as they are.

The workers of the process pool a sweep starts (``executor="processes"`` or an int) end with the
sweep's process, also when it is killed (Linux: a parent-death signal; other POSIX systems: each
worker watches its parent); Dask's own workers do so by themselves.
"""

from __future__ import annotations

import errno
import hashlib
import json
import math
import os
import socket
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rates_core import pyrates_compat
from rates_core.errors import ModelError, SolverError, StoreError

if TYPE_CHECKING:
    import pandas as pd

    from rates_core.frontend.templates import CircuitTemplate

__all__ = ["ParquetStore", "StoreWarning", "Sweep", "grid_search", "linearize_grid"]

#: Default number of parameter sets per batch (fixed-step solvers).
DEFAULT_BATCH_SIZE = 1000
#: Default number of parameter sets per task with adaptive solvers (each solved on its own).
DEFAULT_ADAPTIVE_BATCH = 16
#: Label of the copy of the circuit that runs the b-th set of a batch.
_COPY = "set{}"


# --------------------------------------------------------------------------- the grid


def linearize_grid(grid: Mapping[str, Sequence[Any]], permute: bool = False) -> pd.DataFrame:
    """PyRates's ``linearize_grid``: a DataFrame with one row per parameter set.

    Without ``permute`` every list must have the same length (the i-th values form set i); with
    it, every combination is made in PyRates's order (``numpy.meshgrid`` order: the first key
    varies fastest).
    """
    import pandas as pd

    lengths = {len(v) for v in grid.values()}
    if permute:
        keys = list(grid)
        values = np.stack(np.meshgrid(*[np.asarray(grid[k]) for k in keys]), -1)
        return pd.DataFrame(values.reshape(-1, len(keys)), columns=keys)
    if len(lengths) > 1:
        raise ModelError(
            "param_grid: without permute_grid=True every list of values must have the same "
            f"length (got lengths {sorted(lengths)})"
        )
    return pd.DataFrame({k: list(v) for k, v in grid.items()})


def _normalise_map(param_map: Mapping[str, Any], keys: Iterable[str]) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for key in keys:
        if key not in param_map:
            raise ModelError(f"param_grid key {key!r} has no entry in param_map")
        entry = param_map[key]
        if not isinstance(entry, Mapping) or "vars" not in entry:
            raise ModelError(
                f"param_map[{key!r}] must be a dict with 'vars' and 'nodes' or 'edges', "
                f"got {entry!r}"
            )
        variables = [entry["vars"]] if isinstance(entry["vars"], str) else list(entry["vars"])
        if "nodes" in entry:
            nodes = [entry["nodes"]] if isinstance(entry["nodes"], str) else list(entry["nodes"])
            out[key] = {"vars": variables, "nodes": nodes}
        elif "edges" in entry:
            edges = []
            for edge in entry["edges"]:
                if len(edge) == 3 and edge[2] not in (0, None):
                    raise ModelError(
                        f"param_map[{key!r}]: edge {tuple(edge)!r}: rates updates every edge "
                        "between source and target; an edge index other than 0 is not supported"
                    )
                edges.append((str(edge[0]), str(edge[1])))
            for v in variables:
                if v not in ("weight", "delay", "spread"):
                    raise ModelError(
                        f"param_map[{key!r}]: edge attribute {v!r} is not one of weight, delay, "
                        "spread"
                    )
            out[key] = {"vars": variables, "edges": edges}
        else:
            raise ModelError(f"param_map[{key!r}] needs 'nodes' or 'edges'")
    return out


def apply_values(
    circuit: CircuitTemplate, values: Mapping[str, Any], param_map: Mapping[str, dict]
) -> CircuitTemplate:
    """``circuit`` with the values of one parameter set (PyRates's ``adapt_circuit``)."""
    node_vars: dict[str, Any] = {}
    edge_vars: list[tuple[str, str, dict]] = []
    for key, value in values.items():
        entry = param_map[key]
        if "nodes" in entry:
            for node in entry["nodes"]:
                for var in entry["vars"]:
                    node_vars[f"{node}/{var}"] = value
        else:
            for source, target in entry["edges"]:
                edge_vars.append((source, target, {var: value for var in entry["vars"]}))
    return circuit.update_var(node_vars=node_vars, edge_vars=edge_vars)


# --------------------------------------------------------------------------- one batch


@dataclass(frozen=True)
class _Spec:
    """Everything a task needs to run a batch (picklable: it travels to workers)."""

    circuit: Any
    param_map: dict
    keys: tuple[str, ...]
    simulation_time: float
    step_size: float
    sampling_step_size: float
    outputs: dict[str, str]
    inputs: dict[str, Any] | None
    backend: str
    solver: str
    batched: bool
    batch_size: int
    cutoff: float = 0.0
    vectorize: bool = True
    float_precision: str = "float64"
    initial_state: Mapping[str, Any] | None = None
    history: Mapping[str, Any] | str | None = None  # a dict, or "zero"
    delay_approximation: int | None = None
    seed: int | None = None
    on_nonfinite: str = "raise"  # as in run(): a blow-up is an error naming the set
    delays: str = "exact"  # as in run(): "grid" rounds delays to whole steps
    solver_options: dict = field(default_factory=dict)


def _signature(system: Any) -> str:
    """What decides the generated code of a System: layout and expressions, never values."""
    parts: list[Any] = [system.dtype]
    parts += [(s.name, s.size, s.dtype) for s in system.states]
    for p in system.params:
        if p.role == "matrix":
            shape = (type(p.value).__name__, tuple(np.shape(p.value)))
        else:
            shape = tuple(np.shape(p.value))
        parts.append((p.name, p.role, p.dtype, shape))
    parts += [(a.name, a.size, a.dtype, str(a.expr)) for a in system.algebraic]
    parts += [(n, str(e)) for n, e in system.derivatives]
    parts += [(d.name, d.state, d.index, str(d.tau), d.size) for d in system.delayed]
    parts += [(i.name, i.path, i.size, tuple(i.units.tolist())) for i in system.inputs]
    parts += [(r.name, str(r.expr), r.offset, r.size) for r in system.recorded]
    return hashlib.sha256(repr(parts).encode()).hexdigest()


def _build(spec: _Spec, circuit: CircuitTemplate, input_paths: list[str]) -> Any:
    """The System of ``circuit`` as :func:`rates_core.simulate.run` builds it."""
    from rates_core.pipeline import prepare_system

    return prepare_system(
        circuit,
        spec.backend,
        inputs=input_paths,
        vectorize=spec.vectorize,
        float_precision=spec.float_precision,
        delay_approximation=spec.delay_approximation,
    )


def _emitted(spec: _Spec, system: Any, compiled: dict[str, Any]) -> Any:
    from rates_core.backend import EmitOptions
    from rates_core.plugins import default_host

    sig = _signature(system)
    if sig not in compiled:
        options = EmitOptions(float_precision=spec.float_precision)
        compiled[sig] = default_host().emit_function(spec.backend, system, options)
    return compiled[sig]


def _prefixed(mapping: Mapping[str, Any] | None, copies: list[str]) -> dict[str, Any] | None:
    if not mapping:
        return None
    if not copies:
        return dict(mapping)
    return {f"{c}/{path}": value for c in copies for path, value in mapping.items()}


class _Copies:
    """The combined circuit of a batch, resolving ``<copy>/<path>`` through the original circuit
    (once per path, not once per copy: the combined circuit's own search walks every copy)."""

    def __init__(self, combined: Any, original: Any, copies: list[str]) -> None:
        self._combined = combined
        self._original = original
        self._copies = set(copies)
        self._paths: dict[str, list] = {}
        self._nodes: dict[tuple, list] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._combined, name)

    def resolve_path(self, path: str) -> list[tuple[str, str, str]]:
        copy, _, rest = path.strip("/").partition("/")
        if copy not in self._copies:
            return self._combined.resolve_path(path)
        if rest not in self._paths:
            self._paths[rest] = self._original.resolve_path(rest)
        return [(f"{copy}/{n}", op, var) for n, op, var in self._paths[rest]]

    def get_nodes(self, pattern: Any = "all", var: str | None = None) -> list[str]:
        if not isinstance(pattern, str):
            return self._combined.get_nodes(pattern, var=var)
        copy, _, rest = pattern.strip("/").partition("/")
        if copy not in self._copies or not rest:
            return self._combined.get_nodes(pattern, var=var)
        if (rest, var) not in self._nodes:
            self._nodes[(rest, var)] = self._original.get_nodes(rest, var=var)
        return [f"{copy}/{n}" for n in self._nodes[(rest, var)]]


def _simulate(
    spec: _Spec, circuits: list[CircuitTemplate], labels: list[str], compiled: dict
) -> pd.DataFrame:
    """Simulate the sets ``circuits`` (already carrying their values) as one system; columns
    ``(output, label, node, op/var)`` for the first ``len(labels)`` circuits."""
    import pandas as pd

    from rates_core.frontend.templates import CircuitTemplate
    from rates_core.pipeline import make_problem
    from rates_core.plugins import default_host
    from rates_core.results import output_spec, results_frame

    combined: Any  # the circuit, or the copies of a batch (resolved through _Copies)
    copies: list[str]
    if len(circuits) == 1 and not spec.batched:
        combined, copies = circuits[0], []
    else:
        copies = [_COPY.format(b) for b in range(len(circuits))]
        combined = CircuitTemplate(
            name=circuits[0].name, circuits=dict(zip(copies, circuits)), path=circuits[0].path
        )
    inputs = _prefixed(spec.inputs, copies)
    system = _build(spec, combined, list(inputs or {}))
    if copies:
        combined = _Copies(combined, spec.circuit, copies)
    emitted = _emitted(spec, system, compiled)
    n_steps = int(round(spec.simulation_time / spec.step_size))
    history = spec.history
    problem = make_problem(
        combined,
        system,
        simulation_time=spec.simulation_time,
        step_size=spec.step_size,
        sampling_step=spec.sampling_step_size,
        inputs=inputs,
        initial_state=_prefixed(spec.initial_state, copies),
        history=history if isinstance(history, str) else _prefixed(history, copies),
        options=spec.solver_options,
        seed=spec.seed,
        on_nonfinite=spec.on_nonfinite,
        delays=spec.delays,
    )
    trajectory = default_host().solve(spec.solver, emitted, problem)
    _check_finite(problem, system, trajectory, spec.solver, copies, labels)

    # one recorded column per (output, set, node, op/var); names made unique for results_frame
    columns: list[tuple] = []
    spec_rows: list[tuple[str, str, str, str, int | None]] = []
    for key, path in spec.outputs.items():
        for b, label in enumerate(labels):
            where = f"{copies[b]}/{path}" if copies else path
            for entry in output_spec(combined, system, {key: where}):
                name, node, opvar, sym, index = entry
                node = node[len(copies[b]) + 1 :] if copies else node
                if name != key:  # an element of a vector variable: "key[k]"
                    opvar = f"{opvar}{name[len(key) :]}"
                columns.append((key, label, node, opvar))
                spec_rows.append((f"c{len(spec_rows)}", node, opvar, sym, index))
    sample_idx = np.minimum(np.rint(trajectory.times / spec.step_size).astype(int), n_steps - 1)
    frame = results_frame(
        spec_rows,
        trajectory.times,
        trajectory.states,
        system,
        problem.params,
        problem.inputs,
        np.maximum(sample_idx, 0),
    )
    frame.columns = pd.MultiIndex.from_tuples(columns)
    if spec.cutoff:
        frame = frame.loc[frame.index >= spec.cutoff - 1e-12 * spec.step_size]
    return frame


def _check_finite(
    problem: Any, system: Any, trajectory: Any, solver: str, copies: list[str], labels: list[str]
) -> None:
    """Problem.check_trajectory for a batch: the error names the parameter set by its label
    (``qif_3``), not by the copy it is simulated as (``set3/...``)."""
    try:
        problem.check_trajectory(system, trajectory, solver)
    except SolverError as exc:
        message = str(exc)
        for copy, label in zip(copies, labels):
            message = message.replace(f" {copy}/", f" {label}: ")
        if not copies:  # one set simulated on its own
            message = f"parameter set {labels[0]}: {message}"
        raise SolverError(f"grid_search: {message}") from None


def run_batch(spec: _Spec, rows: list[tuple[str, dict]], compiled: dict | None = None) -> Any:
    """Simulate one batch: ``rows`` are ``(label, {key: value})`` pairs. ``compiled`` maps
    System signatures to emitted functions (filled as needed; a fresh dict per task when None).
    """
    import pandas as pd

    compiled = {} if compiled is None else compiled
    circuits = [apply_values(spec.circuit, values, spec.param_map) for _, values in rows]
    labels = [label for label, _ in rows]
    if spec.batched:
        padded = circuits + [circuits[-1]] * (spec.batch_size - len(circuits))
        return _simulate(spec, padded, labels, compiled)
    frames = [_simulate(spec, [c], [label], compiled) for c, label in zip(circuits, labels)]
    return pd.concat(frames, axis=1)


def _task(spec: _Spec, index: int, rows: list[tuple[str, dict]]) -> tuple[int, Any]:
    """A batch as a task of a process pool or Dask (module-level, so it pickles by name)."""
    return index, run_batch(spec, rows)


# --------------------------------------------------------------------------- the store


class StoreWarning(UserWarning):
    """A batch file of a sweep store failed its checks and is recomputed (the message names it)."""


#: Files of a store directory: the fingerprint, the writer lock, batches and their commit records.
_META = "sweep.json"
_LOCK = ".lock"
#: errno values of a lock another process holds (flock: EWOULDBLOCK; msvcrt: EACCES, EDEADLOCK)
_LOCK_HELD = {errno.EAGAIN, errno.EWOULDBLOCK, errno.EACCES, errno.EDEADLK}


class ParquetStore:
    """A directory of Parquet files, one per finished batch (see the module doc).

    ``batch-000012.parquet`` holds batch 12 (time index, columns ``(output, label, node,
    op/var)``) and ``batch-000012.json`` its commit record (the store's fingerprint, the batch
    index and a sha256 of the file bound to both); ``grid.parquet`` the parameter grid;
    ``sweep.json`` the fingerprint of the call that made the store, so a different sweep never
    resumes from it; ``.lock`` the writer lock, held from :meth:`open` to :meth:`close`.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.fingerprint: str | None = None
        self._lock_fd: int | None = None

    def _file(self, index: int) -> Path:
        return self.path / f"batch-{index:06d}.parquet"

    def _record(self, index: int) -> Path:
        return self.path / f"batch-{index:06d}.json"

    # ---------------------------------------------------------------- open and close

    def open(self, fingerprint: str, grid: pd.DataFrame, n_batches: int) -> None:
        """Lock the store for this process and check (or write) its fingerprint.

        Raises :class:`~rates_core.errors.StoreError` when another sweep holds the lock, when
        the store belongs to another sweep, or when the directory holds files but no
        fingerprint (nobody can tell which sweep they belong to).
        """
        _require_pyarrow()
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(
                f"store {str(self.path)!r} cannot be created as a directory: {exc.strerror or exc}"
            ) from None
        self._lock()
        try:
            self._remove_stale_temporaries()
            self._check_fingerprint(fingerprint, grid, n_batches)
        except OSError as exc:
            self.close()
            raise StoreError(
                f"store {str(self.path)!r} cannot be used: {exc.strerror or exc}"
            ) from None
        except BaseException:
            self.close()
            raise
        self.fingerprint = fingerprint

    def close(self) -> None:
        """Release the writer lock (a killed process releases it too: the OS drops its locks)."""
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def _lock(self) -> None:
        """Take the store's exclusive writer lock, or fail at once naming who holds it."""
        lock_file = self.path / _LOCK
        try:
            fd = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise StoreError(
                f"store {str(self.path)!r}: cannot open its lock file: {exc.strerror or exc}"
            ) from None
        try:
            _lock_exclusive(fd)
        except OSError as exc:
            os.close(fd)
            if exc.errno not in _LOCK_HELD:
                raise StoreError(
                    f"store {str(self.path)!r} cannot be locked: {exc.strerror or exc}"
                ) from None
            raise StoreError(
                f"store {str(self.path)!r} is in use by another running sweep "
                f"({_lock_holder(lock_file)}); wait for it to finish or use another store path"
            ) from None
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, f"pid {os.getpid()} on {socket.gethostname()}".encode())
        self._lock_fd = fd

    def _remove_stale_temporaries(self) -> None:
        """Temporary files left by a killed writer (only the lock holder writes any)."""
        for tmp in self.path.glob(".*.tmp"):
            tmp.unlink(missing_ok=True)

    def _check_fingerprint(self, fingerprint: str, grid: pd.DataFrame, n_batches: int) -> None:
        meta_file = self.path / _META
        if not meta_file.exists():
            foreign = sorted(f.name for f in self.path.iterdir() if f.name != _LOCK)
            if foreign:
                shown = ", ".join(foreign[:3]) + (", ..." if len(foreign) > 3 else "")
                raise StoreError(
                    f"store {str(self.path)!r} has no {_META} (the fingerprint of the sweep "
                    f"that made it) but holds files ({shown}), so nothing tells which sweep "
                    "they belong to; delete the directory or use another store path"
                )
            meta = {"fingerprint": fingerprint, "n_batches": n_batches}
            _write_bytes_atomic(meta_file, json.dumps(meta).encode())
            self._write_parquet_atomic(grid, self.path / "grid.parquet")
            return
        try:
            meta = json.loads(meta_file.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise StoreError(
                f"store {str(self.path)!r}: {_META} cannot be read ({exc}); delete the "
                "directory or use another store path"
            ) from None
        if not isinstance(meta, dict) or meta.get("fingerprint") != fingerprint:
            raise StoreError(
                f"store {str(self.path)!r} belongs to another sweep (other model, grid, "
                "batch size or settings); use another store path or delete this one"
            )

    # ---------------------------------------------------------------- batches

    def done(self) -> set[int]:
        """Indices of the batches that have a file (:meth:`read` checks them)."""
        if not self.path.is_dir():
            return set()
        found = set()
        for f in self.path.glob("batch-*.parquet"):
            try:
                found.add(int(f.stem.split("-", 1)[1]))
            except ValueError:
                continue
        return found

    def write(self, index: int, frame: pd.DataFrame) -> None:
        """Commit batch ``index``: its commit record first, then its file (both atomic), so a
        batch file never exists without the record that vouches for it."""
        target = self._file(index)
        tmp = _temporary(target)
        try:
            frame.to_parquet(tmp)
            _fsync_file(tmp)
            record = {
                "fingerprint": self.fingerprint,
                "index": index,
                "size": tmp.stat().st_size,
                "sha256": _batch_digest(self.fingerprint, index, tmp),
            }
            _write_bytes_atomic(self._record(index), json.dumps(record).encode())
            _replace(tmp, target)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise StoreError(
                f"store {str(self.path)!r}: cannot write {target.name}: {exc.strerror or exc}"
            ) from None

    def read(
        self,
        index: int,
        labels: Sequence[str] | None = None,
        outputs: Sequence[str] | None = None,
        times: np.ndarray | None = None,
    ) -> pd.DataFrame | None:
        """Batch ``index`` if its file is the one this sweep committed (commit record and
        checksum) and holds ``labels``, ``outputs`` and the sample ``times`` (those given);
        otherwise ``None`` after a :class:`StoreWarning` naming the file."""
        import pandas as pd

        target = self._file(index)
        problem = self._check_record(index, target)
        frame = None
        if problem is None:
            try:
                frame = pd.read_parquet(target)
            except Exception as exc:  # pyarrow's errors differ by damage; all mean "unusable"
                problem = f"cannot be read ({type(exc).__name__})"
        if problem is None:
            problem = _check_batch(frame, labels, outputs, times)
        if problem is not None:
            warnings.warn(
                f"sweep store {str(self.path)!r}: batch file {target.name} {problem}; "
                "recomputing the batch",
                StoreWarning,
                stacklevel=3,
            )
            return None
        return frame

    def _check_record(self, index: int, target: Path) -> str | None:
        """Why the file of batch ``index`` is not the one this sweep committed, or None."""
        try:
            record = json.loads(self._record(index).read_text())
        except FileNotFoundError:
            return f"has no commit record ({self._record(index).name})"
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            return f"has an unreadable commit record ({self._record(index).name})"
        if not isinstance(record, dict) or record.get("fingerprint") != self.fingerprint:
            return "was committed by another sweep"
        if record.get("index") != index:
            return "was committed as another batch"
        try:
            size = target.stat().st_size
            digest = _batch_digest(self.fingerprint, index, target)
        except OSError as exc:
            return f"cannot be read ({exc.strerror or exc})"
        if size != record.get("size") or digest != record.get("sha256"):
            return "does not match its checksum (damaged, truncated or replaced)"
        return None

    def _write_parquet_atomic(self, frame: pd.DataFrame, target: Path) -> None:
        tmp = _temporary(target)
        frame.to_parquet(tmp)
        _fsync_file(tmp)
        _replace(tmp, target)


def _check_batch(
    frame: pd.DataFrame,
    labels: Sequence[str] | None,
    outputs: Sequence[str] | None,
    times: np.ndarray | None,
) -> str | None:
    """Why ``frame`` is not a batch of these labels, outputs and sample times, or None."""
    columns = frame.columns
    if getattr(columns, "nlevels", 1) != 4:
        return "does not have the columns (output, label, node, op/var) of a batch"
    if outputs is not None and set(columns.get_level_values(0)) != set(outputs):
        return "holds other outputs than this sweep's"
    if labels is not None and set(columns.get_level_values(1)) != set(labels):
        return "holds other parameter sets than this batch's"
    per_label: dict[str, set] = {}
    for output, label, node, opvar in columns:
        per_label.setdefault(label, set()).add((output, node, opvar))
    if len({frozenset(v) for v in per_label.values()}) > 1:
        return "has parameter sets with different columns"
    if not all(np.issubdtype(dtype, np.number) for dtype in frame.dtypes):
        return "holds columns that are not numbers"
    if times is not None:
        index = np.asarray(frame.index, dtype=float)
        step = float(times[1] - times[0]) if len(times) > 1 else 1.0
        if index.shape != times.shape or not np.allclose(index, times, rtol=0, atol=1e-6 * step):
            return "has other sample times than this sweep's"
    return None


def _sample_times(spec: _Spec) -> np.ndarray:
    """The time index a batch of ``spec`` has (the sampling rule of ``run``, then the cutoff)."""
    n_samples = int(round(spec.simulation_time / spec.sampling_step_size))
    times = np.arange(n_samples) * spec.sampling_step_size
    if spec.cutoff:
        times = times[times >= spec.cutoff - 1e-12 * spec.step_size]
    return times


def _batch_digest(fingerprint: str | None, index: int, path: Path) -> str:
    """sha256 of a batch file, bound to the store's fingerprint and the batch index, so a file
    (with its record) copied from another store or another batch never passes as this one."""
    h = hashlib.sha256(f"rates-sweep-batch\0{fingerprint}\0{index}\0".encode())
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _temporary(target: Path) -> Path:
    """A temporary name next to ``target`` (``.<name>.<pid>.tmp``, removed when stale)."""
    return target.with_name(f".{target.name}.{os.getpid()}.tmp")


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())


def _replace(tmp: Path, target: Path) -> None:
    """Rename ``tmp`` to ``target`` (atomic: ``target`` is complete or absent) and make the
    rename durable where the OS allows syncing a directory."""
    os.replace(tmp, target)
    if os.name == "posix":
        fd = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        except OSError:
            pass  # some file systems cannot sync a directory; the rename itself is atomic
        finally:
            os.close(fd)


def _write_bytes_atomic(target: Path, data: bytes) -> None:
    tmp = _temporary(target)
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    _replace(tmp, target)


def _lock_exclusive(fd: int) -> None:
    """An exclusive, non-blocking lock on the open file ``fd`` (OSError when held elsewhere).
    The OS releases it when the process ends, so a killed sweep leaves no stale lock."""
    if sys.platform == "win32":
        import msvcrt

        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
    else:
        import fcntl

        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)


def _lock_holder(lock_file: Path) -> str:
    """Who holds a store's lock, as its holder wrote it (best effort, for the message)."""
    try:
        text = lock_file.read_text()[:200].strip()
    except (OSError, UnicodeDecodeError):
        text = ""
    return text if text.isprintable() and text else "holder unknown"


def _require_pyarrow() -> None:
    try:
        import pyarrow  # noqa: F401
    except ImportError as exc:
        from rates_core.backend import MissingDependencyError

        raise MissingDependencyError(
            "store= needs pyarrow: `pip install pyarrow` (or `pip install rates-core[store]`)"
        ) from exc


def _fingerprint(spec: _Spec, grid: pd.DataFrame) -> str:
    """A hash of what determines the results of a sweep."""
    import pickle

    h = hashlib.sha256()
    h.update(pickle.dumps(spec.circuit, protocol=4))
    h.update(grid.to_csv().encode())
    settings = {
        k: getattr(spec, k)
        for k in spec.__dataclass_fields__
        if k not in ("circuit", "inputs", "initial_state", "history")
    }
    if settings["delays"] == "exact":
        del settings["delays"]  # the default: stores written before the option stay valid
    h.update(json.dumps(settings, sort_keys=True, default=repr).encode())
    for name in ("inputs", "initial_state", "history"):
        value = getattr(spec, name) or {}
        if isinstance(value, str):  # history="zero"
            h.update(value.encode())
            continue
        for key in sorted(value):
            h.update(key.encode())
            v = value[key]
            h.update(np.asarray(v).tobytes() if not callable(v) else repr(v).encode())
    return h.hexdigest()


# --------------------------------------------------------------------------- executors


def _progress_bar(progress: bool | None, total: int, initial: int) -> Any:
    from rates_core.backend import have_tqdm, require_tqdm

    if progress is None:
        try:
            interactive = sys.stderr.isatty()
        except (AttributeError, ValueError):
            interactive = False
        progress = interactive and have_tqdm() and total > 1
    if not progress:
        return None
    tqdm = require_tqdm()
    return tqdm(total=total, initial=initial, desc="sweep", unit="batch", file=sys.stderr)


def _run_tasks(
    spec: _Spec,
    todo: list[tuple[int, list]],
    executor: Any,
    on_done: Callable[[int, Any], None],
    compiled: dict,
) -> None:
    """Run the batches ``todo`` on ``executor``, calling ``on_done(index, frame)`` as each
    finishes (in the calling process, so the store is written by one process only)."""
    if executor is None or executor == "inprocess":
        for index, rows in todo:
            on_done(index, run_batch(spec, rows, compiled))
        return
    if executor == "dask" or _is_dask_client(executor):
        _run_dask(spec, todo, executor, on_done)
        return
    import concurrent.futures as cf

    if isinstance(executor, cf.Executor):
        pool, own = executor, False
    elif executor == "processes" or (isinstance(executor, int) and not isinstance(executor, bool)):
        import multiprocessing

        workers = None if executor == "processes" else int(executor)
        # "spawn": forking a process that runs threads (a Dask client, tqdm) can deadlock
        pool = cf.ProcessPoolExecutor(
            workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_pool_worker_init,
            initargs=(os.getpid(),),
        )
        own = True
    else:
        raise ModelError(
            f"executor must be None, 'inprocess', 'processes', an int, 'dask', a "
            f"concurrent.futures.Executor or a dask.distributed.Client, not {executor!r}"
        )
    try:
        futures = [pool.submit(_task, spec, index, rows) for index, rows in todo]
        for future in cf.as_completed(futures):
            index, frame = future.result()
            on_done(index, frame)
    finally:
        if own:
            pool.shutdown(wait=True, cancel_futures=True)


def _pool_worker_init(parent: int) -> None:
    """Start of a worker of the sweep's own process pool: make it end when the sweep process
    ``parent`` dies. A SIGKILLed parent runs no cleanup, and its workers would go on computing
    batches nobody collects."""
    if not _die_with_parent_linux():
        threading.Thread(
            target=_exit_when_orphaned, args=(parent,), daemon=True, name="rates-parent-watch"
        ).start()
    if os.getppid() != parent:  # the parent died before the watch above began
        os._exit(1)


def _die_with_parent_linux() -> bool:
    """Ask Linux to SIGKILL this process when its parent dies (``PR_SET_PDEATHSIG``); False
    where that is not available. The parent is the thread that started the worker: the pool
    starts its workers from the thread that submits, which waits for the pool to finish."""
    if not sys.platform.startswith("linux"):
        return False
    import ctypes
    import signal

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(1, int(signal.SIGKILL), 0, 0, 0) == 0  # 1: PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return False


def _exit_when_orphaned(parent: int, interval: float = 0.5) -> None:
    """Exit this process once its parent ``parent`` is gone (POSIX re-parents orphans)."""
    while os.getppid() == parent:
        time.sleep(interval)
    os._exit(1)


def _is_dask_client(executor: Any) -> bool:
    module = type(executor).__module__ or ""
    return module.startswith("distributed") and type(executor).__name__ == "Client"


def _run_dask(spec: _Spec, todo: list, executor: Any, on_done: Callable) -> None:
    try:
        from distributed import Client, LocalCluster, as_completed
    except ImportError as exc:
        from rates_core.backend import MissingDependencyError

        raise MissingDependencyError(
            "executor='dask' needs dask.distributed: `pip install rates-core[dask]`"
        ) from exc
    own = executor == "dask"
    cluster = None
    if own:
        cluster = LocalCluster(processes=True, threads_per_worker=1, dashboard_address=None)
        client = Client(cluster)
    else:
        client = executor
    try:
        spec_future = client.scatter(spec, broadcast=True)
        futures = [
            client.submit(_task, spec_future, index, rows, pure=False, retries=2)
            for index, rows in todo
        ]
        for future in as_completed(futures):
            index, frame = future.result()
            on_done(index, frame)
    finally:
        if cluster is not None:  # made here (executor="dask")
            client.close()
            cluster.close()


# --------------------------------------------------------------------------- the sweep


class Sweep:
    """A sweep's fixed settings; :meth:`run` simulates parameter grids with them.

    One :class:`Sweep` keeps the functions it compiled for in-process runs, so calling
    :meth:`run` again (as :func:`rates_core.fit.evolve` does once per generation) compiles
    nothing new. Arguments as in :func:`grid_search`.
    """

    def __init__(
        self,
        circuit: CircuitTemplate | str,
        param_map: Mapping[str, Any],
        simulation_time: float,
        step_size: float,
        outputs: Mapping[str, str] | Sequence[str],
        inputs: Mapping[str, Any] | None = None,
        sampling_step_size: float | None = None,
        backend: str = "numpy",
        solver: str = "euler",
        batch_size: int | None = None,
        **run_options: Any,
    ) -> None:
        from rates_core.frontend.edits import warn_discarded
        from rates_core.frontend.templates import CircuitTemplate
        from rates_core.pipeline import check_delay_option
        from rates_core.plugins import default_host

        run_options = dict(run_options)
        backend, precision = pyrates_compat.driver_arguments(
            "grid_search",
            backend,
            run_options.pop("float_precision", "float64"),
            run_options,
            solver=solver,
        )
        run_options["float_precision"] = precision
        if isinstance(circuit, str):
            circuit = CircuitTemplate.from_yaml(circuit)
        warn_discarded(circuit, "grid_search")
        from rates_core.simulate import check_run_times

        sampling = check_run_times(
            simulation_time, step_size, sampling_step_size, run_options.get("cutoff", 0.0)
        )
        if not isinstance(outputs, Mapping):
            outputs = {p: p for p in outputs}
        if not outputs:
            raise ModelError("grid_search needs at least one output")
        known = {
            "cutoff",
            "vectorize",
            "float_precision",
            "initial_state",
            "history",
            "delay_approximation",
            "seed",
            "on_nonfinite",
            "delays",
        }
        options = {k: v for k, v in run_options.items() if k in known}
        solver_options = {k: v for k, v in run_options.items() if k not in known}
        from rates_core.backend import check_on_nonfinite

        check_on_nonfinite(options.get("on_nonfinite", "raise"))
        if isinstance(options.get("initial_state"), str):
            raise ModelError("grid_search: initial_state must be None or a dict path -> value")
        host = default_host()
        host.backend_info(backend)  # clear UnknownBackendError first
        chosen = host.resolve_solver(backend, solver)  # the backend's own implementation
        delays = check_delay_option(options.get("delays", "exact"), chosen)
        solver = chosen.name
        adaptive = host.solver_info(solver).adaptive
        batched = not adaptive
        default = DEFAULT_BATCH_SIZE if batched else DEFAULT_ADAPTIVE_BATCH
        size = int(batch_size or default)
        if size < 1:
            raise ModelError("batch_size must be at least 1")
        self.circuit = circuit
        self.param_map = dict(param_map)
        self._spec_args = dict(
            circuit=circuit,
            simulation_time=float(simulation_time),
            step_size=float(step_size),
            sampling_step_size=sampling,
            outputs=dict(outputs),
            inputs=dict(inputs) if inputs else None,
            backend=backend,
            solver=solver,
            batched=batched,
            batch_size=size,
            cutoff=float(options.get("cutoff", 0.0)),
            vectorize=bool(options.get("vectorize", True)),
            float_precision=options.get("float_precision", "float64"),
            initial_state=options.get("initial_state"),
            history=options.get("history"),
            delay_approximation=options.get("delay_approximation"),
            seed=options.get("seed"),
            on_nonfinite=options.get("on_nonfinite", "raise"),
            delays=delays,
            solver_options=solver_options,
        )
        self.batch_size = size
        self.batched = batched
        #: System signature -> emitted function, for in-process runs of this sweep
        self.compiled: dict[str, Any] = {}

    def run(
        self,
        param_grid: Mapping[str, Sequence[Any]] | pd.DataFrame,
        permute_grid: bool = False,
        executor: Any = None,
        store: str | os.PathLike | None = None,
        progress: bool | None = None,
    ) -> tuple[pd.DataFrame, pd.DataFrame]:
        """``(results, param_grid)`` as :func:`grid_search` returns them."""
        import pandas as pd

        grid = (
            param_grid.copy()
            if isinstance(param_grid, pd.DataFrame)
            else linearize_grid(param_grid, permute_grid)
        )
        if len(grid) == 0:
            raise ModelError("param_grid has no parameter sets")
        keys = [str(k) for k in grid.columns]
        param_map = _normalise_map(self.param_map, keys)
        spec = _Spec(param_map=param_map, keys=tuple(keys), **self._spec_args)
        labels = [f"{self.circuit.name}_{idx}" for idx in grid.index]
        if len(set(labels)) != len(labels):
            raise ModelError("param_grid: the index labels of the parameter sets must be unique")
        grid.index = pd.Index(labels)
        rows = [
            (label, {k: _plain(grid.iat[i, j]) for j, k in enumerate(keys)})
            for i, label in enumerate(labels)
        ]
        size = spec.batch_size
        batches = [rows[i : i + size] for i in range(0, len(rows), size)]
        if spec.batched and len(batches) == 1 and len(rows) < size:
            # a single short batch needs no padding to share a layout with others
            spec = _Spec(**{**spec.__dict__, "batch_size": len(rows)})
        frames: dict[int, Any] = {}
        sweep_store = ParquetStore(store) if store is not None else None
        bar = None
        try:
            if sweep_store is not None:
                sweep_store.open(_fingerprint(spec, grid), grid, len(batches))
                frames.update(_resume(sweep_store, spec, batches))
            todo = [(i, b) for i, b in enumerate(batches) if i not in frames]
            bar = _progress_bar(progress, len(batches), len(frames))

            def on_done(index: int, frame: Any) -> None:
                if sweep_store is not None:
                    sweep_store.write(index, frame)
                frames[index] = frame
                if bar is not None:
                    bar.update(1)

            _run_tasks(spec, todo, executor, on_done, self.compiled)
        finally:
            if bar is not None:
                bar.close()
            if sweep_store is not None:
                sweep_store.close()
        ordered = [frames[i] for i in range(len(batches))]
        results = pd.concat(ordered, axis=1) if len(ordered) > 1 else ordered[0]
        # columns in PyRates's order: output first, then the sets in grid order
        order = {k: n for n, k in enumerate(spec.outputs)}
        position = {label: n for n, label in enumerate(labels)}
        keys_sorted = sorted(
            range(results.shape[1]),
            key=lambda c: (order[results.columns[c][0]], position[results.columns[c][1]], c),
        )
        results = results.iloc[:, keys_sorted]
        results.index.name = "time"
        results.attrs.update(
            model=self.circuit.name,
            backend=spec.backend,
            solver=spec.solver,
            simulation_time=spec.simulation_time,
            step_size=spec.step_size,
            sampling_step_size=spec.sampling_step_size,
            batch_size=spec.batch_size,
            n_batches=len(batches),
        )
        return results, grid


def _resume(store: ParquetStore, spec: _Spec, batches: list[list]) -> dict[int, Any]:
    """The batches of an opened store that pass their checks (the others are recomputed)."""
    times = _sample_times(spec)
    frames = {}
    for index in sorted(store.done() & set(range(len(batches)))):
        labels = [label for label, _ in batches[index]]
        frame = store.read(index, labels, list(spec.outputs), times)
        if frame is not None:
            frames[index] = frame
    return frames


def _plain(value: Any) -> Any:
    """A grid value as a plain Python number (numpy scalars pickle and hash the same)."""
    if isinstance(value, np.generic):
        return value.item()
    return value


def grid_search(
    circuit: CircuitTemplate | str | None = None,
    param_grid: Mapping[str, Sequence[Any]] | pd.DataFrame | None = None,
    param_map: Mapping[str, Any] | None = None,
    simulation_time: float | None = None,
    step_size: float | None = None,
    outputs: Mapping[str, str] | Sequence[str] | None = None,
    inputs: Mapping[str, Any] | None = None,
    sampling_step_size: float | None = None,
    permute_grid: bool = False,
    backend: str = "numpy",
    solver: str = "euler",
    executor: Any = None,
    batch_size: int | None = None,
    store: str | os.PathLike | None = None,
    progress: bool | None = None,
    **run_options: Any,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Simulate ``circuit`` for every parameter set of ``param_grid`` (PyRates's grid_search).

    ``param_grid``: a dict key -> values (zipped, or every combination with
    ``permute_grid=True``) or a DataFrame with one row per set. ``param_map``: key ->
    ``{"vars": ["op/var"], "nodes": ["n1", ...]}`` for node variables, or ``{"vars": ["weight" |
    "delay" | "spread"], "edges": [(source, target), ...]}`` for edge attributes (source and
    target as in ``update_var``'s ``edge_vars``). ``outputs``: name -> ``node/op/var`` path in
    the circuit (as in ``run``).

    Returns ``(results, param_grid)``: ``results`` has one row per sample time and columns
    ``(output, label, node, op/var)``; ``param_grid`` is indexed by the labels
    (``f"{circuit.name}_{index}"``, PyRates's labels).

    ``batch_size`` bounds memory: at most that many sets are simulated at once (default
    :data:`DEFAULT_BATCH_SIZE` with fixed-step solvers, :data:`DEFAULT_ADAPTIVE_BATCH` sets per
    task with adaptive ones). ``executor``, ``store``: see the module doc. ``progress``: a tqdm
    bar over batches (True; None shows one on a terminal when tqdm is installed). Further
    keyword arguments are those of ``run`` (``cutoff``, ``vectorize``, ``float_precision``,
    ``initial_state`` as a dict, ``history``, ``delay_approximation``, ``seed``,
    ``on_nonfinite``, ``delays``, solver options such as ``method`` or ``rtol``). As in
    ``run``, a set whose state stops being finite is a
    :class:`~rates_core.errors.SolverError` naming the set's label, time and variable, unless
    ``on_nonfinite="continue"`` keeps its NaN / inf rows.

    PyRates's spelling ``circuit_template=`` names ``circuit``; all of ``circuit`` to
    ``outputs`` are required (they have defaults only so that either name can be used).
    """
    circuit = pyrates_compat.grid_search_circuit(circuit, run_options)
    pyrates_compat.require(
        "grid_search",
        circuit=circuit,
        param_grid=param_grid,
        param_map=param_map,
        simulation_time=simulation_time,
        step_size=step_size,
        outputs=outputs,
    )
    # require() refused the missing ones
    assert param_map is not None and outputs is not None
    assert simulation_time is not None and step_size is not None
    sweep = Sweep(
        circuit,
        param_map,
        simulation_time,
        step_size,
        outputs,
        inputs=inputs,
        sampling_step_size=sampling_step_size,
        backend=backend,
        solver=solver,
        batch_size=batch_size,
        **run_options,
    )
    return sweep.run(
        param_grid, permute_grid=permute_grid, executor=executor, store=store, progress=progress
    )


def n_batches(n_sets: int, batch_size: int) -> int:
    """How many batches ``n_sets`` parameter sets make."""
    return math.ceil(n_sets / batch_size)
