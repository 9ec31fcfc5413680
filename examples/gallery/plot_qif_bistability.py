"""
QIF population: bistability
===========================

The exact mean-field model of quadratic integrate-and-fire neurons (Montbrió, Pazó & Roxin 2015)
with excitability ``eta = -5`` and recurrent coupling ``J = 15`` has two stable states: a
low-activity and a high-activity one. A brief excitatory pulse of input current switches the
population from the low to the high state, and an inhibitory pulse switches it back. Between
the pulses the input is zero, so the state the population is in depends only on its history.
"""

import matplotlib.pyplot as plt
import numpy as np

from rates_core import CircuitTemplate
from rates_core.plot import timeseries

T, dt = 80.0, 1e-3
t = np.arange(int(round(T / dt))) * dt
current = np.zeros_like(t)
current[(t >= 20.0) & (t < 25.0)] = 3.0  # excitatory pulse: up to the high state
current[(t >= 50.0) & (t < 55.0)] = -3.0  # inhibitory pulse: back down

qif = CircuitTemplate.from_yaml("rates_core.models.qif.qif")
df = qif.run(
    simulation_time=T,
    step_size=dt,
    sampling_step_size=0.05,
    solver="rk4",
    inputs={"p/qif_op/I_ext": current},
    outputs={"r": "p/qif_op/r", "v": "p/qif_op/v"},
)
low, high = df["r"].loc[10:20].mean(), df["r"].loc[35:50].mean()
print(f"rate before the first pulse: {low:.3f}, after it: {high:.3f}")

# %%
# Firing rate, mean membrane potential and the input current.

fig, axes = plt.subplots(3, 1, figsize=(8, 6), sharex=True)
timeseries(df, "r", ax=axes[0], title="")
timeseries(df, "v", ax=axes[1], title="")
axes[2].plot(t, current, color="k")
axes[2].set_ylabel("I_ext")
axes[2].set_xlabel("time")
fig.tight_layout()
