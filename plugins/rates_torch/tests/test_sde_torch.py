"""rates-torch's SDE methods against rates-numpy's: the same given Wiener increments give the
same numbers (to 1e-10), also when only some variables are noisy; seeds are reproducible."""

from __future__ import annotations

import numpy as np
import pytest

from rates_core.frontend.templates import CircuitTemplate, NodeTemplate, OperatorTemplate
from rates_core.noise import noise_sources
from rates_core.system import build_system
from rates_core.testing import references as ref


def _pair(n: int) -> CircuitTemplate:
    """n nodes with x' noisy (multiplicative) and v' noise-free, plus an input."""
    op = OperatorTemplate(
        name="op",
        equations=["x' = v - x + u + s*x*xi()", "v' = -x - 0.2*v"],
        variables={"x": "output(0.5)", "v": "variable(0.1)", "s": 0.6, "u": "input(0.0)"},
    )
    node = NodeTemplate(name="pair", operators=[op])
    return CircuitTemplate(name="pair", nodes={f"p{i}": node for i in range(n)})


@pytest.mark.parametrize("method", ["euler_maruyama", "heun_stochastic"])
@pytest.mark.parametrize("n", [1, 40])
def test_torch_equals_numpy_with_given_increments(method: str, n: int) -> None:
    circuit = _pair(n)
    assert noise_sources(build_system(circuit)) == [f"p{i}/op/x" for i in range(n)]
    T, steps = 0.5, 50
    dw = ref.brownian_increments(steps, n, T, seed=6)
    outputs = {f"x{i}": f"p{i}/op/x" for i in range(n)} | {"v0": "p0/op/v"}
    u = np.linspace(0.0, 1.0, steps)

    def run(backend: str) -> np.ndarray:
        return circuit.run(
            T,
            T / steps,
            outputs=outputs,
            solver=method,
            backend=backend,
            inputs={"all/op/u": u},
            wiener_increments=dw,
        ).to_numpy()

    np.testing.assert_allclose(run("torch"), run("numpy"), rtol=0, atol=1e-10)


@pytest.mark.parametrize("method", ["euler_maruyama", "heun_stochastic"])
def test_every_variable_noisy_vectorised_follows_the_sources(method: str) -> None:
    """Every state noisy (x and v of 20 nodes, vectorised): the sources go node by node, not
    in state order, so the increments must go through them (the shortcut for "every
    position" used to multiply column k into state k, v0 taking x1's noise)."""
    op = OperatorTemplate(
        name="op",
        equations=["x' = v - x + s*x*xi()", "v' = -x - 0.2*v + s*xi()"],
        variables={"x": "output(0.5)", "v": "variable(0.1)", "s": 0.6},
    )
    circuit = CircuitTemplate(
        name="c", nodes={f"p{i}": NodeTemplate(name="n", operators=[op]) for i in range(20)}
    )
    sources = noise_sources(build_system(circuit, vectorize=True))
    assert sources[:3] == ["p0/op/x", "p0/op/v", "p1/op/x"]
    T, steps = 0.5, 50
    dw = ref.brownian_increments(steps, len(sources), T, seed=8)
    outputs = {f"{var}{i}": f"p{i}/op/{var}" for i in range(20) for var in ("x", "v")}
    runs = [
        circuit.run(
            T,
            T / steps,
            outputs=outputs,
            solver=method,
            backend=backend,
            vectorize=vectorize,
            wiener_increments=dw,
        ).to_numpy()
        for backend, vectorize in (("torch", True), ("numpy", False))
    ]
    np.testing.assert_allclose(runs[0], runs[1], rtol=0, atol=1e-10)


def test_torch_seed() -> None:
    circuit = ref.sde_population(20, "x' = -x + s*xi()", s=1.0)

    def run(seed: int) -> np.ndarray:
        return circuit.run(
            1.0, 0.01, outputs={"x": "p3/op/x"}, solver="euler_maruyama", backend="torch", seed=seed
        ).to_numpy()

    np.testing.assert_array_equal(run(1), run(1))
    assert not np.allclose(run(1), run(2))


def test_torch_randn_in_an_sde_model_is_seeded() -> None:
    op = OperatorTemplate(
        name="op", equations=["x' = randn() - s*xi()"], variables={"x": "output(0.0)", "s": 1.0}
    )
    circuit = CircuitTemplate(name="r", nodes={"n": NodeTemplate(name="node", operators=[op])})

    def run(seed: int) -> np.ndarray:
        return circuit.run(
            1.0, 0.01, outputs={"x": "n/op/x"}, solver="euler_maruyama", backend="torch", seed=seed
        ).to_numpy()

    np.testing.assert_array_equal(run(5), run(5))
    assert not np.allclose(run(5), run(6))


@pytest.mark.parametrize(
    ("method", "vectorize", "delays"),
    [
        ("euler_maruyama", True, "exact"),
        ("euler_maruyama", False, "exact"),
        ("heun_stochastic", True, "exact"),
        ("heun_stochastic", False, "exact"),
        ("heun_stochastic", True, "grid"),
    ],
)
def test_torch_equals_numpy_with_delays(method: str, vectorize: bool, delays: str) -> None:
    """Noise with delays (sde_delays): a delay between grid points (12.3 steps, read by the
    drift-Hermite interpolant, or 12 steps back with delays="grid"), a whole-step delay inside
    the diffusion, a stepped input that reaches the delayed variable (left-side slopes): the
    same Wiener increments give the same numbers on both backends to 1e-12."""
    op = OperatorTemplate(
        name="op",
        equations=[
            "x' = v - x + u + 0.5*past(x, 0.123) + s*(1 + 0.3*past(v, 0.05))*xi()",
            "v' = -x - 0.2*v",
        ],
        variables={"x": "output(0.5)", "v": "variable(0.1)", "s": 0.6, "u": "input(0.0)"},
    )
    node = NodeTemplate(name="pair", operators=[op])
    circuit = CircuitTemplate(name="dpair", nodes={f"p{i}": node for i in range(3)})
    T, steps = 0.5, 50
    dw = ref.brownian_increments(steps, 3, T, seed=6)
    u = np.repeat(np.linspace(0.0, 1.0, 5), 10)

    def run(backend: str) -> np.ndarray:
        return circuit.run(
            T,
            T / steps,
            outputs={"x0": "p0/op/x", "x2": "p2/op/x", "v1": "p1/op/v"},
            solver=method,
            backend=backend,
            inputs={"all/op/u": u},
            wiener_increments=dw,
            vectorize=vectorize,
            delays=delays,
        ).to_numpy()

    np.testing.assert_allclose(run("torch"), run("numpy"), rtol=0, atol=1e-12)
