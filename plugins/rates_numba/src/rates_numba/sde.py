"""The SDE methods of rates-numba: Euler-Maruyama and stochastic Heun, whole runs compiled.

A model with white noise ``xi()`` arrives as the drift's emitted function, carrying the
diffusion's in ``extras["diffusion"]`` and the noisy state positions in
``extras["noise_sources"]`` (:func:`rates_core.noise.emit`). The step loop is a small generated
module of its own (:func:`rates_numba.emit.sde_module`) calling both compiled fields. The
methods and their numbers are rates-numpy's (:mod:`rates_numpy.sde`): the Wiener increments are
``sqrt(dt)`` times standard normal samples drawn from ``numpy.random.default_rng(seed)`` in
step order, one per noise source and step (or taken from ``Problem.wiener_increments``), so
rates-numpy and rates-numba integrate the same paths for the same seed. They are drawn here,
a block of steps at a time (memory stays bounded), and handed to the compiled loop.

Without noise, they are the deterministic ``euler`` and ``heun``. Delays (capability
``sde_delays``): the history of the fixed-step loops with the stages of ``euler`` / ``heun``,
its derivative rows the drift, as rates-numpy keeps it (a read between grid points is the
cubic Hermite interpolant of the neighbouring states and drifts, see :mod:`rates_numpy.sde`).
"""

from __future__ import annotations

import time

import numpy as np

from rates_core.backend import EmittedFunction, Problem, Trajectory
from rates_core.errors import SolverError
from rates_core.noise import WienerIncrements, solve_without_noise
from rates_numba import BACKEND
from rates_numba.emit import SDE_METHODS, SDE_STAGES, sde_module
from rates_numba.solvers import delay_arguments, fixed_step_arguments, seed_random
from rates_numba.solvers import solve as solve_ode

__all__ = ["solve"]


def solve(solver: str, function: EmittedFunction, problem: Problem) -> Trajectory:
    """Integrate ``problem`` with ``solver`` (``numba_euler_maruyama`` or
    ``numba_heun_stochastic``)."""
    method = solver.removeprefix(f"{BACKEND}_")
    if method not in SDE_METHODS:
        raise SolverError(f"rates-numba has no SDE solver {solver!r}")
    ode = f"{BACKEND}_{SDE_STAGES[method]}"
    plain = solve_without_noise(solver, function, problem, solve_ode, ode)
    if plain is not None:
        return plain
    diffusion: EmittedFunction = function.extras["diffusion"]
    system = function.system
    problem.check(system, solver, fixed_step=True, options=())
    sources = np.asarray(function.extras["noise_sources"], dtype=np.int64)
    increments = WienerIncrements(problem, sources.size)
    if function.extras.get("random", True) or diffusion.extras.get("random", True):
        seed_random(problem)  # randn() in the fields: numba's own generator
    loop = getattr(sde_module(function, diffusion, method), f"run_{method}_")
    y, samples, params = fixed_step_arguments(function, problem)
    stages = SDE_STAGES[method]
    delays = delay_arguments(function, problem, stages, y, params) if system.delayed else []
    t0, dt, every = float(problem.t0), float(problem.step_size), problem.sample_every
    seconds = 0.0
    with problem.progress_bar(solver) as bar:
        # the progress chunks, cut into blocks of increments drawn at once
        ends = sorted({*bar.chunk_ends(problem.n_steps), *_block_ends(problem, increments)})
        for k0, k1, out, row0 in samples.chunks(ends):
            dw = increments.rows(k0, k1)
            start = time.perf_counter()
            loop(t0, dt, k0, k1, every, y, out, row0, dw, sources, *delays, *params)
            seconds += time.perf_counter() - start
            bar(t0 + k1 * dt)
    times, states, streamed = samples.finish()
    info = {
        "solver": solver,
        "path": "sde",
        "n_steps": problem.n_steps,
        "noise_sources": int(sources.size),
        "loop_seconds": seconds,
        **streamed,
    }
    return Trajectory(times, states, y.copy(), info)


def _block_ends(problem: Problem, increments: WienerIncrements) -> range:
    """Every ``increments.block_rows``-th step: the loop gets at most that many increments."""
    return range(increments.block_rows, problem.n_steps, increments.block_rows)
