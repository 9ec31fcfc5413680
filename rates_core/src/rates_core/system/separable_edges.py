"""Separable edge populations: summed as ``sum_k B_k(target) * (W @ A_k(source))``.

An edge population (a template on every connection) whose output separates into source and
target factors (:mod:`rates_core.separable`) costs one coupling per factor instead of one
evaluation per connection.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import sympy

from rates_core.equations import symbol
from rates_core.ir import NetworkIR, Population, Projection
from rates_core.separable import separate
from rates_core.system.couplings import projection_term
from rates_core.system.model import SeparableEdge
from rates_core.system.state import BuildState, add_algebraic, add_param, unique


def find_separable(
    bs: BuildState, parsed: Mapping[int, dict], input_targets: Mapping
) -> dict[int, SeparableEdge]:
    """Edge populations whose summed output separates into source and target factors
    (:mod:`rates_core.separable`): one algebraic operator, one output projection, inputs
    fed by the edges' sources and by their target units, uniform constants."""
    found: dict[int, SeparableEdge] = {}
    for p, pop in enumerate(bs.ir.populations):
        if not pop.is_edge or len(pop.template.operators) != 1 or pop.size < 2:
            continue
        if any(key[0] == p for key in input_targets):
            continue
        wiring = _edge_wiring(bs.ir, p)
        if wiring is None:
            continue
        edge = _separate(p, pop, parsed[p], *wiring)
        if edge is not None:
            found[p] = edge
    return found


def _edge_wiring(ir: NetworkIR, p: int) -> tuple[Projection, Projection, list[Projection]] | None:
    """``(out, receiver, ins)`` of edge population p: one undelayed output projection, one
    unit per edge; the receiver is the one input not fed by the edges' target units."""
    units = np.arange(ir.populations[p].size)
    outs = [proj for proj in ir.projections if proj.source[0] == p]
    ins = [proj for proj in ir.projections if proj.target[0] == p]
    if len(outs) != 1 or outs[0].all_to_all or not ins:
        return None
    out = outs[0]
    if out.delay is not None or out.spread is not None:
        return None
    if not np.array_equal(out.src_idx, units):
        return None
    receivers = [
        proj
        for proj in ins
        if not (
            proj.source[0] == out.target[0]
            and np.array_equal(proj.src_idx, out.tgt_idx)
            and proj.delay is None
            and proj.spread is None
        )
    ]
    if len(receivers) != 1 or any(
        not np.array_equal(proj.tgt_idx, units) or proj.all_to_all for proj in ins
    ):
        return None
    return out, receivers[0], ins


def _separate(
    p: int,
    pop: Population,
    parsed: dict,
    out: Projection,
    receiver: Projection,
    ins: list[Projection],
) -> SeparableEdge | None:
    """The separable form of edge population p's output, or None."""
    ((op_label, eqs),) = parsed.items()
    if any(eq.differential for eq in eqs):
        return None
    op = pop.template.operators[op_label]
    local = {
        v: symbol(v, "complex" if d.dtype == "complex" else "float")
        for v, d in op.variables.items()
    }
    defined = {eq.lhs: eq.rhs for eq in eqs}
    fed_vars = {proj.target[2] for proj in ins}
    constants = {}
    for v, d in op.variables.items():
        if v in defined or v in fed_vars:
            continue
        values = np.asarray(pop.values[(op_label, v)])
        if d.shape != () or values.size == 0 or np.any(values != values.flat[0]):
            return None  # constants must be uniform
        constants[local[v]] = (v, values.flat[0], d.dtype)
    extras = {local[proj.target[2]]: proj for proj in ins if proj is not receiver}
    pairs = separate(
        defined,
        local[out.source[2]],
        local[receiver.target[2]],
        list(extras),
        list(constants),
    )
    if pairs is None:
        return None
    return SeparableEdge(p, out, receiver, local[receiver.target[2]], extras, constants, pairs)


def separable_term(bs: BuildState, sep: SeparableEdge, target_name: str) -> sympy.Expr:
    """``sum_k B_k(target) * (W @ A_k(source))`` for a separable edge population."""
    ir = bs.ir
    pop = ir.populations[sep.population]
    out, receiver = sep.out, sep.receiver
    sp_ = receiver.source[0]
    n_tgt = ir.populations[out.target[0]].size
    params = {}
    for sym, (var, value, dtype) in sep.constants.items():
        params[sym] = add_param(
            bs, f"{pop.label}_{var}", value, dtype, "constant", [f"{pop.label}/{var}"]
        )
    for sym, proj in sep.extras.items():
        params[sym] = bs.symbols[proj.source]
    src = bs.symbols[receiver.source]
    terms = []
    for k, (a, b) in enumerate(sep.pairs, start=1):
        factor = b.xreplace(params)
        if a == 1:  # no source factor: the target's summed weights
            kind = "complex" if np.iscomplexobj(out.weight) else "float"
            sums = np.bincount(out.tgt_idx, weights=out.weight.real, minlength=n_tgt)
            if kind == "complex":
                sums = sums + 1j * np.bincount(
                    out.tgt_idx, weights=out.weight.imag, minlength=n_tgt
                )
            w = add_param(bs, f"{target_name}_weight_sum", sums, kind, "weight", [])
            terms.append(factor * w)
            continue
        source_expr = a.xreplace({sep.receiver_symbol: src})
        if source_expr == src:
            key = receiver.source
        else:
            key = (sp_, f"<{pop.label}>", f"a{k}")
            name = unique(bs, f"{pop.label}_source{k}")
            real = src.is_real and source_expr.is_real is not False
            sym = symbol(name, "float" if real else "complex")
            bs.symbols[key] = sym
            bs.kinds[name] = "algebraic"
            bs.sizes[name] = bs.sizes[src.name]
            add_algebraic(bs, sym, source_expr)
        proj = Projection(
            key,
            out.target,
            receiver.src_idx,
            out.tgt_idx,
            out.weight,
            receiver.delay,
            receiver.spread,
            pop.nodes,
        )
        terms.append(factor * projection_term(bs, proj, target_name))
    return sympy.Add(*terms)
