"""
Fitting parameters with gradients (PyTorch)
===========================================

The ``torch`` backend (``pip install rates-torch``) integrates a model with solvers written in
PyTorch, so a whole simulation can be differentiated. :func:`rates_torch.fit` uses that to fit
parameters: it minimises the mean squared error between simulated outputs and a target with
L-BFGS, the gradients coming from automatic differentiation through the solver.

Here, the firing rate of a QIF population simulated with ``eta = -4``, ``Delta = 1.5`` is the
target, and the fit starts from ``eta = -6``, ``Delta = 0.8``.
"""

import matplotlib.pyplot as plt

import rates_torch
from rates_core import CircuitTemplate

qif = CircuitTemplate.from_yaml("rates_core.models.qif.qif")
true = {"p/qif_op/eta": -4.0, "p/qif_op/Delta": 1.5}
settings = dict(simulation_time=10.0, step_size=0.02, outputs={"r": "p/qif_op/r"})

target = rates_torch.simulate(qif, params=true, **settings).outputs["r"].detach()

fitted = rates_torch.fit(
    qif, target, {"p/qif_op/eta": -6.0, "p/qif_op/Delta": 0.8}, max_iter=30, **settings
)
print({k: round(v, 4) for k, v in fitted.params.items()}, "after", fitted.n_iter, "iterations")

# %%
# The loss during the fit, and the target against the fitted model.

start = rates_torch.simulate(
    qif, params={"p/qif_op/eta": -6.0, "p/qif_op/Delta": 0.8}, **settings
).outputs["r"]
result = rates_torch.simulate(qif, params=fitted.params, **settings).outputs["r"]
times = [k * settings["step_size"] for k in range(len(target))]

fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3))
left.semilogy(fitted.losses, marker="o")
left.set_xlabel("iteration")
left.set_ylabel("mean squared error")
right.plot(times, target.numpy().ravel(), "k", lw=3, alpha=0.4, label="target")
right.plot(times, start.detach().numpy().ravel(), ":", label="start")
right.plot(times, result.detach().numpy().ravel(), "--", label="fitted")
right.set_xlabel("time")
right.set_ylabel("r")
right.legend()
fig.tight_layout()
