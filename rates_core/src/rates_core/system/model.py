"""The System's values: the state layout, parameters, updates and delayed reads a backend sees.

Every expression is a sympy expression over the symbols named here; a symbol of ``size`` n > 1
is a vector (a population of n units, or a vector variable), size 1 is a scalar.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import sympy

from rates_core.ir import NetworkIR


@dataclass(frozen=True)
class StateVar:
    """A slice ``y[start:stop]`` of the state vector (``kernel``: a stage of a gamma-kernel
    chain, which stands for the pre-history of a delayed signal)."""

    name: str
    symbol: sympy.Symbol
    start: int
    size: int
    dtype: str
    initial: np.ndarray
    paths: Sequence[str]
    kernel: bool = False

    @property
    def stop(self) -> int:
        return self.start + self.size


@dataclass(frozen=True)
class Parameter:
    """A runtime argument of the vector field (never baked into generated code).

    ``role`` is one of ``constant`` (a model constant), ``weight``, ``delay``, ``rate`` (gamma
    kernel rate), ``index`` (integer gather indices), ``matrix`` (dense ndarray or
    scipy.sparse CSR coupling) or ``input`` (an extrinsic input, written by the solver).
    """

    name: str
    symbol: sympy.Symbol
    value: Any
    dtype: str
    role: str
    paths: Sequence[str]

    @property
    def size(self) -> int:
        # math.prod, not np.prod: a tenth of the cost, and every run asks for every size
        return int(math.prod(np.shape(self.value))) if self.role != "matrix" else 0


@dataclass(frozen=True)
class Assignment:
    """An algebraic update ``name = expr`` evaluated before the derivatives."""

    name: str
    symbol: sympy.Symbol
    expr: sympy.Expr
    size: int
    dtype: str


@dataclass(frozen=True)
class DelayedRead:
    """``name = state[index]`` at time ``t - tau`` (tau a parameter name or a number)."""

    name: str
    symbol: sympy.Symbol
    state: str
    index: str | None
    tau: str | float
    size: int


@dataclass(frozen=True)
class Recorded:
    """An algebraic variable the solver keeps in its history, because it is read with a delay.

    ``expr`` is its value from the states of its own population (elementwise, so it costs one
    evaluation per unit and step, not one per delayed connection); ``rate`` its time derivative,
    with ``rate_symbols[state]`` standing for ``d state / d t`` (what the history's cubic
    Hermite reads need). In the history, recorded values follow the state vector: value ``i``
    of the k-th recorded variable sits at position ``n_states + offset_k + i``.
    """

    name: str
    symbol: sympy.Symbol
    expr: sympy.Expr
    rate: sympy.Expr
    rate_symbols: dict[str, sympy.Symbol]
    offset: int
    size: int
    dtype: str


@dataclass(frozen=True)
class SeparableEdge:
    """An edge population summed as ``sum_k B_k(target) * (W @ A_k(source))``."""

    population: int
    out: Any  # Projection of the edge output into the target
    receiver: Any  # Projection of the edges' source into the edge input
    receiver_symbol: sympy.Symbol
    extras: dict  # local symbol -> Projection of a target variable into an edge input
    constants: dict  # local symbol -> (variable, value, dtype)
    pairs: list  # [(A_k, B_k)] in local symbols


@dataclass(frozen=True)
class ExtrinsicInput:
    """An input parameter the solver fills each step from the user's array."""

    name: str
    path: str  # "op/var"
    units: np.ndarray  # driven units of the population
    size: int
    nodes: tuple[str, ...] = ()  # node label of every unit of the population


@dataclass(frozen=True)
class System:
    """The ordered, backend-neutral description of the vector field.

    Frozen once built: a stage that wants another System (parameters in another order, say)
    makes one with :func:`dataclasses.replace`.
    """

    name: str
    states: tuple[StateVar, ...]
    params: tuple[Parameter, ...]
    algebraic: tuple[Assignment, ...]
    derivatives: tuple[tuple[str, sympy.Expr], ...]
    delayed: tuple[DelayedRead, ...]
    inputs: tuple[ExtrinsicInput, ...]
    label_map: Mapping[str, tuple[str, int | None]]
    dtype: str
    ir: NetworkIR | None = field(default=None, repr=False)
    #: algebraic variables kept in the history (delayed reads of them name them as ``state``)
    recorded: tuple[Recorded, ...] = ()

    @property
    def n_states(self) -> int:
        return sum(s.size for s in self.states)

    @property
    def is_complex(self) -> bool:
        return self.dtype.startswith("complex")

    def initial_state(self) -> np.ndarray:
        y = np.zeros(self.n_states, dtype=self.dtype)
        for s in self.states:
            y[s.start : s.stop] = s.initial
        return y

    def state(self, name: str) -> StateVar:
        return next(s for s in self.states if s.name == name)

    def history_slice(self, name: str) -> tuple[int, int, str]:
        """``(start, size, dtype)`` of a state or recorded variable in the history vector
        (the state vector followed by the recorded values)."""
        for st in self.states:
            if st.name == name:
                return st.start, st.size, st.dtype
        n = self.n_states
        for r in self.recorded:
            if r.name == name:
                return n + r.offset, r.size, r.dtype
        raise KeyError(name)

    @property
    def n_recorded(self) -> int:
        return sum(r.size for r in self.recorded)

    def param(self, name: str) -> Parameter:
        return next(p for p in self.params if p.name == name)

    def symbol_sizes(self) -> dict[str, int]:
        sizes = {s.name: s.size for s in self.states}
        sizes.update({a.name: a.size for a in self.algebraic})
        sizes.update({d.name: d.size for d in self.delayed})
        sizes.update({p.name: max(p.size, 1) for p in self.params if p.role != "matrix"})
        return sizes

    def states_text(self) -> str:
        """The states as generated files list them in their header: ``r, v, x[10]`` (plain
        text: backends embed it only through :func:`rates_core.codegen.comment`)."""
        return ", ".join(f"{s.name}[{s.size}]" if s.size > 1 else s.name for s in self.states)

    def delayed_text(self) -> str:
        """The delayed reads as generated files list them: ``d0 = x[idx](t - tau), ...``
        (0-based index names, as in the equations; embed through :mod:`rates_core.codegen`)."""
        return ", ".join(
            f"{d.name} = {d.state}{'[' + d.index + ']' if d.index else ''}(t - {d.tau})"
            for d in self.delayed
        )

    def summary(self) -> str:
        lines = [f"System {self.name!r}: {self.n_states} states, {len(self.params)} parameters"]
        for a in self.algebraic:
            lines.append(f"  {a.name} = {a.expr}")
        for name, expr in self.derivatives:
            lines.append(f"  d/dt {name} = {expr}")
        return "\n".join(lines)
