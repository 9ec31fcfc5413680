"""Real variables get real values: a check of a System's equations before it is assembled.

A state or algebraic variable is real unless its initial value is complex. An equation that
can give it a complex value (``x' = -x*(1 + 1j)``, or a real variable fed a complex one) would
lose the imaginary part in every backend (NumPy drops it with a warning, plain floats raise a
TypeError, compiled code does not compile), so the build says so first, naming the variable.
"""

from __future__ import annotations

from collections.abc import Iterable

import sympy

from rates_core.errors import ModelError
from rates_core.system.model import Assignment
from rates_core.system.state import BuildState

#: Functions whose value is real whatever their argument.
_REAL_VALUED = (sympy.re, sympy.im, sympy.Abs, sympy.arg)


def _reads_complex(expr: sympy.Expr) -> bool:
    return expr.has(sympy.I) or not all(s.is_real for s in expr.free_symbols)


def may_be_complex(expr: sympy.Expr) -> bool:
    """Whether ``expr`` can take a complex value: it holds the imaginary unit or reads a
    complex variable outside ``real()``, ``imag()`` and ``abs()``, and sympy cannot show that
    it is real (``exp(1j*x)`` can be complex, ``abs(z)**2`` and ``real(z*w)`` cannot)."""
    if not _reads_complex(expr):
        return False
    stripped = expr.replace(lambda e: isinstance(e, _REAL_VALUED), lambda e: sympy.Dummy(real=True))
    return _reads_complex(stripped) and stripped.is_real is not True


def check_real_values(bs: BuildState, algebraic: Iterable[Assignment]) -> None:
    """A :class:`~rates_core.errors.ModelError` naming the first real state or algebraic
    variable whose equation :func:`may_be_complex`."""
    real_states = [s for s in bs.states if not s.dtype.startswith("complex")]
    checks = [(s.name, s.paths, bs.derivatives[s.name]) for s in real_states]
    checks += [(a.name, (), a.expr) for a in algebraic if a.symbol.is_real]
    for name, paths, expr in checks:
        if may_be_complex(expr):
            raise ModelError(
                "a real variable gets a complex value from its equation (which holds 1j or "
                "reads a complex variable): give it a complex initial value (0j) to make it "
                "complex, or keep a real part with real(...), imag(...) or abs(...)",
                variable=str(paths[0]) if len(paths) else name,
                **bs.opts.where,
            )
