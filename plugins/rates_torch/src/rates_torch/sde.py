"""The SDE methods of rates-torch: ``torch_euler_maruyama`` and ``torch_heun_stochastic``.

The same methods as rates-numpy's (:mod:`rates_numpy.sde`), written in torch: the drift's
generated code carries the diffusion's in ``extras["diffusion"]`` and the noisy state
positions in ``extras["noise_sources"]`` (:func:`rates_core.noise.emit`). Each step draws one
standard normal sample per noise source (and batch member) from a ``torch.Generator`` seeded
with ``seed`` (so a seed gives other numbers than in rates-numpy; given ``wiener_increments``
give the same to rounding). Nothing is updated in place: a run is differentiable.

Without noise they are ``torch_euler`` and ``torch_heun``. Delays (``sde_delays``): the
history of the fixed-step ODE methods, with the drift as its derivative rows; reads between
grid points are cubic Hermite interpolants of states and drifts, as in rates-numpy
(:mod:`rates_numpy.sde` says what that means for a stochastic path).
"""

from __future__ import annotations

import math
from typing import Any

from rates_core.backend import DelayedRows, EmittedFunction, Problem, Progress, Trajectory
from rates_core.errors import SolverError
from rates_core.noise import every_position_in_order, given_increments, solve_without_noise
from rates_torch import SDE_SOLVERS

__all__ = ["solve"]

#: The ODE solver each SDE solver is without noise.
_DETERMINISTIC = {"torch_euler_maruyama": "torch_euler", "torch_heun_stochastic": "torch_heun"}


def solve(solver: str, function: EmittedFunction, problem: Problem) -> Trajectory:
    """Integrate ``problem`` with ``solver`` (torch_euler_maruyama or torch_heun_stochastic)."""
    import numpy as np
    import torch

    from rates_torch.solvers import prepare
    from rates_torch.solvers import solve as solve_ode

    if solver not in SDE_SOLVERS:
        raise SolverError(f"rates-torch has no SDE solver {solver!r}")
    plain = solve_without_noise(solver, function, problem, solve_ode, _DETERMINISTIC[solver])
    if plain is not None:
        return plain
    diffusion = function.extras["diffusion"]
    problem.check(function.system, solver, fixed_step=True, options=("device",))
    run = prepare(function, problem, dict(problem.options or {}))
    _seed_randn(run, diffusion, problem.seed)
    sources = torch.as_tensor(
        np.asarray(function.extras["noise_sources"], dtype=np.int64), device=run.y0.device
    )
    draw = _increments(problem, run, int(sources.numel()))
    with problem.progress_bar(desc=f"{function.system.name} ({solver})") as progress:
        grad = run.y0.requires_grad or any(getattr(a, "requires_grad", False) for a in run.args)
        with torch.set_grad_enabled(grad):
            states, final, extra = _integrate(solver, run, diffusion, sources, draw, progress)
    n_times = 0 if extra.get("streamed") else problem.n_samples
    times = problem.t0 + np.arange(n_times) * problem.sampling_step
    info = {
        "solver": solver,
        "path": "torch-sde",
        "n_steps": run.n_steps,
        "noise_sources": int(sources.numel()),
        "device": str(run.y0.device),
        **extra,
    }
    delayed = info.pop("delayed", None)
    states_np, final_np = states.detach().cpu().numpy(), final.detach().cpu().numpy()
    return Trajectory(times, states_np, final_np, info, delayed=delayed)


def _seed_randn(run: Any, diffusion: EmittedFunction, seed: Any) -> None:
    """``randn()`` in the drift or diffusion draws from a generator of its own, seeded from
    ``seed`` through ``numpy.random.SeedSequence``, never from the Wiener increments'."""
    import numpy as np
    import torch

    for emitted in (run.function, diffusion):
        module = emitted.extras["module"]
        if "randn_" not in vars(module):
            continue
        generator = torch.Generator(device=run.y0.device)
        if seed is None:
            generator.seed()
        else:
            generator.manual_seed(int(np.random.SeedSequence(seed).generate_state(1)[0]))
        module.rng_ = generator


def _increments(problem: Problem, run: Any, n_sources: int) -> Any:
    """``draw(k)``: the Wiener increments of step k (given rows, or drawn from the seed)."""
    import torch

    real = run.function.extras["module"].REAL_
    device = run.y0.device
    rows = given_increments(problem.wiener_increments, run.n_steps, n_sources)
    if rows is not None:
        table = torch.as_tensor(rows, device=device).to(real)
        return lambda k: table[k]
    generator = torch.Generator(device=device)
    if problem.seed is not None:
        generator.manual_seed(int(problem.seed))
    else:
        generator.seed()
    shape = (*run.batch, n_sources)
    scale = math.sqrt(run.dt)
    return lambda k: torch.randn(shape, generator=generator, device=device, dtype=real) * scale


def _integrate(
    solver: str, run: Any, diffusion: EmittedFunction, sources: Any, draw: Any, progress: Progress
) -> tuple[Any, Any, dict[str, Any]]:
    """The step loop of both methods: (samples ``(n_samples, *batch, n)``, final state, info).

    With delays, the ring history of the ODE methods (stages of torch_euler / torch_heun), its
    derivative rows the drift, as in rates-numpy (:mod:`rates_numpy.sde`)."""
    import torch

    from rates_torch.solvers import SampleList, last_read, ring_history

    f, g = run.equations, diffusion.extras["equations"]
    args = list(run.args)
    dt, t0, n = run.dt, run.t0, run.y0.shape[-1]
    everywhere = every_position_in_order(sources.cpu().numpy(), n)
    y = run.y0
    samples, left, j = SampleList(run, y), run.n_samples - 1, run.every
    heun = solver == "torch_heun_stochastic"
    hist = None
    at_samples = DelayedRows(run.delayed_samples, run.n_samples, run.every)
    if run.function.system.delayed:
        conns, hist = ring_history(_DETERMINISTIC[solver], run)

    def noise(t: Any, state: Any, dw: Any, d: Any) -> Any:
        gy = g(t, state, *d, *args)
        if everywhere:
            return gy * dw
        full = torch.zeros(gy.shape, dtype=dw.dtype, device=dw.device)
        return gy * full.index_copy(-1, sources, dw)

    d: list[Any] = []
    real = run.function.extras["module"].REAL_
    steps = torch.arange(run.n_steps + 1, dtype=torch.float64, device=run.y0.device)
    t_grid = (steps * dt + t0).to(real)  # time as a tensor, as the ODE loops pass it
    ends = progress.chunk_ends(run.n_steps)
    report = ends.pop(0) if progress.enabled else -1
    for k in range(run.n_steps):
        if k == report:
            progress(t0 + k * dt)
            report = ends.pop(0) if ends else -1
        for i, rows in run.inputs:
            args[i] = rows[k] if rows.shape[0] > 1 else rows[0]
        t, t_next = t_grid[k], t_grid[k + 1]
        dw = draw(k)
        if hist is not None:
            hist.begin_step(k, y)
            v = hist.read(0, k, y)
            if k == at_samples.next:
                at_samples.take(v.detach().cpu().numpy())
            d = conns.split(v)
        f1 = f(t, y, *d, *args)
        if hist is not None:
            hist.end_first_stage(k, f1)
            if k in hist.left_steps:  # the input jumps at t: the drift before it, row k - 1
                before = list(args)
                for i, rows in run.inputs:
                    if rows.shape[0] > 1:
                        before[i] = rows[k - 1]
                hist.set_left(k, f(t, y, *d, *before))
        n1 = noise(t, y, dw, d)
        if heun:
            p = y + f1 * dt + n1
            if hist is not None:
                d = conns.split(hist.read(1, k, p))
            f2 = f(t_next, p, *d, *args)
            n2 = noise(t_next, p, dw, d)
            y = y + (f1 + f2) * (0.5 * dt) + (n1 + n2) * 0.5
        else:
            y = y + f1 * dt + n1
        j -= 1
        if j == 0:
            j = run.every
            if left > 0:
                samples.add(y)
                left -= 1
    states, info = samples.finish()
    if hist is not None and at_samples.wanted:
        info["delayed"] = last_read(hist, at_samples, run.n_steps, y)
    if hist is not None:
        info.update(history_rows=hist.rows, n_delayed=hist.conns.size)
    return states, y, info
