"""
Jansen-Rit circuit driven by noise
==================================

The Jansen-Rit circuit of the model library (``rates_core.models.jansenrit.JRC``): pyramidal
cells with excitatory and inhibitory interneurons, each population a second-order synapse and a
sigmoid rate. An extrinsic input, the pulse density arriving at the pyramidal cells, is drawn
uniformly between 120 and 320 spikes/s; with it the circuit produces the alpha-band (about
10 Hz) rhythm of the original paper (Jansen & Rit 1995).

Inputs are arrays with one row per integration step, given per ``node/op/var`` path. The
result is a DataFrame indexed by time; :func:`rates_core.plot.timeseries` and
:func:`rates_core.plot.power_spectrum` draw it.
"""

import matplotlib.pyplot as plt
import numpy as np

from rates_core import CircuitTemplate
from rates_core.plot import power_spectrum, timeseries

T, dt = 2.0, 1e-4
rng = np.random.default_rng(0)
noise = rng.uniform(120.0, 320.0, size=int(round(T / dt)))

jrc = CircuitTemplate.from_yaml("rates_core.models.jansenrit.JRC")
df = jrc.run(
    simulation_time=T,
    step_size=dt,
    sampling_step_size=1e-3,
    solver="heun",
    inputs={"pc/syn_exc_ext/u": noise},
    outputs={"PSP": "pc/rate_out/v"},
    cutoff=0.5,  # drop the transient
)
print(df.attrs["solver"], df.attrs["step_size"], len(df), "rows")

# %%
# The membrane potential of the pyramidal cells (in mV) and its power spectrum.

fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3), width_ratios=(2, 1))
timeseries(df, ax=left, scale=1e3, ylabel="PSP (mV)", xlabel="time (s)")
power_spectrum(df, ax=right, fmax=40.0, nperseg=1024, title="")
right.set_xlabel("frequency (Hz)")
fig.tight_layout()
