"""Fortran 2008 printing of System expressions: sympy's Fortran printer with the rates builtins.

:class:`FortranPrinter` extends :class:`sympy.printing.fortran.FCodePrinter` (``standard=2008``,
free source form) so that every expression is one Fortran expression of kind ``dp``:

* numbers print as ``dp`` literals (``0.1_dp``, ``2.0_dp``, ``(0.0_dp, 1.0_dp)``), with the
  shortest text that reads back as the same double; integer exponents and indices stay
  integers. ``pi`` and ``E`` are literals, never the ``parameter (pi = ...)`` statements sympy
  puts in front of expressions;
* whole-array arithmetic and elemental intrinsics carry vectorised populations (``exp(r)`` of a
  vector ``r`` is elementwise); ``matvec`` is the generated ``matvec_`` (dense) or
  ``csr_matvec_`` (sparse couplings), ``index`` a vector subscript (0-based indices + 1);
* comparisons are ``merge(1.0_dp, 0.0_dp, a > b)``, ``round`` rounds half to even
  (``round_even_``), ``sign`` is 0 at 0 (``sign_``), ``randn`` draws from the intrinsic generator
  seeded by the solver, ``interp`` is the generated ``interp_``;
* plugin builtins registered for the ``fortran`` backend print as the Fortran name the plugin
  gives (its code comes through ``add_import``).

Names: Fortran is case-insensitive and a local variable shadows an intrinsic, so System names
that clash (ignoring case) with each other, with the intrinsics or with the generated helpers
get a suffix; :func:`fortran_names` makes the table the printer uses.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

import sympy
from sympy.printing.fortran import FCodePrinter

from rates_core import builtins as rb
from rates_core.codegen.printer import COMPARISON_OPS, RatesPrinter

__all__ = ["FORTRAN_RESERVED", "FortranPrinter", "fortran_names", "real_literal"]

#: Names a generated variable must not take (intrinsics and helpers the module uses, keywords
#: that read badly); compared in lower case.
FORTRAN_RESERVED = frozenset(
    """
    abs acos aimag aint anint asin atan atan2 cmplx conjg cos cosh dble exp huge int kind log
    log10 matmul max maxval merge min minval mod real sign sin sinh size sqrt sum tan tanh
    random_number random_seed dp t y dy pr pc pi_ dl jac n_states n_real n_complex n_int
    n_delayed do if then else end call function subroutine module contains use implicit none
    intent in out inout value result pure elemental integer complex logical character type
    parameter dimension allocatable save stop return cycle exit program interface
    """.split()
)


_ENTRY = re.compile(r"^(?P<base>[A-Za-z_][A-Za-z0-9_]*)\[(?P<index>\d+)\]$")


def real_literal(value: float) -> str:
    """``value`` as a ``dp`` literal that reads back as the same double."""
    value = float(value)
    if math.isnan(value) or math.isinf(value):
        raise NotImplementedError(f"the Fortran backend cannot print the number {value}")
    text = repr(value)
    if "e" not in text and "." not in text:
        text += ".0"
    return f"{text}_dp"


def fortran_names(names: Iterable[str]) -> dict[str, str]:
    """System name -> Fortran name: unchanged unless it clashes (ignoring case) with another
    name, a Fortran intrinsic / helper of the generated code, or is too long."""
    table: dict[str, str] = {}
    taken: set[str] = set()
    for name in names:
        if name in table:
            continue
        base = name[:50]
        candidate, k = base, 1
        while (
            candidate.lower() in taken
            or candidate.lower() in FORTRAN_RESERVED
            or candidate.endswith("_")
            or candidate.startswith("_")
        ):
            k += 1
            candidate = f"{base.strip('_') or 'v'}_v{k}"
        table[name] = candidate
        taken.add(candidate.lower())
    return table


class FortranPrinter(RatesPrinter, FCodePrinter):
    """sympy's Fortran 2008 printer with the rates builtins (see the module documentation).

    ``names``: System name -> Fortran name (:func:`fortran_names`); ``sizes``: System name ->
    number of values (1 for scalars); ``sparse``: names of CSR matrix parameters (printed as
    their ``_data`` / ``_col`` / ``_ptr`` arrays); ``builtins``: plugin builtins for the
    ``fortran`` backend, equation name -> Fortran function name.
    """

    printmethod = "_fcode"
    backend = "fortran"
    language = "Fortran"
    comparison_ops = {**COMPARISON_OPS, rb.NotEqual: "/="}
    extrema = {"max": ("maxval", "max"), "min": ("minval", "min")}
    brackets = "()"
    literals = {
        "ImaginaryUnit": "(0.0_dp, 1.0_dp)",
        "Infinity": "huge(1.0_dp)",
        "NegativeInfinity": "(-huge(1.0_dp))",
        "BooleanTrue": ".true.",
        "BooleanFalse": ".false.",
    }
    unary_functions = {
        "Round": "round_even_({})",
        "sign": "sign_({})",
        "re": "real({}, dp)",
        "im": "aimag({})",
        "conjugate": "conjg({})",
        "Abs": "abs({})",
    }

    def __init__(
        self,
        names: Mapping[str, str] | None = None,
        sizes: Mapping[str, int] | None = None,
        sparse: Iterable[str] = (),
        builtins: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(
            {
                "standard": 2008,
                "source_format": "free",
                "strict": False,
                "contract": False,
            }
        )
        self.names = dict(names or {})
        self.sizes = dict(sizes or {})
        self.sparse = frozenset(sparse)
        self._init_rates(builtins)
        #: names of two-dimensional (dense matrix) values
        self.matrices: set[str] = set()

    # ------------------------------------------------------------------ atoms

    def _name(self, name: str) -> str:
        return self.names.get(name, name)

    def _print_Symbol(self, expr: sympy.Symbol) -> str:
        match = _ENTRY.match(expr.name)
        if match and expr.name not in self.names:  # an entry x[i] of a scalarised vector
            return f"{self._name(match['base'])}({int(match['index']) + 1})"
        return self._name(expr.name)

    _print_Dummy = _print_Symbol

    def _print_Float(self, expr: sympy.Float) -> str:
        return real_literal(float(expr))

    def _print_Integer(self, expr: sympy.Integer) -> str:
        return real_literal(float(int(expr)))

    _print_Zero = _print_Integer

    def _print_int(self, expr: int) -> str:
        return real_literal(float(expr))

    def _print_Rational(self, expr: sympy.Rational) -> str:
        return f"({real_literal(float(expr.p))}/{real_literal(float(expr.q))})"

    def _print_NumberSymbol(self, expr: sympy.Expr) -> str:
        return real_literal(float(expr))

    _print_Pi = _print_NumberSymbol
    _print_Exp1 = _print_NumberSymbol

    def _print_Pow(self, expr: sympy.Pow) -> str:
        base, exp = expr.args
        prec = sympy.printing.precedence.precedence(expr)
        b = self.parenthesize(base, prec)
        if exp == sympy.S.Half:
            return f"sqrt({self._print(base)})"
        if exp == -sympy.S.Half:
            return f"(1.0_dp/sqrt({self._print(base)}))"
        if exp == -1:
            return f"(1.0_dp/{b})"
        if exp.is_Integer:
            n = int(exp)
            return f"{b}**{n}" if n >= 0 else f"{b}**({n})"
        return f"{b}**{self.parenthesize(exp, prec)}"

    # ------------------------------------------------------------------ helpers

    def _int(self, expr: sympy.Expr, shift: int = 0) -> str:
        """An index expression, 0-based in the equations, shifted by ``shift``."""
        if expr.is_Number:
            return str(int(float(expr)) + shift)
        text = self._name(expr.name) if isinstance(expr, sympy.Symbol) else self._print(expr)
        if isinstance(expr, sympy.Symbol):
            # index-role parameters are int64 arrays or scalars
            return f"{text} + {shift}" if shift else text
        return f"int({text}) + {shift}" if shift else f"int({text})"

    def _atom(self, expr: sympy.Expr) -> str:
        text = self._print(expr)
        if isinstance(expr, sympy.Symbol) or re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", text):
            return text
        return f"({text})"

    def is_array(self, expr: sympy.Expr) -> bool:
        """Whether ``expr`` is an array in the generated code (else a scalar)."""
        if isinstance(expr, sympy.Symbol):
            return self.sizes.get(expr.name, 1) != 1
        if isinstance(expr, (rb.VSum, rb.Mean)) and len(expr.args) == 1:
            return False
        if isinstance(expr, (rb.Maxi, rb.Mini)) and len(expr.args) == 1:
            return False
        if isinstance(expr, (rb.Matvec, rb.Matmul, rb.Concatenate, rb.IndexRange)):
            return True
        if isinstance(expr, rb.Randn):
            return bool(expr.args)
        if isinstance(expr, rb.Index):
            x, *idx = expr.args
            return any(isinstance(i, sympy.Symbol) and self.sizes.get(i.name, 1) != 1 for i in idx)
        if isinstance(expr, rb.IndexAxis):
            return len(expr.args) == 1 and self.is_array(expr.args[0])
        return any(self.is_array(a) for a in expr.args if isinstance(a, sympy.Expr))

    # ------------------------------------------------------------------ rates builtins

    def _compare(self, op: str, a: sympy.Expr, b: sympy.Expr) -> str:
        return f"merge(1.0_dp, 0.0_dp, {self.parenthesize(a, 45)} {op} {self.parenthesize(b, 45)})"

    def _extremum(self, expr: sympy.Expr, reduce: str, pair: str) -> str:
        if len(expr.args) == 1:
            (x,) = expr.args
            return f"{reduce}({self._print(x)})" if self.is_array(x) else self._print(x)
        return f"{pair}({', '.join(self._print(a) for a in expr.args)})"

    def _print_Max(self, expr: sympy.Expr) -> str:
        return f"max({', '.join(self._print(a) for a in expr.args)})"

    def _print_Min(self, expr: sympy.Expr) -> str:
        return f"min({', '.join(self._print(a) for a in expr.args)})"

    def _print_VSum(self, expr: sympy.Expr) -> str:
        x = expr.args[0]
        if not self.is_array(x):
            return self._print(x)
        if len(expr.args) == 2:
            return f"sum({self._print(x)}, dim={self._int(expr.args[1], 1)})"
        return f"sum({self._print(x)})"

    def _print_Mean(self, expr: sympy.Expr) -> str:
        x = expr.args[0]
        if not self.is_array(x):
            return self._print(x)
        text = self._print(x)
        if len(expr.args) == 2:
            dim = self._int(expr.args[1], 1)
            return f"(sum({text}, dim={dim})/size({text}, dim={dim}))"
        return f"(sum({text})/size({text}))"

    def _print_Matvec(self, expr: sympy.Expr) -> str:
        a, x = expr.args
        if isinstance(a, sympy.Symbol) and a.name in self.sparse:
            n = self._name(a.name)
            return f"csr_matvec_({n}_data, {n}_col, {n}_ptr, {self._print(x)})"
        return f"matvec_({self._print(a)}, {self._print(x)})"

    def _print_Matmul(self, expr: sympy.Expr) -> str:
        a, b = expr.args
        if isinstance(a, sympy.Symbol) and a.name in self.sparse:
            raise NotImplementedError("matmul of a sparse matrix is not supported by rates-fortran")
        return f"matmul({self._print(a)}, {self._print(b)})"

    def _index(self, expr: sympy.Expr) -> str:
        return self._int(expr, 1)

    def _range_stop(self, stop: sympy.Expr) -> str:
        return self._int(stop)  # 0-based exclusive = 1-based inclusive

    def _is_matrix(self, x: sympy.Expr) -> bool:
        return isinstance(x, sympy.Symbol) and x.name in self.matrices

    def _print_Index(self, expr: sympy.Expr) -> str:
        x, *idx = expr.args
        if len(idx) == 1 and self._is_matrix(x):  # a row
            return self._subscript(x, [self._index(idx[0]), ":"])
        return super()._print_Index(expr)

    def _axis_entry(self, x: sympy.Expr, idx: str, column: bool) -> str:
        if not column and self._is_matrix(x):
            return self._subscript(x, [idx, ":"])
        return super()._axis_entry(x, idx, column)

    def _print_Interp(self, expr: sympy.Expr) -> str:
        return f"interp_({', '.join(self._print(a) for a in expr.args)})"

    def _print_Concatenate(self, expr: sympy.Expr) -> str:
        return f"[{', '.join(self._print(a) for a in expr.args)}]"

    def _print_Randn(self, expr: sympy.Expr) -> str:
        if not expr.args:
            return "randn_()"
        if len(expr.args) != 1:
            raise NotImplementedError("randn with more than one dimension is not supported")
        return f"randn_vec_({self._int(expr.args[0])})"

    # ------------------------------------------------------------------ sympy functions

    def _print_Piecewise(self, expr: sympy.Piecewise) -> str:
        if expr.args[-1].cond != sympy.true:
            raise NotImplementedError("Piecewise without a default branch")
        code = self._print(expr.args[-1].expr)
        for e, c in reversed(expr.args[:-1]):
            code = f"merge({self._print(e)}, {code}, {self._print(c)})"
        return code

    def _print_Relational(self, expr: sympy.Expr) -> str:
        ops = {"==": "==", "!=": "/=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
        return (
            f"{self.parenthesize(expr.lhs, 45)} {ops[expr.rel_op]} "
            f"{self.parenthesize(expr.rhs, 45)}"
        )

    def _print_Function(self, expr: sympy.Expr) -> str:
        known = {
            "exp": "exp",
            "log": "log",
            "sin": "sin",
            "cos": "cos",
            "tan": "tan",
            "sinh": "sinh",
            "cosh": "cosh",
            "tanh": "tanh",
            "asin": "asin",
            "acos": "acos",
            "atan": "atan",
        }
        name = type(expr).__name__
        if name in known:
            return f"{known[name]}({', '.join(self._print(a) for a in expr.args)})"
        return super()._print_Function(expr)

    def doprint(self, expr: Any, assign_to: Any = None) -> str:
        """One Fortran expression (unwrapped; the emitter breaks long statements)."""
        if assign_to is not None:
            raise NotImplementedError("assign_to is not used by rates-fortran")
        return self._print(sympy.sympify(expr) if not isinstance(expr, sympy.Basic) else expr)
