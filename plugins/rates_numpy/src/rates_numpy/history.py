"""The history of delayed reads, kept by the solvers (never inside the vector field).

ARCHITECTURE.md, "Solvers and time": history is appended once per accepted step and read at
``t - tau`` by interpolation, so every solver stays correct, and pre-history is the same under
every solver.

Connections
    All delayed reads of a System (``system.delayed``, in that order) flattened into one vector
    of C *connections* (:class:`rates_core.delay_reads.ConnectionLayout`, shared with the other
    backends): connection k reads state-vector position ``pos[k]`` at ``t - tau[k]``.
    For a :class:`~rates_core.system.DelayedRead` ``d`` the positions are ``start + idx`` of the
    state slice ``system.state(d.state)`` (``idx`` the index parameter's array, or the whole
    slice) and the delays the delay parameter's value (scalar or one per value) or the float,
    broadcast to ``d.size`` values. Only the columns some connection reads (``tracked``) are
    stored. Every read is a handful of whole-array NumPy operations over all C connections (one
    fancy index per stored row, no Python loop over connections).

Recorded variables
    Algebraic variables read with a delay that are elementwise functions of their population's
    states (``system.recorded``) are kept in the history too: the history stores the vector
    ``z = (y, recorded values)`` and ``(f, their time derivatives)``, computed once per step by
    the generated ``record_`` function (:class:`HistoryVector`), so a delayed ``sin(theta)`` costs
    one sine per unit and step, not one per connection.

Pre-history
    A read at a time ``r < t0`` is ``Problem.history(r)`` (a callable returning the full state
    vector, called once per distinct read time) or, without one, the initial state ``y0``. A
    read at ``r >= t0`` comes from the computed trajectory (at ``t0`` that is ``y0``). A delay of
    exactly 0 reads the current (stage) state. These rules are the same for every solver.

:class:`RingHistory` (fixed step: euler, heun, rk4)
    A ring of the last ``D = ceil(max_delay / dt) + 2`` (or 3) rows ``(y, f)`` at the step
    points ``t0 + n dt`` - memory bounded by the largest delay, not by the run length. Row n
    holds the accepted state ``y_n`` (written when step n starts) and ``f_n``, the derivative at
    that point (the step's first stage, written right after it). The ring is stored twice
    (rows ``j`` and ``j + D``) so the rows ``n - D + 1 .. n`` are one contiguous view, from
    which a read takes with offsets fixed for the run: no index arithmetic per connection and
    step. With Hermite reads the rows are stored as interval records ``(y_j, f_j, y_j+1,
    l_j+1)`` (``l`` the left-side slope, below), so a read is one ``numpy.take`` of 32-byte
    records - one cache line per connection - and four multiply-adds.

    A read at stage time ``t_n + c dt`` (``c`` = 0, 1/2, 1) sits at the fixed relative position
    ``s = c - tau/dt`` (``tau/dt`` within 1e-9 of an integer counts as that integer), so the row
    offsets and interpolation weights of every connection are computed once per stage before
    the loop (:class:`rates_core.delay_reads.StagePlan`). Values are cubic Hermite interpolants
    of the stored values and derivatives of the interval holding the read time (error O(dt^4),
    so heun and rk4 keep their order). When all reads of a stage fall on stored rows (delays
    that are whole multiples of dt: every stage of euler and heun) the read is a direct ring
    read, one ``take`` per step, and no derivatives are stored when no stage needs them. The
    stage at ``c = 1`` (heun's second, rk4's last) reads where the next step's first stage
    reads, so its values are carried over: heun reads the history once per step, rk4 twice.

    Extrinsic inputs hold row n on ``[t_n, t_n+1)``: where a row changes
    (:func:`rates_core.delay_reads.input_jumps`) the derivative jumps at ``t_n``, and the
    interval ending there takes its right-end slope from a second ring ``L`` of left-side
    derivatives ``f(t_n, y_n)`` with row n - 1 (:meth:`RingHistory.set_left`, one more
    evaluation of the field at those steps only; elsewhere ``L`` repeats ``f_n``, and without
    such steps or without Hermite reads ``L`` is ``F`` itself).

    Reads inside the step being computed (``tau`` shorter than the stage offset, or shorter
    than dt at the first stage, where ``f_n`` is not known yet): the cubic Hermite polynomial of
    the last complete interval, extrapolated (error O(dt^4) as well, with a larger constant); in
    the first step, where there is no complete interval yet, the first-order Taylor polynomial
    ``y0 + (r - t0) f0``. Orders are kept for delays of at least dt.

:class:`SegmentHistory` (``scipy``: method of steps)
    The dense outputs of the segments integrated so far (segments never longer than the
    smallest positive delay, so every read falls into a finished segment or the pre-history),
    kept as one list of per-step pieces. A read evaluates the pieces once per *distinct* delay
    (``numpy.unique`` of the delays, fixed for a run) and gathers all connections from that
    small table; segments that end before ``t - max_delay`` are dropped.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from rates_core.backend import call_history
from rates_core.builtins import TIME
from rates_core.delay_reads import (
    MAX_BREAKPOINTS,
    ConnectionLayout,
    RingPlans,
    StagePlan,
    breakpoints,
    unique_sorted,
)
from rates_core.errors import SolverError
from rates_core.system import System

__all__ = [
    "MAX_BREAKPOINTS",
    "MAX_SEGMENTS",
    "Connections",
    "HistoryVector",
    "PreHistory",
    "RingHistory",
    "SegmentHistory",
    "breakpoints",
    "segment_ends",
]

#: Levels of propagation (t0 + sums of up to this many delays): a jump in the k-th derivative
#: costs a method of order p > k accuracy, so levels follow the method's order.
BREAKPOINT_LEVELS = {"RK23": 3, "RK45": 5, "DOP853": 8}
#: Levels for the other methods (Radau, BDF, LSODA).
DEFAULT_BREAKPOINT_LEVELS = 5
#: Values in the table of delayed states a ``scipy`` read fills at once (see SegmentHistory).
TABLE_BUDGET = 1 << 22
#: More segments than this is an error (delays far shorter than the run; use a fixed step).
MAX_SEGMENTS = 1_000_000


class HistoryVector:
    """The vector a history stores: the state ``y`` followed by ``system.recorded`` values.

    ``values(t, y)`` is ``y`` itself when nothing is recorded, else a buffer ``(y, r)`` reused
    by the next call; ``rates(t, y, f)`` the matching ``(f, d r / d t)``. ``args`` are the
    vector field's parameter arguments (recorded variables read constants only).
    """

    def __init__(self, function: Any, args: Sequence[Any], dtype: Any) -> None:
        system = function.system
        self.n_states = system.n_states
        self.record = function.extras.get("record") if system.recorded else None
        if system.recorded and self.record is None:
            raise SolverError(
                f"backend {function.backend!r} gave no record_ function for the recorded "
                f"variables {[r.name for r in system.recorded]}"
            )
        self.args = args
        #: some recorded value depends on t itself: its pre-history changes with the read time
        self.time_dependent = any(TIME in r.expr.free_symbols for r in system.recorded)
        n, r = self.n_states, system.n_recorded
        self.size = n + r
        self._z = np.zeros(n + r, dtype=dtype)
        self._f = np.zeros(n + r, dtype=dtype)
        self._out = np.zeros(2 * r, dtype=dtype)

    def values(self, t: float, y: np.ndarray) -> np.ndarray:
        if self.record is None:
            return y
        n, z = self.n_states, self._z
        z[:n] = y
        self.record(t, y, None, self._out, *self.args)
        z[n:] = self._out[: z.size - n]
        return z

    def rates(self, t: float, y: np.ndarray, f: np.ndarray) -> np.ndarray:
        if self.record is None:
            return f
        n, fz = self.n_states, self._f
        fz[:n] = f
        self.record(t, y, f, self._out, *self.args)
        fz[n:] = self._out[fz.size - n :]
        return fz

    def tracked_rows(self, times: np.ndarray, states: np.ndarray, tracked: np.ndarray) -> Any:
        """``(len(times), tracked)``: the tracked columns of ``(y, r)`` for state rows."""
        if self.record is None:
            return states[:, tracked]
        return np.stack([self.values(t, y)[tracked] for t, y in zip(times.tolist(), states)])


class Connections:
    """All delayed reads of ``system`` as one vector of connections (see the module doc).

    ``params`` are the runtime values of ``system.params`` (delays and indices are read from
    them, so a parameter sweep over delays needs no new code). ``values`` is the buffer every
    read writes; :meth:`arguments` hands it to the vector field, one argument per delayed read:
    plain Python numbers in ``scalar`` mode (every read then has one value), else NumPy views
    of the buffer (0-d for reads of one value) that stay valid for the whole run.
    """

    def __init__(
        self, system: System, params: Sequence[Any], dtype: Any, scalar: bool, grid: bool = False
    ) -> None:
        layout = ConnectionLayout(system, params, grid=grid)
        self.size, self.pos, self.tau = layout.size, layout.pos, layout.tau
        #: state-vector positions some connection reads, and each connection's column there
        self.tracked, self.col = layout.tracked, layout.col
        zero = layout.zero
        #: connections with delay 0 (they read the current state), or None
        self.zero: np.ndarray | None = zero if zero.size else None
        self.zero_pos = self.pos[zero] if zero.size else None
        self.max_tau, self.min_tau = layout.max_tau, layout.min_tau
        bounds = layout.bounds
        self.dtype = np.dtype(dtype)
        self.values = np.zeros(self.size, dtype=self.dtype)
        self.scalar = scalar
        self._real = [i for i, (_, _, real) in enumerate(bounds) if real]
        self._views: list[Any] = []
        for a, b, real in bounds:
            base = self.values.real if real else self.values
            view = base[a:b]
            self._views.append(view.reshape(()) if b - a == 1 else view)

    def arguments(self) -> list[Any]:
        """The delayed-read arguments of the vector field, from the current ``values``."""
        if not self.scalar:
            return self._views
        out = self.values.tolist()
        for i in self._real:
            out[i] = out[i].real
        return out

    def set_zero(self, y: np.ndarray) -> None:
        """Connections with delay 0 read the current history vector ``y`` (state and recorded
        values, :class:`HistoryVector`)."""
        if self.zero is not None:
            self.values[self.zero] = y[self.zero_pos]


class PreHistory:
    """Values at read times before ``t0``: ``history(r)`` or the initial state ``y0``."""

    def __init__(
        self,
        history: Callable[[float], Any] | None,
        y0: np.ndarray,
        conns: Connections,
        vector: HistoryVector,
        t0: float,
    ) -> None:
        if history is None and vector.time_dependent:
            constant = np.array(y0)
            history = lambda t: constant  # noqa: E731 (the initial state at every earlier time)
        self.history = history
        self.conns = conns
        self.vector = vector
        self.n_states = y0.size
        z0 = np.array(vector.values(t0, np.asarray(y0)))
        self.y0_tracked = z0[conns.tracked].astype(conns.dtype)
        self.y0_conn = z0[conns.pos].astype(conns.dtype)
        self.calls = 0

    def rows(self, times: np.ndarray) -> np.ndarray:
        """``(len(times), n_tracked)``: the tracked columns at each time (all before t0)."""
        if self.history is None:
            return np.broadcast_to(self.y0_tracked, (len(times), self.y0_tracked.size))
        out = np.empty((len(times), self.y0_tracked.size), dtype=self.conns.dtype)
        for i, t in enumerate(times.tolist()):
            out[i] = self.vector.values(t, self._state(t))[self.conns.tracked]
        return out

    def _state(self, t: float) -> np.ndarray:
        self.calls += 1
        return np.asarray(call_history(self.history, t, self.n_states)).reshape(-1)

    def fill(self, out: np.ndarray, sel: np.ndarray, times: np.ndarray | None) -> None:
        """``out[sel]`` = the pre-history of connections ``sel`` at their read ``times``
        (None without a history function: the initial state, whatever the time)."""
        if self.history is None or times is None:
            out[sel] = self.y0_conn[sel]
            return
        unique, inverse = np.unique(times, return_inverse=True)
        rows = self.rows(unique)
        out[sel] = rows[inverse.reshape(-1), self.conns.col[sel]]


# --------------------------------------------------------------------------- fixed step


class RingHistory:
    """Fixed-step history: a ring of rows ``(y_n, f_n)``, see the module doc.

    ``stages``: ``(c, first)`` per distinct stage time ``t_n + c dt`` a solver reads at
    (``first``: the stage that computes ``f_n``); ``jumps``: the steps whose input row
    changes (:func:`~rates_core.delay_reads.input_jumps`). Per step: :meth:`begin_step` (row
    n's state), :meth:`read` for the first stage, :meth:`end_first_stage` (row n's
    derivative), for a step in ``left_steps`` :meth:`set_left` (the derivative with the
    previous input row, same state and delayed values), then :meth:`read` for the later
    stages. ``grid`` (``delays="grid"``): every stage reads row ``n - round(tau / dt)``, so
    the first stage's read serves the whole step and no derivatives are stored.

    Storage: without Hermite reads a ring ``Y`` of the tracked columns (one ``take`` per
    read). With them, *interval records* ``R[j, col] = (y_j, f_j, y_j+1, l_j+1)`` (``l`` the
    left-side derivative), so the four operands of a connection's cubic Hermite read are 32
    contiguous bytes and one ``take`` of records per read gathers them all: one cache line per
    connection where four separate rings cost four. Writing a row fills two half records.

    Carry: the stage at ``c = 1`` (heun's second, rk4's last) reads at ``t_n+1 - tau``, where
    the next step's first stage reads, from the same interval with the same weights (what is
    known then is the same: rows up to n), so that stage's values are kept and the next step's
    first stage copies them instead of reading again (zero delays are refreshed from the new
    state as in every read). Heun then reads the history once per step (not under ``grid``,
    whose later stages reuse the first stage's read).
    """

    def __init__(
        self,
        conns: Connections,
        pre: PreHistory,
        t0: float,
        dt: float,
        stages: Sequence[tuple[float, bool]],
        jumps: Iterable[int] = (),
        grid: bool = False,
    ) -> None:
        self.conns, self.pre, self.t0, self.dt = conns, pre, float(t0), float(dt)
        self.vector = pre.vector
        self.grid = grid
        self.stages = [c for c, _ in stages]
        ring = RingPlans(conns.tau, dt, stages, grid)
        self.plans = ring.plans
        self.D = D = ring.rows  # rows n - D + 1 .. n are kept
        self.ncols = ncols = conns.tracked.size
        self.hermite = ring.hermite
        #: steps that need the left-side derivative (only Hermite reads use derivatives)
        self.left_steps = frozenset(int(k) for k in jumps) if self.hermite else frozenset()
        dtype = conns.dtype
        # the doubled ring (rows j and j + D equal): rows n - D + 1 .. n are one contiguous
        # view from row n % D + 1, read with offsets fixed for the run (m >= 1 - D)
        offsets = [(p.m + D - 1) * ncols + conns.col for p in self.plans]
        self.Y: np.ndarray | None = None
        self.R: np.ndarray | None = None
        if self.hermite:
            self.R = np.zeros((2 * D, ncols, 4), dtype=dtype)
            self.flat = self.R.reshape(-1)
            self.gathered = np.empty((conns.size, 4), dtype=dtype)
            # Hermite stages take whole records; direct stages the y_j of each record
            self.offsets = [o if p.weights else 4 * o for o, p in zip(offsets, self.plans)]
            self.weights = [_record_weights(p.weights) for p in self.plans]
        else:
            self.Y = np.zeros((2 * D, ncols), dtype=dtype)
            self.flat = self.Y.reshape(-1)
            self.offsets = offsets
            self.weights = [None] * len(self.plans)
        self.row = np.empty(ncols, dtype=dtype)
        #: per stage, the connections by read position and those positions (pre-history)
        self.pre_order = [_by_position(p) for p in self.plans]
        carry = [i for i, c in enumerate(self.stages) if i and c == 1.0 and not grid]
        self.carry = carry[0] if carry else None
        self.carried = np.empty(conns.size, dtype=dtype) if carry else None

    @property
    def rows(self) -> int:
        return self.D

    def _put(self, n: int, slot: int, values: np.ndarray) -> None:
        """Write ``values`` (tracked columns) into slot ``slot`` of record n % D (both copies)."""
        assert self.R is not None
        r = n % self.D
        self.R[r, :, slot] = values
        self.R[r + self.D, :, slot] = values

    def begin_step(self, n: int, y: np.ndarray) -> None:
        """Store ``y_n`` (the accepted state at the start of step n) in row n."""
        z = self.vector.values(self.t0 + n * self.dt, y)
        row = self.row
        np.take(z, self.conns.tracked, out=row)
        if self.Y is not None:
            r = n % self.D
            self.Y[r] = row
            self.Y[r + self.D] = row
            return
        self._put(n, 0, row)  # the left end of interval n
        self._put(n - 1, 2, row)  # the right end of interval n - 1

    def end_first_stage(self, n: int, y: np.ndarray, f: np.ndarray) -> None:
        """Store ``f_n`` (the first stage's derivative at the state ``y = y_n``) in row n."""
        if self.R is None:
            return
        row = self.row
        fz = self.vector.rates(self.t0 + n * self.dt, y, f)
        np.take(fz, self.conns.tracked, out=row)
        self._put(n, 1, row)
        self._put(n - 1, 3, row)  # no jump at t_n: the left-side slope is f_n too
        if n == 0:  # row -1: the Taylor line y0 + (t - t0) f0 for reads inside the first step
            y0 = self.R[0, :, 0]
            start = np.multiply(row, -self.dt)
            start += y0
            self._put(-1, 0, start)
            self._put(-1, 1, row)

    def set_left(self, n: int, y: np.ndarray, f: np.ndarray) -> None:
        """Store the left-side derivative at ``t_n`` (``f`` with input row n - 1 at ``y = y_n``),
        the right-end slope of the interval ending at ``t_n``; after :meth:`end_first_stage`."""
        assert self.R is not None  # left_steps is empty without Hermite reads
        fz = self.vector.rates(self.t0 + n * self.dt, y, f)
        np.take(fz, self.conns.tracked, out=self.row)
        self._put(n - 1, 3, self.row)

    def read(self, stage: int, n: int, y: np.ndarray) -> np.ndarray:
        """Delayed values at stage ``stage`` of step n (``y``: the stage state) into
        ``conns.values`` (returned)."""
        vals = self.conns.values
        if self.grid and stage:
            return vals  # held over the step: the first stage's read
        if stage == 0 and n > 0 and self.carried is not None:
            np.copyto(vals, self.carried)  # the previous step's read at c = 1: same times
        else:
            self._gather(stage, n, vals)
            if n < self.plans[stage].n_pre:
                self._fill_pre(stage, n, vals)
            if stage == self.carry:
                assert self.carried is not None
                np.copyto(self.carried, vals)
        self.set_zero(stage, n, y)
        return vals

    def _fill_pre(self, stage: int, n: int, vals: np.ndarray) -> None:
        """The reads of step n before t0 (``s < -n``: a prefix of the stage's connections
        sorted by ``s``) from the pre-history."""
        p = self.plans[stage]
        order, s_sorted = self.pre_order[stage]
        sel = order[: np.searchsorted(s_sorted, -n, side="left")]
        times = None if self.pre.history is None else self.t0 + (n + p.s[sel]) * self.dt
        self.pre.fill(vals, sel, times)

    def _gather(self, stage: int, n: int, vals: np.ndarray) -> None:
        """The history part of a read: one ``take`` (see the class doc)."""
        idx, w = self.offsets[stage], self.weights[stage]
        start = (n % self.D + 1) * self.ncols  # row n - D + 1 of the doubled ring
        if self.R is None:
            np.take(self.flat[start:], idx, out=vals, mode="clip")
        elif w is None:  # every read of this stage falls on a row: the y of its record
            np.take(self.flat[4 * start :], idx, out=vals, mode="clip")
        else:
            g = self.gathered
            records = self.flat[4 * start :].reshape(-1, 4)
            np.take(records, idx, axis=0, out=g, mode="clip")
            g *= w
            # ((a0 y0 + b0 f0) + a1 y1) + b1 l1, the order of the four-ring version
            np.add(g[:, 0], g[:, 1], out=vals)
            vals += g[:, 2]
            vals += g[:, 3]

    def set_zero(self, stage: int, n: int, y: np.ndarray) -> None:
        """Refresh the zero-delay connections from the stage state ``y`` of stage ``stage``."""
        if self.conns.zero is not None:
            t = self.t0 + (n + self.stages[stage]) * self.dt
            self.conns.set_zero(self.vector.values(t, y))


def _by_position(plan: StagePlan) -> tuple[np.ndarray, np.ndarray]:
    """The connections sorted by read position ``plan.s``, and the sorted positions."""
    order = np.argsort(plan.s, kind="stable")
    return order, plan.s[order]


def _record_weights(weights: tuple[np.ndarray, ...] | None) -> np.ndarray | None:
    """Hermite weights ``(a0, a1, b0, b1)`` as ``(C, 4)`` in record order ``(y0, f0, y1, l1)``."""
    if weights is None:
        return None
    a0, a1, b0, b1 = weights
    return np.column_stack([a0, b0, a1, b1])


# --------------------------------------------------------------------------- adaptive


def segment_ends(t0: float, t_end: float, marks: np.ndarray, max_length: float) -> np.ndarray:
    """Ends of the segments covering ``[t0, t_end]``: every mark, ``t_end``, and gaps cut into
    equal pieces no longer than ``max_length`` (relative slack 1e-9)."""
    tol = 1e-12 * max(1.0, abs(t0), abs(t_end))
    marks = np.asarray(marks, dtype=float)
    knots = unique_sorted(np.concatenate([[t0], marks[(marks > t0 + tol)], [t_end]]), tol)
    knots[-1] = t_end
    if knots.size >= 2 and knots[-1] - knots[-2] <= tol:
        knots = np.delete(knots, -2)
    if not math.isfinite(max_length):
        return knots[1:]
    gaps = np.diff(knots)
    pieces = np.maximum(np.ceil(gaps / max_length - 1e-9), 1).astype(np.int64)
    total = int(pieces.sum())
    if total > MAX_SEGMENTS:
        raise SolverError(
            f"solver 'scipy': the shortest delay ({max_length:g}) would cut the run into "
            f"{total} segments (more than {MAX_SEGMENTS}); use a fixed-step solver, or "
            "delay_approximation"
        )
    ends: list[float] = []
    for a, b, k in zip(knots[:-1].tolist(), knots[1:].tolist(), pieces.tolist()):
        ends.extend(a + (b - a) * j / k for j in range(1, k))
        ends.append(b)
    return np.asarray(ends)


class _Chunk:
    """Connections whose delays are the distinct delays ``u0 .. u1 - 1``."""

    def __init__(self, u0: int, u1: int, conn: np.ndarray | None, flat: np.ndarray) -> None:
        self.u0, self.u1, self.conn, self.flat = u0, u1, conn, flat


class SegmentHistory:
    """Adaptive history: dense outputs of finished segments (see the module doc).

    A read evaluates the dense outputs once per distinct positive delay into a table
    ``(distinct delays, tracked columns)`` and gathers every connection from it. The table is
    cut into chunks of distinct delays so that it stays near :data:`TABLE_BUDGET` values (and
    not ``distinct delays x states``, 8 GB for a million distinct delays among 1000 units); the
    work per read still grows with distinct delays x tracked states.
    """

    def __init__(self, conns: Connections, pre: PreHistory, t0: float) -> None:
        self.conns, self.pre, self.t0 = conns, pre, float(t0)
        positive = np.flatnonzero(conns.tau > 0)
        self.delays, inverse = np.unique(conns.tau[positive], return_inverse=True)
        inverse = inverse.reshape(-1).astype(np.int64)
        ncols = max(conns.tracked.size, 1)
        per_chunk = max(1, min(self.delays.size, max(TABLE_BUDGET, positive.size) // ncols))
        self.table = np.zeros((per_chunk, conns.tracked.size), dtype=conns.dtype)
        self.chunks: list[_Chunk] = []
        if per_chunk >= self.delays.size:
            conn = None if positive.size == conns.size else positive
            self.chunks.append(
                _Chunk(0, self.delays.size, conn, inverse * ncols + conns.col[positive])
            )
        else:
            order = np.argsort(inverse, kind="stable")
            sorted_inverse = inverse[order]
            for u0 in range(0, self.delays.size, per_chunk):
                u1 = min(u0 + per_chunk, self.delays.size)
                lo, hi = np.searchsorted(sorted_inverse, [u0, u1])
                conn = positive[order[lo:hi]]
                flat = (sorted_inverse[lo:hi] - u0) * ncols + conns.col[conn]
                self.chunks.append(_Chunk(u0, u1, conn, flat))
        self.ends: list[float] = []  # segment ends
        self.steps: list[int] = []  # dense-output pieces per segment
        self.pieces: list[Any] = []  # dense-output pieces (one per solver step) of all segments
        self._piece_ends = np.zeros(0)
        self.max_segments_kept = 0

    @property
    def n_segments(self) -> int:
        return len(self.ends)

    def add(self, a: float, b: float, sol: Any) -> None:
        """A finished segment ``[a, b]`` and its dense output ``sol(t) -> state(s)``.

        The pieces of an :class:`scipy.integrate.OdeSolution` (its ``interpolants``, one per
        solver step, ending at ``ts[1:]``) are kept in one list over all segments, so a read
        finds the piece of every read time with one ``searchsorted`` and calls only those.
        """
        ts = getattr(sol, "ts", None)
        pieces = getattr(sol, "interpolants", None)
        if ts is None or pieces is None or len(pieces) != len(ts) - 1 or ts[-1] < ts[0]:
            ends, pieces = np.array([b]), [sol]
        else:
            ends, pieces = np.asarray(ts[1:], dtype=float), list(pieces)
        self.ends.append(b)
        self.steps.append(len(pieces))
        self.pieces.extend(pieces)
        self._piece_ends = np.concatenate([self._piece_ends, ends])
        self.max_segments_kept = max(self.max_segments_kept, len(self.ends))

    def drop_before(self, t: float) -> None:
        """Forget segments that end before ``t`` (no read can reach them any more)."""
        k = 0
        while k < len(self.ends) - 1 and self.ends[k] < t:
            k += 1
        if k:
            n = sum(self.steps[:k])
            del self.ends[:k], self.steps[:k], self.pieces[:n]
            self._piece_ends = self._piece_ends[n:].copy()

    def _fill(self, table: np.ndarray, times: np.ndarray) -> None:
        """``table[i]`` = the tracked columns of the state at ``times[i]``."""
        before = times < self.t0
        if before.any():
            table[before] = self.pre.rows(times[before])
        if not self.pieces:  # first segment: reads reach t0 at most, where y = y0
            table[~before] = self.pre.y0_tracked
        elif not before.all():
            later = np.flatnonzero(~before)
            piece = np.searchsorted(self._piece_ends, times[later], side="left")
            np.minimum(piece, len(self.pieces) - 1, out=piece)
            tracked = self.conns.tracked
            vector = self.pre.vector
            if later.size == 1:
                k = int(piece[0])
                t = times[later[0]]
                table[later[0]] = vector.values(t, self.pieces[k](t))[tracked]
                return
            order = np.argsort(piece, kind="stable")
            piece, later = piece[order], later[order]
            cuts = np.flatnonzero(np.diff(piece)) + 1
            for lo, hi in zip([0, *cuts.tolist()], [*cuts.tolist(), piece.size]):
                rows = later[lo:hi]
                states = self.pieces[int(piece[lo])](times[rows]).T
                table[rows] = vector.tracked_rows(times[rows], states, tracked)

    def read(self, t: float, y: np.ndarray) -> np.ndarray:
        """Delayed values at time ``t`` (``y``: the state there) into ``conns.values``."""
        conns = self.conns
        values = conns.values
        for chunk in self.chunks:
            table = self.table[: chunk.u1 - chunk.u0]
            self._fill(table, t - self.delays[chunk.u0 : chunk.u1])
            if chunk.conn is None:
                np.take(table.reshape(-1), chunk.flat, out=values)
            else:
                values[chunk.conn] = table.reshape(-1)[chunk.flat]
        if conns.zero is not None:
            conns.set_zero(self.pre.vector.values(t, y))
        return values
