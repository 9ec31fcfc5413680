"""rates-numpy's SDE methods (euler_maruyama, heun_stochastic) through run(): white noise xi()
scales with sqrt(dt), seeds, given Wiener increments, and the errors a user can cause. The
statistics (OU variance, strong and weak orders) are in the conformance suite."""

from __future__ import annotations

import numpy as np
import pytest

from rates_core.errors import SolverError, UnsupportedExpressionError
from rates_core.frontend.templates import CircuitTemplate, NodeTemplate, OperatorTemplate
from rates_core.testing import references as ref

SDE = ["euler_maruyama", "heun_stochastic"]


def _one(equations: list[str], **variables: object) -> CircuitTemplate:
    op = OperatorTemplate(
        name="op", equations=equations, variables={"x": "output(0.5)", **variables}
    )
    return CircuitTemplate(name="one", nodes={"n": NodeTemplate(name="node", operators=[op])})


def _ou_variance(equation: str, dt: float, solver: str = "euler_maruyama") -> float:
    n, tau = 200, 0.25
    circuit = ref.sde_population(n, equation, x0=0.0, tau=tau, sigma=1.0)
    frame = circuit.run(
        4.0,
        dt,
        outputs={f"x{i}": f"p{i}/op/x" for i in range(n)},
        sampling_step_size=0.04,
        solver=solver,
        seed=1,
    )
    return float(np.var(frame.loc[frame.index >= 1.5].to_numpy()))


def test_xi_variance_does_not_depend_on_the_step() -> None:
    """The finding: randn() is held over a step, so its effect on x shrinks with dt (the OU
    variance with dt = 1e-3 is a quarter of that with 4e-3); xi() is white noise (dW / dt), so
    the variance is sigma^2 tau / 2 = 0.125 at both steps (within 12 %, about 2.5 standard
    errors; 200 units, seed 1)."""
    held = [_ou_variance("x' = -x/tau + sigma*randn()", dt, "euler") for dt in (1e-3, 4e-3)]
    assert held[1] / held[0] > 3  # the old way: variance proportional to dt
    for dt in (1e-3, 4e-3):
        got = _ou_variance("x' = -x/tau + sigma*xi()", dt)
        assert abs(got / 0.125 - 1) < 0.12, f"dt={dt}: variance {got:.4f}, expected 0.125"


@pytest.mark.parametrize(("sde", "ode"), [("euler_maruyama", "euler"), ("heun_stochastic", "heun")])
def test_without_noise_the_ode_method(sde: str, ode: str) -> None:
    circuit = _one(["x' = -x + cos(t)"])
    a = circuit.run(1.0, 0.01, outputs={"x": "n/op/x"}, solver=sde)
    b = circuit.run(1.0, 0.01, outputs={"x": "n/op/x"}, solver=ode)
    np.testing.assert_array_equal(a.to_numpy(), b.to_numpy())
    assert a.attrs["solver"] == sde


@pytest.mark.parametrize("solver", SDE)
def test_given_increments_scalar_and_vector_agree(solver: str) -> None:
    """The same Wiener paths give the same numbers with scalar (unvectorised) and vector
    code (to 1e-12), and x at T follows the path (multiplicative noise, with an input)."""
    n, T, dt = 40, 0.5, 0.01
    dw = ref.brownian_increments(50, n, T, seed=4)
    circuit = ref.sde_population(n, "x' = -x + u + s*x*xi()", s=0.7, u="input(0.0)")
    outputs = {f"x{i}": f"p{i}/op/x" for i in range(n)}
    u = np.linspace(0.0, 1.0, 50)
    runs = [
        circuit.run(
            T,
            dt,
            outputs=outputs,
            solver=solver,
            inputs={"all/op/u": u},
            wiener_increments=dw,
            vectorize=v,
        ).to_numpy()
        for v in (True, False)
    ]
    np.testing.assert_allclose(runs[0], runs[1], rtol=0, atol=1e-12)
    assert np.std(runs[0][-1]) > 0.05  # every unit follows its own path


@pytest.mark.parametrize("solver", SDE)
def test_one_seed_drives_each_unit_alike_vectorised_or_not(solver: str) -> None:
    """Two noisy variables per node, 20 nodes (40 states: really vectorised): the noise
    sources go node by node in both layouts, so one seed gives the same paths (1e-12). The
    vectorised System used to take every x before any v, so the same seed moved other units."""
    op = OperatorTemplate(
        name="op",
        equations=["x' = -x + v + s*x*xi()", "v' = -v + s*xi()"],
        variables={"x": "output(0.5)", "v": "variable(0.0)", "s": 0.7},
    )
    node = NodeTemplate(name="node", operators=[op])
    circuit = CircuitTemplate(name="c", nodes={f"p{i}": node for i in range(20)})
    outputs = {f"{var}{i}": f"p{i}/op/{var}" for i in range(20) for var in ("x", "v")}
    runs = []
    for vectorize in (True, False):
        frame = circuit.run(0.5, 0.01, outputs=outputs, solver=solver, seed=5, vectorize=vectorize)
        runs.append(frame.to_numpy())
    np.testing.assert_allclose(runs[0], runs[1], rtol=0, atol=1e-12)
    assert np.std(runs[0][-1]) > 0.05


@pytest.mark.parametrize("solver", SDE)
def test_seed(solver: str) -> None:
    circuit = _one(["x' = -x + s*xi()"], s=1.0)

    def run(seed: int) -> np.ndarray:
        frame = circuit.run(1.0, 0.01, outputs={"x": "n/op/x"}, solver=solver, seed=seed)
        assert frame.attrs["seed"] == seed
        return frame.to_numpy()

    np.testing.assert_array_equal(run(2), run(2))
    assert not np.allclose(run(2), run(3))


def test_float32() -> None:
    circuit = _one(["x' = -x + s*xi()"], s=1.0)
    frame = circuit.run(
        1.0,
        0.01,
        outputs={"x": "n/op/x"},
        solver="euler_maruyama",
        seed=1,
        float_precision="float32",
    )
    assert frame["x"].dtype == np.float32 and np.all(np.isfinite(frame.to_numpy()))


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (np.zeros((99, 1)), r"shape \(99, 1\); the run needs 100 rows"),
        (np.full(100, np.nan), "finite"),
        ("abc", "real numbers"),
    ],
)
def test_bad_increments(value: object, message: str) -> None:
    circuit = _one(["x' = -x + s*xi()"], s=1.0)
    with pytest.raises(SolverError, match=message):
        circuit.run(1.0, 0.01, solver="euler_maruyama", wiener_increments=value)


def test_increments_without_noise() -> None:
    with pytest.raises(SolverError, match="no noise"):
        _one(["x' = -x"]).run(1.0, 0.01, solver="euler_maruyama", wiener_increments=np.zeros(100))


def test_increments_only_for_sde_solvers() -> None:
    with pytest.raises(SolverError, match="wiener_increments is an option of the SDE solvers"):
        _one(["x' = -x"]).run(1.0, 0.01, solver="euler", wiener_increments=np.zeros(100))


@pytest.mark.parametrize("solver", ["euler", "rk4", "scipy"])
def test_ode_solver_refuses_noise(solver: str) -> None:
    with pytest.raises(SolverError, match="integrates ODEs only.*'euler_maruyama'"):
        _one(["x' = -x + s*xi()"], s=1.0).run(1.0, 0.01, solver=solver)


@pytest.mark.parametrize("solver", SDE)
def test_noise_with_delays_runs(solver: str) -> None:
    """Noise with delays was refused; it runs, seeded (the numbers are checked against a
    hand-written loop in the conformance suite), and says how its history reads."""
    circuit = _one(["x' = -x + s*xi() + 0.1*past(x, 0.2)"], s=1.0)
    a = circuit.run(1.0, 0.01, outputs={"x": "n/op/x"}, solver=solver, seed=2)
    b = circuit.run(1.0, 0.01, outputs={"x": "n/op/x"}, solver=solver, seed=2)
    np.testing.assert_array_equal(a.to_numpy(), b.to_numpy())
    assert np.all(np.isfinite(a.to_numpy())) and np.std(a["x"].to_numpy()) > 0


def test_get_run_func_names_run() -> None:
    circuit = _one(["x' = -x + s*xi()"], s=1.0)
    with pytest.raises(UnsupportedExpressionError, match="euler_maruyama"):
        circuit.get_run_func("f", 0.01)


def test_randn_in_an_sde_model_is_seeded_and_apart_from_the_noise() -> None:
    """randn() next to xi(): the same seed gives the same numbers, and randn() draws from a
    stream of its own: the increments of z' = randn() and x' = xi() are uncorrelated
    (|rho| < 5 / sqrt(10000); the same stream would give rho = 1)."""
    op = OperatorTemplate(
        name="op",
        equations=["x' = xi()", "z' = randn()"],
        variables={"x": "output(0.0)", "z": "variable(0.0)"},
    )
    circuit = CircuitTemplate(name="r", nodes={"n": NodeTemplate(name="node", operators=[op])})

    def run(seed: int) -> np.ndarray:
        return circuit.run(
            100.0,
            0.01,
            outputs={"x": "n/op/x", "z": "n/op/z"},
            solver="euler_maruyama",
            seed=seed,
        ).to_numpy()

    a = run(5)
    np.testing.assert_array_equal(a, run(5))
    d = np.diff(a, axis=0)
    rho = np.corrcoef(d[:, 0], d[:, 1])[0, 1]
    assert abs(rho) < 0.05, f"randn() and xi() share their samples (rho = {rho:.3f})"


def test_grid_delays_with_noise() -> None:
    """delays="grid" with noise: tau = 20.3 steps is read 20 steps back, so Euler-Maruyama
    equals the hand-written loop with a lag of 20 steps (same increments, 1e-12); the exact
    reading (between grid points) gives other numbers."""
    n, T, dt, a, s = 3, 1.0, 0.01, 0.5, 0.7
    circuit = ref.sde_population(n, "x' = -x + a*past(x, tau) + s*xi()", a=a, s=s, tau=0.203)
    dw = ref.brownian_increments(100, n, T, seed=4)
    outputs = {f"x{i}": f"p{i}/op/x" for i in range(n)}

    def run(delays: str) -> np.ndarray:
        return circuit.run(
            T, dt, outputs=outputs, solver="euler_maruyama", wiener_increments=dw, delays=delays
        ).to_numpy()

    want = ref.delayed_sde_loop("euler_maruyama", 1.0, a, s, 20, dt, dw)[:100]
    np.testing.assert_allclose(run("grid"), want, rtol=0, atol=1e-12)
    assert np.abs(run("exact") - want).max() > 1e-6
