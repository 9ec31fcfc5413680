"""Separable edge templates: sum_j W_ij f(x_j, y_i) as sum_k B_k(y_i) (W @ A_k(x))_i."""

from __future__ import annotations

import numpy as np
import sympy

from rates_core import CircuitTemplate, EdgeTemplate, NodeTemplate, OperatorTemplate, build_system
from rates_core.builtins import TIME
from rates_core.separable import separate

a, b, c, k = sympy.symbols("a b c k", real=True)


def test_sine_of_a_difference_is_two_products() -> None:
    pairs = separate({"s": sympy.sin(a - b)}, sympy.Symbol("s", real=True), a, [b], [])
    assert dict(pairs) == {sympy.sin(a): sympy.cos(b), sympy.cos(a): -sympy.sin(b)}


def test_diffusive_coupling_has_a_target_only_term() -> None:
    pairs = separate({"s": k * (a - b)}, sympy.Symbol("s", real=True), a, [b], [k])
    assert dict(pairs) == {a: k, sympy.Integer(1): -b * k}


def test_definitions_are_substituted() -> None:
    defs = {"d": a - b, "s": c * sympy.cos(sympy.Symbol("d", real=True))}
    pairs = separate(defs, sympy.Symbol("s", real=True), a, [b], [c])
    assert sympy.simplify(sum(x * y for x, y in pairs) - c * sympy.cos(a - b)) == 0
    assert len(pairs) == 2


def test_what_does_not_separate() -> None:
    s = sympy.Symbol("s", real=True)
    assert separate({"s": sympy.sin(a * b)}, s, a, [b], []) is None
    assert separate({"s": sympy.exp(a * TIME)}, s, a, [b], []) is None  # t with the source
    assert separate({"s": sympy.sin(b)}, s, a, [b], []) is None  # no source at all
    assert separate({"s": sympy.sin(a + c)}, s, a, [b], []) is None  # c is nobody's


def kuramoto(n: int, edge_eq: str, delays: np.ndarray | None = None, seed: int = 1):
    rng = np.random.default_rng(seed)
    phase = OperatorTemplate(
        name="phase_op",
        equations=["theta' = omega + s_in"],
        variables={"theta": "output(0.0)", "omega": 10.0, "s_in": "input(0.0)"},
    )
    node = NodeTemplate(name="phase_pop", operators=[phase])
    coupling = OperatorTemplate(
        name="coupling_op",
        equations=[edge_eq],
        variables={
            "s": "output(0.0)",
            "theta_s": "input(0.0)",
            "theta_t": "input(0.0)",
            "K": 0.5,
        },
    )
    edge = EdgeTemplate("sin_edge", operators=[coupling])
    labels = [f"p{i}" for i in range(n)]
    theta_t = np.empty((n, n), dtype=object)
    for i, label in enumerate(labels):
        theta_t[i, :] = f"{label}/phase_op/theta"
    attrs = {"sin_edge/coupling_op/theta_s": "source", "sin_edge/coupling_op/theta_t": theta_t}
    if delays is not None:
        attrs["delay"] = delays
    c = CircuitTemplate(name="kuramoto", nodes={label: node for label in labels})
    return c.add_edges_from_matrix(
        "phase_op/theta",
        "phase_op/s_in",
        labels,
        weight=rng.random((n, n)) * (rng.random((n, n)) < 0.5),
        template=edge,
        edge_attr=attrs,
    )


def test_kuramoto_edges_become_two_matrix_products() -> None:
    system = build_system(kuramoto(30, "s = K*sin(theta_s - theta_t)"))
    assert system.n_states == 30  # no edge units
    text = system.summary()
    assert text.count("Matvec") == 2 and "sin(theta)" in text and "cos(theta)" in text
    matrices = [p for p in system.params if p.role == "matrix"]
    assert len(matrices) == 1  # both products share the weight matrix
    unvectorised = build_system(kuramoto(30, "s = K*sin(theta_s - theta_t)"), vectorize=False)
    assert len(unvectorised.algebraic) > 30  # one edge population per edge there


def test_delayed_edges_share_delays_and_indices() -> None:
    n = 20
    delays = np.random.default_rng(3).integers(1, 9, (n, n)) * 0.01
    system = build_system(kuramoto(n, "s = K*sin(theta_s - theta_t)", delays), record_delayed=True)
    assert [p.role for p in system.params].count("delay") == 1
    assert [p.role for p in system.params].count("index") == 1
    assert {d.state for d in system.delayed} == {r.name for r in system.recorded}
    assert len(system.recorded) == 2
