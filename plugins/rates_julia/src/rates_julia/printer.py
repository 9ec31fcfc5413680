"""Printer from the sympy expressions of a System to Julia source.

:class:`JuliaPrinter` extends sympy's Julia printer with the rates builtins and with shapes: it
knows which symbols are scalars, vectors or matrices, and uses Julia's broadcasting (``.+``,
``.*``, ``exp.(x)``, ``ifelse.(...)``) only for the parts of an expression whose value is an
array; scalar code stays plain (``mu * (1 - x^2) * v - x``). Indices are 1-based
(``index(x, 0)`` prints ``x[1]``; index parameters are passed 1-based at run time).

Things sympy's Julia printer gets wrong for rates (sympy 1.14), fixed here:

* ``Piecewise`` becomes a ``? :`` ternary, which fails on vectors: printed as nested ``ifelse``
  (``ifelse.`` on arrays);
* ``E`` prints as ``e``, undefined in Julia >= 0.7: printed ``MathConstants.e``;
* floats print with 15 significant digits: printed exactly (Python's ``repr``);
* ``Max`` / ``Min`` become ternaries: printed ``max`` / ``min`` (``max.`` on arrays);
* rationals print as Julia ``Rational`` (``1 // 3``): printed as float division ``1/3``.

Names: every symbol prints as its System name, except names that would shadow something the
generated code uses (Julia keywords, the arguments ``p``, ``h``, ``J``, Base functions the code
calls, ``im``): those get a trailing underscore. System names never end with an underscore.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import sympy
from sympy.printing.julia import JuliaCodePrinter
from sympy.printing.precedence import PRECEDENCE, precedence

from rates_core import builtins as rb
from rates_core.codegen.printer import RatesPrinter
from rates_core.codegen.printer import float_literal as codegen_float_literal

__all__ = ["JULIA_KEYWORDS", "SHADOWED_NAMES", "JuliaPrinter", "Shape", "julia_name"]

Shape = tuple[int, ...]

#: Julia's reserved words (none may be a variable name).
JULIA_KEYWORDS = frozenset(
    """baremodule begin break catch const continue do else elseif end export false finally for
    function global if import let local macro module quote return struct true try using while
    abstract mutable primitive type where in isa outer public""".split()
)

#: Names the generated code uses (arguments, Base functions and constants, helpers).
_USED_NAMES = frozenset(
    """p h J im pi ifelse max min maximum minimum sum length vec vcat view real imag
    conj abs sign round sqrt exp log sin cos tan asin acos atan sinh cosh tanh asinh acosh atanh
    floor ceil randn fill unique filter sort eachindex size nothing Inf NaN MathConstants
    interp_linear input_value SampledInput constant_history lags f jac default_params
    initial_state Float64 Int sparse Ref only N_STATES""".split()
)

#: Names a System variable may have but the generated code must not shadow.
SHADOWED_NAMES = JULIA_KEYWORDS | _USED_NAMES

_KNOWN_FUNCTIONS: dict[type, str] = {
    sympy.sin: "sin",
    sympy.cos: "cos",
    sympy.tan: "tan",
    sympy.asin: "asin",
    sympy.acos: "acos",
    sympy.atan: "atan",
    sympy.sinh: "sinh",
    sympy.cosh: "cosh",
    sympy.tanh: "tanh",
    sympy.asinh: "asinh",
    sympy.acosh: "acosh",
    sympy.atanh: "atanh",
    sympy.exp: "exp",
    sympy.log: "log",
    sympy.Abs: "abs",
    sympy.sign: "sign",
    sympy.re: "real",
    sympy.im: "imag",
    sympy.conjugate: "conj",
    sympy.floor: "floor",
    sympy.ceiling: "ceil",
    sympy.atan2: "atan",
    rb.Round: "round",
}


_RELATIONAL_OPS = {"==": "==", "!=": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}


def julia_name(name: str) -> str:
    """The Julia name of a System symbol (``x[3]``, a 0-based entry, becomes ``x[4]``)."""
    base, bracket, rest = name.partition("[")
    if base in SHADOWED_NAMES:
        base += "_"
    if not bracket:
        return base
    return f"{base}[{int(rest.rstrip(']')) + 1}]"


def float_literal(value: float) -> str:
    """A Julia Float64 literal that reads back as exactly ``value``."""
    return codegen_float_literal(value, "NaN", "Inf", "-Inf")


def _broadcast(shapes: list[Shape]) -> Shape:
    """The shape of an elementwise operation on operands of these shapes."""
    out: Shape = ()
    for s in shapes:
        if len(s) > len(out):
            out = s
    return out


class JuliaPrinter(RatesPrinter, JuliaCodePrinter):
    """sympy's Julia printer with the rates builtins and shape-aware broadcasting.

    ``shapes`` maps System names to their shapes (``()`` scalar, ``(n,)`` vector, ``(m, n)``
    matrix); names not listed are scalars. ``builtins`` are the plugin builtins registered for
    the ``julia`` backend: equation name -> Julia function name (a string).
    """

    backend = "julia"
    language = "Julia"
    extrema = {"max": ("maximum", "max"), "min": ("minimum", "min")}
    literals = {
        "Exp1": "MathConstants.e",
        "Pi": "pi",
        "ImaginaryUnit": "im",
        "Infinity": "Inf",
        "NegativeInfinity": "-Inf",
        "NaN": "NaN",
        "BooleanTrue": "true",
        "BooleanFalse": "false",
    }

    def __init__(
        self,
        shapes: Mapping[str, Shape] | None = None,
        builtins: Mapping[str, Any] | None = None,
        settings: dict | None = None,
    ) -> None:
        super().__init__({"strict": True, **(settings or {})})
        self._init_rates(builtins)
        self.shapes: dict[str, Shape] = dict(shapes or {})
        self._shape_cache: dict[sympy.Basic, Shape] = {}

    def statement(self, expr: sympy.Basic) -> str:
        """``expr`` printed as the right-hand side of an assignment (no outer parentheses)."""
        text = self.doprint(expr)
        if isinstance(expr, (rb.Matvec, rb.Matmul)) and text.startswith("(") and text.endswith(")"):
            return text[1:-1]
        return text

    # ---------------------------------------------------------------- shapes

    def shape(self, expr: sympy.Basic) -> Shape:
        """The shape of the value of ``expr`` (``()`` for a scalar)."""
        hit = self._shape_cache.get(expr)
        if hit is None:
            hit = self._shape(expr)
            self._shape_cache[expr] = hit
        return hit

    def is_array(self, expr: sympy.Basic) -> bool:
        return self.shape(expr) != ()

    def _shape(self, e: sympy.Basic) -> Shape:
        if isinstance(e, sympy.Symbol):
            return self.shapes.get(e.name, ())
        if not e.args:
            return ()
        a = e.args
        if isinstance(e, rb.Matvec):
            return self.shape(a[0])[:1]
        if isinstance(e, rb.Matmul):
            return self.shape(a[0])[:1] + self.shape(a[1])[1:]
        if isinstance(e, rb.Index):
            if len(a) == 3:
                return ()
            idx = self.shape(a[1])
            return idx if idx else ()
        if isinstance(e, rb.IndexRange):
            start, stop = a[1], a[2]
            if start.is_Number and stop.is_Number:
                return (int(stop) - int(start),)
            return (0,)
        if isinstance(e, rb.IndexAxis):
            x = self.shape(a[0])
            if len(a) == 1:
                return x
            if len(x) < 2:
                return ()
            axis = int(a[2]) if len(a) == 3 else 0
            return (x[0],) if axis == 1 else (x[1],)
        if isinstance(e, (rb.VSum, rb.Mean)):
            x = self.shape(a[0])
            if len(a) == 1 or len(x) < 2:
                return ()
            axis = int(a[1]) % 2
            return (x[1],) if axis == 0 else (x[0],)
        if isinstance(e, (rb.Maxi, rb.Mini)) and len(a) == 1:
            return ()
        if isinstance(e, rb.Concatenate):
            return (sum(max(math.prod(self.shape(x)), 1) for x in a),)
        if isinstance(e, rb.Randn):
            return tuple(int(x) for x in a)
        if isinstance(e, rb.Interp):
            return self.shape(a[0])
        if isinstance(e, sympy.Piecewise):
            return _broadcast([self.shape(x) for pair in a for x in pair])
        return _broadcast([self.shape(x) for x in a])

    def _dot(self, expr: sympy.Basic) -> str:
        """``"."`` when ``expr`` is array-valued (broadcast), else ``""``."""
        return "." if self.is_array(expr) else ""

    # ---------------------------------------------------------------- atoms

    def _print_Symbol(self, expr: sympy.Symbol) -> str:
        return julia_name(expr.name)

    _print_Dummy = _print_Symbol

    def _print_Float(self, expr: sympy.Float) -> str:
        return float_literal(float(expr))

    def _print_Integer(self, expr: sympy.Integer) -> str:
        value = int(expr)
        if abs(value) >= 2**53:  # beyond Int64 arithmetic without overflow: a float
            return float_literal(float(value))
        return str(value)

    def _print_Rational(self, expr: sympy.Rational) -> str:
        return f"{self._print_Integer(sympy.Integer(expr.p))}/{expr.q}"

    def _print_Half(self, expr: sympy.Rational) -> str:
        return self._print_Rational(expr)

    # ---------------------------------------------------------------- helpers

    def _index(self, expr: sympy.Expr) -> str:
        """A 0-based index expression as a 1-based Julia index."""
        if expr.is_Number:
            k = int(expr) if expr.is_Integer else int(float(expr))
            if k >= 0:
                return str(k + 1)
            return "end" if k == -1 else f"end - {-k - 1}"
        if isinstance(expr, sympy.Symbol):
            return self._print(expr)  # an index parameter: passed 1-based
        return f"{self._print(expr)} + 1"

    def _call(self, name: str, expr: sympy.Expr, args: list[str] | None = None) -> str:
        """``name(args)``, or ``name.(args)`` when the value is an array (broadcast)."""
        text = ", ".join(self._args(expr) if args is None else args)
        return f"{name}{self._dot(expr)}({text})"

    # ---------------------------------------------------------------- arithmetic

    def _print_Add(self, expr: sympy.Add, order: str | None = None) -> str:
        dot = self._dot(expr)
        # sympy's ordering of terms reads well but costs seconds on the long sums of coupled
        # networks' Jacobians: long sums keep their canonical (deterministic) argument order
        terms = self._as_ordered_terms(expr, order=order) if len(expr.args) <= 8 else expr.args
        prec = PRECEDENCE["Add"]
        out = ""
        for i, term in enumerate(terms):
            if term.could_extract_minus_sign():
                text = self.parenthesize(-term, prec)
                sign = "-"
            else:
                text = self.parenthesize(term, prec)
                sign = "+"
            if i == 0:
                out = f"-{text}" if sign == "-" else text
            else:
                out += f" {dot}{sign} {text}"
        return out

    def _print_Mul(self, expr: sympy.Mul) -> str:
        dot = self._dot(expr)
        prec = PRECEDENCE["Mul"]
        coeff, rest = expr.as_coeff_Mul()
        sign = ""
        if coeff.is_negative:
            sign = "-"
            expr = -expr
            if expr.is_Atom or not expr.is_Mul:
                return sign + self.parenthesize(expr, prec)
        num: list[sympy.Expr] = []
        den: list[sympy.Expr] = []
        for item in expr.as_ordered_factors():
            if (
                item.is_Pow
                and item.exp.is_Rational
                and item.exp.is_negative
                and item.is_commutative
            ):
                if item.exp == -1:
                    den.append(item.base)
                else:
                    den.append(sympy.Pow(item.base, -item.exp, evaluate=False))
            elif item.is_Rational and not item.is_Integer:
                if item.p != 1:
                    num.append(sympy.Integer(item.p))
                den.append(sympy.Integer(item.q))
            else:
                num.append(item)
        num_text = [self.parenthesize(x, prec, strict=False) for x in num] or ["1"]
        text = f" {dot}* ".join(num_text)
        if den:
            den_text = [self.parenthesize(x, prec, strict=False) for x in den]
            if len(den_text) == 1:
                text += f" {dot}/ {den_text[0]}"
            else:
                text += f" {dot}/ ({f' {dot}* '.join(den_text)})"
        return sign + text

    def _print_Pow(self, expr: sympy.Pow, rational: bool = False) -> str:
        base, exp = expr.args
        dot = self._dot(expr)
        prec = PRECEDENCE["Pow"]
        if exp == sympy.S.Half:
            return f"sqrt{dot}({self._print(base)})"
        if exp == -sympy.S.Half:
            return f"1 {dot}/ sqrt{dot}({self._print(base)})"
        if exp == -1:
            return f"1 {dot}/ {self.parenthesize(base, PRECEDENCE['Mul'], strict=True)}"
        base_text = self.parenthesize(base, prec, strict=True)
        if exp.is_Number and not exp.is_negative:
            exp_text = self._print(exp)
            if not (exp.is_Integer or exp.is_Float):
                exp_text = f"({exp_text})"
        else:
            exp_text = self.parenthesize(exp, prec, strict=True)
            if exp.is_Number or exp.could_extract_minus_sign():
                exp_text = exp_text if exp_text.startswith("(") else f"({exp_text})"
        if dot:
            return f"{base_text} .^ {exp_text}"
        return f"{base_text}^{exp_text}"

    # ---------------------------------------------------------------- functions

    def _print_Function(self, expr: sympy.Expr) -> str:
        name = _KNOWN_FUNCTIONS.get(type(expr))
        if name is not None:
            return self._call(name, expr)
        return super()._print_Function(expr)

    def _print_Max(self, expr: sympy.Expr) -> str:
        return self._call("max", expr)

    def _print_Min(self, expr: sympy.Expr) -> str:
        return self._call("min", expr)

    def _print_Piecewise(self, expr: sympy.Piecewise) -> str:
        dot = self._dot(expr)
        pieces = list(expr.args)
        last_value, last_cond = pieces[-1]
        if last_cond == sympy.true:
            text = self._print(last_value)
            pieces = pieces[:-1]
        else:
            text = "NaN"
        for value, cond in reversed(pieces):
            text = f"ifelse{dot}({self._print(cond)}, {self._print(value)}, {text})"
        return text

    def _print_Relational(self, expr: sympy.Expr) -> str:
        op = _RELATIONAL_OPS[expr.rel_op]
        dot = self._dot(expr)
        prec = precedence(expr)
        lhs = self.parenthesize(expr.lhs, prec)
        rhs = self.parenthesize(expr.rhs, prec)
        return f"{lhs} {dot}{op} {rhs}"

    def _print_And(self, expr: sympy.Expr) -> str:
        op = " .& " if self.is_array(expr) else " && "
        return op.join(f"({self._print(a)})" for a in expr.args)

    def _print_Or(self, expr: sympy.Expr) -> str:
        op = " .| " if self.is_array(expr) else " || "
        return op.join(f"({self._print(a)})" for a in expr.args)

    def _print_Not(self, expr: sympy.Expr) -> str:
        return f"{'.' if self.is_array(expr) else ''}!({self._print(expr.args[0])})"

    # ---------------------------------------------------------------- rates builtins

    def _compare(self, op: str, a: sympy.Expr, b: sympy.Expr) -> str:
        dot = "." if self.is_array(a) or self.is_array(b) else ""
        prec = PRECEDENCE["Relational"]
        cond = f"{self.parenthesize(a, prec)} {dot}{op} {self.parenthesize(b, prec)}"
        return f"ifelse{dot}({cond}, 1.0, 0.0)"

    def _print_Round(self, expr: sympy.Expr) -> str:
        return self._call("round", expr)  # RoundNearest: half to even, as NumPy

    def _extremum(self, expr: sympy.Expr, reduce: str, pair: str) -> str:
        if len(expr.args) == 1:
            return f"{reduce}({self._print(expr.args[0])})"
        return self._call(pair, expr)

    def _axis_dims(self, axis: sympy.Expr) -> int:
        return int(axis) % 2 + 1  # NumPy axis 0 / 1 (or -1) -> Julia dims 1 / 2

    def _print_VSum(self, expr: sympy.Expr) -> str:
        x = self._print(expr.args[0])
        if len(expr.args) == 1 or len(self.shape(expr.args[0])) < 2:
            return f"sum({x})"
        return f"vec(sum({x}; dims = {self._axis_dims(expr.args[1])}))"

    def _print_Mean(self, expr: sympy.Expr) -> str:
        x = self._print(expr.args[0])
        if len(expr.args) == 1 or len(self.shape(expr.args[0])) < 2:
            return f"sum({x}) / length({x})"
        dims = self._axis_dims(expr.args[1])
        return f"vec(sum({x}; dims = {dims})) ./ size({x}, {dims})"

    def _print_Matvec(self, expr: sympy.Expr) -> str:
        a, x = expr.args
        return f"({self._atom(a)} * {self._atom(x)})"

    def _range_stop(self, stop: sympy.Expr) -> str:
        return self._print(stop) if stop.is_Number and int(stop) >= 0 else self._index(stop)

    def _axis_entry(self, x: sympy.Expr, idx: str, column: bool) -> str:
        if len(self.shape(x)) < 2:
            return self._subscript(x, [idx])
        return self._subscript(x, [":", idx] if column else [idx, ":"])

    def _print_Interp(self, expr: sympy.Expr) -> str:
        self.helpers.add("interp_linear")
        q, xs, ys = self._args(expr)
        if self.is_array(expr.args[0]):
            return f"interp_linear.({q}, Ref({xs}), Ref({ys}))"
        return f"interp_linear({q}, {xs}, {ys})"

    def _print_Concatenate(self, expr: sympy.Expr) -> str:
        return f"vcat({', '.join(self._args(expr))})"

    def _print_Randn(self, expr: sympy.Expr) -> str:
        return f"randn({', '.join(str(int(a)) for a in expr.args)})"
