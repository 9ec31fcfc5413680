"""``dde_algebraic``: delayed algebraic variables kept in the torch history (``system.recorded``),
equal to rates-numpy's recorded history within 1e-10 with the same fixed-step method; the torch
adaptive solver against the exact solution; batches and gradients through recorded values."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import rates_torch
from rates_core import CircuitTemplate, NodeTemplate, OperatorTemplate
from rates_core.testing import references as ref

PAIRS = [("euler", "torch_euler"), ("heun", "torch_heun"), ("rk4", "torch_rk4")]


def _ring() -> CircuitTemplate:
    """Three phase oscillators in a ring, each driven by the delayed algebraic
    ``s = sin(theta) + 0.5 cos(omega t) theta`` of its predecessor (it depends on t too), with
    delays that are no multiples of dt (Hermite reads of recorded values and derivatives)."""
    eqs = ["s = sin(theta) + 0.5*cos(omega*t)*theta", "theta' = omega + k*u"]
    variables = {
        "theta": "output(0.2)",
        "u": "input(0.0)",
        "omega": 1.3,
        "k": 0.8,
        "s": "variable(0.0)",
    }
    op = OperatorTemplate(name="op", equations=eqs, variables=variables)
    node = NodeTemplate(name="osc", operators=[op])
    c = CircuitTemplate(name="ring_s", nodes={n: node for n in ("a", "b", "c")})
    delays = {"a": 0.3, "b": 0.45, "c": 0.5123}
    edges = [
        [f"{src}/op/s", f"{tgt}/op/u", None, {"delay": delays[tgt]}]
        for src, tgt in (("a", "b"), ("b", "c"), ("c", "a"))
    ]
    return c.add_edges(edges)


def _close(a, b, tol=1e-10):
    a, b = np.asarray(a), np.asarray(b)
    scale = max(float(np.max(np.abs(a))), 1.0)
    assert np.max(np.abs(a - b)) <= tol * scale, np.max(np.abs(a - b)) / scale


def test_torch_keeps_recorded_values():
    model = rates_torch.TorchModel(_ring())
    system = model.system
    assert system.recorded
    assert {d.state for d in system.delayed} == {r.name for r in system.recorded}
    assert "def record_(t, y, dy" in model.function.source
    assert "_rate = dy[..., " in model.function.source  # time derivatives for Hermite reads
    assert model.function.extras["record"] is model.module.record_


@pytest.mark.parametrize("vectorize", [True, False], ids=["vectorised", "nodes"])
@pytest.mark.parametrize(("np_solver", "torch_solver"), PAIRS, ids=[p[1] for p in PAIRS])
def test_ring_equals_numpy(np_solver, torch_solver, vectorize):
    out = {"theta": "all/op/theta"}
    kw = dict(outputs=out, vectorize=vectorize)
    a = _ring().run(2.0, 0.01, solver=np_solver, backend="numpy", **kw)
    b = _ring().run(2.0, 0.01, solver=torch_solver, backend="torch", **kw)
    _close(a.to_numpy(), b.to_numpy())
    assert np.abs(b.to_numpy()[-1] - b.to_numpy()[0]).max() > 1.0


@pytest.mark.parametrize(("np_solver", "torch_solver"), PAIRS, ids=[p[1] for p in PAIRS])
def test_pre_history_function_equals_numpy(np_solver, torch_solver):
    """A pre-history function: the recorded values before t0 come from its states (and t)."""
    history = {"all/op/theta": lambda t: 0.2 + 0.3 * t}
    kw = dict(outputs={"theta": "all/op/theta"}, history=history)
    a = _ring().run(1.5, 0.01, solver=np_solver, backend="numpy", **kw)
    b = _ring().run(1.5, 0.01, solver=torch_solver, backend="torch", **kw)
    _close(a.to_numpy(), b.to_numpy())


@pytest.mark.parametrize(("np_solver", "torch_solver"), PAIRS, ids=[p[1] for p in PAIRS])
def test_delay_edge_from_algebraic_equals_numpy(np_solver, torch_solver):
    a = ref.delay_algebraic_circuit().run(2.0, 2e-2, outputs={"b": "b/op/b"}, solver=np_solver)
    b = ref.delay_algebraic_circuit().run(
        2.0, 2e-2, outputs={"b": "b/op/b"}, solver=torch_solver, backend="torch"
    )
    _close(a.to_numpy(), b.to_numpy())


def test_dopri5_recorded_matches_closed_form():
    b = ref.delay_algebraic_circuit().run(
        3.0,
        0.01,
        outputs={"b": "b/op/b"},
        solver="torch_dopri5",
        backend="torch",
        rtol=1e-10,
        atol=1e-12,
    )
    exact = ref.delay_algebraic_exact(b.index.to_numpy())
    _close(b["b"].to_numpy(), exact, 1e-8)


def test_dopri5_ring_matches_numpy_scipy():
    out = {"theta": "all/op/theta"}
    a = _ring().run(2.0, 0.01, outputs=out, solver="scipy", method="DOP853", rtol=1e-12, atol=1e-13)
    b = _ring().run(
        2.0, 0.01, outputs=out, solver="torch_dopri5", backend="torch", rtol=1e-11, atol=1e-13
    )
    _close(a.to_numpy(), b.to_numpy(), 1e-8)


def test_batch_with_recorded_values_equals_single_runs():
    """A batch over the oscillators' coupling k: the recorded values carry the batch axis."""
    model = rates_torch.TorchModel(_ring())
    key = "a/op/k"  # the coupling of every oscillator (one parameter, vectorised)
    values = torch.tensor([0.4, 0.8, 1.5], dtype=torch.float64)
    batch = model.simulate(1.0, 0.01, params={key: values}, batch=3, solver="torch_rk4")
    for i in range(3):
        one = model.simulate(1.0, 0.01, params={key: values[i]}, solver="torch_rk4")
        _close(batch.states[:, i].numpy(), one.states.numpy(), 1e-13)


def test_gradient_through_recorded_history():
    """d loss / d k through the recorded values in the ring history, against central finite
    differences."""
    model = rates_torch.TorchModel(_ring())
    key = "a/op/k"
    value = float(np.ravel(model.system.params[model.slot(key)].value)[0])

    def loss(k):
        res = model.simulate(1.0, 0.02, params={key: k}, solver="torch_rk4")
        return (res.states**2).sum()

    x = torch.tensor(value, dtype=torch.float64, requires_grad=True)
    loss(x).backward()
    h = 1e-6
    with torch.no_grad():
        hi = float(loss(torch.tensor(value + h, dtype=torch.float64)))
        lo = float(loss(torch.tensor(value - h, dtype=torch.float64)))
    fd = (hi - lo) / (2 * h)
    assert float(x.grad) == pytest.approx(fd, rel=1e-6)
