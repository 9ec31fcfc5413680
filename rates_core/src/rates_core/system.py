"""The System: what a backend sees (docs/plugin_guide.rst, "Generate code").

Built from the network IR: a state vector layout, a parameter table with frontend paths,
algebraic updates in dependency order, derivative expressions and delayed reads. Every
expression is a sympy expression over the symbols named here; a symbol of ``size`` n > 1 is a
vector (a population of n units, or a vector variable), size 1 is a scalar.
"""

from __future__ import annotations

import dataclasses
import keyword
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import sympy

from rates_core import builtins
from rates_core.equations import parse_equation, symbol
from rates_core.errors import ModelError
from rates_core.frontend.templates import CircuitTemplate
from rates_core.ir import NetworkIR, Projection, UnitLabels, build_ir, gamma_order

#: Couplings at least this dense are dense matrices, sparser ones CSR matrices (measured with
#: benchmarks/: at N = 1000, BLAS dense matvec beats CSR above about 8 % density).
DENSE_THRESHOLD = 0.08
#: Equation functions that act elementwise (a recorded variable may use them).
_ELEMENTWISE = (builtins._Comparison, builtins.Round, builtins.Maxi, builtins.Mini)
_GENERATED_NAMES = {"y", "dy", "t", "np", "math", "numpy", "torch", "params", "self"}


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
    paths: tuple[str, ...]
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
    paths: tuple[str, ...]

    @property
    def size(self) -> int:
        return int(np.prod(np.shape(self.value))) if self.role != "matrix" else 0


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


@dataclass
class System:
    """The ordered, backend-neutral description of the vector field."""

    name: str
    states: list[StateVar]
    params: list[Parameter]
    algebraic: list[Assignment]
    derivatives: list[tuple[str, sympy.Expr]]
    delayed: list[DelayedRead]
    inputs: list[ExtrinsicInput]
    label_map: Mapping[str, tuple[str, int | None]]
    dtype: str
    ir: NetworkIR | None = field(default=None, repr=False)
    #: algebraic variables kept in the history (delayed reads of them name them as ``state``)
    recorded: list[Recorded] = field(default_factory=list)

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


class EdgePaths(Sequence):
    """Frontend paths ``src/op/var->tgt/op/var<suffix>`` of many connections, made on demand.

    Networks from ``add_edges_from_matrix`` have ~N^2 connections; formatting every label up
    front dominated the build time, and most are never looked at.
    """

    def __init__(self, src_nodes, tgt_nodes, src_idx, tgt_idx, src_var, tgt_var, suffix=""):
        self._args = (src_nodes, tgt_nodes, src_idx, tgt_idx, src_var, tgt_var)
        self._suffix = suffix

    def __len__(self) -> int:
        return len(self._args[2])

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        src_nodes, tgt_nodes, src_idx, tgt_idx, src_var, tgt_var = self._args
        return f"{src_nodes[src_idx[i]]}{src_var}->{tgt_nodes[tgt_idx[i]]}{tgt_var}{self._suffix}"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sequence) and tuple(self) == tuple(other)

    __hash__ = None  # type: ignore[assignment]

    def with_suffix(self, suffix: str) -> EdgePaths:
        return EdgePaths(*self._args, suffix=self._suffix + suffix)

    def __repr__(self) -> str:
        return f"EdgePaths({len(self)} connections, e.g. {self[0] if len(self) else ''!r})"


class CsrPaths(EdgePaths):
    """The paths of the entries of a CSR coupling matrix (rows targets, columns sources), in
    the matrix's storage order, formatted from its own ``indptr`` / ``indices``."""

    def __init__(self, src_nodes, tgt_nodes, matrix, src_var, tgt_var, suffix="") -> None:
        self._csr = (src_nodes, tgt_nodes, matrix, src_var, tgt_var)
        self._suffix = suffix

    def __len__(self) -> int:
        return int(self._csr[2].nnz)

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        src_nodes, tgt_nodes, matrix, src_var, tgt_var = self._csr
        i = int(i) + len(self) if int(i) < 0 else int(i)
        if not 0 <= i < len(self):
            raise IndexError(i)
        row = int(np.searchsorted(matrix.indptr, i, side="right")) - 1
        col = int(matrix.indices[i])
        return f"{src_nodes[col]}{src_var}->{tgt_nodes[row]}{tgt_var}{self._suffix}"

    def with_suffix(self, suffix: str) -> EdgePaths:
        return CsrPaths(*self._csr, suffix=self._suffix + suffix)


class SuffixedPaths(EdgePaths):
    """``base[i] + suffix`` for a lazy sequence of labels (edge-population units)."""

    def __init__(self, base: Sequence[str], suffix: str) -> None:
        self._base = base
        self._suffix = suffix

    def __len__(self) -> int:
        return len(self._base)

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        return f"{self._base[i]}{self._suffix}"

    def with_suffix(self, suffix: str) -> EdgePaths:
        return SuffixedPaths(self._base, self._suffix + suffix)


class LabelMap(Mapping):
    """``"node/op/var" -> (symbol name, unit index or None)`` for every variable of every unit,
    looked up through the IR's node table instead of one string per unit and variable (a
    10,000-unit population with 14 variables would hold 140,000 keys)."""

    def __init__(self, unit_of: Mapping[str, tuple[int, int]], nodes: Sequence) -> None:
        self._unit_of = unit_of
        self._nodes = nodes  # population index -> its node labels
        self._entries: dict[tuple[int, str, str], tuple[str, bool]] = {}
        self._extra: dict[str, tuple[str, int | None]] = {}

    def add(self, p: int, op: str, var: str, name: str, scalar: bool) -> None:
        nodes = self._nodes[p]
        if nodes and self._unit_of.get(nodes[0]) == (p, 0):
            self._entries[(p, op, var)] = (name, scalar)
        else:  # units that are not in the node table (edge populations)
            for u, node in enumerate(nodes):
                self._extra[f"{node}/{op}/{var}"] = (name, None if scalar else u)

    def __getitem__(self, key: str) -> tuple[str, int | None]:
        if key in self._extra:
            return self._extra[key]
        parts = key.rsplit("/", 2) if isinstance(key, str) else ()
        if len(parts) == 3 and parts[0] in self._unit_of:
            p, u = self._unit_of[parts[0]]
            entry = self._entries.get((p, parts[1], parts[2]))
            if entry is not None:
                return entry[0], None if entry[1] else u
        raise KeyError(key)

    def __iter__(self):
        yield from self._extra
        for p, op, var in self._entries:
            for node in self._nodes[p]:
                yield f"{node}/{op}/{var}"

    def __len__(self) -> int:
        return len(self._extra) + sum(len(self._nodes[p]) for p, _, _ in self._entries)


def _sorted_pairs(first: np.ndarray, second: np.ndarray, chunk: int = 1 << 16) -> bool:
    """Whether the pairs (first[k], second[k]) increase strictly (checked in chunks, so the
    test of a million connections needs no million-element temporaries)."""
    for a in range(0, first.size - 1, chunk):
        b = min(a + chunk + 1, first.size)
        d1, d2 = np.diff(first[a:b]), np.diff(second[a:b])
        if not np.all((d1 > 0) | ((d1 == 0) & (d2 > 0))):
            return False
    return True


def _csr(proj: Projection, n_tgt: int, n_src: int) -> Any:
    """The (n_tgt x n_src) CSR matrix of a projection's connections (duplicates summed): built
    from the connection arrays directly when they are sorted by (target, source) without
    duplicates (matrix connections), so the conversion makes no second copy of them."""
    import scipy.sparse as sp

    tgt, src = np.asarray(proj.tgt_idx), np.asarray(proj.src_idx)
    weight = np.asarray(proj.weight)
    if tgt.size and weight.shape == tgt.shape and _sorted_pairs(tgt, src) and tgt[0] >= 0:
        indptr = np.zeros(n_tgt + 1, dtype=np.int64)
        np.cumsum(np.bincount(tgt, minlength=n_tgt), out=indptr[1:])
        index = np.int32 if max(n_src, tgt.size) < 2**31 else np.int64
        return sp.csr_matrix(
            (weight, src.astype(index, copy=False), indptr.astype(index)),
            shape=(n_tgt, n_src),
        )
    return sp.csr_matrix((weight, (tgt, src)), shape=(n_tgt, n_src))


def _suffixed(labels: Sequence[str], suffix: str) -> Sequence[str]:
    if isinstance(labels, EdgePaths):
        return labels.with_suffix(suffix)
    if not isinstance(labels, (list, tuple)) or isinstance(labels, UnitLabels):
        return SuffixedPaths(labels, suffix)
    return [f"{lb}{suffix}" for lb in labels]


# --------------------------------------------------------------------------- building


def _dtype(kind: str, precision: str) -> str:
    if kind == "complex":
        return "complex64" if precision == "float32" else "complex128"
    if kind == "int":
        return "int64"
    return precision


class _Builder:
    """Collects the pieces of one System; lives for one ``build_system`` call."""

    def __init__(
        self,
        ir: NetworkIR,
        precision: str,
        functions: Mapping | None,
        where: dict,
        delay_approximation: int | None = None,
        record_delayed: bool = False,
    ):
        self.ir = ir
        self.delay_approximation = delay_approximation
        self.record_delayed = record_delayed
        self.recorded: dict[str, Recorded] = {}  # algebraic name -> its record
        self.pending_delays: list[tuple] = []
        self.precision = precision
        self.functions = functions
        self.where = where
        self.names: set[str] = set(_GENERATED_NAMES)
        self.states: list[StateVar] = []
        self.params: list[Parameter] = []
        self.algebraic: dict[str, Assignment] = {}
        self.derivatives: dict[str, sympy.Expr] = {}
        self.delayed: list[DelayedRead] = []
        self.inputs: list[ExtrinsicInput] = []
        self.label_map = LabelMap(ir.unit_of, [pop.nodes for pop in ir.populations])
        self.symbols: dict[tuple[int, str, str], sympy.Symbol] = {}
        self.kinds: dict[str, str] = {}  # symbol name -> state / algebraic / param
        self.sizes: dict[str, int] = {}
        self.offset = 0
        #: parameters made from the same arrays (the terms of a separable edge share the
        #: weights, delays and indices of its connections): (role, ids of the arrays) -> symbol
        self.shared: dict[tuple, sympy.Symbol] = {}

    # ------------------------------------------------------------------ naming

    def unique(self, base: str) -> str:
        base = "".join(c if c.isalnum() or c == "_" else "_" for c in base).strip("_") or "v"
        if base[0].isdigit():
            base = "v_" + base
        if base in builtins.RESERVED_NAMES or keyword.iskeyword(base) or base in self.names:
            candidate, k = base, 1
            while (
                candidate in self.names
                or candidate in builtins.RESERVED_NAMES
                or keyword.iskeyword(candidate)
            ):
                k += 1
                candidate = f"{base}_{k}"
            base = candidate
        self.names.add(base)
        return base

    def plan_names(self, used: dict[int, dict[tuple[str, str], str]]) -> dict:
        """Shortest readable unique names: ``var``, else ``op_var``, else ``pop_op_var``."""
        entries = [(p, op, var) for p, vs in used.items() for (op, var) in vs]
        by_var: dict[str, int] = {}
        by_opvar: dict[tuple[str, str], int] = {}
        for _, op, var in entries:
            by_var[var] = by_var.get(var, 0) + 1
            by_opvar[(op, var)] = by_opvar.get((op, var), 0) + 1
        planned = {}
        for p, op, var in entries:
            if by_var[var] == 1:
                base = var
            elif by_opvar[(op, var)] == 1:
                base = f"{op}_{var}"
            else:
                base = f"{self.ir.populations[p].label}_{op}_{var}"
            planned[(p, op, var)] = base
        return planned

    # ------------------------------------------------------------------ parameters

    def add_param(
        self,
        base: str,
        value: Any,
        kind: str,
        role: str,
        paths: Sequence[str],
        collapse: bool = True,
    ) -> sympy.Symbol:
        """Add a parameter; per-unit values that are all equal collapse to one scalar unless
        ``collapse`` is False (variables declared with a shape keep it)."""
        name = self.unique(base)
        dtype = "int64" if role == "index" else _dtype(kind, self.precision)
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
        self.params.append(Parameter(name, sym, val, dtype, role, paths))
        self.kinds[name] = "param"
        self.sizes[name] = 0 if role == "matrix" else max(int(np.size(val)), 1)
        return sym

    # ------------------------------------------------------------------ populations

    def parse_population(self, p: int) -> dict:
        """Parse every equation of population p; return per-op parsed equations and usage."""
        pop = self.ir.populations[p]
        where = dict(self.where)
        parsed = {}
        for op_label in pop.template.operator_order():
            op = pop.template.operators[op_label]
            dtypes = {
                v: ("complex" if d.dtype == "complex" else "float") for v, d in op.variables.items()
            }
            eqs = []
            for text in op.equations:
                eqs.append(
                    parse_equation(
                        text,
                        dtypes,
                        functions=self.functions,
                        file=op.path or where.get("file"),
                        template=op.name,
                    )
                )
            parsed[op_label] = eqs
        return parsed

    def classify(self, p: int, parsed: dict) -> dict[tuple[str, str], str]:
        """Decide for every used variable of population p: state, algebraic, input or param."""
        pop = self.ir.populations[p]
        roles: dict[tuple[str, str], str] = {}
        for op_label, eqs in parsed.items():
            op = pop.template.operators[op_label]
            for eq in eqs:
                key = (op_label, eq.lhs)
                decl = op.variables[eq.lhs]
                role = "state" if eq.differential else "algebraic"
                if decl.kind == "input":
                    raise ModelError(
                        f"input variable {eq.lhs!r} cannot be defined by an equation",
                        file=op.path or None,
                        template=op.name,
                        variable=eq.lhs,
                    )
                if key in roles:
                    raise ModelError(
                        f"variable {eq.lhs!r} is defined by more than one equation",
                        file=op.path or None,
                        template=op.name,
                        variable=eq.lhs,
                    )
                roles[key] = role
            for eq in eqs:
                for s in sorted(eq.rhs.free_symbols, key=lambda sym: sym.name):
                    if s.name in op.variables and (op_label, s.name) not in roles:
                        kind = op.variables[s.name].kind
                        roles[(op_label, s.name)] = "input" if kind == "input" else "param"
            if op.output is not None and (op_label, op.output) not in roles:
                roles[(op_label, op.output)] = "param"
        return roles

    def build(self, inputs: Iterable[str]) -> System:
        ir = self.ir
        parsed = {p: self.parse_population(p) for p in range(len(ir.populations))}
        roles = {p: self.classify(p, parsed[p]) for p in parsed}
        # inputs fed by projections, intra-node wiring or extrinsic inputs are used too
        for proj in ir.projections:
            tp, top, tvar = proj.target
            roles[tp].setdefault((top, tvar), "input")
            sp_, sop, svar = proj.source
            if (sop, svar) not in roles[sp_]:
                roles[sp_][(sop, svar)] = "param"
        input_targets = self.resolve_inputs(inputs)
        for p, op, var in input_targets:
            if roles[p].get((op, var), "input") != "input":
                raise ModelError(
                    f"extrinsic input targets {op}/{var}, which is not an input variable",
                    variable=f"{op}/{var}",
                    **self.where,
                )
            roles[p].setdefault((op, var), "input")
        self.separable = self.find_separable(parsed, input_targets)
        planned = self.plan_names({p: r for p, r in roles.items() if p not in self.separable})

        # symbols, states and constant parameters
        for p, pop in enumerate(ir.populations):
            if p in self.separable:
                continue  # its edges are summed as products of source and target factors
            for (op_label, var), role in roles[p].items():
                decl = pop.template.operators[op_label].variables[var]
                paths = SuffixedPaths(pop.nodes, f"/{op_label}/{var}")
                values = pop.values[(op_label, var)]
                size = pop.size if decl.shape == () else int(np.prod(decl.shape))
                if role == "param":
                    # one value per unit for scalars; a vector or matrix variable (only in
                    # unvectorised single-unit populations) keeps its declared shape
                    shaped = decl.shape != ()
                    sym = self.add_param(
                        planned[(p, op_label, var)],
                        values.reshape(decl.shape) if shaped else values.reshape(-1),
                        decl.dtype,
                        "constant",
                        paths,
                        collapse=not shaped,
                    )
                    self.symbols[(p, op_label, var)] = sym
                    self.register_paths(sym.name, p, op_label, var, decl)
                    continue
                name = self.unique(planned[(p, op_label, var)])
                dtype = _dtype(decl.dtype, self.precision)
                sym = symbol(name, "complex" if dtype.startswith("complex") else "float")
                self.symbols[(p, op_label, var)] = sym
                self.sizes[name] = size
                self.kinds[name] = role
                self.register_paths(name, p, op_label, var, decl)
                if role == "state":
                    init = values.reshape(-1).astype(dtype)
                    self.states.append(StateVar(name, sym, self.offset, size, dtype, init, paths))
                    self.offset += size

        # equations
        for p, pop in enumerate(ir.populations):
            if p in self.separable:
                continue
            for op_label, eqs in parsed[p].items():
                op = pop.template.operators[op_label]
                local = {
                    symbol(v, "complex" if d.dtype == "complex" else "float"): self.symbols[
                        (p, op_label, v)
                    ]
                    for v, d in op.variables.items()
                    if (p, op_label, v) in self.symbols
                }
                for eq in eqs:
                    rhs = eq.rhs.xreplace(local)
                    target = self.symbols[(p, op_label, eq.lhs)]
                    if eq.differential:
                        self.derivatives[target.name] = rhs
                    else:
                        self.add_algebraic(target, rhs)

        # inputs: sums of intra-node sources, projections and extrinsic inputs
        incoming: dict[tuple[int, str, str], list[Projection]] = {}
        for proj in ir.projections:
            incoming.setdefault(proj.target, []).append(proj)
        for p, pop in enumerate(ir.populations):
            if p in self.separable:
                continue
            wiring = pop.template.wiring()
            for (op_label, var), role in roles[p].items():
                if role != "input":
                    continue
                self.define_input(p, op_label, var, wiring, incoming, input_targets)

        self.resolve_pending_delays()
        self.resolve_delays()
        order = self.order_algebraic()
        derivs = []
        for s in self.states:
            if s.name not in self.derivatives:
                raise ModelError(f"state {s.name!r} has no derivative", **self.where)
            derivs.append((s.name, self.derivatives[s.name]))
        dtype = self.precision
        if any(s.dtype.startswith("complex") for s in self.states):
            dtype = _dtype("complex", self.precision)
        return System(
            ir.name,
            self.states,
            self.params,
            order,
            derivs,
            self.delayed,
            self.inputs,
            self.label_map,
            dtype,
            ir,
            list(self.recorded.values()),
        )

    def register_paths(self, name: str, p: int, op: str, var: str, decl: Any) -> None:
        pop = self.ir.populations[p]
        self.label_map.add(p, op, var, name, pop.size == 1 or decl.shape != ())

    def add_algebraic(self, target: sympy.Symbol, expr: sympy.Expr) -> None:
        name = target.name
        dtype = "complex" if not target.is_real else "float"
        self.algebraic[name] = Assignment(
            name, target, expr, self.sizes[name], _dtype(dtype, self.precision)
        )

    # ------------------------------------------------------------------ inputs and edges

    def resolve_inputs(self, inputs: Iterable[str]) -> dict[tuple[int, str, str], list[int]]:
        targets: dict[tuple[int, str, str], list[int]] = {}
        for path in inputs:
            node_part = path.rsplit("/", 2)[0]
            if self.ir.circuit is not None:
                # the circuit's own matching: populations stand for their units
                nodes = self.ir.circuit.get_nodes(node_part)
            else:
                nodes = [n for n in self.ir.unit_of if _match(node_part, n)]
            if not nodes:
                raise ModelError(
                    f"input path {path!r} matches no node", variable=path, **self.where
                )
            _, _, op, var = self.ir.locate(
                f"{nodes[0]}/{path.rsplit('/', 2)[1]}/{path.rsplit('/', 2)[2]}"
            )
            for n in nodes:
                p, u = self.ir.unit_of[n]
                targets.setdefault((p, op, var), []).append(u)
        return targets

    def define_input(self, p, op_label, var, wiring, incoming, input_targets) -> None:
        pop = self.ir.populations[p]
        decl = pop.template.operators[op_label].variables[var]
        sym = self.symbols[(p, op_label, var)]
        terms: list[sympy.Expr] = []
        driven = np.zeros(pop.size, dtype=bool)
        for src_op in wiring.get((op_label, var), []):
            out = pop.template.operators[src_op].output
            key = (p, src_op, out)
            if key not in self.symbols:
                continue
            terms.append(self.symbols[key])
            driven[:] = True
        for proj in incoming.get((p, op_label, var), []):
            sep = self.separable.get(proj.source[0])
            if sep is not None:
                terms.append(self.separable_term(sep, sym.name))
            else:
                terms.append(self.projection_term(proj, sym.name))
            driven[proj.tgt_idx] = True
        if (p, op_label, var) in input_targets:
            units = np.array(sorted(set(input_targets[(p, op_label, var)])), dtype=np.int64)
            name = f"{sym.name}_input"
            size = pop.size if decl.shape == () else int(np.prod(decl.shape))
            inp = self.add_param(
                name,
                np.zeros(size) if size > 1 else np.zeros(()),
                decl.dtype,
                "input",
                [f"{n}/{op_label}/{var}" for n in pop.nodes],
            )
            self.inputs.append(
                ExtrinsicInput(inp.name, f"{op_label}/{var}", units, size, pop.nodes)
            )
            terms.append(inp)
            driven[units] = True
        default = (
            pop.values[(op_label, var)].reshape(-1)
            if decl.shape == ()
            else pop.values[(op_label, var)].reshape(-1)
        )
        if not terms:
            # nothing connected: the input is the constant it declares
            self.params_from_symbol(sym, default, decl, pop, op_label, var)
            return
        rest = (
            np.where(driven, 0, default)
            if decl.shape == ()
            else (0 * default if driven.all() else default)
        )
        if np.any(rest != 0):
            terms.append(
                self.add_param(
                    f"{sym.name}_default",
                    rest,
                    decl.dtype,
                    "constant",
                    [f"{n}/{op_label}/{var}" for n in pop.nodes],
                )
            )
        self.add_algebraic(sym, sympy.Add(*terms))

    def params_from_symbol(self, sym, values, decl, pop, op_label, var) -> None:
        """Turn an unconnected input into a constant parameter under the name it already has."""
        self.names.discard(sym.name)
        paths = [f"{n}/{op_label}/{var}" for n in pop.nodes]
        new = self.add_param(sym.name, values, decl.dtype, "constant", paths)
        assert new.name == sym.name
        self.kinds[sym.name] = "param"

    def projection_term(self, proj: Projection, target_name: str) -> sympy.Expr:
        ir = self.ir
        sp_, sop, svar = proj.source
        tp, top, tvar = proj.target
        n_src, n_tgt, k = ir.populations[sp_].size, ir.populations[tp].size, len(proj.src_idx)
        src = self.symbols[(sp_, sop, svar)]
        labels: Sequence[str] = proj.labels or EdgePaths(
            ir.populations[sp_].nodes,
            ir.populations[tp].nodes,
            proj.src_idx,
            proj.tgt_idx,
            f"/{sop}/{svar}",
            f"/{top}/{tvar}",
        )
        base = f"{target_name}_from_{src.name}"
        src_identity = len(proj.src_idx) == n_src and np.array_equal(proj.src_idx, np.arange(n_src))
        if proj.all_to_all:
            return self.global_term(proj, src, base, labels, src_identity)
        tgt_identity = k == n_tgt and np.array_equal(proj.tgt_idx, np.arange(n_tgt))
        weight_paths = _suffixed(labels, "/weight")
        if proj.delay is not None and proj.spread is None:
            gathered: sympy.Expr = self.delayed_read(proj, src, base, labels, src_identity)
        elif proj.spread is not None:
            if n_src == 1 or src_identity:
                gathered = src
            else:
                idx = self.add_param(f"{base}_idx", proj.src_idx, "int", "index", [])
                gathered = builtins.Index(src, idx)
            gathered = self.gamma_chain(proj, gathered, base, labels, src)
        elif n_src > 1 and not tgt_identity and n_tgt > 1:
            # direct matrix: W (n_tgt x n_src), duplicates summed
            import scipy.sparse as sp  # only networks with matrix couplings need it

            # a complex source gets a complex matrix: a real one would be converted every step
            kind = "complex" if np.iscomplexobj(proj.weight) or not src.is_real else "float"
            key = ("matrix", kind, id(proj.weight), id(proj.src_idx), id(proj.tgt_idx))
            if key not in self.shared:
                w = _csr(proj, n_tgt, n_src)
                if w.nnz / (n_tgt * n_src) >= DENSE_THRESHOLD:
                    w = w.toarray()
                elif not proj.labels and w.nnz == k:
                    # one CSR entry per connection, in connection order: the labels come from
                    # the matrix's own index arrays instead of keeping the connection arrays
                    weight_paths = CsrPaths(
                        ir.populations[sp_].nodes,
                        ir.populations[tp].nodes,
                        w,
                        f"/{sop}/{svar}",
                        f"/{top}/{tvar}",
                        "/weight",
                    )
                self.shared[key] = self.add_param(f"W_{base}", w, kind, "matrix", weight_paths)
            return builtins.Matvec(self.shared[key], src)
        else:
            gathered = (
                src
                if (src_identity or n_src == 1)
                else builtins.Index(
                    src, self.add_param(f"{base}_idx", proj.src_idx, "int", "index", [])
                )
            )
        kind = "complex" if np.iscomplexobj(proj.weight) else "float"
        if tgt_identity or (n_tgt == 1 and k == 1):
            w = self.add_param(f"w_{base}", proj.weight, kind, "weight", weight_paths)
            return w * gathered
        if n_tgt == 1:
            w = self.add_param(f"w_{base}", proj.weight, kind, "weight", weight_paths)
            return builtins.VSum(w * gathered)
        if k == 1:
            return self.single_connection(proj, gathered, n_tgt, base, weight_paths)
        import scipy.sparse as sp

        if not src.is_real:
            kind = "complex"
        key = ("scatter", kind, id(proj.weight), id(proj.tgt_idx), n_tgt)
        if key not in self.shared:
            scatter = sp.csr_matrix(
                (np.asarray(proj.weight), (proj.tgt_idx, np.arange(k))), shape=(n_tgt, k)
            )
            if scatter.nnz / (n_tgt * k) >= DENSE_THRESHOLD:
                scatter = scatter.toarray()
            self.shared[key] = self.add_param(f"W_{base}", scatter, kind, "matrix", weight_paths)
        return builtins.Matvec(self.shared[key], gathered)

    def single_connection(self, proj, gathered, n_tgt, base, weight_paths) -> sympy.Expr:
        """One connection into one unit of a population of ``n_tgt``: a weight vector, zero
        but at the target, times the gathered source value. That value has size 1 and so is
        a scalar in every backend, which an ``(n_tgt x 1)`` scatter matrix cannot multiply."""
        per_target = np.zeros(n_tgt, dtype=np.result_type(proj.weight, float))
        per_target[proj.tgt_idx] = proj.weight
        kind = "complex" if np.iscomplexobj(per_target) else "float"
        w = self.add_param(f"w_{base}", per_target, kind, "weight", weight_paths, collapse=False)
        return w * gathered

    def find_separable(self, parsed: dict, input_targets: Mapping) -> dict[int, SeparableEdge]:
        """Edge populations whose summed output separates into source and target factors
        (:mod:`rates_core.separable`): one algebraic operator, one output projection, inputs
        fed by the edges' sources and by their target units, uniform constants."""
        from rates_core.separable import separate

        found: dict[int, SeparableEdge] = {}
        ir = self.ir
        for p, pop in enumerate(ir.populations):
            if not pop.is_edge or len(pop.template.operators) != 1 or pop.size < 2:
                continue
            if any(key[0] == p for key in input_targets):
                continue
            outs = [proj for proj in ir.projections if proj.source[0] == p]
            ins = [proj for proj in ir.projections if proj.target[0] == p]
            if len(outs) != 1 or outs[0].all_to_all or not ins:
                continue
            out = outs[0]
            units = np.arange(pop.size)
            if out.delay is not None or out.spread is not None:
                continue
            if not np.array_equal(out.src_idx, units):
                continue
            fed = [
                proj.source[0] == out.target[0]
                and np.array_equal(proj.src_idx, out.tgt_idx)
                and proj.delay is None
                and proj.spread is None
                for proj in ins
            ]
            receivers = [proj for proj, f in zip(ins, fed) if not f]
            if len(receivers) != 1 or any(
                not np.array_equal(proj.tgt_idx, units) or proj.all_to_all for proj in ins
            ):
                continue
            ((op_label, eqs),) = parsed[p].items()
            if any(eq.differential for eq in eqs):
                continue
            op = pop.template.operators[op_label]
            local = {
                v: symbol(v, "complex" if d.dtype == "complex" else "float")
                for v, d in op.variables.items()
            }
            defined = {eq.lhs: eq.rhs for eq in eqs}
            fed_vars = {proj.target[2]: proj for proj in ins}
            constants = {}
            uniform = True
            for v, d in op.variables.items():
                if v in defined or v in fed_vars:
                    continue
                values = np.asarray(pop.values[(op_label, v)])
                if d.shape != () or values.size == 0 or np.any(values != values.flat[0]):
                    uniform = False
                    break
                constants[local[v]] = (v, values.flat[0], d.dtype)
            if not uniform:
                continue
            receiver = receivers[0]
            extras = {local[proj.target[2]]: proj for proj in ins if proj is not receiver}
            pairs = separate(
                defined,
                local[out.source[2]],
                local[receiver.target[2]],
                list(extras),
                list(constants),
            )
            if pairs is None:
                continue
            found[p] = SeparableEdge(
                p, out, receiver, local[receiver.target[2]], extras, constants, pairs
            )
        return found

    def separable_term(self, sep: SeparableEdge, target_name: str) -> sympy.Expr:
        """``sum_k B_k(target) * (W @ A_k(source))`` for a separable edge population."""
        ir = self.ir
        pop = ir.populations[sep.population]
        out, receiver = sep.out, sep.receiver
        sp_ = receiver.source[0]
        n_tgt = ir.populations[out.target[0]].size
        params = {}
        for sym, (var, value, dtype) in sep.constants.items():
            params[sym] = self.add_param(
                f"{pop.label}_{var}", value, dtype, "constant", [f"{pop.label}/{var}"]
            )
        for sym, proj in sep.extras.items():
            params[sym] = self.symbols[proj.source]
        src = self.symbols[receiver.source]
        terms = []
        for k, (a, b) in enumerate(sep.pairs, start=1):
            factor = b.xreplace(params)
            if a == 1:  # no source factor: the target's summed weights
                kind = "complex" if np.iscomplexobj(out.weight) else "float"
                sums = np.bincount(out.tgt_idx, weights=out.weight.real, minlength=n_tgt)
                if kind == "complex":
                    sums = sums + 1j * np.bincount(
                        out.tgt_idx, weights=out.weight.imag, minlength=n_tgt
                    )
                w = self.add_param(f"{target_name}_weight_sum", sums, kind, "weight", [])
                terms.append(factor * w)
                continue
            source_expr = a.xreplace({sep.receiver_symbol: src})
            if source_expr == src:
                key = receiver.source
            else:
                key = (sp_, f"<{pop.label}>", f"a{k}")
                name = self.unique(f"{pop.label}_source{k}")
                real = src.is_real and source_expr.is_real is not False
                sym = symbol(name, "float" if real else "complex")
                self.symbols[key] = sym
                self.kinds[name] = "algebraic"
                self.sizes[name] = self.sizes[src.name]
                self.add_algebraic(sym, source_expr)
            proj = Projection(
                key,
                out.target,
                receiver.src_idx,
                out.tgt_idx,
                out.weight,
                receiver.delay,
                receiver.spread,
                pop.nodes,
            )
            terms.append(factor * self.projection_term(proj, target_name))
        return sympy.Add(*terms)

    def global_term(self, proj, src, base, labels, src_identity) -> sympy.Expr:
        """Global coupling: ``w * sum(source units)`` (at ``t - delay``, or through a gamma
        kernel of the sum), O(N) per evaluation; ``w`` is one value per target unit (zero for
        units not targeted) so the term has the target's size."""
        n_tgt = self.ir.populations[proj.target[0]].size
        kind = "complex" if np.iscomplexobj(proj.weight) else "float"
        size = len(proj.src_idx)
        if proj.delay is not None and np.any(proj.delay < 0):
            raise ModelError(f"negative delay on edges into {base}", **self.where)

        def gathered_now() -> sympy.Expr:
            if src_identity or self.sizes[src.name] == 1:
                return src
            idx = self.add_param(f"{base}_idx", proj.src_idx, "int", "index", [])
            return builtins.Index(src, idx)

        if proj.spread is not None or (proj.delay is not None and self.delay_approximation):
            # a gamma kernel is linear: filter the sum, one chain of scalar ODEs
            delay = float(proj.delay) if proj.delay is not None else 0.0
            if proj.spread is not None:
                if delay <= 0 or float(proj.spread) <= 0:
                    raise ModelError(
                        f"spread needs a positive delay and spread (edges into {base})",
                        **self.where,
                    )
                order = int(gamma_order(delay, proj.spread))
            else:
                order = int(self.delay_approximation)
            gathered = gathered_now()
            total = builtins.VSum(gathered) if size > 1 else gathered
            initial = np.sum(self.initial_of(src, proj.src_idx)) if size > 1 else None
            if initial is None:
                initial = np.ravel(self.initial_of(src, proj.src_idx))[0]
            summed = self.chain(
                total, initial, order, delay, base, list(labels)[:1], src.is_real, 1
            )
        else:
            if proj.delay is not None:
                gathered = self.delayed_read(proj, src, base, labels, src_identity)
            else:
                gathered = gathered_now()
            summed = builtins.VSum(gathered) if size > 1 else gathered
        weight_paths = _suffixed(labels, "/weight")
        if n_tgt == 1:
            w = self.add_param(f"w_{base}", proj.weight, kind, "weight", weight_paths)
            return w * summed
        per_target = np.zeros(n_tgt, dtype=np.result_type(proj.weight, float))
        per_target[proj.tgt_idx] = proj.weight
        w = self.add_param(f"w_{base}", per_target, kind, "weight", weight_paths, collapse=False)
        return w * summed

    def delayed_read(self, proj, src, base, labels, src_identity) -> sympy.Expr:
        """The source of a delayed projection at ``t - delay``, one value per connection."""
        if np.any(proj.delay < 0):
            raise ModelError(f"negative delay on edges into {base}", **self.where)
        if self.delay_approximation:
            gathered = src
            if not (src_identity or self.sizes[src.name] == 1):
                idx = self.add_param(f"{base}_idx", proj.src_idx, "int", "index", [])
                gathered = builtins.Index(src, idx)
            return self.chain(
                gathered,
                self.initial_of(src, proj.src_idx),
                self.delay_approximation,
                proj.delay,
                base,
                labels,
                src.is_real,
                len(proj.src_idx),
            )
        key = ("delay", id(proj.delay))
        if key not in self.shared:
            self.shared[key] = self.add_param(
                f"{base}_delay", proj.delay, "float", "delay", _suffixed(labels, "/delay")
            )
        tau = self.shared[key]
        index = None
        if not src_identity and self.sizes[src.name] > 1:
            key = ("didx", id(proj.src_idx))
            if key not in self.shared:
                self.shared[key] = self.add_param(f"{base}_didx", proj.src_idx, "int", "index", [])
            index = self.shared[key].name
        size = (
            len(proj.src_idx)
            if (index is not None or np.size(proj.delay) > 1)
            else self.sizes[src.name]
        )
        if self.kinds.get(src.name) == "state":
            return self.add_delayed(src, index, tau.name, size)
        # an algebraic source: its past is rebuilt from the past of the states it depends on,
        # once every algebraic variable (inputs included) is defined
        placeholder = symbol(
            self.unique(f"{src.name}_delayed"), "float" if src.is_real else "complex"
        )
        self.pending_delays.append((placeholder, src, index, tau.name, size))
        return placeholder

    def add_delayed(
        self,
        state: sympy.Symbol,
        index: str | None,
        tau: str | float,
        size: int,
        state_name: str | None = None,
    ):
        base = state_name.removesuffix("_history") if state_name else state.name
        name = self.unique(f"{base}_delayed")
        sym = symbol(name, "float" if state.is_real else "complex")
        self.delayed.append(DelayedRead(name, sym, state_name or state.name, index, tau, size))
        self.kinds[name] = "delayed"
        self.sizes[name] = size
        return sym

    def population_of(self, name: str) -> int | None:
        for (p, _, _), sym in self.symbols.items():
            if sym.name == name:
                return p
        return None

    def expand_algebraic(self, expr: sympy.Expr) -> sympy.Expr:
        """Substitute algebraic variables until only states, parameters and t remain."""
        for _ in range(len(self.algebraic) + 1):
            repl = {
                s: self.algebraic[s.name].expr
                for s in expr.free_symbols
                if s.name in self.algebraic
            }
            if not repl:
                return expr
            expr = expr.xreplace(repl)
        raise ModelError("algebraic equations form a cycle", **self.where)

    def resolve_pending_delays(self) -> None:
        """Rebuild delayed algebraic sources from delayed reads of the states they depend on."""
        for placeholder, src, index, tau, size in self.pending_delays:
            expr = self.expand_algebraic(src)
            home = self.population_of(src.name)
            record = self.record(src, expr, home) if self.record_delayed else None
            if record is not None:
                value = self.add_delayed(record.symbol, index, tau, size, record.name)
                self.substitute(placeholder, value)
                continue
            repl = {}
            for s in expr.free_symbols:
                kind = self.kinds.get(s.name)
                same_pop = self.population_of(s.name) == home
                if s == builtins.TIME:
                    continue
                if kind == "state" and same_pop:
                    repl[s] = self.add_delayed(s, index, tau, size)
                elif (
                    kind == "param"
                    and self.param(s.name).role == "constant"
                    and (self.sizes[s.name] == 1 or same_pop)
                ):
                    if self.sizes[s.name] > 1 and index is not None:
                        repl[s] = builtins.Index(s, sympy.Symbol(index, real=True))
                else:
                    raise ModelError(
                        f"delayed edge from {src.name!r}: its past cannot be reconstructed, "
                        f"because it depends on {s.name!r}, which has no history (an input, "
                        "a coupling or another population); delay a state variable instead",
                        variable=src.name,
                        **self.where,
                    )
            if builtins.TIME in expr.free_symbols:
                repl[builtins.TIME] = builtins.TIME - sympy.Symbol(tau, real=True)
            value = expr.xreplace(repl)
            if any(
                isinstance(a, (builtins.Matvec, builtins.Index))
                for a in sympy.preorder_traversal(expr)
            ):
                raise ModelError(
                    f"delayed edge from {src.name!r}: its past involves a coupling and cannot "
                    "be reconstructed; delay a state variable instead",
                    variable=src.name,
                    **self.where,
                )
            self.substitute(placeholder, value)

    def substitute(self, placeholder: sympy.Symbol, value: sympy.Expr) -> None:
        """Replace ``placeholder`` in every algebraic update and derivative."""
        for name, a in list(self.algebraic.items()):
            if placeholder in a.expr.free_symbols:
                self.algebraic[name] = Assignment(
                    a.name, a.symbol, a.expr.xreplace({placeholder: value}), a.size, a.dtype
                )
        for name, d in list(self.derivatives.items()):
            if placeholder in d.free_symbols:
                self.derivatives[name] = d.xreplace({placeholder: value})

    def record(self, src: sympy.Symbol, expr: sympy.Expr, home: int | None) -> Recorded | None:
        """Keep ``src`` (algebraic, ``expr`` its expansion in states) in the history, or None
        when its past must be rebuilt per connection: it must be an elementwise function of
        the states of its own population (at least one), constants and t, with a printable
        time derivative."""
        if src.name in self.recorded:
            return self.recorded[src.name]
        states = []
        for s in expr.free_symbols:
            if s == builtins.TIME:
                continue
            kind = self.kinds.get(s.name)
            same_pop = self.population_of(s.name) == home
            if kind == "state" and same_pop and self.sizes[s.name] == self.sizes[src.name]:
                states.append(s)
            elif not (
                kind == "param"
                and self.param(s.name).role == "constant"
                and (
                    self.sizes[s.name] == 1
                    or (same_pop and self.sizes[s.name] == self.sizes[src.name])
                )
            ):
                return None
        if not states:
            return None
        for a in sympy.preorder_traversal(expr):
            if isinstance(a, sympy.Function) and getattr(a, "rates_name", None):
                if not isinstance(a, _ELEMENTWISE) or (
                    isinstance(a, (builtins.Maxi, builtins.Mini)) and len(a.args) != 2
                ):
                    return None
        rate_symbols = {
            s.name: symbol(self.unique(f"{s.name}_rate"), "float" if s.is_real else "complex")
            for s in sorted(states, key=lambda x: x.name)
        }
        try:
            rate = sum(
                (sympy.diff(expr, s) * rate_symbols[s.name] for s in states),
                sympy.diff(expr, builtins.TIME),
            )
        except (TypeError, ValueError, NotImplementedError):
            return None
        if rate.has(sympy.Derivative, sympy.Subs):
            return None
        offset = sum(r.size for r in self.recorded.values())
        name = self.unique(f"{src.name}_history")
        dtype = _dtype("float" if src.is_real else "complex", self.precision)
        rec = Recorded(
            name,
            symbol(name, "float" if src.is_real else "complex"),
            expr,
            rate,
            rate_symbols,
            offset,
            self.sizes[src.name],
            dtype,
        )
        self.recorded[src.name] = rec
        self.kinds[name] = "recorded"
        self.sizes[name] = rec.size
        return rec

    def param(self, name: str) -> Parameter:
        return next(p for p in self.params if p.name == name)

    def initial_of(self, src: sympy.Symbol, idx: np.ndarray) -> np.ndarray:
        """Initial values of a source gathered per connection (chains start in steady state)."""
        if self.kinds.get(src.name) == "state":
            values = next(st.initial for st in self.states if st.name == src.name)
        elif self.kinds.get(src.name) == "param":
            values = np.ravel(self.param(src.name).value)
        else:
            key = next(k for k, sym in self.symbols.items() if sym.name == src.name)
            values = self.ir.populations[key[0]].values[(key[1], key[2])].reshape(-1)
        values = np.ravel(values)
        return values[idx] if values.size > 1 else values

    def gamma_chain(self, proj, gathered, base, labels, src) -> sympy.Expr:
        """``spread`` -> linear chain of ``order`` first-order ODEs with rate order / delay."""
        delay = np.broadcast_to(proj.delay if proj.delay is not None else 0.0, proj.spread.shape)
        if np.any(delay <= 0) or np.any(proj.spread <= 0):
            raise ModelError(
                f"spread needs a positive delay and spread (edges into {base})", **self.where
            )
        orders = gamma_order(delay, proj.spread)
        if len(np.unique(orders)) > 1:  # build_ir splits projections by order
            raise ModelError(
                "connections of one projection need the same gamma-kernel order "
                f"(got orders {sorted(set(orders.tolist()))})",
                **self.where,
            )
        size = len(proj.src_idx) if self.sizes[src.name] > 1 or len(proj.src_idx) > 1 else 1
        return self.chain(
            gathered,
            self.initial_of(src, proj.src_idx),
            int(orders[0]),
            delay,
            base,
            labels,
            src.is_real,
            size,
        )

    def chain(self, source, initial, order, delay, base, labels, is_real, size) -> sympy.Expr:
        """A gamma kernel as a linear chain of ``order`` ODEs with rate ``order / delay``.

        The chain starts at the source's initial value, i.e. in the steady state of a constant
        pre-history equal to the initial state (the same convention as discrete delays).
        """
        delay = np.asarray(delay, dtype=float)
        if np.any(delay <= 0):
            raise ModelError(
                f"a gamma kernel needs a positive delay (edges into {base})", **self.where
            )
        rate = self.add_param(
            f"{base}_rate", order / delay, "float", "rate", _suffixed(labels, "/delay")
        )
        dtype = self.precision if is_real else _dtype("complex", self.precision)
        start = np.broadcast_to(np.asarray(initial, dtype=dtype), (size,))
        prev = source
        for j in range(1, order + 1):
            name = self.unique(f"{base}_kernel{j}")
            sym = symbol(name, "float" if is_real else "complex")
            self.states.append(
                StateVar(
                    name,
                    sym,
                    self.offset,
                    size,
                    dtype,
                    np.array(start),
                    tuple(f"{lb}/kernel{j}" for lb in labels[:size]),
                    kernel=True,
                )
            )
            self.offset += size
            self.kinds[name] = "state"
            self.sizes[name] = size
            self.derivatives[name] = rate * (prev - sym)
            prev = sym
        return prev

    def resolve_delays(self) -> None:
        """Replace ``Past(x, tau)`` written in equations by delayed-read symbols."""

        def rewrite(expr: sympy.Expr) -> sympy.Expr:
            pasts = [a for a in sympy.preorder_traversal(expr) if isinstance(a, builtins.Past)]
            if not pasts:
                return expr
            # the past of an algebraic variable is its expression in the past of the states
            expanded = {
                p: builtins.Past(self.expand_algebraic(p.args[0]), p.args[1])
                for p in pasts
                if p.args[0].name in self.algebraic
            }
            if expanded:
                for p, value in expanded.items():
                    for e in sympy.preorder_traversal(value):
                        if isinstance(e, builtins.Past) and self.kinds.get(e.args[0].name) not in (
                            "state",
                            "param",
                        ):
                            raise ModelError(
                                f"past({p.args[0].name}, ...): it depends on "
                                f"{e.args[0].name!r}, which has no history",
                                variable=p.args[0].name,
                                **self.where,
                            )
                expr = expr.xreplace(expanded)
                pasts = [a for a in sympy.preorder_traversal(expr) if isinstance(a, builtins.Past)]
            repl = {}
            for past in dict.fromkeys(pasts):  # one delayed read per distinct past(x, tau)
                x, tau = past.args
                if self.kinds.get(x.name) == "param":
                    if self.param(x.name).role == "input":
                        raise ModelError(
                            f"past({x.name}, ...): an extrinsic input has no history",
                            variable=x.name,
                            **self.where,
                        )
                    repl[past] = x
                    continue
                if self.kinds.get(x.name) != "state":
                    raise ModelError(
                        f"past({x.name}, ...): {x.name!r} has no history (only variables "
                        "defined by a differential equation, or algebraic ones computed from "
                        "them, have a past)",
                        variable=x.name,
                        **self.where,
                    )
                if isinstance(tau, sympy.Symbol) and self.kinds.get(tau.name) == "param":
                    tau_ref: str | float = tau.name
                elif tau.is_number:
                    tau_ref = float(tau)
                else:
                    raise ModelError(
                        f"the delay of past({x.name}, {tau}) must be a number or a constant",
                        **self.where,
                    )
                if self.delay_approximation:
                    tau_value = self.param(tau_ref).value if isinstance(tau_ref, str) else tau_ref
                    initial = next(st.initial for st in self.states if st.name == x.name)
                    repl[past] = self.chain(
                        x,
                        initial,
                        self.delay_approximation,
                        tau_value,
                        f"{x.name}_past",
                        [f"{x.name}_past"] * self.sizes[x.name],
                        x.is_real,
                        self.sizes[x.name],
                    )
                    continue
                name = self.unique(f"{x.name}_past")
                sym = symbol(name, "float" if x.is_real else "complex")
                self.delayed.append(
                    DelayedRead(name, sym, x.name, None, tau_ref, self.sizes[x.name])
                )
                self.kinds[name] = "delayed"
                self.sizes[name] = self.sizes[x.name]
                repl[past] = sym
            return expr.xreplace(repl)

        for name, a in list(self.algebraic.items()):
            self.algebraic[name] = Assignment(a.name, a.symbol, rewrite(a.expr), a.size, a.dtype)
        for name, expr in list(self.derivatives.items()):
            self.derivatives[name] = rewrite(expr)

    def order_algebraic(self) -> list[Assignment]:
        """Algebraic updates sorted so each comes after the ones it reads (cycles are errors)."""
        deps = {
            name: {s.name for s in a.expr.free_symbols if s.name in self.algebraic}
            for name, a in self.algebraic.items()
        }
        order: list[Assignment] = []
        state: dict[str, int] = {}
        stack: list[str] = []

        def visit(name: str) -> None:
            if state.get(name) == 2:
                return
            if state.get(name) == 1:
                cycle = stack[stack.index(name) :] + [name]
                raise ModelError(
                    f"algebraic equations form a cycle: {' -> '.join(cycle)}",
                    variable=name,
                    **self.where,
                )
            state[name] = 1
            stack.append(name)
            for dep in sorted(deps[name]):
                visit(dep)
            stack.pop()
            state[name] = 2
            order.append(self.algebraic[name])

        for name in self.algebraic:
            visit(name)
        return order


def _match(pattern: str, label: str) -> bool:
    segs, parts = pattern.split("/"), label.split("/")
    if segs == ["all"]:
        return True
    return len(segs) == len(parts) and all(s in ("all", p) for s, p in zip(segs, parts))


def build_system(
    circuit: CircuitTemplate | NetworkIR,
    *,
    vectorize: bool = True,
    inputs: Iterable[str] = (),
    float_precision: str = "float64",
    functions: Mapping | None = None,
    delay_approximation: int | None = None,
    record_delayed: bool = False,
) -> System:
    """Flatten, vectorise and parse a circuit into a :class:`System`.

    ``record_delayed``: algebraic variables read with a delay that are elementwise functions of
    their own population's states become :class:`Recorded` history variables (for backends
    whose solvers keep them, capability ``dde_algebraic``); otherwise their past is rebuilt
    from the delayed states, once per connection.

    ``delay_approximation=n`` turns every discrete delay (edge ``delay`` and ``past``) into a
    gamma-kernel chain of order n with the same mean, giving an ODE system (for continuation).

    ``inputs`` lists the ``node/op/var`` paths (``all`` allowed) that receive extrinsic inputs;
    ``functions`` is the equation function table (core functions plus plugin builtins).
    """
    if float_precision not in ("float64", "float32"):
        raise ModelError(f"float_precision must be 'float64' or 'float32', not {float_precision!r}")
    ir = circuit if isinstance(circuit, NetworkIR) else build_ir(circuit, vectorize=vectorize)
    where = {"template": ir.name}
    if isinstance(circuit, CircuitTemplate) and circuit.path:
        where["file"] = circuit.path
    if delay_approximation is not None and (
        int(delay_approximation) != delay_approximation or delay_approximation < 1
    ):
        raise ModelError(
            f"delay_approximation must be a positive integer, not {delay_approximation!r}"
        )
    system = _Builder(
        ir, float_precision, functions, where, delay_approximation, record_delayed
    ).build(inputs)
    if not isinstance(circuit, NetworkIR):
        # the connection arrays now live in the parameters; an IR built here need not keep them
        system.ir = dataclasses.replace(ir, projections=[])
    return system
