"""Every equation-level function of MODEL_FORMAT.md in the NumPy backend, through ``run``.

Each model is integrated with Euler by rates (vectorised and unvectorised builds; small systems
are not switched to the unvectorised build here) and by a few lines of NumPy; the recorded
trajectories must agree to rounding. Vector variables (``output(0.0, 3)``, ``variable([...])``)
and matrix constants declared as nested lists are part of every model.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from rates_numpy_testlib import circuit

import rates_core.pipeline as pipeline
from rates_core import CircuitTemplate, NodeTemplate, OperatorTemplate
from rates_core.errors import ModelError

W = [[0.0, 1.0, 2.0], [0.5, 0.0, -1.0], [1.0, 1.0, 0.0]]
WA = np.array(W)
DT, T = 0.01, 0.5


@pytest.fixture(autouse=True)
def _keep_vectorised(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pipeline, "SMALL_SYSTEM", 0)


def euler(f: Callable, x0, n_steps: int = round(T / DT), dt: float = DT) -> np.ndarray:
    """Rows k = 0 .. n_steps - 1 of explicit Euler for x' = f(t, x), row 0 the initial state."""
    x = np.array(x0, dtype=float)
    rows = [x.copy()]
    for k in range(n_steps - 1):
        x = x + dt * f(k * dt, x)
        rows.append(x.copy())
    return np.array(rows)


def columns(df, name: str, size: int) -> np.ndarray:
    return df[[f"{name}[{k}]" for k in range(size)]].to_numpy()


CASES = {
    "matvec-index-vsum": (
        ["x' = -x + matvec(W, x) + index(x, 1) - vsum(x)/3"],
        {"x": "output([0.1, 0.5, -0.3])", "W": W},
        lambda t, x: -x + WA @ x + x[1] - x.sum() / 3,
        [0.1, 0.5, -0.3],
    ),
    "matmul-index_axis": (
        ["x' = -x + matmul(W, x) + index_axis(W, 1) + index_axis(W, 2, 1)"],
        {"x": "output(0.0, 3)", "W": W},
        lambda t, x: -x + WA @ x + WA[1] + WA[:, 2],
        [0.0, 0.0, 0.0],
    ),
    "concatenate-index_range": (
        ["x' = -x + concatenate(index_range(x, 2, 4), a)"],
        {"x": "output([0.1, 0.5, -0.3, 0.7])", "a": [1.0, 2.0]},
        lambda t, x: -x + np.concatenate([x[2:4], [1.0, 2.0]]),
        [0.1, 0.5, -0.3, 0.7],
    ),
    "interp-mean-maxi-mini": (
        ["x' = -x + interp(t, ts, vs) + mean(x) - maxi(x) + mini(x) + index(M, 1, 0)"],
        {
            "x": "output([0.2, -0.1])",
            "ts": [0.0, 0.2, 0.5],
            "vs": [1.0, 1.0, -2.0],  # equal values must not collapse the vector
            "M": [[1.0, 1.0], [1.0, 1.0]],  # nor an all-ones matrix to one number
        },
        lambda t, x: (
            -x
            + np.interp(t, [0.0, 0.2, 0.5], [1.0, 1.0, -2.0])
            + x.mean()
            - x.max()
            + x.min()
            + 1.0
        ),
        [0.2, -0.1],
    ),
}


@pytest.mark.parametrize("vectorize", [True, False], ids=["vectorised", "unvectorised"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_vector_functions_match_numpy(case: str, vectorize: bool) -> None:
    eqs, variables, f, x0 = CASES[case]
    c = circuit(case.replace("-", "_"), eqs, variables)
    df = c.run(T, DT, vectorize=vectorize, outputs={"x": "n/op/x"})
    expected = euler(f, x0)
    got = columns(df, "x", len(x0))
    np.testing.assert_allclose(got, expected, rtol=1e-13, atol=1e-14)
    assert np.ptp(got[:, 0]) > 1e-3  # it moves
    # the final state of a vector variable is the whole vector; "last" continues from it
    last = np.array(c.state["n/op/x"])
    np.testing.assert_allclose(last, got[-1] + DT * f((len(got) - 1) * DT, got[-1]), rtol=1e-13)
    again = c.run(2 * DT, DT, vectorize=vectorize, outputs={"x": "n/op/x"}, initial_state="last")
    np.testing.assert_array_equal(columns(again, "x", len(x0))[0], last)


@pytest.mark.parametrize("vectorize", [True, False], ids=["vectorised", "unvectorised"])
def test_vector_algebraic_variables_are_recorded(vectorize: bool) -> None:
    """Algebraic vectors built with shape-sensitive functions are evaluated sample by sample."""
    c = circuit(
        "algebraic",
        [
            "x' = -x + u",
            "u = concatenate(index(W, 0, 2), index_range(matvec(W, x), 0, 2))",
            "s = vsum(matvec(W, x))",
        ],
        {"x": "output([0.3, -0.2, 0.1])", "u": "variable(0.0, 3)", "s": "variable(0.0)", "W": W},
    )
    df = c.run(T, DT, vectorize=vectorize, outputs={"x": "n/op/x", "u": "n/op/u", "s": "n/op/s"})

    def u_of(x):
        return np.concatenate([[WA[0, 2]], (WA @ x)[:2]])

    xs = euler(lambda t, x: -x + u_of(x), [0.3, -0.2, 0.1])
    np.testing.assert_allclose(columns(df, "x", 3), xs, rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(
        columns(df, "u", 3), np.array([u_of(x) for x in xs]), rtol=1e-13, atol=1e-14
    )
    np.testing.assert_allclose(df["s"].to_numpy(), (xs @ WA.T).sum(axis=1), rtol=1e-13)


def test_interp_of_a_state_and_a_scalar_model() -> None:
    c = circuit(
        "interp_state",
        ["x' = 1.0 - interp(x, xs, ys)"],
        {"x": "output(0.0)", "xs": [0.0, 1.0], "ys": [0.0, 4.0]},
    )
    df = c.run(T, DT, outputs={"x": "n/op/x"})
    expected = euler(lambda t, x: 1.0 - np.interp(x, [0.0, 1.0], [0.0, 4.0]), [0.0])
    np.testing.assert_allclose(df[["x"]].to_numpy(), expected, rtol=1e-13, atol=1e-15)


# --------------------------------------------------------------------------- randn


@pytest.mark.parametrize("vectorize", [True, False], ids=["vectorised", "unvectorised"])
def test_randn_is_seeded_by_run(vectorize: bool) -> None:
    c = circuit("noise", ["x' = -x + s*randn(3)"], {"x": "output(0.0, 3)", "s": 2.0})
    a = c.run(T, DT, vectorize=vectorize, seed=11, outputs={"x": "n/op/x"})
    b = c.run(T, DT, vectorize=vectorize, seed=11, outputs={"x": "n/op/x"})
    other = c.run(T, DT, vectorize=vectorize, seed=12, outputs={"x": "n/op/x"})
    np.testing.assert_array_equal(a.to_numpy(), b.to_numpy())
    assert not np.array_equal(a.to_numpy(), other.to_numpy())
    rng = np.random.default_rng(11)
    expected = euler(lambda t, x: -x + 2.0 * rng.standard_normal(3), [0.0, 0.0, 0.0])
    np.testing.assert_allclose(columns(a, "x", 3), expected, rtol=1e-13, atol=1e-15)
    assert a.attrs["seed"] == 11


def noisy_network() -> CircuitTemplate:
    op = OperatorTemplate(
        name="op", equations=["x' = -x + s*randn()"], variables={"x": "output(0.0)", "s": 1.0}
    )
    node = NodeTemplate(name="node", operators=[op])
    return CircuitTemplate(name="noisy", nodes={n: node for n in ("a", "b", "c")})


@pytest.mark.parametrize("solver", ["euler", "rk4"])
def test_randn_in_a_vectorised_population_draws_one_sample_per_node(solver: str) -> None:
    """``randn()`` of a node: one sample per node, whether the nodes are vectorised or not."""
    c = noisy_network()
    out = {"x": "all/op/x"}
    vec = c.run(T, DT, solver=solver, seed=5, outputs=out, vectorize=True)
    flat = c.run(T, DT, solver=solver, seed=5, outputs=out, vectorize=False)
    assert vec.attrs["vectorized"] and not flat.attrs["vectorized"]
    values = vec.to_numpy()
    assert not np.allclose(values[:, 0], values[:, 1])  # independent noise per node
    # the same generator stream, drawn n at a time or one by one: the same numbers
    np.testing.assert_allclose(values, flat.to_numpy(), rtol=1e-13, atol=1e-15)
    if solver == "euler":
        rng = np.random.default_rng(5)
        expected = euler(lambda t, x: -x + rng.standard_normal(3), [0.0, 0.0, 0.0])
        np.testing.assert_allclose(values, expected, rtol=1e-13, atol=1e-15)


def test_recording_noise_is_refused() -> None:
    c = circuit(
        "noisy_alg",
        ["x' = -x + e", "e = s*randn()"],
        {"x": "output(0.0)", "e": "variable(0.0)", "s": 1.0},
    )
    c.run(0.1, DT, seed=1)  # states only: fine
    with pytest.raises(ModelError, match="randn"):
        c.run(0.1, DT, seed=1, outputs={"e": "n/op/e"})
