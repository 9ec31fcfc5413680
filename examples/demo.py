"""Demo: load the Jansen-Rit circuit of the model library and show what rates builds from it.

Run from the repository root: ``python examples/demo.py``.
"""

from rates_core import CircuitTemplate, build_system

circuit = CircuitTemplate.from_yaml("rates_core.models.jansenrit.JRC")
system = build_system(circuit)
print(system.summary())
print(f"state vector: {system.n_states} entries; parameters: {[p.name for p in system.params]}")
