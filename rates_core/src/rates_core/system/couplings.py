"""Couplings: the term a projection adds to its target input (weights, gathers, matrices).

Couplings at least :data:`DENSE_THRESHOLD` dense are dense matrices, sparser ones CSR matrices;
one connection per target unit is a weight vector; all-to-all is a weighted sum.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import sympy

from rates_core import builtins
from rates_core.errors import ModelError
from rates_core.ir import Projection, gamma_order
from rates_core.system.delays import chain, delayed_read, gamma_chain
from rates_core.system.paths import CsrPaths, EdgePaths, suffixed
from rates_core.system.state import BuildState, add_param, initial_of

#: Couplings at least this dense are dense matrices, sparser ones CSR matrices (measured with
#: benchmarks/: at N = 1000, BLAS dense matvec beats CSR above about 8 % density).
DENSE_THRESHOLD = 0.08


def _sorted_pairs(first: np.ndarray, second: np.ndarray, chunk: int = 1 << 16) -> bool:
    """Whether the pairs (first[k], second[k]) increase strictly (checked in chunks, so the
    test of a million connections needs no million-element temporaries)."""
    for a in range(0, first.size - 1, chunk):
        b = min(a + chunk + 1, first.size)
        d1, d2 = np.diff(first[a:b]), np.diff(second[a:b])
        if not np.all((d1 > 0) | ((d1 == 0) & (d2 > 0))):
            return False
    return True


def _csr(proj: Projection, n_tgt: int, n_src: int) -> Any:
    """The (n_tgt x n_src) CSR matrix of a projection's connections (duplicates summed): built
    from the connection arrays directly when they are sorted by (target, source) without
    duplicates (matrix connections), so the conversion makes no second copy of them."""
    import scipy.sparse as sp

    tgt, src = np.asarray(proj.tgt_idx), np.asarray(proj.src_idx)
    weight = np.asarray(proj.weight)
    if tgt.size and weight.shape == tgt.shape and _sorted_pairs(tgt, src) and tgt[0] >= 0:
        indptr = np.zeros(n_tgt + 1, dtype=np.int64)
        np.cumsum(np.bincount(tgt, minlength=n_tgt), out=indptr[1:])
        index = np.int32 if max(n_src, tgt.size) < 2**31 else np.int64
        return sp.csr_matrix(
            (weight, src.astype(index, copy=False), indptr.astype(index)),
            shape=(n_tgt, n_src),
        )
    return sp.csr_matrix((weight, (tgt, src)), shape=(n_tgt, n_src))


def projection_term(bs: BuildState, proj: Projection, target_name: str) -> sympy.Expr:
    """The term ``proj`` adds to the input ``target_name`` of its target population."""
    ir = bs.ir
    sp_, sop, svar = proj.source
    tp, top, tvar = proj.target
    n_src, n_tgt, k = ir.populations[sp_].size, ir.populations[tp].size, len(proj.src_idx)
    src = bs.symbols[(sp_, sop, svar)]
    labels: Sequence[str] = proj.labels or EdgePaths(
        ir.populations[sp_].nodes,
        ir.populations[tp].nodes,
        proj.src_idx,
        proj.tgt_idx,
        f"/{sop}/{svar}",
        f"/{top}/{tvar}",
    )
    base = f"{target_name}_from_{src.name}"
    src_identity = len(proj.src_idx) == n_src and np.array_equal(proj.src_idx, np.arange(n_src))
    if proj.all_to_all:
        return global_term(bs, proj, src, base, labels, src_identity)
    tgt_identity = k == n_tgt and np.array_equal(proj.tgt_idx, np.arange(n_tgt))
    weight_paths = suffixed(labels, "/weight")
    if proj.delay is not None and proj.spread is None:
        gathered: sympy.Expr = delayed_read(bs, proj, src, base, labels, src_identity)
    elif n_src > 1 and not tgt_identity and n_tgt > 1 and proj.spread is None:
        return _matrix_term(bs, proj, src, base, weight_paths)
    else:
        gathered = _gather(bs, proj, src, base, src_identity or n_src == 1)
        if proj.spread is not None:
            gathered = gamma_chain(bs, proj, gathered, base, labels, src)
    return _weighted(bs, proj, src, gathered, base, weight_paths, tgt_identity)


def _gather(
    bs: BuildState, proj: Projection, src: sympy.Symbol, base: str, whole: bool
) -> sympy.Expr:
    """The source value of every connection: ``src`` itself when ``whole``, else gathered."""
    if whole:
        return src
    return builtins.Index(src, add_param(bs, f"{base}_idx", proj.src_idx, "int", "index", []))


def _matrix_term(
    bs: BuildState,
    proj: Projection,
    src: sympy.Symbol,
    base: str,
    weight_paths: Sequence[str],
) -> sympy.Expr:
    """A direct matrix ``W @ src``: W (n_tgt x n_src), duplicates summed."""
    (sp_, sop, svar), (tp, top, tvar) = proj.source, proj.target
    n_src, n_tgt = bs.ir.populations[sp_].size, bs.ir.populations[tp].size
    # a complex source gets a complex matrix: a real one would be converted every step
    kind = "complex" if np.iscomplexobj(proj.weight) or not src.is_real else "float"
    key = ("matrix", kind, id(proj.weight), id(proj.src_idx), id(proj.tgt_idx))
    if key not in bs.shared:
        w = _csr(proj, n_tgt, n_src)
        if w.nnz / (n_tgt * n_src) >= DENSE_THRESHOLD:
            w = w.toarray()
        elif not proj.labels and w.nnz == len(proj.src_idx):
            # one CSR entry per connection, in connection order: the labels come from
            # the matrix's own index arrays instead of keeping the connection arrays
            weight_paths = CsrPaths(
                bs.ir.populations[sp_].nodes,
                bs.ir.populations[tp].nodes,
                w,
                f"/{sop}/{svar}",
                f"/{top}/{tvar}",
                "/weight",
            )
        bs.shared[key] = add_param(bs, f"W_{base}", w, kind, "matrix", weight_paths)
    return builtins.Matvec(bs.shared[key], src)


def _weighted(
    bs: BuildState,
    proj: Projection,
    src: sympy.Symbol,
    gathered: sympy.Expr,
    base: str,
    weight_paths: Sequence[str],
    tgt_identity: bool,
) -> sympy.Expr:
    """The gathered source values weighted and summed into their targets."""
    n_tgt, k = bs.ir.populations[proj.target[0]].size, len(proj.src_idx)
    kind = "complex" if np.iscomplexobj(proj.weight) else "float"
    if tgt_identity or (n_tgt == 1 and k == 1):
        w = add_param(bs, f"w_{base}", proj.weight, kind, "weight", weight_paths)
        return w * gathered
    if n_tgt == 1:
        w = add_param(bs, f"w_{base}", proj.weight, kind, "weight", weight_paths)
        return builtins.VSum(w * gathered)
    if k == 1:
        return single_connection(bs, proj, gathered, n_tgt, base, weight_paths)
    import scipy.sparse as sp  # only networks with matrix couplings need it

    if not src.is_real:
        kind = "complex"
    key = ("scatter", kind, id(proj.weight), id(proj.tgt_idx), n_tgt)
    if key not in bs.shared:
        scatter = sp.csr_matrix(
            (np.asarray(proj.weight), (proj.tgt_idx, np.arange(k))), shape=(n_tgt, k)
        )
        if scatter.nnz / (n_tgt * k) >= DENSE_THRESHOLD:
            scatter = scatter.toarray()
        bs.shared[key] = add_param(bs, f"W_{base}", scatter, kind, "matrix", weight_paths)
    return builtins.Matvec(bs.shared[key], gathered)


def single_connection(bs: BuildState, proj, gathered, n_tgt, base, weight_paths) -> sympy.Expr:
    """One connection into one unit of a population of ``n_tgt``: a weight vector, zero
    but at the target, times the gathered source value. That value has size 1 and so is
    a scalar in every backend, which an ``(n_tgt x 1)`` scatter matrix cannot multiply."""
    per_target = np.zeros(n_tgt, dtype=np.result_type(proj.weight, float))
    per_target[proj.tgt_idx] = proj.weight
    kind = "complex" if np.iscomplexobj(per_target) else "float"
    w = add_param(bs, f"w_{base}", per_target, kind, "weight", weight_paths, collapse=False)
    return w * gathered


def global_term(bs: BuildState, proj, src, base, labels, src_identity) -> sympy.Expr:
    """Global coupling: ``w * sum(source units)`` (at ``t - delay``, or through a gamma
    kernel of the sum), O(N) per evaluation; ``w`` is one value per target unit (zero for
    units not targeted) so the term has the target's size."""
    n_tgt = bs.ir.populations[proj.target[0]].size
    kind = "complex" if np.iscomplexobj(proj.weight) else "float"
    size = len(proj.src_idx)
    if proj.delay is not None and np.any(proj.delay < 0):
        raise ModelError(f"negative delay on edges into {base}", **bs.opts.where)

    def gathered_now() -> sympy.Expr:
        if src_identity or bs.sizes[src.name] == 1:
            return src
        idx = add_param(bs, f"{base}_idx", proj.src_idx, "int", "index", [])
        return builtins.Index(src, idx)

    approximation = bs.opts.delay_approximation or 0
    if proj.spread is not None or (proj.delay is not None and approximation):
        # a gamma kernel is linear: filter the sum, one chain of scalar ODEs
        delay = float(proj.delay) if proj.delay is not None else 0.0
        if proj.spread is not None:
            if delay <= 0 or float(proj.spread) <= 0:
                raise ModelError(
                    f"spread needs a positive delay and spread (edges into {base})",
                    **bs.opts.where,
                )
            order = int(gamma_order(delay, proj.spread))
        else:
            order = int(approximation)
        gathered = gathered_now()
        total = builtins.VSum(gathered) if size > 1 else gathered
        initial = np.sum(initial_of(bs, src, proj.src_idx)) if size > 1 else None
        if initial is None:
            initial = np.ravel(initial_of(bs, src, proj.src_idx))[0]
        summed = chain(bs, total, initial, order, delay, base, list(labels)[:1], src.is_real, 1)
    else:
        if proj.delay is not None:
            gathered = delayed_read(bs, proj, src, base, labels, src_identity)
        else:
            gathered = gathered_now()
        summed = builtins.VSum(gathered) if size > 1 else gathered
    weight_paths = suffixed(labels, "/weight")
    if n_tgt == 1:
        w = add_param(bs, f"w_{base}", proj.weight, kind, "weight", weight_paths)
        return w * summed
    per_target = np.zeros(n_tgt, dtype=np.result_type(proj.weight, float))
    per_target[proj.tgt_idx] = proj.weight
    w = add_param(bs, f"w_{base}", per_target, kind, "weight", weight_paths, collapse=False)
    return w * summed
