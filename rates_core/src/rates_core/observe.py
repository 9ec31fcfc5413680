"""Recorded variables: states read from the trajectory, algebraic ones evaluated afterwards.

Solvers only sample the state vector; any algebraic variable a user asks for is computed from the
sampled states (and inputs) with the System's own expressions, vectorised over time. Symbols of
size 1 are ``(T, 1)`` arrays and vectors ``(T, n)``, so broadcasting matches the vector field.
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


_MODULE = {
    "Matvec": lambda w, x: x @ w.T,
    "Index": lambda x, i: x[..., i],
    "VSum": lambda x: np.sum(x, axis=-1, keepdims=True),
    "Mean": lambda x: np.mean(x, axis=-1, keepdims=True),
    "Maxi": lambda a, b=None: np.max(a, axis=-1, keepdims=True) if b is None else np.maximum(a, b),
    "Mini": lambda a, b=None: np.min(a, axis=-1, keepdims=True) if b is None else np.minimum(a, b),
    "Round": np.round,
    "Greater": _greater(np.greater),
    "GreaterEqual": _greater(np.greater_equal),
    "Less": _greater(np.less),
    "LessEqual": _greater(np.less_equal),
    "Equal": _greater(np.equal),
    "NotEqual": _greater(np.not_equal),
}


def _over_time(result: Any, n_times: int, size: int) -> np.ndarray:
    """Broadcast a result to ``(T, size)``: 1-D results depend on parameters only."""
    arr = np.asarray(result)
    if arr.ndim == 1:
        arr = arr[None, :]
    return np.broadcast_to(arr, (n_times, size))


def evaluate_algebraic(
    system: System,
    names: list[str],
    times: np.ndarray,
    states: np.ndarray,
    params: list[Any],
    input_rows: dict[str, np.ndarray],
) -> dict[str, np.ndarray]:
    """Values ``(T, size)`` of the algebraic variables ``names`` at the sampled times."""
    if not names:
        return {}
    if system.delayed:
        raise ModelError("recording algebraic variables of delayed systems is not supported yet")
    values: dict[sympy.Symbol, Any] = {}
    for s in system.states:
        values[s.symbol] = states[:, s.start : s.stop]
    for p, v in zip(system.params, params):
        if p.role == "input":
            rows = np.asarray(input_rows[p.name])
            values[p.symbol] = rows.reshape(len(times), -1)
        else:
            values[p.symbol] = v
    values[builtins.TIME] = times[:, None]
    wanted = set(names)
    out = {}
    for a in system.algebraic:
        syms = sorted(a.expr.free_symbols, key=lambda s: s.name)
        unknown = [s for s in syms if s not in values]
        if unknown:
            raise ModelError(f"cannot evaluate {a.name}: unknown symbols {unknown}")
        fn = sympy.lambdify(syms, a.expr, modules=[_MODULE, "numpy"])
        result = _over_time(fn(*[values[s] for s in syms]), len(times), a.size)
        values[a.symbol] = result
        if a.name in wanted:
            out[a.name] = np.array(result)
    return out
