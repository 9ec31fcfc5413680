"""The sympy printer of rates-numba: NumPy calls that numba compiles, for scalars and arrays.

Every symbol prints as its System name (with a trailing underscore where the name would shadow
a Python builtin or a module the generated code uses; System names never end with one, so the
generated helpers' names cannot clash). The same text must compile for scalars and arrays, so
comparisons are ``((a > b)*1.0)``, reductions and ``matvec`` call the overloads of
:mod:`rates_numba.runtime`, and ``re`` / ``im`` are attributes.
"""

from __future__ import annotations

import builtins as _py_builtins
import math
from collections.abc import Callable, Mapping
from typing import Any

import sympy
from sympy.printing.numpy import NumPyPrinter

import rates_core.builtins as rb
from rates_core.codegen.printer import RatesPrinter
from rates_numba import BACKEND

__all__ = ["SHADOWED_NAMES", "NumbaPrinter", "safe_name"]

#: Names a System variable may have but the generated code must not shadow.
SHADOWED_NAMES = frozenset(set(dir(_py_builtins)) | {"cmath", "math", "numpy", "numba", "np", "rt"})

_OPS: dict[type, str] = {
    rb.Greater: ">",
    rb.GreaterEqual: ">=",
    rb.Less: "<",
    rb.LessEqual: "<=",
    rb.Equal: "==",
    rb.NotEqual: "!=",
}


def safe_name(name: str) -> str:
    """The Python name a System symbol gets in generated code."""
    return name + "_" if name in SHADOWED_NAMES else name


class NumbaPrinter(RatesPrinter, NumPyPrinter):
    """sympy's NumPy printer, made to print code numba compiles for scalars and arrays."""

    backend = BACKEND
    language = "numba"
    comparison_ops = _OPS
    extrema = {"max": ("maxr_", "numpy.maximum"), "min": ("minr_", "numpy.minimum")}
    literals = {"ImaginaryUnit": "1j"}
    unary_functions = {
        "re": "({}).real",
        "im": "({}).imag",
        "conjugate": "numpy.conj({})",
        "Abs": "numpy.abs({})",
        "sign": "numpy.sign({})",
    }
    builtin_strings_only = False

    def __init__(self, builtins: Mapping[str, Any] | None = None) -> None:
        NumPyPrinter.__init__(self, {"strict": True, "fully_qualified_modules": True})
        self.rates_builtins: dict[str, Any] = dict(builtins or {})
        self.injected: dict[str, Callable[..., Any]] = {}

    def _print_Symbol(self, expr: sympy.Symbol) -> str:
        return safe_name(expr.name)

    _print_Dummy = _print_Symbol

    def _print_Float(self, expr: sympy.Float) -> str:
        value = float(expr)
        if math.isnan(value):
            return "numpy.nan"
        if math.isinf(value):
            return "numpy.inf" if value > 0 else "(-numpy.inf)"
        return repr(value)

    def _print_Integer(self, expr: sympy.Integer) -> str:
        return str(int(expr))

    def _int(self, expr: sympy.Expr) -> str:
        """An index or axis: a literal integer, or the printed expression."""
        if expr.is_Number:
            return str(int(float(expr)))
        return self._print(expr)

    def _compare(self, op: Any, a: sympy.Expr, b: sympy.Expr) -> str:
        return f"(({self._print(a)} {op} {self._print(b)})*1.0)"

    def _extremum(self, expr: sympy.Expr, *names: str) -> str:
        reduce, pair = names
        if len(expr.args) == 1:
            return f"{reduce}({self._print(expr.args[0])})"
        return f"{pair}({', '.join(self._args(expr))})"

    def _reduce(self, expr: sympy.Expr, func: str) -> str:
        x = self._print(expr.args[0])
        if len(expr.args) == 2:
            axis = self._int(expr.args[1])
            return f"numpy.sum({x}, axis={axis})" if func == "sum" else f"mean_axis_({x}, {axis})"
        return f"{'vsum_' if func == 'sum' else 'mean_'}({x})"

    def _print_Matvec(self, expr: sympy.Expr) -> str:
        return self._call("matvec_", expr)

    def _print_Index(self, expr: sympy.Expr) -> str:
        x, *idx = expr.args
        return f"{self._atom(x)}[{', '.join(self._int(i) for i in idx)}]"

    def _print_IndexRange(self, expr: sympy.Expr) -> str:
        x, start, stop = expr.args
        return f"{self._atom(x)}[{self._int(start)}:{self._int(stop)}]"

    def _print_IndexAxis(self, expr: sympy.Expr) -> str:
        x, *rest = expr.args
        if not rest:
            return self._print(x)
        idx = self._int(rest[0])
        if len(rest) == 2 and rest[1].is_Number and int(rest[1]) == 1:
            return f"{self._atom(x)}[:, {idx}]"
        return f"{self._atom(x)}[{idx}]"

    def _print_Round(self, expr: sympy.Expr) -> str:
        return self._call("numpy.round", expr)

    def _print_Interp(self, expr: sympy.Expr) -> str:
        return self._call("numpy.interp", expr)

    def _print_Concatenate(self, expr: sympy.Expr) -> str:
        parts = ", ".join(f"at1_({a})" for a in self._args(expr))
        return f"numpy.concatenate(({parts},))"

    def _print_Randn(self, expr: sympy.Expr) -> str:
        if not expr.args:
            return "numpy.random.standard_normal()"
        return f"numpy.random.standard_normal({self._int(expr.args[0])})"

    def _print_Piecewise(self, expr: sympy.Piecewise) -> str:
        return self._print_not_supported(expr)
