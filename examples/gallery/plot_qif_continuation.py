"""
Continuation with Auto-07p
==========================

The ``fortran`` backend (``pip install rates-fortran``, with gfortran and Auto-07p installed)
writes a model's equations as Auto-07p files and drives the continuation:
:class:`rates_fortran.auto.Continuation` simulates the model to an equilibrium, continues it in
a parameter in both directions and returns the branch as a DataFrame, with its stability and
special points (LP: fold, HB: Hopf).

For the QIF population with recurrent coupling ``J = 15``, the branch of equilibria in the
excitability ``eta`` folds twice: between the two folds, a low-activity and a high-activity
state are both stable, which is the bistability the "QIF population: bistability" example
switches with current pulses.
"""

import matplotlib.pyplot as plt

from rates_core import CircuitTemplate
from rates_fortran.auto import Continuation

qif = CircuitTemplate.from_yaml("rates_core.models.qif.qif")
continuation = Continuation(qif)
branch = continuation.equilibria("eta", settle=20.0, NMX=2000, RL0=-10.0, RL1=5.0, DSMAX=0.05)
folds = branch[branch["type"] == "LP"]
print(folds[["eta", "r", "type"]].to_string(index=False))

# %%
# Stable equilibria solid, unstable dashed, folds marked.

fig, ax = plt.subplots(figsize=(6, 4))
Continuation.plot(branch, "eta", "r", ax=ax)
ax.set_ylabel("firing rate r")
ax.set_title("QIF population, J = 15: equilibria in eta")
fig.tight_layout()
