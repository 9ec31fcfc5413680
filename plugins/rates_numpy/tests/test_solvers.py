"""Numbers from the NumPy backend: analytic solutions, convergence orders, reference solutions."""

from __future__ import annotations

import numpy as np
import pytest
from rates_numpy_testlib import emit, problem, system_of

from rates_core.errors import SolverError
from rates_numpy.solvers import solve

FIXED = ["euler", "heun", "rk4"]
ORDERS = {"euler": 1, "heun": 2, "rk4": 4}


def decay():
    return system_of("decay", ["x' = -x/tau"], {"x": "output(1.5)", "tau": 2.0})


def oscillator():
    return system_of(
        "osc",
        ["x' = w", "w' = -omega^2*x"],
        {"x": "output(1.0)", "w": "variable(0.0)", "omega": 2.0},
    )


def forced():
    """x' = -x + cos(t), x(0) = 0: x = (cos t + sin t - exp(-t)) / 2 (checks stage times)."""
    return system_of("forced", ["x' = -x + cos(t)"], {"x": "output(0.0)"})


def forced_exact(t):
    return 0.5 * (np.cos(t) + np.sin(t) - np.exp(-t))


def van_der_pol(mu: float = 1.0):
    return system_of(
        "vdp",
        ["x' = w", "w' = mu*(1 - x^2)*w - x"],
        {"x": "output(2.0)", "w": "variable(0.0)", "mu": mu},
    )


@pytest.mark.parametrize("scalar", [True, False], ids=["scalar-loop", "vector"])
@pytest.mark.parametrize("solver", FIXED)
def test_exponential_decay(solver: str, scalar: bool) -> None:
    s = decay()
    fn = emit(s, scalar=scalar)
    T, dt = 4.0, 1e-3
    traj = solve(solver, fn, problem(s, T, dt, every=10))
    assert traj.info["path"] == ("scalar-loop" if scalar else "vector")
    assert traj.states.shape == (400, 1)
    np.testing.assert_allclose(traj.times, np.arange(400) * 0.01, atol=1e-15)
    assert traj.states[0, 0] == 1.5
    exact = 1.5 * np.exp(-traj.times / 2.0)
    tol = {"euler": 1e-3, "heun": 1e-7, "rk4": 1e-13}[solver]
    np.testing.assert_allclose(traj.states[:, 0], exact, rtol=tol, atol=0)
    np.testing.assert_allclose(traj.final, [1.5 * np.exp(-T / 2.0)], rtol=tol)


@pytest.mark.parametrize("scalar", [True, False], ids=["scalar-loop", "vector"])
def test_harmonic_oscillator(scalar: bool) -> None:
    s = oscillator()
    fn = emit(s, scalar=scalar)
    traj = solve("rk4", fn, problem(s, 10.0, 1e-3, every=100))
    t = traj.times
    np.testing.assert_allclose(traj.states[:, 0], np.cos(2 * t), atol=1e-10)
    np.testing.assert_allclose(traj.states[:, 1], -2 * np.sin(2 * t), atol=1e-10)


def test_logistic_growth() -> None:
    s = system_of(
        "logistic", ["x' = rate*x*(1 - x/K)"], {"x": "output(0.5)", "rate": 1.5, "K": 10.0}
    )
    exact = lambda t: 10.0 / (1 + (10.0 / 0.5 - 1) * np.exp(-1.5 * t))  # noqa: E731
    for scalar in (True, False):
        traj = solve("rk4", emit(s, scalar=scalar), problem(s, 8.0, 1e-3, every=50))
        np.testing.assert_allclose(traj.states[:, 0], exact(traj.times), rtol=1e-11)
    traj = solve(
        "scipy", emit(s), problem(s, 8.0, 1e-3, every=50, options={"rtol": 1e-10, "atol": 1e-12})
    )
    np.testing.assert_allclose(traj.states[:, 0], exact(traj.times), rtol=1e-8)


@pytest.mark.parametrize("scalar", [True, False], ids=["scalar-loop", "vector"])
@pytest.mark.parametrize("solver", FIXED)
def test_convergence_order(solver: str, scalar: bool) -> None:
    s = forced()
    fn = emit(s, scalar=scalar)
    T = 2.0
    errors = []
    for dt in (0.1, 0.05, 0.025):
        traj = solve(solver, fn, problem(s, T, dt))
        errors.append(abs(traj.final[0] - forced_exact(T)))
    orders = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))
    assert np.all(np.abs(orders - ORDERS[solver]) < 0.2), (errors, orders)


def test_scipy_dop853_van_der_pol_against_references() -> None:
    s = van_der_pol()
    fn = emit(s)
    T = 10.0
    tight = {"rtol": 1e-12, "atol": 1e-12}
    dop = solve("scipy", fn, problem(s, T, 1e-3, every=100, options={"method": "DOP853", **tight}))
    radau = solve("scipy", fn, problem(s, T, 1e-3, every=100, options={"method": "Radau", **tight}))
    assert radau.info["jacobian"] is True  # the implicit method gets the symbolic Jacobian
    rk4 = solve("rk4", fn, problem(s, T, 1e-3, every=100))
    assert dop.states.shape == radau.states.shape == rk4.states.shape == (100, 2)
    np.testing.assert_allclose(dop.states, radau.states, atol=1e-8)
    np.testing.assert_allclose(dop.states, rk4.states, atol=1e-9)
    np.testing.assert_allclose(dop.final, rk4.final, atol=1e-9)
    assert np.max(np.abs(dop.states[:, 0])) > 1.9  # it oscillates


@pytest.mark.parametrize("method", ["RK45", "RK23", "DOP853", "Radau", "BDF", "LSODA"])
def test_scipy_methods_decay(method: str) -> None:
    s = decay()
    traj = solve(
        "scipy",
        emit(s),
        problem(s, 3.0, 0.01, every=10, options={"method": method, "rtol": 1e-9, "atol": 1e-12}),
    )
    np.testing.assert_allclose(traj.states[:, 0], 1.5 * np.exp(-traj.times / 2.0), rtol=1e-6)
    np.testing.assert_allclose(traj.final, [1.5 * np.exp(-1.5)], rtol=1e-6)


def test_scipy_max_step_and_first_step_pass_through() -> None:
    s = decay()
    fn = emit(s)
    free = solve("scipy", fn, problem(s, 3.0, 0.01, every=10))
    capped = solve(
        "scipy", fn, problem(s, 3.0, 0.01, every=10, options={"max_step": 0.01, "first_step": 1e-4})
    )
    assert capped.info["nfev"] > 6 * 300 > free.info["nfev"]


def test_unknown_solver_option() -> None:
    s = decay()
    fn = emit(s)
    with pytest.raises(SolverError, match=r"'tolerance'.*method, rtol, atol, max_step, first_step"):
        solve("scipy", fn, problem(s, 1.0, 0.1, options={"tolerance": 1e-3}))
    with pytest.raises(SolverError, match=r"'rtol'.*none"):
        solve("rk4", fn, problem(s, 1.0, 0.1, options={"rtol": 1e-3}))
    with pytest.raises(SolverError, match="unknown method 'Euler'"):
        solve("scipy", fn, problem(s, 1.0, 0.1, options={"method": "Euler"}))


def test_problem_checks() -> None:
    s = decay()
    fn = emit(s)
    with pytest.raises(SolverError, match="whole multiple"):
        solve("euler", fn, _bad_sampling(s))
    with pytest.raises(SolverError, match="parameter values"):
        solve("euler", fn, problem(s, 1.0, 0.1, params=[]))
    with pytest.raises(SolverError, match="no extrinsic input"):
        solve("euler", fn, problem(s, 1.0, 0.1, inputs={"nope": np.zeros(10)}))


def _bad_sampling(s):
    p = problem(s, 1.0, 0.1)
    p.sampling_step = 0.15
    p.n_samples = 6
    return p


def test_sampling_convention_non_zero_start() -> None:
    """Rows at t0 + k*sampling_step, k < round(T/sampling_step); T itself is no row."""
    s = system_of("sine", ["x' = cos(t)"], {"x": "output(0.0)"})
    t0 = 0.5
    p = problem(s, 1.0, 0.01, every=25, t0=t0, y0=[np.sin(t0)])
    p.options = {}
    for solver, options in (("rk4", {}), ("scipy", {"rtol": 1e-10, "atol": 1e-12})):
        p.options = options
        for scalar in (True, False):
            traj = solve(solver, emit(s, scalar=scalar), p)
            np.testing.assert_allclose(traj.times, t0 + np.array([0.0, 0.25, 0.5, 0.75]))
            np.testing.assert_allclose(traj.states[:, 0], np.sin(traj.times), atol=1e-9)
            np.testing.assert_allclose(traj.final[0], np.sin(t0 + 1.0), atol=1e-9)


def test_overflow_in_scalar_loop_falls_back_to_numpy_semantics() -> None:
    s = system_of("blowup", ["x' = x^2"], {"x": "output(1.0)"})
    fn = emit(s)
    assert fn.extras["scalar"]
    traj = solve("euler", fn, problem(s, 2.0, 0.01))
    assert traj.info["fallback"] == "vector"
    assert not np.isfinite(traj.final[0])
    np.testing.assert_allclose(traj.states[1, 0], 1.01)
