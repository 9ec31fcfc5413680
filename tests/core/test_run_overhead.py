"""What a repeated run() no longer rebuilds (issue 20: a run of an already-run template costs
little beyond its integration), and that what users get stays the same."""

from __future__ import annotations

import importlib.util

import numpy as np
import pandas as pd
import pytest

from rates_core import pipeline, results
from rates_core.backend import first_nonfinite
from rates_core.plugins import PluginHost, default_host
from rates_core.system import build_system
from rates_core.testing import references as ref

needs_numpy = pytest.mark.skipif(
    importlib.util.find_spec("rates_numpy") is None, reason="needs rates-numpy"
)


def test_problem_without_inputs_has_no_input_times():
    """An array of every step's time was made for every run, read only for inputs."""
    circuit = ref.leaky_integrator_circuit()
    system = build_system(circuit)
    problem = pipeline.make_problem(
        circuit, system, simulation_time=1.0, step_size=0.01, sampling_step=0.1
    )
    assert not problem.inputs and problem.input_times is None


def test_problem_with_inputs_keeps_the_row_times():
    circuit = ref.jansen_rit_circuit()
    path = "pc/syn_exc_ext/u"
    system = build_system(circuit, inputs=[path])
    problem = pipeline.make_problem(
        circuit,
        system,
        simulation_time=0.01,
        step_size=1e-3,
        sampling_step=1e-3,
        inputs={path: np.ones(10)},
    )
    assert problem.inputs
    np.testing.assert_allclose(problem.input_times, np.arange(10) * 1e-3, rtol=0, atol=1e-15)


@needs_numpy
def test_host_tables_are_built_once_and_refreshed_by_a_registration():
    host = PluginHost.discover()
    table = host._method_table("numpy")
    assert host._method_table("numpy") is table  # not rebuilt per run
    assert host.resolve_solver("numpy", "euler").method == "euler"
    assert host._declarations("solver") is host._declarations("solver")

    from rates_core.plugins import SolverInfo, hookimpl

    class Extra:
        @hookimpl
        def register_solvers(self):
            return [SolverInfo("numpy_extra_method", "numpy", False, method="extra_method")]

    host.register(Extra(), "extra")
    assert "extra_method" in host.methods("numpy")  # the new plugin's method is seen
    assert host.resolve_solver("numpy", "extra_method").name == "numpy_extra_method"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1.5, None),
        (float("nan"), 0),
        (np.float64("inf"), 0),
        (np.array(2.0), None),
        (np.array(-np.inf), 0),
        (np.array(np.nan, dtype=np.float32), 0),
        (np.array(1.0 + 1j), None),
        (np.array(complex(np.nan, 0)), 0),
        (np.array([1.0, np.nan]), 1),
        (np.array(3), None),
        (np.longdouble("nan"), 0),
    ],
)
def test_first_nonfinite_of_numbers_and_arrays(value, expected):
    assert first_nonfinite(value) == expected


def _jrc_frame():
    circuit = ref.jansen_rit_circuit()
    return circuit, circuit.run(
        0.05,
        1e-3,
        outputs={"v_e": "pc/syn_exc_ext/v", "v_i": "pc/syn_inh/v"},
        backend="numpy",
        solver="euler",
    )


@needs_numpy
def test_frames_share_built_columns_and_stay_independent():
    circuit, first = _jrc_frame()
    hits = results._column_index.cache_info().hits
    second = circuit.run(
        0.05,
        1e-3,
        outputs={"v_e": "pc/syn_exc_ext/v", "v_i": "pc/syn_inh/v"},
        backend="numpy",
        solver="euler",
    )
    assert results._column_index.cache_info().hits > hits  # built once, not per run
    assert second.columns is not first.columns
    first.columns.name = "renamed"  # a frame's own index: the next frame keeps its name
    third = circuit.run(0.05, 1e-3, outputs={"v_e": "pc/syn_exc_ext/v", "v_i": "pc/syn_inh/v"})
    assert second.columns.name is None and third.columns.name is None


@needs_numpy
def test_frame_is_what_users_had():
    """Same columns (dtype as pandas infers for the names), time index, one float block with
    contiguous columns, values equal to the recorded states (exact)."""
    _, frame = _jrc_frame()
    assert list(frame.columns) == ["v_e", "v_i"]
    assert frame.columns.dtype == pd.Index(["v_e", "v_i"]).dtype
    assert frame.index.name == "time" and frame.index.dtype == np.float64
    np.testing.assert_allclose(frame.index.to_numpy(), np.arange(50) * 1e-3, rtol=0, atol=1e-15)
    assert list(frame.dtypes) == [np.float64, np.float64]
    blocks = frame._mgr.blocks
    assert len(blocks) == 1 and blocks[0].values.flags.c_contiguous  # (columns, rows)
    assert frame.attrs["solver_method"] == "euler" and frame.attrs["backend"] == "numpy"


@needs_numpy
def test_multiindex_frames_are_unchanged():
    labels, _, net = ref.rate_network_nodes(3)
    frame = net.run(0.01, 1e-3, outputs={"r": "all/op/r"}, backend="numpy", solver="euler")
    again = net.run(0.01, 1e-3, outputs={"r": "all/op/r"}, backend="numpy", solver="euler")
    expected = pd.MultiIndex.from_tuples([("r", label, "op/r") for label in labels])
    assert frame.columns.equals(expected) and again.columns.equals(expected)
    assert frame.columns is not again.columns
    pd.testing.assert_frame_equal(frame, again)


@needs_numpy
def test_default_host_is_used_by_run():
    assert default_host().resolve_solver("numpy", "rk4").method == "rk4"
