"""The simulation driver: ``run``, ``get_run_func``, ``get_jacobian_func`` and ``integrate``.

It builds the System, asks the backend plugin (by name, through the plugin host) for generated
code, prepares the :class:`~rates_core.backend.Problem` (time grid, parameters, inputs, initial
state), lets the solver plugin integrate, and turns the sampled states into a DataFrame.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import sys
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from rates_core import __version__, builtins, pyrates_compat
from rates_core.backend import (
    EmitOptions,
    EmittedFunction,
    Problem,
    Trajectory,
    check_on_nonfinite,
    first_nonfinite,
    have_tqdm,
    require_tqdm,
)
from rates_core.errors import InitialStateWarning, ModelError, SolverError, warn_user
from rates_core.frontend.edits import warn_discarded
from rates_core.frontend.templates import CircuitTemplate, split_path
from rates_core.observe import evaluate_algebraic
from rates_core.outputs import model_files
from rates_core.plugins import default_host
from rates_core.system import System, build_system

if TYPE_CHECKING:
    import pandas as pd

#: Systems with at most this many states are built unvectorised so backends can emit scalar code.
SMALL_SYSTEM = 32
#: ``progress=None`` shows a bar (on a terminal) for runs of more steps than this ...
PROGRESS_MIN_STEPS = 1_000_000
#: ... or expected to take longer than this many seconds (a rough estimate, see _expected_seconds)
PROGRESS_MIN_SECONDS = 2.0


def _host() -> Any:
    return default_host()


def _count_nodes(circuit: CircuitTemplate, limit: int) -> int:
    """The number of nodes (population units included) of ``circuit`` and its sub-circuits,
    counted up to just past ``limit``."""
    count = len(circuit.nodes) + sum(p.n for p in circuit.populations.values())
    for sub in circuit.circuits.values():
        if count > limit:
            break
        count += _count_nodes(sub, limit - count)
    return count


def build_run_system(circuit: CircuitTemplate, vectorize: bool, **options: Any) -> System:
    """The System ``run`` integrates (``options`` go to :func:`build_system`).

    Small networks run fastest as scalar code (plain floats, generated loops), so a system of
    at most :data:`SMALL_SYSTEM` states is built unvectorised, one population per node, even
    when ``vectorize`` asks otherwise: the same equations. A circuit of few nodes is built
    unvectorised first (and vectorised only if that gives more states), others vectorised
    first (and again unvectorised if small), so the common cases build once.
    """
    if vectorize and _count_nodes(circuit, SMALL_SYSTEM) <= SMALL_SYSTEM:
        system = build_system(circuit, vectorize=False, **options)
        if system.n_states <= SMALL_SYSTEM:
            return system
    system = build_system(circuit, vectorize=vectorize, **options)
    if (
        vectorize
        and system.n_states <= SMALL_SYSTEM
        and len(system.ir.populations) < system.n_states
    ):
        system = build_system(circuit, vectorize=False, **options)
    return system


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


def _prepare(
    circuit: CircuitTemplate,
    backend: str,
    inputs: Mapping[str, Any] | None,
    vectorize: bool,
    float_precision: str,
    file_name: str | None = None,
    delay_approximation: int | None = None,
    auto: bool = False,
    overwrite: bool = False,
    auto_constants: tuple[tuple[str, Any], ...] = (),
    initial_state: Any = None,
    pyrates_order: bool = False,
) -> tuple[System, EmittedFunction]:
    """The System and the backend's generated code; ``initial_state`` (as in :func:`run`) is
    the starting point written into Auto-07p files (``auto=True``); ``pyrates_order`` puts
    the parameters in PyRates's order (:func:`in_pyrates_order`)."""
    host = _host()
    info = host.backend_info(backend)  # clear UnknownBackendError / PluginConflictError first
    if auto and "continuation" not in info.capabilities:
        raise ModelError(
            f"auto=True writes Auto-07p files, which backend {backend!r} does not provide "
            "(capability 'continuation'; rates-fortran has it)"
        )
    system = build_run_system(
        circuit,
        vectorize,
        inputs=list(inputs or {}),
        float_precision=float_precision,
        functions=builtins.function_table(host.builtins(backend)),
        delay_approximation=delay_approximation,
        record_delayed="dde_algebraic" in info.capabilities,
    )
    if pyrates_order:
        system = in_pyrates_order(system)
    start = None
    if auto and initial_state is not None:
        start = tuple(_initial_state(circuit, system, initial_state).tolist())
    options = EmitOptions(
        float_precision=float_precision,
        file_name=file_name,
        auto=auto,
        auto_constants=auto_constants,
        overwrite=overwrite,
        protect=model_files(circuit) if file_name or auto else (),
        initial_state=start,
    )
    emitted = host.emit_function(backend, system, options)
    return system, emitted


def _input_arrays(
    circuit: CircuitTemplate, system: System, inputs: Mapping[str, Any] | None, n_rows: int
) -> dict[str, np.ndarray]:
    """Per input parameter, an array with one row per step: ``(n_rows,)`` or ``(n_rows, size)``."""
    arrays: dict[str, np.ndarray] = {}
    for ext in system.inputs:
        shape = (n_rows,) if ext.size == 1 and not ext.nodes[1:] else (n_rows, ext.size)
        arrays[ext.name] = np.zeros(shape, dtype=system.param(ext.name).dtype)
    for path, values in (inputs or {}).items():
        node_pattern, op, var = split_path(path)
        nodes = circuit.get_nodes(node_pattern, var=f"{op}/{var}")
        arr = np.asarray(values)
        if arr.shape[0] != n_rows:
            raise ModelError(
                f"input for {path!r} has {arr.shape[0]} rows, expected one per step ({n_rows})",
                variable=path,
            )
        if arr.ndim == 2 and arr.shape[1] == 1:
            arr = arr[:, 0]
        if arr.ndim == 2 and arr.shape[1] != len(nodes):
            raise ModelError(
                f"input for {path!r} has {arr.shape[1]} columns but the path matches "
                f"{len(nodes)} nodes",
                variable=path,
            )
        if arr.ndim > 2:
            raise ModelError(f"input for {path!r} must be 1-D or 2-D", variable=path)
        for ext in system.inputs:
            if ext.path != f"{op}/{var}":
                continue
            unit_of = {node: u for u, node in enumerate(ext.nodes)}
            matched = [(k, unit_of[node]) for k, node in enumerate(nodes) if node in unit_of]
            if not matched:
                continue
            columns, units = (list(x) for x in zip(*matched))
            target = arrays[ext.name]
            if target.ndim == 1:
                target += arr if arr.ndim == 1 else arr[:, columns[0]]
            else:
                # all matched units at once (units are distinct): no per-unit Python work
                target[:, units] += arr[:, None] if arr.ndim == 1 else arr[:, columns]
    return arrays


def _initial_state(circuit: CircuitTemplate, system: System, initial_state: Any) -> np.ndarray:
    y0 = system.initial_state()
    if initial_state is None:
        return y0
    if isinstance(initial_state, str):
        if initial_state != "last":
            raise ModelError(f"initial_state must be None, 'last' or a dict, not {initial_state!r}")
        if not circuit.state:
            raise ModelError("initial_state='last' needs a previous run of this template")
        initial_state = circuit.state
    if not isinstance(initial_state, Mapping):
        raise ModelError("initial_state must be None, 'last' or a dict path -> value")
    offsets = {s.name: s for s in system.states}
    for path, value in initial_state.items():
        for node, op, var in circuit.resolve_path(path):
            full = f"{node}/{op}/{var}"
            name, index = system.label_map.get(full, (None, None))
            if name not in offsets:
                raise ModelError(f"{full!r} is not a state variable", variable=full)
            state = offsets[name]
            if index is None:
                y0[state.start : state.stop] = value
            else:
                y0[state.start + index] = value
    return y0


def _zero_kernels(system: System, y0: np.ndarray) -> np.ndarray:
    """``y0`` with every gamma-kernel stage at 0: the chains' steady state for a zero
    pre-history (``history="zero"``), as discrete delays read 0 before t = 0."""
    y0 = np.array(y0, copy=True)
    for s in system.states:
        if s.kernel:
            y0[s.start : s.stop] = 0
    return y0


def _history(circuit: CircuitTemplate, system: System, history: Any, y0: np.ndarray) -> Any:
    """``Problem.history``: the state vector at ``t < 0`` from a dict of numbers / functions,
    or zeros for ``history="zero"`` (PyRates's pre-history)."""
    if history is None:
        return None
    if isinstance(history, str):
        if history != "zero":
            raise ModelError(f"history must be None, 'zero' or a dict, not {history!r}")
        zeros = np.zeros_like(y0)
        return lambda t: zeros
    if not isinstance(history, Mapping):
        raise ModelError(
            "history must be None, 'zero' or a dict node/op/var -> number or function of t"
        )
    states = {s.name: s for s in system.states}
    entries = []
    for path, value in history.items():
        matches = circuit.resolve_path(path)
        for k, (node, op, var) in enumerate(matches):
            full = f"{node}/{op}/{var}"
            name, index = system.label_map.get(full, (None, None))
            if name not in states:
                raise ModelError(f"history for {full!r}: not a state variable", variable=full)
            state = states[name]
            where = state.start + (index or 0) if index is not None or state.size == 1 else None
            where = slice(state.start, state.stop) if where is None else where
            entries.append((full, where, value, k, len(matches)))

    def value_at(value: Any, t: float, k: int, n: int) -> Any:
        v = np.asarray(value(t) if callable(value) else value)
        if v.ndim == 1 and n > 1 and v.shape[0] == n:
            v = v[k]
        return v

    for full, where, value, k, n in entries:  # check shapes once, before integrating
        v = value_at(value, -1e-12, k, n)
        size = 1 if isinstance(where, (int, np.integer)) else where.stop - where.start
        if v.size not in (1, size):
            raise ModelError(
                f"history for {full!r} has shape {v.shape}, expected a scalar or {size} values",
                variable=full,
            )
        if first_nonfinite(v) is not None:
            raise ModelError(
                f"history for {full!r} is {v.tolist()} at t=-1e-12: it must be finite",
                variable=full,
            )

    def pre_history(t: float) -> np.ndarray:
        y = np.array(y0, copy=True)
        for _, where, value, k, n in entries:
            y[where] = value_at(value, t, k, n)
        return y

    return pre_history


def _locate_output(circuit: CircuitTemplate, system: System, path: str) -> list[tuple]:
    """``[(node, op, var)]`` of an output path: a variable of one unit of the System as it
    is (edge units, such as the states of an edge template, are no nodes of the circuit),
    other paths (wildcards, sub-circuits) through the circuit."""
    if isinstance(path, str) and path in system.label_map:
        node, op, var = path.rsplit("/", 2)
        return [(node, op, var)]
    return circuit.resolve_path(path)


def _output_spec(
    circuit: CircuitTemplate, system: System, outputs: Any
) -> list[tuple[str, str, str, str, int | None]]:
    """``(name, node, "op/var", symbol, index)`` per recorded column.

    A vector variable of one node (``output(0.0, 3)``) gives one column per element, named
    ``name[k]``.
    """
    if outputs is None:
        outputs = {}
        for s in system.states:
            for path in s.paths:
                if path in system.label_map:
                    outputs[path] = path
    elif not isinstance(outputs, Mapping):
        outputs = {p: p for p in outputs}
    sizes = system.symbol_sizes()
    spec = []
    for name, path in outputs.items():
        for node, op, var in _locate_output(circuit, system, path):
            full = f"{node}/{op}/{var}"
            if full not in system.label_map:
                raise ModelError(
                    f"output {path!r}: {full} is not used by any equation", variable=path
                )
            sym, index = system.label_map[full]
            size = sizes.get(sym, 1)
            if index is None and size > 1:
                for k in range(size):
                    spec.append((f"{name}[{k}]", node, f"{op}/{var}", sym, k))
            else:
                spec.append((name, node, f"{op}/{var}", sym, index))
    return spec


def _dataframe(spec, times, states, system, params, input_rows, sample_idx) -> pd.DataFrame:
    import pandas as pd  # only results need pandas; get_run_func users do not pay for it

    state_of = {s.name: s for s in system.states}
    algebraic = sorted({sym for *_, sym, _ in spec if sym not in state_of})
    param_of = {p.name: v for p, v in zip(system.params, params)}
    rows_at_samples = {k: (v[sample_idx] if np.ndim(v) else v) for k, v in input_rows.items()}
    values = evaluate_algebraic(
        system,
        [a for a in algebraic if a not in param_of],
        times,
        states,
        params,
        rows_at_samples,
    )
    columns, data = [], []
    counts: dict[str, int] = {}
    for name, *_ in spec:
        counts[name] = counts.get(name, 0) + 1
    multi = any(c > 1 for c in counts.values())
    for name, node, opvar, sym, index in spec:
        if sym in state_of:
            s = state_of[sym]
            col = states[:, s.start + (index or 0)]
        elif sym in param_of:
            col = np.broadcast_to(np.ravel(param_of[sym])[index or 0], times.shape)
        else:
            col = values[sym][:, index or 0]
        columns.append((name, node, opvar) if multi else name)
        data.append(col)
    frame = pd.DataFrame(
        np.column_stack(data) if data else np.empty((len(times), 0)),
        index=pd.Index(times, name="time"),
    )
    frame.columns = pd.MultiIndex.from_tuples(columns) if multi else columns
    return frame


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
    **solver_options: Any,
) -> Any:
    """Simulate ``circuit`` and return the recorded variables, indexed by time.

    ``monitors`` (a dict name -> :mod:`rates_core.monitors` monitor): the run integrates in
    windows and streams them to the monitors instead of recording the trajectory, and returns
    a dict name -> frame of each monitor's samples (``outputs`` and ``sampling_step_size`` are
    then not given: each monitor names its variables and period).

    Delays: ``history`` is the pre-history of delayed reads, a dict ``node/op/var`` (``all``
    allowed) -> number or function of time ``t < 0``; unlisted variables keep their initial
    value as pre-history. ``history="zero"`` makes every state 0 before t = 0, as in PyRates
    (gamma-kernel chains of ``spread`` edges then start at 0 too).
    ``delay_approximation=n`` replaces every discrete delay by a gamma kernel of order n (an ODE
    system).

    ``solver`` is a method of ``backend`` (``"euler"``, ``"heun"``, ``"rk4"``, ``"dopri5"``,
    ``"scipy"``, ... as ``rates plugins`` lists them), run by the backend's own implementation;
    the full names (``"fortran_rk4"``) are aliases. ``attrs["solver"]`` names the solver that ran.

    ``solver="scipy"`` (and the other adaptive solvers) default to ``rtol=1e-6``,
    ``atol=1e-9``; pass ``rtol``/``atol`` to change them.

    ``progress``: True shows a tqdm progress bar on stderr (tqdm is the optional dependency
    ``rates-core[progress]``; without it True is a :class:`~rates_core.backend.
    MissingDependencyError`), False never; None (default) shows one for long runs (more than
    :data:`PROGRESS_MIN_STEPS` steps or about :data:`PROGRESS_MIN_SECONDS` s expected) when
    stderr is a terminal and tqdm is installed. ``seed`` (a solver option) seeds ``randn``.

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
    solver, method = chosen.name, chosen.method
    system, emitted = _prepare(
        circuit, backend, inputs, vectorize, float_precision, None, delay_approximation
    )
    n_steps = int(round(simulation_time / step_size))
    n_samples = int(round(simulation_time / sampling))
    if progress is None:
        progress = _auto_progress(system, method, n_steps)
    input_rows = _input_arrays(circuit, system, inputs, n_steps)
    seed = solver_options.pop("seed", None)
    spec = _output_spec(circuit, system, outputs)
    y0 = _initial_state(circuit, system, initial_state)
    if isinstance(history, str) and history == "zero":
        y0 = _zero_kernels(system, y0)
    problem = Problem(
        y0=y0,
        params=[
            np.array(p.value, copy=True) if p.role == "input" else p.value for p in system.params
        ],
        t0=0.0,
        simulation_time=simulation_time,
        step_size=step_size,
        sampling_step=sampling,
        n_samples=n_samples,
        inputs=input_rows,
        input_times=np.arange(n_steps) * step_size,
        options=solver_options,
        seed=seed,
        progress=bool(progress),
        history=_history(circuit, system, history, y0),
        on_nonfinite=on_nonfinite,
    )
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
    sample_idx = np.minimum(np.rint(trajectory.times / step_size).astype(int), max(n_steps - 1, 0))
    frame = _dataframe(
        spec,
        trajectory.times,
        trajectory.states,
        system,
        problem.params,
        input_rows,
        sample_idx,
    )
    object.__setattr__(circuit, "state", _final_state(system, trajectory.final))
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
        float_precision=float_precision,
        vectorized=system.ir is not None and any(len(p.nodes) > 1 for p in system.ir.populations),
    )
    if monitored is not None:
        return _monitor_frames(monitored, frame.attrs, cutoff, step_size)
    return frame


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
    per_evaluation = 2e-7 * n if n <= SMALL_SYSTEM else 2e-5 + 1e-8 * n
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


def in_pyrates_order(system: System) -> System:
    """``system`` with its parameters in the argument order of PyRates's generated functions,
    where it can be had: by first appearance in the derivatives (state by state, in sympy's
    order of terms), then in the algebraic updates (edge weights, coupling), then the rest in
    declaration order. For one population this is PyRates 1.2's order; within a network,
    PyRates's order depends on its internal names, so pass arguments by their keys
    (``func.params``)."""
    import sympy

    index = {p.name: i for i, p in enumerate(system.params)}
    order: dict[int, None] = {}
    expressions = [expr for _, expr in system.derivatives]
    expressions += [a.expr for a in system.algebraic]
    for expr in expressions:
        for node in sympy.preorder_traversal(expr):
            i = index.get(node.name) if isinstance(node, sympy.Symbol) else None
            if i is not None:
                order.setdefault(i, None)
    order.update(dict.fromkeys(range(len(system.params))))
    if list(order) == list(range(len(system.params))):
        return system
    return dataclasses.replace(system, params=[system.params[i] for i in order])


def _named(func: Any, keys: Sequence[str]) -> Any:
    """``func`` with ``func.params``: the names of its arguments, in order (a thin wrapper
    where ``func`` takes no attributes, e.g. a compiled callable)."""
    try:
        func.params = tuple(keys)
    except (AttributeError, TypeError):
        inner = func

        def func(*args: Any) -> Any:
            return inner(*args)

        func.params = tuple(keys)
    return func


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


def _state_indices(system: System) -> dict[str, Any]:
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
    solver: str = "euler",
    inputs: Mapping[str, Any] | None = None,
    vectorize: bool = True,
    float_precision: str = "float64",
    file_name: str | None = None,
    functional: bool = False,
    delay_approximation: int | None = None,
    auto: bool = False,
    overwrite: bool = False,
    initial_state: Any = _NOT_GIVEN,
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

    Models with delays (backends with the ``dde`` capability, without ``inputs``) give
    ``f(t, y, hist, *params) -> dy`` with keys ``["t", "y", "hist", ...]``, for solvers that
    keep the history (ddeint, jitcdde-style): ``hist(s)`` returns the state vector at the
    earlier time ``s``; ``args[2]`` is the constant pre-history (the initial state, as in
    :func:`run`). ``delay_approximation=n`` gives an ODE system instead.

    ``func(*args)`` evaluates the vector field at ``t = 0`` and the initial state;
    ``scipy.integrate.solve_ivp(func, (0, T), args[1], args=args[2:])`` integrates it. With
    ``functional=False`` the in-place form ``f(t, y, dy, *params)`` is returned and ``args[2]``
    is its ``dy`` buffer.

    ``inputs`` (``{"node/op/var": array}``, one row per step as in :func:`run`): the arguments
    then start with ``input_times`` (the time grid ``k * step_size`` of the rows) and each input
    parameter is passed as its whole array of rows (key: the input's path); ``func`` evaluates
    every input at ``t`` by linear interpolation on that grid (constant outside it), as
    ``run(..., solver="scipy")`` does.
    """
    backend, float_precision = pyrates_compat.driver_arguments(
        "get_run_func", backend, float_precision, pyrates_options, file_name_is_argument=True
    )
    constants = pyrates_compat.auto_constants("get_run_func", auto, pyrates_options)
    pyrates_compat.refuse_unknown("get_run_func", pyrates_options)
    warn_discarded(circuit, "get_run_func")
    start = _start_of(circuit, initial_state, "get_run_func")
    system, emitted = _prepare(
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
    )
    if system.delayed:
        return _delayed_run_func(system, emitted, backend, inputs)
    y0 = _initial_state(circuit, system, start)
    indices = _state_indices(system)
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

        return _named(vector_field, keys), (0.0, y0, dy, *params), keys, indices

    lengths = {len(np.asarray(v)) for v in inputs.values()}
    if len(lengths) != 1:
        raise ModelError(
            f"the input arrays of get_run_func must have the same number of rows, got "
            f"{sorted(lengths)}"
        )
    (n_rows,) = lengths
    rows = _input_arrays(circuit, system, inputs, n_rows)
    input_times = np.arange(n_rows) * float(step_size)
    slots = [i for i, p in enumerate(system.params) if p.role == "input"]
    params = tuple(rows[p.name] if p.role == "input" else p.value for p in system.params)
    keys = ["t", "y", "input_times", *_arg_keys(system, _input_keys(circuit, system, inputs))]

    def at_time(t: float, times: np.ndarray, values: tuple) -> list[Any]:
        current = list(values)
        for i in slots:
            current[i] = _interpolate(times, values[i], t)
        return current

    if functional:
        rhs_functional_inputs = emitted.rhs_functional

        def vector_field_functional_inputs(
            t: float, y: np.ndarray, input_times: np.ndarray, *params: Any
        ) -> np.ndarray:
            return rhs_functional_inputs(t, y, *at_time(t, input_times, params))

        args = (0.0, y0, input_times, *params)
        return _named(vector_field_functional_inputs, keys), args, keys, indices

    keys.insert(2, "dy")
    rhs_inplace = emitted.rhs

    def vector_field_inputs(
        t: float, y: np.ndarray, dy: np.ndarray, input_times: np.ndarray, *params: Any
    ) -> np.ndarray:
        return rhs_inplace(t, y, dy, *at_time(t, input_times, params)).copy()

    args = (0.0, y0, np.zeros_like(y0), input_times, *params)
    return _named(vector_field_inputs, keys), args, keys, indices


def _delayed_run_func(
    system: System, emitted: EmittedFunction, backend: str, inputs: Mapping[str, Any] | None
) -> tuple[Any, tuple, list[str], dict[str, Any]]:
    """``get_run_func`` of a model with delays: ``f(t, y, hist, *params) -> dy``
    (:mod:`rates_core.delay_export`)."""
    from rates_core.delay_export import check_exportable, delayed_run_func

    check_exportable(system, _host().backend_info(backend).capabilities, backend)
    if inputs:
        raise ModelError(
            "get_run_func: a model with delays is exported without inputs; add the input as "
            "a parameter, or simulate with run(inputs=...)",
            template=system.name,
        )
    func, args, keys = delayed_run_func(system, emitted, _call_values(system), _arg_keys(system))
    return func, args, keys, _state_indices(system)


def get_jacobian_func(
    circuit: CircuitTemplate,
    func_name: str,
    step_size: float = 1e-3,
    backend: str = "numpy",
    vectorize: bool = True,
    float_precision: str = "float64",
    file_name: str | None = None,
    delay_approximation: int | None = None,
    overwrite: bool = False,
    initial_state: Any = _NOT_GIVEN,
    **pyrates_options: Any,
) -> tuple[Any, tuple, list[str], dict[str, Any]]:
    """Like :func:`get_run_func` for the Jacobian ``J(t, y, *params)`` (dense, d f / d y)."""
    backend, float_precision = pyrates_compat.driver_arguments(
        "get_jacobian_func", backend, float_precision, pyrates_options, file_name_is_argument=True
    )
    pyrates_compat.refuse_unknown("get_jacobian_func", pyrates_options)
    warn_discarded(circuit, "get_jacobian_func")
    start = _start_of(circuit, initial_state, "get_jacobian_func")
    system, emitted = _prepare(
        circuit,
        backend,
        None,
        vectorize,
        float_precision,
        file_name,
        delay_approximation,
        overwrite=overwrite,
        pyrates_order=True,
    )
    _refuse_delays(system, "get_jacobian_func")
    if emitted.jacobian is None:
        raise ModelError(f"backend {backend!r} does not provide a Jacobian")
    params = _call_values(system)
    keys = ["t", "y", *_arg_keys(system)]
    y0 = _initial_state(circuit, system, start)
    return _named(emitted.jacobian, keys), (0.0, y0, *params), keys, _state_indices(system)


def integrate(reference: str | CircuitTemplate, **run_kwargs: Any) -> pd.DataFrame:
    """Load a circuit from a reference (or take a CircuitTemplate, as PyRates's ``integrate``
    does) and run it in one call."""
    circuit = reference if isinstance(reference, CircuitTemplate) else None
    return (circuit or CircuitTemplate.from_yaml(reference)).run(**run_kwargs)
