"""Writing generated source: an indenting line writer, and the unit / noise expansion.

Every backend writes its module line by line with :class:`SourceWriter`, and expands ``randn()``
in the equations of vectorised populations with :func:`unit_noise`, so that a population of
``n`` nodes draws one sample per node (as the unvectorised network does), never one sample
shared by all of them.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import sympy

from rates_core import builtins as rb
from rates_core.system import System

__all__ = ["SourceWriter", "coupling_entries", "unit_counts", "unit_noise"]


class SourceWriter:
    """Lines of generated source: ``w(line, level)`` appends ``line`` indented ``level`` times.

    ``wrap`` (optional) splits one long line into several (Fortran's continuation lines).
    """

    def __init__(
        self, indent: str = "    ", wrap: Callable[[str], list[str]] | None = None
    ) -> None:
        self.lines: list[str] = []
        self.indent = indent
        self.wrap = wrap

    def __call__(self, line: str = "", level: int = 0) -> None:
        if not line:
            self.lines.append("")
            return
        text = f"{self.indent * level}{line}"
        self.lines.extend(self.wrap(text) if self.wrap else [text])

    def text(self) -> str:
        """The source, one trailing newline."""
        return "\n".join(self.lines) + "\n"


def unit_counts(system: System) -> dict[str, int]:
    """Symbol name -> number of network units (nodes) it stands for, where more than one."""
    counts: dict[str, int] = {}
    for name, _index in system.label_map.values():
        counts[name] = counts.get(name, 0) + 1
    return {name: n for name, n in counts.items() if n > 1}


def unit_noise(expr: sympy.Expr, units: int | None) -> sympy.Expr:
    """``randn()`` in the equation of a population of ``units`` nodes: one sample per node
    (``units`` None or 1: a single value, unchanged)."""
    if not units or units < 2 or not expr.has(rb.Randn):
        return expr
    return expr.xreplace({r: rb.Randn(units) for r in expr.atoms(rb.Randn) if not r.args})


def coupling_entries(system: System) -> int:
    """How many coupling values ``system`` carries (delayed reads, matrix nonzeros, index
    entries): backends skip the symbolic Jacobian above a limit of these."""
    total = sum(d.size for d in system.delayed)
    for p in system.params:
        if p.role == "matrix":
            total += int(getattr(p.value, "nnz", np.size(p.value)))
        elif p.role == "index":
            total += int(np.size(p.value))
    return total
