"""The explicit state of one ``build_system`` call, and the small operations on its tables.

Every build step is a function ``step(bs, ...)`` of a :class:`BuildState`: what it reads and
writes is in the state's fields, documented here, instead of in attributes of a builder object.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import sympy

from rates_core.equations import symbol
from rates_core.ir import NetworkIR
from rates_core.system.model import (
    Assignment,
    DelayedRead,
    ExtrinsicInput,
    Parameter,
    Recorded,
    SeparableEdge,
    StateVar,
)
from rates_core.system.naming import GENERATED_NAMES, unique_name
from rates_core.system.paths import EdgePaths, LabelMap


@dataclass(frozen=True)
class BuildOptions:
    """What the caller of ``build_system`` asked for (see its docstring)."""

    precision: str
    functions: Mapping | None
    #: ``template`` / ``file`` keywords of every ModelError raised while building
    where: Mapping[str, str]
    delay_approximation: int | None = None
    record_delayed: bool = False


@dataclass
class BuildState:
    """The tables one build fills, step by step, until they become a System."""

    ir: NetworkIR
    opts: BuildOptions
    label_map: LabelMap
    #: names taken so far (symbols and the generated code's own names)
    names: set[str] = field(default_factory=lambda: set(GENERATED_NAMES))
    states: list[StateVar] = field(default_factory=list)
    params: list[Parameter] = field(default_factory=list)
    algebraic: dict[str, Assignment] = field(default_factory=dict)
    #: state name -> its time derivative
    derivatives: dict[str, sympy.Expr] = field(default_factory=dict)
    delayed: list[DelayedRead] = field(default_factory=list)
    inputs: list[ExtrinsicInput] = field(default_factory=list)
    #: (population, op, var) -> its symbol
    symbols: dict[tuple[int, str, str], sympy.Symbol] = field(default_factory=dict)
    #: symbol name -> state / algebraic / param / input / delayed / recorded
    kinds: dict[str, str] = field(default_factory=dict)
    sizes: dict[str, int] = field(default_factory=dict)
    #: the next free position of the state vector
    offset: int = 0
    #: parameters made from the same arrays (the terms of a separable edge share the weights,
    #: delays and indices of its connections): (role, ids of the arrays) -> symbol
    shared: dict[tuple, sympy.Symbol] = field(default_factory=dict)
    #: algebraic name -> its record in the history (``record_delayed``)
    recorded: dict[str, Recorded] = field(default_factory=dict)
    #: delayed reads of algebraic sources, resolved once every algebraic variable is defined:
    #: (placeholder, source, index, tau, size)
    pending_delays: list[tuple] = field(default_factory=list)
    #: population -> its separable edge (populations summed as source and target factors)
    separable: dict[int, SeparableEdge] = field(default_factory=dict)


def dtype_of(kind: str, precision: str) -> str:
    """The NumPy dtype of a variable of ``kind`` (float / complex / int) at ``precision``."""
    if kind == "complex":
        return "complex64" if precision == "float32" else "complex128"
    if kind == "int":
        return "int64"
    return precision


def unique(bs: BuildState, base: str) -> str:
    """A new symbol name made from ``base`` (see :func:`~rates_core.system.naming.unique_name`)."""
    return unique_name(base, bs.names)


def add_param(
    bs: BuildState,
    base: str,
    value: Any,
    kind: str,
    role: str,
    paths: Sequence[str],
    collapse: bool = True,
) -> sympy.Symbol:
    """Add a parameter; per-unit values that are all equal collapse to one scalar unless
    ``collapse`` is False (variables declared with a shape keep it)."""
    name = unique(bs, base)
    dtype = "int64" if role == "index" else dtype_of(kind, bs.opts.precision)
    if role == "matrix":
        val = value.astype(dtype, copy=False) if hasattr(value, "astype") else value
    else:
        arr = np.asarray(value)
        if (
            arr.ndim > 0
            and arr.size > 0
            and np.all(arr == arr.flat[0])
            and role not in ("index", "input")
            and collapse
        ):
            arr = np.asarray(arr.flat[0])
        val = arr.astype(dtype)
    sym = symbol(name, "complex" if dtype.startswith("complex") else "float")
    paths = paths if isinstance(paths, EdgePaths) else tuple(paths)
    bs.params.append(Parameter(name, sym, val, dtype, role, paths))
    bs.kinds[name] = "param"
    bs.sizes[name] = 0 if role == "matrix" else max(int(np.size(val)), 1)
    return sym


def param(bs: BuildState, name: str) -> Parameter:
    return next(p for p in bs.params if p.name == name)


def add_algebraic(bs: BuildState, target: sympy.Symbol, expr: sympy.Expr) -> None:
    name = target.name
    dtype = "complex" if not target.is_real else "float"
    bs.algebraic[name] = Assignment(
        name, target, expr, bs.sizes[name], dtype_of(dtype, bs.opts.precision)
    )


def register_paths(bs: BuildState, name: str, p: int, op: str, var: str, decl: Any) -> None:
    pop = bs.ir.populations[p]
    bs.label_map.add(p, op, var, name, pop.size == 1 or decl.shape != ())


def population_of(bs: BuildState, name: str) -> int | None:
    for (p, _, _), sym in bs.symbols.items():
        if sym.name == name:
            return p
    return None


def initial_of(bs: BuildState, src: sympy.Symbol, idx: np.ndarray) -> np.ndarray:
    """Initial values of a source gathered per connection (chains start in steady state)."""
    if bs.kinds.get(src.name) == "state":
        values = next(st.initial for st in bs.states if st.name == src.name)
    elif bs.kinds.get(src.name) == "param":
        values = np.ravel(param(bs, src.name).value)
    else:
        key = next(k for k, sym in bs.symbols.items() if sym.name == src.name)
        values = bs.ir.populations[key[0]].values[(key[1], key[2])].reshape(-1)
    values = np.ravel(values)
    return values[idx] if values.size > 1 else values
