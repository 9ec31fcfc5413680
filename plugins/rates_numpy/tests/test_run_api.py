"""The simulation API of rates_core (run, get_run_func, get_jacobian_func) driven through the
installed rates-numpy plugin, as a user calls it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.integrate import solve_ivp

from rates_core import CircuitTemplate, integrate
from rates_core.errors import ModelError, SolverError, UnknownBackendError

QIF = "rates_core.models.qif.qif"
JRC = "rates_core.models.jansenrit.JRC"


def test_run_returns_time_indexed_frame_with_pyrates_sampling():
    qif = CircuitTemplate.from_yaml(QIF)
    df = qif.run(1.0, 1e-3, sampling_step_size=1e-2, outputs={"r": "p/qif_op/r"})
    assert isinstance(df, pd.DataFrame) and list(df.columns) == ["r"]
    # rows at k * 0.01 for k = 0 .. 99; row 0 is the initial state, T itself is not a row
    assert len(df) == 100
    np.testing.assert_allclose(df.index.values, np.arange(100) * 1e-2, atol=1e-12)
    assert df["r"].iloc[0] == pytest.approx(0.01)


def test_several_nodes_give_hierarchical_columns_and_algebraic_outputs():
    jrc = CircuitTemplate.from_yaml(JRC)
    df = jrc.run(0.1, 1e-4, outputs={"m": "all/rate_out/m", "v": "pc/syn_exc_ext/v"})
    assert isinstance(df.columns, pd.MultiIndex)
    assert ("m", "ein", "rate_out/m") in df.columns
    # the algebraic output equals the sigmoid of its recorded input
    psp = jrc.run(0.1, 1e-4, outputs={"v": "ein/rate_out/v"})["v"].to_numpy()
    expected = 5.0 / (1.0 + np.exp(560.0 * (6e-3 - psp)))
    np.testing.assert_allclose(df[("m", "ein", "rate_out/m")].to_numpy(), expected, rtol=1e-12)


def test_state_is_kept_and_last_continues_the_run():
    qif = CircuitTemplate.from_yaml(QIF)
    full = qif.run(2.0, 1e-3, outputs={"r": "p/qif_op/r"}, solver="rk4")
    first = qif.run(1.0, 1e-3, outputs={"r": "p/qif_op/r"}, solver="rk4")
    assert set(qif.state) == {"p/qif_op/r", "p/qif_op/v"}
    second = qif.run(1.0, 1e-3, outputs={"r": "p/qif_op/r"}, solver="rk4", initial_state="last")
    assert second["r"].iloc[0] == pytest.approx(full["r"].iloc[1000], rel=1e-12)
    assert first["r"].iloc[0] == pytest.approx(0.01)


def test_get_run_func_works_with_solve_ivp_in_both_forms():
    qif = CircuitTemplate.from_yaml(QIF)
    ref = qif.run(5.0, 1e-3, solver="scipy", method="DOP853", rtol=1e-10, atol=1e-10)
    for functional in (True, False):
        func, args, keys, idx = qif.get_run_func("f", 1e-3, functional=functional)
        assert keys[:2] == ["t", "y"] and "p/qif_op/eta" in keys
        sol = solve_ivp(func, (0, 5.0), args[1], args=args[2:], rtol=1e-10, atol=1e-10)
        r_final = sol.y[idx["p/qif_op/r"], -1]
        r_ref = qif.state["p/qif_op/r"]
        assert r_final == pytest.approx(r_ref, rel=1e-6)
    assert ref.shape[0] == 5000


def test_jacobian_func_matches_finite_differences():
    qif = CircuitTemplate.from_yaml(QIF)
    jac, args, _, _ = qif.get_jacobian_func("J")
    func, fargs, _, _ = qif.get_run_func("f", 1e-3, functional=True)
    y = np.array([0.3, -1.2])
    h = 1e-6
    numeric = np.column_stack(
        [
            (func(0.0, y + h * e, *fargs[2:]) - func(0.0, y - h * e, *fargs[2:])) / (2 * h)
            for e in np.eye(2)
        ]
    )
    np.testing.assert_allclose(jac(0.0, y, *args[2:]), numeric, rtol=1e-6, atol=1e-8)


def test_integrate_loads_and_runs():
    df = integrate(QIF, simulation_time=0.5, step_size=1e-3, outputs={"r": "p/qif_op/r"})
    assert len(df) == 500


def test_bad_input_is_reported_clearly():
    qif = CircuitTemplate.from_yaml(QIF)
    with pytest.raises(ModelError, match="no node has a variable"):
        qif.run(1.0, 1e-3, outputs={"x": "p/qif_op/nope"})
    with pytest.raises(ModelError, match="rows"):
        qif.run(1.0, 1e-3, inputs={"p/qif_op/I_ext": np.zeros(10)})
    with pytest.raises(UnknownBackendError, match="numpy"):
        qif.run(1.0, 1e-3, backend="no_such_backend")
    with pytest.raises((UnknownBackendError, SolverError)):
        qif.run(1.0, 1e-3, solver="no_such_solver")
    with pytest.raises(SolverError, match="bogus"):
        qif.run(1.0, 1e-3, solver="scipy", bogus=1)


def test_small_vectorised_circuit_runs_scalar_code_with_identical_numbers():
    """Small systems are built unvectorised (scalar code); the numbers must not change."""
    from rates_core import build_system

    jrc = CircuitTemplate.from_yaml(JRC)
    assert len(build_system(jrc, vectorize=True).ir.populations) == 2
    out = {"m": "all/rate_out/m"}
    a = jrc.run(0.2, 1e-4, outputs=out, solver="rk4", vectorize=True)
    b = jrc.run(0.2, 1e-4, outputs=out, solver="rk4", vectorize=False)
    np.testing.assert_allclose(a.to_numpy(), b.to_numpy(), rtol=1e-12, atol=1e-15)
