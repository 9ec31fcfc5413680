"""A delayed model's vector field for solvers that keep the history themselves.

``get_run_func`` of a model with delays returns ``f(t, y, hist, *params) -> dy`` (as PyRates
0.13 did), for ddeint- or jitcdde-style solvers: ``hist(s)`` is the state vector at an earlier
time ``s`` (the caller's interpolation of its own solution, or the pre-history). Each call
reads ``hist`` once per distinct delay; delays and delayed-read indices are taken from the
parameter values of that call, so a parameter that is a delay can change between calls.

With extrinsic inputs it is ``f(t, y, hist, input_times, *params)``, each input parameter
given as its whole array of rows on the grid ``input_times`` and read at ``t`` by linear
interpolation, as the ODE export with inputs does.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from rates_core.backend import EmittedFunction
from rates_core.delay_reads import ConnectionLayout, grid_steps
from rates_core.errors import ModelError, SolverError
from rates_core.system import System


def check_exportable(system: System, capabilities: frozenset[str], backend: str) -> None:
    """ModelError unless the backend's vector field takes delayed reads (capability ``dde``)
    and every delayed read is of a state (``hist`` returns states only)."""
    reads = ", ".join(f"{d.state}(t - {d.tau})" for d in system.delayed[:3])
    if "dde" not in capabilities:
        raise ModelError(
            f"get_run_func: the model has delayed reads ({reads}); backend {backend!r} cannot "
            "export them with a history argument (capability 'dde'; rates-numpy can). Use "
            "backend='numpy', or delay_approximation=n to turn the delays into ODEs",
            template=system.name,
        )
    states = {s.name for s in system.states}
    algebraic = sorted({d.state for d in system.delayed if d.state not in states})
    if algebraic:
        raise ModelError(
            f"get_run_func: the delayed reads of {', '.join(algebraic)} read algebraic "
            "variables, which a history of the state vector does not hold; simulate with "
            "run(), or pass delay_approximation=n",
            template=system.name,
        )


def delayed_values(
    system: System,
    t: float,
    y: np.ndarray,
    hist: Callable[[float], Any],
    params: Sequence[Any],
    grid_step: float | None = None,
) -> list[Any]:
    """The delayed-read arguments of ``emitted.rhs*`` at time ``t``: one per
    ``system.delayed`` entry, a number for a read of one value, else an array.
    ``grid_step``: every delay is rounded to whole steps of it first (``delays="grid"``)."""
    layout = ConnectionLayout(system, params)
    delays = layout.tau if grid_step is None else grid_steps(layout.tau, grid_step) * grid_step
    values = np.empty(layout.size, dtype=np.result_type(y.dtype, np.float64))
    for tau in np.unique(delays):
        at = delays == tau
        past = y if tau == 0 else np.asarray(hist(t - float(tau)))
        if past.shape != y.shape:
            raise SolverError(
                f"hist({t - float(tau)!r}) returned shape {past.shape}, expected the state "
                f"vector's {y.shape}"
            )
        values[at] = past[layout.pos[at]]
    out: list[Any] = []
    for start, stop, real in layout.bounds:
        part = values[start:stop].real if real else values[start:stop]
        out.append(part[0].item() if stop - start == 1 else part)
    return out


#: ``(input_times, at_time)``: the grid of the input rows and ``at_time(t, input_times,
#: params)``, the parameters with every input interpolated at ``t``
Inputs = tuple[np.ndarray, Callable[[float, np.ndarray, tuple], Sequence[Any]]]


def delayed_run_func(
    system: System,
    emitted: EmittedFunction,
    params: Sequence[Any],
    keys: list[str],
    inputs: Inputs | None = None,
    grid_step: float | None = None,
) -> tuple[Any, tuple, list[str]]:
    """``(f, args, keys)`` with ``f(t, y, hist, *params) -> dy`` and ``args = (0.0, y0,
    hist0, *params)``, ``hist0`` the constant pre-history (the initial state, as ``run``);
    with ``inputs``, ``f(t, y, hist, input_times, *params)`` and ``args = (0.0, y0, hist0,
    input_times, *params)``; ``grid_step``: delays rounded to whole steps of it."""
    rhs = emitted.rhs_functional
    y0 = system.initial_state()
    constant = np.array(y0, copy=True)

    def vector_field(t: float, y: np.ndarray, hist: Callable[[float], Any], *params: Any) -> Any:
        y = np.asarray(y)
        return rhs(t, y, *delayed_values(system, t, y, hist, params, grid_step), *params)

    def initial_history(t: float) -> np.ndarray:
        return constant

    if inputs is None:
        return vector_field, (0.0, y0, initial_history, *params), ["t", "y", "hist", *keys]
    input_times, at_time = inputs

    def vector_field_inputs(
        t: float, y: np.ndarray, hist: Callable[[float], Any], times: np.ndarray, *params: Any
    ) -> Any:
        return vector_field(t, y, hist, *at_time(t, times, params))

    args = (0.0, y0, initial_history, input_times, *params)
    return vector_field_inputs, args, ["t", "y", "hist", "input_times", *keys]
