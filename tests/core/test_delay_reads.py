"""rates_core.delay_reads: the connection layout of delayed reads, the fixed-step read plan
(positions and cubic Hermite weights) and the breakpoints of the initial discontinuity."""

from __future__ import annotations

import numpy as np
import pytest

from rates_core import build_system
from rates_core.delay_reads import (
    ConnectionLayout,
    StagePlan,
    breakpoints,
    hermite_weights,
    input_driven_slopes,
    input_jumps,
    snap,
)
from rates_core.errors import SolverError
from rates_core.testing import references as ref


def _layout(circuit, **kwargs):
    system = build_system(circuit)
    params = [p.value for p in system.params]
    return system, ConnectionLayout(system, params, **kwargs)


def test_layout_of_one_delayed_edge():
    system, layout = _layout(ref.delay_edge_circuit())
    assert layout.size == 1
    assert layout.tau.tolist() == [ref.DELAY_EDGE["delay"]]
    start, _, _ = system.history_slice(system.delayed[0].state)
    assert layout.pos.tolist() == [start]
    assert layout.tracked.tolist() == [start] and layout.col.tolist() == [0]
    assert layout.zero.size == 0
    assert layout.max_tau == layout.min_tau == ref.DELAY_EDGE["delay"]
    assert layout.bounds == [(0, 1, False)]


def test_layout_rejects_bad_delays():
    system = build_system(ref.delay_edge_circuit())
    params = [p.value for p in system.params]
    slot = next(i for i, p in enumerate(system.params) if p.name == system.delayed[0].tau)
    for bad, match in [(-0.5, "negative delay"), (np.inf, "finite"), (0.5 + 1j, "real")]:
        wrong = list(params)
        wrong[slot] = bad
        with pytest.raises(SolverError, match=match):
            ConnectionLayout(system, wrong)
    wrong = list(params)
    wrong[slot] = np.array([0.1, 0.2, 0.3])
    with pytest.raises(SolverError, match="its delay 3 .batch note."):
        ConnectionLayout(system, wrong, note=" (batch note)")


def test_layout_converts_parameter_values_with_as_array():
    seen = []

    def as_array(value):
        seen.append(value)
        return np.asarray(value)

    _layout(ref.delay_edge_circuit(), as_array=as_array)
    assert seen, "the delay parameter is read through as_array"


def test_hermite_weights_reproduce_cubics():
    """y(x) = x^3 - 2x on [1, 1.5]: the weights of theta give the exact value."""
    a, h = 1.0, 0.5
    y = lambda x: x**3 - 2 * x  # noqa: E731
    f = lambda x: 3 * x**2 - 2  # noqa: E731
    theta = np.linspace(0.0, 1.0, 7)
    w0, w1, v0, v1 = hermite_weights(theta, h)
    got = w0 * y(a) + w1 * y(a + h) + v0 * f(a) + v1 * f(a + h)
    np.testing.assert_allclose(got, y(a + theta * h), rtol=0, atol=1e-14)


def test_stage_plan_positions():
    """Reads at t_n + c dt of delays 2 dt (on a row), 2.5 dt (between rows) and 0 (current
    state); the first stage cannot use row n's derivative."""
    dt = 0.1
    tau = np.array([0.2, 0.25, 0.0])
    plan = StagePlan(tau, dt, 0.0, first=True)
    np.testing.assert_allclose(plan.s, [-2.0, -2.5, 0.0])
    assert plan.m.tolist() == [-2, -3, -1]
    assert not plan.direct
    theta = np.array([0.0, 0.5, 0.0])
    for got, want in zip(plan.weights, hermite_weights(theta, dt)):
        np.testing.assert_allclose(got, want)
    assert plan.n_pre == 3
    # a stage at c = 1/2 reading tau = 0.3 dt lies inside the step: extrapolated from the
    # last complete interval (rows n - 1, n)
    late = StagePlan(np.array([0.03]), dt, 0.5, first=False)
    assert late.m.tolist() == [-1] and np.isclose(late.s[0], 0.2)
    np.testing.assert_allclose(late.weights[0], hermite_weights(np.array([1.2]), dt)[0])
    # whole multiples of dt on every stage: direct reads, no weights
    direct = StagePlan(np.array([0.3, 0.1]), dt, 0.0, first=True)
    assert direct.direct and direct.weights is None


def test_input_jumps():
    """Steps whose input row differs from the previous one, over all inputs; constant inputs
    (one row) and rows past n_steps count for nothing."""
    stair = np.array([0.0, 0.0, 1.0, 1.0, 1.0, -1.0, -1.0, 2.0])
    columns = np.zeros((8, 3))
    columns[3, 1] = 0.5  # one column of a per-node input changes at step 3 and back at 4
    assert input_jumps([stair], 8).tolist() == [2, 5, 7]
    assert input_jumps([stair, columns], 8).tolist() == [2, 3, 4, 5, 7]
    assert input_jumps([stair], 6).tolist() == [2, 5]  # row 7 is past the run
    assert input_jumps([np.ones((1, 4)), columns[:, :, None]], 8).tolist() == [3, 4]
    assert input_jumps([], 8).size == 0 and input_jumps([stair], 0).size == 0


def test_input_driven_slopes():
    """Whether an extrinsic input enters the derivative of a delayed variable (through
    algebraic updates too, and for recorded variables through their states)."""
    from rates_core import CircuitTemplate

    assert input_driven_slopes(build_system(ref.delay_input_circuit(), inputs=["a/op/u"]))
    assert not input_driven_slopes(build_system(ref.delay_input_circuit()))  # no inputs
    # the input drives the target b, whose derivative no delayed read needs
    assert not input_driven_slopes(build_system(ref.delay_input_circuit(), inputs=["b/op/v"]))
    jr = CircuitTemplate.from_yaml("rates_core.models.jansenrit.JRC_delay")
    for record in (False, True):  # delayed v (or the rate m of v), the input in x'
        system = build_system(jr, inputs=["jrc1/pc/syn_exc_ext/u"], record_delayed=record)
        assert not input_driven_slopes(system)
    via_algebraic = ref.two_nodes(
        ["a' = -a + s", "s = 2.0*u"],
        {"a": "output(0.0)", "s": "variable(0.0)", "u": "input(0.0)"},
        ["b' = v"],
        {"b": "output(0.0)", "v": "input(0.0)"},
    ).add_edges([["a/op/a", "b/op/v", None, {"delay": 0.5}]])
    assert input_driven_slopes(build_system(via_algebraic, inputs=["a/op/u"]))
    recorded = ref.two_nodes(
        ["a' = -a + u", "s = a*a"],
        {"a": "output(0.0)", "s": "variable(0.0)", "u": "input(0.0)"},
        ["b' = v"],
        {"b": "output(0.0)", "v": "input(0.0)"},
    ).add_edges([["a/op/s", "b/op/v", None, {"delay": 0.5}]])
    system = build_system(recorded, inputs=["a/op/u"], record_delayed=True)
    assert system.recorded and input_driven_slopes(system)


def test_snap():
    np.testing.assert_array_equal(snap(np.array([2.0 + 1e-12, 2.5, -3.0 - 1e-10])), [2, 2.5, -3])


def test_breakpoints():
    marks = breakpoints(np.array([0.3, 0.7, 0.3, 0.0]), 0.0, 2.0, levels=3)
    np.testing.assert_allclose(marks, [0.3, 0.6, 0.7, 0.9, 1.0, 1.3, 1.4, 1.7])
    assert breakpoints(np.arange(1, 5000) * 1e-4, 0.0, 1.0, levels=2, cap=100).size == 100
    assert breakpoints(np.array([5.0]), 0.0, 2.0).size == 0


def test_ring_plans_rows_and_interpolation() -> None:
    """Rows kept: every read's interval (the largest delay 0.45 at dt 0.1 reads rows n - 5 and
    n - 4 at the first stage) plus two; at least four. Reads between rows interpolate, whole
    steps and ``grid`` do not."""
    from rates_core.delay_reads import RingPlans

    heun = [(0.0, True), (1.0, False)]
    ring = RingPlans(np.array([0.45, 0.2, 0.0]), 0.1, heun)
    assert [list(p.m) for p in ring.plans] == [[-5, -2, -1], [-4, -1, 0]]
    assert ring.rows == 7 and ring.hermite
    whole = RingPlans(np.array([0.3, 0.2]), 0.1, heun)
    assert not whole.hermite and whole.rows == 5
    grid = RingPlans(np.array([0.45, 0.2]), 0.1, heun, grid=True)
    assert not grid.hermite and [list(p.m) for p in grid.plans] == [[-4, -2], [-4, -2]]
    assert RingPlans(np.zeros(0), 0.1, heun).rows == 4
