"""Dependency order and cycle reports, through networkx.

The core orders small dependency graphs (the operators of a node, the algebraic updates of a
System): each item after the ones it reads. ``deps[name]`` lists what ``name`` reads; the order
is that of a depth-first walk (items in the order of ``deps``, what each reads sorted by name),
so it does not depend on set iteration order. networkx is imported when a graph is first
made, not with rates_core (importing it costs about 0.1 s).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import networkx as nx


def dependency_graph(deps: Mapping[str, Iterable[str]]) -> nx.DiGraph:
    """Edges ``name -> what it reads``; nodes in the order of ``deps``."""
    import networkx as nx

    graph = nx.DiGraph()
    graph.add_nodes_from(deps)
    for name, reads in deps.items():
        graph.add_edges_from((name, dep) for dep in sorted(reads))
    return graph


def dependency_cycle(graph: nx.DiGraph) -> list[str] | None:
    """A cycle ``[a, b, ..., a]`` the walk meets first, or None."""
    import networkx as nx

    try:
        edges = nx.find_cycle(graph, source=list(graph))
    except nx.NetworkXNoCycle:
        return None
    return [u for u, _ in edges] + [edges[-1][1]]


def dependency_order(graph: nx.DiGraph) -> list[str]:
    """Every node after the nodes it reads (``graph`` must have no cycle)."""
    import networkx as nx

    return list(nx.dfs_postorder_nodes(graph))
