"""How the runtime values of a System travel into the compiled Fortran code.

Every call of the compiled library passes three packed arrays: ``pr`` (real parameter values),
``pc`` (complex values) and ``pi`` (64-bit integers: index parameters and the column / row
pointers of sparse matrices). :class:`Layout` records where each System parameter sits in
them; the generated Fortran unpacks the same offsets into one dummy argument per parameter
(sequence association: an explicit-shape dummy ``W(20, 20)`` receives the element
``pr(k)``, so nothing is copied). Dense matrices are stored column-major (Fortran order).
Delayed reads travel the same way in ``dl`` (one value per delayed connection).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rates_core.errors import SolverError
from rates_core.system import System

__all__ = ["Entry", "Layout"]


@dataclass(frozen=True)
class Entry:
    """One System parameter in the packed arrays.

    ``kind``: ``r`` / ``c`` / ``i`` (which array), ``offset`` 0-based, ``size`` values,
    ``shape`` the Fortran shape (``()`` for scalars), ``sparse`` for CSR matrices (then
    ``offset`` / ``size`` are the data values and ``col`` / ``ptr`` the offsets of the
    integer arrays in ``pi``).
    """

    name: str
    kind: str
    offset: int
    size: int
    shape: tuple[int, ...]
    role: str
    sparse: bool = False
    col: int = 0
    ptr: int = 0
    nnz: int = 0
    nrows: int = 0


@dataclass
class Layout:
    """Offsets of every parameter of a System (built from its initial values)."""

    entries: list[Entry]
    n_real: int
    n_complex: int
    n_int: int
    delayed: list[tuple[str, int, int]] = field(default_factory=list)  # (name, offset, size)
    n_delayed: int = 0

    @classmethod
    def of(cls, system: System) -> Layout:
        counts = {"r": 0, "c": 0, "i": 0}
        entries = []
        for p in system.params:
            value = p.value
            complex_ = str(p.dtype).startswith("complex")
            kind = "c" if complex_ else "r"
            if p.role == "matrix" and hasattr(value, "tocsr"):
                csr = value.tocsr()
                nnz, nrows = int(csr.nnz), int(csr.shape[0])
                off = counts[kind]
                counts[kind] += max(nnz, 1)
                col = counts["i"]
                counts["i"] += max(nnz, 1)
                ptr = counts["i"]
                counts["i"] += nrows + 1
                entries.append(
                    Entry(p.name, kind, off, nnz, (), p.role, True, col, ptr, nnz, nrows)
                )
                continue
            if p.role == "index" or str(p.dtype).startswith("int"):
                kind = "i"
            arr = np.asarray(value)
            size = int(arr.size)
            shape = () if size == 1 else tuple(int(s) for s in arr.shape)
            entries.append(Entry(p.name, kind, counts[kind], size, shape, p.role))
            counts[kind] += max(size, 1)
        delayed, off = [], 0
        for d in system.delayed:
            delayed.append((d.name, off, d.size))
            off += d.size
        return cls(entries, counts["r"], counts["c"], counts["i"], delayed, off)

    def pack(self, values: Sequence[Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(pr, pc, pi)`` from parameter values in ``system.params`` order."""
        pr = np.zeros(self.n_real + 1, dtype=np.float64)
        pc = np.zeros(self.n_complex + 1, dtype=np.complex128)
        pi = np.zeros(self.n_int + 1, dtype=np.int64)
        arrays = {"r": pr, "c": pc, "i": pi}
        if len(values) != len(self.entries):
            raise SolverError(
                f"expected {len(self.entries)} parameter values (one per system parameter), "
                f"got {len(values)}"
            )
        for e, value in zip(self.entries, values):
            target = arrays[e.kind]
            if e.sparse:
                csr = value.tocsr() if hasattr(value, "tocsr") else None
                if csr is None or csr.nnz != e.nnz or csr.shape[0] != e.nrows:
                    raise SolverError(
                        f"parameter {e.name!r}: expected a sparse matrix with {e.nnz} stored "
                        f"values and {e.nrows} rows (the pattern is compiled into the layout)"
                    )
                target[e.offset : e.offset + e.nnz] = csr.data
                pi[e.col : e.col + e.nnz] = csr.indices
                pi[e.ptr : e.ptr + e.nrows + 1] = csr.indptr
                continue
            if hasattr(value, "toarray"):
                value = value.toarray()
            arr = np.asarray(value)
            if arr.size != e.size:
                raise SolverError(
                    f"parameter {e.name!r} has {arr.size} values, the compiled code expects "
                    f"{e.size}"
                )
            flat = arr.reshape(-1, order="F") if arr.ndim > 1 else arr.reshape(-1)
            if e.kind == "r" and np.iscomplexobj(flat):
                if np.any(flat.imag != 0):
                    raise SolverError(f"parameter {e.name!r} is real in the compiled code")
                flat = flat.real
            target[e.offset : e.offset + e.size] = flat
        return pr, pc, pi

    def entry(self, name: str) -> Entry:
        return next(e for e in self.entries if e.name == name)
