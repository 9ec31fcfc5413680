"""Working with the DataFrames :func:`rates_core.simulate.run` returns.

A result frame is indexed by time (``time``) and has one column per recorded variable. Columns
are plain names (``"psp_pc"``, or the path ``"pc/rate_out/v"`` when no outputs were named), or a
three-level :class:`pandas.MultiIndex` ``(name, node, "op/var")`` when one output name covers
several nodes. ``df.attrs`` records how the frame was made (see :data:`METADATA_KEYS`).

* :func:`to_xarray` turns a frame into an :class:`xarray.Dataset` with ``time`` and ``node``
  dimensions (xarray is optional: ``pip install rates-core[xarray]``);
* :func:`power_spectrum` computes a power spectral density per column (SciPy's Welch method);
* :func:`summary` is the short text ``rates run`` prints;
* :func:`output_spec` and :func:`results_frame` build the frames of ``run`` and ``grid_search``.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from rates_core.errors import MissingDependencyError, ModelError, RatesError
from rates_core.observe import evaluate_algebraic

if TYPE_CHECKING:
    from rates_core.frontend.templates import CircuitTemplate
    from rates_core.system import System

if TYPE_CHECKING:
    import pandas as pd
    import xarray as xr

__all__ = [
    "METADATA_KEYS",
    "column_label",
    "flat_columns",
    "metadata",
    "output_spec",
    "power_spectrum",
    "results_frame",
    "sampling_step",
    "summary",
    "to_xarray",
]

#: The ``attrs`` every frame from ``run()`` carries (backends may add more).
METADATA_KEYS = (
    "model",
    "backend",
    "backend_distribution",
    "backend_version",
    "rates_core_version",
    "solver",
    "solver_options",
    "seed",
    "simulation_time",
    "step_size",
    "sampling_step_size",
    "cutoff",
    "float_precision",
    "vectorized",
)

_PATH = re.compile(r"^(?P<node>.+)/(?P<opvar>[^/\[\]]+/[^/\[\]]+)$")


def metadata(df: pd.DataFrame) -> dict[str, Any]:
    """A copy of ``df.attrs`` (how the frame was made); empty for frames not made by ``run``."""
    return dict(df.attrs)


def column_label(column: Any) -> str:
    """A readable one-line label of a column: ``name`` or ``name (node)`` for MultiIndex ones."""
    if isinstance(column, tuple):
        name, node, *_ = (*column, "", "")
        return f"{name} ({node})" if node else str(name)
    return str(column)


def flat_columns(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with one header row: MultiIndex columns ``(name, node, op/var)`` become
    ``name@node`` (for CSV files that other tools read). Plain columns are kept."""
    import pandas as pd

    if not isinstance(df.columns, pd.MultiIndex):
        return df
    out = df.copy()
    out.columns = [f"{c[0]}@{c[1]}" for c in df.columns]
    return out


def sampling_step(df: pd.DataFrame) -> float:
    """The time between rows: ``attrs["sampling_step_size"]``, else read from the index."""
    step = df.attrs.get("sampling_step_size")
    if step:
        return float(step)
    times = np.asarray(df.index, dtype=float)
    if times.size < 2:
        raise RatesError("the frame needs at least two rows (times) to know its sampling step")
    steps = np.diff(times)
    if not np.allclose(steps, steps[0], rtol=1e-6, atol=0.0):
        raise RatesError("the rows of the frame are not equally spaced in time")
    return float(steps[0])


def _groups(df: pd.DataFrame) -> tuple[dict[str, list[tuple[str, Any]]], dict[str, Any]]:
    """Columns grouped into node-indexed variables ``{name: [(node, column)]}`` and plain
    (time-only) variables ``{name: column}``."""
    import pandas as pd

    by_node: dict[str, list[tuple[str, Any]]] = {}
    plain: dict[str, Any] = {}
    if isinstance(df.columns, pd.MultiIndex):
        for column in df.columns:
            name, node = str(column[0]), str(column[1])
            by_node.setdefault(name, []).append((node, column))
        return by_node, plain
    for column in df.columns:
        match = _PATH.match(str(column))
        if match:  # a path-named column (run() without outputs): node and op/var
            by_node.setdefault(match["opvar"], []).append((match["node"], column))
        else:
            plain[str(column)] = column
    return by_node, plain


def _attr_value(value: Any) -> Any:
    """An attribute value xarray can write to netCDF: dicts as JSON, bools as ints."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True, default=str)
    if isinstance(value, (int, float, str, np.number)):
        return value
    return str(value)


def to_xarray(df: pd.DataFrame) -> xr.Dataset:
    """An :class:`xarray.Dataset` of a result frame, with ``time`` and ``node`` dimensions.

    Every output name becomes a data variable. Names that cover nodes (MultiIndex columns, or
    the ``node/op/var`` columns of a run without ``outputs``, grouped by ``op/var``) have the
    dimensions ``(time, node)``; the ``node`` coordinate is the union of their nodes (NaN where
    a variable has no value at a node). Other columns are ``(time,)`` variables. ``attrs`` are
    copied, made storable in netCDF (dicts as JSON text, booleans as 0/1, ``None`` dropped).

    Needs xarray (``pip install rates-core[xarray]``); without it this raises
    :class:`~rates_core.errors.MissingDependencyError`.
    """
    try:
        import xarray as xr
    except ImportError as exc:
        raise MissingDependencyError(
            "to_xarray needs the xarray package: `pip install xarray` "
            "(or `pip install rates-core[xarray]`)"
        ) from exc
    times = np.asarray(df.index, dtype=float)
    by_node, plain = _groups(df)
    nodes: list[str] = []
    for members in by_node.values():
        for node, _ in members:
            if node not in nodes:
                nodes.append(node)
    data_vars: dict[str, Any] = {}
    for name, members in by_node.items():
        column_of = dict(members)
        if len(column_of) != len(members):
            raise RatesError(f"output {name!r} has several columns for one node")
        values = df[[c for _, c in members]].to_numpy()
        block = np.full((len(times), len(nodes)), np.nan, dtype=np.result_type(values, float))
        for k, (node, _) in enumerate(members):
            block[:, nodes.index(node)] = values[:, k]
        data_vars[name] = (("time", "node"), block)
    for name, column in plain.items():
        data_vars[name] = (("time",), df[column].to_numpy())
    coords: dict[str, Any] = {"time": times}
    if nodes:
        coords["node"] = np.array(nodes, dtype=object)
    attrs = {k: _attr_value(v) for k, v in df.attrs.items() if v is not None}
    dataset = xr.Dataset(data_vars, coords=coords, attrs=attrs)
    dataset["time"].attrs["units"] = "model time units"
    return dataset


def power_spectrum(
    df: pd.DataFrame,
    columns: Sequence[Any] | None = None,
    *,
    method: str = "welch",
    nperseg: int | None = None,
    detrend: str | bool = "constant",
) -> pd.DataFrame:
    """Power spectral density of each column (or ``columns``): a frame indexed by frequency.

    Frequencies are in cycles per model time unit (Hz when time is in seconds).
    ``method="welch"`` (default; segments of ``nperseg`` rows, default ``min(len, 1024)``) or
    ``"periodogram"``; ``detrend`` as in :mod:`scipy.signal` (the mean is removed by default).
    """
    import pandas as pd
    from scipy import signal

    if method not in ("welch", "periodogram"):
        raise RatesError(f"method must be 'welch' or 'periodogram', not {method!r}")
    chosen = list(df.columns) if columns is None else list(columns)
    missing = [c for c in chosen if c not in df.columns]
    if missing:
        raise RatesError(
            f"no column {missing[0]!r} in the results (columns: "
            f"{', '.join(map(column_label, df.columns))})"
        )
    fs = 1.0 / sampling_step(df)
    values = df[chosen].to_numpy(dtype=float)
    if method == "welch":
        n = nperseg or min(len(values), 1024)
        freqs, power = signal.welch(values, fs=fs, nperseg=n, detrend=detrend, axis=0)
    else:
        freqs, power = signal.periodogram(values, fs=fs, detrend=detrend, axis=0)
    columns_index = (
        pd.MultiIndex.from_tuples(chosen) if isinstance(df.columns, pd.MultiIndex) else chosen
    )
    return pd.DataFrame(power, index=pd.Index(freqs, name="frequency"), columns=columns_index)


def summary(df: pd.DataFrame) -> str:
    """A few lines about a result frame: what was run and the range of every column."""
    attrs = df.attrs
    lines = []
    if attrs:
        lines.append(
            f"model {attrs.get('model')}: backend {attrs.get('backend')} "
            f"({attrs.get('backend_distribution')} {attrs.get('backend_version')}), "
            f"solver {attrs.get('solver')}, step {attrs.get('step_size')}, "
            f"sampling {attrs.get('sampling_step_size')}, rates-core "
            f"{attrs.get('rates_core_version')}"
        )
    if len(df.index):
        lines.append(
            f"{len(df.index)} rows from t = {df.index[0]:g} to {df.index[-1]:g}, "
            f"{len(df.columns)} column(s)"
        )
    else:
        lines.append(f"no rows, {len(df.columns)} column(s)")
    width = max([len("column"), *(len(column_label(c)) for c in df.columns)])
    lines.append(f"  {'column':<{width}}  {'min':>12}  {'mean':>12}  {'max':>12}  {'last':>12}")
    for column in df.columns:
        values = np.asarray(df[column].to_numpy())
        if values.size == 0:
            continue
        if np.iscomplexobj(values):
            values = np.abs(values)
        lines.append(
            f"  {column_label(column):<{width}}  {np.nanmin(values):>12.6g}  "
            f"{np.nanmean(values):>12.6g}  {np.nanmax(values):>12.6g}  {values[-1]:>12.6g}"
        )
    return "\n".join(lines) + "\n"


def _locate_output(circuit: CircuitTemplate, system: System, path: str) -> list[tuple]:
    """``[(node, op, var)]`` of an output path: a variable of one unit of the System as it
    is (edge units, such as the states of an edge template, are no nodes of the circuit),
    other paths (wildcards, sub-circuits) through the circuit."""
    if isinstance(path, str) and path in system.label_map:
        node, op, var = path.rsplit("/", 2)
        return [(node, op, var)]
    return circuit.resolve_path(path)


def output_spec(
    circuit: CircuitTemplate, system: System, outputs: Any
) -> list[tuple[str, str, str, str, int | None]]:
    """``(name, node, "op/var", symbol, index)`` per recorded column.

    A vector variable of one node (``output(0.0, 3)``) gives one column per element, named
    ``name[k]``.
    """
    if outputs is None:
        outputs = {}
        for s in system.states:
            for path in s.paths:
                if path in system.label_map:
                    outputs[path] = path
    elif not isinstance(outputs, Mapping):
        outputs = {p: p for p in outputs}
    sizes = system.symbol_sizes()
    spec: list[tuple[str, str, str, str, int | None]] = []
    for name, path in outputs.items():
        for node, op, var in _locate_output(circuit, system, path):
            full = f"{node}/{op}/{var}"
            if full not in system.label_map:
                raise ModelError(
                    f"output {path!r}: {full} is not used by any equation", variable=path
                )
            sym, index = system.label_map[full]
            size = sizes.get(sym, 1)
            if index is None and size > 1:
                for k in range(size):
                    spec.append((f"{name}[{k}]", node, f"{op}/{var}", sym, k))
            else:
                spec.append((name, node, f"{op}/{var}", sym, index))
    return spec


def algebraic_outputs(system: System, spec: Sequence[tuple]) -> list[str]:
    """The algebraic variables among the columns of an output spec (not states, not
    parameters): those evaluated after the run."""
    plain = {s.name for s in system.states} | {p.name for p in system.params}
    return sorted({sym for *_, sym, _ in spec if sym not in plain})


def results_frame(
    spec: Sequence[tuple[str, str, str, str, int | None]],
    times: np.ndarray,
    states: np.ndarray,
    system: System,
    params: Sequence[Any],
    input_rows: Mapping[str, Any],
    sample_idx: np.ndarray,
    delayed: np.ndarray | None = None,
) -> pd.DataFrame:
    """The frame of a trajectory: one column per :func:`output_spec` entry, indexed by time
    (algebraic variables evaluated from the sampled states, parameters and input rows, and
    ``delayed``, the delayed reads at the samples, ``Trajectory.delayed``)."""
    import pandas as pd  # only results need pandas; get_run_func users do not pay for it

    state_of = {s.name: s for s in system.states}
    algebraic = sorted({sym for *_, sym, _ in spec if sym not in state_of})
    param_of = {p.name: v for p, v in zip(system.params, params)}
    rows_at_samples = {k: (v[sample_idx] if np.ndim(v) else v) for k, v in input_rows.items()}
    values = evaluate_algebraic(
        system,
        [a for a in algebraic if a not in param_of],
        times,
        states,
        list(params),
        rows_at_samples,
        delayed,
    )
    columns, data = [], []
    counts: dict[str, int] = {}
    for name, *_ in spec:
        counts[name] = counts.get(name, 0) + 1
    multi = any(c > 1 for c in counts.values())
    for name, node, opvar, sym, index in spec:
        if sym in state_of:
            s = state_of[sym]
            col = states[:, s.start + (index or 0)]
        elif sym in param_of:
            col = np.broadcast_to(np.ravel(param_of[sym])[index or 0], times.shape)
        else:
            col = values[sym][:, index or 0]
        columns.append((name, node, opvar) if multi else name)
        data.append(col)
    # one block of columns (column-major as before: each column contiguous), taken as it is
    block = np.stack(data) if data else np.empty((0, len(times)))
    return pd.DataFrame(
        block.T,
        index=pd.Index(times, name="time"),
        columns=_column_index(tuple(columns), multi).copy(),
        copy=False,
    )


@functools.lru_cache(maxsize=256)
def _column_index(columns: tuple, multi: bool) -> pd.Index:
    """The column index of a frame, built once per set of column names (building one costs
    0.05-0.1 ms, a MultiIndex milliseconds: a large part of a short run); frames get copies,
    which share its values."""
    import pandas as pd

    return pd.MultiIndex.from_tuples(columns) if multi else pd.Index(list(columns))
