"""The values exchanged between the simulation driver and backend plugins.

``emit_function(backend, system, options)`` returns an :class:`EmittedFunction`;
``solve(solver, function, problem)`` receives it with a :class:`Problem` and returns a
:class:`Trajectory`. Keeping these plain values in the core lets third-party plugins implement
the hooks without importing any other plugin.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rates_core.system import System


@dataclass(frozen=True)
class EmitOptions:
    """What the driver asks of a backend's code generator."""

    float_precision: str = "float64"
    file_name: str | None = None  # also write the source here (absolute or relative path)
    func_name: str = "vector_field"
    functional: bool = False


@dataclass
class EmittedFunction:
    """Generated source and the callables compiled from it.

    ``rhs(t, y, dy, *params)`` writes the derivative into ``dy``; ``rhs_functional(t, y, *params)``
    returns it. ``params`` are the values of ``system.params`` in that order. ``jacobian(t, y,
    *params)`` returns the dense d f / d y when the backend provides it. ``extras`` holds
    backend-specific artefacts (for example generated fixed-step loops).
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

    @property
    def n_steps(self) -> int:
        return int(round(self.simulation_time / self.step_size))

    @property
    def sample_every(self) -> int:
        return max(int(round(self.sampling_step / self.step_size)), 1)


@dataclass
class Trajectory:
    """Sampled states: ``states[k]`` is the state vector at ``times[k]``; ``final`` the state at
    the end of the run (used by ``initial_state="last"``)."""

    times: np.ndarray
    states: np.ndarray
    final: np.ndarray
    info: dict[str, Any] = field(default_factory=dict)
