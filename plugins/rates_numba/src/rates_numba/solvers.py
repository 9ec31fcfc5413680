"""The Python side of rates-numba's solvers: arguments in, one compiled loop call, samples out.

Semantics of :class:`rates_core.backend.Problem`: rows at ``t0 + k * sampling_step`` (row 0 is
``y0``); fixed-step inputs have one row per step (every stage of step k reads row k), adaptive
inputs are interpolated linearly at ``Problem.input_times`` (else one row per step).

Delays (fixed step only): the delayed reads are flattened into connections
(:class:`rates_core.delay_reads.ConnectionLayout`) and read at every stage at the positions of
:class:`rates_core.delay_reads.StagePlan`, from a ring of the last rows kept by the compiled
loop (:mod:`rates_numba.runtime`); reads before t0 come from a table of ``Problem.history`` (or
``y0``) filled here before the loop. Where an input that drives a delayed variable changes its
row at step n, the loop also keeps the left-side derivative at t_n (input row n - 1), the
right-end slope of the Hermite interval ending there.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from rates_core.backend import (
    ADAPTIVE_ATOL,
    ADAPTIVE_RTOL,
    EmittedFunction,
    LoopSamples,
    Problem,
    Trajectory,
    call_history,
    derivative_error,
    input_parameter,
)
from rates_core.codegen.tableaux import TABLEAUX
from rates_core.delay_reads import (
    ConnectionLayout,
    RingPlans,
    StagePlan,
    input_driven_slopes,
    input_jumps,
)
from rates_core.errors import SolverError
from rates_core.system import System
from rates_numba import ADAPTIVE_METHOD, BACKEND, FIXED_METHODS

__all__ = ["ADAPTIVE_OPTIONS", "Field", "numba_argument", "solve"]

#: Options of ``dopri5``: tolerances, the first step (0: chosen), the most steps.
ADAPTIVE_OPTIONS = ("rtol", "atol", "first_step", "max_steps")
#: Default ``max_steps`` of ``dopri5``.
MAX_STEPS = 10_000_000


def numba_argument(param: Any, value: Any) -> Any:
    """A parameter value as the compiled field takes it: a scipy.sparse matrix as the CSR tuple
    ``(data, indices, indptr, n_rows)``, index arrays as int64, 0-d arrays as numbers, other
    arrays contiguous."""
    if param.role == "matrix" and hasattr(value, "tocsr"):
        csr = value.tocsr()
        return (
            np.ascontiguousarray(csr.data),
            csr.indices.astype(np.int64),
            csr.indptr.astype(np.int64),
            int(csr.shape[0]),
        )
    arr = np.asarray(value)
    if param.role == "index":
        arr = arr.astype(np.int64)
    if arr.ndim == 0:
        return arr.item()
    return np.ascontiguousarray(arr)


class Field:
    """The in-place field ``f(t, y, dy, *delayed, *params)`` callable from Python with any
    parameter values (scipy.sparse matrices converted); ``converts`` says whether that is
    needed (otherwise the compiled kernel itself is the field)."""

    def __init__(self, kernel: Any, system: System) -> None:
        self.kernel = kernel
        self.system = system
        self.n_delayed = len(system.delayed)
        self.converts = any(p.role in ("matrix", "index") for p in system.params)

    def __call__(self, t: float, y: Any, dy: Any, *args: Any) -> Any:
        return self.kernel(t, y, dy, *self.arguments(args))

    def arguments(self, args: Any) -> list[Any]:
        delayed, values = args[: self.n_delayed], args[self.n_delayed :]
        return [*delayed, *(numba_argument(p, v) for p, v in zip(self.system.params, values))]

    def functional(self, t: float, y: Any, *args: Any) -> Any:
        dy = np.zeros(np.shape(y), dtype=np.result_type(np.asarray(y), self.system.dtype))
        return self(t, y, dy, *args)


def state_dtype(function: EmittedFunction) -> np.dtype:
    return np.dtype(function.extras.get("dtype", function.system.dtype))


def loop_params(function: EmittedFunction, problem: Problem) -> list[Any]:
    """The parameter arguments of the loops: inputs as row tables (``(rows, *shape)``; one row
    for an input without series), every other value converted by :func:`numba_argument`."""
    system = function.system
    out: list[Any] = []
    for p, value in zip(system.params, problem.params):
        if p.role != "input":
            out.append(numba_argument(p, value))
            continue
        _, rows = input_parameter(system, p, value, problem.inputs)
        out.append(np.ascontiguousarray(rows))
    return out


def seed_random(problem: Problem) -> None:
    from rates_numba.runtime import seed_

    seed = problem.seed
    if seed is None:
        seed = int(np.random.SeedSequence().generate_state(1)[0])
    seed_(int(seed) % (2**32))


def solve(solver: str, function: EmittedFunction, problem: Problem) -> Trajectory:
    """Run ``solver`` (``numba_<method>``) on ``function`` over ``problem``'s grid."""
    method = solver[len(BACKEND) + 1 :] if solver.startswith(f"{BACKEND}_") else solver
    if method not in (*FIXED_METHODS, ADAPTIVE_METHOD):
        raise SolverError(f"rates-numba has no solver {solver!r}")
    adaptive = method == ADAPTIVE_METHOD
    system = function.system
    problem.check(
        system, solver, fixed_step=not adaptive, options=ADAPTIVE_OPTIONS if adaptive else ()
    )
    if function.extras.get("random", True):
        seed_random(problem)
    if adaptive:
        return _adaptive(solver, function, problem)
    return _fixed(solver, method, function, problem)


def _fixed(solver: str, method: str, function: EmittedFunction, problem: Problem) -> Trajectory:
    system = function.system
    dt, t0 = float(problem.step_size), float(problem.t0)
    n_steps, every = problem.n_steps, problem.sample_every
    y, samples, params = fixed_step_arguments(function, problem)
    delays = delay_arguments(function, problem, method, y, params) if system.delayed else []
    loop = getattr(function.extras["module"], f"run_{method}_")
    seconds = 0.0
    with problem.progress_bar(solver) as bar:
        for k0, k1, out, row0 in samples.chunks(bar.chunk_ends(n_steps)):
            start = time.perf_counter()
            loop(t0, dt, k0, k1, every, y, out, row0, *delays, *params)
            seconds += time.perf_counter() - start
            bar(t0 + k1 * dt)
    times, states, streamed = samples.finish()
    info = {"solver": solver, "n_steps": n_steps, "loop_seconds": seconds, **streamed}
    return Trajectory(times, states, y.copy(), info)


def fixed_step_arguments(
    function: EmittedFunction, problem: Problem
) -> tuple[np.ndarray, LoopSamples, list[Any]]:
    """The state (a copy of ``y0``), its samples (all of them, or blocks for
    ``Problem.sink``) and the parameter arguments of a fixed-step loop; inputs need one row
    per step (or one in all)."""
    n_steps = problem.n_steps
    params = loop_params(function, problem)
    for p, rows in zip(function.system.params, params):
        if p.role == "input" and 1 < rows.shape[0] < n_steps:
            raise SolverError(
                f"input {p.name!r} has {rows.shape[0]} rows, the integration {n_steps} steps "
                "(fixed-step inputs need one row per step)"
            )
    dtype = state_dtype(function)
    y = np.array(problem.y0, dtype=dtype).reshape(-1)
    return y, LoopSamples(problem, y), params


def delay_arguments(
    function: EmittedFunction, problem: Problem, method: str, y0: np.ndarray, params: list[Any]
) -> list[Any]:
    """The ring, the stage plans and the pre-history table of the delayed reads (the
    arguments ``pos_ .. vals_`` of the generated fixed-step loops), and for systems whose
    delayed variables an input drives the ring of left-side derivatives and the steps that
    compute one (``ring_l_``, ``left_``; ``params``: the loop's parameter arguments)."""
    system = function.system
    dtype = y0.dtype
    dt = float(problem.step_size)
    grid = problem.grid_delays  # every stage reads row n - round(tau / dt): direct reads
    layout = ConnectionLayout(system, list(problem.params), grid=grid)
    stages = TABLEAUX[method].stage_times()
    ring_plans = RingPlans(layout.tau, dt, stages, grid)
    plans, rows = ring_plans.plans, ring_plans.rows
    size = layout.size
    ncols = layout.tracked.size
    direct = np.array([p.direct for p in plans])
    slots = 1 if direct.all() else 4
    # the doubled ring of interval records (rates_numba.runtime): a read at row n + m is
    # record n % rows + 1 + (m + rows - 1), slot 0 (y) or all four (Hermite)
    ring = np.zeros((2 * rows, ncols, slots), dtype=dtype)
    off = np.stack([((p.m + rows - 1) * ncols + layout.col) * slots for p in plans])
    # each plan's connections in the order of their records in memory (see read_delayed_)
    order = np.argsort(off, axis=1, kind="stable").astype(np.int64)
    off = np.take_along_axis(off, order, axis=1)
    weights = np.stack([_record_weights(p.weights, size)[o] for p, o in zip(plans, order)])
    s = np.stack([p.s for p in plans]).astype(np.float64)
    n_pre = np.array([p.n_pre for p in plans], dtype=np.int64)
    pre = _pre_history(problem, layout, plans, y0)
    left = _left_args(function.system, problem, params, bool(direct.all()))
    return [
        layout.pos.astype(np.int64),
        layout.tracked.astype(np.int64),
        layout.zero.astype(np.int64),
        ring,
        order,
        off.astype(np.int64),
        weights,
        s,
        direct,
        n_pre,
        pre,
        np.zeros(size, dtype=dtype),
        bool(grid),
        not bool(direct.all()),
        *left,
    ]


def _record_weights(weights: tuple[np.ndarray, ...] | None, size: int) -> np.ndarray:
    """A plan's Hermite weights ``(a0, a1, b0, b1)`` as ``(C, 4)`` in record order
    ``(y0, f0, y1, l1)`` (zeros for a direct plan, whose reads take y0 alone)."""
    if weights is None:
        return np.zeros((size, 4))
    a0, a1, b0, b1 = weights
    return np.ascontiguousarray(np.column_stack([a0, b0, a1, b1]), dtype=np.float64)


def _left_args(system: System, problem: Problem, params: list[Any], direct: bool) -> list[Any]:
    """``[left_]`` for a system whose delayed variables an input drives, else ``[]``:
    ``left_[n]`` says the inputs' row changes at step n (only Hermite reads use slopes)."""
    if not input_driven_slopes(system):
        return []
    left = np.zeros(problem.n_steps, dtype=np.bool_)
    if not direct:
        rows = [r for p, r in zip(system.params, params) if p.role == "input"]
        left[input_jumps(rows, problem.n_steps)] = True
    return [left]


def _pre_history(
    problem: Problem, layout: ConnectionLayout, plans: list[StagePlan], y0: np.ndarray
) -> np.ndarray:
    """``pre[stage, n, k]``: connection k's value at ``t0 + (n + s_k) dt`` for the steps n whose
    read is before t0 (one row of ``y0`` values without ``Problem.history``)."""
    at_y0 = y0[layout.pos]
    if problem.history is None:
        return np.broadcast_to(at_y0, (len(plans), 1, layout.size)).copy()
    dt, t0 = float(problem.step_size), float(problem.t0)
    n_rows = max(max(p.n_pre for p in plans), 1)
    pre = np.broadcast_to(at_y0, (len(plans), n_rows, layout.size)).copy()
    cache: dict[float, np.ndarray] = {}
    for i, plan in enumerate(plans):
        for n in range(plan.n_pre):
            for k in np.flatnonzero(plan.s < -n).tolist():
                t = t0 + (n + float(plan.s[k])) * dt
                if t not in cache:
                    value = call_history(problem.history, t, y0.size)
                    cache[t] = np.asarray(value).reshape(-1)
                pre[i, n, k] = cache[t][layout.pos[k]]
    return pre


def _adaptive(solver: str, function: EmittedFunction, problem: Problem) -> Trajectory:
    system = function.system
    if system.delayed:
        raise SolverError(
            f"solver {solver!r} does not integrate delayed reads; use the fixed-step numba "
            "solvers (euler, heun, rk4) or backend 'numpy' with solver 'scipy'"
        )
    options = dict(problem.options or {})
    rtol = float(options.get("rtol", ADAPTIVE_RTOL))
    atol = float(options.get("atol", ADAPTIVE_ATOL))
    first = float(options.get("first_step", 0.0))
    max_steps = int(options.get("max_steps", MAX_STEPS))
    if not (rtol > 0 and atol >= 0):
        raise SolverError(f"solver {solver!r}: rtol must be positive and atol not negative")
    dtype = state_dtype(function)
    t0 = float(problem.t0)
    t_end, sample_times = problem.sample_grid()
    params = loop_params(function, problem)
    rows = max((r.shape[0] for p, r in zip(system.params, params) if p.role == "input"), default=1)
    times = problem.input_times
    if times is None:
        times = t0 + np.arange(rows) * problem.step_size
    times = np.ascontiguousarray(times, dtype=np.float64).reshape(-1)
    for p, r in zip(system.params, params):
        if p.role == "input" and r.shape[0] not in (1, times.size):
            raise SolverError(
                f"input_times has {times.size} entries but input {p.name!r} has {r.shape[0]} rows"
            )
    if times.size > 1 and np.any(np.diff(times) <= 0):
        raise SolverError("input_times must be strictly increasing")
    y = np.array(problem.y0, dtype=dtype).reshape(-1)
    out = np.zeros((problem.n_samples, y.size), dtype=dtype)
    out[0] = y
    loop = function.extras["module"].run_dopri5_
    with problem.progress_bar(solver):
        start = time.perf_counter()
        status, t, index, steps = loop(
            t0, t_end, sample_times, out, y, first, rtol, atol, max_steps, times, *params
        )
        seconds = time.perf_counter() - start
    if status == 1:
        raise derivative_error(system, solver, t, int(index))
    if status == 2:
        raise SolverError(f"solver {solver!r}: the step size became too small at t={t:g}")
    if status == 3:
        raise SolverError(f"solver {solver!r}: more than max_steps={max_steps} steps (t={t:g})")
    info = {"solver": solver, "n_steps": int(steps), "loop_seconds": seconds}
    return Trajectory(sample_times, out, y.copy(), info)
