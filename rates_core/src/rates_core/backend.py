"""The values exchanged between the simulation driver and backend plugins.

``emit_function(backend, system, options)`` returns an :class:`EmittedFunction`;
``solve(solver, function, problem)`` receives it with a :class:`Problem` and returns a
:class:`Trajectory`. Keeping these plain values in the core lets third-party plugins implement
the hooks without importing any other plugin.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rates_core.delay_reads import check_delays
from rates_core.errors import MissingDependencyError, SolverError
from rates_core.system import System

#: How often a solver reports progress in a run: the run is cut into this many chunks.
PROGRESS_CHUNKS = 100
#: What ``run(on_nonfinite=...)`` does when the state stops being finite.
ON_NONFINITE = ("raise", "continue")

#: Default relative and absolute tolerances of adaptive solvers (``run(..., rtol=..., atol=...)``
#: overrides them). SciPy's own defaults (rtol 1e-3, atol 1e-6) are too loose for scientific
#: results; PyRates used rtol 1e-6 for its ``scipy`` solver.
ADAPTIVE_RTOL = 1e-6
ADAPTIVE_ATOL = 1e-9

#: Relative width of the differences that give the slopes of :meth:`Problem.history_samples`
#: (their error is about 1e-10 for histories that vary on time scales of 1).
HISTORY_DIFF_STEP = 1e-5


@dataclass(frozen=True)
class EmitOptions:
    """What the driver asks of a backend's code generator."""

    float_precision: str = "float64"
    file_name: str | None = None  # also write the source here (absolute or relative path)
    func_name: str = "vector_field"
    functional: bool = False
    #: generate files for use outside Python (``rates export``): the plugin puts them into
    #: ``EmittedFunction.extras["files"]`` and need not compile or load anything
    standalone: bool = False
    #: also write Auto-07p equation and constants files (backends declaring ``continuation``):
    #: next to ``file_name``, or into the working directory without one; listed in
    #: ``extras["files"]``
    auto: bool = False
    #: Auto-07p constants for every constants file (``(("NMX", 5000), ...)``), with ``auto``
    auto_constants: tuple[tuple[str, Any], ...] = ()
    #: ``file_name`` (and the Auto-07p files) may replace existing files (``rates_core.outputs``)
    overwrite: bool = False
    #: files never written, not even with ``overwrite``: the files the model was loaded from
    protect: tuple[str, ...] = ()
    #: the state vector written into generated files that carry one (Auto-07p's starting
    #: point, ``get_run_func(..., initial_state=...)``); None: the model's initial values
    initial_state: tuple[Any, ...] | None = None


@dataclass
class EmittedFunction:
    """Generated source and the callables compiled from it.

    ``rhs(t, y, dy, *delayed, *params)`` writes the derivative into ``dy``;
    ``rhs_functional(t, y, *delayed, *params)`` returns it. ``delayed`` are the values of the
    delayed reads (``system.delayed`` order, computed by the solver from its history; none for
    ODE systems) and ``params`` the values of ``system.params`` in that order. ``jacobian(t, y,
    *delayed, *params)`` returns the dense instantaneous d f / d y when the backend provides it.
    ``extras`` holds backend-specific artefacts (for example generated fixed-step loops);
    ``extras["files"]`` (``{relative file name: text}``) are the files ``rates export`` writes
    (without it, ``source`` is written to the file the user names).
    """

    backend: str
    system: System
    source: str
    rhs: Callable[..., Any]
    rhs_functional: Callable[..., Any]
    jacobian: Callable[..., Any] | None = None
    path: Path | None = None
    extras: dict[str, Any] = field(default_factory=dict)


@dataclass
class Problem:
    """One integration: the time grid, the initial state, parameter and input values.

    Output rows are at ``k * sampling_step`` for ``k = 0 .. n_samples - 1`` (row 0 is ``y0``);
    ``inputs`` maps each extrinsic-input parameter name to an array with one row per step
    (fixed-step) or per sample of ``input_times`` (adaptive: interpolated linearly).

    ``progress``: show a progress bar (tqdm) while integrating; solvers report through
    :meth:`progress_bar`, a few times per run (:data:`PROGRESS_CHUNKS`), never once per step.
    ``progress_file`` is where the bar is written (default: ``sys.stderr`` at the start).
    ``history(t)`` is the state vector at a time ``t < t0`` (pre-history of delayed reads);
    ``None`` means the initial state ``y0`` at every earlier time.
    """

    y0: np.ndarray
    params: list[Any]
    t0: float
    simulation_time: float
    step_size: float
    sampling_step: float
    n_samples: int
    inputs: Mapping[str, np.ndarray] = field(default_factory=dict)
    #: the time of each input row (``run`` leaves it None for a model without inputs)
    input_times: np.ndarray | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    seed: int | None = None
    #: SDE solvers: the Wiener increments to use instead of drawing them (one row per step,
    #: one column per noise source, see :func:`rates_core.noise.noise_sources`)
    wiener_increments: np.ndarray | None = None
    progress: bool = False
    progress_file: Any = None
    history: Callable[[float], np.ndarray] | None = None
    #: ``"raise"``: :meth:`check_trajectory` raises when the sampled state is not finite;
    #: ``"continue"``: non-finite states are returned as they are
    on_nonfinite: str = "raise"
    #: ``sink(times, states)``: where a solver that streams (``Trajectory.info["streamed"]``)
    #: hands its samples in consecutive blocks instead of keeping them (``run(monitors=...)``
    #: of a delayed model: one pass, memory of one block); the blocks are reused, so a sink
    #: copies what it keeps. A solver that does not stream returns its samples as usual.
    sink: Callable[[np.ndarray, np.ndarray], None] | None = None
    #: solvers of backends with the capability ``dde_outputs`` also return the values of the
    #: delayed reads at the sample times (``Trajectory.delayed``), from which algebraic
    #: variables that read a delayed value are recorded
    delayed_samples: bool = False
    #: how fixed-step solvers read delays (:data:`rates_core.delay_reads.DELAY_CONVENTIONS`):
    #: ``"exact"`` interpolates at ``t - tau``; ``"grid"`` reads row ``n - round(tau / dt)``
    #: at every stage of step n (:class:`rates_core.delay_reads.StagePlan`)
    delays: str = "exact"

    @property
    def grid_delays(self) -> bool:
        """Whether delays are rounded to whole steps (``delays == "grid"``)."""
        return self.delays == "grid"

    @property
    def n_steps(self) -> int:
        return int(round(self.simulation_time / self.step_size))

    @property
    def sample_every(self) -> int:
        return max(int(round(self.sampling_step / self.step_size)), 1)

    def sample_grid(self) -> tuple[float, np.ndarray]:
        """``(t_end, sample_times)`` of an adaptive run; a SolverError when the samples go
        beyond the end time (the same check and message in every backend)."""
        t0 = float(self.t0)
        t_end = t0 + float(self.simulation_time)
        sample_times = t0 + np.arange(self.n_samples) * self.sampling_step
        if sample_times[-1] > t_end + 1e-9 * max(abs(t_end), 1.0):
            raise SolverError(
                f"{self.n_samples} samples every {self.sampling_step} go beyond the end time "
                f"{t_end}"
            )
        return t_end, sample_times

    def check(
        self,
        system: System,
        solver: str,
        *,
        fixed_step: bool,
        options: Collection[str] | None = None,
    ) -> None:
        """The checks every solver makes before it integrates, as one :class:`SolverError`
        naming the value at fault: options ``solver`` does not have (when ``options``, the
        allowed names, is given), the parameter count, the size of ``y0`` (its last axis: a
        batch may lead), the time grid (finite, positive step sizes, whole samples of a fixed
        step within the run), inputs the system does not have, ``on_nonfinite``, ``delays``
        (``"grid"`` only with a fixed step), and finite numbers in ``y0``, the parameters and
        the input rows (named by ``node/op/var``)."""
        for key in self.options or {}:
            if options is not None and key not in options:
                allowed = ", ".join(options) or "none"
                raise SolverError(
                    f"solver {solver!r} has no option {key!r} (allowed options: {allowed})"
                )
        if len(self.params) != len(system.params):
            raise SolverError(
                f"expected {len(system.params)} parameter values (one per system parameter), "
                f"got {len(self.params)}"
            )
        shape = tuple(getattr(self.y0, "shape", None) or np.shape(self.y0))
        if (shape[-1] if shape else 1) != system.n_states:
            raise SolverError(f"y0 has shape {shape}, the system {system.n_states} states")
        check_on_nonfinite(self.on_nonfinite)
        check_delays(self.delays, solver, adaptive=not fixed_step)
        if not (self.step_size > 0) or not math.isfinite(self.step_size):
            raise SolverError(f"step_size must be positive, got {self.step_size}")
        if not (self.sampling_step > 0):
            raise SolverError(f"sampling_step must be positive, got {self.sampling_step}")
        if self.simulation_time < 0:
            raise SolverError(f"simulation_time must not be negative, got {self.simulation_time}")
        for name in ("t0", "simulation_time", "step_size", "sampling_step"):
            if not math.isfinite(getattr(self, name)):
                raise SolverError(f"{name} must be a finite number, got {getattr(self, name)}")
        if self.n_samples < 1:
            raise SolverError(f"n_samples must be at least 1, got {self.n_samples}")
        if fixed_step:
            ratio = self.sampling_step / self.step_size
            if abs(ratio - round(ratio)) > 1e-6 * max(ratio, 1.0) or round(ratio) < 1:
                raise SolverError(
                    f"sampling_step ({self.sampling_step}) must be a whole multiple of "
                    f"step_size ({self.step_size}) for fixed-step solvers"
                )
            last = (self.n_samples - 1) * self.sample_every
            if last > self.n_steps:
                raise SolverError(
                    f"{self.n_samples} samples every {self.sample_every} steps need {last} "
                    f"steps, but simulation_time / step_size gives {self.n_steps}"
                )
        names = {p.name for p in system.params if p.role == "input"}
        unknown = sorted(set(self.inputs) - names)
        if unknown:
            raise SolverError(
                f"no extrinsic input parameter named {', '.join(map(repr, unknown))}; the "
                f"system's inputs are: {', '.join(sorted(names)) or '(none)'}"
            )
        self._check_finite_values(system)

    def _check_finite_values(self, system: System) -> None:
        """Initial state, parameters and input rows are finite numbers (NaN or inf there makes
        adaptive solvers fail obscurely and fixed-step ones return NaN)."""
        bad = first_nonfinite(self.y0)
        if bad is not None:
            index = bad % system.n_states
            raise SolverError(
                f"the initial state of {state_path(system, index)} is "
                f"{np.ravel(self.y0)[bad]}: initial states must be finite numbers"
            )
        for param, value in zip(system.params, self.params):
            if param.role == "input":
                continue  # the solver writes it from ``inputs``
            bad = first_nonfinite(value)
            if bad is not None:
                raise SolverError(
                    f"parameter {param_path(param, bad)} is {_element(value, bad)}: "
                    "parameters must be finite numbers"
                )
        for name, rows in self.inputs.items():
            bad = first_nonfinite(rows)
            if bad is not None:
                rows = np.asarray(rows)
                row, column = divmod(bad, max(rows[:1].size, 1))
                param = system.param(name)
                times = self.input_times
                at = times[row] if times is not None and row < len(times) else None
                when = f" at t={at:g}" if at is not None else ""
                raise SolverError(
                    f"input {param_path(param, column)} is {np.ravel(rows)[bad]} in row {row}"
                    f"{when}: inputs must be finite numbers"
                )

    def check_trajectory(self, system: System, trajectory: Trajectory, solver: str) -> None:
        """Raise a :class:`SolverError` saying when and in which variable the state stopped being
        finite (a blow-up), unless ``on_nonfinite == "continue"``. One vectorised pass over the
        recorded samples and the final state, no per-step work in the solvers."""
        if self.on_nonfinite == "continue":
            return
        states = np.asarray(trajectory.states)
        n = max(system.n_states, 1)
        rows = states.reshape(len(states), -1)
        # one flat pass when all is well (a per-row reduction over a few columns costs ten
        # times more, a noticeable part of a short run); rows only to name a blow-up
        finite = np.ones(len(rows), dtype=bool)
        if not np.isfinite(rows).all():
            finite = np.isfinite(rows).all(axis=1)
        if finite.all():
            bad = first_nonfinite(trajectory.final)
            if bad is None:
                return
            last = float(trajectory.times[-1]) if len(trajectory.times) else self.t0
            end = self.t0 + self.simulation_time
            raise SolverError(
                f"solver {solver!r}: the state stopped being finite after the last sample "
                f"(t={last:g}, end t={end:g}): {state_path(system, bad % n)} is "
                f"{np.ravel(trajectory.final)[bad]}{_CONTINUE_HINT}"
            )
        k = int(np.argmin(finite))
        column = int(np.argmin(np.isfinite(rows[k])))
        t = float(trajectory.times[k])
        since = f" (finite at t={float(trajectory.times[k - 1]):g})" if k > 0 else ""
        raise SolverError(
            f"solver {solver!r}: the state stopped being finite at t={t:g}{since}: "
            f"{state_path(system, column % n)} is {rows[k, column]}{_CONTINUE_HINT}"
        )

    def history_samples(self, times: Any) -> tuple[np.ndarray, np.ndarray]:
        """``(values, slopes)``: the pre-history ``Problem.history`` at each of ``times`` (all
        before ``t0``; one row per time) and its time derivative there, for backends that
        cannot call Python while they integrate and read a table instead.

        Read such a table by cubic Hermite interpolation with these slopes: its error falls
        like the fourth power of the table's spacing, where linear interpolation (or slopes
        from differences of the rows) leave errors of 1e-5 at a spacing of 1e-2. The slopes
        are central differences of width :data:`HISTORY_DIFF_STEP` (second-order backward
        differences next to ``t0``, where the history may end). Without a history: ``y0``
        and zero slopes."""
        times = np.asarray(times, dtype=float).reshape(-1)
        y0 = np.asarray(self.y0).reshape(-1)
        if self.history is None:
            values = np.broadcast_to(y0, (times.size, y0.size)).copy()
            return values, np.zeros_like(values)
        if not callable(self.history):
            raise SolverError("Problem.history must be a function of t returning the state vector")
        values = np.empty((times.size, y0.size), dtype=np.result_type(y0, float))
        slopes = np.empty_like(values)
        for k, t in enumerate(times.tolist()):
            h = HISTORY_DIFF_STEP * max(1.0, abs(t))
            values[k] = self._history_at(t, y0.size)
            if t + h < self.t0:
                up, down = self._history_at(t + h, y0.size), self._history_at(t - h, y0.size)
                slopes[k] = (up - down) / (2.0 * h)
            else:
                one, two = self._history_at(t - h, y0.size), self._history_at(t - 2 * h, y0.size)
                slopes[k] = (3.0 * values[k] - 4.0 * one + two) / (2.0 * h)
        return values, slopes

    def _history_at(self, t: float, n: int) -> np.ndarray:
        return np.asarray(call_history(self.history, t, n)).reshape(-1)

    def progress_bar(self, desc: str = "") -> Progress:
        """A :class:`Progress` for this integration (does nothing unless ``progress``)."""
        return Progress(
            self.simulation_time if self.progress else None,
            t0=self.t0,
            desc=desc,
            file=self.progress_file,
        )


def input_parameter(
    system: System, param: Any, value: Any, inputs: Mapping[str, Any]
) -> tuple[np.ndarray, np.ndarray]:
    """An input parameter's value as a float (or complex) array, and its rows ``(rows,
    *shape)``: the series given in ``inputs`` under its name (:func:`input_rows`), or without
    one its value as the single row."""
    arr = np.array(value, dtype=np.result_type(np.asarray(value), np.float64))
    given = inputs.get(param.name)
    if given is None:
        return arr, arr.reshape((1, *arr.shape))
    return arr, input_rows(system, param.name, given, arr.shape)


def input_rows(system: System, name: str, series: Any, shape: tuple[int, ...]) -> np.ndarray:
    """The rows of input ``name`` (one per time) shaped ``(rows, *shape)`` like its parameter.

    A row may hold every value of the parameter, one value for all of them (broadcast), or one
    value per driven unit of a network input (the other entries stay 0). Every backend reads its
    inputs through this function, so they accept the same rows and say the same thing
    otherwise.
    """
    arr = np.asarray(series)
    if arr.ndim == 0:
        arr = arr.reshape(1)
    rows = arr.shape[0]
    flat = arr.reshape(rows, -1)
    size = math.prod(shape)
    width = flat.shape[1]
    if width == size:
        return flat.reshape((rows, *shape))
    if width == 1:
        return np.broadcast_to(flat, (rows, size)).reshape((rows, *shape)).copy()
    units = next((i.units for i in system.inputs if i.name == name), None)
    if units is not None and width == len(units):
        full = np.zeros((rows, size), dtype=np.result_type(flat, np.float64))
        full[:, units] = flat
        return full.reshape((rows, *shape))
    raise SolverError(
        f"input {name!r}: rows have {width} values, the parameter needs {size}"
        + (f" (or {len(units)}, one per driven unit)" if units is not None else "")
    )


def call_history(history: Any, t: float, n_states: int) -> Any:
    """The value of the pre-history function ``history`` at ``t``, as it returned it (an array,
    a list or a tensor); a :class:`SolverError` naming ``t`` when the function fails or returns
    another number of values than the state vector has. Every backend's history reads use it."""
    try:
        value = history(t)
    except SolverError:
        raise
    except Exception as exc:
        raise SolverError(f"the pre-history function failed at t={t}: {exc!r}") from exc
    size = value.numel() if hasattr(value, "numel") else np.size(value)
    if size != n_states:
        raise SolverError(
            f"the pre-history function returned shape {tuple(np.shape(value))} at t={t}; it "
            f"must return the state vector ({n_states} values)"
        )
    return value


def check_on_nonfinite(on_nonfinite: Any) -> None:
    """``on_nonfinite`` is one of :data:`ON_NONFINITE` (a :class:`SolverError` otherwise)."""
    if not isinstance(on_nonfinite, str) or on_nonfinite not in ON_NONFINITE:
        raise SolverError(
            f"on_nonfinite must be one of {', '.join(map(repr, ON_NONFINITE))}, "
            f"got {on_nonfinite!r}"
        )


_CONTINUE_HINT = (
    " (a blow-up: try a smaller step_size or an adaptive solver; on_nonfinite='continue' "
    "returns the non-finite trajectory instead)"
)


_FLOATS = (np.dtype(np.float64), np.dtype(np.float32))


def first_nonfinite(value: Any) -> int | None:
    """The flat index of the first NaN or infinite element of ``value`` (a number, array or
    scipy.sparse matrix), or None when every element is finite or ``value`` is not numeric."""
    if isinstance(value, float) or (
        isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype in _FLOATS
    ):  # a real number (most parameters): without numpy's per-call costs, paid every run
        return None if math.isfinite(value) else 0
    data = getattr(value, "data", value) if hasattr(value, "tocsr") else value
    try:
        arr = np.asarray(data)
    except (TypeError, ValueError):
        return None
    if arr.dtype.kind not in "fc":
        return None  # integers and booleans are always finite; other objects are not numbers
    finite = np.isfinite(arr).ravel()
    if finite.all():
        return None
    return int(np.argmin(finite))


def _element(value: Any, index: int) -> Any:
    data = getattr(value, "data", value) if hasattr(value, "tocsr") else value
    return np.ravel(np.asarray(data))[index]


def _path_of(paths: Any, size: int, index: int, name: str) -> str:
    paths = tuple(paths or ())
    if not paths:
        return f"{name}[{index}]" if size > 1 else name
    if len(paths) == size:
        return paths[index]
    return (
        paths[0]
        if len(paths) == 1
        else f"{name} ({', '.join(paths[:3])}{', ...' if len(paths) > 3 else ''})"
    )


def state_path(system: System, index: int) -> str:
    """The ``node/op/var`` path of element ``index`` of the state vector."""
    for s in system.states:
        if s.start <= index < s.stop:
            return _path_of(s.paths, s.size, index - s.start, s.name)
    return f"y[{index}]"


def param_path(param: Any, index: int) -> str:
    """The ``node/op/var`` path of element ``index`` of parameter ``param``."""
    size = int(np.size(param.value)) if param.role != "matrix" else 0
    return _path_of(param.paths, size, index, param.name)


def nonfinite_derivative(system: System, solver: str, t: float, dy: Any) -> SolverError | None:
    """A :class:`SolverError` naming time and variable when ``dy`` (a derivative the solver
    just computed) is not finite, else None. Adaptive solvers call it to stop instead of
    shrinking the step forever."""
    bad = first_nonfinite(dy)
    if bad is None:
        return None
    return derivative_error(system, solver, t, bad, np.ravel(np.asarray(dy))[bad])


def derivative_error(
    system: System, solver: str, t: float, index: int, value: Any = "is not finite"
) -> SolverError:
    """The :class:`SolverError` of a non-finite derivative of state ``index`` (any flat index
    of a batch) at time ``t``."""
    what = value if isinstance(value, str) else f"is {value}"
    path = state_path(system, index % max(system.n_states, 1))
    return SolverError(
        f"solver {solver!r}: the derivative of {path} {what} at t={float(t):g} (a non-finite "
        "vector field: check the parameters, e.g. a zero time constant, and the equations)"
    )


#: :class:`DerivativeGuard` stops after this many vector-field evaluations in a row that are not
#: finite (a step-size controller rejects a few non-finite trial stages and recovers).
NONFINITE_EVALUATIONS = 100


class DerivativeGuard:
    """Stops an adaptive solver whose vector field is not finite: at the start
    (:meth:`initial`), or after :data:`NONFINITE_EVALUATIONS` evaluations in a row (called on
    every evaluation, it costs one ``isfinite`` pass). Without it, NaN derivatives make a
    step-size controller shrink the step forever or fail with an unrelated error."""

    def __init__(self, system: System, solver: str, limit: int = NONFINITE_EVALUATIONS) -> None:
        self.system = system
        self.solver = solver
        self.limit = limit
        self.streak = 0
        self.first: tuple[float, Any] = (0.0, None)

    def initial(self, t: float, dy: Any) -> None:
        """The derivative at the initial state: a non-finite value is an error at once."""
        error = nonfinite_derivative(self.system, self.solver, t, dy)
        if error is not None:
            raise error

    def __call__(self, t: float, dy: Any) -> None:
        if np.isfinite(dy).all():
            self.streak = 0
            return
        if self.streak == 0:
            self.first = (t, np.array(dy, copy=True))
        self.streak += 1
        if self.streak >= self.limit:
            error = nonfinite_derivative(self.system, self.solver, *self.first)
            assert error is not None
            raise error


def require_tqdm() -> Any:
    """The ``tqdm`` class; :class:`MissingDependencyError` with the install hint if missing."""
    try:
        from tqdm import tqdm
    except ImportError as exc:
        raise MissingDependencyError(
            "progress=True needs the tqdm package: `pip install tqdm` "
            "(or `pip install rates-core[progress]`)"
        ) from exc
    return tqdm


def have_tqdm() -> bool:
    """Whether ``tqdm`` can be imported here."""
    try:
        require_tqdm()
    except MissingDependencyError:
        return False
    return True


class Progress:
    """How far an integration got, shown as a tqdm bar over simulated time.

    ``progress(t)`` moves the bar to time ``t`` (calls with an earlier time are ignored unless
    :meth:`restart` was called); ``close()`` completes it. With ``total=None`` every method does
    nothing, so solvers can call it unconditionally between chunks of work.
    """

    def __init__(
        self, total: float | None, *, t0: float = 0.0, desc: str = "", file: Any = None
    ) -> None:
        self.enabled = total is not None
        self.t0 = float(t0)
        self.total = float(total or 0.0)
        self._bar: Any = None
        self._done = 0.0
        if self.enabled:
            tqdm = require_tqdm()
            self._bar = tqdm(
                total=self.total,
                desc=desc or None,
                file=file if file is not None else sys.stderr,
                bar_format="{l_bar}{bar}| t={n:.4g}/{total:.4g} [{elapsed}<{remaining}]",
                leave=True,
            )

    def __call__(self, t: float) -> None:
        if self._bar is None:
            return
        done = min(max(float(t) - self.t0, 0.0), self.total)
        if done > self._done:
            self._bar.update(done - self._done)
            self._done = done

    def chunk_ends(self, n_steps: int) -> list[int]:
        """Step indices where a fixed-step solver stops to report: one chunk without a bar,
        else about :data:`PROGRESS_CHUNKS` chunks of whole steps."""
        if not self.enabled or n_steps <= 1:
            return [n_steps]
        n = min(PROGRESS_CHUNKS, n_steps)
        return sorted({int(round(n_steps * (c + 1) / n)) for c in range(n)} - {0})

    def restart(self) -> None:
        """Start again from ``t0`` (a solver that reruns an integration)."""
        if self._bar is not None:
            self._bar.reset(total=self.total)
            self._done = 0.0

    def close(self) -> None:
        if self._bar is not None:
            self(self.t0 + self.total)
            self._bar.close()
            self._bar = None

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._bar is not None:
            if exc and exc[0] is not None:
                self._bar.close()  # leave the bar where the failure happened
                self._bar = None
            else:
                self.close()


def physical_memory() -> int | None:
    """This machine's memory in bytes (None where the OS does not say)."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, OSError, ValueError):
        return None


def sample_memory_error(problem: Problem, system: System, solver: str) -> SolverError:
    """The error of a run whose samples do not fit in memory, with their size and what to do."""
    itemsize = np.dtype(system.dtype).itemsize
    size = problem.n_samples * system.n_states * itemsize
    memory = physical_memory()
    has = f" (this machine has {memory / 2**30:.3g} GiB)" if memory else ""
    if problem.sink is None:
        advice = (
            "sample less often (sampling_step_size), integrate a shorter time, or observe the "
            "run with monitors="
        )
    else:  # a monitored run whose solver keeps every step before the monitors see them
        advice = "integrate a shorter time, or monitor it on a backend that streams"
    return SolverError(
        f"solver {solver!r}: the run keeps {problem.n_samples} samples of {system.n_states} "
        f"states ({size / 2**30:.3g} GiB of {np.dtype(system.dtype).name}), more memory than "
        f"it can have{has}: {advice} (rates-numpy, rates-numba and rates-torch hand their "
        "samples to the monitors as they go)"
    )


def check_sample_memory(problem: Problem, system: System, solver: str) -> None:
    """A :func:`sample_memory_error` before integrating when a run without a sink would keep
    more samples than the machine's memory holds (they would fail late, or swap)."""
    memory = physical_memory()
    if problem.sink is not None or memory is None:
        return
    size = problem.n_samples * system.n_states * np.dtype(system.dtype).itemsize
    if size > memory:
        raise sample_memory_error(problem, system, solver)


#: A streaming solver hands its samples to ``Problem.sink`` in blocks of about this many bytes.
SINK_BYTES = 8 * 2**20


class SampleRows:
    """The samples of a fixed-step loop, one :meth:`add` per sample after ``y0``: one
    ``(n_samples, n)`` array, or with ``Problem.sink`` blocks of about :data:`SINK_BYTES`
    handed to the sink as they fill (so memory does not grow with the run)."""

    def __init__(self, problem: Problem, y0: np.ndarray) -> None:
        self.sink = problem.sink
        self.t0, self.step = float(problem.t0), float(problem.sampling_step)
        n = problem.n_samples
        rows = n if self.sink is None else max(1, min(n, SINK_BYTES // max(y0.nbytes, 1)))
        self.block = np.zeros((rows, y0.size), dtype=y0.dtype)
        self.block[0] = y0
        self.filled, self.first = 1, 0  # rows of the block in use; sample index of row 0

    def add(self, y: np.ndarray) -> None:
        """The next sample."""
        if self.filled == len(self.block):
            self._flush()
        self.block[self.filled] = y
        self.filled += 1

    def _flush(self) -> None:
        assert self.sink is not None  # a block without a sink holds every sample
        times = self.t0 + (self.first + np.arange(self.filled)) * self.step
        self.sink(times, self.block[: self.filled])
        self.first += self.filled
        self.filled = 0

    def finish(self) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
        """``(times, states, info)`` of the Trajectory: every sample, or (with a sink, after
        the last block) none, and ``{"streamed": True}``."""
        if self.sink is None:
            times = self.t0 + np.arange(len(self.block)) * self.step
            return times, self.block, {}
        if self.filled:
            self._flush()
        return np.zeros(0), self.block[:0].copy(), {"streamed": True}


class LoopSamples:
    """The sample rows of a compiled fixed-step loop that runs in chunks of steps and writes
    the state after step ``k`` (where ``every`` divides ``k + 1``) to row ``(k + 1) // every
    - row0`` of the array it is given, when that row exists.

    :meth:`chunks` gives ``(k0, k1, out, row0)`` for consecutive step ranges: without
    ``Problem.sink`` one ``(n_samples, n)`` array (row 0 ``y0``) and ``row0 = 0``, so
    :meth:`finish` returns every sample; with a sink, a block of about :data:`SINK_BYTES`
    that is handed to the sink when its steps are done (so memory does not grow with the run:
    ``run(monitors=...)`` of a delayed model on a compiled backend), and :meth:`finish`
    returns none and ``{"streamed": True}``."""

    def __init__(self, problem: Problem, y0: np.ndarray) -> None:
        self.sink = problem.sink
        self.n_steps, self.every = problem.n_steps, problem.sample_every
        self.n_samples = problem.n_samples
        self.t0, self.step = float(problem.t0), float(problem.sampling_step)
        rows = self.n_samples
        if self.sink is not None:  # a block: the sample before it, then its own samples
            rows = 1 + max(1, min(self.n_samples - 1, SINK_BYTES // max(y0.nbytes, 1)))
        self.out = np.zeros((rows, y0.size), dtype=y0.dtype)
        self.out[0] = y0

    def chunks(self, ends: Sequence[int]) -> Iterator[tuple[int, int, np.ndarray, int]]:
        """``(k0, k1, out, row0)``: steps ``k0 .. k1 - 1`` for the loop, cut at every step in
        ``ends`` (the progress bar's chunk ends) and, with a sink, at the end of every block."""
        if self.sink is None:
            yield from ((a, b, self.out, 0) for a, b in _cut(0, self.n_steps, ends))
            return
        per_block = len(self.out) - 1
        first, k = 1, 0  # the block's first sample; its first step
        while True:
            count = min(per_block, self.n_samples - first)  # samples in this block
            last = first + count >= self.n_samples
            stop = self.n_steps if last else (first - 1 + count) * self.every
            block = self.out[: count + 1]
            yield from ((a, b, block, first - 1) for a, b in _cut(k, stop, ends))
            lo = 0 if first == 1 else 1  # row 0 of later blocks was handed on already
            times = self.t0 + (first - 1 + np.arange(lo, count + 1)) * self.step
            self.sink(times, block[lo:])
            if last:
                return
            first, k = first + count, stop

    def finish(self) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
        """``(times, states, info)`` of the Trajectory (see the class doc)."""
        if self.sink is None:
            return self.t0 + np.arange(self.n_samples) * self.step, self.out, {}
        return np.zeros(0), self.out[:0].copy(), {"streamed": True}


def _cut(start: int, stop: int, ends: Sequence[int]) -> list[tuple[int, int]]:
    """``[start, stop)`` cut at the ``ends`` inside it (at least one range, maybe empty)."""
    cuts = [start, *(e for e in ends if start < e < stop), stop]
    return [(a, b) for a, b in zip(cuts[:-1], cuts[1:]) if b > a] or [(start, start)]


class DelayedRows:
    """The delayed reads at the sample times of a fixed-step loop (``Problem.delayed_samples``,
    ``Trajectory.delayed``): after the first-stage read of step ``next`` (a sample step;
    -1 when none is left or none was asked for) the loop calls :meth:`take` with the read
    values; a sample at the end of the run (step ``n_steps``) needs one more read after the
    loop. ``rows`` is None unless asked for."""

    def __init__(self, wanted: bool, n_samples: int, every: int) -> None:
        self.every, self.n_samples, self.wanted = every, n_samples, wanted
        self.rows: np.ndarray | None = None
        self.filled = 0
        self.next = 0 if self.wanted else -1

    @classmethod
    def of(cls, problem: Problem) -> DelayedRows:
        """The rows ``problem`` asks for (``Problem.delayed_samples``)."""
        return cls(bool(problem.delayed_samples), problem.n_samples, problem.sample_every)

    def take(self, values: Any) -> None:
        """The delayed values (a NumPy array) read at step ``next``."""
        values = np.asarray(values)
        if self.rows is None:
            self.rows = np.zeros((self.n_samples, *values.shape), dtype=values.dtype)
        self.rows[self.filled] = values
        self.filled += 1
        self.next = self.filled * self.every if self.filled < self.n_samples else -1


@dataclass
class Trajectory:
    """Sampled states: ``states[k]`` is the state vector at ``times[k]``; ``final`` the state at
    the end of the run (used by ``initial_state="last"``). ``delayed`` (with
    ``Problem.delayed_samples``): row k holds the values of the delayed reads at ``times[k]``,
    the values the vector field reads there (at the first stage of the step from that sample),
    ``system.delayed`` in order, each read's ``size`` values."""

    times: np.ndarray
    states: np.ndarray
    final: np.ndarray
    info: dict[str, Any] = field(default_factory=dict)
    delayed: np.ndarray | None = None
