"""The printer mixin every backend's sympy printer starts from (SymPy's code-printer pattern).

A backend printer is ``class MyPrinter(RatesPrinter, SomeSympyCodePrinter)`` plus tables:

* ``backend`` / ``language``: the backend's name and the language it prints (for messages);
* ``comparison_ops``: rates comparison class -> the language's operator; the printer writes
  ``_compare(op, a, b)`` once, and all six comparisons (``greater`` ... ``not_equal``) use it;
* ``extrema``: ``"max"`` / ``"min"`` -> the arguments of the printer's ``_extremum``;
* ``unary_functions``: sympy function name (``re``, ``im``, ``conjugate``, ``Abs``, ``sign``)
  -> a template such as ``"aimag({})"``;
* ``literals``: sympy atom class name (``Pi``, ``ImaginaryUnit``, ``BooleanTrue``, ...) -> its
  fixed text in the language;
* ``function_calls``: sympy or rates function class name -> a function of the language,
  printed as a plain call ``name(arg, ...)`` (a backend with a runtime library of the rates
  functions is just this table);
* ``builtin_strings_only``: whether plugin builtins must be names of functions of the language
  (``True``), or may also be Python callables injected into the generated module;
* ``brackets``: how the language subscripts (``"[]"`` or ``"()"``). ``index``, ``index_range``
  and ``index_axis`` are printed once here; a backend says how a 0-based index of the equations
  reads in its language (:meth:`RatesPrinter._index`, :meth:`RatesPrinter._range_stop`) and
  how it takes a row or a column (:meth:`RatesPrinter._axis_entry`).

A printer calls :meth:`RatesPrinter._init_rates` in its ``__init__``: the plugin builtins, the
callables to inject into the generated module, the helpers the printed code calls.

One rule for expressions a backend cannot print: :meth:`RatesPrinter._print_not_supported`
raises :class:`rates_core.errors.UnsupportedExpressionError` naming the function and the
backend, in place of sympy's mix of ``AttributeError``, silent ``% Not supported`` comments and
``PrintMethodNotImplementedError``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

import sympy
from sympy.printing.codeprinter import CodePrinter

from rates_core import builtins as rb
from rates_core.errors import UnsupportedExpressionError

__all__ = ["COMPARISONS", "COMPARISON_OPS", "RatesPrinter", "float_literal"]

#: The rates comparison functions, in a fixed order.
COMPARISONS: tuple[type, ...] = (
    rb.Greater,
    rb.GreaterEqual,
    rb.Less,
    rb.LessEqual,
    rb.Equal,
    rb.NotEqual,
)

#: The rates comparisons as operators of C-like languages (the default ``comparison_ops``).
COMPARISON_OPS: Mapping[type, str] = dict(zip(COMPARISONS, (">", ">=", "<", "<=", "==", "!=")))


def float_literal(value: float, nan: str, inf: str, minus_inf: str) -> str:
    """``value`` as the shortest decimal text that reads back as the same double (Python's
    ``repr``), or the language's text for NaN (``nan``) and the infinities."""
    if math.isnan(value):
        return nan
    if math.isinf(value):
        return inf if value > 0 else minus_inf
    return repr(float(value))


_SYMPY_NOT_SUPPORTED = CodePrinter.__dict__["_print_not_supported"]


class RatesPrinter:
    """Mixin for the printers of every backend (put it first among the bases)."""

    backend: ClassVar[str] = ""
    language: ClassVar[str] = ""
    comparison_ops: ClassVar[Mapping[type, Any]] = COMPARISON_OPS
    extrema: ClassVar[Mapping[str, tuple[str, ...]]] = {}
    unary_functions: ClassVar[Mapping[str, str]] = {}
    function_calls: ClassVar[Mapping[str, str]] = {}
    literals: ClassVar[Mapping[str, str]] = {}
    builtin_strings_only: ClassVar[bool] = True
    brackets: ClassVar[str] = "[]"

    rates_builtins: dict[str, Any]
    injected: dict[str, Callable[..., Any]]
    helpers: set[str]
    _print: Callable[..., str]  # the methods of sympy's printers (the other base)
    parenthesize: Callable[..., str]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # sympy aliases many _print_X to CodePrinter._print_not_supported at class creation;
        # point those aliases at the one rates rule
        for name in dir(cls):
            if name.startswith("_print_") and getattr(cls, name) is _SYMPY_NOT_SUPPORTED:
                setattr(cls, name, RatesPrinter._print_not_supported)
        for name in cls.unary_functions:
            setattr(cls, f"_print_{name}", RatesPrinter._print_unary)
        for name in cls.function_calls:
            setattr(cls, f"_print_{name}", RatesPrinter._print_function_call)
        for name in cls.literals:
            setattr(cls, f"_print_{name}", RatesPrinter._print_literal)

    def _init_rates(self, builtins: Mapping[str, Any] | None) -> None:
        """The state of one printer: ``rates_builtins`` (plugin builtins: equation name -> the
        function's name in the language, or a Python callable), ``injected`` (callables to place
        in the generated module: name -> object) and ``helpers`` (names of the helper functions
        of the generated code the printed text calls)."""
        self.rates_builtins = dict(builtins or {})
        self.injected = {}
        self.helpers = set()

    # ---------------------------------------------------------------- the one rule

    def _print_not_supported(self, expr: Any) -> str:
        """Every expression the backend has no code for ends here: one clear error."""
        func = getattr(getattr(expr, "func", None), "__name__", type(expr).__name__)
        func = getattr(getattr(expr, "func", None), "rates_name", "") or func
        raise UnsupportedExpressionError(
            f"the {self.backend} backend cannot print {func!r} ({expr}): {self.language} "
            "code has no such function",
            function=func,
            backend=self.backend,
        )

    _print_Derivative = _print_not_supported

    def _print_Xi(self, expr: sympy.Expr) -> str:
        raise UnsupportedExpressionError(
            "white noise xi() has no vector field: the model is an SDE, which only run() "
            "integrates, with solver='euler_maruyama' or 'heun_stochastic' on a backend with "
            "the 'sde' capability",
            function="xi",
            backend=self.backend,
        )

    def _print_Past(self, expr: sympy.Expr) -> str:
        raise NotImplementedError("delayed reads are resolved before printing")

    # ---------------------------------------------------------------- helpers

    def _args(self, expr: sympy.Expr) -> list[str]:
        return [self._print(a) for a in expr.args]

    def _atom(self, expr: sympy.Expr) -> str:
        """``expr`` printed so that it can be indexed or called (parenthesised unless atomic)."""
        text = self._print(expr)
        if isinstance(expr, sympy.Symbol) or text.isidentifier():
            return text
        return f"({text})"

    def _call(self, name: str, expr: sympy.Expr) -> str:
        """``name(arg, ...)`` with ``expr``'s arguments."""
        return f"{name}({', '.join(self._args(expr))})"

    # ---------------------------------------------------------------- subscripts

    def _index(self, expr: sympy.Expr) -> str:
        """A 0-based index of the equations as an index of the language (default: 0-based;
        numbers print as integers, index parameters as they are)."""
        if expr.is_Integer:
            return str(int(expr))
        if expr.is_Number:
            return str(int(float(expr)))
        return self._print(expr)

    def _range_stop(self, stop: sympy.Expr) -> str:
        """The exclusive 0-based end ``stop`` of ``index_range`` as the end of a range of the
        language (default: :meth:`_index`; 1-based languages with inclusive ends keep ``stop``)."""
        return self._index(stop)

    def _subscript(self, x: sympy.Expr, parts: Sequence[str]) -> str:
        """``x`` subscripted by the printed ``parts`` (``x[i, j]``, or ``x(i, j)``)."""
        return f"{self._atom(x)}{self.brackets[0]}{', '.join(parts)}{self.brackets[1]}"

    def _axis_entry(self, x: sympy.Expr, idx: str, column: bool) -> str:
        """Entry ``idx`` (printed) of ``x`` along axis 1 (``column``: ``x[:, idx]``) or along
        axis 0 (``x[idx]``)."""
        return self._subscript(x, [":", idx] if column else [idx])

    def _print_Index(self, expr: sympy.Expr) -> str:
        x, *idx = expr.args
        return self._subscript(x, [self._index(i) for i in idx])

    def _print_IndexRange(self, expr: sympy.Expr) -> str:
        x, start, stop = expr.args
        return self._subscript(x, [f"{self._index(start)}:{self._range_stop(stop)}"])

    def _print_IndexAxis(self, expr: sympy.Expr) -> str:
        x, *rest = expr.args
        if not rest:
            return self._print(x)
        column = len(rest) == 2 and rest[1].is_Number and int(rest[1]) == 1
        return self._axis_entry(x, self._index(rest[0]), column)

    # ---------------------------------------------------------------- tables

    def _print_unary(self, expr: sympy.Expr) -> str:
        return self.unary_functions[type(expr).__name__].format(self._print(expr.args[0]))

    def _print_literal(self, expr: Any) -> str:
        return self.literals[type(expr).__name__]

    def _print_function_call(self, expr: sympy.Expr) -> str:
        return self._call(self.function_calls[type(expr).__name__], expr)

    def _compare(self, op: Any, a: sympy.Expr, b: sympy.Expr) -> str:
        """A comparison as a real 0/1 value; every backend prints this once."""
        raise NotImplementedError

    def _comparison(self, expr: sympy.Expr) -> str:
        a, b = expr.args
        return self._compare(self.comparison_ops[type(expr)], a, b)

    _print_Greater = _comparison
    _print_GreaterEqual = _comparison
    _print_Less = _comparison
    _print_LessEqual = _comparison
    _print_Equal = _comparison
    _print_NotEqual = _comparison

    #: ``_extremum(expr, *extrema["max"])`` (or ``"min"``): ``max`` / ``min`` of one argument
    #: (a reduction) or of two; each printer with ``extrema`` defines it
    _extremum: Callable[..., str]

    def _print_Maxi(self, expr: sympy.Expr) -> str:
        if "max" not in self.extrema:
            return self._print_not_supported(expr)
        return self._extremum(expr, *self.extrema["max"])

    def _print_Mini(self, expr: sympy.Expr) -> str:
        if "min" not in self.extrema:
            return self._print_not_supported(expr)
        return self._extremum(expr, *self.extrema["min"])

    def _reduce(self, expr: sympy.Expr, func: str) -> str:
        """``vsum`` / ``mean`` (``func`` is ``"sum"`` / ``"mean"``), with an optional axis."""
        return self._print_not_supported(expr)

    def _print_VSum(self, expr: sympy.Expr) -> str:
        return self._reduce(expr, "sum")

    def _print_Mean(self, expr: sympy.Expr) -> str:
        return self._reduce(expr, "mean")

    def _print_Matmul(self, expr: sympy.Expr) -> str:
        return self._print_Matvec(expr)

    def _print_Matvec(self, expr: sympy.Expr) -> str:
        return self._print_not_supported(expr)

    # ---------------------------------------------------------------- plugin builtins

    def _print_AppliedUndef(self, expr: sympy.Expr) -> str:
        """A plugin-registered builtin: its name in the language, or an injected callable."""
        name, impl = rb.registered_builtin(
            expr,
            self.rates_builtins,
            self.backend,
            self.language,
            strings_only=self.builtin_strings_only,
        )
        if callable(impl):
            self.injected[f"{name}_"] = impl
            return self._call(f"{name}_", expr)
        return self._call(str(impl), expr)
