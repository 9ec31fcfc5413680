"""The compiled helpers the generated modules of rates-numba call (imported by them).

Two kinds:

* equation functions whose argument may be a scalar or an array (``vsum_``, ``mean_``,
  ``maxr_``, ``minr_``, ``at1_``, ``matvec_``): numba ``overload`` s that choose the code by the
  argument's type at compile time, so one printed expression serves scalars and vectors.
  ``matvec_`` takes a dense 2-d array or a CSR matrix as the tuple ``(data, indices, indptr,
  n_rows)`` (numba has no scipy.sparse; :func:`rates_numba.solvers.numba_argument` converts);
* the pieces of the compiled solver loops: the ring history of delayed reads
  (:func:`store_state_`, :func:`store_derivative_`, :func:`store_left_`,
  :func:`read_delayed_`), the linear interpolation of input rows (:func:`input_at_`), the
  first non-finite entry (:func:`first_nonfinite_`) and the seed of numba's random generator
  (:func:`seed_`).

This module imports numba; the plugin imports it inside its hooks only.
"""

from __future__ import annotations

from typing import Any, cast

import numba
import numpy as np
from numba import types
from numba.extending import overload
from numba.np.numpy_support import as_dtype

__all__ = [
    "at1_",
    "first_nonfinite_",
    "input_at_",
    "matvec_",
    "maxr_",
    "mean_",
    "mean_axis_",
    "minr_",
    "CARRY",
    "HOLD",
    "READ",
    "read_delayed_",
    "seed_",
    "store_derivative_",
    "store_left_",
    "store_state_",
    "vsum_",
]

_jit = numba.njit(cache=True, error_model="numpy")


# --------------------------------------------------------------------------- equation functions


def vsum_(x: Any) -> Any:
    """Sum of all values of ``x`` (a scalar is its own sum)."""
    return np.sum(x)


def mean_(x: Any) -> Any:
    """Mean of all values of ``x`` (a scalar is its own mean)."""
    return np.mean(x)


def maxr_(x: Any) -> Any:
    """Largest value of ``x`` (a scalar is its own maximum)."""
    return np.max(x)


def minr_(x: Any) -> Any:
    """Smallest value of ``x`` (a scalar is its own minimum)."""
    return np.min(x)


def at1_(x: Any) -> Any:
    """``x`` as a 1-d array (a scalar becomes an array of one value)."""
    return np.atleast_1d(x).ravel()


def matvec_(a: Any, x: Any) -> Any:
    """``a @ x`` for a dense matrix or a CSR tuple ``(data, indices, indptr, n_rows)``."""
    if isinstance(a, tuple):
        data, indices, indptr, n_rows = a
        out = np.zeros(n_rows, dtype=np.result_type(data, x))
        for i in range(n_rows):
            out[i] = np.dot(data[indptr[i] : indptr[i + 1]], x[indices[indptr[i] : indptr[i + 1]]])
        return out
    return np.asarray(a) @ x


def _reduction(func: Any) -> Any:
    """The overload of a reduction ``func``: itself on arrays, the identity on scalars."""

    def typer(x: Any) -> Any:
        def on_array(x: Any) -> Any:
            return func(x)

        def on_scalar(x: Any) -> Any:
            return x

        return on_array if isinstance(x, types.Array) else on_scalar

    return typer


overload(vsum_)(_reduction(np.sum))
overload(mean_)(_reduction(np.mean))
overload(maxr_)(_reduction(np.max))
overload(minr_)(_reduction(np.min))


@overload(at1_)
def _at1(x: Any) -> Any:
    def on_array(x: Any) -> Any:
        return x.ravel()

    def on_scalar(x: Any) -> Any:
        return np.array([x])

    return on_array if isinstance(x, types.Array) else on_scalar


def _result_type(*numba_types: Any) -> Any:
    """The NumPy scalar type of the result of arithmetic on ``numba_types`` (arrays or
    scalars)."""
    dtypes = [as_dtype(getattr(t, "dtype", t)) for t in numba_types]
    return np.result_type(*dtypes).type


@overload(matvec_)
def _matvec(a: Any, x: Any) -> Any:
    if isinstance(a, types.BaseTuple):
        kind = _result_type(cast(Any, a)[0], x)

        def csr(a: Any, x: Any) -> Any:
            data, indices, indptr, n_rows = a
            out = np.zeros(n_rows, dtype=kind)
            for i in range(n_rows):
                acc = out[i]
                for j in range(indptr[i], indptr[i + 1]):
                    acc += data[j] * x[indices[j]]
                out[i] = acc
            return out

        return csr
    kind = _result_type(a, x)
    if a.dtype == x.dtype and isinstance(a.dtype, (types.Float, types.Complex)):
        # same float or complex type: numpy's dot (BLAS through scipy, as numba provides it)

        def blas(a: Any, x: Any) -> Any:
            return np.dot(np.ascontiguousarray(a), np.ascontiguousarray(x))

        return blas

    def dense(a: Any, x: Any) -> Any:
        rows, cols = a.shape
        out = np.zeros(rows, dtype=kind)
        for i in range(rows):
            acc = out[i]
            for j in range(cols):
                acc += a[i, j] * x[j]
            out[i] = acc
        return out

    return dense


@_jit
def mean_axis_(x: Any, axis: int) -> Any:
    """Mean along ``axis`` (numba's ``np.mean`` takes no axis)."""
    return np.sum(x, axis=axis) / x.shape[axis]


# --------------------------------------------------------------------------- solver pieces


@_jit
def seed_(seed: int) -> None:
    """Seed numba's random generator (what ``randn()`` in compiled code draws from)."""
    np.random.seed(seed)


@_jit
def first_nonfinite_(values: Any) -> int:
    """The index of the first NaN or infinite entry of ``values``, -1 when all are finite."""
    for i in range(values.size):
        if not np.isfinite(values[i]):
            return i
    return -1


@_jit
def input_at_(times: Any, rows: Any, t: float) -> Any:
    """Input rows (given at ``times``) interpolated linearly at ``t``, constant outside."""
    n = times.size
    if n == 1 or t <= times[0]:
        return rows[0]
    if t >= times[n - 1]:
        return rows[n - 1]
    i = np.searchsorted(times, t, side="right") - 1
    w = (t - times[i]) / (times[i + 1] - times[i])
    return rows[i] + w * (rows[i + 1] - rows[i])


# The ring history of the fixed-step loops, laid out as rates-numpy's RingHistory: interval
# records ``ring[j, col] = (y_j, f_j, y_j+1, l_j+1)`` (``l``: the left-side derivative), so the
# four operands of a connection's cubic Hermite read are 32 contiguous bytes (one cache line
# per connection, where separate rings cost four), and the ring of D records is stored twice
# (records j and j + D equal), so the records n - D + 1 .. n are contiguous from record
# n % D + 1 and a read adds a per-run offset (``off``) to one base per step: no index
# arithmetic per connection. Where no read interpolates (``delays="grid"``, delays that are
# whole steps) a record is ``y_j`` alone (the ring a quarter of the size). What a record holds
# is decided here and nowhere else. Where an extrinsic input that drives a delayed variable
# changes its row at step n, the derivative jumps at t_n: ``l_n`` is then the left-side
# derivative (input row n - 1), the right-end slope of the interval ending at t_n (elsewhere it
# repeats f_n).


@_jit
def _put(ring: Any, n: int, slot: int, values: Any, tracked: Any) -> None:
    """Slot ``slot`` of record n (both copies): the ``tracked`` entries of ``values``."""
    d = ring.shape[0] // 2
    r = n % d
    for j in range(tracked.size):
        v = values[tracked[j]]
        ring[r, j, slot] = v
        ring[r + d, j, slot] = v


@_jit
def store_state_(ring: Any, n: int, y: Any, tracked: Any) -> None:
    """Record n starts with the state ``y`` accepted at the start of step n (also the right
    end of record n - 1)."""
    _put(ring, n, 0, y, tracked)
    if ring.shape[2] > 1:
        _put(ring, n - 1, 2, y, tracked)


@_jit
def store_derivative_(ring: Any, n: int, f: Any, tracked: Any, dt: float) -> None:
    """Record n's derivative: ``f`` of the first stage of step n (also the left-side slope of
    record n - 1 until :func:`store_left_`). At n = 0 also record -1, the Taylor line
    ``y0 - dt f0`` (reads inside the first step extrapolate it)."""
    _put(ring, n, 1, f, tracked)
    _put(ring, n - 1, 3, f, tracked)
    if n == 0:
        d = ring.shape[0] // 2
        for j in range(tracked.size):
            f0 = ring[0, j, 1]
            start = ring[0, j, 0] - dt * f0
            ring[d - 1, j, 0] = start
            ring[2 * d - 1, j, 0] = start
            ring[d - 1, j, 1] = f0
            ring[2 * d - 1, j, 1] = f0


@_jit
def store_left_(ring: Any, n: int, f: Any, tracked: Any) -> None:
    """The left-side derivative at t_n: ``f`` at t_n with the input row of step n - 1, the
    right-end slope of record n - 1 (after :func:`store_derivative_`)."""
    _put(ring, n - 1, 3, f, tracked)


#: ``mode`` of :func:`read_delayed_`: read the ring; keep the values already in ``values`` (the
#: first stage of a step after one whose last stage, at c = 1, read at the same times); nothing
#: (``delays="grid"``: later stages reuse the first stage's read, held over the step).
READ, CARRY, HOLD = 0, 1, 2


@_jit
def read_delayed_(
    values: Any,
    n: int,
    y: Any,
    ring: Any,
    order: Any,
    off: Any,
    weights: Any,
    s: Any,
    direct: bool,
    n_pre: int,
    pre: Any,
    zero: Any,
    pos: Any,
    mode: int,
) -> None:
    """The delayed values of one stage of step n into ``values``: cubic Hermite reads of the
    ring's records or their y0 (``direct``), the pre-history table ``pre[n]`` where the read
    time is before t0 (``s < -n``), and the stage state ``y`` for zero delays. The ring part
    goes in the order of the records in memory (``order[j]``: the connection read j-th at the
    offset ``off[j]`` with ``weights[j]``, the weights of y0, f0, y1, l1 in record order,
    :class:`rates_core.delay_reads.StagePlan`): ascending addresses the CPU prefetches, where
    connection order jumps across the ring. ``mode``: see :data:`READ` (a stage at c = 1 reads
    where the next step's first stage reads: the same interval with the same weights)."""
    if mode == HOLD:
        return
    if mode != CARRY or n == 0:
        _read_ring(values, n, ring, order, off, weights, direct)
        if n < n_pre:
            row = min(n, pre.shape[0] - 1)
            for k in range(values.size):
                if s[k] < -n:
                    values[k] = pre[row, k]
    for i in range(zero.size):
        values[zero[i]] = y[pos[zero[i]]]


@_jit
def _read_ring(
    values: Any, n: int, ring: Any, order: Any, off: Any, weights: Any, direct: bool
) -> None:
    """The history part of a read (see :func:`read_delayed_`)."""
    d = ring.shape[0] // 2
    flat = ring.reshape(-1)
    base = (n % d + 1) * ring.shape[1] * ring.shape[2]  # record n - D + 1 of the doubled ring
    if direct:
        for j in range(order.size):
            values[order[j]] = flat[base + off[j]]
        return
    for j in range(order.size):
        i = base + off[j]
        value = weights[j, 0] * flat[i] + weights[j, 1] * flat[i + 1]
        value += weights[j, 2] * flat[i + 2]
        values[order[j]] = value + weights[j, 3] * flat[i + 3]
