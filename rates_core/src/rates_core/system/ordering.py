"""The order of a System's algebraic updates: each after the ones it reads."""

from __future__ import annotations

from rates_core.errors import ModelError
from rates_core.graphs import dependency_cycle, dependency_graph, dependency_order
from rates_core.system.model import Assignment
from rates_core.system.state import BuildState


def order_algebraic(bs: BuildState) -> list[Assignment]:
    """Algebraic updates sorted so each comes after the ones it reads (cycles are errors)."""
    graph = dependency_graph(
        {
            name: {s.name for s in a.expr.free_symbols if s.name in bs.algebraic}
            for name, a in bs.algebraic.items()
        }
    )
    cycle = dependency_cycle(graph)
    if cycle:
        raise ModelError(
            f"algebraic equations form a cycle: {' -> '.join(cycle)}",
            variable=cycle[0],
            **bs.opts.where,
        )
    return [bs.algebraic[name] for name in dependency_order(graph)]
