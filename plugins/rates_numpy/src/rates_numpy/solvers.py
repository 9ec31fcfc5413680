"""Fixed-step (euler, heun, rk4) and adaptive (scipy) integration of an emitted vector field.

Time sampling follows PyRates: output rows at ``t0 + k * sampling_step`` for
``k = 0 .. n_samples - 1``, row 0 being ``y0``; with fixed steps, row k is the state after
``k * sample_every`` steps. Extrinsic inputs: fixed-step solvers use row k of an input array for
the whole step from ``t0 + k * dt`` (all stages); ``scipy`` interpolates the rows (given at
``Problem.input_times``, else one per step) linearly at each evaluation time; its default
tolerances are ``rtol=1e-6``, ``atol=1e-9`` (:data:`rates_core.backend.ADAPTIVE_RTOL`), not
solve_ivp's looser 1e-3 / 1e-6.

Scalar systems run the generated whole-integration loops (``run_euler`` ...) with plain floats;
vector systems run a Python loop over the in-place vector field with preallocated buffers.

Delays (``system.delayed``): the history lives here, in :mod:`rates_numpy.history`, never in
the vector field, which takes the delayed values as arguments. Fixed-step solvers run a Python
loop over the vector field (no generated loops) with a ring of the last ``max_delay / dt`` rows,
appended once per step and read with cubic Hermite interpolation at every stage time; ``scipy``
integrates by the method of steps (:func:`_solve_scipy_dde`). Pre-history is
``Problem.history`` or ``y0`` under every solver.

Progress (``Problem.progress``): the generated loops run in about ``PROGRESS_CHUNKS`` chunks of
steps with the bar moved between chunks, the vector loop moves it at the same chunk boundaries,
and ``scipy`` reports the sample times its evaluations have passed. Results do not depend on it.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from rates_core.backend import (
    ADAPTIVE_ATOL,
    ADAPTIVE_RTOL,
    PROGRESS_CHUNKS,
    DelayedRows,
    DerivativeGuard,
    EmittedFunction,
    Problem,
    Progress,
    SampleRows,
    Trajectory,
    input_parameter,
)
from rates_core.codegen.tableaux import TABLEAUX
from rates_core.delay_reads import input_driven_slopes, input_jumps
from rates_core.errors import SolverError
from rates_numpy import FIXED_SOLVERS, SCIPY_SOLVER
from rates_numpy.history import (
    BREAKPOINT_LEVELS,
    DEFAULT_BREAKPOINT_LEVELS,
    Connections,
    HistoryVector,
    PreHistory,
    RingHistory,
    SegmentHistory,
    breakpoints,
    segment_ends,
)

__all__ = ["SCIPY_METHODS", "SCIPY_OPTIONS", "solve"]

#: Methods of scipy.integrate.solve_ivp the ``scipy`` solver accepts.
SCIPY_METHODS = ("RK45", "RK23", "DOP853", "Radau", "BDF", "LSODA")
#: Options of the ``scipy`` solver (everything else is an error).
SCIPY_OPTIONS = ("method", "rtol", "atol", "max_step", "first_step")
_IMPLICIT = ("Radau", "BDF", "LSODA")
# Errors plain-float code raises where NumPy returns inf / nan (overflow, 1/0, sqrt(-1), ...).
FLOAT_ERRORS = (OverflowError, ZeroDivisionError, ValueError)


def solve(solver: str, function: EmittedFunction, problem: Problem) -> Trajectory:
    """Integrate ``problem`` with ``solver`` (euler, heun, rk4 or scipy)."""
    if solver not in FIXED_SOLVERS and solver != SCIPY_SOLVER:
        raise SolverError(f"rates-numpy has no solver {solver!r}")
    _check_options(solver, problem.options)
    _check_problem(solver, function, problem)
    with problem.progress_bar(desc=_describe(solver, function, problem)) as progress:
        try:
            return _dispatch(solver, function, problem, progress)
        except FLOAT_ERRORS:
            fallback = function.extras.get("vector_fallback")
            if fallback is None:
                raise
            # plain floats raise where NumPy gives inf / nan: rerun with NumPy semantics
            progress.restart()
            with np.errstate(all="ignore"):
                traj = _dispatch(solver, fallback(), problem, progress)
            traj.info["fallback"] = "vector"
            return traj


def _describe(solver: str, function: EmittedFunction, problem: Problem) -> str:
    method = (problem.options or {}).get("method", "RK45") if solver == SCIPY_SOLVER else ""
    return f"{function.system.name} ({solver}{' ' + method if method else ''})"


def _dispatch(
    solver: str, function: EmittedFunction, problem: Problem, progress: Progress
) -> Trajectory:
    _seed(function, problem)
    if function.system.delayed:
        if solver == SCIPY_SOLVER:
            return _solve_scipy_dde(function, problem, progress)
        return _fixed_delayed(solver, function, problem, progress)
    if solver == SCIPY_SOLVER:
        return _solve_scipy(function, problem, progress)
    loops = function.extras.get("loops")
    if loops:
        return _fixed_scalar(solver, function, problem, progress)
    return _fixed_vector(solver, function, problem, progress)


# --------------------------------------------------------------------------- checks


def _check_options(solver: str, options: Any) -> None:
    allowed = SCIPY_OPTIONS if solver == SCIPY_SOLVER else ()
    for key in options or {}:
        if key not in allowed:
            what = ", ".join(allowed) if allowed else "none"
            raise SolverError(f"solver {solver!r} has no option {key!r} (allowed options: {what})")
    if solver == SCIPY_SOLVER:
        method = (options or {}).get("method", "RK45")
        if method not in SCIPY_METHODS:
            raise SolverError(
                f"solver 'scipy': unknown method {method!r} (allowed: {', '.join(SCIPY_METHODS)})"
            )


def _check_problem(solver: str, function: EmittedFunction, problem: Problem) -> None:
    problem.check(function.system, solver, fixed_step=solver != SCIPY_SOLVER)


def _seed(function: EmittedFunction, problem: Problem) -> None:
    module = function.extras.get("module")
    if module is not None and hasattr(module, "rng_"):
        module.rng_ = np.random.default_rng(problem.seed)


# --------------------------------------------------------------------------- inputs


class RowBlocks:
    """A sparse matrix whose row i holds the consecutive columns ``i*k .. i*k + k - 1``: the
    scatter of a projection whose connections are listed target by target, k per target (every
    pair of a dense delayed coupling). ``blocks @ x`` is a row sum of ``w * x.reshape(n, k)``:
    two dense streams instead of CSR's values, column indices and gathered x."""

    def __init__(self, w: np.ndarray) -> None:
        self.w = w
        self.shape = (w.shape[0], w.size)

    @classmethod
    def of(cls, matrix: Any) -> RowBlocks | None:
        """The blocks of ``matrix`` when it is a CSR matrix of that form, else None."""
        if not hasattr(matrix, "indptr") or getattr(matrix, "format", "") != "csr":
            return None
        n, cols = matrix.shape
        if n == 0 or cols % n or matrix.nnz != cols or cols // n < 2:
            return None
        k = cols // n
        if not (
            np.array_equal(matrix.indptr, np.arange(0, cols + 1, k))
            and np.array_equal(matrix.indices, np.arange(cols))
        ):
            return None
        return cls(np.ascontiguousarray(matrix.data.reshape(n, k)))

    def __matmul__(self, x: np.ndarray) -> np.ndarray:
        return np.einsum("ij,ij->i", self.w, x.reshape(self.w.shape))


class StepInputs:
    """Input parameters: their argument slots and the rows to write into them."""

    def __init__(self, function: EmittedFunction, problem: Problem, scalar_args: bool) -> None:
        system = function.system
        self.scalar = scalar_args
        self.args: list[Any] = []
        self.slots: list[tuple[int, str, np.ndarray]] = []  # (arg index, name, rows)
        for i, (p, value) in enumerate(zip(system.params, problem.params)):
            if p.role == "input":
                arr, rows = input_parameter(system, p, value, problem.inputs)
                self.slots.append((i, p.name, rows))
                self.args.append(arr.item() if scalar_args else arr)
            elif scalar_args:
                self.args.append(np.asarray(value).item())
            elif p.role == "matrix":
                self.args.append(RowBlocks.of(value) or value)
            else:
                self.args.append(value)

    def fixed_rows(self, n_steps: int) -> list[tuple[int, np.ndarray]]:
        """(arg index, one row per step) for each input; a constant input is repeated."""
        out = []
        for i, name, rows in self.slots:
            if rows.shape[0] == 1 and n_steps > 1:
                rows = np.broadcast_to(rows, (n_steps, *rows.shape[1:]))
            elif rows.shape[0] < n_steps:
                raise SolverError(
                    f"input {name!r} has {rows.shape[0]} rows, the integration {n_steps} steps "
                    "(fixed-step inputs need one row per step)"
                )
            out.append((i, rows))
        return out

    def write_row(self, rows: list[tuple[int, np.ndarray]], k: int) -> None:
        """Row ``k`` of each input (``rows`` from :meth:`fixed_rows`) into its argument slot:
        every stage of step k reads it."""
        args = self.args
        for i, r in rows:
            if self.scalar:
                args[i] = r[k].item()
            else:
                args[i][...] = r[k]


class _Interpolant:
    """Linear interpolation of input rows in time (constant outside the given times)."""

    def __init__(self, times: np.ndarray, rows: np.ndarray) -> None:
        self.times = np.asarray(times, dtype=float)
        self.rows = rows
        if self.times.ndim != 1 or self.times.size != rows.shape[0]:
            raise SolverError(
                f"input_times has {self.times.size} entries but an input has {rows.shape[0]} rows"
            )
        if self.times.size > 1 and np.any(np.diff(self.times) <= 0):
            raise SolverError("input_times must be strictly increasing")

    def __call__(self, t: float) -> Any:
        times, rows = self.times, self.rows
        n = times.size
        if n == 1 or t <= times[0]:
            return rows[0]
        if t >= times[-1]:
            return rows[-1]
        i = int(np.searchsorted(times, t, side="right")) - 1
        w = (t - times[i]) / (times[i + 1] - times[i])
        return rows[i] + w * (rows[i + 1] - rows[i])


# --------------------------------------------------------------------------- fixed step


def step_grid(problem: Problem) -> tuple[np.ndarray, int, int]:
    times = problem.t0 + np.arange(problem.n_samples) * problem.sampling_step
    return times, problem.n_steps, problem.sample_every


def state_dtype(function: EmittedFunction) -> np.dtype:
    return np.dtype(function.extras.get("dtype", function.system.dtype))


def _fixed_scalar(
    solver: str, function: EmittedFunction, problem: Problem, progress: Progress
) -> Trajectory:
    times, n_steps, every = step_grid(problem)
    inputs = StepInputs(function, problem, scalar_args=True)
    args = list(inputs.args)
    series = {i: rows.reshape(rows.shape[0]).tolist() for i, rows in inputs.fixed_rows(n_steps)}
    input_indices = sorted(series)
    loop_args = [a for i, a in enumerate(args) if i not in series] + [
        series[i] for i in input_indices
    ]
    dtype = state_dtype(function)
    y0 = np.asarray(problem.y0, dtype=dtype).reshape(-1)
    out = np.zeros((problem.n_samples, y0.size), dtype=dtype)
    out[0] = y0
    loop = function.extras["loops"][solver]
    t0, dt = float(problem.t0), float(problem.step_size)
    y, start = y0, 0
    final: Any = y0.tolist()
    for stop in progress.chunk_ends(n_steps):
        final = loop(t0, y, dt, start, stop, every, out, *loop_args)
        progress(t0 + stop * dt)
        y, start = np.asarray(final, dtype=dtype), stop
    return Trajectory(
        times,
        out,
        np.asarray(final, dtype=dtype),
        {"solver": solver, "path": "scalar-loop", "n_steps": n_steps},
    )


def _fixed_vector(
    solver: str, function: EmittedFunction, problem: Problem, progress: Progress
) -> Trajectory:
    times, n_steps, every = step_grid(problem)
    inputs = StepInputs(function, problem, scalar_args=bool(function.extras.get("scalar")))
    args = inputs.args
    rows = inputs.fixed_rows(n_steps)
    dtype = state_dtype(function)
    y = np.array(problem.y0, dtype=dtype).reshape(-1)
    n = y.size
    out = np.zeros((problem.n_samples, n), dtype=dtype)
    out[0] = y
    rhs = function.rhs
    t0, dt = float(problem.t0), float(problem.step_size)
    k1 = np.empty_like(y)
    k2 = np.empty_like(y)
    k3 = np.empty_like(y)
    k4 = np.empty_like(y)
    tmp = np.empty_like(y)
    dt2, dt6 = 0.5 * dt, dt / 6.0

    set_inputs = functools.partial(inputs.write_row, rows) if rows else None

    left = problem.n_samples - 1
    j = every
    sample = 1
    ends = progress.chunk_ends(n_steps)
    report = ends.pop(0) if progress.enabled else -1
    for k in range(n_steps):
        if k == report:
            progress(t0 + k * dt)
            report = ends.pop(0) if ends else -1
        t = t0 + k * dt
        if set_inputs is not None:
            set_inputs(k)
        rhs(t, y, k1, *args)
        if solver == "euler":
            k1 *= dt
            y += k1
        elif solver == "heun":
            np.multiply(k1, dt, out=tmp)
            tmp += y
            rhs(t + dt, tmp, k2, *args)
            k1 += k2
            k1 *= dt2
            y += k1
        else:
            np.multiply(k1, dt2, out=tmp)
            tmp += y
            rhs(t + dt2, tmp, k2, *args)
            np.multiply(k2, dt2, out=tmp)
            tmp += y
            rhs(t + dt2, tmp, k3, *args)
            np.multiply(k3, dt, out=tmp)
            tmp += y
            rhs(t + dt, tmp, k4, *args)
            k1 += k4
            k2 += k3
            k2 *= 2.0
            k1 += k2
            k1 *= dt6
            y += k1
        j -= 1
        if j == 0:
            j = every
            if left > 0:
                out[sample] = y
                sample += 1
                left -= 1
    return Trajectory(
        times, out, y.copy(), {"solver": solver, "path": "vector", "n_steps": n_steps}
    )


# --------------------------------------------------------------------------- scipy


def _scipy_setup(function: EmittedFunction, problem: Problem) -> tuple:
    """What both scipy paths (ODE and DDE) need: method and options, the argument list with
    input interpolants, dtype, initial state, time span and sample times (checked)."""
    options = dict(problem.options or {})
    method = options.pop("method", "RK45")
    options.setdefault("rtol", ADAPTIVE_RTOL)  # tighter than solve_ivp's 1e-3 / 1e-6
    options.setdefault("atol", ADAPTIVE_ATOL)
    scalar = bool(function.extras.get("scalar"))
    inputs = StepInputs(function, problem, scalar_args=scalar)
    args = inputs.args
    interpolants: list[tuple[int, _Interpolant]] = []
    for i, _name, rows in inputs.slots:
        times = problem.input_times
        if times is None:
            times = problem.t0 + np.arange(rows.shape[0]) * problem.step_size
        interpolants.append((i, _Interpolant(times, rows)))
    dtype = state_dtype(function)
    y0 = np.asarray(problem.y0, dtype=dtype).reshape(-1)
    if np.iscomplexobj(y0) and method == "LSODA":
        raise SolverError("solver 'scipy': method LSODA does not support complex states")
    t0 = float(problem.t0)
    t_end, sample_times = problem.sample_grid()
    return method, options, scalar, args, interpolants, dtype, y0, t0, t_end, sample_times


def _set_inputs(t: float, interpolants: list, args: list, scalar: bool) -> None:
    """Write every extrinsic input's value at ``t`` into its argument slot."""
    for i, interp in interpolants:
        value = interp(t)
        if scalar:
            args[i] = np.asarray(value).item()
        else:
            args[i][...] = value


def _solve_scipy(function: EmittedFunction, problem: Problem, progress: Progress) -> Trajectory:
    from scipy.integrate import solve_ivp

    (method, options, scalar, args, interpolants, dtype, y0, t0, t_end, sample_times) = (
        _scipy_setup(function, problem)
    )
    t_eval = np.minimum(sample_times, t_end)
    with_end = t_eval[-1] < t_end
    if with_end:
        t_eval = np.append(t_eval, t_end)
    rhs = function.rhs
    work_dtype = np.result_type(y0.dtype, np.float64)

    def set_inputs(t: float) -> None:
        _set_inputs(t, interpolants, args, scalar)

    guard = DerivativeGuard(function.system, SCIPY_SOLVER)

    def fun(t: float, y: np.ndarray) -> np.ndarray:
        if interpolants:
            set_inputs(t)
        dy = np.empty(y.shape, dtype=np.result_type(y.dtype, work_dtype))
        rhs(t, y, dy, *args)
        guard(t, dy)
        return dy

    marks = np.linspace(t0, t_end, PROGRESS_CHUNKS + 1)[1:]
    next_mark = [0]

    def fun_reporting(t: float, y: np.ndarray) -> np.ndarray:
        # the solver evaluates at times past each sample it reaches: report the last sample
        # time passed, at most about PROGRESS_CHUNKS times per run
        i = next_mark[0]
        if i < marks.size and t >= marks[i]:
            progress(sample_times[np.searchsorted(sample_times, t, side="right") - 1])
            next_mark[0] = int(np.searchsorted(marks, t, side="right"))
        return fun(t, y)

    kwargs: dict[str, Any] = dict(options)
    if function.jacobian is not None and method in _IMPLICIT:
        jac_fn = function.jacobian

        def jac(t: float, y: np.ndarray) -> np.ndarray:
            if interpolants:
                set_inputs(t)
            return jac_fn(t, y, *args)

        kwargs["jac"] = jac
    if t_end == t0:
        states = np.repeat(y0[None, :], problem.n_samples, axis=0)
        return Trajectory(sample_times, states, y0.copy(), {"solver": "scipy", "method": method})
    guard.initial(t0, fun(t0, y0.astype(work_dtype)))
    try:
        sol = solve_ivp(
            fun_reporting if progress.enabled else fun,
            (t0, t_end),
            y0.astype(work_dtype),
            method=method,
            t_eval=t_eval,
            **kwargs,
        )
    except (TypeError, ValueError) as exc:
        if isinstance(exc, FLOAT_ERRORS) and function.extras.get("vector_fallback"):
            raise
        raise SolverError(f"solver 'scipy' ({method}): {exc}") from exc
    if not sol.success:
        raise SolverError(f"solver 'scipy' ({method}) failed at t={sol.t[-1]}: {sol.message}")
    ys = sol.y.T
    states = np.asarray(ys[: problem.n_samples], dtype=dtype)
    final = np.asarray(ys[-1], dtype=dtype)
    info = {
        "solver": "scipy",
        "method": method,
        "nfev": int(sol.nfev),
        "njev": int(sol.njev),
        "path": "scipy",
        "jacobian": "jac" in kwargs,
    }
    return Trajectory(sample_times, states, final, info)


# --------------------------------------------------------------------------- delays

#: Distinct stage times (offset in steps, whether the stage computes f_n) of each method.
_STAGES = {name: TABLEAUX[name].stage_times() for name in ("euler", "heun", "rk4")}


def _delay_setup(
    function: EmittedFunction, problem: Problem, y0: np.ndarray, scalar: bool, args: Any
) -> tuple[Connections, PreHistory]:
    history = problem.history
    if history is not None and not callable(history):
        raise SolverError("Problem.history must be a function of t returning the state vector")
    grid = problem.grid_delays
    conns = Connections(function.system, problem.params, y0.dtype, scalar, grid)
    vector = HistoryVector(function, args, y0.dtype)
    return conns, PreHistory(history, y0, conns, vector, float(problem.t0))


def ring_history(
    method: str, function: EmittedFunction, problem: Problem, inputs: StepInputs, y0: np.ndarray
) -> tuple[Connections, PreHistory, RingHistory]:
    """The history of a fixed-step run with delays whose stages are those of ``method``
    (euler, heun or rk4), with left-side slopes where an input row changes and reaches a
    delayed variable; used by the ODE loop and the SDE methods (rates_numpy.sde)."""
    scalar = bool(function.extras.get("scalar"))
    conns, pre = _delay_setup(function, problem, y0, scalar, inputs.args)
    jumps = (
        input_jumps([rows for _, _, rows in inputs.slots], problem.n_steps)
        if input_driven_slopes(function.system)
        else ()
    )
    t0, dt = float(problem.t0), float(problem.step_size)
    hist = RingHistory(conns, pre, t0, dt, _STAGES[method], jumps, problem.grid_delays)
    return conns, pre, hist


def _fixed_delayed(
    solver: str, function: EmittedFunction, problem: Problem, progress: Progress
) -> Trajectory:
    """euler / heun / rk4 with delayed reads: the vector loop plus a :class:`RingHistory`.

    Row n of the history is written once per step: ``y_n`` when step n starts and ``f_n``
    (= k1) right after the first stage; where an input row changes at step n and the input
    enters the derivative of a delayed variable, also the left-side derivative (the field with
    row n - 1, same state and delayed values). rk4's two
    middle stages read at the same time, so their delayed values are read once (zero delays
    are refreshed from the stage state).
    """
    _times, n_steps, every = step_grid(problem)
    scalar = bool(function.extras.get("scalar"))
    inputs = StepInputs(function, problem, scalar_args=scalar)
    args = inputs.args
    rows = inputs.fixed_rows(n_steps)
    dtype = state_dtype(function)
    y = np.array(problem.y0, dtype=dtype).reshape(-1)
    samples = SampleRows(problem, y)
    rhs = function.rhs
    t0, dt = float(problem.t0), float(problem.step_size)
    conns, pre, hist = ring_history(solver, function, problem, inputs, y)
    at_samples = DelayedRows.of(problem)
    left_steps = hist.left_steps
    delayed = conns.arguments

    set_row = functools.partial(inputs.write_row, rows)

    k1 = np.empty_like(y)
    k2 = np.empty_like(y)
    k3 = np.empty_like(y)
    k4 = np.empty_like(y)
    tmp = np.empty_like(y)
    dt2, dt6 = 0.5 * dt, dt / 6.0

    left = problem.n_samples - 1
    j = every
    ends = progress.chunk_ends(n_steps)
    report = ends.pop(0) if progress.enabled else -1
    for k in range(n_steps):
        if k == report:
            progress(t0 + k * dt)
            report = ends.pop(0) if ends else -1
        t = t0 + k * dt
        set_row(k)
        hist.begin_step(k, y)
        hist.read(0, k, y)
        if k == at_samples.next:
            at_samples.take(conns.values)
        rhs(t, y, k1, *delayed(), *args)
        hist.end_first_stage(k, y, k1)
        if k in left_steps:  # the input jumps at t: the slope before it, with row k - 1
            set_row(k - 1)
            rhs(t, y, k2, *delayed(), *args)
            hist.set_left(k, y, k2)
            set_row(k)
        if solver == "euler":
            k1 *= dt
            y += k1
        elif solver == "heun":
            np.multiply(k1, dt, out=tmp)
            tmp += y
            hist.read(1, k, tmp)
            rhs(t + dt, tmp, k2, *delayed(), *args)
            k1 += k2
            k1 *= dt2
            y += k1
        else:
            np.multiply(k1, dt2, out=tmp)
            tmp += y
            hist.read(1, k, tmp)
            rhs(t + dt2, tmp, k2, *delayed(), *args)
            np.multiply(k2, dt2, out=tmp)
            tmp += y
            hist.set_zero(1, k, tmp)  # same read time as stage 2: only zero delays change
            rhs(t + dt2, tmp, k3, *delayed(), *args)
            np.multiply(k3, dt, out=tmp)
            tmp += y
            hist.read(2, k, tmp)
            rhs(t + dt, tmp, k4, *delayed(), *args)
            k1 += k4
            k2 += k3
            k2 *= 2.0
            k1 += k2
            k1 *= dt6
            y += k1
        j -= 1
        if j == 0:
            j = every
            if left > 0:
                samples.add(y)
                left -= 1
    info = {
        "solver": solver,
        "path": "vector-delay",
        "n_steps": n_steps,
        "history_rows": hist.rows,
        "history_interpolation": "hermite" if hist.hermite else "direct",
        "n_delayed": conns.size,
    }
    if left_steps:
        info["history_left_slopes"] = len(left_steps)
    if pre.calls:
        info["history_calls"] = pre.calls
    times, states, streamed = samples.finish()
    info.update(streamed)
    last_read(hist, at_samples, n_steps, y)
    return Trajectory(times, states, y.copy(), info, delayed=at_samples.rows)


def last_read(hist: RingHistory, at_samples: DelayedRows, n_steps: int, y: np.ndarray) -> None:
    """The delayed reads of a sample at the end of the run (step ``n_steps``), after the loop:
    the state there is the last row of the history."""
    if at_samples.next == n_steps:
        hist.begin_step(n_steps, y)
        at_samples.take(hist.read(0, n_steps, y))


def _solve_scipy_dde(function: EmittedFunction, problem: Problem, progress: Progress) -> Trajectory:
    """``scipy`` for delay systems: the method of steps with dense output.

    The run is cut into segments whose ends are the propagated discontinuities of the initial
    history (``t0`` plus sums of up to p delays, p the method's order - 3, 5 or 8 -, at most
    :data:`~rates_numpy.history.MAX_BREAKPOINTS`) and which are never longer than the smallest
    positive delay, so every delayed read inside a segment falls into an earlier segment (read
    from its ``solve_ivp`` dense output) or the pre-history. Each segment is one
    ``solve_ivp(..., dense_output=True)`` call, started from the end of the previous one;
    there are no events. The accuracy follows ``rtol`` / ``atol`` and the order of the
    method's dense-output interpolant (RK23: 3, RK45: 4, DOP853: 7; Radau, BDF and LSODA their
    own), since delayed values are read from it.
    """
    from scipy.integrate import solve_ivp

    (method, options, scalar, args, interpolants, dtype, y0, t0, t_end, sample_times) = (
        _scipy_setup(function, problem)
    )
    work_dtype = np.result_type(y0.dtype, np.float64)
    conns, pre = _delay_setup(function, problem, y0.astype(work_dtype), scalar, args)
    hist = SegmentHistory(conns, pre, t0)
    delayed = conns.arguments
    rhs = function.rhs

    def set_inputs(t: float) -> None:
        _set_inputs(t, interpolants, args, scalar)

    guard = DerivativeGuard(function.system, SCIPY_SOLVER)

    def fun(t: float, y: np.ndarray) -> np.ndarray:
        if interpolants:
            set_inputs(t)
        hist.read(t, y)
        dy = np.empty(y.shape, dtype=np.result_type(y.dtype, work_dtype))
        rhs(t, y, dy, *delayed(), *args)
        guard(t, dy)
        return dy

    kwargs: dict[str, Any] = dict(options)
    if function.jacobian is not None and method in _IMPLICIT:
        jac_fn = function.jacobian

        def jac(t: float, y: np.ndarray) -> np.ndarray:
            if interpolants:
                set_inputs(t)
            hist.read(t, y)
            return jac_fn(t, y, *delayed(), *args)

        kwargs["jac"] = jac
    info: dict[str, Any] = {
        "solver": "scipy",
        "method": method,
        "path": "scipy-dde",
        "jacobian": "jac" in kwargs,
        "n_delayed": conns.size,
    }
    if t_end == t0:
        states = np.repeat(y0[None, :], problem.n_samples, axis=0)
        info.update(nfev=0, njev=0, n_segments=0, n_breakpoints=0)
        reads = _SampleReads(problem, hist, sample_times, states)
        reads.upto(problem.n_samples)
        return Trajectory(sample_times, states, y0.copy(), info, delayed=reads.rows)
    guard.initial(t0, fun(t0, y0.astype(work_dtype)))
    levels = BREAKPOINT_LEVELS.get(method, DEFAULT_BREAKPOINT_LEVELS)
    marks = breakpoints(conns.tau, t0, t_end, levels=levels)
    ends = segment_ends(t0, t_end, marks, conns.min_tau)
    first_step = kwargs.pop("first_step", None)
    states = np.empty((problem.n_samples, y0.size), dtype=dtype)
    states[0] = y0
    filled = 1
    at_samples = _SampleReads(problem, hist, sample_times, states)
    at_samples.upto(1)
    y = y0.astype(work_dtype)
    a = t0
    nfev = njev = 0
    report_marks = np.linspace(t0, t_end, PROGRESS_CHUNKS + 1)[1:]
    next_report = 0
    for b in ends.tolist():
        if first_step is not None:
            kwargs["first_step"] = min(float(first_step), b - a)
        try:
            sol = solve_ivp(fun, (a, b), y, method=method, dense_output=True, **kwargs)
        except (TypeError, ValueError) as exc:
            if isinstance(exc, FLOAT_ERRORS) and function.extras.get("vector_fallback"):
                raise
            raise SolverError(f"solver 'scipy' ({method}): {exc}") from exc
        if not sol.success:
            raise SolverError(f"solver 'scipy' ({method}) failed at t={sol.t[-1]}: {sol.message}")
        nfev += int(sol.nfev)
        njev += int(sol.njev)
        hist.add(a, b, sol.sol)
        last = b == ends[-1]
        stop = problem.n_samples if last else int(np.searchsorted(sample_times, b, side="right"))
        if stop > filled:
            states[filled:stop] = sol.sol(np.minimum(sample_times[filled:stop], b)).T
            filled = stop
            at_samples.upto(stop)
        y = sol.y[:, -1].copy()
        a = b
        hist.drop_before(b - conns.max_tau)
        if progress.enabled and next_report < report_marks.size and b >= report_marks[next_report]:
            progress(b)
            next_report = int(np.searchsorted(report_marks, b, side="right"))
    info.update(
        nfev=nfev,
        njev=njev,
        n_segments=len(ends),
        n_breakpoints=len(marks),
        segments_kept=hist.max_segments_kept,
    )
    if pre.calls:
        info["history_calls"] = pre.calls
    final = np.asarray(y, dtype=dtype)
    return Trajectory(sample_times, states, final, info, delayed=at_samples.rows)


class _SampleReads:
    """``scipy`` with ``Problem.delayed_samples``: the delayed reads at each sample time, read
    from the history once the segment holding the sample is finished (all the reads fall into
    finished segments or the pre-history)."""

    def __init__(
        self, problem: Problem, hist: SegmentHistory, times: np.ndarray, states: np.ndarray
    ) -> None:
        self.hist, self.times, self.states = hist, times, states
        self.rows: np.ndarray | None = None
        if problem.delayed_samples:
            self.rows = np.zeros((len(times), hist.conns.size), dtype=hist.conns.dtype)
        self.done = 0

    def upto(self, stop: int) -> None:
        """Read at the samples before ``stop``."""
        if self.rows is None:
            return
        for k in range(self.done, stop):
            self.rows[k] = self.hist.read(float(self.times[k]), self.states[k])
        self.done = max(self.done, stop)
