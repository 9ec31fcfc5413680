"""Butcher tableaux of the explicit Runge-Kutta methods every backend offers.

One exact (``Fraction``) copy of the coefficients of ``euler``, ``heun``, ``rk4`` and ``dopri5``;
the Python loops (torch's Dormand-Prince step, the delayed-read stage tables of rates-numpy and
rates-torch) and the generated loops (the Fortran ``dopri5_`` coefficients) are derived from
it, so a coefficient exists once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction as F
from functools import cached_property
from typing import Any

__all__ = ["DOPRI5", "EULER", "HEUN", "RK4", "TABLEAUX", "Tableau", "explicit_step"]


@dataclass(frozen=True)
class Tableau:
    """``c`` stage times, ``a`` rows (row ``i`` has ``i`` entries), ``b`` weights and, for
    embedded pairs, ``error`` = ``b`` minus the lower-order weights (FSAL: the last stage is
    evaluated at the new state)."""

    name: str
    c: tuple[F, ...]
    a: tuple[tuple[F, ...], ...]
    b: tuple[F, ...]
    error: tuple[F, ...] = ()

    def stage_times(self) -> tuple[tuple[float, bool], ...]:
        """The distinct stage times as fractions of a step, each with whether it is the first
        stage (which computes ``f`` at the step's start, the value delayed reads store)."""
        times = sorted(set(self.c))
        return tuple((float(c), i == 0) for i, c in enumerate(times))

    @cached_property
    def weights(self) -> tuple[float, ...]:
        """``b`` as floats."""
        return tuple(float(x) for x in self.b)

    def floats(self) -> tuple[tuple[float, ...], tuple[tuple[float, ...], ...], tuple[float, ...]]:
        """``(c, a, error)`` as floats (each the double nearest the exact fraction)."""
        return (
            tuple(float(x) for x in self.c),
            tuple(tuple(float(x) for x in row) for row in self.a),
            tuple(float(x) for x in self.error),
        )


def explicit_step(
    f: Callable[[float, Any], Any], t: float, y: Any, dt: float, tab: Tableau, k1: Any = None
) -> Any:
    """One step of the explicit method ``tab`` for any array type: ``y + dt * sum(b_i k_i)``
    with ``k_i = f(t + c_i dt, y + dt * sum(a_ij k_j))``. ``k1`` (``f(t, y)``) may be given when
    the caller needed it first (a history of delayed reads stores it before the later stages)."""
    c, a, _ = tab.floats()
    ks = [f(t, y) if k1 is None else k1]
    for i in range(1, len(c)):
        stage = y
        for a_ij, k_j in zip(a[i], ks):
            if a_ij:
                stage = stage + (dt * a_ij) * k_j
        ks.append(f(t + c[i] * dt, stage))
    increment = sum(b_i * k_i for b_i, k_i in zip(tab.weights, ks) if b_i)
    return y + dt * increment


EULER = Tableau("euler", (F(0),), ((),), (F(1),))
HEUN = Tableau("heun", (F(0), F(1)), ((), (F(1),)), (F(1, 2), F(1, 2)))
RK4 = Tableau(
    "rk4",
    (F(0), F(1, 2), F(1, 2), F(1)),
    ((), (F(1, 2),), (F(0), F(1, 2)), (F(0), F(0), F(1))),
    (F(1, 6), F(1, 3), F(1, 3), F(1, 6)),
)
_DP_B = (F(35, 384), F(0), F(500, 1113), F(125, 192), F(-2187, 6784), F(11, 84))
DOPRI5 = Tableau(
    "dopri5",
    (F(0), F(1, 5), F(3, 10), F(4, 5), F(8, 9), F(1), F(1)),
    (
        (),
        (F(1, 5),),
        (F(3, 40), F(9, 40)),
        (F(44, 45), F(-56, 15), F(32, 9)),
        (F(19372, 6561), F(-25360, 2187), F(64448, 6561), F(-212, 729)),
        (F(9017, 3168), F(-355, 33), F(46732, 5247), F(49, 176), F(-5103, 18656)),
        _DP_B,
    ),
    (*_DP_B, F(0)),
    (
        F(71, 57600),
        F(0),
        F(-71, 16695),
        F(71, 1920),
        F(-17253, 339200),
        F(22, 525),
        F(-1, 40),
    ),
)

TABLEAUX = {t.name: t for t in (EULER, HEUN, RK4, DOPRI5)}
