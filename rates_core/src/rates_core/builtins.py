"""Equation-level functions, constants and reserved names, as sympy objects.

The restricted equation parser (:mod:`rates_core.equations`) turns every call in an equation into
one of the callables of :data:`CORE_FUNCTIONS` (or a plugin-registered undefined function), so a
model file can only ever build sympy expressions from this fixed vocabulary. Functions without a
sympy counterpart are small ``sympy.Function`` subclasses carrying a ``rates_name`` attribute, which
backends use to look up how to print them.
"""

from __future__ import annotations

import keyword
import operator
from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType
from typing import Any

import sympy
from sympy import S
from sympy.core.function import ArgumentIndexError
from sympy.core.logic import fuzzy_and

__all__ = [
    "CONSTANTS",
    "CORE_FUNCTIONS",
    "FUNCTION_ARITY",
    "RATES_FUNCTION_CLASSES",
    "RESERVED_NAMES",
    "TIME",
    "Concatenate",
    "Equal",
    "Greater",
    "GreaterEqual",
    "Index",
    "IndexAxis",
    "IndexRange",
    "Interp",
    "Less",
    "LessEqual",
    "Matmul",
    "Matvec",
    "Maxi",
    "Mean",
    "Mini",
    "NotEqual",
    "Past",
    "Randn",
    "RatesFunction",
    "Round",
    "VSum",
    "Xi",
    "function_table",
    "make_function",
    "registered_builtin",
    "sigmoid",
]

#: The time symbol ``t`` every equation shares.
TIME = sympy.Symbol("t", real=True)

#: Named constants usable in equations.
CONSTANTS: Mapping[str, sympy.Expr] = MappingProxyType({"pi": sympy.pi, "E": sympy.E, "I": sympy.I})

_ONE = sympy.Float(1.0)
_ZERO = sympy.Float(0.0)


class RatesFunction(sympy.Function):
    """Base of the custom equation functions; ``rates_name`` is the name used in equations."""

    rates_name: str = ""


# --------------------------------------------------------------------------- comparisons


def _numeric_compare(
    op: Callable[[Any, Any], Any], a: sympy.Expr, b: sympy.Expr, *, ordered: bool
) -> bool | None:
    """``op(a, b)`` for two numbers, the way float64 code would compute it; None if undecided.

    Exact rationals compare exactly; anything involving a Float or an irrational constant is
    compared as Python floats (complex for ``==`` / ``!=``), so ``0.1 > 1/10`` is false, as in
    NumPy.
    """
    if not (a.is_number and b.is_number):
        return None
    if a.is_Rational and b.is_Rational:
        return bool(op(a, b))
    try:
        if ordered:
            return bool(op(float(a), float(b)))
        return bool(op(complex(a), complex(b)))
    except (TypeError, ValueError, OverflowError):  # complex operands of an ordering, etc.
        return None


class _Comparison(RatesFunction):
    """``op(a, b)``: 1.0 where the comparison holds, else 0.0; derivative 0 everywhere."""

    nargs = 2
    is_real = True
    _op: Callable[[Any, Any], Any]  # an operator module comparison on sympy numbers
    _ordered = True  # whether the comparison needs real (ordered) operands

    @classmethod
    def eval(cls, a: sympy.Expr, b: sympy.Expr) -> sympy.Expr | None:
        truth = _numeric_compare(cls._op, a, b, ordered=cls._ordered)
        if truth is None:
            return None
        return _ONE if truth else _ZERO

    def fdiff(self, argindex: int = 1) -> sympy.Expr:
        if argindex not in (1, 2):
            raise ArgumentIndexError(self, argindex)
        return S.Zero


class Greater(_Comparison):
    """``greater(a, b)``: 1.0 where a > b, else 0.0 (``a > b`` in equations)."""

    rates_name = "greater"
    _op = staticmethod(operator.gt)


class GreaterEqual(_Comparison):
    """``greater_equal(a, b)``: 1.0 where a >= b, else 0.0 (``a >= b``)."""

    rates_name = "greater_equal"
    _op = staticmethod(operator.ge)


class Less(_Comparison):
    """``less(a, b)``: 1.0 where a < b, else 0.0 (``a < b``)."""

    rates_name = "less"
    _op = staticmethod(operator.lt)


class LessEqual(_Comparison):
    """``less_equal(a, b)``: 1.0 where a <= b, else 0.0 (``a <= b``)."""

    rates_name = "less_equal"
    _op = staticmethod(operator.le)


class Equal(_Comparison):
    """``equal(a, b)``: 1.0 where a == b, else 0.0 (``a == b``; complex operands allowed)."""

    rates_name = "equal"
    _op = staticmethod(operator.eq)
    _ordered = False


class NotEqual(_Comparison):
    """``not_equal(a, b)``: 1.0 where a != b, else 0.0 (``a != b``; complex operands allowed)."""

    rates_name = "not_equal"
    _op = staticmethod(operator.ne)
    _ordered = False


# --------------------------------------------------------------------------- elementwise scalar


class Round(RatesFunction):
    """``round(x)``: round half to even (NumPy's rule); derivative 0."""

    rates_name = "round"
    nargs = 1

    @classmethod
    def eval(cls, x: sympy.Expr) -> sympy.Expr | None:
        if x.is_Number and x.is_comparable:
            return sympy.Float(round(float(x)))
        return None

    def _eval_is_real(self) -> bool | None:
        return self.args[0].is_real

    def fdiff(self, argindex: int = 1) -> sympy.Expr:
        if argindex != 1:
            raise ArgumentIndexError(self, argindex)
        return S.Zero


class _Extremum(RatesFunction):
    """Shared logic of ``maxi`` / ``mini``: one argument reduces, two act elementwise."""

    nargs = (1, 2)

    _first_wins: Callable[[Any, Any], Any]  # operator.ge for maxi, operator.le for mini

    @classmethod
    def eval(cls, *args: sympy.Expr) -> sympy.Expr | None:
        if len(args) == 1:
            (x,) = args
            # The reduction of a single number is that number; a symbol may be a vector.
            return x if x.is_number else None
        a, b = args
        truth = _numeric_compare(cls._first_wins, a, b, ordered=True)
        if truth is None:
            return None
        return a if truth else b

    def _eval_is_real(self) -> bool | None:
        return fuzzy_and(arg.is_real for arg in self.args)

    def _derivative_switch(self) -> sympy.Expr:  # pragma: no cover - abstract
        raise NotImplementedError

    def fdiff(self, argindex: int = 1) -> sympy.Expr:
        if len(self.args) == 1:
            return super().fdiff(argindex)
        if argindex == 1:
            return self._derivative_switch()
        if argindex == 2:
            return 1 - self._derivative_switch()
        raise ArgumentIndexError(self, argindex)


class Maxi(_Extremum):
    """``maxi(a, b)``: elementwise maximum; ``maxi(x)``: maximum over a vector.

    d maxi(a, b)/da = greater(a, b) and d/db = 1 - greater(a, b).
    """

    rates_name = "maxi"
    _first_wins = staticmethod(operator.ge)

    def _derivative_switch(self) -> sympy.Expr:
        return Greater(*self.args)


class Mini(_Extremum):
    """``mini(a, b)``: elementwise minimum; ``mini(x)``: minimum over a vector.

    d mini(a, b)/da = less(a, b) and d/db = 1 - less(a, b).
    """

    rates_name = "mini"
    _first_wins = staticmethod(operator.le)

    def _derivative_switch(self) -> sympy.Expr:
        return Less(*self.args)


# --------------------------------------------------------------------------- vector functions


#: Equation functions that act elementwise (a variable recorded in the history may use them).
ELEMENTWISE: tuple[type, ...] = (_Comparison, Round, Maxi, Mini)


class VSum(RatesFunction):
    """``vsum(x[, axis])``: sum over the elements of a vector (or along an axis)."""

    rates_name = "vsum"
    nargs = (1, 2)


class Mean(RatesFunction):
    """``mean(x[, axis])``: mean of the elements of a vector (or along an axis)."""

    rates_name = "mean"
    nargs = (1, 2)


class Matmul(RatesFunction):
    """``matmul(A, B)``: matrix product. (Not ``MatMul``: sympy's printers own that name.)"""

    rates_name = "matmul"
    nargs = 2


class Matvec(RatesFunction):
    """``matvec(A, x)``: matrix-vector product."""

    rates_name = "matvec"
    nargs = 2


class Index(RatesFunction):
    """``index(x, i)`` (or ``index(x, i, j)`` for a matrix): element(s) of x, 0-based."""

    rates_name = "index"
    nargs = (2, 3)


class IndexRange(RatesFunction):
    """``index_range(x, start, stop)``: the slice x[start:stop], 0-based."""

    rates_name = "index_range"
    nargs = 3


class IndexAxis(RatesFunction):
    """``index_axis(x[, idx[, axis]])``: x[idx] along axis 0 or 1 (PyRates semantics)."""

    rates_name = "index_axis"
    nargs = (1, 2, 3)


class Interp(RatesFunction):
    """``interp(x_new, x, y)``: linear interpolation, like ``numpy.interp``."""

    rates_name = "interp"
    nargs = 3


class Concatenate(RatesFunction):
    """``concatenate(a, b, ...)``: join vectors end to end."""

    rates_name = "concatenate"

    @classmethod
    def eval(cls, *args: sympy.Expr) -> None:  # variadic: sympy infers nargs from *args
        return None


class Randn(RatesFunction):
    """``randn(*shape)``: standard normal samples.

    Note: sympy caches function applications, so two identical ``randn(...)`` calls in one
    expression are one object (``randn() - randn()`` is 0).
    """

    rates_name = "randn"

    @classmethod
    def eval(cls, *args: sympy.Expr) -> None:  # variadic: sympy infers nargs from *args
        return None


class Xi(RatesFunction):
    """``xi()``: Gaussian white noise, dW/dt of one Wiener process per unit and variable.

    Allowed only linearly in differential equations (``x' = f + g * xi()``): the core splits
    such an equation into drift ``f`` and diffusion ``g`` (:mod:`rates_core.noise`), and an SDE
    solver draws the increments. Like ``randn()``, every ``xi()`` of one equation is the same
    object, so ``xi() + xi()`` is ``2*xi()``: one Wiener process, not two.
    """

    rates_name = "xi"
    nargs = 0
    is_real = True


class Past(RatesFunction):
    """``past(x, tau)``: the value of x at time t - tau (a delayed read).

    Evaluation normalises delays so that backends only ever see ``Past(symbol, tau)``:
    ``past(x, 0)`` is x, a constant is itself, ``past(t, tau)`` is t - tau, nested delays add up,
    and a compound expression is delayed symbol by symbol (``past(x + y, d)`` becomes
    ``past(x, d) + past(y, d)``). Its derivative is 0: a delayed value does not depend on the
    current state (the instantaneous Jacobian of a delay equation treats it as an input).
    """

    rates_name = "past"
    nargs = 2

    @classmethod
    def eval(cls, x: sympy.Expr, tau: sympy.Expr) -> sympy.Expr | None:
        if tau.is_negative:
            raise ValueError(f"a delay must not be negative, got {tau}")
        if x.has(Xi):
            raise ValueError("white noise xi() cannot be delayed")
        if tau.is_zero:
            return x
        if x == TIME:
            return TIME - tau
        if not x.free_symbols:
            return x
        if isinstance(x, Past):
            return cls(x.args[0], x.args[1] + tau)
        if isinstance(x, sympy.Symbol):
            return None
        replacements = {s: cls(s, tau) for s in x.free_symbols}
        return x.xreplace(replacements)

    def _eval_is_real(self) -> bool | None:
        return self.args[0].is_real

    def _eval_derivative(self, s: sympy.Symbol) -> sympy.Expr:
        return S.Zero


# --------------------------------------------------------------------------- registry


def sigmoid(x: sympy.Expr) -> sympy.Expr:
    """``sigmoid(x)`` = 1 / (1 + exp(-x)), expanded when the equation is parsed."""
    return 1 / (1 + sympy.exp(-x))


#: Custom function classes by equation-level name.
RATES_FUNCTION_CLASSES: Mapping[str, type[RatesFunction]] = MappingProxyType(
    {
        cls.rates_name: cls
        for cls in (
            Round,
            Maxi,
            Mini,
            VSum,
            Mean,
            Matmul,
            Matvec,
            Index,
            IndexRange,
            IndexAxis,
            Interp,
            Concatenate,
            Randn,
            Xi,
            Past,
            Greater,
            GreaterEqual,
            Less,
            LessEqual,
            Equal,
            NotEqual,
        )
    }
)

_SYMPY_FUNCTIONS: dict[str, Callable[..., sympy.Expr]] = {
    "sin": sympy.sin,
    "cos": sympy.cos,
    "tan": sympy.tan,
    "sinh": sympy.sinh,
    "cosh": sympy.cosh,
    "tanh": sympy.tanh,
    "arcsin": sympy.asin,
    "arccos": sympy.acos,
    "arctan": sympy.atan,
    "exp": sympy.exp,
    "log": sympy.log,
    "sqrt": sympy.sqrt,
    "abs": sympy.Abs,
    "absv": sympy.Abs,
    "sign": sympy.sign,
    "real": sympy.re,
    "imag": sympy.im,
    "conj": sympy.conjugate,
    "sigmoid": sigmoid,
}

#: Every built-in equation function: name -> callable taking sympy args, returning an expression.
CORE_FUNCTIONS: Mapping[str, Callable[..., sympy.Expr]] = MappingProxyType(
    {**_SYMPY_FUNCTIONS, **RATES_FUNCTION_CLASSES}
)


def _arity(cls: type[RatesFunction]) -> tuple[int, int | None]:
    """(minimum, maximum) argument count from a class's sympy ``nargs``."""
    if cls is Concatenate:
        return (1, None)
    if cls is Randn:
        return (0, None)
    counts = [int(n) for n in cls.nargs]
    return (min(counts), max(counts))


#: Allowed argument counts (minimum, maximum or None for any number) of the core functions.
FUNCTION_ARITY: Mapping[str, tuple[int, int | None]] = MappingProxyType(
    {
        **{name: (1, 1) for name in _SYMPY_FUNCTIONS},
        **{name: _arity(cls) for name, cls in RATES_FUNCTION_CLASSES.items()},
    }
)

#: Names a model may not use for a variable.
RESERVED_NAMES: frozenset[str] = frozenset({"y", "dy", TIME.name, *CONSTANTS, *CORE_FUNCTIONS})


def make_function(name: str) -> type[sympy.Function]:
    """An undefined sympy function ``name`` (with ``rates_name``) for a plugin-registered builtin.

    Backends print it by name; the parser does not check its argument count.
    Raises ValueError for names that are not plain identifiers or clash with reserved names.
    """
    if not (isinstance(name, str) and name.isidentifier() and name.isascii()):
        raise ValueError(f"function name {name!r} is not a valid identifier")
    if keyword.iskeyword(name) or name.startswith("__"):
        raise ValueError(f"function name {name!r} is a Python keyword or a dunder name")
    if name in RESERVED_NAMES and name not in CORE_FUNCTIONS:
        raise ValueError(f"function name {name!r} is reserved")
    return sympy.Function(name, rates_name=name)


def function_table(extra_names: Iterable[str] = ()) -> dict[str, Callable[..., sympy.Expr]]:
    """A fresh function table: the core functions plus plugin-registered ``extra_names``.

    Extra names that shadow a core function are ignored (the core definition wins).
    """
    table: dict[str, Callable[..., sympy.Expr]] = dict(CORE_FUNCTIONS)
    for name in extra_names:
        if name not in table:
            table[name] = make_function(name)
    return table


def registered_builtin(
    expr: sympy.Expr,
    builtins: Mapping[str, object],
    backend: str,
    language: str,
    strings_only: bool = False,
) -> tuple[str, object]:
    """The name of the plugin-registered function that ``expr`` calls and the implementation
    ``builtins`` (a backend's ``register_builtins`` table) holds for it.

    For the printers of every backend: one rule for the name (``rates_name``) and one error
    when the backend has no implementation, or (``strings_only``, for generated languages
    other than Python) when the implementation is not the name of a ``language`` function.
    Raises :class:`~rates_core.errors.UnsupportedExpressionError` (a NotImplementedError).
    """
    from rates_core.errors import UnsupportedExpressionError

    name = getattr(expr.func, "rates_name", None) or expr.func.__name__
    if name not in builtins:
        raise UnsupportedExpressionError(
            f"function {name!r} has no {language} implementation (no plugin registers it for "
            f"the {backend} backend)",
            function=name,
            backend=backend,
        )
    impl = builtins[name]
    if strings_only and not isinstance(impl, str):
        raise UnsupportedExpressionError(
            f"function {name!r}: a builtin of the {backend} backend must be the name of a "
            f"{language} function (a string), not {type(impl).__name__}",
            function=name,
            backend=backend,
        )
    return name, impl
