"""Graph orderings (operators, algebraic updates, their cycle reports) and
CircuitTemplate.to_networkx."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
import scipy.sparse as sp

from rates_core import (
    CircuitTemplate,
    Connectivity,
    ModelError,
    NodeTemplate,
    OperatorTemplate,
    PopulationTemplate,
    build_system,
)
from rates_core.graphs import dependency_cycle, dependency_graph, dependency_order


def _random_deps(rng: np.random.Generator, acyclic: bool) -> dict[str, set[str]]:
    names = [f"v{i}" for i in rng.permutation(12)]
    deps: dict[str, set[str]] = {}
    for i, name in enumerate(names):
        pool = names[:i] if acyclic else names
        k = int(rng.integers(0, min(3, len(pool)) + 1)) if pool else 0
        deps[name] = {str(s) for s in rng.choice(pool, size=k, replace=False)} if k else set()
    return deps


def test_dependency_order_is_networkx_depth_first_post_order():
    """The walk is networkx's ``dfs_postorder_nodes`` on the same graph (what the core used
    before), and every node comes after what it reads."""
    rng = np.random.default_rng(7)
    for _ in range(200):
        deps = _random_deps(rng, acyclic=True)
        reference = nx.DiGraph()
        reference.add_nodes_from(deps)
        for name, reads in deps.items():
            reference.add_edges_from((name, dep) for dep in sorted(reads))
        order = dependency_order(dependency_graph(deps))
        assert order == list(nx.dfs_postorder_nodes(reference))
        assert dependency_cycle(dependency_graph(deps)) is None
        position = {name: i for i, name in enumerate(order)}
        assert all(position[d] < position[n] for n, reads in deps.items() for d in reads)


def test_every_reported_cycle_is_a_cycle_of_the_graph():
    rng = np.random.default_rng(8)
    found = 0
    for _ in range(200):
        deps = _random_deps(rng, acyclic=False)
        cycle = dependency_cycle(dependency_graph(deps))
        reference = nx.DiGraph([(n, d) for n, reads in deps.items() for d in reads])
        reference.add_nodes_from(deps)
        if cycle is None:
            assert nx.is_directed_acyclic_graph(reference)
            continue
        found += 1
        assert cycle[0] == cycle[-1] and len(set(cycle[:-1])) == len(cycle) - 1
        assert all(b in deps[a] for a, b in zip(cycle, cycle[1:]))
    assert found > 50


def test_reads_of_unknown_names_are_ordered_first():
    graph = dependency_graph({"b": {"x"}, "a": {"b", "y"}})
    assert list(graph) == ["b", "a", "x", "y"]
    assert dependency_order(graph) == ["x", "b", "y", "a"]


def test_building_a_system_does_not_import_networkx():
    """networkx costs about 0.1 s to import: the first run of a process must not pay it."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from rates_core import build_system, CircuitTemplate\n"
        "c = CircuitTemplate.from_yaml('rates_core.models.jansenrit.JRC')\n"
        "build_system(c)\n"
        "assert 'networkx' not in sys.modules, 'networkx imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_dependency_order_is_a_depth_first_walk_and_cycles_are_named():
    deps = {"c": {"b"}, "a": set(), "b": {"a"}, "d": {"a", "c"}}
    assert dependency_order(dependency_graph(deps)) == ["a", "b", "c", "d"]
    cyclic = dependency_graph({"x": {"y"}, "y": {"z"}, "z": {"x"}, "w": set()})
    assert dependency_cycle(cyclic) == ["x", "y", "z", "x"]
    assert dependency_cycle(dependency_graph({"s": {"s"}})) == ["s", "s"]
    assert dependency_cycle(dependency_graph(deps)) is None


def _op(name: str, equation: str, out: str, inp: str) -> OperatorTemplate:
    return OperatorTemplate(
        name, equations=[equation], variables={out: "output(0.0)", inp: "input(0.0)"}
    )


def test_cyclic_operator_wiring_names_the_cycle():
    a = _op("a_op", "x' = -x + u", "x", "u")
    b = _op("b_op", "u' = -u + x", "u", "x")
    with pytest.raises(ModelError, match=r"operator wiring is cyclic: a_op -> b_op -> a_op"):
        NodeTemplate("n", operators=[a, b])


def test_operators_are_ordered_after_the_operators_that_feed_them():
    first = _op("first_op", "m' = -m + v", "m", "v")
    second = _op("second_op", "z' = -z + w", "z", "w")
    node = NodeTemplate("n", operators=[second, first])
    assert node.operator_order() == ["second_op", "first_op"]  # no wiring: declared order
    fed = OperatorTemplate(
        "fed_op", equations=["z' = -z + m"], variables={"z": "output(0.0)", "m": "input(0.0)"}
    )
    assert NodeTemplate("n", operators=[fed, first]).operator_order() == ["first_op", "fed_op"]


def test_algebraic_cycle_names_the_cycle():
    op = OperatorTemplate(
        "op",
        equations=["x' = -x + a", "a = b + 1", "b = 2 * a"],
        variables={"x": "output(0.0)", "a": "variable(0.0)", "b": "variable(0.0)"},
    )
    circuit = CircuitTemplate("c", nodes={"n": NodeTemplate("n", operators=[op])})
    with pytest.raises(ModelError, match=r"algebraic equations form a cycle: a -> b -> a"):
        build_system(circuit)


def _leaky(name: str = "leaky") -> NodeTemplate:
    op = OperatorTemplate(
        "leaky_op",
        equations="x' = -x + u",
        variables={"x": "output(0.0)", "u": "input(0.0)"},
    )
    return NodeTemplate(name, operators=[op])


def test_to_networkx_has_every_node_and_connection_with_its_attributes():
    node, other = _leaky(), _leaky("other")
    pop = PopulationTemplate("p", node, 3)
    weights = np.array([[0.0, 2.0, 0.0], [0.0, 0.0, 0.0], [1.5, 0.0, 0.0]])
    sub = CircuitTemplate("sub", nodes={"s": other})
    circuit = CircuitTemplate(
        "net",
        nodes={"a": node, "b": other},
        populations={"p": pop},
        circuits={"inner": sub},
        connectivity=[
            Connectivity("p/leaky_op/x", "p/leaky_op/u", sp.csr_matrix(weights), delays=0.5),
            Connectivity("a/leaky_op/x", "p/leaky_op/u", 0.1),
        ],
    )
    circuit = circuit.add_edges(
        [
            ("a/leaky_op/x", "b/leaky_op/u", None, {"weight": 3.0, "delay": 1.0}),
            ("inner/s/leaky_op/x", "a/leaky_op/u", None, {"weight": -1.0}),
        ]
    )
    circuit = circuit.add_edges_from_matrix(
        "leaky_op/x", "leaky_op/u", ["a", "b"], weight=np.array([[0.0, 4.0], [0.0, 0.0]])
    )
    graph = circuit.to_networkx()
    assert isinstance(graph, nx.MultiDiGraph) and graph.graph["name"] == "net"
    assert dict(graph.nodes(data="template")) == {
        "a": "leaky",
        "b": "other",
        "p/0": "leaky",
        "p/1": "leaky",
        "p/2": "leaky",
        "inner/s": "other",
    }
    edges = {
        (u, v, d["weight"], d["delay"], d.get("coupling")) for u, v, d in graph.edges(data=True)
    }
    assert edges == {
        ("a", "b", 3.0, 1.0, None),
        ("inner/s", "a", -1.0, None, None),
        ("b", "a", 4.0, None, None),
        ("p/1", "p/0", 2.0, 0.5, None),
        ("p/0", "p/2", 1.5, 0.5, None),
        ("a", "p/0", 0.1, None, "global"),
        ("a", "p/1", 0.1, None, "global"),
        ("a", "p/2", 0.1, None, "global"),
    }
    (data,) = graph.get_edge_data("a", "b").values()
    assert (data["source_var"], data["target_var"], data["template"]) == (
        "leaky_op/x",
        "leaky_op/u",
        None,
    )
