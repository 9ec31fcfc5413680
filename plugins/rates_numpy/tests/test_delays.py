"""Delay differential equations in rates-numpy: history in the solvers, the same under each one.

References are exact where possible: x' = -x(t - tau) with a polynomial pre-history is solved
by the method of steps in exact polynomial arithmetic (numpy.polynomial), a delayed sine into a
leaky integrator in closed form.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from numpy.polynomial import Polynomial
from rates_numpy_testlib import circuit, emit, problem, system_of

from rates_core import CircuitTemplate, NodeTemplate, OperatorTemplate, build_system
from rates_core.errors import ModelError, SolverError
from rates_numpy.emit import emit_source
from rates_numpy.history import RingHistory, breakpoints, segment_ends
from rates_numpy.solvers import solve

FIXED = ("euler", "heun", "rk4")
ORDERS = {"euler": 1, "heun": 2, "rk4": 4}
#: step sizes that divide the delay 1 (and 0.5) evenly, per method (errors well above rounding)
STEPS = {
    "euler": (0.01, 0.005, 0.0025),
    "heun": (0.05, 0.025, 0.0125),
    "rk4": (0.1, 0.05, 0.025),
}
SCIPY_TIGHT = {"method": "DOP853", "rtol": 1e-12, "atol": 1e-12}


# --------------------------------------------------------------------------- references


def method_of_steps(
    t: np.ndarray, tau: float, history: Polynomial | None = None, x0: float = 1.0
) -> np.ndarray:
    """Exact solution of x' = -x(t - tau), x = ``history`` (default 1) before 0, x(0) = x0:
    on [k tau, (k+1) tau] x is the polynomial x(k tau) - int_{k tau}^t x(s - tau) ds."""
    t = np.asarray(t, dtype=float)
    prev = history if history is not None else Polynomial([1.0])
    pieces = []
    start, value = 0.0, x0
    for _ in range(int(math.ceil(t.max() / tau)) + 1):
        integral = prev(Polynomial([-tau, 1.0])).integ()
        cur = value - (integral - integral(start))
        pieces.append((start, cur))
        start += tau
        value = cur(start)
        prev = cur
    out = np.empty_like(t)
    for k, (a, poly) in enumerate(pieces):
        mask = (t >= a - 1e-12) & (t <= a + tau + 1e-12) if k else t <= a + tau + 1e-12
        out[mask] = poly(t[mask])
    return out


def delayed_sine_response(t: np.ndarray, d: float) -> np.ndarray:
    """b' = -b + a(t - d), a = sin t after 0 and 0 before, b(0) = 0."""
    s = np.asarray(t, dtype=float) - d
    return np.where(s < 0, 0.0, 0.5 * (np.sin(s) - np.cos(s) + np.exp(-s)))


def decay(tau: Any = None, x0: float = 1.0, name: str = "delayed_decay") -> CircuitTemplate:
    """x' = -x(t - tau); ``tau`` None: the shorthand x(t-1) with a literal delay 1."""
    if tau is None:
        return circuit(name, ["x' = -x(t-1)"], {"x": f"output({x0})"})
    return circuit(name, ["x' = -past(x, tau)"], {"x": f"output({x0})", "tau": tau})


def run_x(c: CircuitTemplate, T: float, dt: float, solver: str, **kwargs: Any):
    frame = c.run(T, dt, solver=solver, outputs={"x": "n/op/x"}, **kwargs)
    return frame.index.to_numpy(), frame["x"].to_numpy()


def orders(errors: list[float]) -> np.ndarray:
    e = np.asarray(errors)
    return np.log2(e[:-1] / e[1:])


# --------------------------------------------------------------------------- generated code


def test_delayed_reads_are_arguments_after_dy() -> None:
    system = system_of(
        "dde", ["x' = -past(x, tau) + 0.5*x*x(t-0.25)"], {"x": "output(1.0)", "tau": 1.0}
    )
    source, info = emit_source(system)
    names = [d.name for d in system.delayed]
    assert len(names) == 2
    assert f"def vector_field(t, y, dy, {', '.join(names)}, tau):" in source
    assert f"def jacobian(t, y, {', '.join(names)}, tau):" in source
    assert "# Delayed reads" in source and "# Signature: vector_field(t, y, dy," in source
    assert info["scalar"] and not info["loops"] and "def run_euler" not in source
    function = emit(system)
    assert "loops" not in function.extras and function.extras["delayed"] == names
    y = np.array([2.0])
    dy = function.rhs(0.0, y, np.zeros(1), 3.0, 4.0, 1.0)
    assert dy[0] == pytest.approx(-3.0 + 0.5 * 2.0 * 4.0)
    assert function.rhs_functional(0.0, y, 3.0, 4.0, 1.0)[0] == pytest.approx(dy[0])
    # the Jacobian is the instantaneous part: delayed values are inputs
    assert function.jacobian(0.0, y, 3.0, 4.0, 1.0)[0, 0] == pytest.approx(0.5 * 4.0)


def test_vector_signature_takes_arrays() -> None:
    system = build_system(_two_targets(), vectorize=True)
    (read,) = system.delayed
    assert read.size == 2
    function = emit(system)
    assert not function.extras["scalar"]
    params = [p.value for p in system.params]
    y = system.initial_state()
    dy = function.rhs(0.0, y, np.zeros_like(y), np.array([1.0, 2.0]), *params)
    b = system.state(next(s.name for s in system.states if s.size == 2))
    assert np.allclose(dy[b.start : b.stop], [1.0, 2.0])


# --------------------------------------------------------------------------- x' = -x(t - 1)


def test_scipy_matches_method_of_steps() -> None:
    t, x = run_x(decay(), 5.0, 0.01, "scipy", **SCIPY_TIGHT)
    assert np.abs(x - method_of_steps(t, 1.0)).max() < 1e-7


@pytest.mark.parametrize("solver", FIXED)
def test_fixed_step_orders(solver: str) -> None:
    errors = []
    for dt in STEPS[solver]:
        t, x = run_x(decay(), 5.0, dt, solver)
        errors.append(np.abs(x - method_of_steps(t, 1.0)).max())
    measured = orders(errors)
    assert np.all(np.abs(measured - ORDERS[solver]) < 0.3), (errors, measured)


@pytest.mark.parametrize("tau", [1.0, 0.5])
@pytest.mark.parametrize("solver", [*FIXED, "scipy"])
def test_delay_acts(solver: str, tau: float) -> None:
    """A delay of exactly 1.0 is a delay (PyRates dropped it on one path), and so is 0.5."""
    dt = 0.01
    options = SCIPY_TIGHT if solver == "scipy" else {}
    t, x = run_x(decay(tau), 4.0, dt, solver, **options)
    tol = {"euler": 1e-2, "heun": 1e-4, "rk4": 1e-8, "scipy": 1e-7}[solver]
    assert np.abs(x - method_of_steps(t, tau)).max() < tol
    assert np.abs(x - np.exp(-t)).max() > 0.05  # not the ODE x' = -x


@pytest.mark.parametrize("solver", [*FIXED, "scipy"])
def test_zero_delay_is_the_current_state(solver: str) -> None:
    system = system_of("dde0", ["x' = -past(x, tau)"], {"x": "output(1.0)", "tau": 1.0})
    function = emit(system)
    params = [0.0 if p.name == "tau" else p.value for p in system.params]
    prob = problem(
        system, 2.0, 0.01, params=params, options=SCIPY_TIGHT if solver == "scipy" else None
    )
    traj = solve(solver, function, prob)
    tol = {"euler": 1e-2, "heun": 1e-4, "rk4": 1e-8, "scipy": 1e-8}[solver]
    assert np.abs(traj.states[:, 0] - np.exp(-traj.times)).max() < tol


@pytest.mark.parametrize("solver", FIXED)
def test_delays_between_grid_points(solver: str) -> None:
    """Delays that are no multiple of dt (Hermite reads) and shorter than dt (extrapolated
    reads inside the step): accurate as the method allows."""
    for tau, tol in ((0.37, {"euler": 5e-3, "heun": 1e-5, "rk4": 1e-10}), (0.004, None)):
        t, x = run_x(decay(tau), 2.0 if tau > 0.1 else 0.5, 0.01, solver)
        error = np.abs(x - method_of_steps(t, tau)).max()
        if tol is not None:  # 0.37 is a multiple of dt/2 only: rk4 reads mid-interval
            assert error < tol[solver], (tau, error)
        else:  # tau < dt: the kink at t = tau falls inside the first step
            assert error < {"euler": 5e-3, "heun": 1e-4, "rk4": 1e-5}[solver], (tau, error)


@pytest.mark.parametrize("solver", [*FIXED, "scipy"])
def test_same_history_under_every_solver(solver: str) -> None:
    """Pre-history is the initial state under every solver (PyRates differed between them)."""
    t, x = run_x(
        decay(0.5, x0=2.0), 1.0, 0.01, solver, **(SCIPY_TIGHT if solver == "scipy" else {})
    )
    expected = method_of_steps(t, 0.5, Polynomial([2.0]), x0=2.0)
    assert np.abs(x - expected).max() < {"euler": 2e-2, "heun": 1e-4}.get(solver, 1e-8)


# --------------------------------------------------------------------------- pre-history


@pytest.mark.parametrize("solver", [*FIXED, "scipy"])
def test_history_callable_in_problem(solver: str) -> None:
    """Problem.history(t) gives the state before t0: here x = 1 + t, so x(0) = 1 continues it."""
    system = system_of("dde_h", ["x' = -x(t-1)"], {"x": "output(1.0)"})
    function = emit(system)
    prob = problem(system, 3.0, 0.01, options=SCIPY_TIGHT if solver == "scipy" else None)
    calls = []

    def history(t: float) -> np.ndarray:
        calls.append(t)
        return np.array([1.0 + t])

    prob.history = history
    traj = solve(solver, function, prob)
    expected = method_of_steps(traj.times, 1.0, Polynomial([1.0, 1.0]))
    tol = {"euler": 2e-2, "heun": 1e-4, "rk4": 1e-8, "scipy": 1e-8}[solver]
    assert np.abs(traj.states[:, 0] - expected).max() < tol
    assert calls and max(calls) < 0.0
    # the history differs from the default: without it the run is another one
    plain = solve(solver, function, problem(system, 3.0, 0.01, options=prob.options))
    assert np.abs(plain.states[:, 0] - traj.states[:, 0]).max() > 0.1


def test_history_through_run() -> None:
    t, x = run_x(decay(), 3.0, 0.01, "rk4", history={"n/op/x": lambda t: 1.0 + t})
    assert np.abs(x - method_of_steps(t, 1.0, Polynomial([1.0, 1.0]))).max() < 1e-8


def test_history_with_wrong_shape() -> None:
    system = system_of("dde_bad", ["x' = -x(t-1)"], {"x": "output(1.0)"})
    prob = problem(system, 2.0, 0.1)
    prob.history = lambda t: np.zeros(3)
    with pytest.raises(SolverError, match="state vector"):
        solve("euler", emit(system), prob)


# --------------------------------------------------------------------------- edges


def _two_targets(d1: float = 0.3, d2: float = 0.7) -> CircuitTemplate:
    """Source a = sin t (a' = cos t) -> two leaky integrators b' = -b + u with delays d1, d2."""
    src = OperatorTemplate(name="op", equations=["a' = cos(t)"], variables={"a": "output(0.0)"})
    tgt = OperatorTemplate(
        name="op", equations=["b' = -b + u"], variables={"b": "output(0.0)", "u": "input(0.0)"}
    )
    target = NodeTemplate(name="target", operators=[tgt])
    c = CircuitTemplate(
        name="two_delays",
        nodes={"a": NodeTemplate(name="source", operators=[src]), "b1": target, "b2": target},
    )
    return c.add_edges(
        [
            ["a/op/a", "b1/op/u", None, {"weight": 1.0, "delay": d1}],
            ["a/op/a", "b2/op/u", None, {"weight": 1.0, "delay": d2}],
        ]
    )


@pytest.mark.parametrize("solver", [*FIXED, "scipy"])
def test_two_edges_with_different_delays(solver: str) -> None:
    c = _two_targets()
    options = SCIPY_TIGHT if solver == "scipy" else {}
    frame = c.run(4.0, 0.01, solver=solver, outputs={"b1": "b1/op/b", "b2": "b2/op/b"}, **options)
    t = frame.index.to_numpy()
    tol = {"euler": 2e-2, "heun": 1e-4, "rk4": 1e-8, "scipy": 1e-9}[solver]
    for name, d in (("b1", 0.3), ("b2", 0.7)):
        assert np.abs(frame[name].to_numpy() - delayed_sine_response(t, d)).max() < tol, name


@pytest.mark.parametrize("solver", [*FIXED, "scipy"])
def test_two_edges_vectorised(solver: str) -> None:
    """The same network vectorised: one delayed read of two values with delays [0.3, 0.7]."""
    system = build_system(_two_targets(), vectorize=True)
    function = emit(system)
    traj = solve(
        solver,
        function,
        problem(system, 4.0, 0.01, options=SCIPY_TIGHT if solver == "scipy" else None),
    )
    b = next(s for s in system.states if s.size == 2)
    tol = {"euler": 2e-2, "heun": 1e-4, "rk4": 1e-8, "scipy": 1e-9}[solver]
    for k, d in enumerate((0.3, 0.7)):
        response = delayed_sine_response(traj.times, d)
        assert np.abs(traj.states[:, b.start + k] - response).max() < tol


# --------------------------------------------------------------------------- populations


def _population(n: int, seed: int, multiples_of: float | None) -> tuple[CircuitTemplate, dict]:
    rng = np.random.default_rng(seed)
    op = OperatorTemplate(
        name="li",
        equations=["r' = -r + tanh(r_in + eta)"],
        variables={"r": "output(0.0)", "r_in": "input(0.0)", "eta": 0.3},
    )
    node = NodeTemplate(name="unit", operators=[op])
    nodes = [f"p{i}" for i in range(n)]
    weights = rng.normal(0.0, 1.5, (n, n)) * (rng.random((n, n)) < 0.05)
    if multiples_of:
        delays = rng.integers(1, 30, (n, n)) * multiples_of
    else:
        delays = rng.uniform(0.02, 0.6, (n, n))
    c = CircuitTemplate(name="delayed_population", nodes={p: node for p in nodes})
    c = c.add_edges_from_matrix(
        "li/r", "li/r_in", nodes, weight=weights, edge_attr={"delay": delays}
    )
    initial = {f"{p}/li/r": float(v) for p, v in zip(nodes, rng.uniform(-1.0, 1.0, n))}
    return c, initial


@pytest.mark.parametrize(
    ("solver", "multiples_of"), [("euler", 0.01), ("euler", None), ("rk4", None)]
)
def test_population_vectorised_equals_unvectorised(solver: str, multiples_of: Any) -> None:
    """200 units, random heterogeneous delays: one gathered read of all connections against
    one delayed read per connection (an unvectorised build)."""
    c, initial = _population(200, 7, multiples_of)
    kwargs = dict(outputs={"r": "all/li/r"}, initial_state=initial, solver=solver)
    vec = c.run(1.5, 0.01, **kwargs)
    unvec = c.run(1.5, 0.01, vectorize=False, **kwargs)
    assert vec.shape == unvec.shape == (150, 200)
    assert vec.attrs["vectorized"] and not unvec.attrs["vectorized"]
    difference = np.abs(vec.to_numpy() - unvec.to_numpy()).max()
    assert difference < 1e-10
    assert np.abs(vec.to_numpy()[-1] - vec.to_numpy()[0]).max() > 0.1  # it moved


def test_population_history_is_bounded() -> None:
    """The ring holds about max_delay / dt rows, however long the run."""
    c, initial = _population(50, 3, 0.01)
    system = build_system(c, vectorize=True)
    function = emit(system)
    short = solve("rk4", function, problem(system, 1.0, 0.01))
    long = solve("rk4", function, problem(system, 10.0, 0.01))
    assert short.info["history_rows"] == long.info["history_rows"] <= 29 + 4
    assert long.info["history_interpolation"] == "hermite"
    euler = solve("euler", function, problem(system, 1.0, 0.01))
    assert euler.info["history_interpolation"] == "direct"


@pytest.mark.parametrize(("solver", "per_step"), [("euler", 1), ("heun", 1), ("rk4", 2)])
def test_last_stage_read_serves_the_next_step(
    monkeypatch: pytest.MonkeyPatch, solver: str, per_step: int
) -> None:
    """The stage at ``t_n + dt`` reads where the next step's first stage reads (same interval,
    same weights), so its values are carried over: heun gathers from the history once per
    step and rk4 twice (plus the first stage of step 0). The results equal those of a fresh
    read at every stage to 1e-13 (relative to the largest value; measured 0)."""
    c, _ = _population(50, 3, None)  # delays 0.02 - 0.6, not multiples of the step
    system = build_system(c, vectorize=True)
    function = emit(system)
    gathers: list[int] = []
    original_gather = RingHistory._gather

    def counted(self: RingHistory, stage: int, n: int, vals: np.ndarray) -> None:
        gathers.append(stage)
        original_gather(self, stage, n, vals)

    monkeypatch.setattr(RingHistory, "_gather", counted)
    carried = solve(solver, function, problem(system, 1.0, 0.01))
    n_steps = carried.info["n_steps"]
    assert carried.info["history_interpolation"] == "hermite"
    assert len(gathers) == n_steps * per_step + (solver != "euler")

    original_init = RingHistory.__init__

    def without_carry(self: RingHistory, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        self.carry, self.carried = None, None

    monkeypatch.setattr(RingHistory, "__init__", without_carry)
    gathers.clear()
    fresh = solve(solver, function, problem(system, 1.0, 0.01))
    assert len(gathers) == n_steps * (per_step + (solver != "euler"))
    scale = np.abs(fresh.states).max()
    assert np.abs(carried.states - fresh.states).max() <= 1e-13 * scale


def test_left_slopes_only_where_inputs_jump_into_delayed_slopes() -> None:
    """The extra evaluation of the field with the previous input row (the left-side slope a
    Hermite read needs where an input jumps) runs once per jump and only when needed: not for
    direct reads (euler, delays on the grid), not where no input enters the derivative of a
    delayed variable (Jansen-Rit: delayed v, input in x'), not for constant inputs."""
    from rates_core.testing import references as ref

    system = build_system(ref.delay_input_circuit(), inputs=["a/op/u"])
    function = emit(system)
    name = next(p.name for p in system.params if p.role == "input")
    T, dt = ref.DELAY_INPUT["T"], 0.05

    def info(solver: str, rows: np.ndarray) -> dict[str, Any]:
        return solve(solver, function, problem(system, T, dt, 8, inputs={name: rows})).info

    assert info("rk4", ref.delay_input_rows(dt))["history_left_slopes"] == 2  # two jumps
    assert "history_left_slopes" not in info("euler", ref.delay_input_rows(dt))
    assert "history_left_slopes" not in info("rk4", np.full(int(round(T / dt)), 0.3))
    jr = CircuitTemplate.from_yaml("rates_core.models.jansenrit.JRC_delay")
    jr_system = build_system(jr, inputs=["jrc1/pc/syn_exc_ext/u"])
    u = next(p.name for p in jr_system.params if p.role == "input")
    noisy = 220.0 + 20.0 * np.random.default_rng(1).standard_normal(200)
    traj = solve("rk4", emit(jr_system), problem(jr_system, 0.02, 1e-4, inputs={u: noisy}))
    assert traj.info["history_interpolation"] == "hermite"
    assert "history_left_slopes" not in traj.info


def test_scipy_stepped_input_through_delay_converges() -> None:
    """scipy (method of steps) with a stepped input read through a delay: the rows are
    interpolated linearly, and with the mid level in the row at each jump the ramp integrates
    like the step, so the run meets the zero-order-hold closed form up to O(row step^2)
    (generator finding G3, said to be O(row step), does not reproduce)."""
    from rates_core.testing import references as ref

    c, T = ref.delay_input_circuit(), ref.DELAY_INPUT["T"]
    errors = []
    for dt in (0.01, 0.005):
        rows = ref.delay_input_rows(dt)
        for jump in ref.DELAY_INPUT["jumps"]:
            k = int(round(jump / dt))
            rows[k] = 0.5 * (rows[k - 1] + rows[k])
        frame = c.run(
            T,
            dt,
            outputs={"a": "a/op/a", "b": "b/op/b"},
            inputs={"a/op/u": rows},
            sampling_step_size=0.4,  # no sample at a jump
            solver="scipy",
            method="DOP853",
            rtol=1e-11,
            atol=1e-12,
        )
        want = ref.delay_input_exact(frame.index.to_numpy())
        errors.append(float(np.abs(frame[["a", "b"]].to_numpy() - want).max()))
    # measured 2.9e-5 and 7.3e-6: second order in the row step
    assert errors[0] < 1e-4 and 3.5 < errors[0] / errors[1] < 4.5, errors


def test_scipy_population_table_in_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Many distinct delays: the table of delayed states is filled chunk by chunk (bounded
    memory), with the same numbers; and the scipy run agrees with rk4."""
    from rates_numpy import history

    c, initial = _population(50, 5, None)
    system = build_system(c, vectorize=True)
    function = emit(system)
    options = {"method": "DOP853", "rtol": 1e-10, "atol": 1e-10}
    whole = solve("scipy", function, problem(system, 0.5, 0.01, options=options))
    distinct = np.unique(system.param(system.delayed[0].tau).value).size
    monkeypatch.setattr(history, "TABLE_BUDGET", 2000)  # 40 delays x 50 units per chunk
    assert distinct > 80
    chunked = solve("scipy", function, problem(system, 0.5, 0.01, options=options))
    assert np.abs(whole.states - chunked.states).max() < 1e-13
    reference = solve("rk4", function, problem(system, 0.5, 0.01))
    assert np.abs(whole.states - reference.states).max() < 1e-5  # rk4 steps over kinks


# --------------------------------------------------------------------------- Mackey-Glass


def mackey_glass() -> CircuitTemplate:
    return circuit(
        "mackey_glass",
        ["x' = beta*past(x, 17.0)/(1.0 + past(x, 17.0)^10) - gamma*x"],
        {"x": "output(1.2)", "beta": 0.2, "gamma": 0.1},
    )


def test_mackey_glass_step_halving_and_scipy() -> None:
    c = mackey_glass()
    t, coarse = run_x(c, 300.0, 0.1, "rk4")
    _, fine = run_x(c, 300.0, 0.05, "rk4", sampling_step_size=0.1)
    assert np.abs(coarse - fine).max() < 1e-7  # measured 2.7e-9
    _, adaptive = run_x(c, 300.0, 0.1, "scipy", method="DOP853", rtol=1e-10, atol=1e-10)
    assert np.abs(adaptive - fine).max() < 1e-7  # measured 2.0e-9
    assert coarse.min() < 0.5 < 1.2 < coarse.max()  # the oscillation is there


# --------------------------------------------------------------------------- scipy details


def test_scipy_info_and_segments() -> None:
    system = system_of("dde_info", ["x' = -past(x, tau)"], {"x": "output(1.0)", "tau": 0.7})
    traj = solve("scipy", emit(system), problem(system, 3.0, 0.01, options={"method": "RK45"}))
    info = traj.info
    assert info["path"] == "scipy-dde"
    # breakpoints 0.7, 1.4, 2.1, 2.8; segments no longer than 0.7
    assert info["n_breakpoints"] == 4
    assert info["n_segments"] == 5
    assert info["nfev"] > 0


def test_breakpoints_and_segments() -> None:
    marks = breakpoints(np.array([0.3, 0.7, 0.3, 0.0]), 0.0, 2.0, levels=3)
    expected = sorted({0.3, 0.7, 0.6, 1.0, 1.4, 0.9, 1.3, 1.7})
    assert np.allclose(marks, expected)
    assert breakpoints(np.arange(1, 5000) * 1e-4, 0.0, 1.0, levels=2, cap=100).size == 100
    ends = segment_ends(0.0, 2.0, marks, 0.3)
    assert ends[-1] == 2.0 and np.all(np.diff(np.concatenate([[0.0], ends])) <= 0.3 + 1e-12)
    assert set(np.round(marks, 12)) <= set(np.round(ends, 12))


def test_scipy_implicit_method_with_jacobian() -> None:
    t, x = run_x(decay(), 4.0, 0.01, "scipy", method="Radau", rtol=1e-10, atol=1e-10)
    assert np.abs(x - method_of_steps(t, 1.0)).max() < 1e-6


# --------------------------------------------------------------------------- errors


def test_negative_delays_are_errors() -> None:
    with pytest.raises(ModelError, match="negative"):
        circuit("neg", ["x' = -past(x, -1.0)"], {"x": "output(1.0)"}).run(1.0, 0.01)
    # a constant used as a delay is checked when the run starts
    with pytest.raises(SolverError, match="negative delay"):
        decay(-1.0).run(1.0, 0.01)
    node = NodeTemplate(
        name="n",
        operators=[
            OperatorTemplate(
                name="op",
                equations=["r' = -r + u"],
                variables={"r": "output(0.0)", "u": "input(0.0)"},
            )
        ],
    )
    c = CircuitTemplate(name="neg", nodes={"a": node, "b": node})
    c = c.add_edges([["a/op/r", "b/op/u", None, {"weight": 1.0, "delay": -0.5}]])
    with pytest.raises(ModelError, match="negative delay"):
        c.run(1.0, 0.01)
    # a delay parameter set to a negative value at run time
    system = system_of("dde_neg", ["x' = -past(x, tau)"], {"x": "output(1.0)", "tau": 1.0})
    params = [-0.5 if p.name == "tau" else p.value for p in system.params]
    for solver in ("euler", "scipy"):
        with pytest.raises(SolverError, match="negative delay"):
            solve(solver, emit(system), problem(system, 1.0, 0.01, params=params))


@pytest.mark.parametrize(("delay", "spread"), [(1.0, 0.5), (2.0, 0.5), (0.8, 0.2)])
def test_gamma_kernel_step_response_is_the_gamma_distribution(delay, spread):
    """A ``spread`` edge is a gamma kernel: its step response is the gamma CDF with shape
    n = round((delay/spread)^2) and rate n/delay (so its impulse response is the density)."""
    from scipy.stats import gamma

    src = OperatorTemplate(
        "src_op", equations="m = u", variables={"m": "output(0.0)", "u": "input(0.0)"}
    )
    dst = OperatorTemplate(
        "dst_op", equations="z' = -z + r_in", variables={"z": "output(0.0)", "r_in": "input(0.0)"}
    )
    circuit = CircuitTemplate(
        "kernel",
        nodes={"a": NodeTemplate("a", operators=[src]), "b": NodeTemplate("b", operators=[dst])},
        edges=[
            ("a/src_op/m", "b/dst_op/r_in", None, {"weight": 1.0, "delay": delay, "spread": spread})
        ],
    )
    T, dt = 6.0, 1e-3
    df = circuit.run(
        T,
        dt,
        solver="rk4",
        inputs={"a/src_op/u": np.ones(int(round(T / dt)))},
        outputs={"k": "b/dst_op/r_in"},
    )
    order = round((delay / spread) ** 2)
    expected = gamma.cdf(df.index.to_numpy(), a=order, scale=delay / order)
    np.testing.assert_allclose(df["k"].to_numpy(), expected, atol=1e-9)


# --------------------------------------------------------------------------- recorded sources


def _ring(source: str) -> CircuitTemplate:
    """Three phase oscillators in a ring, each driven by its predecessor at ``t - d``:
    ``source="s"`` delays the algebraic ``s = sin(theta)`` (kept in the history), ``"theta"``
    delays the phase and takes the sine after the read (the same model, no recorded values)."""
    eqs = (
        ["s = sin(theta) + 0.5*cos(omega*t)*theta", "theta' = omega + k*u"]
        if source == "s"
        else ["theta' = omega + k*(sin(u) + 0.5*cos(omega*(t - d))*u)"]
    )
    variables = {"theta": "output(0.2)", "u": "input(0.0)", "omega": 1.3, "k": 0.8}
    if source == "s":
        variables["s"] = "variable(0.0)"
    else:
        variables["d"] = 0.0
    op = OperatorTemplate(name="op", equations=eqs, variables=variables)
    node = NodeTemplate(name="osc", operators=[op])
    c = CircuitTemplate(name=f"ring_{source}", nodes={n: node for n in ("a", "b", "c")})
    delays = {"a": 0.3, "b": 0.45, "c": 0.5123}
    edges = []
    for src, tgt in (("a", "b"), ("b", "c"), ("c", "a")):
        edges.append([f"{src}/op/{source}", f"{tgt}/op/u", None, {"delay": delays[tgt]}])
    c = c.add_edges(edges)
    if source != "s":
        c = c.update_var(node_vars={f"{n}/op/d": d for n, d in delays.items()})
    return c


@pytest.mark.parametrize(("solver", "tol"), [("euler", 2e-7), ("rk4", 1e-9), ("scipy", 1e-9)])
@pytest.mark.parametrize("vectorize", [True, False])
def test_delayed_algebraic_source_is_recorded(solver: str, tol: float, vectorize: bool) -> None:
    """A delayed read of an algebraic function of the source's own states is kept in the history
    (one evaluation per unit and step): same numbers as delaying the state and applying the
    function after the read. Off-grid reads interpolate the recorded values with their recorded
    time derivatives instead of interpolating the phase: both cubic Hermite, O(dt^4) apart
    (dt = 0.01; Euler's kinked trajectory makes that 6e-8)."""
    system = build_system(_ring("s"), vectorize=vectorize, record_delayed=True)
    assert system.recorded and {d.state for d in system.delayed} == {
        r.name for r in system.recorded
    }
    assert "d/dt" in emit_source(system)[0]  # record_ writes the time derivatives too
    options = SCIPY_TIGHT if solver == "scipy" else {}
    run = dict(outputs={"theta": "all/op/theta"}, solver=solver, vectorize=vectorize, **options)
    recorded = _ring("s").run(3.0, 0.01, **run)
    reference = _ring("theta").run(3.0, 0.01, **run)
    assert np.abs(recorded.to_numpy() - reference.to_numpy()).max() < tol
    assert np.abs(recorded.to_numpy()[-1] - recorded.to_numpy()[0]).max() > 1.0


def test_unrecordable_sources_are_rebuilt_per_connection() -> None:
    """An algebraic source that reads an input (no history) is refused; one that reads only t
    is rebuilt per connection (no recorded variable)."""
    system = build_system(_two_targets(), record_delayed=True)
    assert not system.recorded


def test_row_blocks_replace_regular_scatter_matrices() -> None:
    """The scatter of a dense delayed coupling (row i sums connections i*k .. i*k + k - 1) runs
    as a row sum of dense blocks, with the CSR product's numbers; other matrices stay CSR."""
    import scipy.sparse as sp

    from rates_numpy.solvers import RowBlocks

    rng = np.random.default_rng(5)
    n, k = 7, 5
    w = rng.normal(size=(n, k))
    scatter = sp.csr_matrix((w.reshape(-1), (np.repeat(np.arange(n), k), np.arange(n * k))))
    blocks = RowBlocks.of(scatter)
    assert blocks is not None and blocks.shape == scatter.shape
    x = rng.normal(size=n * k)
    np.testing.assert_allclose(blocks @ x, scatter @ x, rtol=1e-14, atol=1e-14)
    shuffled = scatter[:, rng.permutation(n * k)].tocsr()
    assert RowBlocks.of(shuffled) is None
    assert RowBlocks.of(scatter[:, : n * k - 1].tocsr()) is None
    assert RowBlocks.of(w) is None  # dense matrices are used as they are
