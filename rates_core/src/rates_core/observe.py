"""Recorded variables: states read from the trajectory, algebraic ones evaluated afterwards.

Solvers only sample the state vector; any algebraic variable a user asks for is computed from the
sampled states (and inputs) with the System's own expressions. Most expressions are evaluated
vectorised over time: symbols of size 1 are ``(T, 1)`` arrays and vectors ``(T, n)``, so
broadcasting matches the vector field. Expressions whose meaning depends on the exact shapes of
their operands (``matmul``, ``index_range``, ``index_axis``, ``concatenate``, ``interp``, a
two-index ``index``, reductions along an axis) are evaluated sample by sample with the shapes the
vector field sees (size-1 states as scalars, vectors as 1-D arrays, parameters as declared).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import sympy

from rates_core import builtins
from rates_core.errors import ModelError
from rates_core.system import System


def _greater(op: Any) -> Any:
    return lambda a, b: op(a, b).astype(float)


_COMPARISONS = {
    "Greater": _greater(np.greater),
    "GreaterEqual": _greater(np.greater_equal),
    "Less": _greater(np.less),
    "LessEqual": _greater(np.less_equal),
    "Equal": _greater(np.equal),
    "NotEqual": _greater(np.not_equal),
}

# Over time: every operand carries a leading time axis (or none for parameters).
_MODULE = {
    "Matvec": lambda w, x: x @ w.T,
    "Index": lambda x, i: x[..., int(i)],
    "VSum": lambda x: np.sum(x, axis=-1, keepdims=True),
    "Mean": lambda x: np.mean(x, axis=-1, keepdims=True),
    "Maxi": lambda a, b=None: np.max(a, axis=-1, keepdims=True) if b is None else np.maximum(a, b),
    "Mini": lambda a, b=None: np.min(a, axis=-1, keepdims=True) if b is None else np.minimum(a, b),
    "Round": np.round,
    **_COMPARISONS,
}


def _index_axis(x: Any, idx: Any = None, axis: Any = 0) -> Any:
    if idx is None:
        return x
    return x[:, int(idx)] if int(axis) == 1 else x[int(idx)]


def _reduce(func: Any) -> Any:
    return lambda x, axis=None: func(x) if axis is None else func(x, axis=int(axis))


def _extremum(reduce: Any, pair: Any) -> Any:
    return lambda a, b=None: reduce(a) if b is None else pair(a, b)


# One sample: the semantics of the generated vector field (rates_numpy's VectorPrinter).
_SAMPLE_MODULE = {
    "Matvec": lambda a, x: a @ x,
    "Matmul": lambda a, b: a @ b,
    "Index": lambda x, *idx: x[tuple(int(i) for i in idx)],
    "IndexRange": lambda x, start, stop: x[int(start) : int(stop)],
    "IndexAxis": _index_axis,
    "Interp": np.interp,
    "Concatenate": lambda *parts: np.hstack(parts),
    "VSum": _reduce(np.sum),
    "Mean": _reduce(np.mean),
    "Maxi": _extremum(np.max, np.maximum),
    "Mini": _extremum(np.min, np.minimum),
    "Round": np.round,
    **_COMPARISONS,
}

_SHAPE_SENSITIVE = (
    builtins.Matmul,
    builtins.IndexRange,
    builtins.IndexAxis,
    builtins.Concatenate,
    builtins.Interp,
)


def _per_sample(expr: sympy.Expr) -> bool:
    """Whether ``expr`` must be evaluated one sample at a time (see module doc)."""
    if expr.has(*_SHAPE_SENSITIVE):
        return True
    for f in expr.atoms(builtins.Index):
        if len(f.args) > 2:
            return True
    for cls in (builtins.VSum, builtins.Mean):
        if any(len(f.args) > 1 for f in expr.atoms(cls)):
            return True
    return False


def _over_time(result: Any, n_times: int, size: int) -> np.ndarray:
    """Broadcast a result to ``(T, size)``: 1-D results depend on parameters only."""
    arr = np.asarray(result)
    if arr.ndim == 1:
        arr = arr[None, :]
    return np.broadcast_to(arr, (n_times, size))


def _needed(system: System, names: list[str]) -> set[str]:
    """``names`` and every algebraic variable they read, transitively."""
    by_name = {a.name: a for a in system.algebraic}
    needed: set[str] = set()
    stack = [n for n in names if n in by_name]
    while stack:
        name = stack.pop()
        if name in needed:
            continue
        needed.add(name)
        stack.extend(s.name for s in by_name[name].expr.free_symbols if s.name in by_name)
    return needed


def _path_of(system: System, name: str) -> str:
    """A user path of the System variable ``name`` (its first unit's), for messages."""
    paths = [p for p, (n, _) in system.label_map.items() if n == name]
    if not paths:
        return repr(name)
    more = f" and {len(paths) - 1} more" if len(paths) > 1 else ""
    return f"{paths[0]!r}{more}"


def reads_delayed(system: System, names: list[str]) -> list[str]:
    """Those of the algebraic variables ``names`` that read a delayed value (themselves or
    through other algebraic variables): recording them needs the delayed reads at the sample
    times (``Problem.delayed_samples``)."""
    delayed = {d.symbol for d in system.delayed}
    by_name = {a.name: a for a in system.algebraic}
    return [
        name
        for name in names
        if name in by_name
        and any(by_name[n].expr.free_symbols & delayed for n in _needed(system, [name]))
    ]


def needs_delayed_samples(
    system: System, names: list[str], capable: bool, others: list[str]
) -> bool:
    """Whether recording the variables ``names`` needs the delayed reads at the sample times
    (``Problem.delayed_samples``); when it does and the backend is not ``capable`` (capability
    ``dde_outputs``; ``others``: the installed backends that have it), a ModelError naming the
    variable, the delayed read and the ways out."""
    found = reads_delayed(system, names)
    if found and not capable:
        _check_no_delayed_read(system, found[0], others)
    return bool(found)


def _check_no_delayed_read(system: System, name: str, others: list[str] | None = None) -> None:
    """Raise a ModelError when the algebraic variable ``name`` reads (itself or through other
    algebraic variables) a delayed value and the solver gave no delayed values at the samples
    (a backend without the capability ``dde_outputs``, or a monitored run). Every other
    algebraic variable of a delayed system is recorded as usual."""
    delayed = {d.symbol: d for d in system.delayed}
    if not delayed:
        return
    by_name = {a.name: a for a in system.algebraic}
    stack, seen = [name], set()
    while stack:
        current = stack.pop()
        if current in seen:
            continue
        seen.add(current)
        for sym in by_name[current].expr.free_symbols:
            if sym in delayed:
                source = delayed[sym].state.removesuffix("_history")  # recorded variables
                via = "" if current == name else f" (through {_path_of(system, current)})"
                raise ModelError(
                    f"cannot record {_path_of(system, name)}: it reads the delayed value of "
                    f"{_path_of(system, source)}{via}, and results are evaluated from the "
                    "sampled states, which do not give past values here (the solvers of "
                    "backends with the capability 'dde_outputs' return them, but not to "
                    "monitors); record the state variables it is made of and compute it from "
                    f"them, {_capable(others)}or pass delay_approximation=n (delays as ODEs)",
                    variable=name,
                )
            if sym.name in by_name:
                stack.append(sym.name)


def _delayed_values(system: System, delayed: np.ndarray, values: dict, samples: dict) -> None:
    """The symbol of each delayed read over time (``(T, size)``) and per sample, from the
    columns of ``delayed`` (``system.delayed`` in order, ``size`` columns each)."""
    start = 0
    for d in system.delayed:
        block = np.asarray(delayed[:, start : start + d.size])
        if not str(system.history_slice(d.state)[2]).startswith("complex"):
            block = block.real  # as the vector field reads it
        values[d.symbol] = block
        samples[d.symbol] = (
            (lambda k, b=block: b[k, 0]) if d.size == 1 else (lambda k, b=block: b[k])
        )
        start += d.size


def _capable(others: list[str] | None) -> str:
    """``use backend 'numpy' or 'torch', `` (the backends with ``dde_outputs``), or nothing."""
    if not others:
        return ""
    return f"use backend {' or '.join(map(repr, sorted(others)))}, "


def evaluate_algebraic(
    system: System,
    names: list[str],
    times: np.ndarray,
    states: np.ndarray,
    params: list[Any],
    input_rows: dict[str, np.ndarray],
    delayed: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Values ``(T, size)`` of the algebraic variables ``names`` at the sampled times;
    ``delayed``: the delayed reads at those times (``Trajectory.delayed``), needed by the
    variables that read a delayed value."""
    if not names:
        return {}
    needed = _needed(system, names)
    if delayed is None:
        for name in names:
            _check_no_delayed_read(system, name)
    n_times = len(times)
    values: dict[sympy.Symbol, Any] = {}  # over time: (T, size) or a parameter value
    samples: dict[sympy.Symbol, Any] = {}  # one sample: a callable k -> value, or the value
    for s in system.states:
        values[s.symbol] = states[:, s.start : s.stop]
        samples[s.symbol] = (
            (lambda k, i=s.start: states[k, i])
            if s.size == 1
            else (lambda k, a=s.start, b=s.stop: states[k, a:b])
        )
    for p, v in zip(system.params, params):
        if p.role == "input":
            rows = np.asarray(input_rows[p.name])
            values[p.symbol] = rows.reshape(n_times, -1)
            shape = np.shape(v)
            samples[p.symbol] = lambda k, r=rows, shape=shape: r[k].reshape(shape)
        else:
            values[p.symbol] = v
            samples[p.symbol] = v
    if delayed is not None:
        _delayed_values(system, delayed, values, samples)
    values[builtins.TIME] = times[:, None]
    samples[builtins.TIME] = lambda k: times[k]
    wanted = set(names)
    out = {}
    for a in system.algebraic:
        if a.name not in needed:
            continue
        if a.expr.has(builtins.Randn):
            raise ModelError(
                f"cannot record {a.name!r}: it depends on randn, whose samples are not kept",
                variable=a.name,
            )
        syms = sorted(a.expr.free_symbols, key=lambda s: s.name)
        unknown = [s for s in syms if s not in values]
        if unknown:
            raise ModelError(f"cannot evaluate {a.name}: unknown symbols {unknown}")
        if _per_sample(a.expr):
            fn = sympy.lambdify(syms, a.expr, modules=[_SAMPLE_MODULE, "numpy"])
            result = np.empty((n_times, a.size), dtype=np.result_type(a.dtype, np.float64))
            for k in range(n_times):
                args = [samples[s](k) if callable(samples[s]) else samples[s] for s in syms]
                result[k] = np.reshape(fn(*args), -1)
        else:
            fn = sympy.lambdify(syms, a.expr, modules=[_MODULE, "numpy"])
            result = _over_time(fn(*[values[s] for s in syms]), n_times, a.size)
        values[a.symbol] = result
        samples[a.symbol] = (
            (lambda k, r=result: r[k, 0]) if a.size == 1 else (lambda k, r=result: r[k])
        )
        if a.name in wanted:
            out[a.name] = np.array(result)
    return out
