"""Solvers written in torch: ``torch_euler``, ``torch_heun``, ``torch_rk4`` (fixed step) and
``torch_dopri5`` (Dormand-Prince 5(4) with error control).

Every loop works on tensors only (no NumPy between the first and the last step): parameters,
inputs and the initial state are converted and moved to the device once, before the loop, and
the loop calls the generated ``<f>_equations`` directly. Nothing is updated in place that the
backward pass needs, so a whole integration is differentiable with ``torch.autograd``
(discretise-then-differentiate; ``torch_dopri5``'s step-size choices are treated as constants).
Integrations run under ``torch.no_grad()`` unless some parameter or the initial state requires
a gradient.

Conventions are rates-numpy's, so both agree to rounding with fixed steps: output rows at
``t0 + k * sampling_step`` (row 0 is ``y0``), input row k for every stage of step k, the
history of delayed reads appended once per step and read by cubic Hermite interpolation
(:mod:`rates_torch.history`). ``torch_dopri5`` never steps across a sample time, an input row
time or a propagated discontinuity of the pre-history, so samples need no interpolation and
piecewise-linear inputs are integrated exactly; with delays its steps are at most the shortest
positive delay.

Batches: ``y0`` of shape ``(B, n)`` and parameters with a leading batch axis integrate B
parameter sets at once (see :func:`rates_torch.simulate`); ``torch_dopri5`` then takes the steps
of the set with the largest error (one shared step size).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rates_core.backend import (
    PROGRESS_CHUNKS,
    SINK_BYTES,
    DelayedRows,
    EmittedFunction,
    Problem,
    Progress,
    Trajectory,
    derivative_error,
    input_rows,
)
from rates_core.codegen.tableaux import TABLEAUX
from rates_core.delay_reads import input_driven_slopes, input_jumps
from rates_core.errors import SolverError
from rates_torch import ADAPTIVE_SOLVERS, BACKEND, FIXED_SOLVERS

if TYPE_CHECKING:  # names for annotations; the solvers import the history only for delays
    from rates_torch.history import Connections, PreHistory, RingHistory, StepHistory

__all__ = ["OPTIONS", "Integration", "prepare", "resolve_device", "ring_history", "solve"]

#: Options every torch solver accepts (``run(..., device="cuda")``).
COMMON_OPTIONS = ("device", "compile", "cuda_graph")
#: Fixed-step runs on CUDA replay one captured step (a CUDA graph) from this many steps on.
GRAPH_MIN_STEPS = 32
#: Extra options of ``torch_dopri5``.
ADAPTIVE_OPTIONS = ("rtol", "atol", "first_step", "max_step", "max_steps")
OPTIONS = {
    **{name: COMMON_OPTIONS for name in FIXED_SOLVERS},
    **{name: COMMON_OPTIONS + ADAPTIVE_OPTIONS for name in ADAPTIVE_SOLVERS},
}

_STAGES = {f"torch_{name}": TABLEAUX[name].stage_times() for name in ("euler", "heun", "rk4")}
# dopri5 reads through StepHistory, not a ring

# Dormand-Prince 5(4) tableau (the 5th-order solution is propagated; FSAL)
_C, _A, _DP_ERROR = TABLEAUX["dopri5"].floats()
_E = tuple(0.0 - e for e in _DP_ERROR)  # the lower-order minus the propagated solution
SAFETY, MIN_FACTOR, MAX_FACTOR = 0.9, 0.2, 10.0


@dataclass
class Integration:
    """Everything a torch loop needs, as tensors on one device.

    ``args``: the parameter tensors in ``system.params`` order (inputs included, replaced per
    step); ``inputs``: (argument slot, rows tensor) per extrinsic input; ``equations``: the
    generated function (optionally ``torch.compile``-d).
    """

    function: EmittedFunction
    equations: Callable[..., Any]
    y0: Any
    args: list[Any]
    inputs: list[tuple[int, Any]]
    input_times: list[float] | None
    t0: float
    dt: float
    n_steps: int
    every: int
    n_samples: int
    sampling_step: float
    simulation_time: float
    raw_params: Sequence[Any]
    history: Callable[[float], Any] | None = None
    options: dict[str, Any] = field(default_factory=dict)
    seed: int | None = None
    #: ``Problem.sink``: where the fixed-step loops hand their samples in blocks
    sink: Callable[[Any, Any], None] | None = None
    #: ``Problem.delayed_samples``: the loops also return the delayed reads at the samples
    delayed_samples: bool = False
    #: ``Problem.delays``: ``"grid"`` reads row n - round(tau / dt) at every stage of step n
    delays: str = "exact"

    @property
    def batch(self) -> tuple[int, ...]:
        return tuple(self.y0.shape[:-1])


def solve(solver: str, function: EmittedFunction, problem: Problem) -> Trajectory:
    """The ``solve`` hook: integrate ``problem`` (NumPy values from the core) with ``solver``."""
    import torch

    if solver not in OPTIONS:
        raise SolverError(f"rates-torch has no solver {solver!r}")
    if function.backend != BACKEND:
        raise SolverError(
            f"solver {solver!r} integrates vector fields of backend 'torch', not "
            f"{function.backend!r}: pass backend='torch'"
        )
    options = dict(problem.options or {})
    for key in options:
        if key not in OPTIONS[solver]:
            raise SolverError(
                f"solver {solver!r} has no option {key!r} (allowed: {', '.join(OPTIONS[solver])})"
            )
    _check_problem(solver, function, problem)
    run = prepare(function, problem, options)
    desc = f"{function.system.name} ({solver})"
    with problem.progress_bar(desc=desc) as progress, torch.no_grad():
        states, final, info = integrate(solver, run, progress)
    n_times = 0 if info.get("streamed") else problem.n_samples
    times = [problem.t0 + k * problem.sampling_step for k in range(n_times)]
    import numpy as np

    delayed = info.pop("delayed", None)
    return Trajectory(
        np.asarray(times, dtype=float),
        states.detach().cpu().numpy(),
        final.detach().cpu().numpy(),
        info,
        delayed=delayed,
    )


def _check_problem(solver: str, function: EmittedFunction, problem: Problem) -> None:
    problem.check(function.system, solver, fixed_step=solver in FIXED_SOLVERS)


def resolve_device(device: Any) -> Any:
    """``device`` (a name such as ``"cpu"``, ``"cuda"``, ``"cuda:1"``, or a ``torch.device``;
    None: the CPU) as a ``torch.device``; a :class:`SolverError` when this torch cannot use it
    (a CPU-only build asked for CUDA, a CUDA index beyond the devices present, a bad name)."""
    import torch

    try:
        dev = torch.device(device if device is not None else "cpu")
    except (RuntimeError, TypeError) as exc:
        raise SolverError(f"device={device!r} is no torch device ({exc})") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            build = "a CPU-only build" if torch.version.cuda is None else "no CUDA device found"
            raise SolverError(
                f"device={device!r} was asked for but torch {torch.__version__} cannot use CUDA "
                f"here ({build}); run on device='cpu' or install a CUDA build of torch"
            )
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise SolverError(
                f"device={device!r}: torch sees {torch.cuda.device_count()} CUDA device(s)"
            )
    elif dev.type == "mps" and not torch.backends.mps.is_available():
        raise SolverError(f"device={device!r} was asked for but torch finds no MPS device here")
    return dev


def _device(options: dict[str, Any]) -> Any:
    return resolve_device(options.get("device"))


def prepare(
    function: EmittedFunction,
    problem: Problem,
    options: dict[str, Any] | None = None,
    *,
    y0: Any = None,
    params: Sequence[Any] | None = None,
) -> Integration:
    """Convert and move everything once: ``y0`` (or the given tensor), parameters (or the given
    values: tensors pass unchanged, so gradients flow), inputs."""
    import numpy as np
    import torch

    options = dict(options if options is not None else problem.options or {})
    system = function.system
    device = _device(options)
    module = function.extras["module"]
    if y0 is None:
        y0 = torch.as_tensor(np.asarray(problem.y0).reshape(-1), device=device)
    y0 = torch.as_tensor(y0, device=device).to(module.DTYPE_)
    values = list(problem.params if params is None else params)
    delayed_dummy = [0.0] * len(system.delayed)
    args = list(function.extras["arguments"](y0, *delayed_dummy, *values))[len(system.delayed) :]
    inputs: list[tuple[int, Any]] = []
    for i, p in enumerate(system.params):
        if p.role != "input":
            continue
        given = problem.inputs.get(p.name)
        if given is None:
            continue
        shape = tuple(np.shape(p.value))
        if hasattr(given, "detach"):
            given = given.detach().cpu()
        rows = input_rows(system, p.name, given, shape)
        inputs.append((i, torch.as_tensor(rows, device=device).to(args[i].dtype)))
    input_times = None
    if inputs:
        n_rows = inputs[0][1].shape[0]
        times = problem.input_times
        if times is None:
            times = problem.t0 + np.arange(n_rows) * problem.step_size
        input_times = [float(x) for x in np.asarray(times).reshape(-1)]
        for _, rows in inputs:
            if rows.shape[0] != len(input_times):
                raise SolverError(
                    f"an input has {rows.shape[0]} rows but input_times {len(input_times)}"
                )
    equations = function.extras["equations"]
    if options.get("compile"):
        equations = torch.compile(equations, dynamic=False)
    return Integration(
        function=function,
        equations=equations,
        y0=y0,
        args=args,
        inputs=inputs,
        input_times=input_times,
        t0=float(problem.t0),
        dt=float(problem.step_size),
        n_steps=problem.n_steps,
        every=problem.sample_every,
        n_samples=problem.n_samples,
        sampling_step=float(problem.sampling_step),
        simulation_time=float(problem.simulation_time),
        raw_params=values,
        history=problem.history,
        options=options,
        seed=problem.seed,
        sink=problem.sink,
        delayed_samples=problem.delayed_samples,
        delays=problem.delays,
    )


def _seed(run: Integration) -> None:
    import torch

    module = run.function.extras["module"]
    if "randn_" not in vars(module):
        return
    generator = torch.Generator(device=run.y0.device)
    if run.seed is not None:
        generator.manual_seed(int(run.seed))
    else:
        generator.seed()
    module.rng_ = generator


def integrate(
    solver: str, run: Integration, progress: Progress | None = None
) -> tuple[Any, Any, dict[str, Any]]:
    """Integrate ``run``: (samples ``(n_samples, *batch, n)``, final state, info)."""
    progress = progress if progress is not None else Progress(None)
    _seed(run)
    if solver in ADAPTIVE_SOLVERS:
        return _dopri5(run, progress)
    return _fixed(solver, run, progress)


# --------------------------------------------------------------------------- fixed step


def _delay_setup(run: Integration, adaptive: bool) -> tuple[Connections, PreHistory]:
    from rates_torch.history import Connections, HistoryVector, PreHistory

    system = run.function.system
    real = run.function.extras["module"].REAL_
    vector = HistoryVector(run.function, run.args, real)
    grid = run.delays == "grid"
    conns = Connections(system, run.raw_params, run.y0.dtype, run.y0.device, vector, grid)
    history = run.history
    if history is not None and not callable(history):
        raise SolverError("Problem.history must be a function of t returning the state vector")
    return conns, PreHistory(history, run.y0, conns, vector, run.t0)


class SampleList:
    """The samples of a torch loop, one :meth:`add` per sample after ``y0``: kept and stacked,
    or with ``Problem.sink`` handed on in blocks of about ``SINK_BYTES`` as they fill (as
    :class:`rates_core.backend.SampleRows` does for NumPy loops)."""

    def __init__(self, run: Integration, y0: Any) -> None:
        self.sink, self.t0, self.step = run.sink, run.t0, run.sampling_step
        size = max(y0.element_size() * y0.numel(), 1)
        self.limit = max(1, min(run.n_samples, SINK_BYTES // size))
        self.rows, self.first = [y0], 0

    def add(self, y: Any) -> None:
        """The next sample."""
        if self.sink is not None and len(self.rows) == self.limit:
            self._flush()
        self.rows.append(y)

    def _flush(self) -> None:
        import numpy as np
        import torch

        assert self.sink is not None
        block = torch.stack(self.rows).detach().cpu().numpy()
        self.sink(self.t0 + (self.first + np.arange(len(block))) * self.step, block)
        self.first += len(block)
        self.rows = []

    def finish(self) -> tuple[Any, dict[str, Any]]:
        """``(samples (n_samples, *batch, n), info)``; with a sink, after the last block, no
        samples and ``{"streamed": True}``."""
        import torch

        if self.sink is None:
            return torch.stack(self.rows), {}
        shape = self.rows[0].shape
        self._flush()
        return torch.zeros((0, *shape)), {"streamed": True}


def ring_history(method: str, run: Integration) -> tuple[Connections, RingHistory]:
    """The history of a fixed-step run with delays whose stages are those of ``method``
    (torch_euler, torch_heun or torch_rk4), with left-side slopes where an input row changes
    and reaches a delayed variable; used by the ODE loop and the SDE methods."""
    from rates_torch.history import RingHistory

    conns, pre = _delay_setup(run, adaptive=False)
    jumps: Any = ()
    if input_driven_slopes(run.function.system):
        varying = [rows.detach().cpu().numpy() for _, rows in run.inputs if rows.shape[0] > 1]
        jumps = input_jumps(varying, run.n_steps)
    grid = run.delays == "grid"
    hist = RingHistory(conns, pre, run.t0, run.dt, _STAGES[method], run.batch, jumps, grid)
    return conns, hist


def _fixed(
    solver: str, run: Integration, progress: Progress, graph: str | None = None
) -> tuple[Any, Any, dict[str, Any]]:
    """The fixed-step loop; runs on CUDA without delays go to :func:`_fixed_replayed` unless
    ``graph`` says why not."""
    import torch

    f = run.equations
    args = list(run.args)
    dt, t0, n_steps = run.dt, run.t0, run.n_steps
    dev = run.y0.device
    real = run.function.extras["module"].REAL_
    k_all = torch.arange(n_steps + 1, dtype=torch.float64, device=dev)
    t_grid = (k_all * dt + t0).to(real)  # t0 + k*dt, as rates-numpy computes it
    t_half = (t_grid[:-1].to(torch.float64) + 0.5 * dt).to(real) if n_steps else t_grid
    dt2, dt6 = 0.5 * dt, dt / 6.0
    y = run.y0
    samples = SampleList(run, y)
    left = run.n_samples - 1
    j = run.every
    inputs = run.inputs
    for _, rows in inputs:
        if rows.shape[0] < n_steps and rows.shape[0] != 1:
            raise SolverError(
                f"an input has {rows.shape[0]} rows, the integration {n_steps} steps "
                "(fixed-step inputs need one row per step)"
            )
    delayed = bool(run.function.system.delayed)
    conns: Connections | None = None
    hist: RingHistory | None = None
    at_samples = DelayedRows(run.delayed_samples, run.n_samples, run.every)
    if delayed:
        conns, hist = ring_history(solver, run)
    ends = progress.chunk_ends(n_steps)
    report = ends.pop(0) if progress.enabled else -1
    if graph is None and not delayed:
        graph = _graph_reason(run)
        if graph is None:
            return _fixed_replayed(solver, run, progress)
    for k in range(n_steps):
        if k == report:
            progress(t0 + k * dt)
            report = ends.pop(0) if ends else -1
        for i, rows in inputs:
            args[i] = rows[k] if rows.shape[0] > 1 else rows[0]
        t = t_grid[k]
        if hist is None:
            th = t_half[k] if solver == "torch_rk4" else None
            y = _ode_step(solver, f, y, args, dt, t, th, t_grid[k + 1])
        else:
            assert conns is not None  # set together with hist
            hist.begin_step(k, y)
            v1 = hist.read(0, k, y)
            if k == at_samples.next:
                at_samples.take(v1.detach().cpu().numpy())
            d1 = conns.split(v1)
            k1 = f(t, y, *d1, *args)
            hist.end_first_stage(k, k1)
            if k in hist.left_steps:  # the input jumps at t: the slope before it, row k - 1
                before = [(i, rows[k - 1]) for i, rows in inputs if rows.shape[0] > 1]
                hist.set_left(k, f(t, y, *d1, *_with(args, before)))
            if solver == "torch_euler":
                y = y + k1 * dt
            elif solver == "torch_heun":
                tmp = y + k1 * dt
                k2 = f(t_grid[k + 1], tmp, *conns.split(hist.read(1, k, tmp)), *args)
                y = y + (k1 + k2) * dt2
            else:
                th = t_half[k]
                tmp = y + k1 * dt2
                v2 = hist.read(1, k, tmp)
                k2 = f(th, tmp, *conns.split(v2), *args)
                tmp = y + k2 * dt2
                v3 = conns.with_zero(v2, tmp, t0 + (k + 0.5) * dt)
                k3 = f(th, tmp, *conns.split(v3), *args)
                tmp = y + k3 * dt
                k4 = f(t_grid[k + 1], tmp, *conns.split(hist.read(2, k, tmp)), *args)
                y = y + ((k1 + k4) + (k2 + k3) * 2.0) * dt6
        j -= 1
        if j == 0:
            j = run.every
            if left > 0:
                samples.add(y)
                left -= 1
    states, streamed = samples.finish()
    info: dict[str, Any] = {"solver": solver, "path": "torch", "n_steps": n_steps, **streamed}
    if hist is not None and at_samples.wanted:
        info["delayed"] = last_read(hist, at_samples, n_steps, y)
    info["device"] = str(dev)
    if dev.type == "cuda":
        info["cuda_graph"] = graph or "delays (the history is read with per-step offsets)"
    if hist is not None:
        info.update(history_rows=hist.rows, n_delayed=hist.conns.size)
    return states, y, info


def last_read(hist: RingHistory, at_samples: DelayedRows, n_steps: int, y: Any) -> Any:
    """The delayed reads at the samples (``Trajectory.delayed``), with those of a sample at
    the end of the run (step ``n_steps``) read after the loop."""
    if at_samples.next == n_steps:
        hist.begin_step(n_steps, y)
        at_samples.take(hist.read(0, n_steps, y).detach().cpu().numpy())
    return at_samples.rows


def _with(args: list[Any], values: list[tuple[int, Any]]) -> list[Any]:
    """A copy of ``args`` with the given ``(slot, value)`` pairs replaced."""
    out = list(args)
    for i, value in values:
        out[i] = value
    return out


def _ode_step(
    solver: str, f: Any, y: Any, args: list[Any], dt: float, t: Any, t_half: Any, t_next: Any
) -> Any:
    """``y`` one fixed step on (Euler, Heun or RK4) from time ``t``: the stage times ``t_half``
    (RK4) and ``t_next`` (Heun, RK4) are given, as the callers compute them differently."""
    k1 = f(t, y, *args)
    if solver == "torch_euler":
        return y + k1 * dt
    if solver == "torch_heun":
        k2 = f(t_next, y + k1 * dt, *args)
        return y + (k1 + k2) * (0.5 * dt)
    dt2 = 0.5 * dt
    k2 = f(t_half, y + k1 * dt2, *args)
    k3 = f(t_half, y + k2 * dt2, *args)
    k4 = f(t_next, y + k3 * dt, *args)
    return y + ((k1 + k4) + (k2 + k3) * 2.0) * (dt / 6.0)


def _graph_reason(run: Integration) -> str | None:
    """Why this fixed-step run without delays is not replayed as a CUDA graph (None: it is)."""
    import torch

    if run.y0.device.type != "cuda":
        return "not on CUDA"
    if run.options.get("cuda_graph", True) is False:
        return "cuda_graph=False"
    if run.n_steps < GRAPH_MIN_STEPS:
        return f"fewer than {GRAPH_MIN_STEPS} steps"
    if run.options.get("compile"):
        return "compile=True (torch.compile's own graphs)"
    if "randn_" in vars(run.function.extras["module"]):
        return "randn (a generator of its own)"
    tensors = [run.y0, *run.args, *(rows for _, rows in run.inputs)]
    tensors = [a for a in tensors if isinstance(a, torch.Tensor)]
    if torch.is_grad_enabled() and any(a.requires_grad for a in tensors):
        return "gradients are recorded"
    if any(a.layout != torch.strided for a in tensors):
        return "sparse coupling"
    return None


class StaticStep:
    """One fixed step on tensors that keep their storage, so that it can be captured once as a
    CUDA graph and replayed for every step: :meth:`step` advances ``state`` and a step counter
    in place, the time, the stage times and the input rows being computed from the counter on
    the device. The same arithmetic as the step loop of ``_fixed``; :meth:`reset` goes back to
    ``y0`` at step 0."""

    def __init__(self, solver: str, run: Integration) -> None:
        import torch

        self.solver, self.run = solver, run
        self.args = list(run.args)
        dev = run.y0.device
        self.real = run.function.extras["module"].REAL_
        self.state = run.y0.clone()
        self.k = torch.zeros((), dtype=torch.float64, device=dev)
        self.row = torch.zeros(1, dtype=torch.int64, device=dev)
        self.inputs = [(i, rows) for i, rows in run.inputs if rows.shape[0] > 1]
        for i, rows in run.inputs:
            if rows.shape[0] == 1:
                self.args[i] = rows[0]

    def reset(self) -> None:
        self.state.copy_(self.run.y0)
        self.k.zero_()
        self.row.zero_()

    def step(self) -> None:
        import torch

        f, args, k, real = self.run.equations, self.args, self.k, self.real
        dt, t0 = self.run.dt, self.run.t0
        t = (k * dt + t0).to(real)
        for i, rows in self.inputs:
            args[i] = rows.index_select(0, self.row)[0]
        y = self.state
        t_next = None if self.solver == "torch_euler" else ((k + 1.0) * dt + t0).to(real)
        th = (t.to(torch.float64) + 0.5 * dt).to(real) if self.solver == "torch_rk4" else None
        y.copy_(_ode_step(self.solver, f, y, args, dt, t, th, t_next))
        k.add_(1.0)
        self.row.add_(1)


def _fixed_replayed(
    solver: str, run: Integration, progress: Progress
) -> tuple[Any, Any, dict[str, Any]]:
    """A fixed-step run on CUDA without delays: one step captured as a CUDA graph and replayed
    (a step of a small model is hundreds of kernel launches, the graph one)."""
    import torch

    program = StaticStep(solver, run)
    y0 = run.y0
    if y0.device.type == "cuda":
        side = torch.cuda.Stream(device=y0.device)
        side.wait_stream(torch.cuda.current_stream(y0.device))
        with torch.cuda.stream(side):  # warm-up (allocations, lazy initialisations) off capture
            for _ in range(3):
                program.step()
        torch.cuda.current_stream(y0.device).wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        try:
            with torch.cuda.graph(graph):
                program.step()
        except RuntimeError as exc:  # an operation CUDA cannot capture: the step loop
            reason = f"capture failed ({str(exc).splitlines()[0][:200]})"
            return _fixed(solver, run, progress, graph=reason)
        program.reset()  # the warm-up advanced the counters
        advance = graph.replay
    else:  # the same steps, not captured (how the tests check them without a GPU)
        advance = program.step
    state = program.state
    samples = [y0]
    left = run.n_samples - 1
    j = run.every
    ends = progress.chunk_ends(run.n_steps)
    report = ends.pop(0) if progress.enabled else -1
    for n in range(run.n_steps):
        if n == report:
            progress(run.t0 + n * run.dt)
            report = ends.pop(0) if ends else -1
        advance()
        j -= 1
        if j == 0:
            j = run.every
            if left > 0:
                samples.append(state.clone())
                left -= 1
    info: dict[str, Any] = {"solver": solver, "path": "torch", "n_steps": run.n_steps}
    info.update(device=str(y0.device), cuda_graph=y0.device.type == "cuda")
    return torch.stack(samples), state.clone(), info


# --------------------------------------------------------------------------- dopri5


def _rms(x: Any, batch: int) -> Any:
    import torch

    v = torch.abs(x.detach()) ** 2  # step-size control is not differentiated
    if batch:
        return torch.sqrt(v.reshape(*x.shape[:batch], -1).mean(-1)).max()
    return torch.sqrt(v.mean())


def _check_derivative(run: Integration, t: float, dy: Any) -> None:
    """A :class:`SolverError` naming time and variable when ``dy`` is not finite (one
    device-to-host sync: called at the start and on failure only)."""
    import torch

    bad = ~torch.isfinite(dy)
    if bool(bad.any()):
        index = int(torch.nonzero(bad.reshape(-1))[0])
        value = dy.reshape(-1)[index].item()
        raise derivative_error(run.function.system, "torch_dopri5", t, index, value)


def _dopri5(run: Integration, progress: Progress) -> tuple[Any, Any, dict[str, Any]]:
    import torch

    opts = run.options
    rtol = float(opts.get("rtol", 1e-6))
    atol = float(opts.get("atol", 1e-9))
    max_steps = int(opts.get("max_steps", 10_000_000))
    max_step = float(opts.get("max_step", math.inf))
    f = run.equations
    args = list(run.args)
    t0 = run.t0
    t_end = t0 + run.simulation_time
    real = run.function.extras["module"].REAL_
    nb = len(run.batch)
    sample_times = [t0 + k * run.sampling_step for k in range(run.n_samples)]
    if sample_times[-1] > t_end + 1e-9 * max(abs(t_end), 1.0):
        raise SolverError(f"{run.n_samples} samples go beyond the end time {t_end}")
    tol = 1e-12 * max(1.0, abs(t0), abs(t_end))
    stops = set(sample_times[1:]) | {t_end}
    in_times = run.input_times or []
    stops |= {x for x in in_times if t0 < x < t_end}
    delayed = bool(run.function.system.delayed)
    conns: Connections | None = None
    hist: StepHistory | None = None
    if delayed:
        from rates_torch.history import StepHistory, breakpoints

        conns, pre = _delay_setup(run, adaptive=True)
        hist = StepHistory(conns, pre, t0, run.batch)
        stops |= set(breakpoints(conns.tau_np, t0, t_end))
        max_step = min(max_step, conns.min_tau)
    stops_sorted = sorted(s for s in stops if s > t0 + tol)

    def set_inputs(t: float) -> None:
        if not run.inputs:
            return
        times = in_times
        n = len(times)
        if n == 1 or t <= times[0]:
            i, w = 0, 0.0
        elif t >= times[-1]:
            i, w = n - 1, 0.0
        else:
            i = bisect.bisect_right(times, t) - 1
            w = (t - times[i]) / (times[i + 1] - times[i])
        for slot, rows in run.inputs:
            args[slot] = rows[i] if w == 0.0 else rows[i] + w * (rows[i + 1] - rows[i])

    def rhs(t: float, y: Any) -> Any:
        set_inputs(t)
        tt = torch.as_tensor(t, dtype=real, device=y.device)
        if hist is None:
            return f(tt, y, *args)
        return f(tt, y, *hist.conns.split(hist.read(t, y)), *args)

    y = run.y0
    t = t0
    f0 = rhs(t, y)
    _check_derivative(run, t, f0)
    if hist is not None:
        hist.add(t, y, f0)
    samples = [y]
    next_sample = 1
    at_samples = _StepReads(run, hist)
    at_samples.read(t0, y)
    # initial step (Hairer, Norsett & Wanner; as scipy's select_initial_step)
    if "first_step" in opts:
        h = float(opts["first_step"])
    else:
        scale = atol + torch.abs(y) * rtol
        d0 = float(_rms(y / scale, nb))
        d1 = float(_rms(f0 / scale, nb))
        h0 = 1e-6 if d0 < 1e-5 or d1 < 1e-5 else 0.01 * d0 / d1
        h0 = min(h0, t_end - t0, max_step)
        f1 = rhs(t + h0, y + h0 * f0)
        d2 = float(_rms((f1 - f0) / scale, nb)) / h0
        if d1 <= 1e-15 and d2 <= 1e-15:
            h1 = max(1e-6, h0 * 1e-3)
        else:
            h1 = (0.01 / max(d1, d2)) ** (1 / 5)
        h = min(100 * h0, h1)
        set_inputs(t)
    h = min(h, max_step)
    n_accepted = n_rejected = n_eval = 0
    stop_i = 0
    rejected = False
    marks = [t0 + run.simulation_time * (c + 1) / PROGRESS_CHUNKS for c in range(PROGRESS_CHUNKS)]
    mark_i = 0
    while stop_i < len(stops_sorted):
        target = stops_sorted[stop_i]
        if target - t <= tol:
            stop_i += 1
            continue
        if n_accepted + n_rejected >= max_steps:
            raise SolverError(f"solver 'torch_dopri5': more than {max_steps} steps (max_steps)")
        step = min(h, target - t)
        hits = target - t - step <= tol
        if hits:
            step = target - t
        ks = [f0]
        for s in range(1, 7):
            ys = y
            for a, k in zip(_A[s], ks):
                if a != 0.0:
                    ys = ys + (step * a) * k
            ks.append(rhs(t + _C[s] * step, ys))
            if s == 6:
                y_new = ys
        n_eval += 6
        err = ks[0] * _E[0]
        for e, k in zip(_E[2:], ks[2:]):
            err = err + e * k
        err = err * step
        scale = atol + torch.maximum(torch.abs(y), torch.abs(y_new)) * rtol
        norm = float(_rms(err / scale, nb))
        if not math.isfinite(norm):
            norm = math.inf
        if norm <= 1.0:
            t = target if hits else t + step
            y = y_new
            f0 = ks[6]
            n_accepted += 1
            if hist is not None:
                hist.add(t, y, f0)
            while next_sample < run.n_samples and sample_times[next_sample] - t <= tol:
                samples.append(y)
                at_samples.read(sample_times[next_sample], y)
                next_sample += 1
            factor = MAX_FACTOR if norm == 0 else min(MAX_FACTOR, SAFETY * norm**-0.2)
            if rejected:
                factor = min(1.0, factor)
            if hits and step < h:  # a step cut short at a stop says little about h
                h = min(h, step * factor) if factor < 1.0 else h
            else:
                h = min(step * factor, max_step)
            rejected = False
            if progress.enabled and mark_i < len(marks) and t >= marks[mark_i]:
                progress(t)
                mark_i = bisect.bisect_right(marks, t)
        else:
            n_rejected += 1
            h = step * max(MIN_FACTOR, SAFETY * norm**-0.2)
            rejected = True
            if h < 1e-14 * max(1.0, abs(t)):
                for k in ks:  # a non-finite vector field near t is the likely cause: name it
                    _check_derivative(run, t, k)
                raise SolverError(f"solver 'torch_dopri5': step size underflow at t={t}")
    while next_sample < run.n_samples:
        samples.append(y)
        at_samples.read(sample_times[next_sample], y)
        next_sample += 1
    info = {
        "solver": "torch_dopri5",
        "path": "torch",
        "n_accepted": n_accepted,
        "n_rejected": n_rejected,
        "nfev": n_eval + 1,
        "device": str(y.device),
    }
    if conns is not None:
        info["n_delayed"] = conns.size
    if at_samples.rows.wanted:
        info["delayed"] = at_samples.rows.rows
    return torch.stack(samples), y, info


class _StepReads:
    """``torch_dopri5`` with ``Problem.delayed_samples``: the delayed reads at each sample
    time, read from the history when the step ending there is accepted."""

    def __init__(self, run: Integration, hist: StepHistory | None) -> None:
        self.hist = hist
        self.rows = DelayedRows(run.delayed_samples, run.n_samples, run.every)

    def read(self, t: float, y: Any) -> None:
        if self.hist is not None and self.rows.wanted:
            self.rows.take(self.hist.read(t, y).detach().cpu().numpy())
