"""Problem.check: the checks every solver makes before integrating, one SolverError each."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from rates_core import build_system
from rates_core.backend import Problem
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
