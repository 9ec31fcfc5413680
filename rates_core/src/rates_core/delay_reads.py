"""The delayed reads of a run as flat connections, and where fixed-step solvers read them.

Backend-neutral (NumPy only) planning shared by the backends whose solvers keep the history
of delayed reads themselves (rates-numpy, rates-torch; a third-party backend can use it too).
The design is in docs/plugin_guide.rst, "Integrate: solve"; what a backend adds is only its storage
and its arithmetic.

:class:`ConnectionLayout`
    All delayed reads of a System (``system.delayed``) flattened into C connections:
    connection k reads position ``pos[k]`` of the history vector (the states, then
    ``system.recorded``) at ``t - tau[k]``; ``tracked`` are the positions some connection
    reads, ``col[k]`` connection k's column among them.
:class:`StagePlan`
    For a fixed step ``dt`` and a stage at ``t_n + c dt``: the row (relative to step n) and
    the cubic Hermite weights each connection reads, fixed for the whole run.
:data:`DELAY_CONVENTIONS`, :func:`check_delays`, :func:`grid_steps`
    ``run(..., delays="exact" | "grid")``. Under ``"grid"`` (TVB's convention, fixed-step
    solvers only) every delay is rounded to ``k = round(tau / dt)`` whole steps and every
    stage of step n reads the stored row n - k (held over the step; ``k = 0`` reads ``y_n``):
    one direct ring read per step, no interpolation and no stored derivatives.
:func:`input_jumps`
    The steps at whose start an extrinsic input row changes. Fixed-step inputs hold row n on
    ``[t_n, t_n+1)`` (a zero-order hold), so there the derivative of the state jumps, and a
    history interpolating with derivatives needs both of its sides at ``t_n``: the right one,
    ``f(t_n, y_n)`` with row n (the first stage of step n, the slope at the left end of
    ``[t_n, t_n+1]``), and the left one, ``f(t_n, y_n)`` with row n - 1 and the same delayed
    values (the slope at the right end of ``[t_n-1, t_n]``, one more evaluation of the field at
    these steps only). A Hermite interpolant with the slope of the next interval at its right
    end is off by O(dt * jump) there, and rk4 drops to second order.
:func:`input_driven_slopes`
    Whether an extrinsic input enters the derivative of a variable read with a delay at all
    (from the equations, so code generators can use it): when none does, both sides agree and
    no step needs the second evaluation (Jansen-Rit's delayed reads of ``v``, whose
    derivative is ``x``, with the input in ``x'``).
:func:`breakpoints`
    Where the discontinuity of the initial history propagates (step ends for adaptive
    solvers).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from rates_core.errors import SolverError
from rates_core.system import System

__all__ = [
    "DELAY_CONVENTIONS",
    "GRID_CAPABILITY",
    "MAX_BREAKPOINTS",
    "SNAP",
    "ConnectionLayout",
    "RingPlans",
    "StagePlan",
    "breakpoints",
    "check_delays",
    "check_grid_support",
    "delay_values",
    "grid_steps",
    "hermite_weights",
    "input_driven_slopes",
    "input_jumps",
    "snap",
    "unique_sorted",
]

#: ``tau / dt`` (and stage positions) this close to an integer (relative) count as that integer.
SNAP = 1e-9
#: Propagated discontinuities of the initial history used as step ends, at most.
MAX_BREAKPOINTS = 1000
#: The values of ``run(..., delays=...)``: ``"exact"`` interpolates the history at ``t - tau``
#: (the default); ``"grid"`` rounds every delay to whole steps, TVB's convention.
DELAY_CONVENTIONS = ("exact", "grid")
#: The backend capability of solvers that implement ``delays="grid"``.
GRID_CAPABILITY = "grid_delays"


def check_delays(delays: Any, solver: str | None = None, adaptive: bool = False) -> None:
    """``delays`` is one of :data:`DELAY_CONVENTIONS`, and ``"grid"`` goes with a fixed-step
    ``solver`` (``adaptive`` says it is not): a :class:`SolverError` naming the option (and
    the solver) otherwise."""
    if not isinstance(delays, str) or delays not in DELAY_CONVENTIONS:
        allowed = ", ".join(map(repr, DELAY_CONVENTIONS))
        raise SolverError(f"delays must be one of {allowed}, got {delays!r}")
    if delays == "grid" and adaptive:
        raise SolverError(
            f"delays='grid' rounds delays to whole steps of a fixed-step solver; solver "
            f"{solver!r} is adaptive (use euler, heun or rk4, or delays='exact')"
        )


def check_grid_support(backend: str, capabilities: Iterable[str], solver: str) -> None:
    """A :class:`SolverError` unless ``backend`` (the owner of ``solver``, with these
    capabilities) implements ``delays="grid"`` (capability :data:`GRID_CAPABILITY`): a
    backend without it must not run the exact convention silently."""
    if GRID_CAPABILITY not in capabilities:
        raise SolverError(
            f"delays='grid': backend {backend!r} (solver {solver!r}) does not implement the "
            f"grid convention (capability {GRID_CAPABILITY!r}); use delays='exact' or a "
            "backend that has it (rates plugins lists capabilities)"
        )


def grid_steps(tau: np.ndarray, dt: float) -> np.ndarray:
    """``k = round(tau / dt)`` (half to even, as ``numpy.rint`` and TVB) as int64: the whole
    steps each delay is rounded to under ``delays="grid"``."""
    return np.rint(np.asarray(tau, dtype=np.float64) / float(dt)).astype(np.int64)


def delay_values(read: Any, value: Any) -> np.ndarray:
    """The delays of the delayed read ``read`` (a ``system.delayed`` entry) as a flat float64
    array; complex values with an imaginary part, non-finite or negative delays are errors."""
    arr = np.asarray(value)
    if np.iscomplexobj(arr):
        if np.any(arr.imag != 0):
            raise SolverError(f"delayed read {read.name!r}: the delay must be real, got {value!r}")
        arr = arr.real
    arr = arr.astype(np.float64).reshape(-1)
    if not np.all(np.isfinite(arr)):
        raise SolverError(f"delayed read {read.name!r}: the delay must be finite, got {value!r}")
    if np.any(arr < 0):
        raise SolverError(
            f"delayed read {read.name!r}: negative delay {float(arr.min())} (delay {read.tau!r})"
        )
    return arr


class ConnectionLayout:
    """The delayed reads of ``system`` with the runtime values ``params`` (of
    ``system.params``) as one vector of connections (see the module doc).

    ``as_array`` turns a parameter value into something ``numpy.asarray`` reads (a backend
    with its own array type passes its conversion); ``note`` is appended to the error of reads
    whose index or delay has the wrong size.

    Attributes: ``size`` (C), ``pos``, ``tau``, ``tracked``, ``col``, ``zero`` (connections
    with delay 0, which read the current state), ``bounds`` (per delayed read, the slice
    ``start, stop`` of its connections and whether the equations take its real part only),
    ``max_tau`` and ``min_tau`` (the smallest positive delay, ``inf`` without one).

    ``grid``: the run uses ``delays="grid"``, where a delay rounded to 0 reads the row of the
    step's start, never the stage state: ``zero`` is then empty.
    """

    def __init__(
        self,
        system: System,
        params: Sequence[Any],
        as_array: Callable[[Any], Any] = np.asarray,
        note: str = "",
        grid: bool = False,
    ) -> None:
        slot = {p.name: i for i, p in enumerate(system.params)}
        positions: list[np.ndarray] = []
        delays: list[np.ndarray] = []
        self.bounds: list[tuple[int, int, bool]] = []
        start = 0
        for d in system.delayed:
            st_start, st_size, st_dtype = system.history_slice(d.state)
            if d.index is None:
                idx = np.arange(st_size, dtype=np.int64)
            else:
                idx = np.asarray(as_array(params[slot[d.index]])).astype(np.int64).reshape(-1)
                if idx.size and (idx.min() < 0 or idx.max() >= st_size):
                    raise SolverError(
                        f"delayed read {d.name!r}: index {d.index!r} points outside "
                        f"{d.state!r} ({st_size} values)"
                    )
            raw = params[slot[d.tau]] if isinstance(d.tau, str) else d.tau
            tau = delay_values(d, as_array(raw))
            try:
                idx = np.broadcast_to(idx if idx.size != 1 else idx.reshape(()), (d.size,))
                tau = np.broadcast_to(tau if tau.size != 1 else tau.reshape(()), (d.size,))
            except ValueError:
                raise SolverError(
                    f"delayed read {d.name!r} has {d.size} values but its index has "
                    f"{idx.size} and its delay {tau.size}{note}"
                ) from None
            positions.append(st_start + idx)
            delays.append(tau)
            real = system.is_complex and not str(st_dtype).startswith("complex")
            self.bounds.append((start, start + d.size, real))
            start += d.size
        self.size = start
        self.pos = np.concatenate(positions) if positions else np.zeros(0, np.int64)
        self.tau = np.concatenate(delays) if delays else np.zeros(0)
        tracked, col = np.unique(self.pos, return_inverse=True)
        self.tracked = tracked
        self.col = col.reshape(-1).astype(np.int64)
        self.zero = np.zeros(0, np.int64) if grid else np.flatnonzero(self.tau == 0)
        self.max_tau = float(self.tau.max()) if self.size else 0.0
        positive = self.tau[self.tau > 0]
        self.min_tau = float(positive.min()) if positive.size else math.inf


# --------------------------------------------------------------------------- fixed step


def snap(x: np.ndarray) -> np.ndarray:
    """``x`` with values within ``SNAP`` (relative) of an integer set to that integer."""
    near = np.rint(x)
    return np.where(np.abs(x - near) <= SNAP * np.maximum(1.0, np.abs(x)), near, x)


def hermite_weights(theta: Any, dt: Any) -> tuple[Any, ...]:
    """Cubic Hermite weights on [0, 1] (theta > 1 extrapolates) of y0, y1, f0, f1 (the
    derivative weights include the interval length ``dt``); NumPy or tensor arguments."""
    t2 = theta * theta
    t3 = t2 * theta
    return (
        2.0 * t3 - 3.0 * t2 + 1.0,
        -2.0 * t3 + 3.0 * t2,
        dt * (t3 - 2.0 * t2 + theta),
        dt * (t3 - t2),
    )


class StagePlan:
    """Where every connection reads for a stage at ``t_n + c dt`` of a fixed-step solver.

    ``s`` is the read position relative to row n in steps; the read interpolates rows
    ``n + m`` and ``n + m + 1`` with :func:`hermite_weights` of ``theta`` (``weights``, or
    None when every read falls on a row: ``direct``). ``first`` marks the stage that computes
    ``f_n``: row n's derivative is not known during it, so reads beyond the last complete
    interval extrapolate it. Delay-0 connections read the current state (row ``last``).
    ``n_pre``: steps n with some read before t0 (n + s < 0) are those with n < n_pre.

    ``grid`` (``delays="grid"``): every stage reads row ``n - round(tau / dt)`` itself
    (``direct``, ``s = m = -k``), held over the step, whatever ``c`` and ``first`` are; a
    delay rounded to 0 reads row n (``y_n``).
    """

    def __init__(
        self, tau: np.ndarray, dt: float, c: float, first: bool, grid: bool = False
    ) -> None:
        if grid:
            self._held(tau, dt)
            return
        s = snap(c - snap(tau / dt))
        last = -1 if first else 0  # last row whose value and derivative are known
        m = np.floor(s)
        theta = s - m
        beyond = (m + 1 > last) & (theta > 0)
        m = np.where(beyond, last - 1, m)  # extrapolate the last complete interval
        theta = np.where(beyond, s - m, theta)
        zero = tau == 0
        m[zero] = last
        theta[zero] = 0.0
        self.s = s
        self.m = m.astype(np.int64)
        self.direct = bool(np.all(theta == 0))
        self.weights = None if self.direct else hermite_weights(theta, dt)
        pre = -s[s < 0]
        self.n_pre = int(math.ceil(pre.max())) if pre.size else 0

    def _held(self, tau: np.ndarray, dt: float) -> None:
        """The grid convention: row n - k for every stage, no weights."""
        k = grid_steps(tau, dt)
        self.m = -k
        self.s = self.m.astype(np.float64)
        self.direct = True
        self.weights = None
        self.n_pre = int(k.max()) if k.size else 0


class RingPlans:
    """The :class:`StagePlan` of every stage ``(c, first)`` of a fixed-step method, and what a
    ring history of them needs: ``rows``, the rows ``n - rows + 1 .. n`` it keeps (every read's
    interval, at least two back), and ``hermite``, whether some read interpolates (so rows
    keep derivatives)."""

    def __init__(
        self, tau: np.ndarray, dt: float, stages: Sequence[tuple[float, bool]], grid: bool = False
    ) -> None:
        self.plans = [StagePlan(tau, dt, c, first, grid) for c, first in stages]
        m_min = min((int(p.m.min()) for p in self.plans if p.m.size), default=0)
        self.rows = max(-m_min, 2) + 2
        self.hermite = not all(p.direct for p in self.plans)


def input_jumps(rows: Iterable[Any], n_steps: int) -> np.ndarray:
    """The steps n (``0 < n < n_steps``, sorted) at which a row of some extrinsic input differs
    from row n - 1: there a fixed-step history needs the left-side derivative too (see the
    module doc). ``rows``: one array per input, one row per step (``(n_rows, ...)``; an array
    of one row is a constant input); rows from ``n_steps`` on are not read."""
    jump = np.zeros(max(int(n_steps), 0), dtype=bool)
    for series in rows:
        arr = np.asarray(series)
        count = min(arr.shape[0] if arr.ndim else 1, jump.size)
        if count < 2:
            continue
        arr = arr[:count].reshape(count, -1)
        jump[1:count] |= np.any(arr[1:] != arr[:-1], axis=1)
    return np.flatnonzero(jump)


def input_driven_slopes(system: System) -> bool:
    """Whether the time derivative of some variable read with a delay (a state of
    ``system.delayed``, or a recorded variable through the states it is made of) depends on
    an extrinsic input, directly or through algebraic updates. Only then can a jump of an
    input row make a slope of the history jump (see :func:`input_jumps`)."""
    driven = {p.symbol for p in system.params if p.role == "input"}
    if not driven or not system.delayed:
        return False
    for update in system.algebraic:  # in dependency order
        if update.expr.free_symbols & driven:
            driven.add(update.symbol)
    moving = {name for name, expr in system.derivatives if expr.free_symbols & driven}
    recorded = {r.name: r for r in system.recorded}
    for read in system.delayed:
        rec = recorded.get(read.state)
        if rec is None:
            if read.state in moving:
                return True
        elif set(rec.rate_symbols) & moving or rec.rate.free_symbols & driven:
            return True
    return False


# --------------------------------------------------------------------------- adaptive


def unique_sorted(values: np.ndarray, tol: float) -> np.ndarray:
    """The sorted values with neighbours closer than ``tol`` merged (the first kept)."""
    values = np.sort(values)
    if values.size < 2:
        return values
    keep = np.concatenate(([True], np.diff(values) > tol))
    return values[keep]


def breakpoints(
    delays: np.ndarray,
    t0: float,
    t_end: float,
    levels: int = 5,
    cap: int = MAX_BREAKPOINTS,
) -> np.ndarray:
    """Where the discontinuity of the initial history at ``t0`` propagates: ``t0`` plus sums of
    up to ``levels`` delays, inside ``(t0, t_end)``, at most ``cap`` of them (the earliest
    level first; a level that does not fit is left out, level 1 is cut to the ``cap``
    earliest)."""
    span = float(t_end - t0)
    tol = 1e-12 * max(1.0, abs(t0), abs(t_end))
    d = np.asarray(delays, dtype=float)
    d = unique_sorted(d[d > 0], tol)
    d = d[d < span - tol]
    found = np.zeros(0)
    level = np.zeros(1)
    for k in range(levels):
        level = unique_sorted((level[:, None] + d[None, :]).reshape(-1), tol)
        level = level[level < span - tol]
        if level.size == 0:
            break
        merged = unique_sorted(np.concatenate([found, level]), tol)
        if merged.size > cap:
            if k == 0:
                found = merged[:cap]
            break
        found = merged
    return t0 + found
