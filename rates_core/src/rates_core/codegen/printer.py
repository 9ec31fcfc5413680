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
  (``True``), or may also be Python callables injected into the generated module.

One rule for expressions a backend cannot print: :meth:`RatesPrinter._print_not_supported`
raises :class:`rates_core.errors.UnsupportedExpressionError` naming the function and the
backend, in place of sympy's mix of ``AttributeError``, silent ``% Not supported`` comments and
``PrintMethodNotImplementedError``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import sympy
from sympy.printing.codeprinter import CodePrinter

from rates_core import builtins as rb
from rates_core.errors import UnsupportedExpressionError

__all__ = ["COMPARISONS", "COMPARISON_OPS", "RatesPrinter"]

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

    rates_builtins: dict[str, Any]
    injected: dict[str, Callable[..., Any]]
    _print: Callable[..., str]

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

    def _extremum(self, expr: sympy.Expr, *names: str) -> str:
        raise NotImplementedError

    def _print_Maxi(self, expr: sympy.Expr) -> str:
        return self._extremum(expr, *self.extrema["max"])

    def _print_Mini(self, expr: sympy.Expr) -> str:
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
