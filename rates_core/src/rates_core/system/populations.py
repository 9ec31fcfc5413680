"""Populations: parse their equations, decide each variable's role, declare its symbol."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np

from rates_core.equations import parse_equation, symbol
from rates_core.errors import ModelError
from rates_core.system.model import StateVar
from rates_core.system.naming import plan_names
from rates_core.system.paths import SuffixedPaths
from rates_core.system.state import (
    BuildState,
    add_algebraic,
    add_param,
    dtype_of,
    register_paths,
    unique,
)


def parse_population(bs: BuildState, p: int) -> dict:
    """Parse every equation of population p; return per-op parsed equations and usage."""
    pop = bs.ir.populations[p]
    where = dict(bs.opts.where)
    parsed = {}
    for op_label in pop.template.operator_order():
        op = pop.template.operators[op_label]
        dtypes = {
            v: ("complex" if d.dtype == "complex" else "float") for v, d in op.variables.items()
        }
        eqs = []
        for text in op.equations:
            eqs.append(
                parse_equation(
                    text,
                    dtypes,
                    functions=bs.opts.functions,
                    file=op.path or where.get("file"),
                    template=op.name,
                )
            )
        parsed[op_label] = eqs
    return parsed


def classify(bs: BuildState, p: int, parsed: dict) -> dict[tuple[str, str], str]:
    """Decide for every used variable of population p: state, algebraic, input or param."""
    pop = bs.ir.populations[p]
    roles: dict[tuple[str, str], str] = {}
    for op_label, eqs in parsed.items():
        op = pop.template.operators[op_label]
        for eq in eqs:
            key = (op_label, eq.lhs)
            decl = op.variables[eq.lhs]
            role = "state" if eq.differential else "algebraic"
            if decl.kind == "input":
                raise ModelError(
                    f"input variable {eq.lhs!r} cannot be defined by an equation",
                    file=op.path or None,
                    template=op.name,
                    variable=eq.lhs,
                )
            if key in roles:
                raise ModelError(
                    f"variable {eq.lhs!r} is defined by more than one equation",
                    file=op.path or None,
                    template=op.name,
                    variable=eq.lhs,
                )
            roles[key] = role
        for eq in eqs:
            for s in sorted(eq.rhs.free_symbols, key=lambda sym: sym.name):
                if s.name in op.variables and (op_label, s.name) not in roles:
                    kind = op.variables[s.name].kind
                    roles[(op_label, s.name)] = "input" if kind == "input" else "param"
        if op.output is not None and (op_label, op.output) not in roles:
            roles[(op_label, op.output)] = "param"
    return roles


Roles = dict[int, dict[tuple[str, str], str]]


def used_roles(bs: BuildState, parsed: Mapping[int, dict]) -> Roles:
    """Per population, the role of every variable its equations use; inputs fed by
    projections and the sources of projections are used too."""
    roles = {p: classify(bs, p, parsed[p]) for p in parsed}
    for proj in bs.ir.projections:
        tp, top, tvar = proj.target
        roles[tp].setdefault((top, tvar), "input")
        sp_, sop, svar = proj.source
        if (sop, svar) not in roles[sp_]:
            roles[sp_][(sop, svar)] = "param"
    return roles


def mark_extrinsic(bs: BuildState, roles: Roles, input_targets: Iterable[tuple]) -> None:
    """Extrinsic inputs are used input variables (anything else is an error)."""
    for p, op, var in input_targets:
        if roles[p].get((op, var), "input") != "input":
            raise ModelError(
                f"extrinsic input targets {op}/{var}, which is not an input variable",
                variable=f"{op}/{var}",
                **bs.opts.where,
            )
        roles[p].setdefault((op, var), "input")


def declare_variables(bs: BuildState, roles: Roles) -> None:
    """A symbol for every used variable: parameters with their values, states with their
    place in the state vector, algebraic and input variables by name and size."""
    planned = plan_names(bs.ir, {p: r for p, r in roles.items() if p not in bs.separable})
    for p, pop in enumerate(bs.ir.populations):
        if p in bs.separable:
            continue  # its edges are summed as products of source and target factors
        for (op_label, var), role in roles[p].items():
            decl = pop.template.operators[op_label].variables[var]
            name = planned[(p, op_label, var)]
            if role == "param":
                _declare_param(bs, p, op_label, var, name)
            else:
                _declare_symbol(bs, p, op_label, var, name, role)
            register_paths(bs, bs.symbols[(p, op_label, var)].name, p, op_label, var, decl)


def _declare_param(bs: BuildState, p: int, op_label: str, var: str, base: str) -> None:
    """One value per unit for scalars; a vector or matrix variable (only in unvectorised
    single-unit populations) keeps its declared shape."""
    pop = bs.ir.populations[p]
    decl = pop.template.operators[op_label].variables[var]
    values = pop.values[(op_label, var)]
    shaped = decl.shape != ()
    bs.symbols[(p, op_label, var)] = add_param(
        bs,
        base,
        values.reshape(decl.shape) if shaped else values.reshape(-1),
        decl.dtype,
        "constant",
        SuffixedPaths(pop.nodes, f"/{op_label}/{var}"),
        collapse=not shaped,
    )


def _declare_symbol(bs: BuildState, p: int, op_label: str, var: str, base: str, role: str) -> None:
    """A state, algebraic or input variable; a state takes the next slice of the state vector."""
    pop = bs.ir.populations[p]
    decl = pop.template.operators[op_label].variables[var]
    size = pop.size if decl.shape == () else int(np.prod(decl.shape))
    name = unique(bs, base)
    dtype = dtype_of(decl.dtype, bs.opts.precision)
    sym = symbol(name, "complex" if dtype.startswith("complex") else "float")
    bs.symbols[(p, op_label, var)] = sym
    bs.sizes[name] = size
    bs.kinds[name] = role
    if role == "state":
        init = pop.values[(op_label, var)].reshape(-1).astype(dtype)
        paths = SuffixedPaths(pop.nodes, f"/{op_label}/{var}")
        bs.states.append(StateVar(name, sym, bs.offset, size, dtype, init, paths))
        bs.offset += size


def add_equations(bs: BuildState, parsed: Mapping[int, dict]) -> None:
    """Every equation in the System's symbols: a derivative or an algebraic update."""
    for p, pop in enumerate(bs.ir.populations):
        if p in bs.separable:
            continue
        for op_label, eqs in parsed[p].items():
            op = pop.template.operators[op_label]
            local = {
                symbol(v, "complex" if d.dtype == "complex" else "float"): bs.symbols[
                    (p, op_label, v)
                ]
                for v, d in op.variables.items()
                if (p, op_label, v) in bs.symbols
            }
            for eq in eqs:
                rhs = eq.rhs.xreplace(local)
                target = bs.symbols[(p, op_label, eq.lhs)]
                if eq.differential:
                    bs.derivatives[target.name] = rhs
                else:
                    add_algebraic(bs, target, rhs)
