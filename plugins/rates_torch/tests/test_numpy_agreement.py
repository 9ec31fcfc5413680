"""rates-torch equals rates-numpy within 1e-10 (float64) on the reference problems, with the
same fixed-step method, and the adaptive torch_dopri5 matches SciPy at tight tolerances."""

from __future__ import annotations

import numpy as np
import pytest

from rates_core.testing import references as ref

PAIRS = [("euler", "torch_euler"), ("heun", "torch_heun"), ("rk4", "torch_rk4")]


def _both(circuit_fn, T, dt, outputs, np_solver, torch_solver, **kw):
    a = circuit_fn().run(T, dt, outputs=outputs, solver=np_solver, backend="numpy", **kw)
    b = circuit_fn().run(T, dt, outputs=outputs, solver=torch_solver, backend="torch", **kw)
    return a.to_numpy(), b.to_numpy()


def _close(a, b, tol=1e-10):
    scale = max(float(np.max(np.abs(a))), 1.0)
    assert np.max(np.abs(a - b)) <= tol * scale, np.max(np.abs(a - b)) / scale


@pytest.mark.parametrize(("np_solver", "torch_solver"), PAIRS, ids=[p[1] for p in PAIRS])
def test_jansen_rit_equals_numpy(np_solver, torch_solver):
    outputs = {p.replace("/", "_"): p for p in ref.JANSEN_RIT_PATHS}
    a, b = _both(ref.jansen_rit_circuit, 0.05, 1e-4, outputs, np_solver, torch_solver)
    _close(a, b)


@pytest.mark.parametrize(("np_solver", "torch_solver"), PAIRS, ids=[p[1] for p in PAIRS])
def test_van_der_pol_and_lorenz_equal_numpy(np_solver, torch_solver):
    a, b = _both(ref.van_der_pol_circuit, 2.0, 2e-3, {"x": "n/op/x"}, np_solver, torch_solver)
    _close(a, b)
    out = {"x": "n/op/x", "z": "n/op/z"}
    a, b = _both(ref.lorenz_circuit, 0.5, 5e-3, out, np_solver, torch_solver)
    _close(a, b)


@pytest.mark.parametrize(("np_solver", "torch_solver"), PAIRS, ids=[p[1] for p in PAIRS])
def test_delays_equal_numpy(np_solver, torch_solver):
    a, b = _both(ref.delay_circuit, 3.0, 2e-2, {"x": "n/op/x"}, np_solver, torch_solver)
    _close(a, b)
    a, b = _both(ref.delay_edge_circuit, 2.0, 2e-2, {"b": "b/op/b"}, np_solver, torch_solver)
    _close(a, b)


def test_sparse_network_and_inputs_equal_numpy():
    labels, _, circuit = ref.rate_network_nodes(30)
    rng = np.random.default_rng(1)
    w = rng.uniform(-1, 1, (30, 30)) * (rng.random((30, 30)) < 0.05)
    circuit = circuit.add_edges_from_matrix("op/r", "op/r_in", labels, weight=w)
    u = rng.normal(size=(500, 30))
    outputs = {f"r{i}": f"p{i}/op/r" for i in range(0, 30, 7)}

    def make():
        return circuit

    a, b = _both(make, 0.5, 1e-3, outputs, "rk4", "torch_rk4", inputs={"all/op/r_in": u})
    _close(a, b)


def test_dopri5_matches_scipy_dop853():
    out = {"x": "n/op/x", "v": "n/op/v"}
    a = ref.van_der_pol_circuit().run(
        5.0, 0.01, outputs=out, solver="scipy", method="DOP853", rtol=1e-12, atol=1e-14
    )
    b = ref.van_der_pol_circuit().run(
        5.0, 0.01, outputs=out, solver="torch_dopri5", backend="torch", rtol=1e-11, atol=1e-13
    )
    _close(a.to_numpy(), b.to_numpy(), 1e-8)


def test_dopri5_delay_matches_closed_form():
    b = ref.delay_circuit().run(
        4.0, 0.01, outputs={"x": "n/op/x"}, solver="torch_dopri5", backend="torch", rtol=1e-10
    )
    _close(b["x"].to_numpy(), np.asarray(ref.delay_exact(b.index.to_numpy())).reshape(-1), 1e-8)
