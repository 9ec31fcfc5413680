"""A cheap structural key of a System, so a cached module is found without printing it again.

Printing a module with sympy (and differentiating it for the Jacobian) costs milliseconds to
seconds; finding the compiled library of an identical model should not. :func:`structural_key`
hashes everything :func:`rates_fortran.emit.emit_source` reads: the model name, the state
layout, the parameter table (names, roles, dtypes, shapes, sparse patterns), the delayed reads,
every algebraic and derivative expression (a faithful serialisation of the sympy tree, not its
printed text), the builtins and imports of the plugins, the options, the versions of
rates-core and rates-fortran, and the size and modification time of the source files whose
code decides the printed text (so an edited emitter never serves a stale module). Where the
Jacobian is emitted, the values of matrix- and index-role parameters are hashed too (the
symbolic Jacobian bakes them in); elsewhere parameter values never enter the key (one compiled
module serves a whole sweep).

The key names a small index file in the cache (``fortran_key_<key>.json``) that records which
content-addressed source and library it produced (:mod:`rates_fortran.build`). A key is only a
shortcut: a miss prints and compiles as before, and two keys may point at the same library.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import sympy

__all__ = ["KEY_FORMAT", "structural_key"]

#: Bumped when the meaning of the key changes.
KEY_FORMAT = "1"


def _atom(expr: Any) -> str:
    cls = type(expr).__name__
    if isinstance(expr, sympy.Symbol):
        return f"{cls}:{expr.name}:{getattr(expr, '_assumptions0', '')}"
    if isinstance(expr, sympy.Float):
        return f"F:{float(expr)!r}"
    if isinstance(expr, sympy.Rational):
        return f"Q:{expr.p}/{expr.q}"
    if isinstance(expr, sympy.Basic):
        return f"{cls}:{expr}"
    return f"{cls}:{expr!r}"


def _serialise(expr: Any, out: list[str], seen: dict[str, bool]) -> None:
    """Append a faithful text of the sympy tree ``expr`` to ``out`` (type and args)."""
    args = getattr(expr, "args", ())
    if not args or not isinstance(expr, sympy.Basic):
        out.append(_atom(expr))
        if type(expr).__name__ == "Randn":
            seen["randn"] = True
        return
    cls = type(expr)
    name = cls.__name__
    if name == "Randn":
        seen["randn"] = True
    rates_name = getattr(expr, "func", None) and getattr(expr.func, "rates_name", None)
    out.append(f"{name}[{rates_name}](" if rates_name else f"{name}(")
    for a in args:
        _serialise(a, out, seen)
        out.append(",")
    out.append(")")


def _value_digest(value: Any) -> str:
    h = hashlib.sha256()
    if hasattr(value, "tocsr"):
        csr = value.tocsr()
        h.update(repr(csr.shape).encode())
        for part in (csr.data, csr.indices, csr.indptr):
            h.update(np.ascontiguousarray(part).tobytes())
    else:
        arr = np.ascontiguousarray(np.asarray(value))
        h.update(f"{arr.dtype}{arr.shape}".encode())
        h.update(arr.tobytes())
    return h.hexdigest()[:24]


def _code_stamp() -> str:
    """Size and mtime of the modules whose code decides the printed text."""
    import rates_core.builtins
    import rates_core.jacobian
    from rates_fortran import emit, fsolvers, layout, printer

    parts = []
    for module in (emit, printer, fsolvers, layout, rates_core.jacobian, rates_core.builtins):
        try:
            st = Path(module.__file__ or "").stat()
            parts.append(f"{module.__name__}:{st.st_size}:{st.st_mtime_ns}")
        except OSError:
            parts.append(f"{module.__name__}:?")
    return ";".join(parts)


def structural_key(
    system: Any,
    options: Any,
    builtins: Mapping[str, Any] | None,
    imports: Sequence[str],
    library_tag: str,
    jacobian_possible: bool,
) -> str:
    """The hex key of the module :func:`~rates_fortran.emit.emit_source` would print for
    ``system`` (see the module documentation); ``library_tag`` names compiler and flags."""
    from rates_core import __version__ as core_version
    from rates_fortran import __version__

    out: list[str] = [
        f"format {KEY_FORMAT}|rates-fortran {__version__}|rates-core {core_version}",
        library_tag,
        _code_stamp(),
        f"options {getattr(options, 'float_precision', None)!r}",
        f"imports {list(imports)!r}",
        "builtins " + repr(sorted((str(k), repr(v)) for k, v in (builtins or {}).items())),
        f"model {system.name!r} {system.dtype}",
    ]
    for s in system.states:
        out.append(f"state {s.name} {s.start} {s.size} {s.dtype}")
    matrices = []
    for p in system.params:
        value = p.value
        if hasattr(value, "tocsr"):
            csr = value.tocsr()
            shape = f"csr {csr.shape} nnz {csr.nnz}"
        else:
            shape = f"{np.shape(value)}"
        out.append(f"param {p.name} {p.role} {p.dtype} {shape}")
        if p.role in ("matrix", "index"):
            matrices.append(p)
    for d in system.delayed:
        out.append(f"delayed {d.name} {d.state} {d.index} {d.tau!r} {d.size}")
    seen: dict[str, bool] = {}
    for a in system.algebraic:
        out.append(f"algebraic {a.name} {a.size} {a.dtype} = ")
        _serialise(a.expr, out, seen)
    for name, expr in system.derivatives:
        out.append(f"derivative {name} = ")
        _serialise(expr, out, seen)
    if seen.get("randn"):
        from rates_core.codegen import source as kit

        out.append(f"units {sorted(kit.unit_counts(system).items())!r}")
    if jacobian_possible:
        for p in matrices:
            out.append(f"value {p.name} {_value_digest(p.value)}")
    digest = hashlib.sha256("\n".join(out).encode("utf-8", "surrogatepass"))
    return digest.hexdigest()[:32]
