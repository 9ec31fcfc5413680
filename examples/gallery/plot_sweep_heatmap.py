"""
Parameter sweep with a heatmap
==============================

:func:`rates_core.sweep.grid_search` simulates a model for every parameter set of a grid. The
generated code is compiled once: parameters are runtime arguments, and with a fixed-step solver
the parameter sets of a batch run side by side as one vectorised system. Here, the QIF
population of the model library on a 12 x 12 grid of excitability ``eta`` and recurrent
coupling ``J``; the mean firing rate of the last time units shows where the population is
active, and where (large ``J``, negative ``eta``) it has two stable states, the low one reached
from this initial condition.

``executor="processes"`` or ``executor="dask"`` run the same sweep in a process pool or on a
Dask cluster; ``store=`` keeps finished batches in Parquet files so an interrupted sweep resumes.
"""

import matplotlib.pyplot as plt
import numpy as np

from rates_core import CircuitTemplate
from rates_core.sweep import grid_search

etas = np.linspace(-8.0, 2.0, 12)
couplings = np.linspace(0.0, 24.0, 12)
qif = CircuitTemplate.from_yaml("rates_core.models.qif.qif")

results, grid = grid_search(
    qif,
    param_grid={"eta": etas, "J": couplings},
    param_map={
        "eta": {"vars": ["qif_op/eta"], "nodes": ["p"]},
        "J": {"vars": ["weight"], "edges": [("p/qif_op/r", "p/qif_op/r_in")]},
    },
    permute_grid=True,  # every combination: 144 sets
    simulation_time=20.0,
    step_size=1e-2,
    solver="rk4",
    outputs={"r": "p/qif_op/r"},
)
print(f"{len(grid)} parameter sets, results of shape {results.shape}")

# %%
# The mean rate over the last 5 time units of every set, arranged as an image.

mean_rate = results["r"].loc[15.0:].mean()  # one value per parameter-set label
grid["rate"] = mean_rate.groupby(level=0).mean().reindex(grid.index).to_numpy()
image = grid.pivot_table(index="J", columns="eta", values="rate")

fig, ax = plt.subplots(figsize=(6, 4.5))
mesh = ax.pcolormesh(image.columns, image.index, image.to_numpy(), shading="nearest")
fig.colorbar(mesh, ax=ax, label="mean firing rate r")
ax.set_xlabel("eta")
ax.set_ylabel("J")
ax.set_title("QIF population: rate over (eta, J)")
fig.tight_layout()
