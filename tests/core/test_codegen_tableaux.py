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
