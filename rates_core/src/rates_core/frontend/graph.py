"""A circuit as a networkx graph (:meth:`CircuitTemplate.to_networkx`), for users to inspect,
draw or analyse its connectivity."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import networkx as nx
import numpy as np


def circuit_graph(circuit: Any) -> nx.MultiDiGraph:
    """Nodes: every node of the hierarchy by its full label (population units ``p/0 ..``),
    with ``template`` (the node template's name). Edges: one per connection, ``source ->
    target`` node, with ``source_var`` / ``target_var`` (``op/var``), ``weight``, ``delay``
    and ``spread`` (None where not given) and ``template`` (the edge template's name or None);
    global coupling (scalar Connectivity weights) is one edge per source and target unit with
    ``coupling="global"``."""
    graph = nx.MultiDiGraph(name=circuit.name)
    for label, template in _nodes(circuit):
        graph.add_node(label, template=template)
    for source, target, attrs in _connections(circuit):
        graph.add_edge(source, target, **attrs)
    return graph


def _nodes(circuit: Any, prefix: str = "") -> Iterator[tuple[str, str]]:
    for label, node in circuit.nodes.items():
        yield f"{prefix}{label}", node.name
    for label, pop in circuit.populations.items():
        for unit in pop.unit_labels(f"{prefix}{label}/"):
            yield unit, pop.node.name
    for label, sub in circuit.circuits.items():
        yield from _nodes(sub, f"{prefix}{label}/")


def _split(path: str) -> tuple[str, str]:
    node, op, var = path.rsplit("/", 2)
    return node, f"{op}/{var}"


def _number(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _attrs(source_var: str, target_var: str, template: Any, values: Any) -> dict[str, Any]:
    return {
        "source_var": source_var,
        "target_var": target_var,
        "weight": _number(values.get("weight", 1.0)),
        "delay": _number(values.get("delay")),
        "spread": _number(values.get("spread")),
        "template": template.name if template is not None else None,
    }


def _connections(circuit: Any, prefix: str = "") -> Iterator[tuple[str, str, dict[str, Any]]]:
    edges = list(circuit.edges)
    for conn in circuit.connections:
        edges.extend(conn.edges())
    for edge in edges:
        (src, svar), (tgt, tvar) = _split(edge.source), _split(edge.target)
        attrs = _attrs(svar, tvar, edge.template, edge.attributes)
        yield f"{prefix}{src}", f"{prefix}{tgt}", attrs
    for conn in circuit.connectivity:
        yield from _connectivity(circuit, conn, prefix)
    for label, sub in circuit.circuits.items():
        yield from _connections(sub, f"{prefix}{label}/")


def _entry(values: Any, row: int, col: int) -> Any:
    """A connectivity attribute at (row, col): matrices are read there, scalars hold for all."""
    if values is None:
        return None
    if np.ndim(values) == 0 and not hasattr(values, "tocsr"):
        return float(values)
    return float(values[row, col])


def _connectivity(
    circuit: Any, conn: Any, prefix: str
) -> Iterator[tuple[str, str, dict[str, Any]]]:
    sources = circuit.resolve_path(conn.source)
    targets = circuit.resolve_path(conn.target)
    template = conn.edge
    if conn.is_global:
        pairs: Any = ((r, c) for r in range(len(targets)) for c in range(len(sources)))
    else:
        nonzero = conn.weights.tocoo() if hasattr(conn.weights, "tocoo") else None
        if nonzero is not None:
            pairs = zip(nonzero.row.tolist(), nonzero.col.tolist())
        else:
            pairs = zip(*(idx.tolist() for idx in np.nonzero(conn.weights)))
    for row, col in pairs:
        snode, sop, svar = sources[col]
        tnode, top, tvar = targets[row]
        values = {
            "weight": _entry(conn.weights, row, col),
            "delay": _entry(conn.delays, row, col),
            "spread": _entry(conn.spread, row, col),
        }
        attrs = _attrs(f"{sop}/{svar}", f"{top}/{tvar}", template, values)
        if conn.is_global:
            attrs["coupling"] = "global"
        yield f"{prefix}{snode}", f"{prefix}{tnode}", attrs
