"""Fixed-step runs on CUDA replay one captured step (``solvers.StaticStep`` in a CUDA graph).

Without a GPU the same static step runs uncaptured: forced here on the CPU, it must give the
step loop's numbers exactly (time from the step counter, stage times, input rows, batches,
float32). With CUDA, runs with and without ``cuda_graph`` are compared too.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import rates_torch
from rates_core.testing import references as ref
from rates_torch import solvers

FIXED = ["torch_euler", "torch_heun", "torch_rk4"]


def _both(monkeypatch, model, **kwargs):
    eager = model.simulate(**kwargs)
    assert "cuda_graph" not in eager.info
    monkeypatch.setattr(solvers, "_graph_reason", lambda run: None)
    static = model.simulate(**kwargs)
    assert static.info["cuda_graph"] is False  # replayed path, not captured on the CPU
    return eager, static


@pytest.mark.parametrize("solver", FIXED)
def test_static_step_equals_the_step_loop(monkeypatch, solver):
    model = rates_torch.TorchModel(ref.jansen_rit_circuit())
    h = torch.linspace(2e-3, 4e-3, 3, dtype=torch.float64)
    eager, static = _both(
        monkeypatch,
        model,
        simulation_time=0.05,
        step_size=1e-4,
        sampling_step_size=1e-3,
        solver=solver,
        batch=3,
        params={"pc/syn_exc_ext/h": h},
    )
    assert torch.equal(eager.states, static.states)
    assert torch.equal(eager.final, static.final)


@pytest.mark.parametrize("solver", FIXED)
def test_static_step_reads_input_rows_and_time(monkeypatch, solver):
    """A step input (one row per step) and an explicitly time-dependent equation."""
    circuit = ref.one_node(
        "forced", ["x' = -x/tau + u + sin(3*t)"], {"x": "output(0.0)", "tau": 0.5, "u": "input"}
    )
    model = rates_torch.TorchModel(circuit, inputs=["n/op/u"])
    n = 400
    rows = np.where(np.arange(n) * 1e-3 >= 0.15, 1.0, 0.0)
    eager, static = _both(
        monkeypatch,
        model,
        simulation_time=n * 1e-3,
        step_size=1e-3,
        solver=solver,
        inputs={"n/op/u": rows},
    )
    assert torch.equal(eager.states, static.states)
    assert float(static.final[0]) > 0.1


def test_static_step_in_float32(monkeypatch):
    model = rates_torch.TorchModel(ref.van_der_pol_circuit(), float_precision="float32")
    eager, static = _both(monkeypatch, model, simulation_time=1.0, step_size=1e-2)
    assert static.states.dtype == torch.float32
    assert torch.equal(eager.states, static.states)


def test_reasons_not_to_capture():
    """Runs that stay in the step loop say why (CPU, too short, compile, randn, sparse)."""
    model = rates_torch.TorchModel(ref.van_der_pol_circuit())
    res = model.simulate(1.0, 1e-2)
    assert "cuda_graph" not in res.info  # only CUDA runs report it


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("solver", FIXED)
def test_cuda_graph_equals_eager_on_the_gpu(solver):
    model = rates_torch.TorchModel(ref.jansen_rit_circuit())
    h = torch.linspace(2e-3, 4e-3, 64, dtype=torch.float64)
    kw = dict(
        simulation_time=0.05,
        step_size=1e-4,
        sampling_step_size=1e-3,
        solver=solver,
        batch=64,
        params={"pc/syn_exc_ext/h": h},
        device="cuda",
    )
    graphed = model.simulate(**kw)
    eager = model.simulate(cuda_graph=False, **kw)
    assert graphed.info["cuda_graph"] is True
    assert eager.info["cuda_graph"] == "cuda_graph=False"
    torch.testing.assert_close(graphed.states, eager.states, rtol=1e-13, atol=1e-15)
