"""
Kuramoto synchronisation
========================

Three hundred phase oscillators with natural frequencies drawn around 10 rad/s, each pulled towards
the others with strength ``K``:

.. math:: \\theta_i' = \\omega_i + \\frac{K}{N} \\sum_j \\sin(\\theta_j - \\theta_i)

The node ``kmo_pop`` of the model library writes the coupling as
``cos(theta) * s_in - sin(theta) * c_in`` where ``s_in`` and ``c_in`` sum the sines and cosines
of all phases. A :class:`~rates_core.frontend.population.PopulationTemplate` makes the 300 units
without 300 template objects, and a scalar
:class:`~rates_core.frontend.population.Connectivity` weight is global (mean-field) coupling, a
sum over the population at O(N) per step.

The order parameter :math:`R = |\\frac{1}{N}\\sum_j e^{i\\theta_j}|` stays small below the
critical coupling (2 for this frequency spread) and grows towards 1 above it.
"""

import matplotlib.pyplot as plt
import numpy as np

from rates_core import CircuitTemplate, Connectivity, NodeTemplate, PopulationTemplate

N = 300
rng = np.random.default_rng(3)
omega = 10.0 + np.tan(np.pi * (rng.uniform(size=N) - 0.5)).clip(-20, 20)  # Lorentzian, width 1
theta0 = rng.uniform(0.0, 2.0 * np.pi, size=N)
node = NodeTemplate.from_yaml("rates_core.models.kuramoto.kmo_pop")


def kuramoto_network(k: float) -> CircuitTemplate:
    osc = PopulationTemplate(
        "osc", node, N, params={"phase_op/omega": omega, "phase_op/theta": theta0}
    )
    return CircuitTemplate(
        "kuramoto",
        populations={"osc": osc},
        connectivity=[
            Connectivity("osc/sin_op/s", "osc/phase_op/s_in", k / N),
            Connectivity("osc/cos_op/c", "osc/phase_op/c_in", k / N),
        ],
    )


# %%
# Simulate a weak and a strong coupling and compute the order parameter from the phases.

fig, ax = plt.subplots(figsize=(7, 3))
for k in (1.0, 6.0):
    df = kuramoto_network(k).run(
        simulation_time=10.0,
        step_size=1e-2,
        solver="rk4",
        outputs={"theta": "osc/phase_op/theta"},
    )
    order = np.abs(np.exp(1j * df.to_numpy()).mean(axis=1))
    ax.plot(df.index, order, label=f"K = {k:g}")
    print(f"K = {k:g}: mean R over the last 2 time units = {order[-200:].mean():.2f}")
ax.set_xlabel("time")
ax.set_ylabel("order parameter R")
ax.set_ylim(0, 1)
ax.legend()
fig.tight_layout()
