"""Tests of the network IR (flattening, vectorisation, projections) and the System built from it.

Numerical checks use a small evaluator written here: it lambdifies the System's algebraic
updates and derivatives with NumPy and evaluates delayed reads from the pre-history (the initial
state), so a vectorised and an unvectorised build of one circuit can be compared value by value.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
import sympy
from system_eval import evaluate, state_paths  # tests/fixtures (tests/conftest.py)

from rates_core import CircuitTemplate, ModelError, NodeTemplate, OperatorTemplate, build_system
from rates_core.builtins import Index, Matvec
from rates_core.ir import build_ir

DATA = Path(__file__).parent / "data"


# --------------------------------------------------------------------------- helpers


def leaky_op(**values) -> OperatorTemplate:
    variables = {"x": "output(0.0)", "tau": 1.0, "u": "input(0.0)"}
    variables.update(values)
    return OperatorTemplate("leaky_op", equations="x' = -x/tau + u", variables=variables)


LEAKY = NodeTemplate("leaky_node", operators=[leaky_op()])


def leaky_circuit(n: int, node: NodeTemplate = LEAKY) -> CircuitTemplate:
    return CircuitTemplate("net", nodes={f"n{i}": node for i in range(n)})


def labels(n: int) -> list[str]:
    return [f"n{i}" for i in range(n)]


def assert_same_vector_field(circuit: CircuitTemplate, seed: int = 0, **build) -> None:
    vec = build_system(circuit, vectorize=True, **build)
    flat = build_system(circuit, vectorize=False, **build)
    assert sorted(state_paths(vec)) == sorted(state_paths(flat))
    assert vec.n_states == flat.n_states
    y0_vec = dict(zip(state_paths(vec), vec.initial_state()))
    y0_flat = dict(zip(state_paths(flat), flat.initial_state()))
    assert y0_vec == y0_flat
    rng = np.random.default_rng(seed)
    y = {path: rng.normal() for path in state_paths(vec)}
    a, b = evaluate(vec, y), evaluate(flat, y)
    assert a.keys() == b.keys()
    for path in a:
        assert a[path] == pytest.approx(b[path], rel=1e-12, abs=1e-12), path


def params_by_role(system, role: str) -> list:
    return [p for p in system.params if p.role == role]


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + np.exp(-x))


@pytest.fixture
def in_data(monkeypatch):
    monkeypatch.chdir(DATA)


# --------------------------------------------------------------------------- vectorisation


def test_identical_structures_become_one_population_with_value_arrays():
    circuit = leaky_circuit(3).update_var({"all/leaky_op/tau": [1.0, 2.0, 3.0]})
    ir = build_ir(circuit)
    (pop,) = ir.populations
    assert pop.nodes == ("n0", "n1", "n2") and pop.size == 3
    np.testing.assert_array_equal(pop.values[("leaky_op", "tau")], [1.0, 2.0, 3.0])
    assert ir.unit_of == {"n0": (0, 0), "n1": (0, 1), "n2": (0, 2)}
    system = build_system(circuit)
    np.testing.assert_array_equal(system.param("tau").value, [1.0, 2.0, 3.0])
    (x,) = system.states
    assert (x.name, x.size, x.paths) == (
        "x",
        3,
        ("n0/leaky_op/x", "n1/leaky_op/x", "n2/leaky_op/x"),
    )


def test_the_built_system_is_frozen():
    """A built System is a value: its fields cannot be rebound or its tables grown."""
    import dataclasses

    system = build_system(leaky_circuit(3))
    with pytest.raises(dataclasses.FrozenInstanceError):
        system.params = ()  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        system.ir = None  # type: ignore[misc]
    with pytest.raises(AttributeError):
        system.states.append(system.states[0])  # type: ignore[attr-defined]
    assert isinstance(system.algebraic, tuple) and isinstance(system.derivatives, tuple)


def test_identical_values_collapse_to_scalars():
    system = build_system(leaky_circuit(5))
    assert system.param("tau").value.shape == ()
    assert system.param("tau").value == 1.0
    assert system.state("x").size == 5


def test_different_structures_become_different_populations():
    other = NodeTemplate("other_node", operators=[leaky_op(gain=2.0)])
    circuit = CircuitTemplate("mixed", nodes={"a": LEAKY, "b": other, "c": LEAKY})
    ir = build_ir(circuit)
    assert [p.nodes for p in ir.populations] == [("a", "c"), ("b",)]
    # an unused extra declaration does not change the equations, but the structure differs
    system = build_system(circuit)
    assert sorted(s.size for s in system.states) == [1, 2]


def test_vectorize_false_gives_one_population_per_node():
    circuit = leaky_circuit(3).update_var({"all/leaky_op/tau": [1.0, 2.0, 3.0]})
    ir = build_ir(circuit, vectorize=False)
    assert [p.nodes for p in ir.populations] == [("n0",), ("n1",), ("n2",)]
    system = build_system(circuit, vectorize=False)
    assert len(system.states) == 3 and all(s.size == 1 for s in system.states)
    names = {system.label_map[f"n{i}/leaky_op/x"][0] for i in range(3)}
    assert len(names) == 3
    assert all(system.label_map[f"n{i}/leaky_op/x"][1] is None for i in range(3))
    taus = sorted(
        float(system.param(system.label_map[f"n{i}/leaky_op/tau"][0]).value) for i in range(3)
    )
    assert taus == [1.0, 2.0, 3.0]


def test_label_map_points_paths_to_symbol_and_index():
    system = build_system(leaky_circuit(3))
    assert system.label_map["n0/leaky_op/x"] == ("x", 0)
    assert system.label_map["n2/leaky_op/x"] == ("x", 2)
    assert system.label_map["n1/leaky_op/tau"][0] == "tau"
    single = build_system(leaky_circuit(1))
    assert single.label_map["n0/leaky_op/x"] == ("x", None)


def test_vector_variables_are_not_vectorised_across_nodes():
    node = NodeTemplate("vec_node", operators=[leaky_op(x="output(0.5, 3)")])
    system = build_system(leaky_circuit(2, node))
    assert [s.size for s in system.states] == [3, 3]
    assert system.label_map["n0/leaky_op/x"][1] is None


# --------------------------------------------------------------------------- couplings


def test_edges_into_one_target_are_summed():
    circuit = leaky_circuit(4).add_edges(
        [(f"n{i}/leaky_op/x", "n0/leaky_op/u", None, {"weight": float(i)}) for i in (1, 2, 3)]
    )
    system = build_system(circuit)
    y = {"n0/leaky_op/x": 0.5, "n1/leaky_op/x": 1.0, "n2/leaky_op/x": 2.0, "n3/leaky_op/x": 3.0}
    dy = evaluate(system, y)
    assert dy["n0/leaky_op/x"] == pytest.approx(-0.5 + 1.0 * 1 + 2.0 * 2 + 3.0 * 3)
    assert dy["n1/leaky_op/x"] == pytest.approx(-1.0)
    assert_same_vector_field(circuit)


@pytest.mark.parametrize("reverse", [False, True])
def test_permutation_like_edges_use_an_index_gather(reverse):
    n = 6
    order = reversed(range(n)) if reverse else range(n)
    edges = [
        (f"n{(i + 1) % n}/leaky_op/x", f"n{i}/leaky_op/u", None, {"weight": i + 1.0}) for i in order
    ]
    circuit = leaky_circuit(n).add_edges(edges)
    system = build_system(circuit)
    assert not params_by_role(system, "matrix")
    (index,) = params_by_role(system, "index")
    assert index.dtype == "int64"
    np.testing.assert_array_equal(index.value, [1, 2, 3, 4, 5, 0])
    (weight,) = params_by_role(system, "weight")
    np.testing.assert_array_equal(weight.value, np.arange(1.0, n + 1))
    (u,) = system.algebraic
    assert u.expr.has(Index) and not u.expr.has(Matvec)
    assert_same_vector_field(circuit)


def test_sparse_coupling_is_a_scipy_sparse_matrix():
    n = 60
    rng = np.random.default_rng(1)
    weights = rng.random((n, n)) * (rng.random((n, n)) < 0.03)
    circuit = leaky_circuit(n).add_edges_from_matrix(
        "leaky_op/x", "leaky_op/u", labels(n), weight=weights
    )
    system = build_system(circuit)
    (matrix,) = params_by_role(system, "matrix")
    assert sp.issparse(matrix.value)
    assert matrix.value.format == "csr"
    np.testing.assert_array_equal(matrix.value.toarray(), weights)
    (u,) = system.algebraic
    assert u.expr == Matvec(matrix.symbol, system.state("x").symbol)
    x = rng.normal(size=n)
    dy = evaluate(system, dict(zip(system.state("x").paths, x)))
    np.testing.assert_allclose([dy[f"n{i}/leaky_op/x"] for i in range(n)], -x + weights @ x)


def test_dense_coupling_is_an_ndarray():
    n = 20
    rng = np.random.default_rng(2)
    weights = rng.random((n, n)) * (rng.random((n, n)) < 0.5)
    circuit = leaky_circuit(n).add_edges_from_matrix(
        "leaky_op/x", "leaky_op/u", labels(n), weight=weights
    )
    system = build_system(circuit)
    (matrix,) = params_by_role(system, "matrix")
    assert isinstance(matrix.value, np.ndarray) and matrix.value.dtype == np.float64
    np.testing.assert_array_equal(matrix.value, weights)
    assert matrix.size == 0  # matrices are not counted as vector symbols


def test_zero_weight_edges_are_dropped():
    circuit = leaky_circuit(3, NodeTemplate("n", operators=[leaky_op(u="input(0.25)")]))
    circuit = circuit.add_edges(
        [
            ("n0/leaky_op/x", "n1/leaky_op/u", None, {"weight": 0.0}),
            ("n0/leaky_op/x", "n2/leaky_op/u", None, {"weight": 2.0}),
        ]
    )
    ir = build_ir(circuit)
    (proj,) = ir.projections
    np.testing.assert_array_equal(proj.tgt_idx, [2])
    system = build_system(circuit)
    dy = evaluate(system, {"n0/leaky_op/x": 1.0, "n1/leaky_op/x": 0.0, "n2/leaky_op/x": 0.0})
    # n1 has nothing connected: its input is the declared constant 0.25
    assert dy["n1/leaky_op/x"] == pytest.approx(0.25)
    assert dy["n2/leaky_op/x"] == pytest.approx(2.0)
    assert dy["n0/leaky_op/x"] == pytest.approx(-1.0 + 0.25)
    only_zero = leaky_circuit(2).add_edges(
        [("n0/leaky_op/x", "n1/leaky_op/u", None, {"weight": 0})]
    )
    assert build_ir(only_zero).projections == []
    assert not build_system(only_zero).algebraic


def test_unconnected_input_is_a_constant_with_its_default():
    node = NodeTemplate("n", operators=[leaky_op(u="input(0.5)")])
    system = build_system(leaky_circuit(2, node))
    u = system.param("u")
    assert (u.role, float(u.value), u.paths) == (
        "constant",
        0.5,
        ("n0/leaky_op/u", "n1/leaky_op/u"),
    )
    assert not system.algebraic
    assert evaluate(system)["n0/leaky_op/x"] == pytest.approx(0.5)


def test_extrinsic_inputs_are_input_parameters():
    system = build_system(leaky_circuit(3), inputs=["all/leaky_op/u"])
    (param,) = params_by_role(system, "input")
    assert param.value.shape == (3,)
    (ext,) = system.inputs
    assert ext.name == param.name and ext.size == 3
    np.testing.assert_array_equal(ext.units, [0, 1, 2])
    (u,) = system.algebraic
    assert param.symbol in u.expr.free_symbols
    one = build_system(leaky_circuit(3), inputs=["n1/leaky_op/u"])
    (ext,) = one.inputs
    np.testing.assert_array_equal(ext.units, [1])


def test_extrinsic_input_to_a_non_input_is_a_model_error():
    with pytest.raises(ModelError, match="not an input"):
        build_system(leaky_circuit(2), inputs=["all/leaky_op/tau"])
    with pytest.raises(ModelError, match="matches no node"):
        build_system(leaky_circuit(2), inputs=["zz/leaky_op/u"])


def test_intra_node_wiring_sums_operator_outputs():
    source = OperatorTemplate("src_op", equations="s' = -s", variables={"s": "output(1.0)"})
    source2 = OperatorTemplate("src2_op", equations="s = 3.0", variables={"s": "output(0.0)"})
    sink = OperatorTemplate(
        "sink_op", equations="z' = s - z", variables={"z": "output(0.0)", "s": "input(0.0)"}
    )
    node = NodeTemplate("wired", operators=[sink, source, source2])
    order = node.operator_order()
    assert order[-1] == "sink_op" and set(order) == {"src_op", "src2_op", "sink_op"}
    system = build_system(CircuitTemplate("c", nodes={"a": node}))
    dy = evaluate(system, {"a/src_op/s": 2.0, "a/sink_op/z": 0.5})
    assert dy["a/sink_op/z"] == pytest.approx(2.0 + 3.0 - 0.5)


# --------------------------------------------------------------------------- edge templates


def test_edge_template_with_an_extra_source(in_data):
    circuit = CircuitTemplate.from_yaml("circuits/three_with_edge_template")
    ir = build_ir(circuit)
    edge_pops = [p for p in ir.populations if p.is_edge]
    (edge_pop,) = edge_pops
    assert edge_pop.size == 1
    assert edge_pop.values[("sigmoid_op", "theta")].tolist() == [0.4]
    system = build_system(circuit)
    assert "m" in {a.name for a in system.algebraic}
    y = {"a/leaky_op/x": 0.7, "b/leaky_op/x": -0.2, "c/leaky_op/x": 1.3}
    dy = evaluate(system, y)
    m = 2.0 * sigmoid(4.0 * (0.7 - 0.4)) + 0.5 * 1.3
    assert dy["b/leaky_op/x"] == pytest.approx(0.2 + 1.5 * m)
    assert dy["a/leaky_op/x"] == pytest.approx(-0.7)
    assert dy["c/leaky_op/x"] == pytest.approx(-1.3)
    assert_same_vector_field(circuit)


def test_edges_with_one_template_vectorise(in_data):
    circuit = CircuitTemplate.from_yaml("circuits/three_with_edge_template")
    (edge,) = circuit.edges
    twice = circuit.add_edges(
        [
            (
                "c/leaky_op/x",
                "a/leaky_op/u",
                edge.template,
                {"weight": -1.0, "sigmoid_op/extra": "b/leaky_op/x"},
            )
        ]
    )
    (edge_pop,) = [p for p in build_ir(twice).populations if p.is_edge]
    assert edge_pop.size == 2
    assert len([p for p in build_ir(twice, vectorize=False).populations if p.is_edge]) == 2
    assert_same_vector_field(twice)


def test_edge_template_input_named_like_the_source_is_an_error():
    op = OperatorTemplate(
        "copy_op", equations="m = 2*x", variables={"m": "output(0.0)", "x": "input(0.0)"}
    )
    from rates_core import EdgeTemplate

    edge = EdgeTemplate("copy_edge", operators=[op])
    circuit = leaky_circuit(2).add_edges([("n0/leaky_op/x", "n1/leaky_op/u", edge, {})])
    with pytest.raises(ModelError, match="same name as the source variable"):
        build_system(circuit)


@pytest.mark.parametrize("vectorize", [False, True])
@pytest.mark.parametrize("matrix", [False, True])
def test_edge_template_whose_sink_has_no_output_is_a_model_error(vectorize, matrix):
    """The sink operator's output is what an edge delivers: without one, a ModelError naming
    the template (it was a KeyError: None from deep inside the System build)."""
    from rates_core import EdgeTemplate

    op = OperatorTemplate(
        "filter_op", equations="v' = s - v", variables={"v": "variable(0.0)", "s": "input(0.0)"}
    )
    edge = EdgeTemplate("no_output_edge", operators=[op])
    if matrix:
        circuit = leaky_circuit(2).add_edges_from_matrix(
            "leaky_op/x", "leaky_op/u", labels(2), weight=np.ones((2, 2)), template=edge
        )
    else:
        circuit = leaky_circuit(2).add_edges([("n0/leaky_op/x", "n1/leaky_op/u", edge, {})])
    with pytest.raises(ModelError, match="sink operator 'filter_op'.*output") as info:
        build_system(circuit, vectorize=vectorize)
    assert info.value.template == "no_output_edge"


# --------------------------------------------------------------------------- delays


@pytest.mark.parametrize(
    ("delay", "spread", "order"), [(0.5, 0.1, 25), (2.0, 1.0, 4), (1.0, 0.7, 2)]
)
def test_spread_becomes_a_gamma_chain(delay, spread, order):
    circuit = leaky_circuit(2).add_edges(
        [
            (
                "n0/leaky_op/x",
                "n1/leaky_op/u",
                None,
                {"weight": 3.0, "delay": delay, "spread": spread},
            )
        ]
    )
    system = build_system(circuit)
    assert order == round((delay / spread) ** 2)
    kernels = [s for s in system.states if "kernel" in s.name]
    assert len(kernels) == order
    (rate,) = params_by_role(system, "rate")
    assert float(rate.value) == pytest.approx(order / delay)
    assert not system.delayed
    # at equilibrium every kernel stage equals the delayed source
    x0 = 0.8
    y = {"n0/leaky_op/x": x0, "n1/leaky_op/x": 0.0}
    y.update({path: x0 for s in kernels for path in s.paths})
    dy = evaluate(system, y)
    for s in kernels:
        for path in s.paths:
            assert dy[path] == pytest.approx(0.0)
    assert dy["n1/leaky_op/x"] == pytest.approx(3.0 * x0)
    # a step in the source only reaches the first stage
    y["n0/leaky_op/x"] = x0 + 1.0
    dy = evaluate(system, y)
    first = kernels[0].paths[0]
    assert dy[first] == pytest.approx(order / delay)
    assert all(dy[p] == 0.0 for s in kernels[1:] for p in s.paths)
    assert_same_vector_field(circuit)


def test_delayed_edge_from_a_state_is_a_delayed_read():
    circuit = leaky_circuit(3).add_edges(
        [
            ("n0/leaky_op/x", "n1/leaky_op/u", None, {"weight": 2.0, "delay": 1.0}),
            ("n1/leaky_op/x", "n2/leaky_op/u", None, {"weight": 1.0, "delay": 0.25}),
        ]
    )
    circuit = circuit.update_var({"all/leaky_op/x": [0.1, 0.2, 0.3]})
    system = build_system(circuit)
    (read,) = system.delayed
    assert read.state == "x"
    tau = system.param(read.tau)
    assert tau.role == "delay"
    np.testing.assert_array_equal(np.sort(np.atleast_1d(tau.value)), [0.25, 1.0])
    assert read.index is not None and system.param(read.index).role == "index"
    # pre-history is the initial state: with x = 0 now, the delayed edges still see x(0)
    dy = evaluate(system, {f"n{i}/leaky_op/x": 0.0 for i in range(3)})
    assert dy["n1/leaky_op/x"] == pytest.approx(2.0 * 0.1)
    assert dy["n2/leaky_op/x"] == pytest.approx(1.0 * 0.2)
    assert_same_vector_field(circuit)


def test_delayed_edge_from_an_algebraic_variable_reads_the_past_of_its_states():
    """m = 2*x is rebuilt at t - delay from the delayed read of x (no history of m needed)."""
    alg = OperatorTemplate(
        "alg_op",
        equations=["x' = -x + u", "m = 2*x"],
        variables={"x": "variable(0.0)", "m": "output(0.0)", "u": "input(0.0)"},
    )
    node = NodeTemplate("alg_node", operators=[alg])
    circuit = leaky_circuit(2, node).add_edges(
        [("n0/alg_op/m", "n1/alg_op/u", None, {"weight": 1.0, "delay": 1.0})]
    )
    system = build_system(circuit, vectorize=False)
    (read,) = system.delayed
    assert system.state(read.state).paths == ("n0/alg_op/x",)
    (u,) = [a for a in system.algebraic if a.expr.has(read.symbol)]
    (weight,) = [p for p in system.params if p.role == "weight"]
    assert sympy.simplify(u.expr.diff(read.symbol) - 2 * weight.symbol) == 0


def test_delayed_edge_from_a_variable_without_history_is_an_error():
    alg = OperatorTemplate(
        "alg_op",
        equations=["x' = -x + u", "m = 2*u"],
        variables={"x": "variable(0.0)", "m": "output(0.0)", "u": "input(0.0)"},
    )
    node = NodeTemplate("alg_node", operators=[alg])
    circuit = leaky_circuit(2, node).add_edges(
        [("n0/alg_op/m", "n1/alg_op/u", None, {"weight": 1.0, "delay": 1.0})]
    )
    with pytest.raises(ModelError, match="history") as info:
        build_system(circuit)
    assert "'m'" in str(info.value)


def test_past_and_shorthand_in_equations_are_delayed_reads():
    op = OperatorTemplate(
        "echo_op",
        equations="x' = -x + 0.5*past(x, d) + 0.25*x(t - 0.3)",
        variables={"x": "output(1.0)", "d": 0.7},
    )
    system = build_system(CircuitTemplate("c", nodes={"a": NodeTemplate("n", operators=[op])}))
    reads = {(r.state, r.tau) for r in system.delayed}
    assert reads == {("x", "d"), ("x", 0.3)}
    assert system.param("d").value == 0.7
    dy = evaluate(system, {"a/echo_op/x": 0.0})
    assert dy["a/echo_op/x"] == pytest.approx(0.5 + 0.25)


def test_past_of_an_algebraic_variable_is_the_past_of_its_states():
    op = OperatorTemplate(
        "echo_op",
        equations=["m = 2*x", "x' = -x + past(m, 1.0)"],
        variables={"x": "output(1.0)", "m": "variable(0.0)"},
    )
    system = build_system(CircuitTemplate("c", nodes={"a": NodeTemplate("n", operators=[op])}))
    (read,) = system.delayed
    assert (read.state, read.tau) == ("x", 1.0)
    (_, dx) = system.derivatives[0]
    x = system.states[0].symbol
    assert sympy.expand(dx - (-x + 2 * read.symbol)) == 0


def test_past_of_an_extrinsic_input_is_an_error():
    op = OperatorTemplate(
        "bad_op",
        equations=["m = 2*u", "x' = -x + past(m, 1.0)"],
        variables={"x": "output(1.0)", "m": "variable(0.0)", "u": "input(0.0)"},
    )
    circuit = CircuitTemplate("c", nodes={"a": NodeTemplate("n", operators=[op])})
    with pytest.raises(ModelError, match="history"):
        build_system(circuit, inputs=["a/bad_op/u"])


def test_delayed_hierarchical_circuit_vectorised_matches_unvectorised(in_data):
    circuit = CircuitTemplate.from_yaml("circuits/two_pairs")
    circuit = circuit.update_var({"all/all/leaky_op/x": [0.1, 0.2, 0.3, 0.4]})
    system = build_system(circuit)
    assert len(system.delayed) == 1
    dy = evaluate(system, {p: 0.0 for p in state_paths(system)})
    # c1/a receives -1 * x(c2/b) delayed; pre-history x = 0.4
    assert dy["c1/a/leaky_op/x"] == pytest.approx(-0.4)
    assert_same_vector_field(circuit)


# --------------------------------------------------------------------------- algebraic order


def test_algebraic_updates_are_ordered_by_dependency():
    op = OperatorTemplate(
        "chain_op",
        equations=["c = a*b", "a = b + 1", "b = 2*x", "x' = -x + c"],
        variables={
            "x": "output(1.0)",
            "a": "variable(0.0)",
            "b": "variable(0.0)",
            "c": "variable(0.0)",
        },
    )
    system = build_system(CircuitTemplate("c", nodes={"p": NodeTemplate("n", operators=[op])}))
    assert [a.name for a in system.algebraic] == ["b", "a", "c"]
    dy = evaluate(system, {"p/chain_op/x": 1.5})
    assert dy["p/chain_op/x"] == pytest.approx(-1.5 + (3.0 + 1.0) * 3.0)


def test_algebraic_cycle_is_a_model_error_naming_the_variables():
    op = OperatorTemplate(
        "loop_op",
        equations=["alpha = beta + 1", "beta = 2*alpha", "x' = -x + alpha"],
        variables={"x": "output(0.0)", "alpha": "variable(0.0)", "beta": "variable(0.0)"},
    )
    with pytest.raises(ModelError, match="cycle") as info:
        build_system(CircuitTemplate("c", nodes={"p": NodeTemplate("n", operators=[op])}))
    assert "alpha" in str(info.value) and "beta" in str(info.value)


# --------------------------------------------------------------------------- precision and types


def test_complex_states_and_float32():
    node = NodeTemplate("z", operators=[leaky_op(x="output(complex)", tau="1+1j")])
    system = build_system(leaky_circuit(2, node))
    assert system.dtype == "complex128" and system.is_complex
    assert system.initial_state().dtype == np.complex128
    single = build_system(leaky_circuit(2), float_precision="float32")
    assert single.dtype == "float32"
    assert single.param("tau").dtype == "float32"
    with pytest.raises(ModelError, match="float_precision"):
        build_system(leaky_circuit(2), float_precision="float16")


# --------------------------------------------------------------------------- numeric comparison


def test_mixed_network_vectorised_matches_unvectorised(in_data):
    """Two node types, a random matrix, explicit edges, a delay, a spread and an edge template."""
    n = 8
    sig_circuit = CircuitTemplate.from_yaml("circuits/three_with_edge_template")
    (sig_edge,) = sig_circuit.edges
    fast = NodeTemplate("fast_node", operators=[leaky_op(tau=0.5, gain=1.0)])
    nodes = {f"n{i}": LEAKY for i in range(n)}
    nodes.update({f"f{i}": fast for i in range(3)})
    rng = np.random.default_rng(11)
    weights = rng.normal(size=(n, n)) * (rng.random((n, n)) < 0.4)
    circuit = (
        CircuitTemplate("mixed", nodes=nodes)
        .add_edges_from_matrix("leaky_op/x", "leaky_op/u", labels(n), weight=weights)
        .add_edges(
            [
                ("f0/leaky_op/x", "n0/leaky_op/u", None, {"weight": 1.5}),
                ("f1/leaky_op/x", "n0/leaky_op/u", None, {"weight": -0.5}),
                ("n1/leaky_op/x", "f2/leaky_op/u", None, {"weight": 0.7, "delay": 0.4}),
                (
                    "n2/leaky_op/x",
                    "f0/leaky_op/u",
                    None,
                    {"weight": 0.9, "delay": 1.0, "spread": 0.5},
                ),
                (
                    "n3/leaky_op/x",
                    "f1/leaky_op/u",
                    sig_edge.template,
                    {"sigmoid_op/extra": "n4/leaky_op/x"},
                ),
            ]
        )
        .update_var(
            {
                "all/leaky_op/x": rng.normal(size=n + 3),
                "all/leaky_op/tau": rng.uniform(0.5, 2.0, n + 3),
            }
        )
    )
    assert_same_vector_field(circuit, seed=4)
    assert_same_vector_field(circuit, seed=5, inputs=["all/leaky_op/u"])


def test_every_parameter_is_used():
    """A System carries no parameter that no expression or delayed read refers to."""
    circuit = leaky_circuit(3).add_edges(
        [("n0/leaky_op/x", "n1/leaky_op/u", None, {"weight": 2.0, "delay": 1.0})]
    )
    system = build_system(circuit)
    used = set()
    for a in system.algebraic:
        used |= {s.name for s in a.expr.free_symbols}
    for _, expr in system.derivatives:
        used |= {s.name for s in expr.free_symbols}
    for d in system.delayed:
        used |= {d.index, d.tau}
    assert [p.name for p in system.params if p.name not in used] == []


def test_edge_paths_are_formatted_on_demand():
    """Matrix-connection parameters name every connection without building N^2 strings."""
    from rates_core.system import EdgePaths

    paths = EdgePaths(("a", "b"), ("c", "d"), np.array([0, 1]), np.array([1, 0]), "/o/r", "/o/u")
    weights = paths.with_suffix("/weight")
    assert len(weights) == 2
    assert weights[0] == "a/o/r->d/o/u/weight"
    assert weights[-1] == "b/o/r->c/o/u/weight"
    assert weights[:1] == ["a/o/r->d/o/u/weight"]
    assert weights == ("a/o/r->d/o/u/weight", "b/o/r->c/o/u/weight")


@pytest.mark.parametrize("order", [1, 3, 8])
def test_delay_approximation_turns_delays_into_gamma_chains(order):
    """Every discrete delay (edges and past()) becomes an ODE chain: no delayed reads remain."""
    op = OperatorTemplate(
        "echo_op",
        equations="x' = -x + u + 0.5*past(x, 2.0)",
        variables={"x": "output(0.3)", "u": "input(0.0)"},
    )
    node = NodeTemplate("n", operators=[op])
    circuit = CircuitTemplate(
        "c",
        nodes={"a": node, "b": node},
        edges=[("a/echo_op/x", "b/echo_op/u", None, {"weight": 1.0, "delay": 1.5})],
    )
    exact = build_system(circuit, vectorize=False)
    assert len(exact.delayed) == 3
    system = build_system(circuit, vectorize=False, delay_approximation=order)
    assert system.delayed == ()
    assert system.n_states == exact.n_states + 3 * order
    rates = sorted(float(p.value) for p in system.params if p.role == "rate")
    assert rates == pytest.approx(sorted([order / 1.5] + [order / 2.0] * 2))
    # chains start in the steady state of the constant pre-history (the initial state)
    kernels = [s for s in system.states if "kernel" in s.name]
    assert all(np.all(s.initial == 0.3) for s in kernels)


def test_delay_approximation_must_be_a_positive_integer():
    with pytest.raises(ModelError, match="positive integer"):
        build_system(CircuitTemplate("c"), delay_approximation=0)


def test_delayed_reads_do_not_depend_on_the_hash_seed():
    """The delayed reads of an algebraic source (one per state it depends on) come in name
    order, not in set order, so every process builds the same System (and hits the same
    compile-cache entry)."""
    import os
    import subprocess
    import sys

    code = (
        "from rates_core import CircuitTemplate, build_system\n"
        "s = build_system(CircuitTemplate.from_yaml('rates_core.models.jansenrit.JRC_delay'))\n"
        "print(s.delayed_text())\n"
    )
    texts = set()
    for seed in ("1", "2"):  # two seeds that gave different orders before
        env = dict(os.environ, PYTHONHASHSEED=seed)
        done = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        )
        texts.add(done.stdout)
    assert len(texts) == 1
