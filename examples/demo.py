"""Demo: simulate the Jansen-Rit circuit of the model library for 2 s with a noisy input.

Writes ``jansenrit.csv`` and ``jansenrit.png`` into the current directory (or the directory given
as the first argument). Run from anywhere: ``python examples/demo.py [outdir]``.
"""

import sys
from pathlib import Path

import numpy as np

from rates_core import CircuitTemplate

out = Path(sys.argv[1] if len(sys.argv) > 1 else ".")
out.mkdir(parents=True, exist_ok=True)

T, dt = 2.0, 1e-4
rng = np.random.default_rng(0)
noise = rng.uniform(120.0, 320.0, size=int(round(T / dt)))  # pulse density, spikes/s

jrc = CircuitTemplate.from_yaml("rates_core.models.jansenrit.JRC")
df = jrc.run(
    simulation_time=T,
    step_size=dt,
    sampling_step_size=1e-3,
    solver="heun",
    inputs={"pc/syn_exc_ext/u": noise},
    outputs={"psp_pc": "pc/rate_out/v"},
)
df.to_csv(out / "jansenrit.csv")
print(df.describe())

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

fig, ax = plt.subplots(figsize=(8, 3))
ax.plot(df.index, df["psp_pc"] * 1e3)
ax.set_xlabel("time (s)")
ax.set_ylabel("PSP of pyramidal cells (mV)")
ax.set_title("Jansen-Rit circuit, Heun, dt = 0.1 ms")
fig.tight_layout()
fig.savefig(out / "jansenrit.png", dpi=100)
print(f"wrote {out / 'jansenrit.csv'} and {out / 'jansenrit.png'}")
