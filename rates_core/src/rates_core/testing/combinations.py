"""Models that combine features in ways that once crashed (issue 18): each runs on every backend,
vectorised or not, and gives the same numbers both ways.

- :func:`one_delayed_edge_network`: many identical nodes (one vectorised population) with a
  single delayed edge between two of them.
- :func:`driven_population`: a one-unit driver node feeding one unit of a population (plain,
  delayed or through a gamma kernel).
- :func:`spread_edge_circuit`: two identical nodes, one edge with a ``spread``: with order 36
  (delay 0.6, spread 0.1) the system is too large to be built unvectorised; a sweep over
  ``spread`` puts sets with different kernel orders into one batch.
- :func:`qif_depression_circuit`: a QIF population whose recurrent edge carries synaptic
  depression (an edge template with a differential state), and :func:`qif_depression_rhs`, the
  same equations written by hand.
"""

from __future__ import annotations

import numpy as np

from rates_core.frontend.templates import (
    CircuitTemplate,
    EdgeTemplate,
    NodeTemplate,
    OperatorTemplate,
)

__all__ = [
    "QIF_DEPRESSION",
    "driven_population",
    "one_delayed_edge_network",
    "qif_depression_circuit",
    "qif_depression_rhs",
    "spread_edge_circuit",
]

#: Parameters of :func:`qif_depression_circuit` (and :func:`qif_depression_rhs`).
QIF_DEPRESSION = {"Delta": 1.0, "tau": 1.0, "eta": -5.0, "J": 15.0, "tau_x": 5.0, "alpha": 0.5}


def _qif_node(eta: float = -5.0) -> NodeTemplate:
    """Montbrio-Pazo-Roxin QIF mean field with a coupling input ``r_in``."""
    op = OperatorTemplate(
        name="qif_op",
        equations=[
            "r' = (Delta/(pi*tau) + 2.0*r*v) / tau",
            "v' = (v^2 + eta + tau*r_in - (pi*tau*r)^2) / tau",
        ],
        variables={
            "r": "output(0.01)",
            "v": "variable(-2.0)",
            "Delta": 1.0,
            "tau": 1.0,
            "eta": eta,
            "r_in": "input(0.0)",
        },
    )
    return NodeTemplate(name="qif_pop", operators=[op])


def one_delayed_edge_network(n: int = 40, delay: float = 0.3) -> CircuitTemplate:
    """``n`` identical QIF nodes ``p0 .. p{n-1}`` (``p0`` excited, eta = 2: it fires more),
    one edge ``p0 -> p1`` with weight 10 and ``delay``."""
    node = _qif_node()
    labels = [f"p{i}" for i in range(n)]
    circuit = CircuitTemplate(name="one_delayed_edge", nodes={lb: node for lb in labels})
    circuit = circuit.update_var(node_vars={"p0/qif_op/eta": 2.0})
    return circuit.add_edges(
        [("p0/qif_op/r", "p1/qif_op/r_in", None, {"weight": 10.0, "delay": delay})]
    )


def driven_population(n: int = 40, **attrs: float) -> CircuitTemplate:
    """``n`` identical QIF nodes ``p0 ..`` and a driver node ``d`` (``m' = 1 - m``) with one
    edge ``d/d_op/m -> p1/qif_op/r_in`` of weight 10 and the edge attributes ``attrs``
    (``delay``, ``spread``)."""
    driver = OperatorTemplate(
        name="d_op", equations=["m' = 1.0 - m"], variables={"m": "output(0.0)"}
    )
    node = _qif_node()
    nodes = {f"p{i}": node for i in range(n)}
    nodes["d"] = NodeTemplate(name="driver", operators=[driver])
    circuit = CircuitTemplate(name="driven_population", nodes=nodes)
    edge = ("d/d_op/m", "p1/qif_op/r_in", None, {"weight": 10.0, **attrs})
    return circuit.add_edges([edge])


def spread_edge_circuit(delay: float = 0.6, spread: float = 0.1) -> CircuitTemplate:
    """Two identical QIF nodes ``a`` (eta = 2) and ``b``, one edge ``a/qif_op/r ->
    b/qif_op/r_in`` with weight 10, ``delay`` and ``spread`` (gamma kernel of order
    ``round((delay/spread)^2)``, 36 by default)."""
    node = _qif_node()
    circuit = CircuitTemplate(name="spread_edge", nodes={"a": node, "b": node})
    circuit = circuit.update_var(node_vars={"a/qif_op/eta": 2.0})
    attrs = {"weight": 10.0, "delay": delay, "spread": spread}
    return circuit.add_edges([("a/qif_op/r", "b/qif_op/r_in", None, attrs)])


def qif_depression_circuit(nodes: int = 1) -> CircuitTemplate:
    """``nodes`` identical QIF populations ``p0 ..``, each exciting itself through an edge with
    synaptic depression: the edge's state ``x`` (available resources) recovers with ``tau_x``
    and is used up by the presynaptic rate, the edge passes on ``x * r``."""
    c = QIF_DEPRESSION
    depression = OperatorTemplate(
        name="sd_op",
        equations=["x' = (1.0 - x)/tau_x - alpha*x*r_e", "r_out = x*r_e"],
        variables={
            "x": "variable(1.0)",
            "tau_x": c["tau_x"],
            "alpha": c["alpha"],
            "r_e": "input(0.0)",
            "r_out": "output(0.0)",
        },
    )
    edge = EdgeTemplate("sd_edge", operators=[depression])
    labels = [f"p{i}" for i in range(nodes)]
    circuit = CircuitTemplate(name="qif_sd", nodes={lb: _qif_node(c["eta"]) for lb in labels})
    return circuit.add_edges(
        [(f"{lb}/qif_op/r", f"{lb}/qif_op/r_in", edge, {"weight": c["J"]}) for lb in labels]
    )


def qif_depression_rhs(t: float, y: np.ndarray) -> np.ndarray:
    """The right-hand side of one node of :func:`qif_depression_circuit`, ``y = (r, v, x)``."""
    c = QIF_DEPRESSION
    r, v, x = y
    r_in = c["J"] * x * r
    return np.array(
        [
            (c["Delta"] / (np.pi * c["tau"]) + 2.0 * r * v) / c["tau"],
            (v**2 + c["eta"] + c["tau"] * r_in - (np.pi * c["tau"] * r) ** 2) / c["tau"],
            (1.0 - x) / c["tau_x"] - c["alpha"] * x * r,
        ]
    )
