"""The symbolic Jacobian of a :class:`~rates_core.system.System`.

Every backend emits a Jacobian function from the same sympy expressions, and continuation tools
need ``d f / d y`` and ``d f / d p``; both come from here. The System is vectorised (a symbol of
size n stands for n units), so it is first *scalarised*: every vector symbol becomes n scalar
symbols and every expression is expanded entry by entry, with shape awareness:

* elementwise operations and functions act per entry; a size-1 operand broadcasts;
* ``Matvec(W, x)`` with ``W`` a matrix-role parameter becomes ``sum_j W[i, j] * x_j`` over the
  stored nonzeros of W (its numeric values are baked in);
* ``Index(x, idx)`` with ``idx`` an index-role parameter (or an integer) picks ``x_{idx[i]}``;
  ``IndexRange``, ``Concatenate`` and ``IndexAxis`` along axis 0 are supported too;
* ``VSum`` / ``Mean`` / one-argument ``Maxi`` / ``Mini`` reduce (the extrema as a balanced tree of
  two-argument ``Maxi`` / ``Mini``, whose derivatives are the builtins' switches);
* algebraic assignments are substituted in dependency order, so ``f`` depends only on states,
  parameters, delayed reads and the time ``t``.

The derivatives are taken by the chain rule through the algebraic entries (each one
differentiated once, by the symbols it contains) and substituted afterwards: a coupling
``r_in = W @ r`` costs one small derivative per nonzero of W instead of differentiating every
large substituted sum. A 1000-node network (2000 states, 20 000 couplings) takes seconds.

Scalar symbol names: a size-1 state, parameter or delayed read keeps its System symbol (same name
and assumptions); entry ``i`` of a vector ``x`` is the symbol ``x[i]`` (0-based; real unless the
variable is complex). :attr:`Jacobian.scalars` maps every System name to its scalar symbols.

Limitations (by design):

* Delayed reads are independent inputs: ``dfdy`` is the *instantaneous* part of the Jacobian of
  a delay equation (the derivative with respect to the delayed values is not included).
* Matrix- and index-role parameters are numeric constants; delay-role parameters are not
  differentiated against. ``params`` holds the entries of constant, weight, rate and input
  (extrinsic input) parameters.
* Complex systems: ``dfdy`` is the complex (holomorphic) derivative ``d f / d z``, which is the
  Jacobian only when f is holomorphic in the complex states. Non-holomorphic functions
  (``conj``, ``real``, ``imag``, ``abs``, ``sign``, ``maxi``/``mini``) of complex states raise
  ModelError; such fields need a real/imaginary split and a numerical Jacobian.
* Derivatives of step-like functions (comparisons, ``round``, ``sign``) are taken as 0, those of
  ``abs`` / ``maxi`` / ``mini`` as the one-sided switch: the Jacobian holds almost everywhere.
* Plugin-registered functions, ``matmul``, ``interp``, ``randn``, matrix indexing and reductions
  along an axis other than 0 raise ModelError naming the function.
* Systems with more than ``max_states`` states raise ModelError (use a numerical Jacobian).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp
import sympy
from sympy.core.function import AppliedUndef
from sympy.printing.numpy import NumPyPrinter

from rates_core import builtins
from rates_core.equations import symbol
from rates_core.errors import ModelError
from rates_core.system import Parameter, System

__all__ = [
    "DIFFERENTIABLE_ROLES",
    "Jacobian",
    "jacobian_function",
    "system_jacobian",
    "vector_field_function",
]

#: Parameter roles whose entries ``dfdp`` differentiates against.
DIFFERENTIABLE_ROLES = ("constant", "weight", "rate", "input")

#: Functions that are not holomorphic, by their equation-level names.
_NON_HOLOMORPHIC: dict[type, str] = {
    sympy.conjugate: "conj",
    sympy.re: "real",
    sympy.im: "imag",
    sympy.Abs: "abs",
    sympy.sign: "sign",
    sympy.arg: "arg",
    builtins.Maxi: "maxi",
    builtins.Mini: "mini",
}

_UNSUPPORTED = (
    builtins.Matmul,
    builtins.Interp,
    builtins.Randn,
)


def _cmp(op: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    """A NumPy comparison returning 1.0 / 0.0 like the comparison builtins."""
    return lambda a, b: 1.0 * op(a, b)


#: NumPy implementations of the builtins that can appear in a scalarised expression.
_NUMPY_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "Greater": _cmp(np.greater),
    "GreaterEqual": _cmp(np.greater_equal),
    "Less": _cmp(np.less),
    "LessEqual": _cmp(np.less_equal),
    "Equal": _cmp(np.equal),
    "NotEqual": _cmp(np.not_equal),
    "Round": np.round,
    "Maxi": np.maximum,
    "Mini": np.minimum,
}


@dataclass(frozen=True)
class Jacobian:
    """The scalarised vector field of a System and its symbolic derivatives.

    ``y``: one scalar symbol per entry of the state vector, in state-vector order.
    ``f``: the vector field, one expression per entry of ``y`` (algebraic variables substituted).
    ``dfdy``: ``d f_i / d y_j``, a ``sympy.SparseMatrix`` ``n_states x n_states`` (treat the
    matrices as read-only; ImmutableSparseMatrix costs seconds to build for large networks).
    ``params``: the scalar parameter entries ``dfdp`` differentiates against, in
    ``system.params`` order (see :data:`DIFFERENTIABLE_ROLES`).
    ``dfdp``: ``d f_i / d params_k``, sparse ``n_states x len(params)`` (no columns when the
    Jacobian was built ``with_params=False``).
    ``delayed``: the scalar symbols of the delayed reads (independent inputs of ``f``).
    ``scalars``: System name (state, non-matrix/non-index parameter, delayed read) -> its scalar
    symbols.
    ``t``: the time symbol.
    """

    y: list[sympy.Symbol]
    f: list[sympy.Expr]
    dfdy: sympy.SparseMatrix
    params: list[sympy.Symbol]
    dfdp: sympy.SparseMatrix
    delayed: list[sympy.Symbol] = field(default_factory=list)
    scalars: dict[str, tuple[sympy.Symbol, ...]] = field(default_factory=dict)
    t: sympy.Symbol = builtins.TIME


# --------------------------------------------------------------------------- scalarising


def _entry_symbols(sym: sympy.Symbol, size: int) -> tuple[sympy.Symbol, ...]:
    """``(sym,)`` for a scalar, else the entry symbols ``name[0] .. name[size-1]``."""
    if size <= 1:
        return (sym,)
    kind = "float" if sym.is_real else "complex"
    return tuple(symbol(f"{sym.name}[{i}]", kind) for i in range(size))


def _number(value: Any) -> sympy.Expr:
    """A numeric matrix/index entry as a sympy number."""
    if isinstance(value, (int, np.integer)):
        return sympy.Integer(int(value))
    if np.iscomplexobj(value) and complex(value).imag != 0:
        c = complex(value)
        return sympy.Float(c.real) + sympy.I * sympy.Float(c.imag)
    return sympy.Float(float(np.real(value)))


def _balanced(func: type, entries: Sequence[sympy.Expr]) -> sympy.Expr:
    """``func`` (two-argument maxi/mini) folded over entries as a balanced tree."""
    if len(entries) == 1:
        return entries[0]
    mid = len(entries) // 2
    return func(_balanced(func, entries[:mid]), _balanced(func, entries[mid:]))


class _Scalariser:
    """Expands the vectorised expressions of one System into lists of scalar expressions."""

    def __init__(self, system: System) -> None:
        self.system = system
        self.where = {"template": system.name}
        self.table: dict[str, list[sympy.Expr]] = {}
        self.matrices: dict[str, Any] = {}
        self.indices: dict[str, np.ndarray] = {}
        self.scalars: dict[str, tuple[sympy.Symbol, ...]] = {}
        self.cache: dict[sympy.Expr, list[sympy.Expr]] = {}
        for s in system.states:
            self._define(s.name, _entry_symbols(s.symbol, s.size))
        for p in system.params:
            if p.role == "matrix":
                self.matrices[p.name] = p.value
            elif p.role == "index":
                idx = np.asarray(p.value, dtype=np.int64).reshape(-1)
                self.indices[p.name] = idx
                self.table[p.name] = [sympy.Integer(int(k)) for k in idx]
            else:
                self._define(p.name, _entry_symbols(p.symbol, max(p.size, 1)))
        for d in system.delayed:
            self._define(d.name, _entry_symbols(d.symbol, d.size))
        # algebraic entries stay symbols (``a`` or ``a[i]``) while differentiating, so the chain
        # rule works on small expressions; ``definitions`` holds them in dependency order
        self.definitions: list[tuple[sympy.Symbol, sympy.Expr]] = []
        for a in system.algebraic:
            entries = self(a.expr)
            if len(entries) > 1 and a.size > 1 and len(entries) != a.size:
                raise self.error(
                    f"algebraic variable {a.name!r} has size {a.size} but its expression has "
                    f"{len(entries)} entries",
                    a.name,
                )
            names = _entry_symbols(a.symbol, len(entries))
            symbols = []
            for sym, entry in zip(names, entries):
                if entry.is_Atom:
                    symbols.append(entry)
                else:
                    self.definitions.append((sym, entry))
                    symbols.append(sym)
            self.table[a.name] = symbols

    def substitution(self) -> dict[sympy.Symbol, sympy.Expr]:
        """Algebraic entry symbol -> its expression in states, parameters and delayed reads."""
        full: dict[sympy.Symbol, sympy.Expr] = {}
        for sym, expr in self.definitions:
            full[sym] = expr.xreplace(full)
        return full

    def _define(self, name: str, syms: tuple[sympy.Symbol, ...]) -> None:
        self.scalars[name] = syms
        self.table[name] = list(syms)

    def error(self, message: str, variable: str | None = None) -> ModelError:
        return ModelError(f"symbolic Jacobian: {message}", variable=variable, **self.where)

    def __call__(self, expr: sympy.Expr) -> list[sympy.Expr]:
        hit = self.cache.get(expr)
        if hit is None:
            hit = self._scalarise(expr)
            self.cache[expr] = hit
        return hit

    # ------------------------------------------------------------------ dispatch

    def _scalarise(self, e: sympy.Expr) -> list[sympy.Expr]:
        if isinstance(e, sympy.Symbol):
            if e.name in self.table:
                return self.table[e.name]
            if e == builtins.TIME:
                return [e]
            if e.name in self.matrices:
                raise self.error(
                    f"the matrix {e.name!r} may only be used as the first argument of matvec",
                    e.name,
                )
            raise self.error(f"unknown symbol {e.name!r}", e.name)
        if isinstance(e, AppliedUndef):
            raise self.error(
                f"function {e.func.__name__!r} (a plugin builtin) has no known derivative; "
                "use a numerical Jacobian"
            )
        if isinstance(e, builtins.RatesFunction):
            handler = self._HANDLERS.get(type(e))
            if handler is not None:
                return handler(self, e)
            if isinstance(e, _UNSUPPORTED) or isinstance(e, builtins.Past):
                raise self.error(
                    f"function {type(e).rates_name!r} is not supported; use a numerical Jacobian"
                )
            if isinstance(e, (builtins.Maxi, builtins.Mini)) and len(e.args) == 1:
                return [_balanced(type(e), self(e.args[0]))]
            # comparisons, round, two-argument maxi/mini: elementwise
        if not e.args:
            return [e]
        return self._elementwise(e)

    def _elementwise(self, e: sympy.Expr) -> list[sympy.Expr]:
        args = [self(a) for a in e.args]
        n = self._size(args, e)
        if n == 1:
            if all(a[0] is orig for a, orig in zip(args, e.args)):
                return [e]
            return [e.func(*[a[0] for a in args])]
        return [e.func(*[a[i] if len(a) > 1 else a[0] for a in args]) for i in range(n)]

    def _size(self, args: Sequence[list[sympy.Expr]], e: sympy.Expr) -> int:
        sizes = {len(a) for a in args if len(a) != 1}
        if len(sizes) > 1:
            raise self.error(f"operands of different sizes {sorted(sizes)} in {e}")
        return sizes.pop() if sizes else 1

    # ------------------------------------------------------------------ vector functions

    def _index_values(self, arg: sympy.Expr, func: str) -> np.ndarray:
        if isinstance(arg, sympy.Symbol) and arg.name in self.indices:
            return self.indices[arg.name]
        if isinstance(arg, sympy.Integer):
            return np.array([int(arg)])
        if arg.is_Number and float(arg) == int(float(arg)):
            return np.array([int(float(arg))])
        raise self.error(f"{func}: the index {arg} must be an integer or an index parameter")

    def _pick(self, entries: list[sympy.Expr], idx: np.ndarray, e: sympy.Expr) -> list:
        n = len(entries)
        out = []
        for k in idx:
            if n == 1 and k in (0, -1):
                out.append(entries[0])
            elif -n <= k < n:
                out.append(entries[k])
            else:
                raise self.error(f"index {k} out of range for {n} entries in {e}")
        return out

    def _index(self, e: sympy.Expr) -> list[sympy.Expr]:
        if len(e.args) != 2:
            raise self.error(f"index with {len(e.args)} arguments (matrix indexing) in {e}")
        x, i = e.args
        return self._pick(self(x), self._index_values(i, "index"), e)

    def _index_axis(self, e: sympy.Expr) -> list[sympy.Expr]:
        if len(e.args) == 1:
            return self(e.args[0])
        if len(e.args) == 3 and not (e.args[2].is_Number and int(e.args[2]) == 0):
            raise self.error(f"index_axis along axis {e.args[2]} of a vector in {e}")
        return self._pick(self(e.args[0]), self._index_values(e.args[1], "index_axis"), e)

    def _index_range(self, e: sympy.Expr) -> list[sympy.Expr]:
        x, start, stop = e.args
        if not (start.is_Integer and stop.is_Integer):
            raise self.error(f"index_range needs integer bounds in {e}")
        out = self(x)[int(start) : int(stop)]
        if not out:
            raise self.error(f"index_range selects nothing in {e}")
        return out

    def _concatenate(self, e: sympy.Expr) -> list[sympy.Expr]:
        return [entry for a in e.args for entry in self(a)]

    def _reduce_axis(self, e: sympy.Expr) -> list[sympy.Expr]:
        if len(e.args) == 2 and not (e.args[1].is_Number and int(e.args[1]) in (0, -1)):
            raise self.error(f"{type(e).rates_name} along axis {e.args[1]} of a vector in {e}")
        return self(e.args[0])

    def _vsum(self, e: sympy.Expr) -> list[sympy.Expr]:
        return [sympy.Add(*self._reduce_axis(e))]

    def _mean(self, e: sympy.Expr) -> list[sympy.Expr]:
        entries = self._reduce_axis(e)
        return [sympy.Add(*entries) / len(entries)]

    def _matvec(self, e: sympy.Expr) -> list[sympy.Expr]:
        w, x = e.args
        if not (isinstance(w, sympy.Symbol) and w.name in self.matrices):
            raise self.error(f"matvec needs a matrix parameter as first argument, got {w}")
        mat = sp.csr_matrix(self.matrices[w.name])
        xs = self(x)
        rows, cols = mat.shape
        if len(xs) != cols and not (len(xs) == 1 and cols == 1):
            raise self.error(f"matvec of a {rows}x{cols} matrix with {len(xs)} entries in {e}")
        out = []
        for i in range(rows):
            lo, hi = mat.indptr[i], mat.indptr[i + 1]
            terms = []
            for j, v in zip(mat.indices[lo:hi], mat.data[lo:hi]):
                if v == 0:
                    continue
                # unevaluated: a row is a sum of distinct entries, nothing to collect, and
                # sympy's canonicalisation would dominate the cost for large networks
                terms.append(xs[j] if v == 1 else sympy.Mul(_number(v), xs[j], evaluate=False))
            if len(terms) > 1:
                out.append(sympy.Add(*terms, evaluate=False))
            else:
                out.append(terms[0] if terms else sympy.S.Zero)
        return out

    _HANDLERS: Mapping[type, Callable[[_Scalariser, sympy.Expr], list[sympy.Expr]]] = {
        builtins.Matvec: _matvec,
        builtins.Index: _index,
        builtins.IndexAxis: _index_axis,
        builtins.IndexRange: _index_range,
        builtins.Concatenate: _concatenate,
        builtins.VSum: _vsum,
        builtins.Mean: _mean,
    }

    # ------------------------------------------------------------------ the vector field

    def field(self) -> list[sympy.Expr]:
        f: list[sympy.Expr] = []
        derivs = dict(self.system.derivatives)
        for s in self.system.states:
            entries = self(derivs[s.name])
            if len(entries) == 1 and s.size > 1:
                entries = entries * s.size
            if len(entries) != s.size:
                raise self.error(
                    f"the derivative of {s.name!r} has {len(entries)} entries, the state {s.size}",
                    s.name,
                )
            f.extend(entries)
        return f


# --------------------------------------------------------------------------- differentiating


def _check_holomorphic(
    definitions: Sequence[tuple[sympy.Symbol, sympy.Expr]],
    f: Sequence[sympy.Expr],
    variables: Sequence[sympy.Symbol],
    where: dict,
) -> None:
    """Raise ModelError where a non-holomorphic function gets a complex argument that depends on
    the differentiation variables: neither its complex derivative nor the real chain rule
    (``d abs(u) = sign(u) du`` holds for real u only) would be right there.

    Fully real systems skip the check: every quantity in them is real.
    """
    exprs = [*definitions, *((None, fi) for fi in f)]
    if all(v.is_real for v in variables) and all(
        (target is None or target.is_real)
        and not expr.has(sympy.I)
        and all(s.is_real for s in expr.free_symbols)
        for target, expr in exprs
    ):
        return
    depends = set(variables)  # grows by the algebraic entries that depend on the variables
    for target, expr in exprs:
        if not expr.free_symbols & depends:
            continue
        for node in sympy.preorder_traversal(expr):
            name = _NON_HOLOMORPHIC.get(type(node))
            if (
                name is not None
                and node.free_symbols & depends
                and any(arg.is_real is not True for arg in node.args)
            ):
                raise ModelError(
                    f"symbolic Jacobian: function {name!r} is not holomorphic, and {node} has a "
                    "complex argument depending on the states or parameters, so the vector "
                    "field has no complex derivative. Split the system into real and imaginary "
                    "parts or use a numerical Jacobian (for complex parameters: "
                    "with_params=False)",
                    **where,
                )
        if target is not None:
            depends.add(target)


class _Differentiator:
    """First derivatives by the chain rule, node by node, skipping subtrees without the variable.

    Much faster than ``Expr.diff`` on the large substituted expressions of a network (which
    re-derives assumptions of every intermediate product); falls back to ``Expr.diff`` for the
    few node types it does not know.
    """

    def __init__(self, where: dict) -> None:
        self.where = where
        self.free: dict[sympy.Basic, frozenset] = {}
        self.memo: dict[tuple[sympy.Basic, sympy.Symbol], sympy.Expr] = {}

    def symbols(self, e: sympy.Basic) -> frozenset:
        hit = self.free.get(e)
        if hit is None:
            hit = frozenset(e.free_symbols)
            self.free[e] = hit
        return hit

    def __call__(self, e: sympy.Expr, s: sympy.Symbol) -> sympy.Expr:
        if e == s:
            return sympy.S.One
        if s not in self.symbols(e):
            return sympy.S.Zero
        key = (e, s)
        hit = self.memo.get(key)
        if hit is None:
            hit = self._diff(e, s)
            self.memo[key] = hit
        return hit

    def _diff(self, e: sympy.Expr, s: sympy.Symbol) -> sympy.Expr:
        if e.is_Add:
            terms = [d for d in (self(a, s) for a in e.args) if d != 0]
            return terms[0] if len(terms) == 1 else sympy.Add(*terms)
        if e.is_Mul:
            args = e.args
            terms = []
            for k, a in enumerate(args):
                da = self(a, s)
                if da == 0:
                    continue
                rest = args[:k] + args[k + 1 :]
                if da == 1:
                    terms.append(rest[0] if len(rest) == 1 else sympy.Mul(*rest))
                else:
                    terms.append(sympy.Mul(*rest, da))
            return terms[0] if len(terms) == 1 else sympy.Add(*terms)
        if e.is_Pow:
            base, exp = e.args
            dbase, dexp = self(base, s), self(exp, s)
            out = []
            if dbase != 0:
                out.append(exp * base ** (exp - 1) * dbase)
            if dexp != 0:
                out.append(e * sympy.log(base) * dexp)
            return sympy.Add(*out)
        if isinstance(e, sympy.Function) and not isinstance(e, AppliedUndef):
            out = []
            for k, a in enumerate(e.args, 1):
                da = self(a, s)
                if da == 0:
                    continue
                try:
                    partial = e.fdiff(k)
                except Exception:  # no usable partial derivative: let sympy try the node
                    return self._fallback(e, s)
                if partial.has(sympy.Derivative, sympy.Subs):
                    return self._fallback(e, s)
                out.append(partial * da)
            return sympy.Add(*out)
        return self._fallback(e, s)

    def _fallback(self, e: sympy.Expr, s: sympy.Symbol) -> sympy.Expr:
        d = e.diff(s)
        if d.has(sympy.DiracDelta):  # derivative of sign / step functions: 0 almost everywhere
            d = d.replace(sympy.DiracDelta, lambda *_: sympy.S.Zero)
        if d.has(sympy.Derivative):
            inner = next(iter(d.atoms(sympy.Derivative))).expr
            name = getattr(inner.func, "rates_name", None) or inner.func.__name__
            raise ModelError(
                f"symbolic Jacobian: cannot differentiate {name!r} in {inner}", **self.where
            )
        return d


def _total_derivatives(
    f: Sequence[sympy.Expr],
    definitions: Sequence[tuple[sympy.Symbol, sympy.Expr]],
    variables: Sequence[sympy.Symbol],
    diff: _Differentiator,
) -> list[dict[int, sympy.Expr]]:
    """Sparse rows ``{j: d f_i / d variables_j}`` by the chain rule through the algebraic entries.

    Each expression is differentiated only by the symbols it contains; the derivatives of the
    algebraic entries (``definitions``, in dependency order) are computed once and reused.
    """
    position = {v: j for j, v in enumerate(variables)}
    chain: dict[sympy.Symbol, dict[int, sympy.Expr]] = {}

    def row(expr: sympy.Expr) -> dict[int, sympy.Expr]:
        acc: dict[int, list[sympy.Expr]] = {}
        for s in diff.symbols(expr):
            j = position.get(s)
            if j is not None:
                d = diff(expr, s)
                if d != 0:
                    acc.setdefault(j, []).append(d)
                continue
            inner = chain.get(s)
            if not inner:
                continue
            d = diff(expr, s)
            if d == 0:
                continue
            for j, dj in inner.items():
                acc.setdefault(j, []).append(dj if d == 1 else d * dj)
        out = {}
        for j, terms in acc.items():
            value = terms[0] if len(terms) == 1 else sympy.Add(*terms)
            if value != 0:
                out[j] = value
        return out

    for sym, expr in definitions:
        chain[sym] = row(expr)
    return [row(fi) for fi in f]


def system_jacobian(
    system: System, *, with_params: bool = True, max_states: int = 2000
) -> Jacobian:
    """The scalarised vector field of ``system`` and its derivatives by states and parameters.

    Raises ModelError for constructs without a symbolic derivative (named in the message), for
    non-holomorphic complex fields and for systems with more than ``max_states`` states (where
    the scalar expressions get too large: use a numerical or autodiff Jacobian instead).
    """
    where = {"template": system.name}
    if system.n_states > max_states:
        raise ModelError(
            f"symbolic Jacobian: the system has {system.n_states} states, more than "
            f"max_states={max_states}; use a numerical (finite-difference or autodiff) Jacobian "
            "or raise max_states",
            **where,
        )
    scal = _Scalariser(system)
    f_raw = scal.field()
    y = [s for st in system.states for s in scal.scalars[st.name]]
    params: list[sympy.Symbol] = []
    if with_params:
        params = [
            s for p in system.params if p.role in DIFFERENTIABLE_ROLES for s in scal.scalars[p.name]
        ]
    _check_holomorphic(scal.definitions, f_raw, y + params, where)
    rows = _total_derivatives(f_raw, scal.definitions, y + params, _Differentiator(where))
    full = scal.substitution()
    n = len(y)
    dfdy: dict[tuple[int, int], sympy.Expr] = {}
    dfdp: dict[tuple[int, int], sympy.Expr] = {}
    for i, row in enumerate(rows):
        for j, value in row.items():
            value = value.xreplace(full)
            if j < n:
                dfdy[(i, j)] = value
            else:
                dfdp[(i, j - n)] = value
    return Jacobian(
        y=y,
        f=[fi.xreplace(full) for fi in f_raw],
        dfdy=sympy.SparseMatrix(n, n, dfdy),
        params=params,
        dfdp=sympy.SparseMatrix(n, len(params), dfdp),
        delayed=[s for d in system.delayed for s in scal.scalars[d.name]],
        scalars=dict(scal.scalars),
    )


# --------------------------------------------------------------------------- NumPy evaluation


def _same_value(p: Parameter, value: Any) -> bool:
    if value is p.value:
        return True
    a, b = p.value, value
    if sp.issparse(a) or sp.issparse(b):
        a, b = sp.csr_matrix(a), sp.csr_matrix(b)
        return a.shape == b.shape and (a != b).nnz == 0
    return np.array_equal(np.asarray(a), np.asarray(b))


class _NamePrinter(NumPyPrinter):
    """NumPy printer writing each scalar symbol under a safe generated name.

    ``x[3]`` is no Python identifier, and lambdify's own renaming substitutes into every
    expression once per argument (quadratic in the number of states).
    """

    def __init__(self, names: Mapping[sympy.Symbol, str], settings: dict) -> None:
        super().__init__(settings)
        self._names = names

    def _print_Symbol(self, expr: sympy.Symbol) -> str:
        name = self._names.get(expr)
        return name if name is not None else super()._print_Symbol(expr)


def _evaluator(
    system: System, jac: Jacobian, exprs: Sequence[sympy.Expr]
) -> Callable[..., list[Any]]:
    """``g(t, y, *params, delayed=None) -> values of exprs`` (a lambdified list)."""
    runtime = [p for p in system.params if p.role not in ("matrix", "index")]
    arg_lists = [list(jac.scalars[p.name]) for p in runtime]
    delayed_lists = [list(jac.scalars[d.name]) for d in system.delayed]
    groups = [list(jac.y), *arg_lists, *delayed_lists]
    names = {sym: f"_s{k}" for k, sym in enumerate(s for g in groups for s in g)}
    printer = _NamePrinter(
        names,
        {"fully_qualified_modules": False, "inline": True, "allow_unknown_functions": True},
    )
    # the arguments are plain symbols under the generated names, so lambdify has nothing to
    # rename; the printer writes the scalar symbols of the expressions under the same names
    arg_groups = [[sympy.Symbol(names[s]) for s in g] for g in groups]
    fn = sympy.lambdify(
        [jac.t, *arg_groups], list(exprs), modules=[_NUMPY_FUNCTIONS, "numpy"], printer=printer
    )
    n_params = len(system.params)

    def evaluate(
        t: float, y: np.ndarray, *params: Any, delayed: Mapping[str, Any] | None = None
    ) -> list[Any]:
        if len(params) != n_params:
            raise TypeError(f"expected {n_params} parameter values, got {len(params)}")
        y = np.asarray(y).reshape(-1)
        if y.size != len(jac.y):
            raise ValueError(f"y has {y.size} entries, the system {len(jac.y)}")
        args: list[Any] = [t, y]
        for p, value in zip(system.params, params):
            if p.role in ("matrix", "index"):
                if not _same_value(p, value):
                    raise ValueError(
                        f"parameter {p.name!r} ({p.role}) is baked into the symbolic Jacobian; "
                        "rebuild it from a System with the new value"
                    )
                continue
            arr = np.asarray(value).reshape(-1)
            size = len(jac.scalars[p.name])
            if arr.size == 1 and size > 1:
                arr = np.broadcast_to(arr, (size,))
            if arr.size != size:
                raise ValueError(f"parameter {p.name!r} needs {size} values, got {arr.size}")
            args.append(arr)
        given = dict(delayed or {})
        for d in system.delayed:
            size = len(jac.scalars[d.name])
            if d.name in given:
                arr = np.asarray(given[d.name]).reshape(-1)
            else:  # at an equilibrium the delayed value equals the current one
                st = system.state(d.state)
                arr = y[st.start : st.stop]
                if d.index is not None:
                    arr = arr[np.asarray(system.param(d.index).value, dtype=np.int64)]
            if arr.size == 1 and size > 1:
                arr = np.broadcast_to(arr, (size,))
            if arr.size != size:
                raise ValueError(f"delayed read {d.name!r} needs {size} values, got {arr.size}")
            args.append(arr)
        return fn(*args)

    return evaluate


def jacobian_function(
    system: System, *, wrt: str = "y", jacobian: Jacobian | None = None
) -> Callable[..., np.ndarray]:
    """A NumPy reference evaluator ``J(t, y, *params, delayed=None) -> ndarray``.

    ``params`` are the values of ``system.params`` in order (arrays for vector parameters);
    matrix and index parameters are baked in and must equal the System's values. ``wrt="y"``
    gives the dense ``(n_states, n_states)`` d f / d y, ``wrt="params"`` the dense
    ``(n_states, len(jacobian.params))`` d f / d p. ``delayed`` maps delayed-read names to their
    values; missing ones take the current state's values (exact at an equilibrium). Meant for
    tests and as a fallback; backends print the same expressions into compiled code.
    """
    if wrt not in ("y", "params"):
        raise ValueError(f"wrt must be 'y' or 'params', not {wrt!r}")
    jac = jacobian or system_jacobian(system, with_params=wrt == "params")
    matrix = jac.dfdy if wrt == "y" else jac.dfdp
    keys = sorted(matrix.todok().items())
    positions = [k for k, _ in keys]
    evaluate = _evaluator(system, jac, [v for _, v in keys])
    dtype = np.complex128 if system.is_complex else np.float64
    shape = matrix.shape

    def jac_fn(
        t: float, y: np.ndarray, *params: Any, delayed: Mapping[str, Any] | None = None
    ) -> np.ndarray:
        out = np.zeros(shape, dtype=dtype)
        if positions:
            values = evaluate(t, y, *params, delayed=delayed)
            rows, cols = zip(*positions)
            out[list(rows), list(cols)] = np.asarray(values, dtype=dtype)
        return out

    return jac_fn


def vector_field_function(
    system: System, *, jacobian: Jacobian | None = None
) -> Callable[..., np.ndarray]:
    """``f(t, y, *params, delayed=None) -> dy`` from the scalarised field (same arguments as
    :func:`jacobian_function`): the reference the Jacobian is the derivative of."""
    jac = jacobian or system_jacobian(system, with_params=False)
    evaluate = _evaluator(system, jac, jac.f)
    dtype = np.complex128 if system.is_complex else np.float64

    def field_fn(
        t: float, y: np.ndarray, *params: Any, delayed: Mapping[str, Any] | None = None
    ) -> np.ndarray:
        return np.asarray(evaluate(t, y, *params, delayed=delayed), dtype=dtype)

    return field_fn
