"""Separable edge templates run as matrix products: the same numbers as one unit per edge."""

from __future__ import annotations

import numpy as np
import pytest

from rates_core import CircuitTemplate, EdgeTemplate, NodeTemplate, OperatorTemplate, build_system


def network(n: int, edge_eqs: list, delays: bool, seed: int = 1) -> tuple[CircuitTemplate, dict]:
    rng = np.random.default_rng(seed)
    phase = OperatorTemplate(
        name="phase_op",
        equations=["theta' = omega + s_in"],
        variables={"theta": "output(0.0)", "omega": 2.0, "s_in": "input(0.0)"},
    )
    node = NodeTemplate(name="phase_pop", operators=[phase])
    coupling = OperatorTemplate(
        name="coupling_op",
        equations=edge_eqs,
        variables={
            "s": "output(0.0)",
            "theta_s": "input(0.0)",
            "theta_t": "input(0.0)",
            "K": 0.7,
            **({"d": "variable(0.0)"} if len(edge_eqs) > 1 else {}),
        },
    )
    edge = EdgeTemplate("coupling_edge", operators=[coupling])
    labels = [f"p{i}" for i in range(n)]
    theta_t = np.empty((n, n), dtype=object)
    for i, label in enumerate(labels):
        theta_t[i, :] = f"{label}/phase_op/theta"
    attrs = {
        "coupling_edge/coupling_op/theta_s": "source",
        "coupling_edge/coupling_op/theta_t": theta_t,
    }
    if delays:
        attrs["delay"] = rng.uniform(0.01, 0.2, (n, n))
    c = CircuitTemplate(name="oscillators", nodes={label: node for label in labels})
    c = c.add_edges_from_matrix(
        "phase_op/theta",
        "phase_op/s_in",
        labels,
        weight=rng.random((n, n)) / n * (rng.random((n, n)) < 0.6),
        template=edge,
        edge_attr=attrs,
    )
    initial = {f"{lb}/phase_op/theta": float(v) for lb, v in zip(labels, rng.uniform(0, 6, n))}
    return c, initial


EDGES = {
    "sine": ["s = K*sin(theta_s - theta_t)"],
    "diffusive": ["s = K*(theta_s - theta_t)"],
    "two_steps": ["d = theta_s - theta_t", "s = K*cos(d)*sin(2.0*d) + 0.1*t*theta_s"],
}


@pytest.mark.parametrize(
    ("edge", "solver", "delays"),
    [
        ("sine", "rk4", False),
        ("sine", "euler", True),
        ("sine", "rk4", True),
        ("diffusive", "heun", True),
        ("two_steps", "rk4", True),
    ],
)
def test_separable_edges_equal_one_unit_per_edge(edge: str, solver: str, delays: bool) -> None:
    """34 oscillators, 60 % of the pairs coupled through an edge template: the vectorised build
    sums the edges as matrix products of per-node factors (delayed: factors kept in the
    history), the unvectorised one evaluates every edge. In two_steps, t multiplies the
    delayed source but is read at the current time."""
    c, initial = network(34, EDGES[edge], delays)
    vec_system = build_system(c, record_delayed=True)
    assert vec_system.n_states == 34
    kwargs = dict(outputs={"theta": "all/phase_op/theta"}, initial_state=initial, solver=solver)
    vec = c.run(1.0, 2e-3, **kwargs)
    unvec = c.run(1.0, 2e-3, vectorize=False, **kwargs)
    tol = 1e-9 if (delays and solver == "rk4") else 1e-11
    assert np.abs(vec.to_numpy() - unvec.to_numpy()).max() < tol
    assert np.abs(vec.to_numpy()[-1] - vec.to_numpy()[0]).min() > 0.5  # they moved
