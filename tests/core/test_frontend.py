"""Tests of the model language: references, inheritance, declarations and template edits.

The YAML models live in ``tests/core/data``: ``rates_test_models/models.yaml`` is reached through
a dotted reference (its parent folder goes on ``sys.path``), the other files through paths.
"""

from __future__ import annotations

import dataclasses
import pickle
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from rates_core import (
    CircuitTemplate,
    EdgeTemplate,
    ModelError,
    NodeTemplate,
    OperatorTemplate,
    build_system,
    load_template,
)
from rates_core.frontend import MatrixConnection, Variable, parse_declaration

DATA = Path(__file__).parent / "data"
QIF = "rates_test_models.models"


@pytest.fixture
def models_on_path(monkeypatch):
    """Make ``rates_test_models`` importable for dotted references."""
    monkeypatch.syspath_prepend(str(DATA))


@pytest.fixture
def in_data(monkeypatch):
    """Run with ``tests/core/data`` as the working directory (for relative path references)."""
    monkeypatch.chdir(DATA)


def leaky_op(**values) -> OperatorTemplate:
    variables = {"x": "output(0.0)", "tau": 1.0, "u": "input(0.0)"}
    variables.update(values)
    return OperatorTemplate("leaky_op", equations="x' = -x/tau + u", variables=variables)


def leaky_circuit(n: int, **values) -> CircuitTemplate:
    node = NodeTemplate("leaky_node", operators=[leaky_op(**values)])
    return CircuitTemplate("net", nodes={f"n{i}": node for i in range(n)})


def assert_same_system(a, b) -> None:
    assert a.summary() == b.summary()
    assert [p.name for p in a.params] == [p.name for p in b.params]
    for pa, pb in zip(a.params, b.params):
        assert pa.role == pb.role and pa.paths == pb.paths
        va = pa.value.toarray() if sp.issparse(pa.value) else np.asarray(pa.value)
        vb = pb.value.toarray() if sp.issparse(pb.value) else np.asarray(pb.value)
        np.testing.assert_array_equal(va, vb)
    np.testing.assert_array_equal(a.initial_state(), b.initial_state())
    assert a.label_map == b.label_map


def coupling_values(system) -> list[float]:
    """Every non-zero weight of the System's couplings, sorted."""
    values = []
    for p in system.params:
        if p.role in ("weight", "matrix"):
            v = p.value.toarray() if sp.issparse(p.value) else np.asarray(p.value)
            values.extend(v[v != 0].tolist())
    return sorted(values)


# --------------------------------------------------------------------------- references


def test_dotted_reference_loads_a_circuit_from_an_importable_package(models_on_path):
    circuit = CircuitTemplate.from_yaml(f"{QIF}.qif")
    assert isinstance(circuit, CircuitTemplate)
    assert circuit.name == "qif"
    assert list(circuit.nodes) == ["p"]
    assert circuit.path == str(DATA / "rates_test_models" / "models.yaml")
    (edge,) = circuit.edges
    assert (edge.source, edge.target, edge.weight) == ("p/qif_op/r", "p/qif_op/r_in", 15.0)
    op = load_template(f"{QIF}.qif_op")
    assert isinstance(op, OperatorTemplate)
    assert op.output == "r"
    assert set(op.inputs) == {"I_ext", "r_in"}


def test_dotted_reference_without_the_package_on_the_path_is_a_model_error(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ModelError, match="cannot resolve"):
        load_template("rates_test_models_not_installed.models.qif")


@pytest.mark.parametrize(
    "reference",
    ["paths/leaky_circuit", "paths.yaml/leaky_circuit", "paths.yaml:leaky_circuit"],
)
def test_path_references_relative_to_the_working_directory(in_data, reference):
    circuit = CircuitTemplate.from_yaml(reference)
    assert circuit.name == "leaky_circuit"
    assert set(circuit.nodes) == {"a", "b"}
    assert circuit["a/leaky_op/u"].value == 0.5


@pytest.mark.parametrize(
    "form", ["{}/leaky_circuit", "{}.yaml/leaky_circuit", "{}.yaml:leaky_circuit"]
)
def test_absolute_path_references(tmp_path, monkeypatch, form):
    monkeypatch.chdir(tmp_path)
    circuit = CircuitTemplate.from_yaml(form.format(DATA / "paths"))
    assert circuit.name == "leaky_circuit"


def test_relative_reference_from_elsewhere_fails_cleanly(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ModelError, match="paths/leaky_circuit"):
        CircuitTemplate.from_yaml("paths/leaky_circuit")


def test_path_reference_inside_a_file_also_resolves_next_to_that_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    circuit = CircuitTemplate.from_yaml(f"{DATA / 'paths.yaml'}:sibling_circuit")
    assert circuit["a"].name == circuit["b"].name == "leaky_node"
    assert circuit["a"].path == str(DATA / "circuits.yaml")


def test_bare_names_refer_to_the_same_file(in_data):
    node = NodeTemplate.from_yaml("paths/leaky_node")
    assert list(node.operators) == ["leaky_op"]
    assert node["leaky_op"].path == str(DATA / "paths.yaml")


def test_dotted_base_from_a_path_loaded_file(in_data, models_on_path):
    op = OperatorTemplate.from_yaml("paths/qif_from_package")
    assert op.name == "qif_from_package"
    assert op["eta"].value == -1.0
    parent = OperatorTemplate.from_yaml(f"{QIF}.qif_op")
    assert op.equations == parent.equations
    assert op["Delta"] == parent["Delta"]


def test_from_yaml_checks_the_template_class(in_data):
    with pytest.raises(ModelError, match="not a CircuitTemplate"):
        CircuitTemplate.from_yaml("paths/leaky_node")


def test_top_level_aliases_are_data_not_templates(models_on_path):
    op = load_template(f"{QIF}.qif_op")
    # the anchors defined under aliases: are used by qif_op
    assert op["r"] == Variable("output", "float", (), 0.01)
    assert op["v"] == Variable("state", "float", (), -2.0)
    with pytest.raises(ModelError, match="base"):
        load_template(f"{QIF}.aliases")


def test_loading_keeps_no_cache_between_loads(tmp_path):
    path = tmp_path / "model.yaml"
    text = 'op:\n  base: OperatorTemplate\n  equations: "x\' = -x/tau"\n'
    path.write_text(text + "  variables: {x: output(0.0), tau: 1.0}\n")
    first = load_template(f"{path}:op")
    path.write_text(text + "  variables: {x: output(0.0), tau: 7.0}\n")
    second = load_template(f"{path}:op")
    assert first["tau"].value == 1.0
    assert second["tau"].value == 7.0


# --------------------------------------------------------------------------- inheritance


def test_child_replace_is_token_aware(in_data):
    op = load_template("edits/renamed_op")
    assert op.equations == ("q' = -q/tau + r_in + r0", "s' = -s/tau + q*r_in")
    # the parent's declarations are inherited and the child's added
    assert {"r", "s", "tau", "r0", "r_in", "q"} <= set(op.variables)
    assert op["q"].value == 0.5


def test_child_remove_add_append_prepend(in_data):
    parent = load_template("edits/rate_op")
    removed = load_template("edits/removed_op").equations
    assert removed[0].strip() == "r' = -r/tau + r_in"
    assert removed[1] == parent.equations[1]
    added = load_template("edits/added_op")
    assert added.equations == parent.equations + ("u' = -u + s",)
    assert added["u"].kind == "state"
    appended = load_template("edits/appended_op").equations
    assert appended == tuple(f"{eq} + drive" for eq in parent.equations)
    prepended = load_template("edits/prepended_op").equations
    assert prepended == tuple(f"# note: {eq}" for eq in parent.equations)


def test_child_without_equations_keeps_the_parents_and_a_list_replaces_them(in_data):
    parent = load_template("edits/rate_op")
    slower = load_template("edits/slower_op")
    assert slower.equations == parent.equations
    assert slower["tau"].value == 10.0 and parent["tau"].value == 1.0
    listed = load_template("edits/listed_op")
    assert listed.equations == ("r' = -r/tau + r_in", "s' = -s")


def test_edited_children_build(in_data):
    for name in ("renamed", "removed", "added", "appended", "listed"):
        op = load_template(f"edits/{name}_op")
        node = NodeTemplate("n", operators=[op])
        system = build_system(CircuitTemplate("c", nodes={"p": node}))
        assert system.n_states >= 2


def test_spike_frequency_adaptation_child(models_on_path):
    op = load_template(f"{QIF}.qif_sfa_op")
    assert op.equations[1] == "v' = (v^2 + eta - a + I_ext + tau*r_in - (pi*tau*r)^2) / tau"
    assert op.equations[2:] == ("a' = x/tau_a", "x' = alpha*r - 2.0*x/tau_a - a/tau_a")
    assert op["alpha"].value == 0.5
    system = build_system(CircuitTemplate.from_yaml(f"{QIF}.qif").update_var())
    assert system.n_states == 2


# --------------------------------------------------------------------------- declarations


def test_declarations_in_every_form(in_data):
    v = load_template("edits/declarations_op").variables
    assert v["x"] == Variable("output", "float", (3,), (0.5, 0.5, 0.5))
    assert v["integer"] == Variable("constant", "float", (), 2.0)
    assert v["realvalue"] == Variable("constant", "float", (), 1.5)
    assert v["quoted"] == Variable("constant", "float", (), 0.5)
    assert v["cplx"] == Variable("constant", "complex", (), 1 + 2j)
    assert v["cplx_state"] == Variable("state", "complex", (), 0j)
    assert v["float_state"] == Variable("state", "float", (), 0.0)
    assert v["started"] == Variable("state", "float", (), -1.25)
    assert v["plain_in"] == Variable("input", "float", (), 0.0)
    assert v["valued_in"] == Variable("input", "float", (), 2.0)
    assert v["listed"] == Variable("constant", "float", (3,), (1.0, 2.0, 3.0))
    assert v["long_state"] == Variable("state", "float", (2,), (1.0, 2.0))
    assert v["long_const"] == Variable("constant", "complex", (), 3 + 0j)
    assert v["legacy_in"] == Variable("input", "float", (), 0.75)
    assert v["legacy_value"] == Variable("constant", "float", (), 4.5)
    assert v["cplx"].array.dtype == np.complex128
    assert v["x"].array.shape == (3,)


@pytest.mark.parametrize(
    ("decl", "expected"),
    [
        (3, Variable("constant", "float", (), 3.0)),
        ("1e-3", Variable("constant", "float", (), 1e-3)),
        ("2j", Variable("constant", "complex", (), 2j)),
        ("output", Variable("output", "float", (), 0.0)),
        ("input(-1)", Variable("input", "float", (), -1.0)),
        ("variable([1.0, 2.0])", Variable("state", "float", (2,), (1.0, 2.0))),
        ("variable(0.0, (2, 2))", Variable("state", "float", (2, 2), ((0.0, 0.0), (0.0, 0.0)))),
        ({"vtype": "input", "value": 1.0}, Variable("input", "float", (), 1.0)),
        ({"default": "output(1.0)"}, Variable("output", "float", (), 1.0)),
        ({"default": 1.0, "shape": 2}, Variable("constant", "float", (2,), (1.0, 1.0))),
    ],
)
def test_parse_declaration(decl, expected):
    assert parse_declaration(decl) == expected


@pytest.mark.parametrize(
    "decl",
    ["output(abc)", "fast", None, True, {"vtype": "wobbly"}, {"dtype": "string", "value": 1}],
)
def test_bad_declarations_are_model_errors_naming_the_variable(decl):
    with pytest.raises(ModelError) as info:
        parse_declaration(decl, file="f.yaml", template="op", variable="k")
    assert "'k'" in str(info.value) and "'op'" in str(info.value) and "f.yaml" in str(info.value)


def test_variable_values_are_immutable():
    op = leaky_op()
    with pytest.raises(TypeError):
        op.variables["tau"] = 2.0  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        op.name = "other"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        op["tau"].value = 2.0  # type: ignore[misc]


# --------------------------------------------------------------------------- nodes


def test_node_operators_as_list_and_as_mapping_with_overrides(models_on_path):
    plain = load_template(f"{QIF}.qif_pop")
    shifted = load_template(f"{QIF}.qif_pop_shifted")
    assert list(plain.operators) == list(shifted.operators) == ["qif_op"]
    assert plain["qif_op/eta"].value == -5.0
    assert shifted["qif_op/eta"].value == -3.0
    assert shifted["qif_op/Delta"].value == 2.0
    assert shifted["qif_op"].equations == plain["qif_op"].equations
    assert shifted.structure() == plain.structure()


def test_python_node_operators_as_mapping_with_overrides():
    op = leaky_op()
    node = NodeTemplate("n", operators={op: {"tau": 4.0}})
    assert node["leaky_op/tau"].value == 4.0
    assert op["tau"].value == 1.0
    with pytest.raises(ModelError, match="appears twice"):
        NodeTemplate("n", operators=[op, op])


# --------------------------------------------------------------------------- circuits


def test_navigation(models_on_path):
    circuit = CircuitTemplate.from_yaml(f"{QIF}.qif")
    assert circuit["p"]["qif_op"]["eta"] == circuit["p/qif_op/eta"]
    assert circuit["p/qif_op/eta"].value == -5.0
    assert isinstance(circuit["p"], NodeTemplate)
    assert isinstance(circuit["p/qif_op"], OperatorTemplate)
    with pytest.raises(ModelError, match="no node or circuit 'q'"):
        circuit["q/qif_op/eta"]
    with pytest.raises(ModelError, match="no operator"):
        circuit["p/missing_op/eta"]
    with pytest.raises(ModelError, match="no variable 'nope'"):
        circuit["p/qif_op/nope"]


def test_update_var_returns_a_new_circuit(models_on_path):
    circuit = CircuitTemplate.from_yaml(f"{QIF}.qif_pair")
    before = build_system(circuit).summary()
    updated = circuit.update_var(
        node_vars={"p1/qif_op/eta": 1.5},
        edge_vars=[("p1/qif_op/r", "p2/qif_op/r_in", {"weight": 9.0})],
    )
    assert updated is not circuit
    assert updated["p1/qif_op/eta"].value == 1.5
    assert circuit["p1/qif_op/eta"].value == -5.0
    new_edge = next(e for e in updated.edges if e.target == "p2/qif_op/r_in")
    old_edge = next(e for e in circuit.edges if e.target == "p2/qif_op/r_in")
    assert new_edge.weight == 9.0 and old_edge.weight == 2.0
    assert build_system(circuit).summary() == before
    assert coupling_values(build_system(circuit)) == [-1.0, 2.0]
    assert coupling_values(build_system(updated)) == [-1.0, 9.0]


def test_update_var_wildcards_and_spread_arrays():
    circuit = leaky_circuit(4)
    same = circuit.update_var({"all/leaky_op/tau": 3.0})
    assert [same[f"n{i}/leaky_op/tau"].value for i in range(4)] == [3.0] * 4
    spread = circuit.update_var({"all/leaky_op/tau": np.array([1.0, 2.0, 3.0, 4.0])})
    assert [spread[f"n{i}/leaky_op/tau"].value for i in range(4)] == [1.0, 2.0, 3.0, 4.0]
    assert [circuit[f"n{i}/leaky_op/tau"].value for i in range(4)] == [1.0] * 4
    system = build_system(spread)
    np.testing.assert_array_equal(system.param("tau").value, [1.0, 2.0, 3.0, 4.0])


def test_update_var_of_a_vector_variable():
    node = NodeTemplate("n", operators=[leaky_op(x="output(0.0, 3)")])
    circuit = CircuitTemplate("c", nodes={"a": node, "b": node})
    one = circuit.update_var({"all/leaky_op/x": [1.0, 2.0, 3.0]})
    assert one["a/leaky_op/x"].value == one["b/leaky_op/x"].value == (1.0, 2.0, 3.0)
    each = circuit.update_var({"all/leaky_op/x": np.arange(6.0).reshape(2, 3)})
    assert each["b/leaky_op/x"].value == (3.0, 4.0, 5.0)


def test_update_var_to_complex_changes_the_dtype():
    circuit = leaky_circuit(1).update_var({"n0/leaky_op/tau": 1 + 1j})
    assert circuit["n0/leaky_op/tau"].dtype == "complex"


def test_operator_and_node_update_var_return_copies():
    op = leaky_op()
    new_op = op.update_var("tau", 5.0)
    assert (op["tau"].value, new_op["tau"].value) == (1.0, 5.0)
    node = NodeTemplate("n", operators=[op])
    new_node = node.update_var("leaky_op", "tau", 6.0)
    assert (node["leaky_op/tau"].value, new_node["leaky_op/tau"].value) == (1.0, 6.0)


def test_add_edges_from_matrix_stores_one_connection_of_nonzero_weights():
    n = 60
    rng = np.random.default_rng(42)
    weights = rng.uniform(0.5, 1.5, (n, n)) * (rng.random((n, n)) < 0.1)
    labels = [f"n{i}" for i in range(n)]
    base = leaky_circuit(n)
    circuit = base.add_edges_from_matrix("leaky_op/x", "leaky_op/u", labels, weight=weights)
    assert base.connections == ()
    assert circuit.edges == ()
    (conn,) = circuit.connections
    assert isinstance(conn, MatrixConnection)
    nnz = np.count_nonzero(weights)
    assert 0 < nnz < n * n
    assert len(conn.rows) == len(conn.cols) == nnz
    np.testing.assert_array_equal(conn.attributes["weight"], weights[conn.rows, conn.cols])
    assert not conn.rows.flags.writeable and not conn.attributes["weight"].flags.writeable
    # the same matrix given as scipy.sparse gives the same connection
    from_sparse = base.add_edges_from_matrix(
        "leaky_op/x", "leaky_op/u", labels, weight=sp.csr_matrix(weights)
    )
    (conn2,) = from_sparse.connections
    np.testing.assert_array_equal(conn2.rows, conn.rows)
    np.testing.assert_array_equal(conn2.cols, conn.cols)
    np.testing.assert_array_equal(conn2.attributes["weight"], conn.attributes["weight"])
    # the System's coupling is the matrix itself
    system = build_system(circuit)
    (matrix,) = [p for p in system.params if p.role == "matrix"]
    value = matrix.value.toarray() if sp.issparse(matrix.value) else matrix.value
    np.testing.assert_array_equal(value, weights)


def test_add_edges_from_matrix_min_weight_delays_and_errors():
    labels = ["n0", "n1", "n2"]
    weights = np.array([[0.0, 0.05, 1.0], [2.0, 0.0, 0.0], [0.0, 3.0, 0.0]])
    delays = np.full((3, 3), 0.25)
    circuit = leaky_circuit(3).add_edges_from_matrix(
        "leaky_op/x",
        "leaky_op/u",
        labels,
        weight=weights,
        edge_attr={"delay": delays},
        min_weight=0.1,
    )
    (conn,) = circuit.connections
    assert len(conn.rows) == 3
    np.testing.assert_array_equal(conn.attributes["delay"], [0.25] * 3)
    edges = list(conn.edges())
    assert {(e.source, e.target, e.weight) for e in edges} == {
        ("n2/leaky_op/x", "n0/leaky_op/u", 1.0),
        ("n0/leaky_op/x", "n1/leaky_op/u", 2.0),
        ("n1/leaky_op/x", "n2/leaky_op/u", 3.0),
    }
    with pytest.raises(ModelError, match="shape"):
        leaky_circuit(3).add_edges_from_matrix(
            "leaky_op/x", "leaky_op/u", labels, weight=np.ones((2, 3))
        )
    with pytest.raises(ModelError, match="no node"):
        # the weight matrix passed where the target nodes go
        leaky_circuit(3).add_edges_from_matrix("leaky_op/x", "leaky_op/u", labels, weights)
    with pytest.raises(ModelError, match="no node 'n9'"):
        leaky_circuit(3).add_edges_from_matrix("leaky_op/x", "leaky_op/u", ["n0", "n9"])


def test_update_var_edge_vars_on_a_matrix_connection():
    labels = ["n0", "n1"]
    weights = np.array([[0.0, 1.0], [2.0, 0.0]])
    circuit = leaky_circuit(2).add_edges_from_matrix(
        "leaky_op/x", "leaky_op/u", labels, weight=weights
    )
    updated = circuit.update_var(edge_vars=[("n1/leaky_op/x", "n0/leaky_op/u", {"weight": 5.0})])
    np.testing.assert_array_equal(circuit.connections[0].attributes["weight"], [1.0, 2.0])
    np.testing.assert_array_equal(updated.connections[0].attributes["weight"], [5.0, 2.0])
    with pytest.raises(ModelError, match="no edge"):
        circuit.update_var(edge_vars=[("n0/leaky_op/x", "n0/leaky_op/u", {"weight": 1.0})])


def test_get_nodes_with_wildcards_on_a_hierarchy(in_data):
    circuit = CircuitTemplate.from_yaml("circuits/two_pairs")
    assert list(circuit.circuits) == ["c1", "c2"] and not circuit.nodes
    assert circuit.node_labels() == ["c1/a", "c1/b", "c2/a", "c2/b"]
    assert circuit.get_nodes("all") == ["c1/a", "c1/b", "c2/a", "c2/b"]
    assert circuit.get_nodes("all/all") == ["c1/a", "c1/b", "c2/a", "c2/b"]
    assert circuit.get_nodes("c1/all") == ["c1/a", "c1/b"]
    assert circuit.get_nodes("all/a") == ["c1/a", "c2/a"]
    assert circuit.get_nodes(["c2", "b"]) == ["c2/b"]
    assert circuit.get_nodes("all", var="leaky_op/u") == circuit.node_labels()
    assert circuit.get_nodes("all", var="leaky_op/nope") == []
    assert circuit["c2/b/leaky_op/tau"].value == 1.0
    assert isinstance(circuit["c1"], CircuitTemplate)
    updated = circuit.update_var({"all/a/leaky_op/tau": [3.0, 4.0]})
    assert updated["c1/a/leaky_op/tau"].value == 3.0
    assert updated["c2/a/leaky_op/tau"].value == 4.0
    assert updated["c1/b/leaky_op/tau"].value == 1.0
    assert circuit["c1/a/leaky_op/tau"].value == 1.0
    # edges of the sub-circuits get full paths
    owners = {(owner, e.source, e.target) for owner, e in circuit.all_edges_with_owner()}
    assert ("c1/", "c1/a/leaky_op/x", "c1/b/leaky_op/u") in owners
    assert ("", "c1/b/leaky_op/x", "c2/a/leaky_op/u") in owners


def test_update_var_edge_vars_in_a_sub_circuit(in_data):
    circuit = CircuitTemplate.from_yaml("circuits/two_pairs")
    updated = circuit.update_var(
        edge_vars=[("c2/a/leaky_op/x", "c2/b/leaky_op/u", {"weight": 7.0})]
    )
    assert updated["c2"].edges[0].weight == 7.0
    assert updated["c1"].edges[0].weight == 0.5
    assert circuit["c2"].edges[0].weight == 0.5
    top = CircuitTemplate("top", circuits={"x": circuit})
    deep = top.update_var(edge_vars=[("x/c2/a/leaky_op/x", "x/c2/b/leaky_op/u", {"weight": 8.0})])
    assert deep["x/c2"].edges[0].weight == 8.0
    assert deep["x/c1"].edges[0].weight == 0.5
    cross = top.update_var(edge_vars=[("x/c1/b/leaky_op/x", "x/c2/a/leaky_op/u", {"weight": 3.0})])
    assert cross["x"].edges[0].weight == 3.0


def test_pickle_round_trip_builds_the_same_system(models_on_path):
    n = 12
    rng = np.random.default_rng(3)
    weights = rng.random((n, n)) * (rng.random((n, n)) < 0.3)
    node = load_template(f"{QIF}.qif_pop")
    circuit = (
        CircuitTemplate("net", nodes={f"n{i}": node for i in range(n)})
        .add_edges_from_matrix(
            "qif_op/r", "qif_op/r_in", [f"n{i}" for i in range(n)], weight=weights
        )
        .update_var({"all/qif_op/eta": np.linspace(-5, -3, n)})
        .add_edges([("n0/qif_op/r", "n1/qif_op/I_ext", None, {"weight": 0.5, "delay": 1.0})])
    )
    clone = pickle.loads(pickle.dumps(circuit))
    assert clone is not circuit
    assert clone["n3/qif_op/eta"] == circuit["n3/qif_op/eta"]
    assert_same_system(build_system(clone), build_system(circuit))


def test_edge_template_from_yaml(in_data):
    circuit = CircuitTemplate.from_yaml("circuits/three_with_edge_template")
    (edge,) = circuit.edges
    assert isinstance(edge.template, EdgeTemplate)
    assert edge.template.sink() == "sigmoid_op"
    assert edge.attributes["sigmoid_edge/sigmoid_op/extra"] == "c/leaky_op/x"
    assert edge.weight == 1.5


def test_to_yaml_round_trip(tmp_path, in_data):
    pytest.importorskip("rates_core.frontend.dump")
    n = 8
    rng = np.random.default_rng(5)
    weights = rng.random((n, n)) * (rng.random((n, n)) < 0.3)
    labels = [f"n{i}" for i in range(n)]
    cases = {
        "matrix": leaky_circuit(n, x="output(0.1)")
        .add_edges_from_matrix("leaky_op/x", "leaky_op/u", labels, weight=weights)
        .update_var({"all/leaky_op/tau": np.linspace(1.0, 2.0, n)}),
        "hierarchy": CircuitTemplate.from_yaml("circuits/two_pairs").update_var(
            {"all/all/leaky_op/x": [0.1, 0.2, 0.3, 0.4]}
        ),
        "edge_template": CircuitTemplate.from_yaml("circuits/three_with_edge_template"),
        "complex": leaky_circuit(2, tau="1+1j", x="output(complex)"),
    }
    for label, circuit in cases.items():
        path = tmp_path / f"{label}.yaml"
        circuit.to_yaml(str(path))
        loaded = CircuitTemplate.from_yaml(f"{path}:{circuit.name}")
        assert isinstance(loaded, CircuitTemplate), label
        assert_same_system(build_system(loaded), build_system(circuit))


def test_to_yaml_does_not_overwrite_or_follow_links(tmp_path):
    from rates_core.errors import OutputExistsError, OutputFileError

    circuit = CircuitTemplate.from_yaml("rates_core.models.qif.qif")
    path = tmp_path / "qif.yaml"
    path.write_text("keep", encoding="utf-8")
    with pytest.raises(OutputExistsError, match="use --force"):
        circuit.to_yaml(str(path))
    assert path.read_text(encoding="utf-8") == "keep"
    circuit.to_yaml(str(path), overwrite=True)
    assert isinstance(CircuitTemplate.from_yaml(f"{path}:qif"), CircuitTemplate)
    target = tmp_path / "target.yaml"
    target.write_text("secret", encoding="utf-8")
    link = tmp_path / "link.yaml"
    link.symlink_to(target)
    with pytest.raises(OutputFileError, match="symbolic link"):
        circuit.to_yaml(str(link))
    circuit.to_yaml(str(link), overwrite=True)
    assert not link.is_symlink() and target.read_text(encoding="utf-8") == "secret"
