"""The order of a System's algebraic updates: each after the ones it reads."""

from __future__ import annotations

from rates_core.errors import ModelError
from rates_core.system.model import Assignment
from rates_core.system.state import BuildState


def order_algebraic(bs: BuildState) -> list[Assignment]:
    """Algebraic updates sorted so each comes after the ones it reads (cycles are errors)."""
    deps = {
        name: {s.name for s in a.expr.free_symbols if s.name in bs.algebraic}
        for name, a in bs.algebraic.items()
    }
    order: list[Assignment] = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(name: str) -> None:
        if state.get(name) == 2:
            return
        if state.get(name) == 1:
            cycle = stack[stack.index(name) :] + [name]
            raise ModelError(
                f"algebraic equations form a cycle: {' -> '.join(cycle)}",
                variable=name,
                **bs.opts.where,
            )
        state[name] = 1
        stack.append(name)
        for dep in sorted(deps[name]):
            visit(dep)
        stack.pop()
        state[name] = 2
        order.append(bs.algebraic[name])

    for name in bs.algebraic:
        visit(name)
    return order
