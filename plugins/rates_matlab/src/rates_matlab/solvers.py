"""Whole-run integrations inside MATLAB / Octave: one call of a generated driver per run.

* ``matlab_euler``, ``matlab_heun``, ``matlab_rk4``: ``<field>_fixed.m`` (delays included: the
  history is a ring buffer inside the loop). Input arrays have one row per step; row k is used
  for every stage of the step from ``t0 + k * dt``. ``seed`` seeds ``randn`` (``rng(seed)``).
* ``ode45``, ``ode23``, ``ode15s``: ``<field>_adaptive.m``; input rows are interpolated
  linearly at ``Problem.input_times``. Options: ``rtol``, ``atol``, ``max_step``,
  ``first_step`` (odeset's RelTol, AbsTol, MaxStep, InitialStep).
* ``dde23`` (MATLAB only): ``<field>_dde23_run.m``; the pre-history is the initial state or
  the ``history`` function sampled every half step (interpolated linearly, as the fixed-step
  loops do).

Time sampling follows rates-numpy (PyRates): rows at ``t0 + k * sampling_step`` for
``k = 0 .. n_samples - 1``, row 0 the initial state.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from rates_core.backend import (
    ADAPTIVE_ATOL,
    ADAPTIVE_RTOL,
    EmittedFunction,
    Problem,
    Trajectory,
    input_rows,
    nonfinite_derivative,
)
from rates_core.errors import SolverError
from rates_matlab import ADAPTIVE_SOLVERS, DDE_SOLVER, FIXED_METHODS, FIXED_SOLVERS
from rates_matlab.runtime import get_session, to_matlab

__all__ = ["ADAPTIVE_OPTIONS", "solve"]

#: Options of the adaptive solvers and their odeset names.
ADAPTIVE_OPTIONS = {
    "rtol": "RelTol",
    "atol": "AbsTol",
    "max_step": "MaxStep",
    "first_step": "InitialStep",
}

_EMPTY = np.zeros((0, 0))


def solve(solver: str, function: EmittedFunction, problem: Problem) -> Trajectory:
    """Integrate ``problem`` with ``solver`` in one MATLAB / Octave call."""
    if solver not in FIXED_SOLVERS + ADAPTIVE_SOLVERS + (DDE_SOLVER,):
        raise SolverError(f"rates-matlab has no solver {solver!r}")
    code = function.extras.get("code")
    if code is None:
        raise SolverError("this function was emitted for export (standalone) and cannot be run")
    _check(solver, function, problem)
    session = get_session()
    from rates_matlab.emit import install_code

    session.addpath(install_code(code))  # damaged or swapped files rewritten before running
    with problem.progress_bar(desc=f"{function.system.name} ({solver}, {session.kind})"):
        if solver in FIXED_SOLVERS:
            return _fixed(solver, function, problem, session)
        if function.system.delayed and solver != DDE_SOLVER:
            raise SolverError(
                f"solver {solver!r} does not integrate delay equations; use matlab_euler, "
                "matlab_heun or matlab_rk4 (generated loops with the history), dde23 in MATLAB, or "
                "delay_approximation=n"
            )
        if solver == DDE_SOLVER and not session.exists("dde23"):
            raise SolverError(f"{session.kind} has no dde23; use matlab_rk4")
        if solver == "ode15s" and not session.exists("ode15s"):
            raise SolverError(f"{session.kind} has no ode15s (Octave needs SUNDIALS)")
        return _adaptive(solver, function, problem, session)


# --------------------------------------------------------------------------- checks


def _check(solver: str, function: EmittedFunction, problem: Problem) -> None:
    allowed = () if solver in FIXED_SOLVERS else tuple(ADAPTIVE_OPTIONS)
    problem.check(function.system, solver, fixed_step=solver in FIXED_SOLVERS, options=allowed)


# --------------------------------------------------------------------------- arguments


def _rows(system: Any, name: str, series: Any, size: int) -> np.ndarray:
    """``series`` as a 2-D float array with one row per time and ``size`` columns."""
    rows = input_rows(system, name, series, (size,))
    return rows.astype(np.result_type(rows.dtype, np.float64))


def _arguments(function: EmittedFunction, problem: Problem) -> tuple[list, list, list]:
    """(parameter values, 1-based input slots, input row arrays)."""
    system = function.system
    params, slots, rows = [], [], []
    for i, (p, value) in enumerate(zip(system.params, problem.params)):
        params.append(to_matlab(value, p.role))
        given = problem.inputs.get(p.name) if p.role == "input" else None
        if given is not None:
            slots.append(float(i + 1))
            rows.append(_rows(system, p.name, given, max(int(np.size(value)), 1)))
    return params, slots, rows


def _slots(slots: list[float]) -> Any:
    """The input slots as a numeric column (a Python list would be a cell in matlab.engine)."""
    return to_matlab(np.asarray(slots, dtype=float)) if slots else _EMPTY


def _states(result: Any, n_samples: int, n: int, dtype: Any) -> np.ndarray:
    arr = np.asarray(result)
    if arr.size != n_samples * n:
        raise SolverError(f"the driver returned {arr.size} values, expected {n_samples} x {n}")
    return arr.reshape(n_samples, n).astype(dtype)


def _dtype(function: EmittedFunction, y0: np.ndarray) -> np.dtype:
    return np.result_type(np.dtype(function.system.dtype), y0.dtype)


def _max_delay(function: EmittedFunction, problem: Problem) -> float:
    system = function.system
    values = {p.name: v for p, v in zip(system.params, problem.params)}
    taus = [
        float(np.max(np.asarray(values[d.tau], dtype=float))) if isinstance(d.tau, str) else d.tau
        for d in system.delayed
    ]
    return max([0.0, *taus])


def _pre_history(function: EmittedFunction, problem: Problem) -> Any:
    """The pre-history table of the drivers: values and slopes at ``t0 - j * dt / 2``, read by
    cubic Hermite interpolation."""
    if problem.history is None or not function.system.delayed:
        return _EMPTY
    if not callable(problem.history):
        raise SolverError("Problem.history must be a function of t returning the state vector")
    step = 0.5 * problem.step_size
    count = int(math.ceil(_max_delay(function, problem) / step)) + 3
    times = problem.t0 - step * np.arange(count)
    times[0] = problem.t0 - 1e-12 * max(step, 1.0)  # the history's limit at t0
    values, slopes = problem.history_samples(times)
    return {"step": step, "values": to_matlab(values), "slopes": to_matlab(slopes)}


# --------------------------------------------------------------------------- solvers


def _fixed(solver: str, function: EmittedFunction, problem: Problem, session: Any) -> Trajectory:
    code = function.extras["code"]
    params, slots, rows = _arguments(function, problem)
    n_steps = problem.n_steps
    every = problem.sample_every
    for k, r in enumerate(rows):
        if r.shape[0] == 1 and n_steps > 1:
            rows[k] = np.repeat(r, n_steps, axis=0)
        elif r.shape[0] < n_steps:
            raise SolverError(
                f"an input has {r.shape[0]} rows, the integration {n_steps} steps "
                "(fixed-step inputs need one row per step)"
            )
        else:
            rows[k] = r[:n_steps]
    y0 = np.asarray(problem.y0).reshape(-1)
    dtype = _dtype(function, y0)
    seed = _EMPTY if problem.seed is None else float(problem.seed)
    out, y_end = session.call(
        code.name("_fixed"),
        FIXED_METHODS[solver],
        float(problem.t0),
        to_matlab(y0.astype(dtype)),
        float(problem.step_size),
        float(n_steps),
        float(every),
        float(problem.n_samples),
        session.cell(params),
        _slots(slots),
        session.cell(rows),
        seed,
        _pre_history(function, problem),
        bool(problem.grid_delays),
        nout=2,
    )
    n = y0.size
    times = problem.t0 + np.arange(problem.n_samples) * problem.sampling_step
    states = _states(out, problem.n_samples, n, dtype)
    final = _states(y_end, 1, n, dtype)[0]
    info = {"solver": solver, "path": "matlab-loop", "runtime": session.kind, "n_steps": n_steps}
    if function.system.delayed:
        info["path"] = "matlab-loop-delay"
    return Trajectory(times, states, final, info)


def _adaptive(solver: str, function: EmittedFunction, problem: Problem, session: Any) -> Trajectory:
    code = function.extras["code"]
    params, slots, rows = _arguments(function, problem)
    options: list[Any] = []
    chosen = {"rtol": ADAPTIVE_RTOL, "atol": ADAPTIVE_ATOL, **(problem.options or {})}
    for key, value in chosen.items():  # default tolerances tighter than odeset's 1e-3 / 1e-6
        options += [ADAPTIVE_OPTIONS[key], float(value)]
    y0 = np.asarray(problem.y0).reshape(-1)
    dtype = _dtype(function, y0)
    t0 = float(problem.t0)
    t_end, sample_times = problem.sample_grid()
    input_times = problem.input_times
    if rows and input_times is None:
        input_times = t0 + np.arange(rows[0].shape[0]) * problem.step_size
    for r in rows:
        if input_times is not None and r.shape[0] not in (1, len(input_times)):
            raise SolverError(
                f"input_times has {len(input_times)} entries but an input has {r.shape[0]} rows"
            )
    times_arg = to_matlab(np.asarray(input_times, dtype=float)) if rows else _EMPTY
    if solver == DDE_SOLVER:
        name, first, last = code.name("_dde23_run"), [], [_pre_history(function, problem)]
    else:
        name, first, last = code.name("_adaptive"), [solver], []
    out, y_end = session.call(
        name,
        *first,
        t0,
        t_end,
        to_matlab(y0.astype(dtype)),
        to_matlab(np.minimum(sample_times, t_end)),
        session.cell(options),
        session.cell(params),
        _slots(slots),
        times_arg,
        session.cell(rows),
        *last,
        nout=2,
    )
    n = y0.size
    if np.size(out) == 0:  # the driver found a non-finite derivative at t0 (y_end holds it)
        dy0 = np.asarray(y_end).reshape(-1)
        raise nonfinite_derivative(function.system, solver, t0, dy0) or SolverError(
            f"{solver}: the driver returned no samples"
        )
    states = _states(out, problem.n_samples, n, dtype)
    final = _states(y_end, 1, n, dtype)[0]
    info = {"solver": solver, "path": "matlab-ode", "runtime": session.kind}
    return Trajectory(sample_times, states, final, info)
