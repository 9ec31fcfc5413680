"""A printer from sympy expressions of a System to MATLAB / Octave code.

:class:`MatlabPrinter` extends sympy's Octave printer (element-wise operators ``.*``, ``./``,
``.^`` by default, which is what vectorised models need) with the rates builtins and prints
code that is valid in MATLAB and in GNU Octave (no ``!``, ``**``, ``#`` or chained indexing).

Conventions of the generated code: every vector is a column; indices of the equations are
0-based and print 1-based (``index(x, 3)`` is ``x(4)``, an index parameter ``idx`` is used as
``x(idx + 1)``); reductions along an axis and rows of matrices are reshaped to columns.

Names: every symbol prints as its System name, except names that are MATLAB / Octave keywords
or functions the generated code calls (``sum``, ``max``, ``i``, ...): those get a trailing
underscore. System names never end with an underscore, so they cannot clash with the helper
functions of the generated files (``rates_round_``, ...), which do.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sympy
from sympy.printing.octave import OctaveCodePrinter

from rates_core import builtins as rb
from rates_core.codegen.printer import COMPARISON_OPS, RatesPrinter, float_literal

__all__ = ["HELPERS", "RESERVED", "MatlabPrinter", "matlab_name"]

#: MATLAB and Octave keywords, and the functions and constants generated code calls.
RESERVED = frozenset(
    """
    break case catch classdef continue else elseif end for function global if otherwise parfor
    persistent return spmd switch try while do until unwind_protect unwind_protect_cleanup
    end_try_catch end_unwind_protect endfor endfunction endif endswitch endwhile endparfor
    methods events properties enumeration arguments
    abs acos asin atan cos cosh sin sinh tan tanh exp log sqrt sign real imag conj round
    floor fix mod rem max min sum mean interp1 randn rand zeros ones numel reshape double
    complex pi e i j inf Inf nan NaN NA eps true false size isempty any all cell cellfun feval
    odeset ode45 ode23 ode15s dde23 deval struct rng isreal error warning disp fprintf
    sprintf nargin nargout varargin varargout ans exist isfield numel length find ceil
    logical not and or xor power times mtimes plus minus rdivide ldivide transpose
    ctranspose sparse full lookup isrow iscolumn repmat cat horzcat vertcat linspace
    """.split()
)

#: Helper functions the printer may call, with their MATLAB source (local functions).
HELPERS: Mapping[str, str] = {
    "rates_round_": """function r = rates_round_(x)
%RATES_ROUND_ Round half to even (NumPy's rule; MATLAB's round rounds half away from zero).
  r = round(x);
  tie = abs(x - fix(x)) == 0.5;
  r(tie) = 2 * round(x(tie) / 2);
end
""",
    "rates_interp_": """function v = rates_interp_(xq, xp, fp)
%RATES_INTERP_ Linear interpolation like numpy.interp (constant outside the points).
  xq = reshape(xq, [], 1);
  v = interp1(xp(:), fp(:), min(max(xq, xp(1)), xp(end)));
end
""",
}


def matlab_name(name: str) -> str:
    """The MATLAB name of a System symbol; a scalarised entry ``x[3]`` prints as ``x(4)``."""
    base, bracket, rest = name.partition("[")
    if base in RESERVED:
        base += "_"
    if bracket:
        return f"{base}({int(rest.rstrip(']')) + 1})"
    return base


def _float_literal(value: float) -> str:
    text = float_literal(value, "NaN", "Inf", "(-Inf)")
    return text[:-2] if text.endswith(".0") else text


class MatlabPrinter(RatesPrinter, OctaveCodePrinter):
    """sympy's Octave printer with the rates builtins, for MATLAB and Octave.

    ``builtins`` are plugin-registered functions for the matlab backend: equation name ->
    the MATLAB function name to call (a string). ``helpers`` collects the helper functions
    (:data:`HELPERS`) the printed expressions call.
    """

    backend = "matlab"
    language = "MATLAB"
    comparison_ops = {**COMPARISON_OPS, rb.NotEqual: "~="}
    extrema = {"max": ("max",), "min": ("min",)}
    brackets = "()"
    unary_functions = {
        "re": "real({})",
        "im": "imag({})",
        "conjugate": "conj({})",
        "Abs": "abs({})",
        "sign": "sign({})",
    }

    def __init__(
        self, builtins: Mapping[str, Any] | None = None, settings: dict | None = None
    ) -> None:
        super().__init__({"strict": False, **(settings or {})})
        self._init_rates(builtins)

    # ---------------------------------------------------------------- atoms

    def _print_Symbol(self, expr: sympy.Symbol) -> str:
        return matlab_name(expr.name)

    _print_Dummy = _print_Symbol

    def _print_Float(self, expr: sympy.Float) -> str:
        return _float_literal(float(expr))

    def _print_Integer(self, expr: sympy.Integer) -> str:
        return str(int(expr))

    # ---------------------------------------------------------------- helpers

    def _atom(self, expr: sympy.Expr) -> str:
        """``expr`` printed so that it can be indexed (a name; else an error: MATLAB has no
        indexing of expressions)."""
        text = self._print(expr)
        if not text.replace("_", "a").isalnum():
            raise NotImplementedError(
                f"MATLAB cannot index the expression {text!r}; assign it to a variable first"
            )
        return text

    def _index(self, expr: sympy.Expr) -> str:
        """A 0-based index expression printed 1-based."""
        if expr.is_Integer or expr.is_Number:
            return str(int(float(expr)) + 1)
        return f"{self._print(expr)} + 1"

    def _dim(self, expr: sympy.Expr) -> str:
        """A NumPy axis printed as a MATLAB dimension."""
        return str(int(float(expr)) + 1)

    # ---------------------------------------------------------------- rates builtins

    def _print_Matvec(self, expr: sympy.Expr) -> str:
        a, x = expr.args
        return f"({self.parenthesize(a, 50)}*{self.parenthesize(x, 50)})"

    def _range_stop(self, stop: sympy.Expr) -> str:
        return self._print(stop)  # 0-based exclusive = 1-based inclusive

    def _axis_entry(self, x: sympy.Expr, idx: str, column: bool) -> str:
        if column:
            return self._subscript(x, [":", idx])
        # a row of a matrix (or an element of a column), as a column
        return f"reshape({self._subscript(x, [idx, ':'])}, [], 1)"

    def _reduce(self, expr: sympy.Expr, func: str) -> str:
        x = self._print(expr.args[0])
        if len(expr.args) == 2:
            return f"reshape({func}({x}, {self._dim(expr.args[1])}), [], 1)"
        return (
            f"{func}({x}(:))" if x.replace("_", "a").isalnum() else f"{func}(reshape({x}, [], 1))"
        )

    def _extremum(self, expr: sympy.Expr, func: str) -> str:
        if len(expr.args) == 1:
            return self._reduce(expr, func)
        a, b = self._args(expr)
        return f"{func}({a}, {b})"

    def _compare(self, op: str, a: sympy.Expr, b: sympy.Expr) -> str:
        return f"double({self._print(a)} {op} {self._print(b)})"

    def _print_Round(self, expr: sympy.Expr) -> str:
        self.helpers.add("rates_round_")
        return f"rates_round_({self._print(expr.args[0])})"

    def _print_Interp(self, expr: sympy.Expr) -> str:
        self.helpers.add("rates_interp_")
        return f"rates_interp_({', '.join(self._args(expr))})"

    def _print_Concatenate(self, expr: sympy.Expr) -> str:
        return "[" + "; ".join(f"reshape({a}, [], 1)" for a in self._args(expr)) + "]"

    def _print_Randn(self, expr: sympy.Expr) -> str:
        if not expr.args:
            return "randn()"
        sizes = [self._print(a) for a in expr.args]
        if len(sizes) == 1:
            sizes.append("1")
        return f"randn({', '.join(sizes)})"
