"""Names of a System's symbols: unique, valid in every backend, short where they can be."""

from __future__ import annotations

import keyword
from collections.abc import Mapping

from rates_core import builtins
from rates_core.ir import NetworkIR

#: Names the generated code uses itself; no symbol may take them.
GENERATED_NAMES = frozenset({"y", "dy", "t", "np", "math", "numpy", "torch", "params", "self"})


def _taken(name: str, names: set[str]) -> bool:
    return name in names or name in builtins.RESERVED_NAMES or keyword.iskeyword(name)


def unique_name(base: str, names: set[str]) -> str:
    """``base`` made an identifier and distinct from ``names`` (``_2``, ``_3``, ... appended
    when taken); the name is added to ``names``."""
    base = "".join(c if c.isalnum() or c == "_" else "_" for c in base).strip("_") or "v"
    if base[0].isdigit():
        base = "v_" + base
    if _taken(base, names):
        candidate, k = base, 1
        while _taken(candidate, names):
            k += 1
            candidate = f"{base}_{k}"
        base = candidate
    names.add(base)
    return base


def plan_names(
    ir: NetworkIR, used: Mapping[int, Mapping[tuple[str, str], str]]
) -> dict[tuple[int, str, str], str]:
    """Shortest readable unique names: ``var``, else ``op_var``, else ``pop_op_var``."""
    entries = [(p, op, var) for p, vs in used.items() for (op, var) in vs]
    by_var: dict[str, int] = {}
    by_opvar: dict[tuple[str, str], int] = {}
    for _, op, var in entries:
        by_var[var] = by_var.get(var, 0) + 1
        by_opvar[(op, var)] = by_opvar.get((op, var), 0) + 1
    planned = {}
    for p, op, var in entries:
        if by_var[var] == 1:
            base = var
        elif by_opvar[(op, var)] == 1:
            base = f"{op}_{var}"
        else:
            base = f"{ir.populations[p].label}_{op}_{var}"
        planned[(p, op, var)] = base
    return planned
