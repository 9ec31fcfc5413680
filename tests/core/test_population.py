"""PopulationTemplate and Connectivity: n units of one node without n node objects, coupled by
weight matrices or global (mean-field) coupling.

Numerical checks compare a population network with the same network built node by node, using a
small evaluator (the System's expressions lambdified with NumPy, delayed reads from the
pre-history), keyed by frontend paths, so state orders may differ.
"""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import scipy.sparse as sp
from system_eval import evaluate, state_paths  # tests/fixtures (tests/conftest.py)

from rates_core import (
    CircuitTemplate,
    Connectivity,
    ModelError,
    NodeTemplate,
    OperatorTemplate,
    PopulationTemplate,
    build_system,
)
from rates_core.builtins import Matvec, VSum
from rates_core.ir import build_ir
from rates_core.system import DENSE_THRESHOLD

# --------------------------------------------------------------------------- helpers


def leaky_op(**values) -> OperatorTemplate:
    variables = {"x": "output(0.0)", "tau": 1.0, "u": "input(0.0)", "drive": "input(0.0)"}
    variables.update(values)
    return OperatorTemplate("leaky_op", equations="x' = -x/tau + u + drive", variables=variables)


LEAKY = NodeTemplate("leaky_node", operators=[leaky_op()])


def qif_node() -> NodeTemplate:
    op = OperatorTemplate(
        "qif_op",
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
    return NodeTemplate("qif_pop", operators=[op])


def kuramoto_node() -> NodeTemplate:
    op = OperatorTemplate(
        "k_op",
        equations=["theta' = omega + imag(z_in * exp(-I*theta))", "z = exp(I*theta)"],
        variables={
            "theta": "variable(0.0)",
            "omega": 1.0,
            "z": "output(complex)",
            "z_in": "input(complex)",
        },
    )
    return NodeTemplate("kuramoto", operators=[op])


def population_circuit(n: int = 5, **params) -> CircuitTemplate:
    pop = PopulationTemplate("exc", LEAKY, n, params=params)
    return CircuitTemplate("net", populations={"exc": pop})


def assert_same_field(a_system, b_system, seed: int = 0) -> None:
    """Same state paths, same initial state and the same derivatives at a random state."""
    paths = state_paths(a_system)
    assert sorted(paths) == sorted(state_paths(b_system))
    assert dict(zip(paths, a_system.initial_state())) == dict(
        zip(state_paths(b_system), b_system.initial_state())
    )
    rng = np.random.default_rng(seed)
    y = {path: rng.normal() for path in paths}
    a, b = evaluate(a_system, y), evaluate(b_system, y)
    assert a.keys() == b.keys()
    for path in a:
        assert a[path] == pytest.approx(b[path], rel=1e-12, abs=1e-12), path


def roles(system, role: str) -> list:
    return [p for p in system.params if p.role == role]


# --------------------------------------------------------------------------- building


def test_population_is_one_ir_population_without_node_objects():
    n = 2000
    eta = np.linspace(-6.0, -4.0, n)
    pop = PopulationTemplate("exc", qif_node(), n, params={"qif_op/eta": eta, "qif_op/tau": 2.0})
    circuit = CircuitTemplate("net", populations={"exc": pop})
    assert not circuit.nodes and circuit.labels() == ["exc"]
    ir = build_ir(circuit)
    (population,) = ir.populations
    assert population.size == n and population.template is pop.node
    assert population.nodes[:2] == ("exc/0", "exc/1") and "exc/1999" in population.nodes
    assert population.nodes.index("exc/1999") == n - 1
    np.testing.assert_array_equal(population.values[("qif_op", "eta")], eta)
    system = build_system(circuit)
    assert system.param("eta").value.shape == (n,)
    assert system.param("tau").value.shape == () and system.param("tau").value == 2.0
    assert system.state("r").size == n and system.state("r").paths[3] == "exc/3/qif_op/r"
    assert system.label_map["exc/7/qif_op/v"] == ("v", 7)


def test_identical_values_collapse_and_heterogeneous_ones_stay_arrays():
    pop = PopulationTemplate("p", LEAKY, 4, params={"leaky_op/tau": [2.0] * 4})
    assert pop.params["leaky_op/tau"] == 2.0
    pop = pop.update_var("leaky_op/tau", [1.0, 2.0, 3.0, 4.0])
    assert isinstance(pop.params["leaky_op/tau"], np.ndarray)
    assert not pop.params["leaky_op/tau"].flags.writeable
    assert pop["leaky_op/tau"].shape == (4,) and pop["leaky_op/tau"].value == (1.0, 2.0, 3.0, 4.0)
    assert pop[2]["leaky_op/tau"].value == 3.0 and pop["2/leaky_op/tau"].value == 3.0
    np.testing.assert_array_equal(pop.values("leaky_op/x"), np.zeros(4))
    same = pop.update_var("leaky_op", "tau", np.full(4, 5.0))
    assert same.params["leaky_op/tau"] == 5.0 and same["leaky_op/tau"].value == 5.0
    complex_pop = pop.update_var("leaky_op/tau", [1.0, 1j, 2.0, 3.0])
    assert complex_pop.node["leaky_op/tau"].dtype == "complex"
    with pytest.raises(ModelError, match="shape"):
        PopulationTemplate("p", LEAKY, 4, params={"leaky_op/tau": [1.0, 2.0]})
    with pytest.raises(ModelError, match="not an op/var"):
        PopulationTemplate("p", LEAKY, 4, params={"leaky_op/nope": 1.0})
    with pytest.raises(ModelError, match="positive integer"):
        PopulationTemplate("p", LEAKY, 0)
    vector = NodeTemplate("v", operators=[leaky_op(tau=[1.0, 2.0])])
    with pytest.raises(ModelError, match="scalar variables"):
        PopulationTemplate("p", vector, 3)


def test_paths_navigation_and_wildcards():
    pop = PopulationTemplate("exc", LEAKY, 3, params={"leaky_op/tau": [1.0, 2.0, 3.0]})
    sub = CircuitTemplate("sub", nodes={"a": LEAKY}, populations={"exc": pop})
    circuit = CircuitTemplate("top", circuits={"s1": sub, "s2": sub})
    assert isinstance(circuit["s1/exc"], PopulationTemplate)
    assert isinstance(circuit["s1/exc/2"], NodeTemplate)
    assert circuit["s1/exc/2/leaky_op/tau"].value == 3.0
    assert circuit.get_node("s2/exc/1")["leaky_op/tau"].value == 2.0
    assert circuit.node_labels()[:4] == ["s1/a", "s1/exc/0", "s1/exc/1", "s1/exc/2"]
    assert circuit.node_labels(units=False) == ["s1/a", "s2/a"]
    assert circuit.get_nodes("s1/exc") == ["s1/exc/0", "s1/exc/1", "s1/exc/2"]
    assert circuit.get_nodes("s1/exc/all") == circuit.get_nodes("s1/exc")
    assert circuit.get_nodes("all/exc/1") == ["s1/exc/1", "s2/exc/1"]
    assert circuit.get_nodes("s2/all") == ["s2/a", "s2/exc/0", "s2/exc/1", "s2/exc/2"]
    assert circuit.get_nodes("all") == circuit.node_labels()
    assert circuit.get_nodes("all", var="leaky_op/nope") == []
    assert circuit.unit_of("s2/exc/2") == ("s2/exc", 2)
    assert circuit.unit_of("s2/a") is None and circuit.unit_of("s2/exc/3") is None
    assert [m[0] for m in circuit.resolve_path("s1/exc/leaky_op/x")] == circuit.get_nodes("s1/exc")
    assert circuit.population_items()[1][0] == "s2/exc"
    with pytest.raises(ModelError, match="units 0..2"):
        circuit["s1/exc/3"]
    with pytest.raises(ModelError, match="used twice"):
        CircuitTemplate("bad", nodes={"exc": LEAKY}, populations={"exc": pop})


def test_update_var_on_populations():
    pop = PopulationTemplate("exc", LEAKY, 4)
    circuit = CircuitTemplate("net", nodes={"n": LEAKY}, populations={"exc": pop})
    a = circuit.update_var({"exc/leaky_op/tau": [1.0, 2.0, 3.0, 4.0]})
    np.testing.assert_array_equal(a["exc"].params["leaky_op/tau"], [1.0, 2.0, 3.0, 4.0])
    assert "leaky_op/tau" not in circuit["exc"].params  # the original is unchanged
    b = a.update_var({"exc/leaky_op/tau": 7.0})
    assert b["exc"].params["leaky_op/tau"] == 7.0
    c = a.update_var({"exc/2/leaky_op/tau": 9.0})
    np.testing.assert_array_equal(c["exc"].values("leaky_op/tau"), [1.0, 2.0, 9.0, 4.0])
    # ``all`` spans plain nodes and units, in node_labels order
    d = circuit.update_var({"all/leaky_op/x": [0.5, 1.0, 1.5, 2.0, 2.5]})
    assert d["n/leaky_op/x"].value == 0.5
    np.testing.assert_array_equal(d["exc"].values("leaky_op/x"), [1.0, 1.5, 2.0, 2.5])
    e = circuit.update_var({"exc/all/leaky_op/x": np.full(4, 3.0)})
    assert e["exc"].params["leaky_op/x"] == 3.0
    with pytest.raises(ModelError, match="one value per matched node"):
        circuit.update_var({"exc/leaky_op/tau": [1.0, 2.0]})
    system = build_system(c)
    # the population is its own IR population (the plain node another one)
    np.testing.assert_array_equal(system.param("exc_leaky_op_tau").value, [1.0, 2.0, 9.0, 4.0])


# --------------------------------------------------------------------------- connectivity


def test_global_coupling_is_a_vsum_with_no_matrix():
    n = 400
    rng = np.random.default_rng(0)
    tau = rng.uniform(0.5, 2.0, n)
    circuit = population_circuit(n, **{"leaky_op/tau": tau}).add_connectivity(
        Connectivity("exc/leaky_op/x", "exc/leaky_op/u", 0.25)
    )
    system = build_system(circuit)
    assert roles(system, "matrix") == [] and roles(system, "index") == []
    assert all(np.ndim(p.value) <= 1 for p in system.params)
    assert max(np.size(p.value) for p in system.params) == n
    (weight,) = roles(system, "weight")
    assert weight.value.shape == (n,) and np.all(weight.value == 0.25)
    (u,) = [a for a in system.algebraic if a.name == "u"]
    assert u.expr.has(VSum) and not u.expr.has(Matvec)
    x = rng.normal(size=n)
    dy = evaluate(system, {f"exc/{i}/leaky_op/x": x[i] for i in range(n)})
    np.testing.assert_allclose(
        [dy[f"exc/{i}/leaky_op/x"] for i in range(n)], -x / tau + 0.25 * x.sum()
    )


def test_global_coupling_equals_the_node_by_node_matrix():
    n = 12
    rng = np.random.default_rng(1)
    tau = rng.uniform(0.5, 2.0, n)
    pops = population_circuit(n, **{"leaky_op/tau": tau}).add_connectivity(
        Connectivity("exc/leaky_op/x", "exc/leaky_op/u", -0.5)
    )
    labels = [f"exc/{i}" for i in range(n)]
    nodes = CircuitTemplate(
        "net", circuits={"exc": CircuitTemplate("exc", nodes={str(i): LEAKY for i in range(n)})}
    )
    nodes = nodes.update_var({"exc/all/leaky_op/tau": tau}).add_edges_from_matrix(
        "leaky_op/x", "leaky_op/u", labels, weight=np.full((n, n), -0.5)
    )
    assert_same_field(build_system(pops), build_system(nodes))
    # unvectorised (one population per unit, as run() does for small systems): the same field
    assert len(build_ir(pops, vectorize=False).populations) == n
    assert_same_field(build_system(pops, vectorize=False), build_system(nodes))


def test_sparse_or_dense_coupling_by_density():
    n = 100
    rng = np.random.default_rng(2)
    for density, dense in ((DENSE_THRESHOLD / 4, False), (min(4 * DENSE_THRESHOLD, 1.0), True)):
        w = rng.random((n, n)) * (rng.random((n, n)) < density)
        for weights in (w, sp.csr_matrix(w), sp.coo_matrix(w)):
            circuit = population_circuit(n).add_connectivity(
                Connectivity("exc/leaky_op/x", "exc/leaky_op/u", weights)
            )
            system = build_system(circuit)
            (matrix,) = roles(system, "matrix")
            assert sp.issparse(matrix.value) != dense
            value = matrix.value.toarray() if sp.issparse(matrix.value) else matrix.value
            np.testing.assert_array_equal(value, w)
            x = rng.normal(size=n)
            dy = evaluate(system, {f"exc/{i}/leaky_op/x": x[i] for i in range(n)})
            np.testing.assert_allclose(
                [dy[f"exc/{i}/leaky_op/x"] for i in range(n)], -x + w @ x, rtol=1e-12
            )


def test_connectivity_between_populations_and_nodes_matches_node_by_node():
    """QIF population with heterogeneous eta, a sparse recurrent matrix, global coupling into
    I_ext from a second population, and a node driving the population: the field equals the
    same network built from nodes with add_edges_from_matrix."""
    n, m = 10, 6
    rng = np.random.default_rng(3)
    node = qif_node()
    eta = rng.normal(-5.0, 0.5, n)
    w_rec = rng.random((n, n)) * (rng.random((n, n)) < 0.3)
    w_in = rng.random((n, 1))
    exc = PopulationTemplate("exc", node, n, params={"qif_op/eta": eta})
    inh = PopulationTemplate("inh", node, m, params={"qif_op/Delta": 2.0})
    pops = CircuitTemplate(
        "net",
        nodes={"drive": node},
        populations={"exc": exc, "inh": inh},
        connectivity=[
            Connectivity("exc/qif_op/r", "exc/qif_op/r_in", sp.csr_matrix(w_rec)),
            Connectivity("inh/qif_op/r", "exc/qif_op/I_ext", -0.7),
            Connectivity("drive/qif_op/r", "exc/qif_op/I_ext", w_in),
        ],
    )
    exc_nodes = {f"e{i}": node.update_var("qif_op", "eta", eta[i]) for i in range(n)}
    inh_nodes = {f"i{j}": node.update_var("qif_op", "Delta", 2.0) for j in range(m)}
    e, i = list(exc_nodes), list(inh_nodes)
    plain = (
        CircuitTemplate(
            "net",
            nodes={"drive": node},
            circuits={
                "exc": CircuitTemplate("exc", nodes={str(k): exc_nodes[e[k]] for k in range(n)}),
                "inh": CircuitTemplate("inh", nodes={str(k): inh_nodes[i[k]] for k in range(m)}),
            },
        )
        .add_edges_from_matrix(
            "qif_op/r", "qif_op/r_in", [f"exc/{k}" for k in range(n)], weight=w_rec
        )
        .add_edges_from_matrix(
            "qif_op/r",
            "qif_op/I_ext",
            [f"inh/{k}" for k in range(m)],
            [f"exc/{k}" for k in range(n)],
            weight=np.full((n, m), -0.7),
        )
        .add_edges_from_matrix(
            "qif_op/r", "qif_op/I_ext", ["drive"], [f"exc/{k}" for k in range(n)], weight=w_in
        )
    )
    assert_same_field(build_system(pops), build_system(plain))
    assert_same_field(build_system(pops, vectorize=False), build_system(plain))


def test_add_edges_from_matrix_and_update_var_on_population_units():
    n = 5
    circuit = population_circuit(n)
    units = circuit.get_nodes("exc")
    w = np.eye(n, k=1) * 2.0
    a = circuit.add_edges_from_matrix("leaky_op/x", "leaky_op/u", units, weight=w)
    b = circuit.add_connectivity(Connectivity("exc/leaky_op/x", "exc/leaky_op/u", w))
    assert_same_field(build_system(a), build_system(b))
    c = b.update_var(edge_vars=[("exc/leaky_op/x", "exc/leaky_op/u", {"weight": 3 * w})])
    np.testing.assert_array_equal(c.connectivity[0].weights, 3 * w)
    np.testing.assert_array_equal(b.connectivity[0].weights, w)


def test_delays_and_spreads_are_recorded():
    n = 6
    rng = np.random.default_rng(4)
    w = rng.random((n, n)) * (rng.random((n, n)) < 0.5)
    delays = rng.uniform(0.5, 1.5, (n, n))
    circuit = population_circuit(n).add_connectivity(
        Connectivity("exc/leaky_op/x", "exc/leaky_op/u", w, delays=delays)
    )
    (proj,) = build_ir(circuit).projections
    np.testing.assert_array_equal(proj.delay, delays[proj.tgt_idx, proj.src_idx])
    system = build_system(circuit)
    (tau,) = roles(system, "delay")
    np.testing.assert_array_equal(np.sort(tau.value), np.sort(delays[w != 0]))
    # sparse delays are read at the weights' entries without densifying
    sparse_delays = sp.csr_matrix(np.where(w != 0, delays, 0.0))
    sparse = population_circuit(n).add_connectivity(
        Connectivity("exc/leaky_op/x", "exc/leaky_op/u", sp.csr_matrix(w), delays=sparse_delays)
    )
    np.testing.assert_array_equal(build_ir(sparse).projections[0].delay, proj.delay)

    # global coupling with a scalar delay: one delayed read of the whole source vector
    glob = population_circuit(n).add_connectivity(
        Connectivity("exc/leaky_op/x", "exc/leaky_op/u", 0.5, delays=2.0)
    )
    (proj,) = build_ir(glob).projections
    assert proj.all_to_all and float(proj.delay) == 2.0
    system = build_system(glob)
    (read,) = system.delayed
    assert read.state == "x" and read.size == n and read.index is None
    assert system.param(read.tau).value == 2.0
    # a spread: one gamma-kernel chain of the sum (order round((2/1)^2) = 4), not one per unit
    spread = build_system(
        population_circuit(n).add_connectivity(
            Connectivity("exc/leaky_op/x", "exc/leaky_op/u", 0.5, delays=2.0, spread=1.0)
        )
    )
    kernels = [s for s in spread.states if "kernel" in s.name]
    assert len(kernels) == 4 and all(s.size == 1 for s in kernels)
    assert not spread.delayed
    with pytest.raises(ModelError, match="scalar delays"):
        Connectivity("exc/leaky_op/x", "exc/leaky_op/u", 0.5, delays=delays)


def test_connectivity_errors():
    circuit = population_circuit(3)
    with pytest.raises(ModelError, match=r"shape \(2, 3\), expected \(3, 3\)"):
        circuit.add_connectivity(Connectivity("exc/leaky_op/x", "exc/leaky_op/u", np.ones((2, 3))))
    with pytest.raises(ModelError, match="no node has a variable"):
        circuit.add_connectivity(Connectivity("exc/leaky_op/nope", "exc/leaky_op/u", 1.0))
    with pytest.raises(ModelError, match="input variables"):
        build_system(
            circuit.add_connectivity(Connectivity("exc/leaky_op/x", "exc/leaky_op/x", 1.0))
        )
    with pytest.raises(ModelError, match="path"):
        Connectivity("exc", "exc/leaky_op/u", 1.0)
    edge = pytest.importorskip("rates_core.frontend").EdgeTemplate(
        "e", operators=[OperatorTemplate("e_op", "out = s", {"out": "output(0.0)", "s": "input"})]
    )
    with pytest.raises(ModelError, match="edge template needs a weight matrix"):
        Connectivity("exc/leaky_op/x", "exc/leaky_op/u", 1.0, edge=edge)


def test_connectivity_with_an_edge_template_matches_explicit_edges():
    n = 4
    edge = __import__("rates_core").EdgeTemplate(
        "sq",
        operators=[
            OperatorTemplate("sq_op", "out = s^2", {"out": "output(0.0)", "s": "input(0.0)"})
        ],
    )
    w = np.array([[0, 1.0, 0, 0], [0, 0, 2.0, 0], [0, 0, 0, 3.0], [4.0, 0, 0, 0]])
    pops = population_circuit(n).add_connectivity(
        Connectivity("exc/leaky_op/x", "exc/leaky_op/u", w, edge=edge)
    )
    nodes = CircuitTemplate(
        "net", circuits={"exc": CircuitTemplate("exc", nodes={str(i): LEAKY for i in range(n)})}
    ).add_edges(
        [
            (f"exc/{c}/leaky_op/x", f"exc/{r}/leaky_op/u", edge, {"weight": w[r, c]})
            for r, c in zip(*np.nonzero(w))
        ]
    )
    assert_same_field(build_system(pops), build_system(nodes))


# --------------------------------------------------------------------------- files


def test_to_yaml_round_trip_and_pickle(tmp_path):
    n = 8
    rng = np.random.default_rng(5)
    w = rng.random((n, n)) * (rng.random((n, n)) < 0.4)
    exc = PopulationTemplate(
        "exc", qif_node(), n, params={"qif_op/eta": rng.normal(-5, 1, n), "qif_op/tau": 1.5}
    )
    circuit = CircuitTemplate(
        "net",
        nodes={"drive": qif_node()},
        populations={"exc": exc},
        connectivity=[
            Connectivity("exc/qif_op/r", "exc/qif_op/r_in", sp.csr_matrix(w), delays=0.5),
            Connectivity("exc/qif_op/r", "exc/qif_op/I_ext", 0.3, delays=1.0),
            Connectivity(
                "drive/qif_op/r",
                "exc/qif_op/I_ext",
                np.ones((n, 1)),
                delays=np.full((n, 1), 0.6),
                spread=np.full((n, 1), 0.2),
            ),
        ],
        edges=[("exc/0/qif_op/r", "drive/qif_op/r_in", None, {"weight": 2.0})],
    )
    sub = CircuitTemplate("top", circuits={"a": circuit}).update_var({"a/exc/3/qif_op/v": -1.0})
    for original in (circuit, sub):
        path = tmp_path / f"{original.name}.yaml"
        original.to_yaml(path)
        loaded = CircuitTemplate.from_yaml(f"{path}/{original.name}")
        assert loaded.labels() == original.labels()
        a, b = build_system(original), build_system(loaded)
        assert a.summary() == b.summary()
        assert [p.name for p in a.params] == [p.name for p in b.params]
        for pa, pb in zip(a.params, b.params):
            va = pa.value.toarray() if sp.issparse(pa.value) else np.asarray(pa.value)
            vb = pb.value.toarray() if sp.issparse(pb.value) else np.asarray(pb.value)
            np.testing.assert_array_equal(va, vb)
        np.testing.assert_array_equal(a.initial_state(), b.initial_state())
        clone = pickle.loads(pickle.dumps(original))
        assert build_system(clone).summary() == a.summary()
    text = (tmp_path / "net.yaml").read_text()
    assert "populations:" in text and "connectivity:" in text


def test_yaml_population_templates_and_references(tmp_path):
    (tmp_path / "m.yaml").write_text(
        """
leaky_op:
  base: OperatorTemplate
  equations: "x' = -x/tau + u"
  variables: {x: output(0.0), tau: 1.0, u: input(0.0)}
leaky: {base: NodeTemplate, operators: [leaky_op]}
many:
  base: PopulationTemplate
  node: leaky
  n: 3
  params: {leaky_op/tau: [1.0, 2.0, 3.0]}
net:
  base: CircuitTemplate
  populations:
    p: many
    q: {node: leaky, n: 2}
  connectivity:
    - {source: p/leaky_op/x, target: q/leaky_op/u, weights: 0.5}
    - source: q/leaky_op/x
      target: p/leaky_op/u
      weights: {shape: [3, 2], rows: [0, 2], cols: [1, 0], data: [1.5, 2.5]}
"""
    )
    circuit = CircuitTemplate.from_yaml(f"{tmp_path}/m/net")
    assert circuit["p"].n == 3 and circuit["p/2/leaky_op/tau"].value == 3.0
    glob, matrix = circuit.connectivity
    assert glob.is_global and glob.weights == 0.5
    np.testing.assert_array_equal(matrix.weights.toarray(), [[0, 1.5], [0, 0], [2.5, 0]])
    assert PopulationTemplate.from_yaml(f"{tmp_path}/m/many").n == 3
    system = build_system(circuit)
    assert {p.role for p in system.params} >= {"weight", "matrix"}


# --------------------------------------------------------------------------- simulation


def test_inputs_and_outputs_of_a_population_run():
    pytest.importorskip("rates_numpy")
    n, steps, dt = 4, 50, 0.01
    circuit = population_circuit(n, **{"leaky_op/tau": [1.0, 2.0, 3.0, 4.0]})
    drive = np.linspace(0.0, 1.0, steps)
    per_unit = np.outer(np.ones(steps), np.arange(n))
    frame = circuit.run(
        steps * dt,
        dt,
        inputs={"exc/leaky_op/drive": drive, "exc/leaky_op/u": per_unit},
        outputs={"x": "exc/leaky_op/x", "x2": "exc/2/leaky_op/x"},
    )
    assert frame.shape == (steps, n + 1)
    assert [c[1] for c in frame.columns[:n]] == [f"exc/{i}" for i in range(n)]
    x = np.zeros(n)
    tau = np.array([1.0, 2.0, 3.0, 4.0])
    expected = [x.copy()]
    for k in range(steps - 1):
        x = x + dt * (-x / tau + drive[k] + np.arange(n))
        expected.append(x.copy())
    np.testing.assert_allclose(frame.iloc[:, :n].to_numpy(), np.array(expected), rtol=1e-12)
    np.testing.assert_allclose(frame.iloc[:, n].to_numpy(), np.array(expected)[:, 2])


def test_kuramoto_global_coupling_matches_a_numpy_loop():
    pytest.importorskip("rates_numpy")
    n, steps, dt, k = 50, 400, 1e-3, 2.0
    rng = np.random.default_rng(6)
    omega = rng.normal(1.0, 0.5, n)
    theta0 = rng.uniform(-np.pi, np.pi, n)
    pop = PopulationTemplate(
        "osc", kuramoto_node(), n, params={"k_op/omega": omega, "k_op/theta": theta0}
    )
    circuit = CircuitTemplate(
        "kuramoto",
        populations={"osc": pop},
        connectivity=[Connectivity("osc/k_op/z", "osc/k_op/z_in", k / n)],
    )
    system = build_system(circuit)
    assert roles(system, "matrix") == []
    frame = circuit.run(steps * dt, dt, outputs={"theta": "osc/k_op/theta"}, solver="euler")
    theta = theta0.copy()
    expected = [theta.copy()]
    for _ in range(steps - 1):
        coupling = (k / n) * np.sin(theta[None, :] - theta[:, None]).sum(axis=1)
        theta = theta + dt * (omega + coupling)
        expected.append(theta.copy())
    np.testing.assert_allclose(frame.to_numpy(), np.array(expected), rtol=1e-10, atol=1e-12)
