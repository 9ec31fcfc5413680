"""
Delay-coupled Jansen-Rit circuits
=================================

Two Jansen-Rit circuits exchange the firing rates of their pyramidal cells through edges with a
transmission delay of 10 ms (``rates_core.models.jansenrit.JRC_delay``): hierarchical circuits,
the edges of the outer circuit reaching into the nodes of the inner ones. Only the first circuit
is driven by noise; the second one gets the constant default input.

Delays are exact under every solver: the solver keeps the history of the delayed variables and
reads it at ``t - tau``. Although every signal takes 10 ms to arrive, the two alpha rhythms lock
in phase: the cross-correlation of the pyramidal-cell potentials peaks at zero lag, and again
one period (about 100 ms) either side.
"""

import matplotlib.pyplot as plt
import numpy as np

from rates_core import CircuitTemplate
from rates_core.plot import timeseries

T, dt = 2.0, 1e-4
rng = np.random.default_rng(1)
noise = rng.uniform(120.0, 320.0, size=int(round(T / dt)))

circuit = CircuitTemplate.from_yaml("rates_core.models.jansenrit.JRC_delay")
df = circuit.run(
    simulation_time=T,
    step_size=dt,
    sampling_step_size=1e-3,
    solver="heun",
    inputs={"jrc1/pc/syn_exc_ext/u": noise},
    outputs={
        "exc 1": "jrc1/pc/syn_exc_ext/v",
        "inh 1": "jrc1/pc/syn_inh/v",
        "exc 2": "jrc2/pc/syn_exc_ext/v",
        "inh 2": "jrc2/pc/syn_inh/v",
    },
    cutoff=0.5,
)
# the pyramidal-cell potential is the sum of its excitatory and (negative) inhibitory PSPs
df["PSP 1"] = df["exc 1"] + df["inh 1"]
df["PSP 2"] = df["exc 2"] + df["inh 2"]

# %%
# The two potentials and their cross-correlation.

a = df["PSP 1"].to_numpy() - df["PSP 1"].mean()
b = df["PSP 2"].to_numpy() - df["PSP 2"].mean()
lags = np.arange(-100, 101)  # samples of 1 ms
xcorr = [
    np.dot(a[: len(a) - k], b[k:]) if k >= 0 else np.dot(a[-k:], b[: len(b) + k]) for k in lags
]
best = lags[int(np.argmax(xcorr))]
print(f"the cross-correlation peaks at a lag of {best} ms")

fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3), width_ratios=(2, 1))
timeseries(
    df, ["PSP 1", "PSP 2"], ax=left, scale=1e3, ylabel="PSP (mV)", xlabel="time (s)", title=""
)
right.plot(lags, np.asarray(xcorr) / np.max(xcorr))
right.axvline(best, color="k", linestyle=":")
right.set_xlabel("lag of circuit 2 (ms)")
right.set_ylabel("cross-correlation")
fig.tight_layout()
