"""The SDE methods of rates-numpy: Euler-Maruyama and stochastic Heun.

A model with white noise ``xi()`` reaches this module as the drift's generated code, carrying
the diffusion's in ``extras["diffusion"]`` and the noisy state positions in
``extras["noise_sources"]`` (:func:`rates_core.noise.emit`). Each step draws one standard normal
sample per noise source; the Wiener increments are ``sqrt(dt)`` times those samples, drawn from
``numpy.random.default_rng(seed)`` in step order (or taken from ``Problem.wiener_increments``).

* ``euler_maruyama`` (Ito, strong order 0.5, weak order 1; strong order 1 for additive noise):
  ``y += f(t, y) dt + g(t, y) dW``.
* ``heun_stochastic`` (converges to the Stratonovich solution; for additive noise, where Ito and
  Stratonovich agree, strong order 1): the predictor ``p = y + f(t, y) dt + g(t, y) dW``, then
  ``y += (f(t, y) + f(t + dt, p)) dt / 2 + (g(t, y) + g(t + dt, p)) dW / 2``.

Without noise they are the deterministic ``euler`` and ``heun`` (the same code runs). Extrinsic
inputs: row k for the whole step from ``t0 + k * dt``, as for the fixed-step ODE solvers.

Delays (capability ``sde_delays``): the history is kept as by the fixed-step ODE methods
(:class:`rates_numpy.history.RingHistory`, with the stages of ``euler`` / ``heun``): row n holds
the accepted state ``y_n`` and the *drift* ``f(t_n, y_n)`` as its derivative. A delay that is a
whole number of steps reads the stored states themselves (exact: the delayed value is the
state the method computed at ``t - tau``). A read between grid points takes the cubic Hermite
interpolant of the two neighbouring states and their drifts: a smooth curve through the
computed points, not a sample of the Brownian bridge between them; its error is of the order
of the noise over one step (``g sqrt(dt)``), the strong order of Euler-Maruyama. Choose delays
on whole steps where the delayed path itself matters.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from rates_core.backend import (
    DelayedRows,
    EmittedFunction,
    Problem,
    Progress,
    SampleRows,
    Trajectory,
)
from rates_core.errors import SolverError
from rates_core.noise import WienerIncrements, every_position_in_order, solve_without_noise
from rates_numpy import SDE_SOLVERS
from rates_numpy.solvers import FLOAT_ERRORS, StepInputs, last_read, ring_history, state_dtype
from rates_numpy.solvers import solve as solve_ode

__all__ = ["solve"]

#: The ODE method each SDE method is without noise.
_DETERMINISTIC = {"euler_maruyama": "euler", "heun_stochastic": "heun"}


def solve(solver: str, function: EmittedFunction, problem: Problem) -> Trajectory:
    """Integrate ``problem`` with ``solver`` (euler_maruyama or heun_stochastic)."""
    if solver not in SDE_SOLVERS:
        raise SolverError(f"rates-numpy has no SDE solver {solver!r}")
    plain = solve_without_noise(solver, function, problem, solve_ode, _DETERMINISTIC[solver])
    if plain is not None:
        return plain
    diffusion = function.extras["diffusion"]
    problem.check(function.system, solver, fixed_step=True, options=())
    sources = np.asarray(function.extras["noise_sources"], dtype=np.int64)
    _seed_randn(function, diffusion, problem.seed)
    increments = WienerIncrements(problem, sources.size)
    with problem.progress_bar(desc=f"{function.system.name} ({solver})") as progress:
        try:
            return _integrate(solver, function, diffusion, sources, increments, problem, progress)
        except FLOAT_ERRORS:
            drift_fallback = function.extras.get("vector_fallback")
            noise_fallback = diffusion.extras.get("vector_fallback")
            if drift_fallback is None or noise_fallback is None:
                raise
            # plain floats raise where NumPy gives inf / nan: rerun with NumPy semantics
            progress.restart()
            with np.errstate(all="ignore"):
                traj = _integrate(
                    solver,
                    drift_fallback(),
                    noise_fallback(),
                    sources,
                    WienerIncrements(problem, sources.size),
                    problem,
                    progress,
                )
            traj.info["fallback"] = "vector"
            return traj


def _seed_randn(function: EmittedFunction, diffusion: EmittedFunction, seed: Any) -> None:
    """``randn()`` in the drift or diffusion draws from a stream of its own, spawned from
    ``seed``, never from the Wiener increments' stream (which ``default_rng(seed)`` is)."""
    stream = np.random.default_rng(np.random.SeedSequence(seed).spawn(1)[0])
    for emitted in (function, diffusion):
        module = emitted.extras.get("module")
        if module is not None and hasattr(module, "rng_"):
            module.rng_ = stream


def _integrate(
    solver: str,
    function: EmittedFunction,
    diffusion: EmittedFunction,
    sources: np.ndarray,
    increments: WienerIncrements,
    problem: Problem,
    progress: Progress,
) -> Trajectory:
    """The step loop of both methods (one vector-field call of drift and diffusion per stage).

    With delays, a :class:`~rates_numpy.history.RingHistory` as the ODE methods keep it (the
    stages of euler / heun), its derivative rows the drift: drift and diffusion read the same
    delayed values at each stage."""
    n_steps, every = problem.n_steps, problem.sample_every
    scalar = bool(function.extras.get("scalar"))
    inputs = StepInputs(function, problem, scalar_args=scalar)
    args = inputs.args
    rows = inputs.fixed_rows(n_steps)
    dtype = state_dtype(function)
    y = np.array(problem.y0, dtype=dtype).reshape(-1)
    samples = SampleRows(problem, y)
    f, g = function.rhs, diffusion.rhs
    t0, dt = float(problem.t0), float(problem.step_size)
    f1, f2, g1, g2, tmp = (np.empty_like(y) for _ in range(5))
    everywhere = every_position_in_order(sources, y.size)
    heun = solver == "heun_stochastic"
    hist = None
    at_samples = DelayedRows.of(problem)
    if function.system.delayed:
        conns, _pre, hist = ring_history(_DETERMINISTIC[solver], function, problem, inputs, y)
        delayed = conns.arguments

    set_row = functools.partial(inputs.write_row, rows)

    d: Any = ()
    left, j = problem.n_samples - 1, every
    ends = progress.chunk_ends(n_steps)
    report = ends.pop(0) if progress.enabled else -1
    for k in range(n_steps):
        if k == report:
            progress(t0 + k * dt)
            report = ends.pop(0) if ends else -1
        t = t0 + k * dt
        set_row(k)
        dw = increments(k)
        if hist is not None:
            hist.begin_step(k, y)
            hist.read(0, k, y)
            if k == at_samples.next:
                at_samples.take(conns.values)
            d = delayed()
        f(t, y, f1, *d, *args)
        g(t, y, g1, *d, *args)
        if hist is not None:
            hist.end_first_stage(k, y, f1)
            if k in hist.left_steps:  # the input jumps at t: the drift before it, row k - 1
                set_row(k - 1)
                f(t, y, f2, *d, *args)
                hist.set_left(k, y, f2)
                set_row(k)
        _noise_term(g1, dw, sources, everywhere)
        if heun:
            np.multiply(f1, dt, out=tmp)
            tmp += y
            tmp += g1
            if hist is not None:
                hist.read(1, k, tmp)
                d = delayed()
            f(t + dt, tmp, f2, *d, *args)
            g(t + dt, tmp, g2, *d, *args)
            _noise_term(g2, dw, sources, everywhere)
            f1 += f2
            f1 *= 0.5 * dt
            g1 += g2
            g1 *= 0.5
        else:
            f1 *= dt
        y += f1
        y += g1
        j -= 1
        if j == 0:
            j = every
            if left > 0:
                samples.add(y)
                left -= 1
    info = {"solver": solver, "path": "sde", "n_steps": n_steps, "noise_sources": sources.size}
    if hist is not None:
        info.update(
            history_rows=hist.rows,
            history_interpolation="hermite" if hist.hermite else "direct",
            n_delayed=hist.conns.size,
        )
    times, states, streamed = samples.finish()
    info.update(streamed)
    if hist is not None:
        last_read(hist, at_samples, n_steps, y)
    return Trajectory(times, states, y.copy(), info, delayed=at_samples.rows)


def _noise_term(g: np.ndarray, dw: np.ndarray, sources: np.ndarray, everywhere: bool) -> None:
    """``g *= dW`` in place, at the noise sources (g is 0 elsewhere)."""
    if everywhere:
        g *= dw
    else:
        g[sources] *= dw
