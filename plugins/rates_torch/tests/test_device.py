"""Devices: ``device="cuda"`` where torch has no CUDA is a clear SolverError (not torch's own
assertion), ``gpu`` is declared exactly when CUDA is available, and every tensor of a run follows
the requested device (checked on torch's ``meta`` device, which needs no GPU: a tensor made on the
CPU by mistake would meet a meta tensor and fail)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import rates_torch
from rates_core.errors import SolverError
from rates_core.testing import references as ref
from rates_torch import plugin
from rates_torch.solvers import resolve_device

no_cuda = pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here")


@no_cuda
def test_cuda_without_cuda_is_a_clear_error():
    model = rates_torch.TorchModel(ref.decay_circuit())
    with pytest.raises(SolverError, match="cannot use CUDA"):
        model.simulate(0.1, 1e-2, device="cuda")
    with pytest.raises(SolverError, match="cannot use CUDA"):
        ref.decay_circuit().run(0.1, 1e-2, backend="torch", solver="torch_rk4", device="cuda")
    with pytest.raises(SolverError, match="cannot use CUDA"):
        rates_torch.fit(
            ref.decay_circuit(),
            np.zeros(10),
            ["n/op/k"],
            simulation_time=0.1,
            step_size=1e-2,
            outputs={"x": "n/op/x"},
            device="cuda:0",
        )


def test_bad_device_names():
    with pytest.raises(SolverError, match="no torch device"):
        resolve_device("gpu0")
    assert resolve_device(None) == torch.device("cpu")
    assert resolve_device("cpu") == torch.device("cpu")
    if torch.cuda.is_available():
        with pytest.raises(SolverError, match="CUDA device"):
            resolve_device(f"cuda:{torch.cuda.device_count()}")


def test_gpu_declared_only_with_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert "gpu" not in plugin._capabilities()
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert "gpu" in plugin._capabilities()


@pytest.mark.parametrize(
    ("text", "gpu"),
    [
        ("__version__ = '2.13.0+cpu'\ncuda: Optional[str] = None\nhip = None\n", False),
        ("__version__ = '2.13.0'\ncuda: Optional[str] = '12.8'\nhip = None\n", True),
        ("cuda = None\nhip = '6.2.4'\n", True),
        ("__version__ = '3.0'\n", False),
    ],
)
def test_gpu_build_read_from_the_version_file(tmp_path, text, gpu):
    """A CPU build of torch is recognised from its version file without importing torch
    (registration runs in every rates process)."""
    (tmp_path / "version.py").write_text(text)
    spec = type("Spec", (), {"submodule_search_locations": [str(tmp_path)]})()
    assert plugin._gpu_build(spec) is gpu


def test_gpu_build_asks_torch_without_a_version_file(tmp_path):
    spec = type("Spec", (), {"submodule_search_locations": [str(tmp_path)]})()
    assert plugin._gpu_build(spec) is True


@pytest.mark.parametrize(
    "circuit",
    [ref.jansen_rit_circuit, ref.stuart_landau_circuit],
    ids=["jansen_rit", "complex"],
)
@pytest.mark.parametrize("solver", ["torch_euler", "torch_rk4"])
def test_every_tensor_follows_the_device(circuit, solver):
    """The same code path as ``device="cuda"``: parameters, inputs, history and samples are
    made on the requested device (here ``meta``: shapes only, no data). Delays are left out:
    their values are structure, read to the host once per run (no data on ``meta``)."""
    model = rates_torch.TorchModel(circuit())
    res = model.simulate(0.05, 1e-2, device="meta", solver=solver)
    assert res.states.device.type == "meta"
    assert res.states.shape == (5, model.system.n_states)
    batch = model.simulate(0.05, 1e-2, device="meta", solver=solver, batch=3)
    assert batch.states.shape == (5, 3, model.system.n_states)


def test_sparse_coupling_follows_the_device():
    import scipy.sparse as sp

    from rates_core import CircuitTemplate

    labels, _, circuit = ref.rate_network_nodes(30)
    w = sp.random(30, 30, density=0.2, random_state=1, format="csr")
    circuit = circuit.add_edges_from_matrix("op/r", "op/r_in", labels, weight=w.toarray())
    assert isinstance(circuit, CircuitTemplate)
    model = rates_torch.TorchModel(circuit)
    res = model.simulate(0.05, 1e-2, device="meta")
    assert res.states.device.type == "meta"
