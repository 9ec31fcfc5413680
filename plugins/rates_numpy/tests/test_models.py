"""Networks, inputs, complex states, builtins, Jacobians and the plugin hooks of rates-numpy."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from rates_numpy_testlib import by_path, circuit, emit, problem, qif_network, qif_op, system_of

from rates_core import CircuitTemplate, NodeTemplate, build_system
from rates_core.backend import EmitOptions, EmittedFunction, Trajectory
from rates_core.builtins import function_table
from rates_core.errors import SolverError
from rates_core.plugins import EmitContext
from rates_numpy.solvers import solve

W3 = np.array([[0.0, 1.5, -2.0], [3.0, 0.0, 0.5], [-1.0, 2.5, 0.0]])


def _compare_by_path(sys_a, traj_a, sys_b, traj_b, atol):
    a, b = by_path(sys_a, traj_a.states), by_path(sys_b, traj_b.states)
    assert set(a) == set(b)
    for path in a:
        np.testing.assert_allclose(a[path], b[path], atol=atol, rtol=0, err_msg=path)


# --------------------------------------------------------------------------- networks


@pytest.mark.parametrize("solver", ["euler", "rk4", "scipy"])
def test_vectorised_network_matches_unvectorised(solver: str) -> None:
    circ = qif_network(W3)
    vec = build_system(circ)
    flat = build_system(circ, vectorize=False)
    assert any(p.role == "matrix" for p in vec.params)
    assert max(s.size for s in vec.states) == 3
    assert max(s.size for s in flat.states) == 1
    fv, ff = emit(vec), emit(flat)
    assert not fv.extras["scalar"]
    options = {"method": "DOP853", "rtol": 1e-12, "atol": 1e-12} if solver == "scipy" else {}
    tv = solve(solver, fv, problem(vec, 2.0, 1e-3, every=20, options=options))
    tf = solve(solver, ff, problem(flat, 2.0, 1e-3, every=20, options=options))
    _compare_by_path(vec, tv, flat, tf, atol=1e-12 if solver != "scipy" else 1e-9)
    assert np.ptp(tv.states[:, 0]) > 1e-3  # it moves


def test_sparse_coupling_matches_unvectorised() -> None:
    rng = np.random.default_rng(3)
    n = 25
    w = sp.random(n, n, density=0.05, random_state=4, format="csr") * 2.0
    w.setdiag(0)
    w.eliminate_zeros()
    circ = qif_network(w)
    vec = build_system(circ)
    mats = [p.value for p in vec.params if p.role == "matrix"]
    assert mats and sp.issparse(mats[0])
    flat = build_system(circ, vectorize=False)
    y0 = vec.initial_state() + 0.01 * rng.standard_normal(vec.n_states)
    tv = solve("heun", emit(vec), problem(vec, 0.5, 1e-3, every=50, y0=y0))
    y0_flat = np.empty(flat.n_states)
    for path, col in by_path(vec, y0[None, :]).items():
        flat_state = next(s for s in flat.states if path in s.paths)
        y0_flat[flat_state.start + flat_state.paths.index(path)] = col[0]
    tf = solve("heun", emit(flat), problem(flat, 0.5, 1e-3, every=50, y0=y0_flat))
    _compare_by_path(vec, tv, flat, tf, atol=1e-12)


@pytest.mark.parametrize("solver", ["euler", "heun", "rk4", "scipy"])
def test_scalar_loop_matches_vector_path(solver: str) -> None:
    s = build_system(qif_network(np.array([[15.0]]), nodes=["p"]), inputs=["p/qif_op/I_ext"])
    fs, fv = emit(s), emit(s, scalar=False)
    assert fs.extras["scalar"] and not fv.extras["scalar"]
    assert "import math" in fs.source and "math.pi" in fs.source and "numpy.pi" in fv.source
    n_steps = 3000
    drive = 2.0 * np.sin(np.arange(n_steps) * 1e-3 * 5.0)
    name = s.inputs[0].name
    p = problem(s, 3.0, 1e-3, every=7, inputs={name: drive})
    if solver == "scipy":
        p.options = {"method": "RK45", "rtol": 1e-8}
        p.input_times = np.arange(n_steps) * 1e-3
    a, b = solve(solver, fs, p), solve(solver, fv, p)
    if solver != "scipy":
        assert a.info["path"] == "scalar-loop" and b.info["path"] == "vector"
    np.testing.assert_allclose(a.states, b.states, atol=1e-12, rtol=0)
    np.testing.assert_allclose(a.final, b.final, atol=1e-12, rtol=0)


# --------------------------------------------------------------------------- inputs


@pytest.mark.parametrize("scalar", [True, False], ids=["scalar-loop", "vector"])
@pytest.mark.parametrize("solver", ["euler", "rk4"])
def test_step_input_into_qif(solver: str, scalar: bool) -> None:
    """I_ext adds to eta: a step of 3 at t1 equals a restart from the state at t1 with eta + 3."""
    s = build_system(qif_network(np.array([[15.0]]), nodes=["p"]), inputs=["p/qif_op/I_ext"])
    fn = emit(s, scalar=scalar)
    dt, T, t1 = 1e-3, 4.0, 1.0
    n_steps, k1 = round(T / dt), round(t1 / dt)
    step = np.where(np.arange(n_steps) >= k1, 3.0, 0.0)
    name = s.inputs[0].name
    driven = solve(solver, fn, problem(s, T, dt, every=10, inputs={name: step}))
    first = solve(solver, fn, problem(s, t1, dt, every=10))
    params = [p.value + 3.0 if p.name == "eta" else p.value for p in s.params]
    second = solve(solver, fn, problem(s, T - t1, dt, every=10, y0=first.final, params=params))
    expected = np.vstack([first.states, second.states])
    np.testing.assert_allclose(driven.states, expected, atol=1e-12, rtol=0)
    np.testing.assert_allclose(driven.final, second.final, atol=1e-12, rtol=0)
    r = driven.states[:, s.state("r").start]
    assert r[-1] > 2 * r[k1 // 10 - 1]  # the step raises the firing rate


def test_inputs_rows_per_step_and_interpolated() -> None:
    s = system_of(
        "integrator", ["x' = u"], {"x": "output(0.0)", "u": "input(0.0)"}, inputs=["n/op/u"]
    )
    (inp,) = s.inputs
    dt, T = 0.01, 2.0
    steps = np.arange(round(T / dt)) * dt
    for scalar in (True, False):
        fn = emit(s, scalar=scalar)
        # Euler with a row per step integrates the piecewise-constant input exactly
        traj = solve("euler", fn, problem(s, T, dt, inputs={inp.name: 2.0 * steps}))
        np.testing.assert_allclose(traj.final[0], np.sum(2.0 * steps) * dt, rtol=1e-12)
        # rk4: all stages of step k see row k
        traj = solve("rk4", fn, problem(s, T, dt, inputs={inp.name: 2.0 * steps}))
        np.testing.assert_allclose(traj.final[0], np.sum(2.0 * steps) * dt, rtol=1e-12)
        # scipy interpolates linearly between coarse samples: integral of 2t is t^2
        coarse = np.linspace(0.0, T, 11)
        traj = solve(
            "scipy",
            fn,
            problem(
                s,
                T,
                dt,
                every=10,
                inputs={inp.name: 2 * coarse},
                input_times=coarse,
                options={"rtol": 1e-10, "atol": 1e-12},
            ),
        )
        np.testing.assert_allclose(traj.states[:, 0], traj.times**2, atol=1e-8)
        np.testing.assert_allclose(traj.final[0], T**2, rtol=1e-9)
    with pytest.raises(SolverError, match="one row per step"):
        solve("euler", emit(s), problem(s, T, dt, inputs={inp.name: np.zeros(5)}))


# --------------------------------------------------------------------------- complex


def stuart_landau(mu: float = 4.0, omega: float = 3.0):
    return system_of(
        "stuart_landau",
        ["z' = (mu + I*omega)*z - abs(z)^2*z", "a' = (abs(z) - a)/tau_a"],
        {
            "z": {"vtype": "state", "dtype": "complex", "value": 0.1},
            "a": "variable(0.0)",
            "mu": mu,
            "omega": omega,
            "tau_a": 0.5,
        },
    )


@pytest.mark.parametrize("scalar", [True, False], ids=["scalar-loop", "vector"])
def test_stuart_landau_limit_cycle(scalar: bool) -> None:
    s = stuart_landau()
    assert s.is_complex
    fn = emit(s, scalar=scalar)
    assert ("cmath.sqrt" in fn.source or "abs(z)" in fn.source) if scalar else True
    traj = solve("rk4", fn, problem(s, 20.0, 1e-3, every=100))
    assert traj.states.dtype == np.complex128
    z = traj.states[:, s.state("z").start]
    a = traj.states[:, s.state("a").start]
    np.testing.assert_allclose(np.abs(z[-50:]), 2.0, rtol=1e-9)
    np.testing.assert_allclose(a[-1].real, 2.0, rtol=1e-6)
    assert np.all(a.imag == 0)
    # on the cycle the phase turns at omega
    phase = np.unwrap(np.angle(z[-50:]))
    np.testing.assert_allclose(np.diff(phase) / 0.1, 3.0, rtol=1e-6)
    ref = solve(
        "scipy",
        fn,
        problem(
            s, 20.0, 1e-3, every=100, options={"method": "DOP853", "rtol": 1e-11, "atol": 1e-12}
        ),
    )
    np.testing.assert_allclose(traj.states, ref.states, atol=1e-7)


def test_complex_lsoda_is_refused() -> None:
    s = stuart_landau()
    with pytest.raises(SolverError, match="LSODA"):
        solve("scipy", emit(s), problem(s, 1.0, 0.1, options={"method": "LSODA"}))


# --------------------------------------------------------------------------- builtins


BUILTIN_EQS = [
    "x' = maxi(x, 0.5) - mini(w, 0.2) + (x > w) + round(3*x) + abs(w)*sign(x) - x*w - 0.1*t",
    "w' = -w + tanh(x) + sigmoid(x) + (x <= 0.3)*real(1.5) - exp(-abs(x))",
]


def builtin_reference(t, x, w):
    return np.array(
        [
            max(x, 0.5)
            - min(w, 0.2)
            + float(x > w)
            + np.round(3 * x)
            + abs(w) * np.sign(x)
            - x * w
            - 0.1 * t,
            -w + np.tanh(x) + 1 / (1 + np.exp(-x)) + 1.5 * float(x <= 0.3) - np.exp(-abs(x)),
        ]
    )


def test_builtins_in_scalar_and_vector_code() -> None:
    s = system_of("builtins", BUILTIN_EQS, {"x": "output(0.1)", "w": "variable(0.4)"})
    params = [p.value for p in s.params]
    fs, fv = emit(s), emit(s, scalar=False)
    assert "numpy.greater" not in fs.source and "numpy.maximum" in fv.source
    rng = np.random.default_rng(0)
    for _ in range(50):
        t, x, w = rng.uniform(-1, 1, size=3)
        y = np.array([x, w])
        ref = builtin_reference(t, x, w)
        np.testing.assert_allclose(fs.rhs_functional(t, y, *params), ref, rtol=1e-14, atol=1e-14)
        np.testing.assert_allclose(fv.rhs_functional(t, y, *params), ref, rtol=1e-14, atol=1e-14)


def test_vector_reductions_and_indexing() -> None:
    s = system_of(
        "reductions",
        ["x' = -x + vsum(x)/10 + mean(x) - maxi(x) + mini(x) + index(x, 0)"],
        {"x": "variable([0.1, 0.5, -0.3, 0.8])"},
    )
    fn = emit(s)
    assert not fn.extras["scalar"]
    x = np.array([0.3, -0.2, 0.9, 0.4])
    ref = -x + x.sum() / 10 + x.mean() - x.max() + x.min() + x[0]
    np.testing.assert_allclose(fn.rhs_functional(0.0, x, *[p.value for p in s.params]), ref)


def test_plugin_builtin_callable_is_injected() -> None:
    circ = circuit("custom", ["x' = -twice(x)"], {"x": "output(1.0)"})
    s = build_system(circ, functions=function_table(["twice"]))
    from rates_numpy.emit import emit_function

    fn = emit_function(s, EmitContext(builtins={"twice": lambda v: 2.0 * v}))
    traj = solve("rk4", fn, problem(s, 1.0, 1e-3, every=100))
    np.testing.assert_allclose(traj.final, [np.exp(-2.0)], rtol=1e-11)


def test_randn_is_seeded_by_problem() -> None:
    s = system_of("noise", ["x' = -x + sigma*randn()"], {"x": "output(0.0)", "sigma": 1.0})
    fn = emit(s)
    a = solve("euler", fn, problem(s, 1.0, 0.01, seed=7))
    b = solve("euler", fn, problem(s, 1.0, 0.01, seed=7))
    c = solve("euler", fn, problem(s, 1.0, 0.01, seed=8))
    np.testing.assert_array_equal(a.states, b.states)
    assert not np.array_equal(a.states, c.states)
    expected_first = 0.01 * np.random.default_rng(7).standard_normal()
    np.testing.assert_allclose(a.states[1, 0], expected_first, rtol=1e-14)


# --------------------------------------------------------------------------- precision


def test_float32_jansen_rit() -> None:
    circ = CircuitTemplate.from_yaml("rates_core.models.jansenrit.JRC")
    s64 = build_system(circ)
    s32 = build_system(circ, float_precision="float32")
    f32 = emit(s32)
    assert 'numpy.dtype("float32")' in f32.source
    t32 = solve("rk4", f32, problem(s32, 0.2, 1e-4, every=10))
    t64 = solve("rk4", emit(s64), problem(s64, 0.2, 1e-4, every=10))
    assert t32.states.dtype == np.float32 and t64.states.dtype == np.float64
    scale = np.max(np.abs(t64.states), axis=0)
    assert np.max(np.abs(t32.states - t64.states) / scale) < 1e-3
    assert np.max(np.abs(t32.states - t64.states) / scale) > 0  # really single precision


def test_jansen_rit_rk4_matches_scipy() -> None:
    s = build_system(CircuitTemplate.from_yaml("rates_core.models.jansenrit.JRC"))
    fn = emit(s)
    rk4 = solve("rk4", fn, problem(s, 0.5, 1e-4, every=10))
    ref = solve(
        "scipy",
        fn,
        problem(s, 0.5, 1e-4, every=10, options={"method": "DOP853", "rtol": 1e-12, "atol": 1e-14}),
    )
    scale = np.max(np.abs(ref.states), axis=0)
    assert np.max(np.abs(rk4.states - ref.states) / scale) < 1e-7


# --------------------------------------------------------------------------- Jacobian


def _fd_jacobian(fn: EmittedFunction, t, y, params, h=1e-6):
    n = y.size
    jac = np.zeros((n, n), dtype=np.result_type(y, float))
    for j in range(n):
        step = h * max(abs(y[j]), 1.0)
        e = np.zeros(n, dtype=y.dtype)
        e[j] = step
        jac[:, j] = (
            fn.rhs_functional(t, y + e, *params) - fn.rhs_functional(t, y - e, *params)
        ) / (2 * step)
    return jac


@pytest.mark.parametrize("model", ["qif", "qif-vector", "network", "jrc", "vdp"])
def test_jacobian_matches_finite_differences(model: str) -> None:
    rng = np.random.default_rng(1)
    if model in ("qif", "qif-vector"):
        s = build_system(qif_network(np.array([[15.0]]), nodes=["p"]))
    elif model == "network":
        s = build_system(qif_network(W3))
    elif model == "jrc":
        s = build_system(CircuitTemplate.from_yaml("rates_core.models.jansenrit.JRC"))
    else:
        s = system_of(
            "vdp",
            ["x' = w", "w' = mu*(1 - x^2)*w - x"],
            {"x": "output(2.0)", "w": "variable(0.0)", "mu": 1.3},
        )
    fn = emit(s, scalar=False if model == "qif-vector" else None)
    assert fn.jacobian is not None and "def jacobian(" in fn.source
    params = [p.value for p in s.params]
    scale = 0.01 if model == "jrc" else 1.0
    for _ in range(3):
        y = s.initial_state() + scale * rng.standard_normal(s.n_states)
        jac = fn.jacobian(0.3, y, *params)
        fd = _fd_jacobian(fn, 0.3, y, params)
        assert jac.shape == (s.n_states, s.n_states)
        np.testing.assert_allclose(jac, fd, rtol=1e-5, atol=1e-7 * np.max(np.abs(fd)))


def test_no_jacobian_for_non_holomorphic_complex_field() -> None:
    fn = emit(stuart_landau())
    assert fn.jacobian is None and "def jacobian(" not in fn.source


# --------------------------------------------------------------------------- errors, hooks


def test_delayed_edges_are_emitted() -> None:
    """Delays are supported (see test_delays.py): delayed reads are vector-field arguments."""
    node = NodeTemplate(name="qif_pop", operators=[qif_op()])
    c = CircuitTemplate(name="delayed", nodes={"a": node, "b": node})
    c = c.add_edges_from_matrix(
        "qif_op/r",
        "qif_op/r_in",
        ["a", "b"],
        weight=np.array([[0, 1.0], [1.0, 0]]),
        edge_attr={"delay": 0.5},
    )
    s = build_system(c)
    assert s.delayed
    fn = emit(s)
    assert fn.extras["delayed"] == [d.name for d in s.delayed]
    traj = solve("rk4", fn, problem(s, 1.0, 0.01))
    assert np.all(np.isfinite(traj.states))


def test_hooks_through_the_plugin_host() -> None:
    from rates_core.plugins import default_host

    host = default_host()
    info = host.backend_info("numpy")
    assert {
        "execute",
        "adaptive",
        "complex",
        "float32",
        "vectorised",
        "jacobian",
        "dde",
    } <= info.capabilities
    assert {"euler", "heun", "rk4", "scipy"} <= set(host.solvers())
    assert host.solver_info("scipy").adaptive and not host.solver_info("rk4").adaptive
    s = system_of("decay", ["x' = -x/tau"], {"x": "output(1.0)", "tau": 0.5})
    fn = host.emit_function("numpy", s, EmitOptions())
    assert isinstance(fn, EmittedFunction) and fn.backend == "numpy"
    traj = host.solve("rk4", fn, problem(s, 1.0, 1e-3, every=10))
    assert isinstance(traj, Trajectory)
    np.testing.assert_allclose(traj.final, [np.exp(-2.0)], rtol=1e-12)
    assert host.builtins("numpy") == {}
    assert host.resolve_solver("numpy", "rk4").name == "rk4"  # numpy's methods are its names
