"""Monitors of a delayed run on rates-torch: the fixed-step and SDE loops stream their
samples to the monitors in blocks (Problem.sink), with the same numbers as a recorded run."""

from __future__ import annotations

import numpy as np
import pytest

from rates_core import Connectome, LinearCoupling, NodeTemplate, OperatorTemplate
from rates_core.monitors import Subsample, TemporalAverage


@pytest.mark.parametrize(("method", "noise"), [("heun", ""), ("heun_stochastic", " + 0.3*xi()")])
def test_streamed_monitors_equal_a_recorded_run(monkeypatch, method, noise):
    """4 delayed units (delays between grid points), blocks of 37 rows: Subsample and
    TemporalAverage equal the recorded run's samples to 1e-12 (noise: the same seed)."""
    from rates_torch import solvers

    monkeypatch.setattr(solvers, "SINK_BYTES", 8 * 4 * 37)
    rng = np.random.default_rng(3)
    op = OperatorTemplate(
        "op",
        ["x' = -x/5 + tanh(c) + sin(t/3)" + noise],
        {"x": "output(0.0)", "c": "input(0.0)"},
    )
    circuit = Connectome(rng.uniform(size=(4, 4)), tract_lengths=rng.uniform(0.4, 4.7, (4, 4)))
    circuit = circuit.circuit(
        NodeTemplate("unit", operators=[op]),
        "op/x",
        "op/c",
        speed=2.0,
        params={"op/x": np.linspace(-1.0, 1.0, 4)},
        coupling=LinearCoupling(a=-1.5),
    )
    x = {"x": "regions/op/x"}
    full = circuit.run(30.0, 0.1, outputs=x, solver=method, backend="torch", seed=2)
    frames = circuit.run(
        30.0,
        0.1,
        solver=method,
        backend="torch",
        seed=2,
        monitors={"sub": Subsample(x, period=0.5), "avg": TemporalAverage(x, period=1.0)},
    )
    xs = full.to_numpy()
    np.testing.assert_allclose(frames["sub"].to_numpy(), xs[::5], rtol=0, atol=1e-12)
    mean = xs.reshape(30, 10, 4).mean(axis=1)
    np.testing.assert_allclose(frames["avg"].to_numpy(), mean, rtol=0, atol=1e-12)
