"""Gradients through whole torch integrations against central finite differences, and the QIF
eta / Delta recovery by rates_torch.fit."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import rates_torch
from rates_core import CircuitTemplate, load_template
from rates_core.testing import references as ref


def _qif_single() -> CircuitTemplate:
    """One QIF population without recurrence (monostable: a smooth loss landscape)."""
    return CircuitTemplate(name="qif1", nodes={"p": load_template("rates_core.models.qif.qif_pop")})


def _inputs(n: int) -> np.ndarray:
    u = np.zeros(n)
    u[n // 10 : n // 4] = 3.0
    u[3 * n // 10 : 4 * n // 10] = 1.5
    return u


def _grad_vs_fd(model, key, value, loss_of, h=1e-6):
    x = torch.tensor(value, dtype=torch.float64, requires_grad=True)
    loss = loss_of(model, {key: x})
    loss.backward()
    with torch.no_grad():
        hi = float(loss_of(model, {key: torch.tensor(value + h, dtype=torch.float64)}))
        lo = float(loss_of(model, {key: torch.tensor(value - h, dtype=torch.float64)}))
    fd = (hi - lo) / (2 * h)
    assert float(x.grad) == pytest.approx(fd, rel=1e-5, abs=1e-9)


@pytest.mark.parametrize("solver", ["torch_euler", "torch_rk4", "torch_dopri5"])
@pytest.mark.parametrize("key", ["p/qif_op/eta", "p/qif_op/Delta"])
def test_qif_gradient_matches_finite_differences(solver, key):
    model = rates_torch.TorchModel(_qif_single(), inputs=["p/qif_op/I_ext"])
    T, dt = 2.0, 0.02
    u = _inputs(int(round(T / dt)))
    opts = {"rtol": 1e-10, "atol": 1e-12} if solver == "torch_dopri5" else {}

    def loss_of(m, params):
        res = m.simulate(
            T,
            dt,
            params=params,
            outputs={"r": "p/qif_op/r"},
            inputs={"p/qif_op/I_ext": u},
            solver=solver,
            **opts,
        )
        return (res.outputs["r"] ** 2).sum()

    _grad_vs_fd(model, key, -5.0 if "eta" in key else 1.0, loss_of)


@pytest.mark.parametrize("solver", ["torch_heun", "torch_rk4", "torch_dopri5"])
def test_gradient_through_delays(solver):
    """x' = -x(t - tau) * k: d loss / d k through the ring history (and the step history)."""
    circuit = ref.one_node("dk", ["x' = -k*past(x, 1.0)"], {"x": "output(1.0)", "k": 1.0})
    model = rates_torch.TorchModel(circuit)
    opts = {"rtol": 1e-10, "atol": 1e-12} if solver == "torch_dopri5" else {}

    def loss_of(m, params):
        res = m.simulate(3.0, 0.05, params=params, outputs={"x": "n/op/x"}, solver=solver, **opts)
        return (res.outputs["x"] ** 2).sum()

    _grad_vs_fd(model, "k", 0.8, loss_of)


def test_jansen_rit_gradient_of_a_weight():
    model = rates_torch.TorchModel(ref.jansen_rit_circuit())
    key = next(p.paths[0] for p in model.system.params if p.role == "weight")

    def loss_of(m, params):
        res = m.simulate(0.05, 1e-4, params=params, sampling_step_size=1e-3)
        return (res.states[:, 0] ** 2).sum()

    value = float(model.system.params[model.slot(key)].value)
    _grad_vs_fd(model, key, value, loss_of, h=1e-4 * abs(value))


def test_fit_recovers_qif_eta_and_delta():
    """Recover eta = -5 and Delta = 1 of a QIF population from its firing rate to 1 %, starting
    20 % / 50 % off, within 20 L-BFGS iterations."""
    circuit = _qif_single()
    T, dt = 10.0, 0.02
    u = _inputs(int(round(T / dt)))
    kw = dict(
        simulation_time=T,
        step_size=dt,
        outputs={"r": "p/qif_op/r"},
        inputs={"p/qif_op/I_ext": u},
        sampling_step_size=0.1,
    )
    model = rates_torch.TorchModel(circuit, inputs=["p/qif_op/I_ext"])
    target = model.simulate(
        T, dt, outputs=kw["outputs"], inputs=kw["inputs"], sampling_step_size=0.1
    ).outputs["r"]
    result = rates_torch.fit(
        circuit, target, {"p/qif_op/eta": -4.0, "p/qif_op/Delta": 1.5}, max_iter=20, tol=1e-10, **kw
    )
    assert result.n_iter <= 20
    assert result.params["p/qif_op/eta"] == pytest.approx(-5.0, rel=0.01)
    assert result.params["p/qif_op/Delta"] == pytest.approx(1.0, rel=0.01)
    assert result.losses[-1] < result.losses[0]
