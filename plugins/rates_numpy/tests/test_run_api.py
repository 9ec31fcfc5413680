"""The simulation API of rates_core (run, get_run_func, get_jacobian_func) driven through the
installed rates-numpy plugin, as a user calls it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.integrate import solve_ivp

from rates_core import CircuitTemplate, NodeTemplate, OperatorTemplate, integrate
from rates_core.errors import ArgumentError, ModelError, SolverError, UnknownBackendError

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


def test_run_keeps_the_final_state_beside_the_frozen_template():
    """run() leaves the template as it was (no attribute written onto it); the final state is
    kept beside it, per template object, and clear() forgets it."""
    qif = CircuitTemplate.from_yaml(QIF)
    before = dict(vars(qif))
    qif.run(0.01, 1e-3, outputs={"r": "p/qif_op/r"})
    assert set(vars(qif)) == set(before) and "state" not in vars(qif)
    assert set(qif.state) == {"p/qif_op/r", "p/qif_op/v"}
    other = qif.update_var({"p/qif_op/eta": -4.0})
    assert other.state == {}
    qif.clear()
    assert qif.state == {}


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
        func, args, keys, idx = qif.get_run_func(
            "f", 1e-3, functional=functional, initial_state=None
        )
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


# --------------------------------------------------------------------------- a QIF network


QIF3_W = np.array([[0.0, 6.0, -3.0], [4.0, 0.0, 2.0], [-2.0, 8.0, 0.0]])
QIF3_OUT = {"r": "all/qif_op/r", "v": "all/qif_op/v"}


def qif3() -> CircuitTemplate:
    """Three QIF populations (the node of rates_core.models.qif) coupled by a 3x3 matrix."""
    node = NodeTemplate.from_yaml("rates_core.models.qif.qif_pop")
    nodes = ["p0", "p1", "p2"]
    net = CircuitTemplate(name="qif3", nodes={n: node for n in nodes})
    return net.add_edges_from_matrix("qif_op/r", "qif_op/r_in", nodes, weight=QIF3_W)


def step_into_p1(T: float, dt: float, t_on: float = 1.0, size: float = 3.0) -> dict:
    n = round(T / dt)
    return {"p1/qif_op/I_ext": np.where(np.arange(n) * dt >= t_on, size, 0.0)}


def test_qif_network_euler_converges_to_a_dop853_reference():
    net, T = qif3(), 4.0
    errors = []
    for dt in (1e-4, 1e-5):
        run = {"inputs": step_into_p1(T, dt), "outputs": QIF3_OUT, "sampling_step_size": 1e-2}
        ref = net.run(T, dt, solver="scipy", method="DOP853", rtol=1e-12, atol=1e-12, **run)
        got = net.run(T, dt, solver="euler", **run)
        assert got.shape == ref.shape == (400, 6)
        scale = np.abs(ref.to_numpy()).max(axis=0)
        errors.append(np.max(np.abs(got.to_numpy() - ref.to_numpy()) / scale))
    # the step moves p1 (and through the coupling the others)
    r1 = ref[("r", "p1", "qif_op/r")].to_numpy()
    assert r1[-1] > 1.5 * r1[99]
    assert errors[1] < 2e-5
    assert 8 < errors[0] / errors[1] < 12  # first order


@pytest.mark.parametrize("solver", ["euler", "rk4", "scipy"])
def test_qif_network_vectorised_equals_unvectorised(solver, monkeypatch):
    import rates_core.pipeline as pipeline

    monkeypatch.setattr(pipeline, "SMALL_SYSTEM", 0)  # keep the vectorised build
    net, T, dt = qif3(), 3.0, 1e-3
    options = {"method": "DOP853", "rtol": 1e-12, "atol": 1e-12} if solver == "scipy" else {}
    kw = {"inputs": step_into_p1(T, dt), "outputs": QIF3_OUT, "solver": solver, **options}
    vec = net.run(T, dt, vectorize=True, **kw)
    flat = net.run(T, dt, vectorize=False, **kw)
    assert vec.attrs["vectorized"] and not flat.attrs["vectorized"]
    atol = 1e-12 if solver != "scipy" else 1e-9
    np.testing.assert_allclose(vec.to_numpy(), flat.to_numpy(), rtol=0, atol=atol)


# --------------------------------------------------------------------------- get_run_func inputs


@pytest.mark.parametrize("functional", [True, False], ids=["functional", "in-place"])
def test_get_run_func_with_inputs_matches_run_scipy(functional):
    net, T, dt = qif3(), 3.0, 1e-3
    inputs = step_into_p1(T, dt)
    inputs["p1/qif_op/I_ext"] = inputs["p1/qif_op/I_ext"] + np.sin(np.arange(round(T / dt)) * dt)
    tol = {"rtol": 1e-10, "atol": 1e-10}
    net.run(T, dt, inputs=inputs, solver="scipy", method="DOP853", **tol)
    reference = dict(net.state)
    func, args, keys, idx = net.get_run_func(
        "f", dt, inputs=inputs, functional=functional, initial_state=None
    )
    expected = ["t", "y", "input_times"] if functional else ["t", "y", "dy", "input_times"]
    assert keys[: len(expected)] == expected
    assert "p1/qif_op/I_ext" in keys
    times = args[keys.index("input_times")]
    np.testing.assert_allclose(times, np.arange(round(T / dt)) * dt)
    np.testing.assert_array_equal(args[keys.index("p1/qif_op/I_ext")], inputs["p1/qif_op/I_ext"])
    assert np.shape(func(*args)) == (6,)
    sol = solve_ivp(func, (0, T), args[1], args=args[2:], method="DOP853", **tol)
    assert sol.success
    for path, value in reference.items():
        assert sol.y[idx[path], -1] == pytest.approx(value, rel=1e-8, abs=1e-10), path


def test_get_run_func_inputs_into_a_vectorised_population(monkeypatch):
    import rates_core.pipeline as pipeline

    monkeypatch.setattr(pipeline, "SMALL_SYSTEM", 0)
    net, T, dt = qif3(), 2.0, 1e-2
    n = round(T / dt)
    drive = np.column_stack([np.sin(np.arange(n) * dt * k) for k in (1.0, 2.0, 3.0)])
    inputs = {"all/qif_op/I_ext": drive}
    tol = {"rtol": 1e-10, "atol": 1e-10}
    net.run(T, dt, inputs=inputs, solver="scipy", method="DOP853", **tol)
    reference = dict(net.state)
    func, args, keys, idx = net.get_run_func(
        "f", dt, inputs=inputs, functional=True, initial_state=None
    )
    assert "all/qif_op/I_ext" in keys
    assert np.shape(args[keys.index("all/qif_op/I_ext")]) == (n, 3)
    sol = solve_ivp(func, (0, T), args[1], args=args[2:], method="DOP853", **tol)
    for path, value in reference.items():
        assert sol.y[idx[path], -1] == pytest.approx(value, rel=1e-8, abs=1e-10), path


def test_get_run_func_inputs_of_different_lengths_are_refused():
    net = qif3()
    with pytest.raises(ModelError, match="same number of rows"):
        net.get_run_func(
            "f", 1e-3, inputs={"p0/qif_op/I_ext": np.zeros(10), "p1/qif_op/I_ext": np.zeros(5)}
        )


# --------------------------------------------------------------------------- metadata


def test_results_carry_metadata():
    import rates_core
    import rates_numpy

    qif = CircuitTemplate.from_yaml(QIF)
    df = qif.run(
        0.5,
        1e-3,
        sampling_step_size=1e-2,
        solver="scipy",
        method="RK23",
        rtol=1e-6,
        outputs={"r": "p/qif_op/r"},
        float_precision="float32",
    )
    attrs = df.attrs
    assert attrs["model"] == "qif"
    assert attrs["backend"] == "numpy"
    assert attrs["backend_distribution"] == "rates-numpy"
    assert attrs["backend_version"] == rates_numpy.__version__
    assert attrs["rates_core_version"] == rates_core.__version__
    assert attrs["solver"] == "scipy"
    assert attrs["solver_options"] == {"method": "RK23", "rtol": 1e-6}
    assert attrs["step_size"] == 1e-3 and attrs["sampling_step_size"] == 1e-2
    assert attrs["simulation_time"] == 0.5
    assert attrs["float_precision"] == "float32"
    assert attrs["seed"] is None


def test_get_run_func_exports_delays_with_a_history_argument_or_approximated():
    op = OperatorTemplate("echo_op", equations="x' = -past(x, 1.0)", variables={"x": "output(1.0)"})
    circuit = CircuitTemplate("dde", nodes={"a": NodeTemplate("n", operators=[op])})
    func, args, keys, _ = circuit.get_run_func("f", 1e-3)
    assert keys == ["t", "y", "hist"]
    past = lambda s: np.array([3.0 if s == 1.0 else 0.0])  # noqa: E731 - x(t - 1) = 3
    np.testing.assert_array_equal(func(2.0, args[1], past), [-3.0])
    with pytest.raises(ModelError, match="delay_approximation"):
        circuit.get_jacobian_func("J")
    func, args, keys, idx = circuit.get_run_func("f", 1e-3, functional=True, delay_approximation=4)
    assert len(args[1]) == 5  # x and the four kernel states
    dy = func(*args)
    assert dy[idx["a/echo_op/x"]] == pytest.approx(-1.0)  # kernels start at the pre-history


# --------------------------------------------------------------------------- no ignored arguments


def test_get_run_func_names_the_generated_function(tmp_path):
    qif = CircuitTemplate.from_yaml(QIF)
    target = tmp_path / "qif_field.py"
    func, *_ = qif.get_run_func("qif_rhs", 1e-3, file_name=str(target), initial_state=None)
    assert func.__name__ == "qif_rhs"
    assert "def qif_rhs(t, y, dy" in target.read_text()
    with pytest.raises(ArgumentError, match="func_name"):
        qif.get_run_func("not a name", 1e-3, initial_state=None)
    with pytest.raises(ArgumentError, match="func_name"):
        qif.get_jacobian_func("class", initial_state=None)


def test_get_run_func_solver_chooses_how_inputs_are_read_between_rows():
    """A fixed-step solver holds row k over [k dt, (k+1) dt), as run() with it does; an
    adaptive one (or None) interpolates; an unknown one is refused."""
    qif = CircuitTemplate.from_yaml(QIF)
    rows = np.arange(10, dtype=float)
    inputs = {"p/qif_op/I_ext": rows}
    for solver, expected in ((None, 3.5), ("scipy", 3.5), ("euler", 3.0), ("rk4", 3.0)):
        func, args, keys, _ = qif.get_run_func(
            "f", 0.1, inputs=inputs, solver=solver, functional=True, initial_state=None
        )
        args = list(args)
        zero = func(0.35, *args[1:])
        args[keys.index("p/qif_op/I_ext")] = rows + 1.0
        shifted = func(0.35, *args[1:])
        # I_ext enters dv/dt with factor 1/tau = 1: the change is the input read at t = 0.35
        assert shifted[1] - zero[1] == pytest.approx(1.0)
        args[keys.index("p/qif_op/I_ext")] = 2 * rows
        doubled = func(0.35, *args[1:])
        assert doubled[1] - zero[1] == pytest.approx(expected, rel=1e-12)
    with pytest.raises(UnknownBackendError, match="euler"):
        qif.get_run_func("f", 0.1, inputs=inputs, solver="no_such_solver", initial_state=None)


def test_get_jacobian_func_step_size_gives_central_differences():
    qif = CircuitTemplate.from_yaml(QIF)
    exact, args, keys, _ = qif.get_jacobian_func("J", initial_state=None)
    approx, args2, keys2, _ = qif.get_jacobian_func("J_fd", step_size=1e-6, initial_state=None)
    assert keys == keys2 and approx.__name__ == "J_fd"
    np.testing.assert_allclose(approx(*args2), exact(*args), rtol=1e-7, atol=1e-8)
    for bad in (0.0, -1e-3, float("nan"), "small"):
        with pytest.raises(ArgumentError, match="step_size"):
            qif.get_jacobian_func("J", step_size=bad, initial_state=None)


# --------------------------------------------------------------------------- prepared once


def _counting_builds(monkeypatch) -> list:
    import rates_core.pipeline as pipeline

    calls: list = []
    real = pipeline.build_system

    def counting(*args, **kwargs):
        calls.append(kwargs.get("inputs"))
        return real(*args, **kwargs)

    monkeypatch.setattr(pipeline, "build_system", counting)
    return calls


def test_a_second_run_of_a_template_builds_nothing_and_rebinds_run_values(monkeypatch):
    """The System and code of a template are made once per build options; initial state and
    input arrays are bound per run. Numbers equal those of a fresh build (exactly: the same
    arithmetic), and a changed template or input path builds again."""
    import dataclasses

    qif = CircuitTemplate.from_yaml(QIF)
    calls = _counting_builds(monkeypatch)
    out = {"r": "p/qif_op/r"}
    rows = np.linspace(0.0, 2.0, 1000)

    def run(circuit, **kw):
        return circuit.run(1.0, 1e-3, outputs=out, solver="rk4", **kw)["r"].to_numpy()

    first = run(qif)
    n = len(calls)
    assert n >= 1
    np.testing.assert_array_equal(run(qif), first)
    start = {"p/qif_op/v": -1.0}
    driven = run(qif, initial_state=start, inputs={"p/qif_op/I_ext": rows})
    assert len(calls) == n + 1  # a new input path is a new build ...
    again = run(qif, initial_state=start, inputs={"p/qif_op/I_ext": 2 * rows})
    assert len(calls) == n + 1  # ... built once
    fresh = dataclasses.replace(qif)  # the same template, another object: built anew
    np.testing.assert_array_equal(
        run(fresh, initial_state=start, inputs={"p/qif_op/I_ext": 2 * rows}), again
    )
    np.testing.assert_array_equal(run(fresh), first)
    assert not np.array_equal(driven, again)
    changed = qif.update_var(node_vars={"p/qif_op/eta": -4.0})
    before = len(calls)
    assert not np.array_equal(run(changed), first)
    assert len(calls) > before
