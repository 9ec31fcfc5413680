"""
Fitting parameters with gradients (PyTorch)
===========================================

The ``torch`` backend (``pip install rates-torch``) integrates a model with solvers written in
PyTorch, so a whole simulation can be differentiated. :func:`rates_torch.fit` uses that to fit
parameters: it minimises the mean squared error between simulated outputs and a target with
L-BFGS, the gradients coming from automatic differentiation through the solver.

The model is one QIF population without recurrent coupling (a single stable state, so the loss
is smooth), driven by two current pulses. The firing rate simulated with the library values
``eta = -5``, ``Delta = 1`` is the target; the fit starts from ``eta = -4``, ``Delta = 1.5``.
"""

import matplotlib.pyplot as plt
import numpy as np

import rates_torch
from rates_core import CircuitTemplate, NodeTemplate

node = NodeTemplate.from_yaml("rates_core.models.qif.qif_pop")
qif = CircuitTemplate(name="qif1", nodes={"p": node})

T, dt = 8.0, 0.05
n = int(round(T / dt))
current = np.zeros(n)
current[n // 10 : n // 4] = 3.0
current[3 * n // 10 : 4 * n // 10] = 1.5
settings = dict(
    simulation_time=T,
    step_size=dt,
    sampling_step_size=0.1,
    outputs={"r": "p/qif_op/r"},
    inputs={"p/qif_op/I_ext": current},
)
start = {"p/qif_op/eta": -4.0, "p/qif_op/Delta": 1.5}

target = rates_torch.simulate(qif, **settings).outputs["r"].detach()
fitted = rates_torch.fit(qif, target, start, max_iter=15, tol=1e-9, **settings)
print({k: round(v, 4) for k, v in fitted.params.items()}, "after", fitted.n_iter, "iterations")

# %%
# The loss during the fit, and the target against the model before and after fitting.

before = rates_torch.simulate(qif, params=start, **settings).outputs["r"].detach()
after = rates_torch.simulate(qif, params=fitted.params, **settings).outputs["r"].detach()
times = np.arange(len(target)) * settings["sampling_step_size"]

fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3))
left.semilogy(fitted.losses, marker="o")
left.set_xlabel("iteration")
left.set_ylabel("mean squared error")
right.plot(times, target.numpy().ravel(), "k", lw=3, alpha=0.4, label="target")
right.plot(times, before.numpy().ravel(), ":", label="start")
right.plot(times, after.numpy().ravel(), "--", label="fitted")
right.set_xlabel("time")
right.set_ylabel("r")
right.legend()
fig.tight_layout()
