"""The simulation driver: ``run``, ``get_run_func``, ``get_jacobian_func`` and ``integrate``.

It builds the System, asks the backend plugin (by name, through the plugin host) for generated
code, prepares the :class:`~rates_core.backend.Problem` (time grid, parameters, inputs, initial
state), lets the solver plugin integrate, and turns the sampled states into a DataFrame.
"""

from __future__ import annotations

import functools
import keyword
import math
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from rates_core import __version__, noise, observe, pipeline, pyrates_compat
from rates_core.backend import (
    EmittedFunction,
    Trajectory,
    check_on_nonfinite,
    have_tqdm,
    require_tqdm,
)
from rates_core.delay_reads import check_delays
from rates_core.errors import (
    ArgumentError,
    InitialStateWarning,
    ModelError,
    SolverError,
    warn_user,
)
from rates_core.frontend import last_run
from rates_core.frontend.edits import warn_discarded
from rates_core.frontend.templates import CircuitTemplate, split_path

# re-exported: they were simulate's before the pipeline module held them
from rates_core.pipeline import build_run_system as build_run_system
from rates_core.pipeline import in_pyrates_order as in_pyrates_order
from rates_core.plugins import default_host
from rates_core.results import algebraic_outputs, output_spec, results_frame
from rates_core.system import System

if TYPE_CHECKING:
    import pandas as pd

#: ``progress=None`` shows a bar (on a terminal) for runs of more steps than this ...
PROGRESS_MIN_STEPS = 1_000_000
#: ... or expected to take longer than this many seconds (a rough estimate, see _expected_seconds)
PROGRESS_MIN_SECONDS = 2.0


def _host() -> Any:
    return default_host()


def check_run_times(
    simulation_time: Any, step_size: Any, sampling_step_size: Any = None, cutoff: Any = 0.0
) -> float:
    """Check the time arguments of ``run`` / ``grid_search`` (finite real numbers, positive
    times and steps, sampling no finer than the step) before anything is built; the sampling
    step. Each fault is a :class:`SolverError` naming the argument."""
    values = {
        "simulation_time": simulation_time,
        "step_size": step_size,
        "sampling_step_size": step_size if sampling_step_size is None else sampling_step_size,
        "cutoff": cutoff,
    }
    for name, value in values.items():
        try:
            if isinstance(value, (bool, str, bytes)) or np.iscomplexobj(value):
                raise TypeError(name)
            value = float(value)
        except (TypeError, ValueError):
            raise SolverError(f"{name} must be a number, got {value!r}") from None
        if not math.isfinite(value):
            raise SolverError(f"{name} must be a finite number, got {value}")
        if name != "cutoff" and value <= 0:
            raise SolverError(f"{name} must be positive, got {value}")
    sampling = float(values["sampling_step_size"])
    if sampling < float(step_size) * (1 - 1e-12):
        raise SolverError("sampling_step_size must not be smaller than step_size")
    return sampling


def run(
    circuit: CircuitTemplate,
    simulation_time: float,
    step_size: float,
    inputs: Mapping[str, Any] | None = None,
    outputs: Mapping[str, str] | Sequence[str] | None = None,
    sampling_step_size: float | None = None,
    cutoff: float = 0.0,
    solver: str = "euler",
    backend: str = "numpy",
    vectorize: bool = True,
    float_precision: str = "float64",
    initial_state: Any = None,
    progress: bool | None = None,
    history: Any = None,
    delay_approximation: int | None = None,
    on_nonfinite: str = "raise",
    monitors: Mapping[str, Any] | None = None,
    delays: str = "exact",
    **solver_options: Any,
) -> Any:
    """Simulate ``circuit`` and return the recorded variables, indexed by time.

    ``monitors`` (a dict name -> :mod:`rates_core.monitors` monitor): the run integrates in
    windows and streams them to the monitors instead of recording the trajectory, and returns
    a dict name -> frame of each monitor's samples (``outputs`` and ``sampling_step_size`` are
    then not given: each monitor names its variables and period).

    ``initial_state``: None (the model's initial values), ``"last"`` (the final state of the
    last run of this template) or a dict path -> value; a path matching n units (a population,
    ``all``) takes a scalar for all of them or an array of n values, one per unit.

    Delays: ``history`` is the pre-history of delayed reads, a dict ``node/op/var`` (``all``
    allowed) -> number, array of one value per matched unit, or function of time ``t < 0``;
    unlisted variables keep their initial value as pre-history. ``history="zero"`` makes every
    state 0 before t = 0, as in PyRates (gamma-kernel chains of ``spread`` edges then start at 0
    too).
    ``delay_approximation=n`` replaces every discrete delay by a gamma kernel of order n (an ODE
    system).
    ``delays``: ``"exact"`` (default) reads the history at ``t - tau`` by interpolation;
    ``"grid"`` is TVB's convention: every delay is rounded to the nearest whole number of
    steps, ``k = round(tau / dt)`` (``k >= 0``), and every stage of step n reads the stored
    state of step ``n - k`` (held over the step, as TVB computes coupling once per step; a
    rounded delay of 0 reads ``y_n``, the state at the step's start; reads before t0 come from
    the pre-history or initial state). Fixed-step solvers only (euler, heun, rk4, ...) on
    backends with the ``grid_delays`` capability; anything else is a
    :class:`~rates_core.errors.SolverError`.

    ``solver`` is a method of ``backend`` (``"euler"``, ``"heun"``, ``"rk4"``, ``"dopri5"``,
    ``"scipy"``, ... as ``rates plugins`` lists them), run by the backend's own implementation;
    the full names (``"fortran_rk4"``) are aliases. ``attrs["solver"]`` names the solver that ran.

    ``solver="scipy"`` (and the other adaptive solvers) default to ``rtol=1e-6``,
    ``atol=1e-9``; pass ``rtol``/``atol`` to change them.

    ``progress``: True shows a tqdm progress bar on stderr (tqdm is the optional dependency
    ``rates-core[progress]``; without it True is a :class:`~rates_core.backend.
    MissingDependencyError`), False never; None (default) shows one for long runs (more than
    :data:`PROGRESS_MIN_STEPS` steps or about :data:`PROGRESS_MIN_SECONDS` s expected) when
    stderr is a terminal and tqdm is installed. ``seed`` (a solver option) seeds ``randn`` and
    the Wiener increments of the SDE solvers.

    White noise ``xi()`` in the equations needs an SDE solver (``"euler_maruyama"``,
    ``"heun_stochastic"``, on backends with the ``sde`` capability); ``wiener_increments=`` (one
    row per step, one column per :func:`rates_core.noise.noise_sources` entry: node by node in
    the circuit's order, the same vectorised or not) gives them the increments instead of
    drawing them.

    Finite numbers in, finite numbers out: non-finite times, steps, parameters, inputs, initial
    states or histories are a :class:`~rates_core.errors.SolverError` (or ``ModelError``)
    naming the argument or ``node/op/var`` path, before integrating. ``on_nonfinite``: what
    happens when the state stops being finite during the run (a blow-up): ``"raise"`` (default)
    a ``SolverError`` naming the first sample time and variable that is NaN or infinite;
    ``"continue"`` returns the trajectory with its NaN / inf values. Adaptive solvers always
    raise on a non-finite derivative (they cannot choose a step size there).

    The frame's ``attrs`` record how it was made: model, backend (with its distribution and
    version), rates-core version, solver and its options, seed, time steps, precision.
    """
    warn_discarded(circuit, "run")
    backend, float_precision = pyrates_compat.driver_arguments(
        "run", backend, float_precision, solver_options, solver=solver
    )
    sampling = check_run_times(simulation_time, step_size, sampling_step_size, cutoff)
    check_on_nonfinite(on_nonfinite)
    if progress:
        require_tqdm()  # fail before building anything
    chosen = _host().resolve_solver(backend, solver)  # the backend's own implementation
    pipeline.check_delay_option(delays, chosen)
    solver, method = chosen.name, chosen.method
    system, emitted = pipeline.prepare(
        circuit,
        backend,
        inputs,
        vectorize,
        float_precision,
        None,
        delay_approximation,
        solver=chosen,
    )
    n_steps = int(round(simulation_time / step_size))
    if progress is None:
        progress = _auto_progress(system, method, n_steps)
    seed = solver_options.pop("seed", None)
    wiener_increments = noise.pop_increments(chosen, solver_options)
    problem = pipeline.make_problem(
        circuit,
        system,
        simulation_time=simulation_time,
        step_size=step_size,
        sampling_step=sampling,
        inputs=inputs,
        initial_state=initial_state,
        history=history,
        options=solver_options,
        seed=seed,
        wiener_increments=wiener_increments,
        progress=bool(progress),
        on_nonfinite=on_nonfinite,
        delays=delays,
    )
    spec = output_spec(circuit, system, outputs)
    if monitors is None and system.delayed:
        problem.delayed_samples = _needs_delayed_samples(system, spec, backend)
    monitored = None
    if monitors is not None:  # streamed to the monitors in windows (rates_core.monitors)
        from rates_core.monitors import run_monitored

        refused = {"outputs": outputs, "sampling_step_size": sampling_step_size}
        solve = functools.partial(_host().solve, solver, emitted)
        monitored, final = run_monitored(monitors, circuit, system, problem, solve, solver, refused)
        trajectory = Trajectory(np.zeros(0), np.zeros((0, system.n_states)), final)
    else:
        trajectory = _host().solve(solver, emitted, problem)
        problem.check_trajectory(system, trajectory, solver)
        if problem.delayed_samples and trajectory.delayed is None:
            raise SolverError(
                f"solver {solver!r} returned no delayed values at the samples, which backend "
                f"{backend!r} promises (capability 'dde_outputs'): a bug of the backend"
            )
    sample_idx = np.minimum(np.rint(trajectory.times / step_size).astype(int), max(n_steps - 1, 0))
    frame = results_frame(
        spec,
        trajectory.times,
        trajectory.states,
        system,
        problem.params,
        problem.inputs,
        sample_idx,
        trajectory.delayed,
    )
    last_run.remember_final_state(circuit, _final_state(system, trajectory.final))
    if cutoff:
        frame = frame.loc[frame.index >= cutoff - 1e-12 * step_size]
    distribution, version = _backend_distribution(backend)
    frame.attrs.update(
        model=circuit.name,
        backend=backend,
        backend_distribution=distribution,
        backend_version=version,
        rates_core_version=__version__,
        solver=solver,
        solver_method=method,
        solver_options=dict(solver_options),
        seed=seed,
        simulation_time=simulation_time,
        step_size=step_size,
        sampling_step_size=sampling,
        cutoff=cutoff,
        on_nonfinite=on_nonfinite,
        delays=delays,
        float_precision=float_precision,
        vectorized=system.ir is not None and any(len(p.nodes) > 1 for p in system.ir.populations),
    )
    if monitored is not None:
        return _monitor_frames(monitored, frame.attrs, cutoff, step_size)
    return frame


def _needs_delayed_samples(system: System, spec: Any, backend: str) -> bool:
    """Whether some output is an algebraic variable that reads a delayed value (then the
    solver returns the delayed reads at the samples; a ModelError when ``backend`` cannot)."""
    names = algebraic_outputs(system, spec)
    host = _host()
    capable = "dde_outputs" in host.backend_info(backend).capabilities
    others = [n for n, (i, _) in host.backends().items() if "dde_outputs" in i.capabilities]
    return observe.needs_delayed_samples(system, names, capable, others)


def _monitor_frames(frames: dict, attrs: dict, cutoff: float, step_size: float) -> dict:
    """The monitors' frames from ``cutoff`` on, with the run's ``attrs`` under their own."""
    frames = {k: f.loc[f.index >= cutoff - 1e-12 * step_size] for k, f in frames.items()}
    for frame in frames.values():
        frame.attrs = {**attrs, **frame.attrs}
    return frames


def _backend_distribution(backend: str) -> tuple[str | None, str | None]:
    """(distribution, version) of the installed plugin that provides ``backend``."""
    for record in _host().plugins:
        if any(info.name == backend for info in record.backends):
            return record.distribution, record.version
    return None, None


def _expected_seconds(system: System, solver: str, n_steps: int) -> float:
    """A rough guess of the run time: vector-field evaluations times a cost per evaluation
    (small systems run as plain-float code, larger ones pay NumPy's call overhead)."""
    evaluations = {"euler": 1, "heun": 2, "rk4": 4}.get(solver, 1)
    n = system.n_states
    per_evaluation = 2e-7 * n if n <= pipeline.SMALL_SYSTEM else 2e-5 + 1e-8 * n
    return n_steps * evaluations * per_evaluation


def _auto_progress(system: System, solver: str, n_steps: int) -> bool:
    """``progress=None``: a bar for long runs, when stderr is a terminal and tqdm is installed."""
    long_run = (
        n_steps > PROGRESS_MIN_STEPS
        or _expected_seconds(system, solver, n_steps) > PROGRESS_MIN_SECONDS
    )
    if not long_run:
        return False
    try:
        interactive = sys.stderr.isatty()
    except (AttributeError, ValueError):
        interactive = False
    return interactive and have_tqdm()


def _final_state(system: System, final: np.ndarray) -> dict[str, Any]:
    state: dict[str, Any] = {}
    for s in system.states:
        for path in s.paths:
            if path not in system.label_map:
                continue
            _, index = system.label_map[path]
            if index is None and s.size > 1:  # a vector variable of one node
                state[path] = final[s.start : s.stop].tolist()
            else:
                state[path] = final[s.start + (index or 0)].item()
    return state


def _refuse_delays(system: System, what: str) -> None:
    if system.delayed:
        reads = ", ".join(f"{d.state}(t - {d.tau})" for d in system.delayed[:3])
        more = ", ..." if len(system.delayed) > 3 else ""
        raise ModelError(
            f"{what}: the model has delayed reads ({reads}{more}),"
            " so its vector field needs a history; simulate it with run(), or pass "
            "delay_approximation=n to turn the delays into gamma-kernel ODEs",
            template=system.name,
        )


def _call_values(system: System) -> tuple:
    """Parameter values as handed to generated functions: Python numbers for scalars (0-d
    arrays are slower and behave differently in scalar code), arrays and matrices as they are."""
    return tuple(
        p.value.item() if isinstance(p.value, np.ndarray) and p.value.ndim == 0 else p.value
        for p in system.params
    )


def _arg_keys(system: System, names: Mapping[str, str] | None = None) -> list[str]:
    names = names or {}
    return [
        names.get(p.name) or (p.paths[0] if len(p.paths) == 1 else p.name) for p in system.params
    ]


def _named(func: Any, keys: Sequence[str], name: str | None = None) -> Any:
    """``func`` with ``func.params``: the names of its arguments, in order (a thin wrapper
    where ``func`` takes no attributes, e.g. a compiled callable); ``name`` renames a function
    made here (generated functions already carry the ``func_name`` they were emitted with)."""
    try:
        func.params = tuple(keys)
    except (AttributeError, TypeError):
        inner = func

        def func(*args: Any) -> Any:
            return inner(*args)

        func.params = tuple(keys)
    if name is not None:
        func.__name__ = func.__qualname__ = name
    return func


def check_func_name(func_name: Any) -> str:
    """``func_name`` of get_run_func / get_jacobian_func: the name of the generated function,
    so a Python identifier (not a keyword, not ending in ``_``, which generated helpers use)."""
    if (
        not isinstance(func_name, str)
        or not func_name.isidentifier()
        or keyword.iskeyword(func_name)
        or func_name.endswith("_")
    ):
        raise ArgumentError(
            f"func_name names the generated function: it must be an identifier that is no "
            f"Python keyword and does not end in '_', not {func_name!r}"
        )
    return func_name


def _input_keys(
    circuit: CircuitTemplate, system: System, inputs: Mapping[str, Any]
) -> dict[str, str]:
    """Input parameter name -> the key naming its array: the user's path when one path feeds it
    (``"p/qif_op/I_ext"``, ``"all/op/u"``), else the parameter name."""
    feeding: dict[str, list[str]] = {}
    for path in inputs:
        node_pattern, op, var = split_path(path)
        nodes = set(circuit.get_nodes(node_pattern, var=f"{op}/{var}"))
        for ext in system.inputs:
            if ext.path == f"{op}/{var}" and nodes & set(ext.nodes):
                feeding.setdefault(ext.name, []).append(path)
    return {name: paths[0] for name, paths in feeding.items() if len(paths) == 1}


def _held(times: np.ndarray, rows: np.ndarray, t: float) -> Any:
    """Row k of ``rows`` for ``times[k] <= t < times[k + 1]``, as fixed-step solvers use the
    rows in ``run``; the first and last rows outside the grid."""
    i = int(np.searchsorted(times, t, side="right")) - 1
    return rows[min(max(i, 0), times.shape[0] - 1)]


def _grid_step(backend: str, solver: str | None, delays: Any, step_size: Any) -> float | None:
    """The step delays are rounded to in ``get_run_func(delays="grid")`` (None for
    ``"exact"``): ``"grid"`` needs a fixed-step ``solver``, as in :func:`run`."""
    check_delays(delays)
    if delays == "exact":
        return None
    if solver is None:
        raise SolverError(
            "get_run_func(delays='grid') rounds delays to whole steps of a fixed-step solver: "
            "name it with solver= (euler, heun, rk4, ...)"
        )
    chosen = _host().resolve_solver(backend, solver)
    check_delays(delays, chosen.name, adaptive=chosen.adaptive)
    check_run_times(1.0, step_size)
    return float(step_size)


def _input_scheme(backend: str, solver: str | None) -> Any:
    """How get_run_func evaluates input rows between grid points for ``solver`` (a method of
    ``backend``): held over each step for fixed-step solvers, interpolated for adaptive ones
    (and when no solver is named)."""
    if solver is None:
        return _interpolate
    return _interpolate if _host().resolve_solver(backend, solver).adaptive else _held


def _interpolate(times: np.ndarray, rows: np.ndarray, t: float) -> Any:
    """Linear interpolation of ``rows`` (one per entry of ``times``) at ``t``; constant outside.

    The same formula as the numpy plugin's ``scipy`` solver, so both integrate the same inputs.
    """
    n = times.shape[0]
    if n == 1 or t <= times[0]:
        return rows[0]
    if t >= times[-1]:
        return rows[n - 1]
    i = int(np.searchsorted(times, t, side="right")) - 1
    w = (t - times[i]) / (times[i + 1] - times[i])
    return rows[i] + w * (rows[i + 1] - rows[i])


def state_indices(system: System) -> dict[str, Any]:
    indices: dict[str, Any] = {}
    for path, (name, index) in system.label_map.items():
        for s in system.states:
            if s.name == name:
                if index is not None:
                    indices[path] = s.start + index
                elif s.size == 1:
                    indices[path] = s.start
                else:
                    indices[path] = slice(s.start, s.stop)
    return indices


#: ``get_run_func(initial_state=...)`` not given: the model's initial values, with a warning
#: when the template has been run (PyRates started from the final state of that run).
_NOT_GIVEN: Any = object()


def _start_of(circuit: CircuitTemplate, initial_state: Any, what: str) -> Any:
    """The ``initial_state`` a generated function starts from (as in :func:`run`)."""
    if initial_state is not _NOT_GIVEN:
        return initial_state
    if circuit.state:
        warn_user(
            f"{what} of template {circuit.name!r} starts from the model's initial values, not "
            "from the final state of the previous run() as in PyRates; pass "
            "initial_state='last' to start there, or initial_state=None to keep the initial "
            "values without this warning",
            InitialStateWarning,
        )
    return None


def get_run_func(
    circuit: CircuitTemplate,
    func_name: str,
    step_size: float,
    backend: str = "numpy",
    solver: str | None = None,
    inputs: Mapping[str, Any] | None = None,
    vectorize: bool = True,
    float_precision: str = "float64",
    file_name: str | None = None,
    functional: bool = False,
    delay_approximation: int | None = None,
    auto: bool = False,
    overwrite: bool = False,
    initial_state: Any = _NOT_GIVEN,
    delays: str = "exact",
    **pyrates_options: Any,
) -> tuple[Any, tuple, list[str], dict[str, Any]]:
    """``(func, args, arg_keys, state_indices)`` for use with other tools.

    ``args[1]`` (and the starting point of Auto-07p files) is the state ``initial_state``
    names, as in :func:`run`: None the model's initial values, ``"last"`` the final state of
    the template's previous ``run()`` (where PyRates started), or a dict path -> value. Left
    out after a ``run()``, it is the initial values with an
    :class:`~rates_core.errors.InitialStateWarning`.

    ``auto=True`` (backends with the ``continuation`` capability, e.g. ``"fortran"``) also
    writes Auto-07p equation and constants files, next to ``file_name`` or into the working
    directory; Auto-07p constants given as keywords (``NMX=5000``, ``ICP=["p/qif_op/eta"]``)
    go into every constants file. PyRates's ``clear``, ``in_place``, ``verbose``,
    ``decorator`` and ``adaptive`` are accepted and ignored (:mod:`rates_core.pyrates_compat`).

    ``file_name`` and the Auto-07p files replace existing files only with ``overwrite=True``
    (a file already holding the same source is left as it is), never the model's own files,
    and never write through a symbolic link (:mod:`rates_core.outputs`).

    Models with delays (backends with the ``dde`` capability) give ``f(t, y, hist, *params)
    -> dy`` with keys ``["t", "y", "hist", ...]``, for solvers that keep the history (ddeint,
    jitcdde-style): ``hist(s)`` returns the state vector at the earlier time ``s``; ``args[2]``
    is the constant pre-history (the initial state, as in :func:`run`); with ``inputs``,
    ``input_times`` follows ``hist`` (as below). ``delay_approximation=n`` gives an ODE system
    instead. ``delays="grid"`` (with a fixed-step ``solver``) rounds every delay to whole
    steps of ``step_size``, ``k = round(tau / step_size)``, and reads ``hist(t - k *
    step_size)``: :func:`run`'s grid convention for euler; holding the values over the stages
    of a step is left to the caller's solver.

    ``func(*args)`` evaluates the vector field at ``t = 0`` and the initial state;
    ``scipy.integrate.solve_ivp(func, (0, T), args[1], args=args[2:])`` integrates it. With
    ``functional=False`` the in-place form ``f(t, y, dy, *params)`` is returned and ``args[2]``
    is its ``dy`` buffer.

    ``inputs`` (``{"node/op/var": array}``, one row per step as in :func:`run`): the arguments
    then start with ``input_times`` (the time grid ``k * step_size`` of the rows) and each input
    parameter is passed as its whole array of rows (key: the input's path); ``func`` evaluates
    every input at ``t`` by linear interpolation on that grid (constant outside it), as
    ``run(..., solver="scipy")`` does. ``solver`` names the solver the function is for (a
    method of ``backend``, as in :func:`run`): a fixed-step one (``"euler"``, ``"rk4"``, ...)
    holds row k over the step from ``k * step_size``, as ``run`` with that solver does; an
    adaptive one, or None, interpolates.

    ``func_name`` names the generated function (and so the function in ``file_name``'s copy);
    the returned in-place field and the functions with inputs carry it as ``__name__``.
    """
    backend, float_precision = pyrates_compat.driver_arguments(
        "get_run_func", backend, float_precision, pyrates_options, file_name_is_argument=True
    )
    constants = pyrates_compat.auto_constants("get_run_func", auto, pyrates_options)
    pyrates_compat.refuse_unknown("get_run_func", pyrates_options)
    check_func_name(func_name)
    scheme = _input_scheme(backend, solver)
    grid_step = _grid_step(backend, solver, delays, step_size)
    warn_discarded(circuit, "get_run_func")
    start = _start_of(circuit, initial_state, "get_run_func")
    system, emitted = pipeline.prepare(
        circuit,
        backend,
        inputs,
        vectorize,
        float_precision,
        file_name,
        delay_approximation,
        auto,
        overwrite,
        auto_constants=constants,
        initial_state=start,
        pyrates_order=True,
        func_name=func_name,
    )
    if system.delayed:
        return _delayed_run_func(
            circuit, system, emitted, backend, inputs, step_size, scheme, func_name, grid_step
        )
    y0 = pipeline.start_state(circuit, system, start)
    indices = state_indices(system)
    if not inputs:
        params = _call_values(system)
        keys = ["t", "y", *_arg_keys(system)]
        if functional:
            return _named(emitted.rhs_functional, keys), (0.0, y0, *params), keys, indices
        dy = np.zeros_like(y0)
        keys.insert(2, "dy")
        rhs = emitted.rhs

        def vector_field(t: float, y: np.ndarray, dy: np.ndarray, *params: Any) -> np.ndarray:
            # solvers such as solve_ivp keep references to returned arrays: hand out a copy of
            # the buffer the in-place field wrote, never the buffer itself
            return rhs(t, y, dy, *params).copy()

        return _named(vector_field, keys, func_name), (0.0, y0, dy, *params), keys, indices

    input_times, params, param_keys, at_time = _input_args(
        circuit, system, inputs, step_size, scheme
    )
    keys = ["t", "y", "input_times", *param_keys]
    if functional:
        rhs_functional_inputs = emitted.rhs_functional

        def vector_field_functional_inputs(
            t: float, y: np.ndarray, input_times: np.ndarray, *params: Any
        ) -> np.ndarray:
            return rhs_functional_inputs(t, y, *at_time(t, input_times, params))

        args = (0.0, y0, input_times, *params)
        return _named(vector_field_functional_inputs, keys, func_name), args, keys, indices

    keys.insert(2, "dy")
    rhs_inplace = emitted.rhs

    def vector_field_inputs(
        t: float, y: np.ndarray, dy: np.ndarray, input_times: np.ndarray, *params: Any
    ) -> np.ndarray:
        return rhs_inplace(t, y, dy, *at_time(t, input_times, params)).copy()

    args = (0.0, y0, np.zeros_like(y0), input_times, *params)
    return _named(vector_field_inputs, keys, func_name), args, keys, indices


def _input_args(
    circuit: CircuitTemplate,
    system: System,
    inputs: Mapping[str, Any],
    step_size: float,
    scheme: Callable[[np.ndarray, np.ndarray, float], Any],
) -> tuple[np.ndarray, tuple, list[str], Callable[[float, np.ndarray, tuple], list[Any]]]:
    """``(input_times, params, keys, at_time)`` of a generated function with inputs: the
    parameters with each input's whole array of rows, their keys, and ``at_time(t,
    input_times, params)``, the parameters with every input read at ``t`` by ``scheme``
    (:func:`_input_scheme`)."""
    lengths = {len(np.asarray(v)) for v in inputs.values()}
    if len(lengths) != 1:
        raise ModelError(
            f"the input arrays of get_run_func must have the same number of rows, got "
            f"{sorted(lengths)}"
        )
    (n_rows,) = lengths
    rows = pipeline.input_arrays(circuit, system, inputs, n_rows)
    input_times = np.arange(n_rows) * float(step_size)
    slots = [i for i, p in enumerate(system.params) if p.role == "input"]
    params = tuple(rows[p.name] if p.role == "input" else p.value for p in system.params)
    keys = _arg_keys(system, _input_keys(circuit, system, inputs))

    def at_time(t: float, times: np.ndarray, values: tuple) -> list[Any]:
        current = list(values)
        for i in slots:
            current[i] = scheme(times, values[i], t)
        return current

    return input_times, params, keys, at_time


def _delayed_run_func(
    circuit: CircuitTemplate,
    system: System,
    emitted: EmittedFunction,
    backend: str,
    inputs: Mapping[str, Any] | None,
    step_size: float,
    scheme: Callable[[np.ndarray, np.ndarray, float], Any],
    func_name: str,
    grid_step: float | None = None,
) -> tuple[Any, tuple, list[str], dict[str, Any]]:
    """``get_run_func`` of a model with delays: ``f(t, y, hist, *params) -> dy``, or with
    inputs ``f(t, y, hist, input_times, *params)`` (:mod:`rates_core.delay_export`), named
    ``func_name``; ``grid_step``: delays rounded to whole steps of it."""
    from rates_core.delay_export import check_exportable, delayed_run_func

    check_exportable(system, _host().backend_info(backend).capabilities, backend)
    if not inputs:
        exported = delayed_run_func(
            system, emitted, _call_values(system), _arg_keys(system), grid_step=grid_step
        )
    else:
        times, params, keys, at_time = _input_args(circuit, system, inputs, step_size, scheme)
        exported = delayed_run_func(
            system, emitted, params, keys, (times, at_time), grid_step=grid_step
        )
    func, args, keys = exported
    return _named(func, keys, func_name), args, keys, state_indices(system)


def get_jacobian_func(
    circuit: CircuitTemplate,
    func_name: str,
    step_size: float | None = None,
    backend: str = "numpy",
    vectorize: bool = True,
    float_precision: str = "float64",
    file_name: str | None = None,
    delay_approximation: int | None = None,
    overwrite: bool = False,
    initial_state: Any = _NOT_GIVEN,
    delays: str = "exact",
    **pyrates_options: Any,
) -> tuple[Any, tuple, list[str], dict[str, Any]]:
    """Like :func:`get_run_func` for the Jacobian ``J(t, y, *params)`` (dense, d f / d y).

    ``step_size=None``: the backend's exact (symbolic) Jacobian. A number: central finite
    differences of the vector field with that step (relative to ``|y_j|`` where it exceeds
    1), for backends without an exact Jacobian or to check one. ``func_name`` names the
    generated function.
    """
    backend, float_precision = pyrates_compat.driver_arguments(
        "get_jacobian_func", backend, float_precision, pyrates_options, file_name_is_argument=True
    )
    pyrates_compat.refuse_unknown("get_jacobian_func", pyrates_options)
    check_func_name(func_name)
    if step_size is not None:
        step_size = _check_difference_step(step_size)
    warn_discarded(circuit, "get_jacobian_func")
    start = _start_of(circuit, initial_state, "get_jacobian_func")
    system, emitted = pipeline.prepare(
        circuit,
        backend,
        None,
        vectorize,
        float_precision,
        file_name,
        delay_approximation,
        overwrite=overwrite,
        pyrates_order=True,
        func_name=func_name,
    )
    _refuse_delays(system, "get_jacobian_func")
    if step_size is not None:
        jacobian = _difference_jacobian(emitted.rhs_functional, step_size)
    elif emitted.jacobian is None:
        raise ModelError(
            f"backend {backend!r} does not provide an exact Jacobian; pass step_size=h for "
            "central finite differences of the vector field"
        )
    else:
        jacobian = emitted.jacobian
    params = _call_values(system)
    keys = ["t", "y", *_arg_keys(system)]
    y0 = pipeline.start_state(circuit, system, start)
    made_here = func_name if step_size is not None else None
    return _named(jacobian, keys, made_here), (0.0, y0, *params), keys, state_indices(system)


def _check_difference_step(step_size: Any) -> float:
    try:
        step = float(step_size)
    except (TypeError, ValueError):
        step = math.nan
    if isinstance(step_size, bool) or not (math.isfinite(step) and step > 0):
        raise ArgumentError(
            f"step_size of get_jacobian_func is the finite-difference step: a positive number "
            f"(or None for the backend's exact Jacobian), not {step_size!r}"
        )
    return step


def _difference_jacobian(field: Any, step: float) -> Any:
    """``J(t, y, *params)`` by central differences of ``field(t, y, *params) -> dy``, with the
    step ``step * max(1, |y_j|)`` for column j."""

    def jacobian(t: float, y: Any, *params: Any) -> np.ndarray:
        y = np.asarray(y)
        columns = []
        for j in range(y.size):
            h = step * max(1.0, abs(y[j]))
            up, down = y.copy(), y.copy()
            up[j] += h
            down[j] -= h
            diff = np.asarray(field(t, up, *params)) - np.asarray(field(t, down, *params))
            columns.append(diff / (2 * h))
        return np.column_stack(columns) if columns else np.zeros((0, 0))

    return jacobian


def integrate(reference: str | CircuitTemplate, **run_kwargs: Any) -> pd.DataFrame:
    """Load a circuit from a reference (or take a CircuitTemplate, as PyRates's ``integrate``
    does) and run it in one call."""
    if isinstance(reference, CircuitTemplate):
        return reference.run(**run_kwargs)
    return CircuitTemplate.from_yaml(reference).run(**run_kwargs)
