"""``run(..., delays="grid")``, TVB's convention: the read plan, the option's plumbing through
run, grid_search, get_run_func and the CLI, and its errors (unknown value, adaptive solver,
backend without the ``grid_delays`` capability)."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from rates_core import build_system, pipeline
from rates_core.backend import Problem
from rates_core.cli import main
from rates_core.delay_reads import ConnectionLayout, StagePlan, check_delays, grid_steps
from rates_core.errors import SolverError
from rates_core.plugins import BackendInfo, SolverInfo
from rates_core.sweep import grid_search
from rates_core.testing import references as ref

needs_numpy = pytest.mark.skipif(
    importlib.util.find_spec("rates_numpy") is None, reason="needs rates-numpy"
)

OUTPUTS = {f"x{i}": f"n{i}/op/x" for i in range(3)}


def _run(solver: str = "heun", **kwargs):
    net = ref.GRID_NET
    return ref.grid_network_circuit().run(
        net["T"], net["dt"], outputs=OUTPUTS, solver=solver, backend="numpy", **kwargs
    )


def test_grid_steps_round_half_to_even():
    assert grid_steps(np.array([0.0, 0.04, 0.06, 0.25, 0.35, 1.0]), 0.1).tolist() == [
        0,
        0,
        1,
        2,  # 2.5 (within rounding) goes to the even neighbour, as numpy.rint and TVB
        3,  # 0.35 / 0.1 is 3.4999999999999996 in floating point (so in TVB too)
        10,
    ]


@pytest.mark.parametrize(("c", "first"), [(0.0, True), (0.5, False), (1.0, False)])
def test_stage_plan_grid_reads_row_n_minus_k_at_every_stage(c, first):
    """Every stage reads row n - round(tau / dt) directly (no weights); a delay rounded to 0
    reads row n, the state at the step's start."""
    plan = StagePlan(np.array([0.2, 0.25, 0.0, 0.04, 0.137]), 0.1, c, first, grid=True)
    assert plan.m.tolist() == [-2, -2, 0, 0, -1]
    np.testing.assert_array_equal(plan.s, plan.m)
    assert plan.direct and plan.weights is None
    assert plan.n_pre == 2
    exact = StagePlan(np.array([0.2, 0.25]), 0.1, c, first)
    assert not exact.direct  # the default interpolates


def test_layout_grid_has_no_stage_state_reads():
    """Under the grid convention a delay of 0 reads the stored row, not the stage state."""
    system = build_system(ref.grid_network_circuit())
    params = [p.value for p in system.params]
    assert ConnectionLayout(system, params).zero.size == 0  # no delay is exactly 0
    zero = ref.delay_edge_circuit().update_var(edge_vars=[("a/op/a", "b/op/u", {"delay": 0.0})])
    system = build_system(zero)
    params = [p.value for p in system.params]
    assert ConnectionLayout(system, params).zero.tolist() == [0]
    assert ConnectionLayout(system, params, grid=True).zero.size == 0


def test_check_delays_names_allowed_values_and_solver():
    check_delays("exact", "scipy", adaptive=True)
    check_delays("grid", "rk4")
    with pytest.raises(SolverError, match=r"one of 'exact', 'grid', got 'tvb'"):
        check_delays("tvb")
    with pytest.raises(SolverError, match=r"delays='grid'.*'scipy' is adaptive"):
        check_delays("grid", "scipy", adaptive=True)


def test_problem_check_refuses_grid_with_adaptive_step():
    system = build_system(ref.delay_circuit())
    problem = Problem(
        y0=system.initial_state(),
        params=[p.value for p in system.params],
        t0=0.0,
        simulation_time=1.0,
        step_size=0.1,
        sampling_step=0.1,
        n_samples=10,
        delays="grid",
    )
    problem.check(system, "rk4", fixed_step=True)
    assert problem.grid_delays
    with pytest.raises(SolverError, match="adaptive"):
        problem.check(system, "scipy", fixed_step=False)
    problem.delays = "nearest"
    with pytest.raises(SolverError, match="delays must be one of"):
        problem.check(system, "rk4", fixed_step=True)


@needs_numpy
def test_run_grid_matches_the_definition():
    """rates-numpy's heun under delays="grid" is the hand-written loop (1e-12 relative)."""
    frame = _run(history=ref.grid_network_history(), delays="grid")
    want = ref.grid_network_reference("heun")[: len(frame)]
    np.testing.assert_allclose(frame.to_numpy(), want, rtol=1e-12, atol=0)
    assert frame.attrs["delays"] == "grid"
    exact = _run(history=ref.grid_network_history())
    assert exact.attrs["delays"] == "exact"
    assert np.max(np.abs(exact.to_numpy() - frame.to_numpy())) > 1e-4  # not the default


@needs_numpy
def test_run_refuses_bad_values_and_adaptive_solvers():
    with pytest.raises(SolverError, match=r"delays must be one of 'exact', 'grid', got 'round'"):
        _run(delays="round")
    with pytest.raises(SolverError, match=r"delays='grid'.*solver 'scipy' is adaptive"):
        _run(solver="scipy", delays="grid")


def test_backend_without_capability_is_an_error(monkeypatch):
    """A backend that does not declare ``grid_delays`` never runs the exact convention
    silently."""

    class Host:
        def backend_info(self, name):
            return BackendInfo(name, frozenset({"execute", "dde"}))

    monkeypatch.setattr(pipeline, "default_host", lambda: Host())
    solver = SolverInfo("plain_euler", "plain", adaptive=False)
    assert pipeline.check_delay_option("exact", solver) == "exact"
    with pytest.raises(SolverError, match=r"backend 'plain'.*'plain_euler'.*'grid_delays'"):
        pipeline.check_delay_option("grid", solver)
    # a solver may declare it for its backend (rates-numba's fixed-step loops do)
    loop = SolverInfo("plain_rk4", "plain", adaptive=False, capabilities={"grid_delays"})
    assert pipeline.check_delay_option("grid", loop) == "grid"


@needs_numpy
def test_grid_search_forwards_delays():
    """Each set of a sweep runs under the convention: the set equal to the template's values
    gives run()'s numbers."""
    net = ref.GRID_NET
    results, _ = grid_search(
        ref.grid_network_circuit(),
        param_grid={"c0": [net["c"][0], 0.5]},
        param_map={"c0": {"vars": ["op/c"], "nodes": ["n0"]}},
        simulation_time=net["T"],
        step_size=net["dt"],
        outputs={"x": "n0/op/x"},
        solver="heun",
        delays="grid",
    )
    want = _run(delays="grid")["x0"].to_numpy()
    np.testing.assert_allclose(results["x"].iloc[:, 0].to_numpy(), want, rtol=1e-12)
    with pytest.raises(SolverError, match="adaptive"):
        grid_search(
            ref.grid_network_circuit(),
            param_grid={"c0": [0.1]},
            param_map={"c0": {"vars": ["op/c"], "nodes": ["n0"]}},
            simulation_time=net["T"],
            step_size=net["dt"],
            outputs={"x": "n0/op/x"},
            solver="scipy",
            delays="grid",
        )


@needs_numpy
def test_get_run_func_rounds_delays():
    """get_run_func(delays="grid") reads hist at t - k dt; it needs a fixed-step solver."""
    circuit = ref.delay_edge_circuit().update_var(edge_vars=[("a/op/a", "b/op/u", {"delay": 0.26})])
    seen = []

    def hist(s):
        seen.append(s)
        return np.zeros(2)

    func, args, _, _ = circuit.get_run_func("f", 0.1, solver="euler", delays="grid")
    func(1.0, args[1], hist, *args[3:])
    assert seen and np.isclose(seen[-1], 0.7)  # 0.26 rounds to 3 steps of 0.1
    func, args, _, _ = circuit.get_run_func("f", 0.1, solver="euler")
    func(1.0, args[1], hist, *args[3:])
    assert np.isclose(seen[-1], 0.74)
    with pytest.raises(SolverError, match="solver="):
        circuit.get_run_func("f", 0.1, delays="grid")
    with pytest.raises(SolverError, match="adaptive"):
        circuit.get_run_func("f", 0.1, solver="scipy", delays="grid")


@needs_numpy
def test_cli_run_delays_grid(tmp_path, capsys):
    model = tmp_path / "net.yaml"
    model.write_text(
        'op:\n  base: OperatorTemplate\n  equations: ["x\' = -x + u"]\n'
        "  variables: {x: output(1.0), u: input(0.0)}\n"
        "unit:\n  base: NodeTemplate\n  operators: [op]\n"
        "net:\n  base: CircuitTemplate\n  nodes: {a: unit, b: unit}\n"
        "  edges:\n    - [a/op/x, b/op/u, null, {weight: 1.0, delay: 0.26}]\n"
    )
    args = [f"{model}:net", "--time", "0.5", "--step", "0.1", "--solver", "heun"]
    assert main(["run", *args, "--delays", "grid", "--csv", "-"]) == 0
    grid = capsys.readouterr().out
    assert main(["run", *args, "--csv", "-"]) == 0
    assert capsys.readouterr().out != grid
    assert main(["run", *args, "--delays", "nearest"]) != 0
    assert "one of 'exact', 'grid'" in capsys.readouterr().err
