"""Frontend paths of a System's parameters and variables, made on demand.

Networks from ``add_edges_from_matrix`` have ~N^2 connections; these sequences and the
:class:`LabelMap` format a label only when it is looked at.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from rates_core.ir import UnitLabels


class EdgePaths(Sequence):
    """Frontend paths ``src/op/var->tgt/op/var<suffix>`` of many connections, made on demand.

    Networks from ``add_edges_from_matrix`` have ~N^2 connections; formatting every label up
    front dominated the build time, and most are never looked at.
    """

    def __init__(self, src_nodes, tgt_nodes, src_idx, tgt_idx, src_var, tgt_var, suffix=""):
        self._args = (src_nodes, tgt_nodes, src_idx, tgt_idx, src_var, tgt_var)
        self._suffix = suffix

    def __len__(self) -> int:
        return len(self._args[2])

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        src_nodes, tgt_nodes, src_idx, tgt_idx, src_var, tgt_var = self._args
        return f"{src_nodes[src_idx[i]]}{src_var}->{tgt_nodes[tgt_idx[i]]}{tgt_var}{self._suffix}"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sequence) and tuple(self) == tuple(other)

    __hash__ = None  # type: ignore[assignment]

    def with_suffix(self, suffix: str) -> EdgePaths:
        src_nodes, tgt_nodes, src_idx, tgt_idx, src_var, tgt_var = self._args
        return EdgePaths(
            src_nodes, tgt_nodes, src_idx, tgt_idx, src_var, tgt_var, self._suffix + suffix
        )

    def __repr__(self) -> str:
        return f"EdgePaths({len(self)} connections, e.g. {self[0] if len(self) else ''!r})"


class CsrPaths(EdgePaths):
    """The paths of the entries of a CSR coupling matrix (rows targets, columns sources), in
    the matrix's storage order, formatted from its own ``indptr`` / ``indices``."""

    def __init__(self, src_nodes, tgt_nodes, matrix, src_var, tgt_var, suffix="") -> None:
        self._csr = (src_nodes, tgt_nodes, matrix, src_var, tgt_var)
        self._suffix = suffix

    def __len__(self) -> int:
        return int(self._csr[2].nnz)

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        src_nodes, tgt_nodes, matrix, src_var, tgt_var = self._csr
        i = int(i) + len(self) if int(i) < 0 else int(i)
        if not 0 <= i < len(self):
            raise IndexError(i)
        row = int(np.searchsorted(matrix.indptr, i, side="right")) - 1
        col = int(matrix.indices[i])
        return f"{src_nodes[col]}{src_var}->{tgt_nodes[row]}{tgt_var}{self._suffix}"

    def with_suffix(self, suffix: str) -> EdgePaths:
        return CsrPaths(*self._csr, suffix=self._suffix + suffix)


class SuffixedPaths(EdgePaths):
    """``base[i] + suffix`` for a lazy sequence of labels (edge-population units)."""

    def __init__(self, base: Sequence[str], suffix: str) -> None:
        self._base = base
        self._suffix = suffix

    def __len__(self) -> int:
        return len(self._base)

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        return f"{self._base[i]}{self._suffix}"

    def with_suffix(self, suffix: str) -> EdgePaths:
        return SuffixedPaths(self._base, self._suffix + suffix)


class LabelMap(Mapping):
    """``"node/op/var" -> (symbol name, unit index or None)`` for every variable of every unit,
    looked up through the IR's node table instead of one string per unit and variable (a
    10,000-unit population with 14 variables would hold 140,000 keys)."""

    def __init__(self, unit_of: Mapping[str, tuple[int, int]], nodes: Sequence) -> None:
        self._unit_of = unit_of
        self._nodes = nodes  # population index -> its node labels
        self._entries: dict[tuple[int, str, str], tuple[str, bool]] = {}
        self._extra: dict[str, tuple[str, int | None]] = {}

    def add(self, p: int, op: str, var: str, name: str, scalar: bool) -> None:
        nodes = self._nodes[p]
        if nodes and self._unit_of.get(nodes[0]) == (p, 0):
            self._entries[(p, op, var)] = (name, scalar)
        else:  # units that are not in the node table (edge populations)
            for u, node in enumerate(nodes):
                self._extra[f"{node}/{op}/{var}"] = (name, None if scalar else u)

    def __getitem__(self, key: str) -> tuple[str, int | None]:
        if key in self._extra:
            return self._extra[key]
        parts = key.rsplit("/", 2) if isinstance(key, str) else ()
        if len(parts) == 3 and parts[0] in self._unit_of:
            p, u = self._unit_of[parts[0]]
            entry = self._entries.get((p, parts[1], parts[2]))
            if entry is not None:
                return entry[0], None if entry[1] else u
        raise KeyError(key)

    def __iter__(self):
        yield from self._extra
        for p, op, var in self._entries:
            for node in self._nodes[p]:
                yield f"{node}/{op}/{var}"

    def __len__(self) -> int:
        return len(self._extra) + sum(len(self._nodes[p]) for p, _, _ in self._entries)


def suffixed(labels: Sequence[str], suffix: str) -> Sequence[str]:
    """``label + suffix`` for every label, lazily for lazy label sequences."""
    if isinstance(labels, EdgePaths):
        return labels.with_suffix(suffix)
    if not isinstance(labels, (list, tuple)) or isinstance(labels, UnitLabels):
        return SuffixedPaths(labels, suffix)
    return [f"{lb}{suffix}" for lb in labels]
