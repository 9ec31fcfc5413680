"""Edge templates whose output separates into source and target factors.

An edge template such as Kuramoto's ``s = sin(theta_s - theta_t)`` (``theta_s`` the edge's
source, ``theta_t`` fed by its target node) summed over the N^2 edges of a dense coupling
costs N^2 sines per evaluation when each edge is a unit of its own. Written as a sum of
products, ``sin(a - b) = sin(a) cos(b) - cos(a) sin(b)``, the sum over sources becomes two
matrix-vector products of per-unit values::

    sum_j W_ij f(x_j, y_i) = sum_k B_k(y_i) * sum_j W_ij A_k(x_j)

(``x`` the source variable, ``y`` the target-fed inputs and t). :func:`separate` finds the
factors ``(A_k, B_k)``; the System builder then couples ``A_k`` (an algebraic variable of the
source population, kept in the history when the edges are delayed) through the weight matrix
and multiplies by ``B_k`` at the target: the same model, O(N^2) multiply-adds and O(N)
transcendental functions per evaluation.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

import sympy

from rates_core.builtins import TIME, RatesFunction

#: At most this many distinct source factors (matrix-vector products per evaluation).
MAX_TERMS = 8


def separate(
    definitions: Mapping[str, sympy.Expr],
    output: sympy.Symbol,
    receiver: sympy.Symbol,
    target_side: Collection[sympy.Symbol],
    constants: Collection[sympy.Symbol],
) -> list[tuple[sympy.Expr, sympy.Expr]] | None:
    """``[(A_k, B_k)]`` with ``output == sum_k A_k * B_k`` after substituting the algebraic
    ``definitions`` (name -> expression), ``A_k`` a function of ``receiver`` alone (or the
    number 1: a term without the source), ``B_k`` of ``target_side`` symbols, ``constants`` and
    t; None when the output does not separate that way (or needs more than :data:`MAX_TERMS`
    source factors, or uses rates functions such as sums and indexing)."""
    expr: sympy.Expr = output
    for _ in range(len(definitions) + 1):
        repl = {s: definitions[s.name] for s in expr.free_symbols if s.name in definitions}
        if not repl:
            break
        expr = expr.xreplace(repl)
    else:
        return None
    allowed = {receiver, TIME, *target_side, *constants}
    if not expr.free_symbols <= allowed or receiver not in expr.free_symbols:
        return None
    if any(isinstance(a, RatesFunction) for a in sympy.preorder_traversal(expr)):
        return None
    expanded = sympy.expand(sympy.expand_trig(expr))
    groups: dict[sympy.Expr, sympy.Expr] = {}
    for term in sympy.Add.make_args(expanded):
        source, target = [], []
        for factor in sympy.Mul.make_args(term):
            symbols = factor.free_symbols
            if receiver in symbols:
                if symbols != {receiver}:
                    return None  # source and target (or t) inside one function
                source.append(factor)
            else:
                target.append(factor)
        a = sympy.Mul(*source)
        groups[a] = groups.get(a, sympy.Integer(0)) + sympy.Mul(*target)
    if len([a for a in groups if a != 1]) > MAX_TERMS:
        return None
    return [(a, b) for a, b in groups.items() if b != 0]
