"""The printer mixin of the backend kit: one error for expressions a backend cannot print."""

from __future__ import annotations

import importlib

import pytest
import sympy
from sympy.printing.pycode import PythonCodePrinter

from rates_core import builtins as rb
from rates_core.codegen import RatesPrinter
from rates_core.errors import RatesError, UnsupportedExpressionError

x = sympy.Symbol("x", real=True)
y = sympy.Symbol("y", real=True)


class _TablePrinter(RatesPrinter, PythonCodePrinter):
    """A backend printer written only as tables."""

    backend = "tables"
    language = "Tables"
    comparison_ops = {
        cls: op
        for cls, op in zip(
            (rb.Greater, rb.GreaterEqual, rb.Less, rb.LessEqual, rb.Equal, rb.NotEqual),
            (">", ">=", "<", "<=", "==", "!="),
        )
    }
    function_calls = {"Maxi": "maxi_", "Round": "round_"}
    unary_functions = {"Abs": "abs_({})"}
    literals = {"Pi": "PI_", "BooleanTrue": "yes"}

    def __init__(self) -> None:
        super().__init__({"strict": True})
        self.rates_builtins = {"twice": "twice_impl"}
        self.injected = {}

    def _compare(self, op: str, a: sympy.Expr, b: sympy.Expr) -> str:
        return f"cmp({self._print(a)} {op} {self._print(b)})"


def test_tables_print_the_rates_functions():
    p = _TablePrinter()
    assert p.doprint(rb.Greater(x, y)) == "cmp(x > y)"
    assert p.doprint(rb.NotEqual(x, y)) == "cmp(x != y)"
    assert p.doprint(rb.Maxi(x, y)) == "maxi_(x, y)"
    assert p.doprint(rb.Round(x)) == "round_(x)"
    assert p.doprint(sympy.Abs(x)) == "abs_(x)"
    assert p.doprint(sympy.pi) == "PI_" and p.doprint(sympy.true) == "yes"
    assert p._atom(x) == "x" and p._atom(x + y) == "(x + y)"
    twice = sympy.Function("twice")
    assert p.doprint(twice(x)) == "twice_impl(x)"


@pytest.mark.parametrize(
    "expr, func",
    [
        (sympy.DiracDelta(x), "DiracDelta"),
        (sympy.LambertW(x), "LambertW"),
        (sympy.Derivative(sympy.Function("f")(x), x), "Derivative"),
        (sympy.Function("nowhere")(x), "nowhere"),
    ],
)
def test_unprintable_expression_is_one_clear_error(expr, func):
    with pytest.raises(UnsupportedExpressionError, match=f"'{func}'") as info:
        _TablePrinter().doprint(expr)
    assert isinstance(info.value, RatesError) and isinstance(info.value, NotImplementedError)
    assert info.value.backend == "tables"


def _printers():
    """(backend, printer factory) of each installed built-in plugin and the fixture plugin."""
    specs = [
        ("numpy", "rates_numpy.printer", "VectorPrinter"),
        ("numpy", "rates_numpy.printer", "ScalarPrinter"),
        ("torch", "rates_torch.printer", "TorchPrinter"),
        ("fortran", "rates_fortran.printer", "FortranPrinter"),
        ("julia", "rates_julia.printer", "JuliaPrinter"),
        ("matlab", "rates_matlab.printer", "MatlabPrinter"),
        ("fixture", "rates_fixture_plugin.emit", "FixturePrinter"),
    ]
    for backend, module, cls in specs:
        yield pytest.param(backend, module, cls, id=f"{backend}-{cls}")


@pytest.mark.parametrize("backend, module, cls", list(_printers()))
def test_every_backend_uses_the_one_rule(backend, module, cls):
    """Fortran raised AttributeError and MATLAB printed a silent comment before the kit."""
    try:
        printer = getattr(importlib.import_module(module), cls)()
    except ImportError:
        pytest.skip(f"{module} is not installed")
    expr = sympy.Derivative(sympy.Function("f")(x), x)
    with pytest.raises(UnsupportedExpressionError, match=f"{backend} backend cannot print"):
        printer.doprint(expr)
    undefined = sympy.Function("not_registered")(x)
    with pytest.raises(UnsupportedExpressionError, match="not_registered"):
        printer.doprint(undefined)
