"""Helpers of the rates-numpy tests: small models built in Python and a Problem factory."""

from __future__ import annotations

from typing import Any

import numpy as np

from rates_core import CircuitTemplate, NodeTemplate, OperatorTemplate, build_system
from rates_core.backend import EmitOptions, Problem
from rates_core.plugins import EmitContext
from rates_numpy.emit import emit_function


def circuit(name: str, equations: list[str], variables: dict[str, Any]) -> CircuitTemplate:
    """A one-node circuit ``n`` with one operator ``op``."""
    op = OperatorTemplate(name="op", equations=equations, variables=variables)
    return CircuitTemplate(name=name, nodes={"n": NodeTemplate(name="node", operators=[op])})


def system_of(name: str, equations: list[str], variables: dict[str, Any], **kwargs: Any):
    return build_system(circuit(name, equations, variables), **kwargs)


def problem(
    system: Any,
    T: float,
    dt: float,
    every: int = 1,
    *,
    t0: float = 0.0,
    inputs: dict[str, Any] | None = None,
    input_times: Any = None,
    options: dict[str, Any] | None = None,
    seed: int | None = None,
    y0: Any = None,
    params: list[Any] | None = None,
) -> Problem:
    sampling = dt * every
    return Problem(
        y0=system.initial_state() if y0 is None else np.asarray(y0),
        params=[p.value for p in system.params] if params is None else params,
        t0=t0,
        simulation_time=T,
        step_size=dt,
        sampling_step=sampling,
        n_samples=int(round(T / sampling)),
        inputs=inputs or {},
        input_times=input_times,
        options=options or {},
        seed=seed,
    )


def emit(system: Any, scalar: bool | None = None, **options: Any):
    return emit_function(system, EmitContext(options=EmitOptions(**options)), scalar=scalar)


def qif_op() -> OperatorTemplate:
    return OperatorTemplate(
        name="qif_op",
        equations=[
            "r' = (Delta/(pi*tau) + 2.0*r*v) / tau",
            "v' = (v^2 + eta + I_ext + tau*r_in - (pi*tau*r)^2) / tau",
        ],
        variables={
            "r": "output(0.01)",
            "v": "variable(-2.0)",
            "Delta": 1.0,
            "tau": 1.0,
            "eta": -5.0,
            "I_ext": "input(0.0)",
            "r_in": "input(0.0)",
        },
    )


def qif_network(weight: Any, nodes: list[str] | None = None) -> CircuitTemplate:
    node = NodeTemplate(name="qif_pop", operators=[qif_op()])
    nodes = nodes or [f"p{i}" for i in range(np.shape(weight)[0])]
    c = CircuitTemplate(name="qif_net", nodes={n: node for n in nodes})
    return c.add_edges_from_matrix("qif_op/r", "qif_op/r_in", nodes, weight=weight)


def by_path(system: Any, states: np.ndarray) -> dict[str, np.ndarray]:
    """Columns of a trajectory keyed by the frontend path of each state unit."""
    out = {}
    for s in system.states:
        for u, path in enumerate(s.paths):
            out[path] = states[..., s.start + u]
    return out
