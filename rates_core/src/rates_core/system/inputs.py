"""Input variables: the sum of what feeds them (intra-node wiring, projections, extrinsic
inputs), or the constant they declare when nothing does."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import sympy

from rates_core.errors import ModelError
from rates_core.ir import Projection
from rates_core.system.couplings import projection_term
from rates_core.system.model import ExtrinsicInput
from rates_core.system.separable_edges import separable_term
from rates_core.system.state import BuildState, add_algebraic, add_param


def resolve_inputs(bs: BuildState, inputs: Iterable[str]) -> dict[tuple[int, str, str], list[int]]:
    targets: dict[tuple[int, str, str], list[int]] = {}
    for path in inputs:
        node_part = path.rsplit("/", 2)[0]
        if bs.ir.circuit is not None:
            # the circuit's own matching: populations stand for their units
            nodes = bs.ir.circuit.get_nodes(node_part)
        else:
            nodes = [n for n in bs.ir.unit_of if _match(node_part, n)]
        if not nodes:
            raise ModelError(f"input path {path!r} matches no node", variable=path, **bs.opts.where)
        _, _, op, var = bs.ir.locate(
            f"{nodes[0]}/{path.rsplit('/', 2)[1]}/{path.rsplit('/', 2)[2]}"
        )
        for n in nodes:
            p, u = bs.ir.unit_of[n]
            targets.setdefault((p, op, var), []).append(u)
    return targets


def _match(pattern: str, label: str) -> bool:
    segs, parts = pattern.split("/"), label.split("/")
    if segs == ["all"]:
        return True
    return len(segs) == len(parts) and all(s in ("all", p) for s, p in zip(segs, parts))


def define_input(
    bs: BuildState,
    p: int,
    op_label: str,
    var: str,
    wiring: Mapping[tuple[str, str], list[str]],
    incoming: Mapping[tuple[int, str, str], list[Projection]],
    input_targets: Mapping[tuple[int, str, str], list[int]],
) -> None:
    """Input variable ``op_label/var`` of population p as the sum of what feeds it; units fed
    by nothing keep the value the variable declares."""
    pop = bs.ir.populations[p]
    decl = pop.template.operators[op_label].variables[var]
    sym = bs.symbols[(p, op_label, var)]
    terms: list[sympy.Expr] = []
    driven = np.zeros(pop.size, dtype=bool)
    for src_op in wiring.get((op_label, var), []):
        key = (p, src_op, pop.template.operators[src_op].output)
        if key in bs.symbols:
            terms.append(bs.symbols[key])
            driven[:] = True
    for proj in incoming.get((p, op_label, var), []):
        sep = bs.separable.get(proj.source[0])
        if sep is not None:
            terms.append(separable_term(bs, sep, sym.name))
        else:
            terms.append(projection_term(bs, proj, sym.name))
        driven[proj.tgt_idx] = True
    if (p, op_label, var) in input_targets:
        units = np.array(sorted(set(input_targets[(p, op_label, var)])), dtype=np.int64)
        terms.append(_extrinsic(bs, p, op_label, var, units))
        driven[units] = True
    default = pop.values[(op_label, var)].reshape(-1)
    if not terms:
        # nothing connected: the input is the constant it declares
        params_from_symbol(bs, sym, default, decl, pop, op_label, var)
        return
    rest = (
        np.where(driven, 0, default)
        if decl.shape == ()
        else (0 * default if driven.all() else default)
    )
    if np.any(rest != 0):
        paths = [f"{n}/{op_label}/{var}" for n in pop.nodes]
        terms.append(add_param(bs, f"{sym.name}_default", rest, decl.dtype, "constant", paths))
    add_algebraic(bs, sym, sympy.Add(*terms))


def _extrinsic(bs: BuildState, p: int, op_label: str, var: str, units: np.ndarray) -> sympy.Symbol:
    """The input parameter the solver fills each step for the driven ``units``."""
    pop = bs.ir.populations[p]
    decl = pop.template.operators[op_label].variables[var]
    sym = bs.symbols[(p, op_label, var)]
    size = pop.size if decl.shape == () else int(np.prod(decl.shape))
    inp = add_param(
        bs,
        f"{sym.name}_input",
        np.zeros(size) if size > 1 else np.zeros(()),
        decl.dtype,
        "input",
        [f"{n}/{op_label}/{var}" for n in pop.nodes],
    )
    bs.inputs.append(ExtrinsicInput(inp.name, f"{op_label}/{var}", units, size, tuple(pop.nodes)))
    return inp


def params_from_symbol(bs: BuildState, sym, values, decl, pop, op_label, var) -> None:
    """Turn an unconnected input into a constant parameter under the name it already has."""
    bs.names.discard(sym.name)
    paths = [f"{n}/{op_label}/{var}" for n in pop.nodes]
    new = add_param(bs, sym.name, values, decl.dtype, "constant", paths)
    assert new.name == sym.name
    bs.kinds[sym.name] = "param"
