"""The steps every simulation entry point takes: prepare the System, make the Problem.

``run``, ``get_run_func`` / ``get_jacobian_func`` (:mod:`rates_core.simulate`),
``grid_search`` (:mod:`rates_core.sweep`), ``export`` (:mod:`rates_core.export`) and
rates-torch's ``TorchModel`` all go through here:

1. :func:`prepare_system` builds the System as ``run`` integrates it, for one backend (its
   builtins, whether it records delayed algebraic variables);
2. :func:`prepare` adds the backend's generated code (:class:`~rates_core.backend.EmittedFunction`);
3. :func:`make_problem` turns the user's time grid, inputs, initial state and history into the
   :class:`~rates_core.backend.Problem` a solver integrates (:func:`input_arrays`,
   :func:`start_state`, :func:`zero_kernels`, :func:`pre_history` are its parts).
"""

from __future__ import annotations

import dataclasses
import weakref
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import sympy

from rates_core import builtins, noise
from rates_core.backend import EmitOptions, EmittedFunction, Problem, first_nonfinite
from rates_core.delay_reads import check_delays, check_grid_support
from rates_core.errors import ModelError
from rates_core.frontend.templates import CircuitTemplate, split_path
from rates_core.outputs import model_files
from rates_core.plugins import SolverInfo, default_host
from rates_core.system import System, build_system

__all__ = [
    "SMALL_SYSTEM",
    "build_run_system",
    "check_delay_option",
    "in_pyrates_order",
    "input_arrays",
    "make_problem",
    "pre_history",
    "prepare",
    "prepare_system",
    "start_state",
    "zero_kernels",
]


#: Systems with at most this many states are built unvectorised so backends can emit scalar code.
SMALL_SYSTEM = 32


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
        and system.ir is not None
        and system.n_states <= SMALL_SYSTEM
        and len(system.ir.populations) < system.n_states
    ):
        system = build_system(circuit, vectorize=False, **options)
    return system


def prepare_system(
    circuit: CircuitTemplate,
    backend: str,
    *,
    inputs: Sequence[str] = (),
    vectorize: bool = True,
    float_precision: str = "float64",
    delay_approximation: int | None = None,
    as_run: bool = True,
) -> System:
    """The System of ``circuit`` for ``backend``: with its builtins, and its delayed algebraic
    variables recorded where the backend keeps them (capability ``dde_algebraic``).

    ``inputs``: the paths that receive extrinsic inputs. ``as_run``: small systems are built
    unvectorised, as ``run`` integrates them (:func:`build_run_system`); otherwise the System
    is vectorised as ``vectorize`` says (``export``).
    """
    host = default_host()
    info = host.backend_info(backend)  # clear UnknownBackendError / PluginConflictError first
    options: dict[str, Any] = dict(
        inputs=list(inputs),
        float_precision=float_precision,
        functions=builtins.function_table(host.builtins(backend)),
        delay_approximation=delay_approximation,
        record_delayed="dde_algebraic" in info.capabilities,
    )
    if as_run:
        return build_run_system(circuit, vectorize, **options)
    return build_system(circuit, vectorize=vectorize, **options)


#: The Systems and generated code of the templates prepared in this process, per template
#: object (held weakly, so an entry goes with its template) and build options: templates are
#: immutable, so a second run() of the same template builds and emits nothing again.
_PREPARED: weakref.WeakKeyDictionary[Any, dict[tuple, tuple[System, EmittedFunction]]] = (
    weakref.WeakKeyDictionary()
)


def prepare(
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
    func_name: str = "vector_field",
    solver: SolverInfo | None = None,
) -> tuple[System, EmittedFunction]:
    """The System (:func:`prepare_system`) and the backend's generated code.

    ``inputs``: the extrinsic inputs by path (only the paths matter here). ``initial_state``
    (as in ``run``) is the starting point written into Auto-07p files (``auto=True``);
    ``pyrates_order`` puts the parameters in PyRates's order (:func:`in_pyrates_order`);
    ``func_name`` names the generated function; ``solver``: the solver of ``run``, which may
    integrate white noise (:func:`rates_core.noise.emit`: drift and diffusion code).

    Without files to write (``file_name``, ``auto``), a template prepared before with the same
    options reuses that System and code; what changes from run to run (initial state, input
    arrays, history) is bound by :func:`make_problem`.
    """
    args = (circuit, backend, inputs, vectorize, float_precision, file_name, delay_approximation)
    if file_name or auto:
        return _prepare_anew(
            *args, auto, overwrite, auto_constants, initial_state, pyrates_order, func_name, solver
        )
    key = (
        default_host(),
        backend,
        tuple(inputs or {}),
        vectorize,
        float_precision,
        delay_approximation,
        pyrates_order,
        func_name,
        solver is not None,  # code for a solver: with noise, drift and diffusion
    )
    try:
        known = _PREPARED.setdefault(circuit, {})
    except TypeError:  # an object that cannot be held weakly: prepared each time
        known = {}
    if key not in known:
        known[key] = _prepare_anew(
            *args, pyrates_order=pyrates_order, func_name=func_name, solver=solver
        )
    elif solver is not None:
        noise.check_solver(known[key][0], default_host(), backend, solver)
    return known[key]


def _prepare_anew(
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
    func_name: str = "vector_field",
    solver: SolverInfo | None = None,
) -> tuple[System, EmittedFunction]:
    if auto and "continuation" not in default_host().backend_info(backend).capabilities:
        raise ModelError(
            f"auto=True writes Auto-07p files, which backend {backend!r} does not provide "
            "(capability 'continuation'; rates-fortran has it)"
        )
    system = prepare_system(
        circuit,
        backend,
        inputs=list(inputs or {}),
        vectorize=vectorize,
        float_precision=float_precision,
        delay_approximation=delay_approximation,
    )
    if pyrates_order:
        system = in_pyrates_order(system)
    start = None
    if auto and initial_state is not None:
        start = tuple(start_state(circuit, system, initial_state).tolist())
    options = EmitOptions(
        float_precision=float_precision,
        func_name=func_name,
        file_name=file_name,
        auto=auto,
        auto_constants=auto_constants,
        overwrite=overwrite,
        protect=model_files(circuit) if file_name or auto else (),
        initial_state=start,
    )
    return system, noise.emit(default_host(), backend, system, options, solver)


def in_pyrates_order(system: System) -> System:
    """``system`` with its parameters in the argument order of PyRates's generated functions,
    where it can be had: by first appearance in the derivatives (state by state, in sympy's
    order of terms), then in the algebraic updates (edge weights, coupling), then the rest in
    declaration order. For one population this is PyRates 1.2's order; within a network,
    PyRates's order depends on its internal names, so pass arguments by their keys
    (``func.params``)."""
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
    return dataclasses.replace(system, params=tuple(system.params[i] for i in order))


def input_arrays(
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


def unit_value(
    label: str, value: Any, k: int, n: int, size: int, y0: np.ndarray, variable: str, when: str = ""
) -> np.ndarray:
    """The value for the ``k``-th of the ``n`` units a path matched, checked: a scalar sets
    every unit, an array of ``n`` values (``n > 1``) one value per unit; one unit holds
    ``size`` values (a vector variable). ``label`` names the path in the ModelError,
    ``when`` the time a history function was called at."""
    try:
        v = np.asarray(value)
    except (TypeError, ValueError):  # ragged lists
        raise ModelError(
            f"{label} is {value!r}: expected a number or an array", variable=variable
        ) from None
    if v.dtype.kind not in "biufc" or (v.dtype.kind == "c" and not np.iscomplexobj(y0)):
        raise ModelError(f"{label} is {value!r}: expected real numbers", variable=variable)
    if v.ndim >= 1 and n > 1:
        if v.shape[0] != n:
            raise ModelError(
                f"{label} has {v.shape[0]} values but the path matches {n} units: "
                f"expected a scalar or {n} values, one per unit",
                variable=variable,
            )
        v = v[k]
    if v.size not in (1, size):
        raise ModelError(
            f"{label} has shape {v.shape}, expected a scalar or {size} values", variable=variable
        )
    if first_nonfinite(v) is not None:
        raise ModelError(f"{label} is {v.tolist()}{when}: it must be finite", variable=variable)
    return v


def start_state(circuit: CircuitTemplate, system: System, initial_state: Any) -> np.ndarray:
    """``Problem.y0``: the System's initial values with the user's ``initial_state`` (a dict
    path -> scalar, or one value per unit the path matches) or the last run's state."""
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
        matches = circuit.resolve_path(path)
        for k, (node, op, var) in enumerate(matches):
            full = f"{node}/{op}/{var}"
            name, index = system.label_map.get(full, (None, None))
            if name not in offsets:
                raise ModelError(f"{full!r} is not a state variable", variable=full)
            state = offsets[name]
            where = (
                slice(state.start + index, state.start + index + 1)
                if index is not None
                else slice(state.start, state.stop)
            )
            label = f"initial_state for {path!r}" + (f" ({full!r})" if full != path else "")
            size = where.stop - where.start
            y0[where] = unit_value(label, value, k, len(matches), size, y0, full).ravel()
    return y0


def zero_kernels(system: System, y0: np.ndarray) -> np.ndarray:
    """``y0`` with every gamma-kernel stage at 0: the chains' steady state for a zero
    pre-history (``history="zero"``), as discrete delays read 0 before t = 0."""
    y0 = np.array(y0, copy=True)
    for s in system.states:
        if s.kernel:
            y0[s.start : s.stop] = 0
    return y0


def pre_history(circuit: CircuitTemplate, system: System, history: Any, y0: np.ndarray) -> Any:
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
            where: int | slice = (
                state.start + (index or 0)
                if index is not None or state.size == 1
                else slice(state.start, state.stop)
            )
            entries.append((full, where, value, k, len(matches)))

    def value_at(value: Any, t: float, k: int, n: int) -> Any:
        v = np.asarray(value(t) if callable(value) else value)
        if v.ndim >= 1 and n > 1:  # one value per unit (checked by unit_value)
            v = v[k]
        return v

    for full, where, value, k, n in entries:  # check values once, before integrating
        size = where.stop - where.start if isinstance(where, slice) else 1
        sample = value(-1e-12) if callable(value) else value
        unit_value(f"history for {full!r}", sample, k, n, size, y0, full, " at t=-1e-12")

    def pre_history(t: float) -> np.ndarray:
        y = np.array(y0, copy=True)
        for _, where, value, k, n in entries:
            y[where] = value_at(value, t, k, n)
        return y

    return pre_history


def check_delay_option(delays: Any, solver: SolverInfo) -> str:
    """``run(..., delays=...)`` for ``solver`` (the resolved solver of the run): one of
    ``"exact"``, ``"grid"``; ``"grid"`` needs a fixed-step solver that (or whose backend)
    declares the ``grid_delays`` capability (never a silent exact run). A :class:`SolverError`
    naming the option and the solver otherwise; returns ``delays``."""
    check_delays(delays, solver.name, adaptive=solver.adaptive)
    if delays == "grid":
        capabilities = default_host().backend_info(solver.backend).capabilities
        check_grid_support(solver.backend, capabilities | solver.capabilities, solver.name)
    return str(delays)


def make_problem(
    circuit: CircuitTemplate,
    system: System,
    *,
    simulation_time: float,
    step_size: float,
    sampling_step: float,
    inputs: Mapping[str, Any] | None = None,
    initial_state: Any = None,
    history: Any = None,
    options: Mapping[str, Any] | None = None,
    seed: int | None = None,
    wiener_increments: Any = None,
    progress: bool = False,
    on_nonfinite: str = "raise",
    delays: str = "exact",
) -> Problem:
    """The :class:`~rates_core.backend.Problem` of a run of ``system`` (the arguments as in
    ``run``): input rows one per step, the initial state (gamma-kernel stages at 0 for
    ``history="zero"``), the pre-history, and fresh copies of the input parameters, which the
    solver writes."""
    n_steps = int(round(simulation_time / step_size))
    input_rows = input_arrays(circuit, system, inputs, n_steps)
    y0 = start_state(circuit, system, initial_state)
    if isinstance(history, str) and history == "zero":
        y0 = zero_kernels(system, y0)
    return Problem(
        y0=y0,
        params=[
            np.array(p.value, copy=True) if p.role == "input" else p.value for p in system.params
        ],
        t0=0.0,
        simulation_time=simulation_time,
        step_size=step_size,
        sampling_step=sampling_step,
        n_samples=int(round(simulation_time / sampling_step)),
        inputs=input_rows,
        # the rows' times, for models with inputs only (an array of every step otherwise,
        # which no solver reads: a large part of a short run's overhead)
        input_times=np.arange(n_steps) * step_size if input_rows else None,
        options=dict(options or {}),
        seed=seed,
        wiener_increments=wiener_increments,
        progress=progress,
        history=pre_history(circuit, system, history, y0),
        on_nonfinite=on_nonfinite,
        delays=delays,
    )
