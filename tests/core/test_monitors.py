"""Monitors computed while integrating (rates_core.monitors): subsampling, temporal average,
BOLD (Balloon-Windkessel), EEG/MEG projection, memory, and the errors a user can cause."""

from __future__ import annotations

import dataclasses
import importlib.util
import tracemalloc
from typing import Any

import numpy as np
import pytest

from rates_core import (
    CircuitTemplate,
    Connectome,
    LinearCoupling,
    NodeTemplate,
    OperatorTemplate,
)
from rates_core import monitors as mon
from rates_core.errors import ModelError, SolverError
from rates_core.monitors import Bold, Projection, Subsample, TemporalAverage

#: Runs need the NumPy backend; the core session installs rates-core alone.
needs_numpy = pytest.mark.skipif(
    importlib.util.find_spec("rates_numpy") is None, reason="needs rates-numpy"
)

V = {"V": "regions/g2d/V"}
DT = 0.1  # ms


N = 4  # regions


def brain(n: int = N) -> CircuitTemplate:
    """``n`` generic 2-D oscillators (TVB's Generic2dOscillator with a limit cycle) on a small
    connectome (random weights for n > 4), without delays; time in ms."""
    g2d = OperatorTemplate(
        "g2d",
        [
            "V' = d*tau*(alpha*W - f*V^3 + e*V^2 + g*V + gamma*I_ext + gamma*cpl)",
            "W' = d/tau*(a + b*V + c*V^2 - beta*W)",
        ],
        {
            "V": "output(0.0)",
            "W": "variable(0.0)",
            "cpl": "input(0.0)",
            "tau": 1.0,
            "a": 8.0,
            "b": -10.0,
            "c": 0.0,
            "d": 0.05,
            "e": 3.0,
            "f": 1.0,
            "g": 0.0,
            "alpha": 1.0,
            "beta": 1.0,
            "gamma": 1.0,
            "I_ext": 0.0,
        },
    )
    weights = np.array([[0, 1, 2, 0], [1, 0, 1, 3], [2, 1, 0, 1], [0, 3, 1, 0]], dtype=float)
    if n != N:
        weights = np.random.default_rng(0).uniform(size=(n, n))
    return Connectome(weights).circuit(
        NodeTemplate("g2d_node", operators=[g2d]),
        "g2d/V",
        "g2d/cpl",
        params={"g2d/V": np.linspace(-1.5, 1.5, n)},
        coupling=LinearCoupling(a=0.5),
        normalise="tract",
    )


@pytest.fixture
def small_windows(monkeypatch):
    """Windows of 37 steps (8 states of 8 bytes), so a run streams many chunks, one of them
    incomplete, and averaging windows straddle chunk boundaries."""
    monkeypatch.setattr(mon, "CHUNK_BYTES", 8 * 2 * N * 37)


@needs_numpy
def test_subsample_average_projection_and_bold_equal_numpy_on_the_full_trajectory(
    small_windows,
):
    """Each monitor of a streamed run equals the same computation on the full-resolution
    trajectory of a run without monitors, up to rounding (the windows continue the state
    exactly under fixed steps)."""
    circuit = brain()
    full = circuit.run(100.0, DT, outputs=V, solver="heun")
    x = full.to_numpy()  # (1000 steps, N regions)
    lead = np.random.default_rng(1).normal(size=(3, N))
    frames = circuit.run(
        100.0,
        DT,
        solver="heun",
        monitors={
            "sub": Subsample(V, period=1.0),
            "avg": TemporalAverage(V, period=1.0),
            "eeg": Projection(V, lead, period=1.0, average=True, sensors=["Fz", "Cz", "Pz"]),
            "meg": Projection(V, lead, period=2.0),
            "bold": Bold(V, period=10.0, time_unit=1e-3),
        },
    )
    sub = frames["sub"]
    np.testing.assert_allclose(sub.to_numpy(), x[::10], rtol=0, atol=1e-13)
    np.testing.assert_allclose(sub.index, full.index[::10], rtol=0, atol=1e-12)
    assert list(sub.columns) == list(full.columns)
    assert sub.attrs["monitor"] == "subsample" and sub.attrs["sampling_step_size"] == 1.0
    assert sub.attrs["solver"] == "heun" and sub.attrs["step_size"] == DT

    mean = x.reshape(100, 10, N).mean(axis=1)
    avg = frames["avg"]
    np.testing.assert_allclose(avg.to_numpy(), mean, rtol=0, atol=1e-13)
    np.testing.assert_allclose(avg.index, 0.5 + np.arange(100), rtol=0, atol=1e-12)

    eeg = frames["eeg"]
    assert list(eeg.columns) == ["Fz", "Cz", "Pz"]
    np.testing.assert_allclose(eeg.to_numpy(), mean @ lead.T, rtol=0, atol=1e-12)
    np.testing.assert_allclose(frames["meg"].to_numpy(), x[::20] @ lead.T, rtol=0, atol=1e-12)
    assert list(frames["meg"].columns) == ["sensor0", "sensor1", "sensor2"]

    by_hand = Bold(V, period=10.0, time_unit=1e-3)
    by_hand.start(0.0, DT, list(full.columns))
    by_hand.update(full.index.to_numpy(), x)
    np.testing.assert_allclose(frames["bold"].to_numpy(), by_hand.result().to_numpy(), atol=1e-13)
    assert frames["bold"].shape == (10, N)
    # the final state is kept as after a plain run (initial_state="last" continues from it)
    plain_state = dict(circuit.state)
    circuit.run(100.0, DT, outputs=V, solver="heun")
    for key, value in circuit.state.items():
        assert value == pytest.approx(plain_state[key], abs=1e-13)


@needs_numpy
def test_cutoff_and_an_average_straddling_chunks(small_windows):
    """``cutoff`` drops the monitor rows before it; a period that does not divide the window
    (7 steps vs 37) averages across chunk boundaries."""
    circuit = brain()
    x = circuit.run(50.0, DT, outputs=V).to_numpy()
    frames = circuit.run(50.0, DT, cutoff=20.0, monitors={"a": TemporalAverage(V, period=0.7)})
    whole = len(x) // 7
    mean = x[: whole * 7].reshape(whole, 7, N).mean(axis=1)
    times = (np.arange(whole) + 0.5) * 0.7
    keep = times >= 20.0
    np.testing.assert_allclose(frames["a"].to_numpy(), mean[keep], rtol=0, atol=1e-13)
    np.testing.assert_allclose(frames["a"].index, times[keep], rtol=0, atol=1e-12)


def balloon_input(t):
    return 0.5 + 0.5 * np.sin(2 * np.pi * 0.5 * t) + 0.3 * np.sin(2 * np.pi * 3.0 * t)


def streamed_bold(
    dt: float, total: float = 20.0, **constants: Any
) -> tuple[np.ndarray, np.ndarray, Bold]:
    bold = Bold(["x"], period=0.5, **constants)
    bold.start(0.0, dt, ["x"])
    n = int(round(total / dt))
    times = np.arange(n) * dt
    for chunk in np.array_split(np.arange(n), 7):  # streamed in uneven chunks
        bold.update(times[chunk], balloon_input(times[chunk])[:, None])
    frame = bold.result()
    return frame.index.to_numpy(), frame.to_numpy()[:, 0], bold


@pytest.mark.parametrize(
    "constants", [{}, {"kappa": 2.0, "gamma": 0.5}], ids=["oscillating", "real-modes"]
)
def test_bold_matches_a_high_accuracy_solution_of_the_balloon_windkessel_ode(constants):
    """The streamed BOLD signal of a smooth input (0.5 and 3 Hz sinusoids, in s) against
    solve_ivp (DOP853, rtol 1e-10) of the same ODE. The monitor sees the input at the steps
    only, interpolated linearly (its linear part is exact for that input, the Runge-Kutta
    steps of 10 ms add less): an error of order dt**2, here below dt**2 * max|y| (1.4e-6 at
    dt = 1 ms, max|y| = 3.9), and halving the step divides it by 4 (3.5 .. 4.5). Also with
    constants for which the flow's eigenmodes are real (kappa**2 > 4 gamma)."""
    from scipy.integrate import solve_ivp

    errors = []
    for dt in (1e-3, 5e-4):
        times, y, bold = streamed_bold(dt, **constants)
        assert np.allclose(times, np.arange(40) * 0.5) and y[0] == 0.0

        def rhs(t, z, bold=bold):
            return bold.derivative(z[:, None], np.array([balloon_input(t)]))[:, 0]

        ref = solve_ivp(
            rhs, (0.0, 20.0), [0.0, 1.0, 1.0, 1.0], method="DOP853", rtol=1e-10,
            atol=1e-12, t_eval=times, max_step=0.01,
        )  # fmt: skip
        expected = bold.signal(ref.y)
        errors.append(np.abs(y - expected).max())
        assert errors[-1] < dt**2 * np.abs(expected).max()
    assert 3.5 < errors[0] / errors[1] < 4.5


def test_bold_does_not_depend_on_chunks_or_blocks(monkeypatch):
    """One update with everything, or many chunks worked through in blocks of 7 rows, give
    the same signal up to rounding."""
    x = balloon_input(np.arange(4000) * 1e-3)[:, None] * np.array([1.0, 2.0])
    whole = Bold(["a", "b"], period=0.1)
    whole.start(0.0, 1e-3, ["a", "b"])
    whole.update(np.arange(4000) * 1e-3, x)
    monkeypatch.setattr(mon, "BOLD_BLOCK", 14)  # 7 rows of 2 columns
    pieces = Bold(["a", "b"], period=0.1)
    pieces.start(0.0, 1e-3, ["a", "b"])
    for chunk in np.array_split(np.arange(4000), 13):
        pieces.update(chunk * 1e-3, x[chunk])
    np.testing.assert_allclose(pieces.result(), whole.result(), rtol=0, atol=1e-12)
    assert whole.result().shape == (40, 2)


def test_bold_constants_and_classical_coefficients():
    """The revised coefficients (Stephan et al. 2007) with TVB's analyzer defaults, the
    classical ones (Friston et al. 2000), and constants given by keyword."""
    revised = Bold(["x"], period=1.0)
    k1, k2, k3 = revised.k()
    assert k1 == pytest.approx(4.3 * 40.3 * 0.4 * 0.04) and k2 == pytest.approx(
        0.5 * 25 * 0.4 * 0.04
    )
    assert k3 == pytest.approx(0.5)
    classical = Bold(["x"], period=1.0, coefficients="classical", rho=0.34, V0=0.02)
    assert classical.k() == pytest.approx((7 * 0.34, 2.0, 2 * 0.34 - 0.2))
    rest = np.array([[0.0], [1.0], [1.0], [1.0]])
    assert classical.signal(rest)[0] == 0.0
    np.testing.assert_allclose(classical.derivative(rest, np.zeros(1)), 0.0, rtol=0, atol=1e-15)


@needs_numpy
def test_a_long_run_with_a_coarse_monitor_does_not_hold_the_fine_trajectory(monkeypatch):
    """5000 steps of 200 states (100 regions) are 8 MB at full resolution; streamed in
    windows of 128 KiB to a temporal average of 50 samples, the traced allocations while
    integrating (above what was held when streaming started: the model, the input grid) peak
    below a fifth of that."""
    monkeypatch.setattr(mon, "CHUNK_BYTES", 128 * 1024)
    check = mon._check_monitors
    held = []

    def reset_peak_then_check(monitors):  # run_monitored starts with this, after the build
        tracemalloc.reset_peak()
        held.append(tracemalloc.get_traced_memory()[0])
        return check(monitors)

    monkeypatch.setattr(mon, "_check_monitors", reset_peak_then_check)
    regions, steps = 100, 5000
    circuit = brain(regions)
    variables = {"V": "regions/g2d/V"}
    circuit.run(1.0, DT, monitors={"a": TemporalAverage(variables, period=1.0)})  # imports
    tracemalloc.start()
    try:
        frames = circuit.run(
            steps * DT, DT, monitors={"a": TemporalAverage(variables, period=10.0)}
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert frames["a"].shape == (50, regions)
    assert peak - held[-1] < steps * 2 * regions * 8 / 5, (peak, held)


@pytest.mark.parametrize(
    "make, error, message",
    [
        (lambda: Projection(V, np.ones(N)), ModelError, r"2-D matrix .* shape \(4,\)"),
        (
            lambda: Projection(V, [[1.0] * N, [1.0] * (N - 1) + [np.nan]]),
            ModelError,
            r"entry \[1, 3\] .* is nan",
        ),
        (lambda: Projection(V, [["a"] * N]), ModelError, "matrix of numbers"),
        (lambda: Projection(V, np.ones((2, N)), sensors=["a"]), ModelError, "2 distinct names"),
        (lambda: Projection(V, np.ones((2, N)), average=True), ModelError, "needs a period"),
        (lambda: Bold(V, period=1.0, kapa=1.0), ModelError, "no constant 'kapa'"),
        (lambda: Bold(V, period=1.0, tau=float("nan")), ModelError, "tau must be a finite"),
        (lambda: Bold(V, period=1.0, coefficients="new"), ModelError, "'revised' or"),
        (lambda: Bold(V, period=1.0, kappa=2.0, gamma=1.0), ModelError, "double eigenvalue"),
        (lambda: Subsample(42), ModelError, "variables must be"),
    ],
)
def test_bad_monitor_arguments_are_rates_errors(make, error, message):
    with pytest.raises(error, match=message):
        make()


@needs_numpy
@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (
            {"monitors": {"eeg": Projection(V, np.ones((2, 3)))}},
            ModelError,
            r"monitor 'eeg': the lead field has 3 columns but the variables .* give 4",
        ),
        (
            {"monitors": {"m": Subsample({"x": "regions/g2d/nope"})}},
            ModelError,
            "regions/g2d/nope",
        ),
        (
            {"monitors": {"m": TemporalAverage(V, period=0.25)}},
            SolverError,
            r"monitor 'm': period 0.25 must be a whole multiple of the step_size 0.1",
        ),
        ({"monitors": {"m": Subsample(V)}, "outputs": V}, ModelError, "takes no outputs"),
        (
            {"monitors": {"m": Subsample(V)}, "sampling_step_size": 1.0},
            ModelError,
            "takes no sampling_step_size",
        ),
        ({"monitors": {"m": "bold"}}, ModelError, "monitor 'm' is str"),
        ({"monitors": {}}, ModelError, "non-empty dict"),
    ],
)
def test_run_refuses_bad_monitors_before_integrating(kwargs, error, message):
    with pytest.raises(error, match=message):
        brain().run(10.0, DT, **kwargs)


def test_a_bold_blow_up_names_the_monitor_column_and_time():
    """An input that drives the blood flow below 0 stops with a SolverError, not NaN rows."""
    bold = Bold(["x"], period=0.1)
    bold.name = "bold"
    bold.start(0.0, 1e-2, ["x"])
    times = np.arange(2000) * 1e-2
    with pytest.raises(SolverError, match=r"monitor 'bold': .* of 'x' stopped being finite"):
        bold.update(times, np.full((2000, 1), -50.0))


def delayed_brain(n: int = N, noise: float = 0.0, density: float = 1.0) -> CircuitTemplate:
    """The delayed network of :func:`rates_core.testing.references.delayed_connectome`."""
    from rates_core.testing.references import delayed_connectome

    return delayed_connectome(n, noise, density)


@needs_numpy
@pytest.mark.parametrize(
    ("solver", "noise", "streams"),
    [("heun", 0.0, True), ("rk4", 0.0, True), ("euler_maruyama", 0.3, True), ("rk4", 0.0, False)],
)
def test_monitors_of_a_delayed_network_equal_a_full_run(monkeypatch, solver, noise, streams):
    """Delays (were refused): the monitored run is one pass whose samples stream to the
    monitors in blocks (here of 37 rows, so averages straddle blocks), with the history kept
    by the solver; Subsample, TemporalAverage (also of the algebraic r) and Bold equal the
    same monitors on a recorded run to 1e-12 (noise: the same seed gives the same path).
    A solver that does not stream (here one made so) returns the whole run, which is then
    streamed to the monitors."""
    from rates_core import backend
    from rates_core.plugins.host import PluginHost

    monkeypatch.setattr(backend, "SINK_BYTES", 8 * N * 37)
    if not streams:
        solve = PluginHost.solve

        def not_streaming(self, solver, function, problem):
            return solve(self, solver, function, dataclasses.replace(problem, sink=None))

        monkeypatch.setattr(PluginHost, "solve", not_streaming)
    circuit = delayed_brain(noise=noise)
    T = 60.0
    steps = int(round(T / DT))
    x, r = {"x": "regions/op/x"}, {"r": "regions/op/r"}
    full = circuit.run(T, DT, outputs={**x, **r}, solver=solver, seed=4)
    columns = [c for c in full.columns if c[0] == "x"]
    xs, rs = full["x"].to_numpy(), full["r"].to_numpy()
    assert xs.shape == (steps, N)
    frames = circuit.run(
        T,
        DT,
        solver=solver,
        seed=4,
        monitors={
            "sub": Subsample(x, period=0.5),
            "avg": TemporalAverage(r, period=1.0),
            "bold": Bold(x, period=10.0, time_unit=1e-3),
        },
    )
    np.testing.assert_allclose(frames["sub"].to_numpy(), xs[::5], rtol=0, atol=1e-12)
    mean = rs.reshape(steps // 10, 10, N).mean(axis=1)
    np.testing.assert_allclose(frames["avg"].to_numpy(), mean, rtol=0, atol=1e-12)
    by_hand = Bold(x, period=10.0, time_unit=1e-3)
    by_hand.start(0.0, DT, [c[1:] for c in columns])
    by_hand.update(full.index.to_numpy(), xs)
    np.testing.assert_allclose(frames["bold"].to_numpy(), by_hand.result().to_numpy(), atol=1e-12)
    assert frames["bold"].shape == (steps // 100, N)


@needs_numpy
def test_a_monitor_of_a_variable_reading_a_delayed_value_is_refused_before_integrating():
    """Monitors get no delayed reads from the solvers: an algebraic variable that reads a
    delayed value is a ModelError naming it (run(outputs=...) records it)."""
    from rates_core.testing.references import delayed_ring

    with pytest.raises(ModelError, match=r"cannot record 'p1/op/q'.*not to monitors"):
        delayed_ring().run(1.0, 1e-3, solver="rk4", monitors={"m": Subsample({"q": "p1/op/q"})})


@needs_numpy
def test_a_long_delayed_run_with_a_coarse_monitor_does_not_hold_the_fine_trajectory(
    monkeypatch,
):
    """As for models without delays: 5000 steps of 100 delayed units (4 MB at full
    resolution, 5 % of the weights non-zero) streamed in blocks of 128 KiB to an average of 50
    samples; the traced allocations while integrating peak below a fifth of the full
    trajectory (the history holds the last max_delay / dt + 4 rows, and its read plans grow
    with the connections, not with the steps)."""
    from rates_core import backend

    monkeypatch.setattr(backend, "SINK_BYTES", 128 * 1024)
    check = mon._check_monitors
    held = []

    def reset_peak_then_check(monitors):  # run_monitored starts with this, after the build
        tracemalloc.reset_peak()
        held.append(tracemalloc.get_traced_memory()[0])
        return check(monitors)

    monkeypatch.setattr(mon, "_check_monitors", reset_peak_then_check)
    units, steps = 100, 5000
    circuit = delayed_brain(units, density=0.05)
    x = {"x": "regions/op/x"}
    circuit.run(1.0, DT, monitors={"a": TemporalAverage(x, period=1.0)})  # imports
    tracemalloc.start()
    try:
        frames = circuit.run(
            steps * DT, DT, solver="heun", monitors={"a": TemporalAverage(x, period=10.0)}
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert frames["a"].shape == (50, units)
    assert peak - held[-1] < steps * units * 8 / 5, (peak, held)


@needs_numpy
@pytest.mark.parametrize("solver, tolerance", [("rk4", 1e-13), ("scipy", 1e-5)])
def test_windows_continue_time_and_inputs(small_windows, solver, tolerance):
    """Each window starts at its own time with its own input rows: a time-dependent field
    with an input, and an algebraic variable of it, give the plain run's samples, exactly
    under fixed steps; an adaptive
    solver restarts at every window (27 here), within its tolerance (rtol 1e-6)."""
    op = OperatorTemplate(
        "op",
        ["x' = -x + sin(0.3*t) + u", "z = 2*x + u"],
        {"x": "output(0.0)", "z": "variable(0.0)", "u": "input(0.0)"},
    )
    circuit = CircuitTemplate("c", nodes={"a": NodeTemplate("n", operators=[op])})
    inputs = {"a/op/u": np.cos(np.arange(1000) * 0.01)}
    read = {"x": "a/op/x", "z": "a/op/z"}  # a state and an algebraic variable of the input
    full = circuit.run(10.0, 0.01, inputs=inputs, outputs=read, solver=solver)
    frames = circuit.run(10.0, 0.01, inputs=inputs, solver=solver, monitors={"s": Subsample(read)})
    assert list(frames["s"].columns) == ["x", "z"]
    np.testing.assert_allclose(frames["s"].to_numpy(), full.to_numpy(), rtol=0, atol=tolerance)


@needs_numpy
@pytest.mark.parametrize("given", [False, True])
def test_noise_of_a_windowed_run_is_the_plain_runs(monkeypatch, given):
    """A noisy model without delays runs in windows (here of 100 steps): its Wiener increments
    are one stream cut into them, so the monitors see the plain run's path for the same seed
    (each window drew from a seed of its own before), and given increments, which every
    window refused (their rows are the whole run's), drive the monitored run as the plain one."""
    from rates_core.testing import references as ref

    monkeypatch.setattr(mon, "CHUNK_BYTES", 8 * 5 * 100)
    circuit = ref.sde_population(5, "x' = -x + s*xi()", s=1.0, x0=0.0)
    x = {f"x{i}": f"p{i}/op/x" for i in range(5)}
    noise = {"wiener_increments": ref.brownian_increments(1000, 5, 10.0, seed=1)} if given else {}
    options = {"solver": "euler_maruyama", "seed": 3, **noise}
    plain = circuit.run(10.0, 0.01, outputs=x, **options).to_numpy()
    frames = circuit.run(10.0, 0.01, monitors={"s": Subsample(x)}, **options)
    np.testing.assert_allclose(frames["s"].to_numpy(), plain, rtol=0, atol=1e-12)
    assert np.std(plain[500:]) > 0.3  # noise, not a decay to 0
