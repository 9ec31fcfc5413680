"""Python side of the Fortran solvers: check the problem, pack the arrays, one call.

``fortran_euler`` / ``fortran_heun`` / ``fortran_rk4`` (fixed step) and ``fortran_dopri5``
(adaptive Dormand-Prince 5(4), options ``rtol``, ``atol``, ``max_step``, ``max_steps``) run the
whole integration inside the compiled ``rates_solve``: no Python call per step. Sampling follows
the PyRates convention of :class:`rates_core.backend.Problem`; fixed-step solvers use input row
k for the whole step k, ``fortran_dopri5`` interpolates the rows linearly at each stage time
(steps end exactly on the sample times).

Delays: the connections (state position and delay of every delayed value, in
``system.delayed`` order) go to the Fortran history. Fixed-step solvers keep a ring of the
last ``ceil(max_delay / dt) + 2`` steps and read every connection at offsets and Hermite
positions computed here once (:class:`Ring`, the conventions of
:class:`rates_core.delay_reads.StagePlan` shared by every backend); ``fortran_dopri5`` stores
every accepted step (time, state, derivative) back to the largest delay and searches it for
each read. Both read cubic Hermite interpolants. Pre-history: the initial state, or
``Problem.history`` sampled on the step grid back to the largest delay (cubic Hermite between
the samples, derivatives by finite differences).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from rates_core.backend import EmittedFunction, Problem, Trajectory, derivative_error, input_rows
from rates_core.codegen.tableaux import TABLEAUX
from rates_core.delay_reads import RingPlans, input_driven_slopes, input_jumps
from rates_core.errors import SolverError
from rates_fortran import ADAPTIVE_SOLVER, FIXED_SOLVERS

__all__ = ["ADAPTIVE_OPTIONS", "solve"]

#: Options of ``fortran_dopri5``.
ADAPTIVE_OPTIONS = ("rtol", "atol", "max_step", "max_steps", "first_step")
_METHODS = {name: k for k, name in enumerate(FIXED_SOLVERS.values(), start=1)}
_METHODS[ADAPTIVE_SOLVER] = 4
_STATUS = {
    1: "the step size fell below the resolution of the time (stiff or singular problem)",
    2: "max_steps steps were not enough",
    4: "no memory for the history of the delayed reads ({ring} values: the largest delay over "
    "the step, times the delayed variables)",
}


def _check(solver: str, function: EmittedFunction, problem: Problem) -> None:
    allowed = ADAPTIVE_OPTIONS if solver == ADAPTIVE_SOLVER else ()
    problem.check(function.system, solver, fixed_step=solver != ADAPTIVE_SOLVER, options=allowed)


def _inputs(function: EmittedFunction, problem: Problem) -> tuple[np.ndarray, np.ndarray, int]:
    """``(in_pos, series, n_rows)``: 1-based ``pr`` positions and the rows (n_in, n_rows)."""
    layout = function.extras["layout"]
    system = function.system
    positions: list[np.ndarray] = []
    columns: list[np.ndarray] = []
    n_rows = 0
    for name, series in problem.inputs.items():
        entry = layout.entry(name)
        if entry.kind != "r":
            raise SolverError(f"input {name!r}: rates-fortran supports real inputs only")
        arr = np.asarray(series)
        if np.iscomplexobj(arr):
            raise SolverError(f"input {name!r}: rates-fortran supports real inputs only")
        flat = input_rows(system, name, arr, (entry.size,)).astype(np.float64)
        rows = flat.shape[0]
        if n_rows and rows != n_rows:
            raise SolverError("all input series must have the same number of rows")
        n_rows = rows
        positions.append(entry.offset + 1 + np.arange(entry.size, dtype=np.int64))
        columns.append(flat)
    if not positions:
        return np.zeros(1, np.int64), np.zeros((1, 1)), 1
    in_pos = np.concatenate(positions)
    series = np.ascontiguousarray(np.concatenate(columns, axis=1).T)  # (n_in, n_rows) in F order
    return in_pos, np.asfortranarray(series), n_rows


def _connections(function: EmittedFunction, problem: Problem) -> tuple[np.ndarray, np.ndarray]:
    """1-based state positions and delays of every delayed value (``system.delayed`` order)."""
    system = function.system
    slot = {p.name: i for i, p in enumerate(system.params)}
    positions, delays = [], []
    for d in system.delayed:
        st = system.state(d.state)
        if d.index is None:
            idx = np.arange(st.size, dtype=np.int64)
        else:
            idx = np.asarray(problem.params[slot[d.index]]).astype(np.int64).reshape(-1)
            if idx.size and (idx.min() < 0 or idx.max() >= st.size):
                raise SolverError(
                    f"delayed read {d.name!r}: index {d.index!r} points outside {d.state!r}"
                )
        tau = np.asarray(problem.params[slot[d.tau]] if isinstance(d.tau, str) else d.tau)
        tau = np.real(tau).astype(np.float64).reshape(-1)
        if np.any(tau < 0) or not np.all(np.isfinite(tau)):
            raise SolverError(f"delayed read {d.name!r}: delays must be finite and >= 0")
        idx = np.broadcast_to(idx if idx.size != 1 else idx.reshape(()), (d.size,))
        tau = np.broadcast_to(tau if tau.size != 1 else tau.reshape(()), (d.size,))
        positions.append(st.start + 1 + idx)
        delays.append(tau)
    if not positions:
        return np.zeros(1, np.int64), np.zeros(1)
    return np.concatenate(positions).astype(np.int64), np.concatenate(delays).astype(float)


def _pre_history(
    problem: Problem, dtype: Any, n: int, tau_max: float, dt: float
) -> tuple[int, float, np.ndarray, np.ndarray]:
    if problem.history is None or tau_max <= 0:
        z = np.zeros((1, n), dtype=dtype)
        return 0, 0.0, z, z
    n_pre = max(int(math.ceil(tau_max / dt)) + 1, 2)
    times = problem.t0 - dt * np.arange(n_pre, -1, -1)  # t0 - n_pre dt .. t0
    # the sample at t0 - 0: the history's limit, not y0 (reads at r < t0 use the history)
    times[-1] = float(problem.t0) - 1e-12 * max(dt, 1.0)
    rows, deriv = problem.history_samples(times)  # read by cubic Hermite interpolation
    return n_pre, dt, rows.astype(dtype), deriv.astype(dtype)


class Ring:
    """The arrays of the fixed-step ring history (``ring_t`` of the generated module).

    Every read of a stage at ``t_n + c dt`` sits at a position fixed for the run
    (:class:`rates_core.delay_reads.StagePlan`, one per distinct stage time of ``method``), so
    the offset and Hermite position of every connection are computed here, once: the compiled
    loop reads a connection at one offset from the row of the current step (the value, or the
    two rows of its interval and the cubic Hermite polynomial at ``theta``) and never searches.

    The ring holds the last ``D`` steps of the tracked columns, stored twice (rows j and
    j + D: an interval's two rows are always adjacent), column by column (so that both rows of
    an interval share a cache line or two); a record is ``y`` (every read on a row), ``(y,
    dt f)``, or ``(y, dt f_left, dt f)`` where an input driving a delayed variable jumps
    (:func:`rates_core.delay_reads.input_jumps`). Under ``delays="grid"`` (``grid``) every
    stage of step n reads row ``n - round(tau / dt)`` directly: records of ``y`` alone, no
    slopes. Stages that read at the same times reuse the values (one read per step for Heun,
    two for rk4; delay 0 follows the stage state). Reads go in the order of their place in the
    ring (``conn``: the connection of each), a sweep through memory rather than a random
    gather.
    """

    info: np.ndarray
    tracked: np.ndarray
    zero: np.ndarray
    conn: np.ndarray
    off: np.ndarray
    theta: np.ndarray
    s: np.ndarray
    size: int

    def __init__(
        self, method: str, pos: np.ndarray, tau: np.ndarray, dt: float, left: bool, grid: bool
    ) -> None:
        stages = TABLEAUX[method].stage_times()
        ring = RingPlans(tau, dt, stages, grid)
        plans, d, hermite = ring.plans, ring.rows, ring.hermite  # rows n - d + 1 .. n kept
        tracked, col = np.unique(pos, return_inverse=True)
        nrec = (3 if left else 2) if hermite else 1
        rs, cs = nrec, 2 * d * nrec
        if cs * tracked.size >= 2**31:
            raise SolverError(
                f"the history of the delayed reads would hold {cs * tracked.size} values "
                f"({tracked.size} delayed variables, {d} steps back for the largest delay "
                f"{float(tau.max())} at step {dt}): more than rates-fortran addresses; use a "
                "larger step or fewer delayed variables"
            )
        # delay 0 reads the stage state; under delays="grid" row n, like every other delay
        zero = np.zeros(0, np.int64) if grid else np.flatnonzero(tau == 0)
        info = np.zeros(14, dtype=np.int64)
        info[:7] = d, nrec, rs, cs, tracked.size, zero.size, len(plans)
        for i, p in enumerate(plans):
            info[7 + i] = p.n_pre
            info[10 + i] = p.direct
        # reads to reuse: exact delays read at t_n+1 by the last stage of step n (c = 1) and
        # by the first of step n+1, the same interpolant (both extrapolate the last complete
        # interval); grid delays read one row for every stage of a step
        carry = not grid and len(stages) > 1 and stages[-1][0] == 1.0
        info[13] = int(carry) + 2 * int(grid)
        self.info = info
        self.size = 2 * d * nrec * tracked.size
        self.tracked = tracked.astype(np.int64)  # 1-based state positions
        self.zero = np.append(zero + 1, 0).astype(np.int64)
        col = col.reshape(-1).astype(np.int64)
        off = np.stack([1 + (p.m + d) * rs + col * cs for p in plans], axis=1)
        theta = np.stack([p.s - p.m for p in plans], axis=1)
        theta[zero, :] = 0.0
        order = np.argsort(off[:, 0], kind="stable")  # 2x faster at 100k connections
        self.conn = (order + 1).astype(np.int32)
        self.off = np.asfortranarray(off[order].astype(np.int32))
        self.theta = np.asfortranarray(theta[order])
        self.s = np.asfortranarray(np.stack([p.s for p in plans], axis=1)[order])

    @classmethod
    def empty(cls) -> Ring:
        ring = cls.__new__(cls)
        ring.info = np.zeros(14, dtype=np.int64)
        ring.size = 0
        ring.tracked = ring.zero = np.zeros(1, np.int64)
        ring.conn = ring.off = np.zeros(1, np.int32)
        ring.theta = ring.s = np.zeros(1)
        return ring

    def pointers(self) -> list[int]:
        return [a.ctypes.data for a in (self.info, self.tracked, self.zero, self.conn, self.off,
                                        self.theta, self.s)]  # fmt: skip


def solve(solver: str, function: EmittedFunction, problem: Problem) -> Trajectory:
    """Integrate ``problem`` with one of the Fortran solvers (one call into the library)."""
    if solver not in _METHODS:
        raise SolverError(f"rates-fortran has no solver {solver!r}")
    _check(solver, function, problem)
    model = function.extras.get("model")
    if model is None:
        raise SolverError("the emitted function was not compiled (standalone export)")
    system = function.system
    dtype = model.dtype
    n = system.n_states
    adaptive = solver == ADAPTIVE_SOLVER
    options = dict(problem.options or {})
    dt = float(problem.step_size)
    every = problem.sample_every
    n_steps = problem.n_steps
    if not adaptive:
        n_steps = max(n_steps, (problem.n_samples - 1) * every)
    y0 = np.ascontiguousarray(problem.y0, dtype=dtype)
    out = np.zeros((problem.n_samples, n), dtype=dtype)
    yfinal = np.zeros(n, dtype=dtype)
    pr, pc, pi = model.layout.pack(problem.params)
    in_pos, series, n_rows = _inputs(function, problem)
    if problem.input_times is not None and len(problem.input_times) == n_rows:
        in_times = np.ascontiguousarray(problem.input_times, dtype=np.float64)
    else:
        in_times = problem.t0 + dt * np.arange(n_rows, dtype=np.float64)
    conn_pos, conn_tau = _connections(function, problem)
    n_conn = len(model.layout.delayed) and int(model.layout.n_delayed)
    n_pre, pre_dt, pre_y, pre_f = _pre_history(
        problem, dtype, n, float(conn_tau.max()) if n_conn else 0.0, dt
    )
    if n_conn and not adaptive:
        method = next(m for m, name in FIXED_SOLVERS.items() if name == solver)
        jumps = input_jumps([series.T], n_steps) if problem.inputs else ()
        left = len(jumps) > 0 and input_driven_slopes(system)
        ring = Ring(method, conn_pos, conn_tau, dt, left, problem.grid_delays)
    else:
        ring = Ring.empty()
    pre_y = np.ascontiguousarray(pre_y)
    pre_f = np.ascontiguousarray(pre_f)
    seed = -1 if problem.seed is None else int(problem.seed) % (2**62)
    status = np.zeros(1, dtype=np.int32)
    stats = np.zeros(4, dtype=np.int64)
    if adaptive:
        # sampling_step is the output grid: the driver samples at t0 + k * (dt * every)
        dt_s, every_s = float(problem.sampling_step), 1
    else:
        dt_s, every_s = dt, every
    with problem.progress_bar(desc=f"{system.name} ({solver})") as progress:
        model.solve_c(
            _METHODS[solver],
            int(n_steps),
            int(every_s),
            int(problem.n_samples),
            float(problem.t0),
            dt_s,
            float(problem.t0 + problem.simulation_time),
            float(options.get("rtol", 1e-6)),
            float(options.get("atol", 1e-9)),
            float(options.get("max_step", 0.0) or 0.0),
            int(options.get("max_steps", 10_000_000)),
            y0.ctypes.data,
            out.ctypes.data,
            yfinal.ctypes.data,
            pr.ctypes.data,
            pc.ctypes.data,
            pi.ctypes.data,
            int(len(in_pos)) if problem.inputs else 0,
            in_pos.ctypes.data,
            int(n_rows),
            in_times.ctypes.data,
            series.ctypes.data,
            int(n_conn),
            conn_pos.ctypes.data,
            conn_tau.ctypes.data,
            int(n_pre),
            float(pre_dt),
            pre_y.ctypes.data,
            pre_f.ctypes.data,
            seed,
            status.ctypes.data,
            stats.ctypes.data,
            *ring.pointers(),
        )
        progress(problem.t0 + problem.simulation_time)
    if status[0] == 3:
        raise derivative_error(system, solver, problem.t0, int(stats[0]) - 1)
    if status[0] != 0:
        raise SolverError(
            f"{solver} stopped on model {system.name!r}: "
            + str(_STATUS.get(int(status[0]), status[0])).format(ring=ring.size)
        )
    times = problem.t0 + np.arange(problem.n_samples) * problem.sampling_step
    info = {"steps": int(stats[0]), "accepted": int(stats[1]), "rejected": int(stats[2])}
    if adaptive:
        info["evaluations"] = int(stats[3])
    return Trajectory(times=times, states=out, final=yfinal, info=info)
