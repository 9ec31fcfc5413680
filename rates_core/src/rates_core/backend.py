"""The values exchanged between the simulation driver and backend plugins.

``emit_function(backend, system, options)`` returns an :class:`EmittedFunction`;
``solve(solver, function, problem)`` receives it with a :class:`Problem` and returns a
:class:`Trajectory`. Keeping these plain values in the core lets third-party plugins implement
the hooks without importing any other plugin.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rates_core.errors import MissingDependencyError, SolverError
from rates_core.system import System

#: How often a solver reports progress in a run: the run is cut into this many chunks.
PROGRESS_CHUNKS = 100
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
    #: ``file_name`` (and the Auto-07p files) may replace existing files (``rates_core.outputs``)
    overwrite: bool = False
    #: files never written, not even with ``overwrite``: the files the model was loaded from
    protect: tuple[str, ...] = ()


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
    input_times: np.ndarray | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    seed: int | None = None
    progress: bool = False
    progress_file: Any = None
    history: Callable[[float], np.ndarray] | None = None

    @property
    def n_steps(self) -> int:
        return int(round(self.simulation_time / self.step_size))

    @property
    def sample_every(self) -> int:
        return max(int(round(self.sampling_step / self.step_size)), 1)

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
        batch may lead), the time grid (positive step sizes, whole samples of a fixed step
        within the run) and inputs the system does not have."""
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
        if not (self.step_size > 0) or not math.isfinite(self.step_size):
            raise SolverError(f"step_size must be positive, got {self.step_size}")
        if not (self.sampling_step > 0):
            raise SolverError(f"sampling_step must be positive, got {self.sampling_step}")
        if self.simulation_time < 0:
            raise SolverError(f"simulation_time must not be negative, got {self.simulation_time}")
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
        try:
            value = np.asarray(self.history(t))  # type: ignore[misc]
        except SolverError:
            raise
        except Exception as exc:
            raise SolverError(f"the pre-history function failed at t={t}: {exc!r}") from exc
        if value.size != n:
            raise SolverError(
                f"the pre-history function returned shape {value.shape} at t={t}; it must "
                f"return the state vector ({n} values)"
            )
        return value.reshape(-1)

    def progress_bar(self, desc: str = "") -> Progress:
        """A :class:`Progress` for this integration (does nothing unless ``progress``)."""
        return Progress(
            self.simulation_time if self.progress else None,
            t0=self.t0,
            desc=desc,
            file=self.progress_file,
        )


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


@dataclass
class Trajectory:
    """Sampled states: ``states[k]`` is the state vector at ``times[k]``; ``final`` the state at
    the end of the run (used by ``initial_state="last"``)."""

    times: np.ndarray
    states: np.ndarray
    final: np.ndarray
    info: dict[str, Any] = field(default_factory=dict)
