"""The System: what a backend sees (docs/plugin_guide.rst, "Generate code").

Built from the network IR: a state vector layout, a parameter table with frontend paths,
algebraic updates in dependency order, derivative expressions and delayed reads. Every
expression is a sympy expression over the symbols named here; a symbol of ``size`` n > 1 is a
vector (a population of n units, or a vector variable), size 1 is a scalar.

The values live in :mod:`~rates_core.system.model`; :func:`build_system`
(:mod:`~rates_core.system.build`) fills an explicit build state step by step, one module per
concern: :mod:`~rates_core.system.naming`, :mod:`~rates_core.system.populations`,
:mod:`~rates_core.system.couplings`, :mod:`~rates_core.system.separable_edges`,
:mod:`~rates_core.system.inputs`, :mod:`~rates_core.system.delays`,
:mod:`~rates_core.system.ordering`.
"""

from rates_core.system.build import build_system
from rates_core.system.couplings import DENSE_THRESHOLD
from rates_core.system.model import (
    Assignment,
    DelayedRead,
    ExtrinsicInput,
    Parameter,
    Recorded,
    SeparableEdge,
    StateVar,
    System,
)
from rates_core.system.paths import CsrPaths, EdgePaths, LabelMap, SuffixedPaths

__all__ = [
    "DENSE_THRESHOLD",
    "Assignment",
    "CsrPaths",
    "DelayedRead",
    "EdgePaths",
    "ExtrinsicInput",
    "LabelMap",
    "Parameter",
    "Recorded",
    "SeparableEdge",
    "StateVar",
    "SuffixedPaths",
    "System",
    "build_system",
]
