"""Dependency order and cycle reports for small dependency graphs.

The core orders small dependency graphs (the operators of a node, the algebraic updates of a
System): each item after the ones it reads. ``deps[name]`` lists what ``name`` reads; the order
is that of a depth-first walk (items in the order of ``deps``, what each reads sorted by name),
so it does not depend on set iteration order. These graphs have tens of nodes, so a plain walk
here is all they need: every ``run()`` builds them, and importing a graph library for them
cost about 0.1 s of a warm-cache first call (networkx stays for
:meth:`~rates_core.CircuitTemplate.to_networkx`, imported there).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

#: ``name -> what it reads`` (sorted), every name that is read a key too, in walk order.
DependencyGraph = dict[str, list[str]]


def dependency_graph(deps: Mapping[str, Iterable[str]]) -> DependencyGraph:
    """Edges ``name -> what it reads``; nodes in the order of ``deps``, then the names that
    are only read, in the order they are first read."""
    graph: DependencyGraph = {name: sorted(reads) for name, reads in deps.items()}
    for reads in list(graph.values()):
        for dep in reads:
            graph.setdefault(dep, [])
    return graph


def _walk(graph: DependencyGraph) -> Iterator[tuple[str, list[str]]]:
    """Depth-first walk from every node in order: ``("done", [node])`` when a node's reads are
    all done (post-order), ``("cycle", [a, b, ..., a])`` when a read leads back into the path."""
    state: dict[str, bool] = {}  # False: on the current path; True: done
    for root in graph:
        if root in state:
            continue
        path = [root]
        state[root] = False
        stack = [iter(graph[root])]
        while stack:
            for dep in stack[-1]:
                if dep not in state:
                    path.append(dep)
                    state[dep] = False
                    stack.append(iter(graph[dep]))
                    break
                if not state[dep]:
                    yield "cycle", path[path.index(dep) :] + [dep]
            else:
                stack.pop()
                node = path.pop()
                state[node] = True
                yield "done", [node]


def dependency_cycle(graph: DependencyGraph) -> list[str] | None:
    """A cycle ``[a, b, ..., a]`` the walk meets first, or None."""
    return next((nodes for kind, nodes in _walk(graph) if kind == "cycle"), None)


def dependency_order(graph: DependencyGraph) -> list[str]:
    """Every node after the nodes it reads (``graph`` must have no cycle)."""
    return [nodes[0] for kind, nodes in _walk(graph) if kind == "done"]
