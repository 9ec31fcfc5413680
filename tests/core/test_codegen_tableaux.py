"""The Butcher tableaux of the backend kit: consistent, exact, and the stage tables derived."""

from __future__ import annotations

from fractions import Fraction

import pytest

from rates_core.codegen.tableaux import DOPRI5, RK4, TABLEAUX


@pytest.mark.parametrize("name", sorted(TABLEAUX))
def test_rows_sum_to_the_stage_times_and_weights_to_one(name):
    tab = TABLEAUX[name]
    assert len(tab.a) == len(tab.c) == len(tab.b)
    for c, row in zip(tab.c, tab.a):
        assert sum(row, Fraction(0)) == c
    assert sum(tab.b) == 1
    if tab.error:
        assert sum(tab.error) == 0  # both solutions of an embedded pair are consistent


def test_dopri5_is_fsal_and_fifth_order_conditions_hold():
    assert DOPRI5.a[-1] == DOPRI5.b[:-1] and DOPRI5.c[-1] == 1
    b, c = DOPRI5.b, DOPRI5.c
    for k in range(1, 6):  # quadrature conditions sum b_i c_i^(k-1) = 1/k up to order 5
        assert sum(bi * ci ** (k - 1) for bi, ci in zip(b, c)) == Fraction(1, k)


def test_stage_times_of_the_fixed_step_methods():
    assert TABLEAUX["euler"].stage_times() == ((0.0, True),)
    assert TABLEAUX["heun"].stage_times() == ((0.0, True), (1.0, False))
    assert RK4.stage_times() == ((0.0, True), (0.5, False), (1.0, False))


def test_floats_are_the_nearest_doubles():
    c, a, err = DOPRI5.floats()
    assert c[1] == 1 / 5 and a[4][1] == -25360 / 2187 and err[6] == -1 / 40


@pytest.mark.parametrize(
    "name, taylor_terms", [("euler", 2), ("heun", 3), ("rk4", 5), ("dopri5", 6)]
)
def test_explicit_step_on_y_prime_equals_y_is_the_taylor_polynomial(name, taylor_terms):
    """For y' = y, one step of an order-p method is the Taylor polynomial of exp(h) of degree
    p (plus, for dopri5, a tiny h^6 term): a check that the loop uses c, a and b correctly."""
    import math

    from rates_core.codegen.tableaux import explicit_step

    h = 0.1
    y1 = explicit_step(lambda t, y: y, 0.0, 1.0, h, TABLEAUX[name])
    taylor = sum(h**k / math.factorial(k) for k in range(taylor_terms))
    tol = 1e-15 if name != "dopri5" else h**6 / 100  # dopri5: c6 = 1/600 for this problem
    assert abs(y1 - taylor) <= tol
