"""rates_core.fit.evolve: differential evolution, one batched sweep per generation."""

from __future__ import annotations

import numpy as np
import pytest

from rates_core import CircuitTemplate
from rates_core.errors import ModelError
from rates_core.fit import evolve

PMAP = {
    "eta": {"vars": ["qif_op/eta"], "nodes": ["p"]},
    "Delta": {"vars": ["qif_op/Delta"], "nodes": ["p"]},
}


@pytest.fixture(scope="module")
def qif() -> CircuitTemplate:
    return CircuitTemplate.from_yaml("rates_core.models.qif.qif")


def test_evolve_recovers_eta_and_delta(qif):
    truth = qif.update_var(node_vars={"p/qif_op/eta": -4.2, "p/qif_op/Delta": 1.5})
    target = truth.run(3.0, 1e-3, outputs={"r": "p/qif_op/r"}, sampling_step_size=1e-2)["r"]
    target = target.to_numpy()
    generations = []

    def loss(sim):
        return float(np.mean((sim["r"].to_numpy() - target) ** 2))

    fitted = evolve(
        qif,
        loss,
        {"eta": (-7.0, -2.0), "Delta": (0.5, 3.0)},
        PMAP,
        3.0,
        1e-3,
        {"r": "p/qif_op/r"},
        sampling_step_size=1e-2,
        popsize=10,
        maxiter=40,
        tol=1e-8,
        seed=3,
        callback=lambda g, best, params: generations.append(best),
    )
    assert fitted.params["eta"] == pytest.approx(-4.2, abs=0.02)
    assert fitted.params["Delta"] == pytest.approx(1.5, abs=0.02)
    assert fitted.loss < 1e-6
    assert fitted.n_compiled == 1  # one generated function for the whole fit
    assert fitted.n_evaluations == 20 * (fitted.n_generations + 1)  # initial population + gens
    assert generations == fitted.history
    assert all(b <= a for a, b in zip(fitted.history, fitted.history[1:]))


def test_diverging_candidates_lose_and_bounds_checked(qif):
    def loss(sim):
        r = sim["r"].to_numpy()
        if r.max() > 2.0:
            raise ValueError("diverged")  # counts as inf
        return float(abs(r[-1] - 0.2))

    fitted = evolve(
        qif,
        loss,
        {"eta": (-8.0, 4.0)},
        PMAP,
        1.0,
        1e-3,
        {"r": "p/qif_op/r"},
        popsize=8,
        maxiter=3,
        seed=0,
    )
    assert np.isfinite(fitted.loss)
    with pytest.raises(ModelError, match="low < high"):
        evolve(qif, loss, {"eta": (1.0, 1.0)}, PMAP, 1.0, 1e-3, {"r": "p/qif_op/r"})
