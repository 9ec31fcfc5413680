"""The history of delayed reads in tensors, kept by the solvers (never by the vector field).

The same design as rates-numpy's ``history`` module (ARCHITECTURE.md, "Solvers and time"):
history is appended once per accepted step and read at ``t - tau`` by cubic Hermite
interpolation of stored states and derivatives, pre-history is ``Problem.history`` or the
initial state, and a delay of exactly 0 reads the current stage state.

:class:`HistoryVector`
    What the history stores: the state ``y`` followed by the delayed algebraic variables of
    ``system.recorded`` (``dde_algebraic``), ``z = (y, r)``, and its derivative ``(f, dr/dt)``,
    both from the generated ``record_`` once per step (connections index ``z``).

:class:`Connections`
    All delayed reads (``system.delayed``) flattened into C connections
    (:class:`rates_core.delay_reads.ConnectionLayout`, shared with rates-numpy): connection k reads
    state position ``pos[k]`` at ``t - tau[k]``; only the read columns (``tracked``) are stored.
    Values carry the batch axes of the state (``(..., C)``).
:class:`RingHistory` (fixed step)
    A ring of the last D rows ``(y_n, f_n)`` at the grid points, stored twice so a read is one
    gather with precomputed offsets; read positions and Hermite weights of every connection
    are fixed per stage (``c - tau/dt`` steps from row n) and computed once before the loop
    (:class:`rates_core.delay_reads.StagePlan`). Where an input row changes at step n
    (:func:`rates_core.delay_reads.input_jumps`) the interval ending at ``t_n`` takes its
    right-end slope from a second ring of left-side derivatives (the field with row n - 1),
    as in rates-numpy.
:class:`StepHistory` (``torch_dopri5``)
    Every accepted step's ``(t, y, f)`` in growing buffers (rows older than ``t - max_tau``
    are dropped when the buffer grows); a read finds each connection's interval with
    ``torch.searchsorted``. The solver keeps steps no longer than the smallest positive delay,
    so every read falls into finished steps or the pre-history.

Writes into the ring are in-place copies into fresh slices, reads are gathers (which keep
only their indices for the backward pass), so gradients flow through the history.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from rates_core.backend import call_history
from rates_core.builtins import TIME
from rates_core.delay_reads import (
    MAX_BREAKPOINTS,
    ConnectionLayout,
    RingPlans,
    hermite_weights,
)
from rates_core.delay_reads import breakpoints as _breakpoints
from rates_core.errors import SolverError
from rates_core.system import System

__all__ = [
    "Connections",
    "HistoryVector",
    "PreHistory",
    "RingHistory",
    "StepHistory",
    "breakpoints",
]


def _numpy(value: Any) -> Any:
    """A parameter value as NumPy reads it (tensors are detached and moved to the CPU)."""
    return value.detach().cpu().numpy() if hasattr(value, "detach") else value


class HistoryVector:
    """The vector a history stores: the state ``y`` followed by the ``system.recorded`` values
    (``z = (y, r)``), and its time derivative ``(f, d r / d t)``, as rates-numpy's
    ``HistoryVector``. The recorded values come from the generated ``record_`` function (new
    tensors, so gradients flow); ``args`` are the parameter tensors of the run (recorded
    variables read constants only, never inputs)."""

    def __init__(self, function: Any, args: Sequence[Any], real: Any) -> None:
        system = function.system
        self.record = function.extras.get("record") if system.recorded else None
        if system.recorded and self.record is None:
            raise SolverError(
                f"backend {function.backend!r} gave no record_ function for the recorded "
                f"variables {[r.name for r in system.recorded]}"
            )
        self.args = list(args)
        self.real = real
        #: some recorded value depends on t itself: its pre-history changes with the read time
        self.time_dependent = any(TIME in r.expr.free_symbols for r in system.recorded)

    def _time(self, t: Any, like: Any) -> Any:
        import torch

        return torch.as_tensor(t, dtype=self.real, device=like.device)

    def values(self, t: Any, y: Any) -> Any:
        """``z = (y, r)`` at time ``t`` (``y`` itself when nothing is recorded)."""
        if self.record is None:
            return y
        import torch

        rec = self.record(self._time(t, y), y, None, *self.args)
        return torch.cat([y.expand(*rec.shape[:-1], y.shape[-1]), rec], dim=-1)

    def rates(self, t: Any, y: Any, f: Any) -> Any:
        """``(f, d r / d t)`` at time ``t`` (``f`` itself when nothing is recorded)."""
        if self.record is None:
            return f
        import torch

        rec = self.record(self._time(t, y), y, f, *self.args)
        return torch.cat([f.expand(*rec.shape[:-1], f.shape[-1]), rec], dim=-1)


class Connections:
    """All delayed reads of ``system`` as one vector of connections (see the module doc).

    ``params`` are the raw values of ``system.params`` (delays and indices are read from them;
    delays must be the same for every parameter set of a batch). Positions are in the history
    vector ``z`` of ``vector`` (the states, then the recorded variables).
    """

    def __init__(
        self,
        system: System,
        params: Sequence[Any],
        dtype: Any,
        device: Any,
        vector: HistoryVector | None = None,
        grid: bool = False,
    ) -> None:
        import torch

        self.vector = vector
        layout = ConnectionLayout(
            system, params, as_array=_numpy, note=" (delays cannot vary over a batch)", grid=grid
        )
        self.size = layout.size
        pos, zero = layout.pos, layout.zero
        self.pos_np, self.tau_np = pos, layout.tau
        self.tracked_np, self.col_np = layout.tracked, layout.col
        self.max_tau, self.min_tau = layout.max_tau, layout.min_tau
        self.bounds = layout.bounds
        self.dtype = dtype
        self.device = device
        as_index = dict(dtype=torch.int64, device=device)
        self.tracked = torch.as_tensor(layout.tracked, **as_index)
        self.col = torch.as_tensor(self.col_np, **as_index)
        self.tau = torch.as_tensor(self.tau_np, dtype=torch.float64, device=device)
        self.zero = torch.as_tensor(zero, **as_index) if zero.size else None
        self.zero_pos = torch.as_tensor(pos[zero], **as_index) if zero.size else None
        self.pos = torch.as_tensor(pos, **as_index)

    def split(self, values: Any) -> list[Any]:
        """The delayed-read arguments of the equations from the connection values."""
        out = []
        for a, b, real in self.bounds:
            v = values[..., a:b]
            out.append(v.real if real else v)
        return out

    def with_zero(self, values: Any, y: Any, t: float) -> Any:
        """Connections with delay 0 read the current (stage) state ``y`` at time ``t``, and the
        recorded values there."""
        if self.zero is None:
            return values
        z = self.vector.values(t, y) if self.vector is not None else y
        values = values.clone()
        values[..., self.zero] = z[..., self.zero_pos].to(values.dtype)
        return values


class PreHistory:
    """Values before ``t0``: ``history(t)`` (the state vector, NumPy or tensor) or ``y0``; the
    recorded values there from ``vector`` (at the read time when they depend on ``t``)."""

    def __init__(
        self,
        history: Callable[[float], Any] | None,
        y0: Any,
        conns: Connections,
        vector: HistoryVector,
        t0: float,
    ):
        self.history = history
        self.conns = conns
        self.vector = vector
        self.y0 = y0
        self.n_states = y0.shape[-1]
        self.calls = 0
        #: the initial state at every earlier time, but recorded values change with t
        self.constant = history is None and vector.time_dependent
        self.y0_conn = vector.values(t0, y0)[..., conns.pos]

    def state(self, t: float) -> Any:
        """The state at ``t`` with the batch axes of ``y0``."""
        import torch

        if self.constant:
            return self.y0
        self.calls += 1
        value = call_history(self.history, t, self.n_states)
        value = torch.as_tensor(value, device=self.y0.device).to(self.y0.dtype)
        return value.reshape(-1).expand(self.y0.shape)

    def fill(self, values: Any, mask: Any, times: Any) -> Any:
        """``values`` with the connections of ``mask`` (a bool tensor) replaced by their
        pre-history at their read ``times`` (a tensor); torch only without a history function
        and without time-dependent recorded values."""
        import torch

        if self.history is None and not self.constant:
            return torch.where(mask, self.y0_conn, values)
        sel = torch.nonzero(mask).reshape(-1)
        unique, inverse = torch.unique(times[sel], return_inverse=True)
        pos = self.conns.pos[sel]
        rows = torch.stack(
            [self.vector.values(t, self.state(t))[..., pos] for t in unique.tolist()], dim=-1
        )  # (*batch, S, U): connection j at each distinct time
        index = inverse.reshape(-1, 1).expand(*rows.shape[:-1], 1)
        picked = torch.gather(rows, -1, index).squeeze(-1)
        values = values.clone()
        values[..., sel] = picked.to(values.dtype)
        return values


class RingHistory:
    """Fixed-step history: a ring of rows ``(y_n, f_n)`` (see the module doc).

    Per step: :meth:`begin_step` (row n's state), :meth:`read` for the first stage,
    :meth:`end_first_stage` (row n's derivative), for a step in ``left_steps`` (``jumps``, the
    steps whose input row changes, when reads interpolate) :meth:`set_left` (the derivative
    with input row n - 1, same state and delayed values), then :meth:`read` for the later
    stages. ``grid`` (``delays="grid"``): every stage reads row ``n - round(tau / dt)``, so the
    first stage's read serves the whole step and no derivatives are stored.
    """

    def __init__(
        self,
        conns: Connections,
        pre: PreHistory,
        t0: float,
        dt: float,
        stages: Sequence[tuple[float, bool]],
        batch: tuple[int, ...],
        jumps: Iterable[int] = (),
        grid: bool = False,
    ) -> None:
        import torch

        self.conns, self.pre, self.t0, self.dt = conns, pre, float(t0), float(dt)
        self.vector = pre.vector
        self.stage_c = [c for c, _ in stages]
        self._y: Any = None
        self.grid = grid
        self._held: Any = None  # grid: the values read at the first stage of the step
        ring = RingPlans(conns.tau_np, dt, stages, grid)
        self.plans = ring.plans
        self.D = ring.rows
        self.ncols = ncols = int(conns.tracked.numel())
        self.hermite = ring.hermite
        opts = dict(dtype=conns.dtype, device=conns.device)
        self.Y = torch.zeros((*batch, 2 * self.D * ncols), **opts)
        self.F = torch.zeros_like(self.Y) if self.hermite else None
        #: steps that need the left-side derivative (only Hermite reads use derivatives)
        self.left_steps = frozenset(int(k) for k in jumps) if self.hermite else frozenset()
        self.L = torch.zeros_like(self.Y) if self.left_steps else self.F
        dev = conns.device
        self.offsets = [
            torch.as_tensor(p.m * ncols + conns.col_np, dtype=torch.int64, device=dev)
            for p in self.plans
        ]
        self.weights = [
            None
            if p.weights is None
            else [
                torch.as_tensor(w, dtype=torch.float64, device=dev).to(conns.dtype)
                for w in p.weights
            ]
            for p in self.plans
        ]

        self.positions = [torch.as_tensor(p.s, dtype=torch.float64, device=dev) for p in self.plans]

    @property
    def rows(self) -> int:
        return self.D

    def _write(self, buf: Any, n: int, values: Any) -> None:
        r, D, c = n % self.D, self.D, self.ncols
        buf[..., r * c : (r + 1) * c] = values
        buf[..., (r + D) * c : (r + D + 1) * c] = values

    def begin_step(self, n: int, y: Any) -> None:
        self._y = y
        z = self.vector.values(self.t0 + n * self.dt, y)
        self._write(self.Y, n, z[..., self.conns.tracked].to(self.Y.dtype))

    def end_first_stage(self, n: int, f: Any) -> None:
        if self.F is None:
            return
        fz = self.vector.rates(self.t0 + n * self.dt, self._y, f)[..., self.conns.tracked]
        self._write(self.F, n, fz.to(self.F.dtype))
        rings = [self.F]
        if self.L is not None and self.L is not self.F:  # no jump at t_n: both sides agree
            self._write(self.L, n, fz.to(self.L.dtype))
            rings.append(self.L)
        if n == 0:  # row -1: the Taylor line y0 - dt f0 for reads inside the first step
            c, D = self.ncols, self.D
            y0 = self.Y[..., 0:c]
            f0 = self.F[..., 0:c]
            line = y0 - self.dt * f0
            self.Y[..., (D - 1) * c : D * c] = line
            self.Y[..., (2 * D - 1) * c : 2 * D * c] = line
            for ring in rings:
                ring[..., (D - 1) * c : D * c] = f0
                ring[..., (2 * D - 1) * c : 2 * D * c] = f0

    def set_left(self, n: int, f: Any) -> None:
        """Store the left-side derivative at ``t_n`` (``f``: the field with input row n - 1 at
        row n's state), the right-end slope of the interval ending at ``t_n``; after
        :meth:`end_first_stage`."""
        L = self.L
        assert L is not None  # left_steps is empty without Hermite reads
        fz = self.vector.rates(self.t0 + n * self.dt, self._y, f)[..., self.conns.tracked]
        self._write(L, n, fz.to(L.dtype))

    def read(self, stage: int, n: int, y: Any) -> Any:
        """Connection values at stage ``stage`` of step n (``y``: the stage state)."""
        if self.grid and stage:
            return self._held  # held over the step
        p = self.plans[stage]
        idx = self.offsets[stage] + (n % self.D + self.D) * self.ncols
        weights, F, L = self.weights[stage], self.F, self.L
        if weights is None:  # every read falls on a row (p.direct)
            vals = self.Y[..., idx]
        else:
            assert F is not None and L is not None  # interpolated reads keep derivatives
            a0, a1, b0, b1 = weights
            nxt = idx + self.ncols
            vals = (
                a0 * self.Y[..., idx] + b0 * F[..., idx] + a1 * self.Y[..., nxt] + b1 * L[..., nxt]
            )
        if n < p.n_pre:
            s = self.positions[stage]
            vals = self.pre.fill(vals, s < -n, self.t0 + (n + s) * self.dt)
        vals = self.conns.with_zero(vals, y, self.t0 + (n + self.stage_c[stage]) * self.dt)
        if self.grid:
            self._held = vals
        return vals


class StepHistory:
    """Adaptive history: accepted ``(t, y, f)`` in growing buffers (see the module doc)."""

    def __init__(self, conns: Connections, pre: PreHistory, t0: float, batch: tuple[int, ...]):
        import torch

        self.conns, self.pre, self.t0 = conns, pre, float(t0)
        self.ncols = int(conns.tracked.numel())
        self.batch = batch
        self.cap = 256
        self.n = 0
        opts = dict(dtype=conns.dtype, device=conns.device)
        self.T = torch.zeros(self.cap, dtype=torch.float64, device=conns.device)
        self.Y = torch.zeros((*batch, self.cap, self.ncols), **opts)
        self.F = torch.zeros_like(self.Y)
        self.times: list[float] = []
        self.flat_col = conns.col

    def add(self, t: float, y: Any, f: Any) -> None:
        """Append the accepted point ``(t, y(t), f(t))``."""
        import torch

        if self.n == self.cap:
            keep = self._first_needed(t)
            if keep > self.cap // 2:  # drop rows no read can reach any more
                self.T = self.T[keep:].clone()
                self.Y = self.Y[..., keep:, :].clone()
                self.F = self.F[..., keep:, :].clone()
                self.times = self.times[keep:]
                self.n -= keep
            grow = self.cap - self.T.shape[0] + self.cap
            if self.n + 1 > self.T.shape[0]:
                self.T = torch.cat([self.T, torch.zeros_like(self.T[:1]).expand(grow).clone()])
                pad = torch.zeros(
                    (*self.batch, grow, self.ncols), dtype=self.Y.dtype, device=self.Y.device
                )
                self.Y = torch.cat([self.Y, pad], dim=-2)
                self.F = torch.cat([self.F, pad], dim=-2)
            self.cap = self.T.shape[0]
        tr = self.conns.tracked
        vector = self.pre.vector
        self.T[self.n] = t
        self.Y[..., self.n, :] = vector.values(t, y)[..., tr].to(self.Y.dtype)
        self.F[..., self.n, :] = vector.rates(t, y, f)[..., tr].to(self.F.dtype)
        self.times.append(float(t))
        self.n += 1

    def _first_needed(self, t: float) -> int:
        import bisect

        limit = t - self.conns.max_tau
        return max(bisect.bisect_right(self.times, limit) - 2, 0)

    def read(self, t: float, y: Any) -> Any:
        """Connection values at time ``t`` (``y``: the state there)."""
        import torch

        conns = self.conns
        r = t - conns.tau  # read times, float64
        n = self.n
        T = self.T[:n]
        if n >= 2:
            i = torch.searchsorted(T, r, right=True) - 1
            i = i.clamp(0, n - 2)
            t_a, t_b = T[i], T[i + 1]
            h = t_b - t_a
            theta = ((r - t_a) / h).clamp(max=1.0)
            a0, a1, b0, b1 = (w.to(conns.dtype) for w in hermite_weights(theta, h))
            col = conns.col
            flat_a = i * self.ncols + col
            flat_b = flat_a + self.ncols
            Yf = self.Y[..., :n, :].reshape(*self.batch, -1)
            Ff = self.F[..., :n, :].reshape(*self.batch, -1)
            vals = (
                a0 * Yf[..., flat_a]
                + a1 * Yf[..., flat_b]
                + b0 * Ff[..., flat_a]
                + b1 * Ff[..., flat_b]
            )
        else:
            vals = self.Y[..., 0, :][..., conns.col]
        if t - self.t0 < conns.max_tau:  # some reads fall before t0
            vals = self.pre.fill(vals, r < self.t0, r)
        return conns.with_zero(vals, y, t)


def breakpoints(
    delays: np.ndarray, t0: float, t_end: float, levels: int = 5, cap: int = MAX_BREAKPOINTS
) -> list[float]:
    """Where the discontinuity of the initial history at ``t0`` propagates (see
    :func:`rates_core.delay_reads.breakpoints`), as a list of times."""
    return _breakpoints(delays, t0, t_end, levels=levels, cap=cap).tolist()
