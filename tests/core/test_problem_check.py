"""Problem.check: the checks every solver makes before integrating, one SolverError each."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from rates_core import build_system
from rates_core.backend import DerivativeGuard, Problem, Trajectory, first_nonfinite
from rates_core.errors import SolverError
from rates_core.testing import references as ref


@pytest.fixture
def setting():
    system = build_system(ref.leaky_integrator_circuit())
    problem = Problem(
        y0=system.initial_state(),
        params=[p.value for p in system.params],
        t0=0.0,
        simulation_time=1.0,
        step_size=0.01,
        sampling_step=0.1,
        n_samples=11,
    )
    return system, problem


def test_a_good_problem_passes(setting):
    system, problem = setting
    problem.check(system, "euler", fixed_step=True)
    problem.check(system, "rk45", fixed_step=False, options=("rtol",))
    batched = dataclasses.replace(problem, y0=np.zeros((4, system.n_states)))
    batched.check(system, "euler", fixed_step=True)  # a leading batch axis is allowed


@pytest.mark.parametrize(
    ("change", "fixed", "match"),
    [
        ({"options": {"method": "RK45"}}, False, "has no option 'method' .allowed options: rtol"),
        ({"params": []}, True, "expected 2 parameter values"),
        ({"y0": np.zeros(3)}, True, r"y0 has shape \(3,\), the system 1 states"),
        ({"step_size": 0.0}, True, "step_size must be positive"),
        ({"step_size": float("nan")}, True, "step_size must be positive"),
        ({"sampling_step": -1.0}, True, "sampling_step must be positive"),
        ({"simulation_time": -1.0}, True, "simulation_time must not be negative"),
        ({"n_samples": 0}, True, "n_samples must be at least 1"),
        ({"sampling_step": 0.015}, True, "whole multiple of step_size"),
        ({"n_samples": 12}, True, "12 samples every 10 steps need 110 steps"),
        ({"inputs": {"v": np.zeros(100)}}, True, "no extrinsic input parameter named 'v'"),
    ],
)
def test_each_check_names_the_value(setting, change, fixed, match):
    system, problem = setting
    with pytest.raises(SolverError, match=match):
        dataclasses.replace(problem, **change).check(
            system, "s", fixed_step=fixed, options=("rtol",)
        )


def test_adaptive_solvers_skip_the_grid_checks(setting):
    system, problem = setting
    dataclasses.replace(problem, sampling_step=0.015, n_samples=5).check(
        system, "s", fixed_step=False
    )


# --------------------------------------------------------------------------- finite numbers


def _with_param(system, problem, name, value):
    params = [value if p.name == name else v for p, v in zip(system.params, problem.params)]
    return dataclasses.replace(problem, params=params)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"simulation_time": float("inf")}, "simulation_time must be a finite number, got inf"),
        ({"simulation_time": float("nan")}, "simulation_time must be a finite number, got nan"),
        ({"t0": float("nan")}, "t0 must be a finite number"),
        ({"sampling_step": float("inf")}, "sampling_step must be a finite number"),
        ({"y0": np.array([np.nan])}, r"initial state of n/op/x is nan"),
        ({"y0": np.array([[0.0], [np.inf]])}, r"initial state of n/op/x is inf"),
        ({"on_nonfinite": "contineu"}, "on_nonfinite must be one of 'raise', 'continue'"),
    ],
)
def test_non_finite_values_name_the_argument(setting, change, match):
    system, problem = setting
    with pytest.raises(SolverError, match=match):
        dataclasses.replace(problem, **change).check(system, "s", fixed_step=True)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), np.array(-np.inf)])
def test_a_non_finite_parameter_names_its_path(setting, value):
    system, problem = setting
    with pytest.raises(SolverError, match=r"parameter n/op/tau is -?(nan|inf): parameters must"):
        _with_param(system, problem, "tau", value).check(system, "s", fixed_step=False)


def test_a_non_finite_input_row_names_path_row_and_time():
    system = build_system(ref.leaky_integrator_circuit(), inputs=["n/op/u"])
    (name,) = [p.name for p in system.params if p.role == "input"]
    rows = np.zeros(100)
    problem = Problem(
        y0=system.initial_state(),
        params=[p.value for p in system.params],
        t0=0.0,
        simulation_time=1.0,
        step_size=0.01,
        sampling_step=0.1,
        n_samples=10,
        inputs={name: rows},
        input_times=np.arange(100) * 0.01,
    )
    problem.check(system, "s", fixed_step=True)  # zeros are fine
    rows[42] = np.nan
    with pytest.raises(SolverError, match=r"input n/op/u is nan in row 42 at t=0\.42"):
        problem.check(system, "s", fixed_step=True)


def test_first_nonfinite_handles_sparse_integer_and_non_numeric_values():
    import scipy.sparse

    matrix = scipy.sparse.csr_matrix(np.array([[0.0, 1.0], [np.nan, 0.0]]))
    assert first_nonfinite(matrix) == 1  # the second stored value
    assert first_nonfinite(np.arange(3)) is None
    assert first_nonfinite("text") is None
    assert first_nonfinite([1.0, 2.0 + 1j, complex(np.inf, 0)]) == 2


def _trajectory(states, final=None):
    states = np.asarray(states, dtype=float).reshape(-1, 1)
    times = 0.1 * np.arange(len(states))
    return Trajectory(times, states, states[-1] if final is None else np.asarray(final))


def test_check_trajectory_names_first_non_finite_sample_and_variable(setting):
    system, problem = setting
    problem.check_trajectory(system, _trajectory([0.0, 1.0, 2.0]), "euler")  # finite: no error
    blown = _trajectory([0.0, 1.0, 1e308, np.inf, np.nan])
    with pytest.raises(
        SolverError, match=r"'euler'.* at t=0\.3 \(finite at t=0\.2\): n/op/x is inf"
    ):
        problem.check_trajectory(system, blown, "euler")
    late = _trajectory([0.0, 1.0], final=[np.nan])
    with pytest.raises(SolverError, match=r"after the last sample \(t=0\.1, end t=1\).*n/op/x"):
        problem.check_trajectory(system, late, "euler")
    dataclasses.replace(problem, on_nonfinite="continue").check_trajectory(system, blown, "euler")


def test_derivative_guard_stops_a_non_finite_vector_field(setting):
    system, _ = setting
    guard = DerivativeGuard(system, "rk45", limit=3)
    guard.initial(0.0, np.array([1.0]))
    with pytest.raises(SolverError, match=r"'rk45': the derivative of n/op/x is nan at t=0\b"):
        guard.initial(0.0, np.array([np.nan]))
    guard(0.5, np.array([np.inf]))  # a rejected trial stage: the controller may recover
    guard(0.6, np.array([np.nan]))
    guard(0.7, np.array([1.0]))  # it did: the count starts again
    guard(0.8, np.array([np.inf]))
    guard(0.9, np.array([np.nan]))
    with pytest.raises(SolverError, match=r"derivative of n/op/x is inf at t=0\.8"):
        guard(1.0, np.array([np.nan]))


def test_history_samples_give_values_and_exact_slopes(setting) -> None:
    """Problem.history_samples: the pre-history and its time derivative for the tables of
    compiled backends, read by cubic Hermite interpolation (accurate to about dt^4)."""
    _, problem = setting
    omega = 3.0
    problem = dataclasses.replace(problem, history=lambda t: np.array([np.sin(omega * t)]))
    times = -0.01 * np.arange(50, 0, -1)
    times = np.append(times, -1e-14)  # next to t0: backward differences
    values, slopes = problem.history_samples(times)
    assert values.shape == slopes.shape == (51, 1)
    np.testing.assert_allclose(values[:, 0], np.sin(omega * times), rtol=0, atol=1e-15)
    np.testing.assert_allclose(slopes[:, 0], omega * np.cos(omega * times), rtol=0, atol=1e-8)
    # a cubic Hermite interpolant of the table is good to 3e-9 between its rows (linear: 2e-5)
    h, theta = 0.01, 0.37
    ya, yb, fa, fb = values[20, 0], values[21, 0], slopes[20, 0] * h, slopes[21, 0] * h
    t2, t3 = theta**2, theta**3
    mid = (2 * t3 - 3 * t2 + 1) * ya + (t3 - 2 * t2 + theta) * fa
    mid += (3 * t2 - 2 * t3) * yb + (t3 - t2) * fb
    assert abs(mid - np.sin(omega * (times[20] + theta * h))) < 3e-9
    plain = dataclasses.replace(problem, history=None)
    values, slopes = plain.history_samples([-0.5, -0.1])
    np.testing.assert_array_equal(values, np.tile(np.asarray(plain.y0).reshape(-1), (2, 1)))
    assert not np.any(slopes)
    broken = dataclasses.replace(problem, history=lambda t: np.zeros(3))
    with pytest.raises(SolverError, match="shape"):
        broken.history_samples([-0.5])
    failing = dataclasses.replace(problem, history=lambda t: 1 / 0)
    with pytest.raises(SolverError, match="pre-history function failed"):
        failing.history_samples([-0.5])


needs_numpy = pytest.mark.skipif(
    __import__("importlib.util").util.find_spec("rates_numpy") is None,
    reason="needs rates-numpy",
)


@needs_numpy
def test_samples_beyond_memory_are_refused_before_integrating(monkeypatch) -> None:
    """A run whose samples would not fit in memory is a SolverError with their count, size
    and what to do, before the solver starts (it used to be numpy's MemoryError, or swap);
    a monitored run of a streaming solver keeps blocks only and runs."""
    from rates_core import backend
    from rates_core.monitors import Subsample
    from rates_core.plugins.host import PluginHost

    called = []
    solve = PluginHost._call_owner

    def counting(self, hook, *args, **kwargs):
        called.append(hook)
        return solve(self, hook, *args, **kwargs)

    monkeypatch.setattr(PluginHost, "_call_owner", counting)
    monkeypatch.setattr(backend, "physical_memory", lambda: 4000)  # 500 float64 values
    circuit = ref.leaky_integrator_circuit()
    with pytest.raises(SolverError, match=r"keeps 1000 samples of 1 states .*sampling_step_size"):
        circuit.run(1.0, 1e-3, solver="euler", backend="numpy")
    assert "solve" not in called
    delayed = ref.delayed_connectome(4)  # monitored in one pass, its samples streamed
    x = {"x": "regions/op/x"}
    frames = delayed.run(
        1.0, 1e-3, solver="euler", backend="numpy", monitors={"x": Subsample(x, 0.1)}
    )
    assert frames["x"].shape == (10, 4) and "solve" in called


@needs_numpy
def test_memory_error_of_a_solver_is_a_solver_error(monkeypatch) -> None:
    from rates_core.plugins.host import PluginHost

    call = PluginHost._call_owner

    def out_of_memory(self, hook, *args, **kwargs):
        if hook == "solve":
            raise MemoryError("Unable to allocate 298. GiB")
        return call(self, hook, *args, **kwargs)

    monkeypatch.setattr(PluginHost, "_call_owner", out_of_memory)
    with pytest.raises(SolverError, match=r"solver 'euler': the run keeps \d+ samples"):
        ref.leaky_integrator_circuit().run(1.0, 1e-3, solver="euler", backend="numpy")
