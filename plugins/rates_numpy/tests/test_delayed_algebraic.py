"""Recording algebraic variables of delayed systems (issue 22): those that read no delayed
value are evaluated from the sampled states like in any system; those that do are evaluated
with the delayed reads the solver returns at the sample times (capability dde_outputs), or,
on a backend without it, a ModelError naming the variable, the delayed source and the
workarounds."""

from __future__ import annotations

import numpy as np
import pytest

from rates_core.errors import ModelError
from rates_core.testing import references as ref

_circuit = ref.delayed_ring


@pytest.mark.parametrize(
    ("n", "vectorize", "options"),
    [
        (2, False, {"solver": "rk4"}),
        (6, True, {"solver": "heun"}),
        (2, False, {"solver": "scipy", "rtol": 1e-9, "atol": 1e-9}),
    ],
)
def test_an_algebraic_variable_without_delayed_reads_is_recorded(n, vectorize, options):
    """``s = x^2`` equals the recorded ``x`` squared at every sample, to 1e-12."""
    frame = _circuit(n).run(
        2.0, 1e-3, vectorize=vectorize, outputs={"s": "all/op/s", "x": "all/op/x"}, **options
    )
    s, x = frame["s"].to_numpy(), frame["x"].to_numpy()
    assert s.shape == (2000, n) and np.ptp(x) > 0.1
    np.testing.assert_allclose(s, x**2, rtol=0, atol=1e-12)


SOLVERS = [
    ("numpy", {"solver": "euler"}),
    ("numpy", {"solver": "rk4"}),
    ("numpy", {"solver": "rk4", "vectorize": False}),
    ("numpy", {"solver": "scipy", "rtol": 1e-10, "atol": 1e-10}),
    ("numpy", {"solver": "euler_maruyama"}),
    ("torch", {"solver": "heun"}),
    ("torch", {"solver": "heun_stochastic"}),
    ("torch", {"solver": "dopri5", "rtol": 1e-10, "atol": 1e-10}),
]


@pytest.mark.parametrize(("backend", "options"), SOLVERS)
def test_an_algebraic_variable_reading_a_delay_is_recorded(backend, options):
    """Were a ModelError: ``q = x + u`` of node 1 (``u = 2 x_0(t - 0.3)``) and ``u`` of node
    0 (``-0.5 s_1(t - 0.2)``, a delayed algebraic variable) equal the same expressions of the
    recorded states 30 and 20 samples back (pre-history 0.5), sampled every 10 steps: to
    1e-15 with fixed steps (the delays are whole steps, read from the stored states),
    1e-12 with the adaptive solvers (their dense output at the sample times)."""
    if backend == "torch":
        pytest.importorskip("torch")
    frame = _circuit().run(
        2.0,
        1e-3,
        sampling_step_size=1e-2,
        backend=backend,
        outputs={"q": "p1/op/q", "x0": "p0/op/x", "x1": "p1/op/x", "u0": "p0/op/u"},
        **options,
    )
    x0, x1, q, u0 = (frame[k].to_numpy() for k in ("x0", "x1", "q", "u0"))
    past0 = np.concatenate([np.full(30, 0.5), x0[:-30]])
    past1 = np.concatenate([np.full(20, 0.5), x1[:-20]])
    assert np.ptp(q) > 0.1
    np.testing.assert_allclose(q, x1 + 2.0 * past0, rtol=0, atol=1e-12)
    np.testing.assert_allclose(u0, -0.5 * past1**2, rtol=0, atol=1e-12)


def test_a_delay_between_grid_points_is_read_as_the_solver_reads_it():
    """A delay of 300.5 steps (rk4): ``q`` equals ``x1 + 2 x0(t - 0.3005)`` with ``x0`` at
    the past time from a cubic spline through the samples of every step, to 1e-9 (the
    history's Hermite reads and the spline both err by O(dt^4))."""
    from scipy.interpolate import CubicSpline

    frame = _circuit(delay=0.3005).run(
        2.0,
        1e-3,
        solver="rk4",
        outputs={"q": "p1/op/q", "x0": "p0/op/x", "x1": "p1/op/x"},
    )
    t = frame.index.to_numpy()
    x0, x1, q = (frame[k].to_numpy() for k in ("x0", "x1", "q"))
    late = t >= 1.0  # past the kinks the pre-history propagates (t = 0.2, 0.3, 0.5, ...)
    past0 = CubicSpline(t, x0)(t[late] - 0.3005)
    np.testing.assert_allclose(q[late], x1[late] + 2.0 * past0, rtol=0, atol=1e-9)


def test_a_backend_without_dde_outputs_names_the_variable_and_the_ways_out():
    """The fixture plugin (delays, no dde_outputs) refuses before integrating, naming the
    variable, the delayed read and the backends that can."""
    pytest.importorskip("rates_fixture_plugin")
    with pytest.raises(ModelError, match=r"cannot record 'p1/op/q': it reads the delayed") as err:
        _circuit().run(1.0, 1e-3, backend="fixture", outputs={"q": "p1/op/q"})
    assert "delay_approximation=n" in str(err.value)
    assert "'numpy'" in str(err.value)


def test_the_workaround_delay_approximation_records_it():
    frame = _circuit().run(1.0, 1e-3, solver="rk4", outputs={"q": "p1/op/q"}, delay_approximation=8)
    assert np.isfinite(frame["q"].to_numpy()).all()
