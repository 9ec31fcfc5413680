"""Printing sympy expressions of a System as torch code.

Layout of values in the generated equations (see :mod:`rates_torch.emit`): every symbol is a
tensor whose *last* axes are its own shape and whose leading axes (if any) are the batch of
parameter sets. States, algebraic and delayed values are 1-D per set (``(size,)``, a scalar is
``(1,)``); a parameter keeps its own shape (a scalar is a 0-d tensor, or ``(B, 1)`` in a batch).
So every operation indexes and reduces from the end (``x[..., i]``, ``dim=-1``) and the same
printed code serves one parameter set and a batch of them.

Pure numbers are always printed as Python literals (``torch.sin(2.0)`` fails on numbers, the
pitfall of sympy's own PyTorch printer); everything else is a tensor, so ``torch.*`` functions
apply. Helpers the generated module defines (``matvec_``, ``interp_``, ``cat_``, ``imag_``,
``randn_``) are recorded in :attr:`TorchPrinter.helpers`.
"""

from __future__ import annotations

import builtins as _py_builtins
import math
from collections.abc import Mapping
from typing import Any

import sympy
from sympy.printing.pycode import PythonCodePrinter

from rates_core import builtins as rb
from rates_core.codegen.printer import RatesPrinter, float_literal

__all__ = ["SHADOWED_NAMES", "TorchPrinter", "safe_name"]

#: Names a System variable may have but the generated code must not shadow.
SHADOWED_NAMES = frozenset(set(dir(_py_builtins)) | {"torch", "math", "cmath"})

#: sympy function class name -> torch function
_TORCH_FUNCTIONS = {
    "sin": "torch.sin",
    "cos": "torch.cos",
    "tan": "torch.tan",
    "sinh": "torch.sinh",
    "cosh": "torch.cosh",
    "tanh": "torch.tanh",
    "asin": "torch.asin",
    "acos": "torch.acos",
    "atan": "torch.atan",
    "asinh": "torch.asinh",
    "acosh": "torch.acosh",
    "atanh": "torch.atanh",
    "exp": "torch.exp",
    "log": "torch.log",
    "Abs": "torch.abs",
    "sign": "torch.sgn",  # sign for real numbers, x/|x| (0 at 0) for complex ones, as NumPy
    "re": "torch.real",
    "conjugate": "torch.conj_physical",
    "floor": "torch.floor",
    "ceiling": "torch.ceil",
    "erf": "torch.erf",
}


def safe_name(name: str) -> str:
    """The Python name a System symbol gets in generated code."""
    return name + "_" if name in SHADOWED_NAMES else name


def _literal(value: complex) -> str:
    """A Python literal for a number (complex when it has an imaginary part)."""
    if isinstance(value, complex) and value.imag != 0:
        return repr(complex(value))
    x = float(value.real if isinstance(value, complex) else value)
    return float_literal(x, 'float("nan")', 'float("inf")', '(-float("inf"))')


class TorchPrinter(RatesPrinter, PythonCodePrinter):
    """sympy expressions of a System -> torch expressions (see the module doc).

    ``ndims``: symbol name -> number of own axes of its value (parameters: their shape's
    length; states, algebraic and delayed values: 1). ``builtins``: plugin functions for the
    torch backend, name -> printed name (str) or a callable injected into the module.
    """

    printmethod = "_torchcode"
    backend = "torch"
    language = "torch"
    extrema = {
        "max": ("torch.amax", "torch.maximum", "min"),
        "min": ("torch.amin", "torch.minimum", "max"),
    }
    builtin_strings_only = False
    literals = {"ImaginaryUnit": "1j", "Exp1": repr(math.e), "Pi": repr(math.pi)}

    def __init__(
        self,
        ndims: Mapping[str, int] | None = None,
        builtins: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__({"strict": True, "fully_qualified_modules": True})
        self._init_rates(builtins)
        self.ndims = dict(ndims or {})

    # ---------------------------------------------------------------- dispatch

    def _print(self, expr: Any, **kwargs: Any) -> str:
        if isinstance(expr, sympy.Basic) and self._is_number(expr):
            return self._number(expr)
        return super()._print(expr, **kwargs)

    @staticmethod
    def _is_number(expr: sympy.Basic) -> bool:
        if not getattr(expr, "is_number", False):
            return False
        return not expr.has(rb.Randn, rb.Past) and not any(
            isinstance(a, sympy.core.function.AppliedUndef) for a in sympy.preorder_traversal(expr)
        )

    def _number(self, expr: sympy.Basic) -> str:
        value = complex(sympy.N(expr, 17))
        real = value.imag == 0 or math.isnan(value.real)  # sympy's nan is nan + nan*j here
        text = _literal(value.real if real else value)
        if text.startswith("-") or "j" in text:
            return f"({text})"
        return text

    # ---------------------------------------------------------------- atoms

    def _print_Symbol(self, expr: sympy.Symbol) -> str:
        return safe_name(expr.name)

    _print_Dummy = _print_Symbol

    def _int(self, expr: sympy.Expr) -> str:
        if expr.is_Number:
            return str(int(expr))
        return self._print(expr)

    def ndim(self, expr: sympy.Expr) -> int:
        """Number of own (non-batch) axes of ``expr``'s value."""
        if isinstance(expr, sympy.Symbol):
            return self.ndims.get(expr.name, 1)
        if self._is_number(expr):
            return 0
        if isinstance(expr, (rb.Matvec, rb.Matmul)):
            return self.ndim(expr.args[1])
        if isinstance(expr, (rb.VSum, rb.Mean)):
            return max(self.ndim(expr.args[0]) - 1, 1) if len(expr.args) == 2 else 1
        if isinstance(expr, rb.IndexAxis):
            return max(self.ndim(expr.args[0]) - 1, 1)
        if isinstance(expr, (rb.Index, rb.Concatenate, rb.Interp, rb.Randn)):
            return 1
        return max((self.ndim(a) for a in expr.args), default=0)

    # ---------------------------------------------------------------- arithmetic

    def _print_Pow(self, expr: sympy.Pow, rational: bool = False) -> str:
        base, exp = expr.args
        if exp in (sympy.S.Half, -sympy.S.Half, sympy.S.NegativeOne):  # sqrt, 1.0/sqrt, 1.0/x
            return self._hprint_Pow(expr, rational=rational, sqrt="torch.sqrt")
        prec = sympy.printing.precedence.PRECEDENCE["Pow"]
        b = self.parenthesize(base, prec, strict=False)
        if self._is_number(base):
            b = f"({self._number(base)})" if not b.startswith("(") else b
        e = self.parenthesize(exp, prec, strict=False)
        if exp.is_Integer:
            e = str(int(exp))
        return f"{b}**{e}"

    def _print_Rational(self, expr: sympy.Rational) -> str:
        return self._number(expr)

    _print_Float = _print_Rational
    _print_Integer = _print_Rational

    # ---------------------------------------------------------------- functions

    def _print_Function(self, expr: sympy.Expr) -> str:
        name = type(expr).__name__
        if name in _TORCH_FUNCTIONS:
            return f"{_TORCH_FUNCTIONS[name]}({', '.join(self._print(a) for a in expr.args)})"
        return super()._print_Function(expr)

    def _print_sqrt(self, expr: sympy.Expr) -> str:
        return f"torch.sqrt({self._print(expr.args[0])})"

    def _print_im(self, expr: sympy.Expr) -> str:
        self.helpers.add("imag_")
        return f"imag_({self._print(expr.args[0])})"

    def _print_Piecewise(self, expr: sympy.Piecewise) -> str:
        self.helpers.add("where_")
        *pieces, (last, cond) = expr.args
        text = self._print(last)
        if cond != sympy.true:
            text = f"where_({self._print(cond)}, {text}, float('nan'))"
        for value, c in reversed(pieces):
            text = f"where_({self._print(c)}, {self._print(value)}, {text})"
        return text

    def _relational(self, expr: Any) -> str:
        prec = sympy.printing.precedence.precedence(expr)
        return (
            f"({self.parenthesize(expr.lhs, prec)} {expr.rel_op} "
            f"{self.parenthesize(expr.rhs, prec)})"
        )

    _print_StrictGreaterThan = _relational
    _print_GreaterThan = _relational
    _print_StrictLessThan = _relational
    _print_LessThan = _relational

    def _print_Max(self, expr: sympy.Expr) -> str:
        return self._pairwise(expr.args, "torch.maximum", "min")

    def _print_Min(self, expr: sympy.Expr) -> str:
        return self._pairwise(expr.args, "torch.minimum", "max")

    def _pairwise(self, args: tuple, func: str, clamp: str) -> str:
        text = self._print(args[0])
        first_number = self._is_number(args[0])
        for a in args[1:]:
            if self._is_number(a):
                text = f"torch.clamp({text}, {clamp}={self._print(a)})"
            elif first_number:
                text = f"torch.clamp({self._print(a)}, {clamp}={text})"
            else:
                text = f"{func}({text}, {self._print(a)})"
            first_number = False
        return text

    # ---------------------------------------------------------------- rates builtins

    def _compare(self, op: str, a: sympy.Expr, b: sympy.Expr) -> str:
        prec = 45
        return f"({self.parenthesize(a, prec)} {op} {self.parenthesize(b, prec)}).to(REAL_)"

    def _print_Round(self, expr: sympy.Expr) -> str:
        return f"torch.round({self._print(expr.args[0])})"  # half to even, like NumPy

    def _extremum(self, expr: sympy.Expr, reduce: str, pair: str, clamp: str) -> str:
        if len(expr.args) == 1:
            return self._reduce(expr.args[0], reduce)
        return self._pairwise(expr.args, pair, clamp)

    def _reduce(self, x: sympy.Expr, func: str, axis: sympy.Expr | None = None) -> str:
        nd = self.ndim(x)
        text = self._print(x)
        if axis is not None:
            dim = int(axis) - nd if nd > 0 else -1
            return f"{func}({text}, dim={dim})"
        if nd >= 2:
            return f"{func}({self._atom(x)}.flatten(-{nd}), dim=-1, keepdim=True)"
        return f"{func}({text}, dim=-1, keepdim=True)"

    def _print_VSum(self, expr: sympy.Expr) -> str:
        return self._reduce(expr.args[0], "torch.sum", expr.args[1] if len(expr.args) > 1 else None)

    def _print_Mean(self, expr: sympy.Expr) -> str:
        return self._reduce(
            expr.args[0], "torch.mean", expr.args[1] if len(expr.args) > 1 else None
        )

    def _print_Matvec(self, expr: sympy.Expr) -> str:
        a, x = expr.args
        if isinstance(expr, rb.Matmul) and self.ndim(x) >= 2:
            return f"torch.matmul({self._print(a)}, {self._print(x)})"
        self.helpers.add("matvec_")
        return f"matvec_({self._print(a)}, {self._print(x)})"

    def _index_text(self, i: sympy.Expr, keep: bool) -> str:
        """An index: integers keep their axis (``k:k+1``) when ``keep``; symbols are index
        arrays (gathers)."""
        if i.is_Number:
            k = int(i)
            if keep:
                return f"{k}:{k + 1}" if k != -1 else f"{k}:"
            return str(k)
        return self._print(i)

    def _print_Index(self, expr: sympy.Expr) -> str:
        x, *idx = expr.args
        parts = [self._index_text(i, keep=(n == len(idx) - 1)) for n, i in enumerate(idx)]
        nd = self.ndim(x)
        if len(idx) < nd:  # a row of a matrix: keep the remaining axes
            parts[-1] = self._index_text(idx[-1], keep=False)
            parts += [":"] * (nd - len(idx))
        return f"{self._atom(x)}[..., {', '.join(parts)}]"

    def _print_IndexRange(self, expr: sympy.Expr) -> str:
        x, start, stop = expr.args
        rest = ", :" * max(self.ndim(x) - 1, 0)
        return f"{self._atom(x)}[..., {self._int(start)}:{self._int(stop)}{rest}]"

    def _print_IndexAxis(self, expr: sympy.Expr) -> str:
        x, *rest = expr.args
        if not rest:
            return self._print(x)
        nd = self.ndim(x)
        axis = int(rest[1]) if len(rest) == 2 else 0
        if nd <= 1:
            return f"{self._atom(x)}[..., {self._index_text(rest[0], keep=True)}]"
        parts = [":"] * nd
        parts[axis] = self._index_text(rest[0], keep=False)
        return f"{self._atom(x)}[..., {', '.join(parts)}]"

    def _print_Interp(self, expr: sympy.Expr) -> str:
        self.helpers.add("interp_")
        return f"interp_({', '.join(self._print(a) for a in expr.args)})"

    def _print_Concatenate(self, expr: sympy.Expr) -> str:
        self.helpers.add("cat_")
        return f"cat_({', '.join(self._print(a) for a in expr.args)})"

    def _print_Randn(self, expr: sympy.Expr) -> str:
        self.helpers.add("randn_")
        if not expr.args:
            return "randn_(y, 1)"
        if len(expr.args) > 1:
            raise NotImplementedError("randn with more than one dimension in torch code")
        return f"randn_(y, {self._int(expr.args[0])})"


for _name in _TORCH_FUNCTIONS:
    setattr(TorchPrinter, f"_print_{_name}", TorchPrinter._print_Function)
