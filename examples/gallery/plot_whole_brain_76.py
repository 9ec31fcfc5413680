"""
Whole-brain network of 76 regions
=================================

One Jansen-Rit neural mass per region of a 76-region connectome, coupled by the regions'
firing rates through fibre tracts with conduction delays, driven by white noise, and observed
through a BOLD signal computed while the network integrates.

The connectome is synthetic (made below from arrays, no download): 38 regions per hemisphere
on two ellipsoids, sparse weights that fall off with distance within a hemisphere, one
connection between each region and its mirror region, tract lengths 1.2 times the distance of
the centres. With a conduction speed of 3 mm/ms the delays are 2 to 55 ms. Load a real one
with :func:`rates_core.load_connectome` (TVB's ``connectivity_76.zip``) instead.

Each region is the single-operator Jansen-Rit circuit of ``rates_core.models.jansenrit``
(``jrc_op``, time in seconds) with two additions: the coupling ``K * c`` joins the extrinsic
input ``u`` of the pyramidal cells, and that input carries white noise ``sigma * xi()``.
``LinearCoupling`` feeds ``c_i = sum_j w_ij r_j(t - d_ij)``, the delayed firing rates
``r = 1 / (1 + exp(s (v_thr - v)))`` (a fraction of the maximal rate) of the other regions,
with the weights scaled so the largest total input to a region is 1.

The stochastic Heun method integrates noise and delays together (``heun_stochastic``; the
history of the delayed rates is kept by the solver). The run keeps no trajectory: a
``Subsample`` monitor keeps the potentials every 4 ms and a ``Bold`` monitor the
Balloon-Windkessel BOLD signal of every region every 0.25 s; memory grows with those samples,
not with the steps. Ten seconds show the haemodynamic response rising from rest; a resting-state
analysis (functional connectivity of the BOLD signals) needs minutes of model time.
"""

import matplotlib.pyplot as plt
import numpy as np

from rates_core import Connectome, LinearCoupling, NodeTemplate, OperatorTemplate
from rates_core.monitors import Bold, Subsample

# %%
# A synthetic connectome of 76 regions.

n, half = 76, 38
rng = np.random.default_rng(76)
direction = rng.normal(size=(half, 3))
direction /= np.linalg.norm(direction, axis=1, keepdims=True)
left = direction * [35.0, 60.0, 45.0] + [-35.0, 0.0, 10.0]  # mm
centres = np.vstack([left, left * [-1.0, 1.0, 1.0]])
distance = np.linalg.norm(centres[:, None] - centres[None], axis=-1)
hemisphere = np.arange(n) < half
same_side = np.equal.outer(hemisphere, hemisphere)
weights = np.where(same_side, np.exp(-distance / 20.0), 0.0) * (rng.uniform(size=(n, n)) < 0.3)
weights = np.maximum(weights, weights.T)  # symmetric
weights[np.arange(n), (np.arange(n) + half) % n] = 0.5  # each region and its mirror region
np.fill_diagonal(weights, 0.0)
labels = [f"{side}{i:02d}" for side in "LR" for i in range(half)]
conn = Connectome(weights, tract_lengths=1.2 * distance, centres=centres, region_labels=labels)
delays = conn.delays(3.0)  # ms
print(
    f"{int((weights > 0).sum())} connections, delays {delays[weights > 0].min():.1f} to "
    f"{delays[weights > 0].max():.1f} ms"
)

# %%
# The Jansen-Rit node: coupling and noise enter the input of the pyramidal cells.

jansen_rit = OperatorTemplate(
    "jr",
    [
        "v_pce' = x_pce",
        "x_pce' = h_e*m_max/(1.0 + exp(s*(v_thr - v)))/tau_e - 2.0*x_pce/tau_e - v_pce/tau_e^2",
        "v_e' = x_e",
        "x_e' = h_e*(u + K*c + c2*m_max/(1.0 + exp(s*(v_thr - c1*v_pce))))/tau_e"
        " - 2.0*x_e/tau_e - v_e/tau_e^2 + h_e*sigma/tau_e*xi()",
        "v_i' = x_i",
        "x_i' = h_i*c4*m_max/(1.0 + exp(s*(v_thr - c3*v_pce)))/tau_i - 2.0*x_i/tau_i - v_i/tau_i^2",
        "v = v_e - v_i",
        "r = 1.0/(1.0 + exp(s*(v_thr - v)))",
    ],
    {
        "r": "output(0.0)",
        "v": "variable(0.0)",
        **{name: "variable(0.0)" for name in ("v_pce", "x_pce", "v_e", "x_e", "v_i", "x_i")},
        "h_e": 3.25e-3,
        "tau_e": 10e-3,
        "h_i": 22e-3,
        "tau_i": 20e-3,
        "c1": 135.0,
        "c2": 108.0,
        "c3": 33.75,
        "c4": 33.75,
        "m_max": 5.0,
        "s": 560.0,
        "v_thr": 6e-3,
        "u": 150.0,  # extrinsic input (1/s)
        "K": 20.0,  # global coupling (1/s)
        "sigma": 20.0,  # noise of the input (1/sqrt(s))
        "c": "input(0.0)",
    },
)
brain = conn.circuit(
    NodeTemplate("jr_node", operators=[jansen_rit]),
    "jr/r",
    "jr/c",
    coupling=LinearCoupling(a=1.0),
    speed=3.0,
    time_unit="s",  # the model is in seconds: delays in s
    normalise="region",
)

# %%
# Ten seconds at a step of 1 ms, observed by two monitors.

frames = brain.run(
    10.0,
    1e-3,
    solver="heun_stochastic",
    seed=1,
    monitors={
        "psp": Subsample({"v": "regions/jr/v"}, period=4e-3),
        "bold": Bold({"r": "regions/jr/r"}, period=0.25),
    },
)
psp, bold = frames["psp"], frames["bold"]
print(f"potentials: {psp.shape}, BOLD: {bold.shape}")

# %%
# The connectome, the potentials of four regions and the BOLD signal of every region (from
# 4 s on, when the response has risen from rest).

fig, axes = plt.subplots(2, 2, figsize=(10, 7), layout="constrained")
image = axes[0, 0].imshow(np.where(weights > 0, weights, np.nan), cmap="viridis")
axes[0, 0].set(title="weights (row: target region)", xlabel="source", ylabel="target")
fig.colorbar(image, ax=axes[0, 0], shrink=0.8)
axes[0, 1].hist(delays[weights > 0], bins=30, color="gray")
axes[0, 1].set(title="conduction delays at 3 mm/ms", xlabel="delay (ms)", ylabel="connections")
late = psp.loc[psp.index >= 8.0]
for k in (0, 1, half, half + 1):
    axes[1, 0].plot(late.index, 1e3 * late.iloc[:, k], lw=0.8, label=labels[k])
axes[1, 0].set(title="pyramidal-cell potential", xlabel="time (s)", ylabel="v (mV)")
axes[1, 0].legend(fontsize="small", ncols=2)
steady = bold.loc[bold.index >= 4.0]  # after the rise from rest
carpet = axes[1, 1].imshow(
    (steady - steady.mean()).to_numpy().T,
    aspect="auto",
    extent=(steady.index[0], steady.index[-1], n - 0.5, -0.5),
    cmap="RdBu_r",
)
axes[1, 1].set(title="BOLD signal minus its mean (%)", xlabel="time (s)", ylabel="region")
fig.colorbar(carpet, ax=axes[1, 1], shrink=0.8)
plt.show()
