"""Delays: delayed reads, their gamma-kernel approximation, and the past of algebraic sources.

A delayed edge from a state reads the state's history; from an algebraic variable, its past is
rebuilt from the delayed states it depends on (or the variable is recorded in the history,
``record_delayed``). ``past(x, tau)`` written in equations becomes a delayed read too.
"""

from __future__ import annotations

import numpy as np
import sympy

from rates_core import builtins
from rates_core.equations import symbol
from rates_core.errors import ModelError
from rates_core.ir import gamma_order
from rates_core.system.model import Assignment, DelayedRead, Recorded, StateVar
from rates_core.system.ordering import order_algebraic
from rates_core.system.paths import suffixed
from rates_core.system.state import (
    BuildState,
    add_param,
    dtype_of,
    initial_of,
    param,
    population_of,
    unique,
)


def chain(bs: BuildState, source, initial, order, delay, base, labels, is_real, size) -> sympy.Expr:
    """A gamma kernel as a linear chain of ``order`` ODEs with rate ``order / delay``.

    The chain starts at the source's initial value, i.e. in the steady state of a constant
    pre-history equal to the initial state (the same convention as discrete delays).
    """
    delay = np.asarray(delay, dtype=float)
    if np.any(delay <= 0):
        raise ModelError(
            f"a gamma kernel needs a positive delay (edges into {base})", **bs.opts.where
        )
    rate = add_param(bs, f"{base}_rate", order / delay, "float", "rate", suffixed(labels, "/delay"))
    dtype = bs.opts.precision if is_real else dtype_of("complex", bs.opts.precision)
    start = np.broadcast_to(np.asarray(initial, dtype=dtype), (size,))
    prev = source
    for j in range(1, order + 1):
        name = unique(bs, f"{base}_kernel{j}")
        sym = symbol(name, "float" if is_real else "complex")
        bs.states.append(
            StateVar(
                name,
                sym,
                bs.offset,
                size,
                dtype,
                np.array(start),
                tuple(f"{lb}/kernel{j}" for lb in labels[:size]),
                kernel=True,
            )
        )
        bs.offset += size
        bs.kinds[name] = "state"
        bs.sizes[name] = size
        bs.derivatives[name] = rate * (prev - sym)
        prev = sym
    return prev


def gamma_chain(bs: BuildState, proj, gathered, base, labels, src) -> sympy.Expr:
    """``spread`` -> linear chain of ``order`` first-order ODEs with rate order / delay."""
    delay = np.broadcast_to(proj.delay if proj.delay is not None else 0.0, proj.spread.shape)
    if np.any(delay <= 0) or np.any(proj.spread <= 0):
        raise ModelError(
            f"spread needs a positive delay and spread (edges into {base})", **bs.opts.where
        )
    orders = gamma_order(delay, proj.spread)
    if len(np.unique(orders)) > 1:  # build_ir splits projections by order
        raise ModelError(
            "connections of one projection need the same gamma-kernel order "
            f"(got orders {sorted(set(orders.tolist()))})",
            **bs.opts.where,
        )
    size = len(proj.src_idx) if bs.sizes[src.name] > 1 or len(proj.src_idx) > 1 else 1
    return chain(
        bs,
        gathered,
        initial_of(bs, src, proj.src_idx),
        int(orders[0]),
        delay,
        base,
        labels,
        src.is_real,
        size,
    )


def delayed_read(bs: BuildState, proj, src, base, labels, src_identity) -> sympy.Expr:
    """The source of a delayed projection at ``t - delay``, one value per connection."""
    if np.any(proj.delay < 0):
        raise ModelError(f"negative delay on edges into {base}", **bs.opts.where)
    if bs.opts.delay_approximation:
        gathered = src
        if not (src_identity or bs.sizes[src.name] == 1):
            idx = add_param(bs, f"{base}_idx", proj.src_idx, "int", "index", [])
            gathered = builtins.Index(src, idx)
        return chain(
            bs,
            gathered,
            initial_of(bs, src, proj.src_idx),
            bs.opts.delay_approximation,
            proj.delay,
            base,
            labels,
            src.is_real,
            len(proj.src_idx),
        )
    key = ("delay", id(proj.delay))
    if key not in bs.shared:
        bs.shared[key] = add_param(
            bs, f"{base}_delay", proj.delay, "float", "delay", suffixed(labels, "/delay")
        )
    tau = bs.shared[key]
    index = None
    if not src_identity and bs.sizes[src.name] > 1:
        key = ("didx", id(proj.src_idx))
        if key not in bs.shared:
            bs.shared[key] = add_param(bs, f"{base}_didx", proj.src_idx, "int", "index", [])
        index = bs.shared[key].name
    size = (
        len(proj.src_idx) if (index is not None or np.size(proj.delay) > 1) else bs.sizes[src.name]
    )
    if bs.kinds.get(src.name) == "state":
        return add_delayed(bs, src, index, tau.name, size)
    # an algebraic source: its past is rebuilt from the past of the states it depends on,
    # once every algebraic variable (inputs included) is defined
    placeholder = symbol(unique(bs, f"{src.name}_delayed"), "float" if src.is_real else "complex")
    bs.pending_delays.append((placeholder, src, index, tau.name, size))
    return placeholder


def add_delayed(
    bs: BuildState,
    state: sympy.Symbol,
    index: str | None,
    tau: str | float,
    size: int,
    state_name: str | None = None,
):
    base = state_name.removesuffix("_history") if state_name else state.name
    name = unique(bs, f"{base}_delayed")
    sym = symbol(name, "float" if state.is_real else "complex")
    bs.delayed.append(DelayedRead(name, sym, state_name or state.name, index, tau, size))
    bs.kinds[name] = "delayed"
    bs.sizes[name] = size
    return sym


def expand_algebraic(bs: BuildState, expr: sympy.Expr) -> sympy.Expr:
    """Substitute algebraic variables until only states, parameters and t remain."""
    for _ in range(len(bs.algebraic) + 1):
        repl = {s: bs.algebraic[s.name].expr for s in expr.free_symbols if s.name in bs.algebraic}
        if not repl:
            return expr
        expr = expr.xreplace(repl)
    order_algebraic(bs)  # names the cycle
    raise ModelError("algebraic equations form a cycle", **bs.opts.where)


def substitute(bs: BuildState, placeholder: sympy.Symbol, value: sympy.Expr) -> None:
    """Replace ``placeholder`` in every algebraic update and derivative."""
    for name, a in list(bs.algebraic.items()):
        if placeholder in a.expr.free_symbols:
            bs.algebraic[name] = Assignment(
                a.name, a.symbol, a.expr.xreplace({placeholder: value}), a.size, a.dtype
            )
    for name, d in list(bs.derivatives.items()):
        if placeholder in d.free_symbols:
            bs.derivatives[name] = d.xreplace({placeholder: value})


def record_in_history(
    bs: BuildState, src: sympy.Symbol, expr: sympy.Expr, home: int | None
) -> Recorded | None:
    """Keep ``src`` (algebraic, ``expr`` its expansion in states) in the history, or None
    when its past must be rebuilt per connection: it must be an elementwise function of
    the states of its own population (at least one), constants and t, with a printable
    time derivative."""
    if src.name in bs.recorded:
        return bs.recorded[src.name]
    states = []
    for s in expr.free_symbols:
        if s == builtins.TIME:
            continue
        kind = bs.kinds.get(s.name)
        same_pop = population_of(bs, s.name) == home
        if kind == "state" and same_pop and bs.sizes[s.name] == bs.sizes[src.name]:
            states.append(s)
        elif not (
            kind == "param"
            and param(bs, s.name).role == "constant"
            and (bs.sizes[s.name] == 1 or (same_pop and bs.sizes[s.name] == bs.sizes[src.name]))
        ):
            return None
    if not states:
        return None
    for a in sympy.preorder_traversal(expr):
        if isinstance(a, sympy.Function) and getattr(a, "rates_name", None):
            if not isinstance(a, builtins.ELEMENTWISE) or (
                isinstance(a, (builtins.Maxi, builtins.Mini)) and len(a.args) != 2
            ):
                return None
    rate_symbols = {
        s.name: symbol(unique(bs, f"{s.name}_rate"), "float" if s.is_real else "complex")
        for s in sorted(states, key=lambda x: x.name)
    }
    try:
        rate = sum(
            (sympy.diff(expr, s) * rate_symbols[s.name] for s in states),
            sympy.diff(expr, builtins.TIME),
        )
    except (TypeError, ValueError, NotImplementedError):
        return None
    if rate.has(sympy.Derivative, sympy.Subs):
        return None
    offset = sum(r.size for r in bs.recorded.values())
    name = unique(bs, f"{src.name}_history")
    dtype = dtype_of("float" if src.is_real else "complex", bs.opts.precision)
    rec = Recorded(
        name,
        symbol(name, "float" if src.is_real else "complex"),
        expr,
        rate,
        rate_symbols,
        offset,
        bs.sizes[src.name],
        dtype,
    )
    bs.recorded[src.name] = rec
    bs.kinds[name] = "recorded"
    bs.sizes[name] = rec.size
    return rec


def resolve_pending_delays(bs: BuildState) -> None:
    """Rebuild delayed algebraic sources from delayed reads of the states they depend on."""
    for placeholder, src, index, tau, size in bs.pending_delays:
        expr = expand_algebraic(bs, src)
        home = population_of(bs, src.name)
        record = record_in_history(bs, src, expr, home) if bs.opts.record_delayed else None
        if record is not None:
            value = add_delayed(bs, record.symbol, index, tau, size, record.name)
            substitute(bs, placeholder, value)
            continue
        repl = {}
        for s in sorted(expr.free_symbols, key=lambda sym: sym.name):
            kind = bs.kinds.get(s.name)
            same_pop = population_of(bs, s.name) == home
            if s == builtins.TIME:
                continue
            if kind == "state" and same_pop:
                repl[s] = add_delayed(bs, s, index, tau, size)
            elif (
                kind == "param"
                and param(bs, s.name).role == "constant"
                and (bs.sizes[s.name] == 1 or same_pop)
            ):
                if bs.sizes[s.name] > 1 and index is not None:
                    repl[s] = builtins.Index(s, sympy.Symbol(index, real=True))
            else:
                raise ModelError(
                    f"delayed edge from {src.name!r}: its past cannot be reconstructed, "
                    f"because it depends on {s.name!r}, which has no history (an input, "
                    "a coupling or another population); delay a state variable instead",
                    variable=src.name,
                    **bs.opts.where,
                )
        if builtins.TIME in expr.free_symbols:
            repl[builtins.TIME] = builtins.TIME - sympy.Symbol(tau, real=True)
        value = expr.xreplace(repl)
        if any(
            isinstance(a, (builtins.Matvec, builtins.Index)) for a in sympy.preorder_traversal(expr)
        ):
            raise ModelError(
                f"delayed edge from {src.name!r}: its past involves a coupling and cannot "
                "be reconstructed; delay a state variable instead",
                variable=src.name,
                **bs.opts.where,
            )
        substitute(bs, placeholder, value)


def resolve_delays(bs: BuildState) -> None:
    """Replace ``Past(x, tau)`` written in equations by delayed-read symbols."""
    for name, a in list(bs.algebraic.items()):
        expr = _rewrite_pasts(bs, a.expr)
        bs.algebraic[name] = Assignment(a.name, a.symbol, expr, a.size, a.dtype)
    for name, expr in list(bs.derivatives.items()):
        bs.derivatives[name] = _rewrite_pasts(bs, expr)


def _pasts(expr: sympy.Expr) -> list[sympy.Expr]:
    return [a for a in sympy.preorder_traversal(expr) if isinstance(a, builtins.Past)]


def _rewrite_pasts(bs: BuildState, expr: sympy.Expr) -> sympy.Expr:
    """``expr`` with every ``past(x, tau)`` replaced by a delayed read (one per distinct past)."""
    pasts = _pasts(expr)
    if not pasts:
        return expr
    expanded = _expand_algebraic_pasts(bs, pasts)
    if expanded:
        expr = expr.xreplace(expanded)
        pasts = _pasts(expr)
    repl = {past: _read_past(bs, past) for past in dict.fromkeys(pasts)}
    return expr.xreplace(repl)


def _expand_algebraic_pasts(bs: BuildState, pasts: list[sympy.Expr]) -> dict:
    """The past of an algebraic variable is its expression in the past of the states."""
    expanded = {
        p: builtins.Past(expand_algebraic(bs, p.args[0]), p.args[1])
        for p in pasts
        if p.args[0].name in bs.algebraic
    }
    for p, value in expanded.items():
        for e in _pasts(value):
            if bs.kinds.get(e.args[0].name) not in ("state", "param"):
                raise ModelError(
                    f"past({p.args[0].name}, ...): it depends on "
                    f"{e.args[0].name!r}, which has no history",
                    variable=p.args[0].name,
                    **bs.opts.where,
                )
    return expanded


def _read_past(bs: BuildState, past: sympy.Expr) -> sympy.Expr:
    """What ``past(x, tau)`` of a state or parameter reads: a delayed read, a gamma-kernel
    chain (``delay_approximation``), or the parameter itself."""
    x, tau = past.args
    if bs.kinds.get(x.name) == "param":
        if param(bs, x.name).role == "input":
            raise ModelError(
                f"past({x.name}, ...): an extrinsic input has no history",
                variable=x.name,
                **bs.opts.where,
            )
        return x
    if bs.kinds.get(x.name) != "state":
        raise ModelError(
            f"past({x.name}, ...): {x.name!r} has no history (only variables "
            "defined by a differential equation, or algebraic ones computed from "
            "them, have a past)",
            variable=x.name,
            **bs.opts.where,
        )
    tau_ref = _tau_ref(bs, x, tau)
    size = bs.sizes[x.name]
    if bs.opts.delay_approximation:
        tau_value = param(bs, tau_ref).value if isinstance(tau_ref, str) else tau_ref
        initial = next(st.initial for st in bs.states if st.name == x.name)
        labels = [f"{x.name}_past"] * size
        order = bs.opts.delay_approximation
        return chain(bs, x, initial, order, tau_value, f"{x.name}_past", labels, x.is_real, size)
    name = unique(bs, f"{x.name}_past")
    sym = symbol(name, "float" if x.is_real else "complex")
    bs.delayed.append(DelayedRead(name, sym, x.name, None, tau_ref, size))
    bs.kinds[name] = "delayed"
    bs.sizes[name] = size
    return sym


def _tau_ref(bs: BuildState, x: sympy.Symbol, tau: sympy.Expr) -> str | float:
    """The delay of ``past(x, tau)``: a parameter name or a number."""
    if isinstance(tau, sympy.Symbol) and bs.kinds.get(tau.name) == "param":
        return tau.name
    if tau.is_number:
        return float(tau)
    raise ModelError(
        f"the delay of past({x.name}, {tau}) must be a number or a constant",
        **bs.opts.where,
    )
