"""Printers from sympy expressions of a System to Python source.

:class:`VectorPrinter` extends sympy's NumPy printer with the rates builtins (``matvec`` as ``@``,
``index`` as ``x[idx]``, comparisons as float masks, ...). :class:`ScalarPrinter` prints for
systems whose symbols are all scalars with the ``math`` / ``cmath`` modules and plain Python
operators: Python floats are about ten times faster than NumPy scalars, and ``Piecewise`` / ``Max``
stay ternaries and ``max(...)`` instead of ``numpy.select`` / ``functools.reduce``.

Names: every symbol prints as its System name, except names that would shadow something the
generated code uses (Python builtins such as ``max`` or ``range``, the ``cmath`` module): those
get a trailing underscore. System names never end with an underscore, so helper names of the
generated code (``rng_``, ``sign_``, ``r_k1_``) cannot clash with them either.
"""

from __future__ import annotations

import builtins as _py_builtins
from collections.abc import Callable, Mapping
from typing import Any

import sympy
from sympy.printing.numpy import NumPyPrinter
from sympy.printing.pycode import PythonCodePrinter

from rates_core import builtins as rb
from rates_core.codegen.printer import RatesPrinter, float_literal

__all__ = ["SHADOWED_NAMES", "ScalarPrinter", "VectorPrinter", "safe_name"]

#: Names a System variable may have but the generated code must not shadow.
SHADOWED_NAMES = frozenset(
    set(dir(_py_builtins)) | {"cmath", "functools", "scipy", "numpy", "math", "np"}
)

#: Functions the ``cmath`` module has (used for arguments that are not known to be real).
_CMATH = frozenset(
    {
        "exp",
        "log",
        "log10",
        "sqrt",
        "sin",
        "cos",
        "tan",
        "asin",
        "acos",
        "atan",
        "sinh",
        "cosh",
        "tanh",
        "asinh",
        "acosh",
        "atanh",
    }
)

_COMPARISONS: dict[type, tuple[str, str]] = {
    rb.Greater: ("greater", ">"),
    rb.GreaterEqual: ("greater_equal", ">="),
    rb.Less: ("less", "<"),
    rb.LessEqual: ("less_equal", "<="),
    rb.Equal: ("equal", "=="),
    rb.NotEqual: ("not_equal", "!="),
}


def safe_name(name: str) -> str:
    """The Python name a System symbol gets in generated code (``x[3]`` keeps its index)."""
    base, bracket, rest = name.partition("[")
    if base in SHADOWED_NAMES:
        base += "_"
    return base + bracket + rest


class _RatesPrinting(RatesPrinter):
    """Printing shared by both printers; subclasses set ``_mod`` and ``vector``."""

    backend = "numpy"
    language = "NumPy"
    comparison_ops = _COMPARISONS
    extrema = {"max": ("max", "maximum", "max"), "min": ("min", "minimum", "min")}
    builtin_strings_only = False
    literals = {"ImaginaryUnit": "1j"}
    _mod = "numpy"
    vector = True
    _hprint_Pow: Callable[..., str]  # of sympy's Python printers (the other base)

    # ---------------------------------------------------------------- atoms

    def _print_Symbol(self, expr: sympy.Symbol) -> str:
        return safe_name(expr.name)

    _print_Dummy = _print_Symbol

    def _print_Float(self, expr: sympy.Float) -> str:
        m = self._mod
        return float_literal(float(expr), f"{m}.nan", f"{m}.inf", f"(-{m}.inf)")

    def _print_Integer(self, expr: sympy.Integer) -> str:
        return str(int(expr))

    def _print_Pow(self, expr: sympy.Pow, rational: bool = False) -> str:
        return self._hprint_Pow(expr, rational=rational, sqrt=self._sqrt_name(expr.base))

    def _sqrt_name(self, base: sympy.Expr) -> str:
        return f"{self._mod}.sqrt"

    # ---------------------------------------------------------------- rates builtins

    def _print_Matvec(self, expr: sympy.Expr) -> str:
        a, x = expr.args
        return f"({self._atom(a)} @ {self._atom(x)})"

    def _reduce(self, expr: sympy.Expr, func: str) -> str:
        if not self.vector:  # every symbol is a scalar: reducing one value is that value
            return self._print(expr.args[0])
        x = self._print(expr.args[0])
        if len(expr.args) == 2:
            return f"{self._mod}.{func}({x}, axis={self._index(expr.args[1])})"
        return f"{self._mod}.{func}({x})"

    def _extremum(self, expr: sympy.Expr, reduce: str, pair: str, builtin: str) -> str:
        if len(expr.args) == 1:
            return self._reduce(expr, reduce)
        a, b = self._args(expr)
        if self.vector:
            return f"{self._mod}.{pair}({a}, {b})"
        return f"{builtin}({a}, {b})"

    def _compare(self, op: Any, a: sympy.Expr, b: sympy.Expr) -> str:
        func, op = op
        if self.vector:
            return f"{self._mod}.{func}({self._print(a)}, {self._print(b)}).astype(float)"
        prec = 45  # below arithmetic, above the ternary
        return f"(1.0 if {self.parenthesize(a, prec)} {op} {self.parenthesize(b, prec)} else 0.0)"

    def _print_Round(self, expr: sympy.Expr) -> str:
        (x,) = self._args(expr)
        if self.vector:
            return f"{self._mod}.round({x})"
        return f"float(round({x}))"  # Python rounds half to even, like NumPy

    def _print_Interp(self, expr: sympy.Expr) -> str:
        return f"numpy.interp({', '.join(self._args(expr))})"

    def _print_Concatenate(self, expr: sympy.Expr) -> str:
        return f"numpy.hstack(({', '.join(self._args(expr))},))"

    def _print_Randn(self, expr: sympy.Expr) -> str:
        if not expr.args:
            return "rng_.standard_normal()"
        shape = ", ".join(self._index(a) for a in expr.args)
        return f"rng_.standard_normal(({shape},))"

    # ---------------------------------------------------------------- sympy functions

    def _print_re(self, expr: sympy.Expr) -> str:
        if self.vector:
            return f"{self._mod}.real({self._print(expr.args[0])})"
        return f"{self._atom(expr.args[0])}.real"

    def _print_im(self, expr: sympy.Expr) -> str:
        if self.vector:
            return f"{self._mod}.imag({self._print(expr.args[0])})"
        return f"{self._atom(expr.args[0])}.imag"

    def _print_conjugate(self, expr: sympy.Expr) -> str:
        if self.vector:
            return f"{self._mod}.conj({self._print(expr.args[0])})"
        return f"{self._atom(expr.args[0])}.conjugate()"

    def _print_Abs(self, expr: sympy.Expr) -> str:
        if self.vector:
            return f"{self._mod}.abs({self._print(expr.args[0])})"
        return f"abs({self._print(expr.args[0])})"

    def _print_sign(self, expr: sympy.Expr) -> str:
        if self.vector:
            return f"{self._mod}.sign({self._print(expr.args[0])})"
        return f"sign_({self._print(expr.args[0])})"


class VectorPrinter(_RatesPrinting, NumPyPrinter):
    """sympy's NumPy printer with the rates builtins; symbols may be arrays of any size."""

    _mod = "numpy"
    vector = True

    def __init__(
        self, builtins: Mapping[str, Any] | None = None, settings: dict | None = None
    ) -> None:
        NumPyPrinter.__init__(self, {"strict": True, **(settings or {})})
        self._init_rates(builtins)


class ScalarPrinter(_RatesPrinting, PythonCodePrinter):
    """Plain-Python printer for all-scalar systems: ``math`` for real arguments, else ``cmath``.

    ``complex_ok`` says whether the system has complex values at all; without it every function
    prints from ``math``.
    """

    _mod = "math"
    vector = False

    def __init__(
        self,
        builtins: Mapping[str, Any] | None = None,
        complex_ok: bool = False,
        settings: dict | None = None,
    ) -> None:
        PythonCodePrinter.__init__(self, {"strict": True, **(settings or {})})
        self._init_rates(builtins)
        self.complex_ok = complex_ok

    def _module_for(self, name: str, args: tuple[sympy.Expr, ...]) -> str:
        if self.complex_ok and name in _CMATH and not all(a.is_real for a in args):
            return "cmath"
        return "math"

    def _sqrt_name(self, base: sympy.Expr) -> str:
        return f"{self._module_for('sqrt', (base,))}.sqrt"

    def _print_known_function(self, expr: sympy.Expr) -> str:
        known = self.known_functions[type(expr).__name__]
        name = known.rsplit(".", 1)[-1]
        module = self._module_for(name, expr.args)
        if module == "cmath":
            known = f"cmath.{name}"
        return f"{known}({', '.join(self._args(expr))})"

    def _print_Piecewise(self, expr: sympy.Piecewise) -> str:
        return PythonCodePrinter._print_Piecewise(self, expr)

    def _print_Max(self, expr: sympy.Expr) -> str:
        return f"max({', '.join(self._args(expr))})"

    def _print_Min(self, expr: sympy.Expr) -> str:
        return f"min({', '.join(self._args(expr))})"

    def parenthesize(self, item: Any, level: int, strict: bool = False) -> str:
        return PythonCodePrinter.parenthesize(self, item, level, strict)


for _name in PythonCodePrinter._kf:
    setattr(ScalarPrinter, f"_print_{_name}", ScalarPrinter._print_known_function)
# the rates overrides win over the generic known-function printing
for _name in ("Abs", "sign", "re", "im", "conjugate"):
    setattr(ScalarPrinter, f"_print_{_name}", getattr(_RatesPrinting, f"_print_{_name}"))
