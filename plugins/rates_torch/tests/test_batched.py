"""Batched parameter sets: one generated function, B sets at once, each equal to its own run."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import rates_torch
from rates_core.testing import references as ref


@pytest.mark.parametrize("solver", ["torch_rk4", "torch_dopri5"])
def test_jansen_rit_batch_equals_single_runs(solver):
    model = rates_torch.TorchModel(ref.jansen_rit_circuit())
    weights = [p for p in model.system.params if p.role == "weight"]
    key = weights[0].paths[0]
    base = float(weights[0].value)
    values = torch.tensor([0.6, 0.8, 1.0, 1.3], dtype=torch.float64) * base
    opts = {"rtol": 1e-9, "atol": 1e-12} if solver == "torch_dopri5" else {}
    batch = model.simulate(
        0.05, 1e-4, params={key: values}, batch=4, solver=solver, sampling_step_size=1e-3, **opts
    )
    assert batch.states.shape[1] == 4
    for b in range(4):
        one = model.simulate(
            0.05, 1e-4, params={key: values[b]}, solver=solver, sampling_step_size=1e-3, **opts
        )
        tol = 1e-12 if solver == "torch_rk4" else 1e-7
        scale = float(one.states.abs().max())
        assert float((batch.states[:, b] - one.states).abs().max()) <= tol * scale


def test_batch_over_a_per_unit_parameter():
    """20 rate units with dense coupling (vectorised), a batch over a per-unit parameter
    (values (B, 20)); the default set equals rates-numpy (1e-10), every set its own run."""
    labels, etas, circuit = ref.rate_network_nodes(20)
    rng = np.random.default_rng(4)
    w = rng.uniform(-0.5, 0.5, (20, 20))
    circuit = circuit.add_edges_from_matrix("op/r", "op/r_in", labels, weight=w)
    model = rates_torch.TorchModel(circuit)
    per_unit = next(p for p in model.system.params if np.size(p.value) == 20)
    base = torch.as_tensor(np.asarray(per_unit.value, dtype=float))
    values = torch.stack([base, 1.5 * base, base - 0.3])
    res = model.simulate(0.1, 1e-3, batch=3, params={per_unit.name: values})
    assert res.states.shape == (100, 3, model.system.n_states)
    for b in range(3):
        one = model.simulate(0.1, 1e-3, params={per_unit.name: values[b]})
        assert float((res.states[:, b] - one.states).abs().max()) < 1e-12
    frame = circuit.run(0.1, 1e-3, solver="rk4", outputs={"r": "p3/op/r"})
    torch_res = model.simulate(0.1, 1e-3, outputs={"r": "p3/op/r"})
    assert np.max(np.abs(frame["r"].to_numpy() - torch_res.outputs["r"].numpy())) < 1e-10


def test_batched_functional_field():
    """The generated functional field takes y (B, n) and scalar parameters as (B,) vectors."""
    circuit = ref.van_der_pol_circuit()
    func, args, keys, idx = circuit.get_run_func("vdp", 1e-3, backend="torch", functional=True)
    y = np.random.default_rng(0).normal(size=(5, np.size(args[1])))
    params = list(args[2:])
    i = next(k for k, p in enumerate(params) if np.ndim(p) == 0)
    values = np.linspace(0.5, 2.0, 5)
    params[i] = values
    out = np.asarray(func(0.1, y, *params))
    assert out.shape == y.shape
    for b in range(5):
        single = list(args[2:])
        single[i] = float(values[b])
        np.testing.assert_allclose(out[b], np.asarray(func(0.1, y[b], *single)), rtol=1e-14)
