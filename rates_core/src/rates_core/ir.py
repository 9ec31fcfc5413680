"""Network IR: the circuit flattened, nodes vectorised into populations, edges into projections.

Structurally identical nodes (same operators, equations and declarations; values may differ)
become one :class:`Population` whose per-node values are arrays; a ``PopulationTemplate`` of n
units is one Population as it is (its units are never made into nodes). Every edge, explicit,
from ``add_edges_from_matrix`` or from a ``Connectivity`` matrix, becomes part of a
:class:`Projection`: index arrays and per-connection weights / delays, never one Python object
per connection. Global coupling (scalar ``Connectivity`` weights) is an ``all_to_all``
projection: every target unit receives ``weight * sum(source units)``. Edges with an edge
template become a population of edge units fed by projections.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rates_core.errors import ModelError
from rates_core.frontend.templates import (
    CircuitTemplate,
    EdgeTemplate,
    NodeTemplate,
    split_path,
)


class UnitLabels(tuple):
    """Node labels of a population's units, with constant-time ``in`` and ``index``."""

    def _positions(self) -> dict[str, int]:
        positions = self.__dict__.get("_pos")
        if positions is None:
            positions = {label: i for i, label in enumerate(self)}
            self.__dict__["_pos"] = positions
        return positions

    def __contains__(self, label: object) -> bool:
        return label in self._positions()

    def index(self, label: Any, *args: Any) -> int:
        if args:
            return super().index(label, *args)
        try:
            return self._positions()[label]
        except (KeyError, TypeError):
            raise ValueError(f"{label!r} is not a unit of this population") from None

    def __reduce__(self) -> tuple:
        return (UnitLabels, (tuple(self),))


@dataclass
class Population:
    """Units sharing one structure; ``values[(op, var)]`` has one row per unit."""

    label: str
    nodes: Sequence[str]  # a tuple, or EdgeUnitLabels for an edge population of a matrix
    template: Any  # NodeTemplate or EdgeTemplate (structure; values come from ``values``)
    values: dict[tuple[str, str], np.ndarray]
    is_edge: bool = False

    @property
    def size(self) -> int:
        return len(self.nodes)


@dataclass
class Projection:
    """Connections from one population variable into another population's input variable."""

    source: tuple[int, str, str]  # (population index, op, var)
    target: tuple[int, str, str]
    src_idx: np.ndarray
    tgt_idx: np.ndarray
    weight: np.ndarray
    delay: np.ndarray | None = None
    spread: np.ndarray | None = None
    labels: Sequence[str] = field(default_factory=list)  # "src_path->tgt_path" per connection
    #: global coupling: every unit in ``tgt_idx`` receives ``weight * sum(source[src_idx])``
    #: (``weight``, ``delay`` and ``spread`` are then 0-d arrays, ``labels`` one entry)
    all_to_all: bool = False


@dataclass
class NetworkIR:
    """The flattened, vectorised network."""

    name: str
    populations: list[Population]
    projections: list[Projection]
    unit_of: dict[str, tuple[int, int]]  # node label -> (population, unit)
    circuit: CircuitTemplate | None = field(default=None, repr=False)

    def locate(self, path: str) -> tuple[int, int, str, str]:
        """``node/op/var`` -> (population, unit, op, var), with a clear error when missing."""
        node, op, var = split_path(path)
        if node not in self.unit_of:
            raise ModelError(f"no node {node!r} for path {path!r}", template=self.name)
        p, u = self.unit_of[node]
        template = self.populations[p].template
        if op not in template.operators or var not in template.operators[op].variables:
            raise ModelError(
                f"node {node!r} has no variable {op}/{var}", template=self.name, variable=path
            )
        return p, u, op, var


def _units(loc: np.ndarray, entries: np.ndarray, mask: Any) -> np.ndarray:
    """``loc[entries[mask], 1]``: the population units of matrix rows or columns; the entries
    themselves (no copy) when row/column k is unit k."""
    units = loc[:, 1]
    if isinstance(mask, slice) and np.array_equal(units, np.arange(len(units))):
        return entries
    return units[entries[mask]]


def _flatten(circuit: CircuitTemplate) -> tuple[dict[str, NodeTemplate], list[tuple]]:
    nodes = {label: circuit.get_node(label) for label in circuit.node_labels(units=False)}
    edges = [
        (e.source, e.target, e.template, dict(e.attributes))
        for _, e in circuit.all_edges_with_owner()
    ]
    return nodes, edges


def _has_vector_vars(node: Any) -> bool:
    return any(v.shape != () for op in node.operators.values() for v in op.variables.values())


def _make_populations(
    items: Mapping[str, Any], vectorize: bool, is_edge: bool, taken: set[str]
) -> list[Population]:
    groups: dict[Any, list[str]] = {}
    for label, tmpl in items.items():
        key = (tmpl.structure(),) if vectorize and not _has_vector_vars(tmpl) else (label,)
        groups.setdefault(key, []).append(label)
    pops = []
    for members in groups.values():
        first = items[members[0]]
        base = members[0] if len(members) == 1 else first.name
        label = base
        k = 1
        while label in taken:
            k += 1
            label = f"{base}_{k}"
        taken.add(label)
        values = {}
        for op_label, op in first.operators.items():
            for vname in op.variables:
                values[(op_label, vname)] = np.stack(
                    [items[m].operators[op_label].variables[vname].array for m in members]
                )
        pops.append(Population(label, UnitLabels(members), first, values, is_edge))
    return pops


def _template_populations(
    circuit: CircuitTemplate, vectorize: bool, taken: set[str]
) -> list[Population]:
    """One Population per PopulationTemplate (one per unit when not vectorising)."""
    pops = []
    for label, template in circuit.population_items():
        values = {
            (op_label, vname): np.array(template.values(f"{op_label}/{vname}"))
            for op_label, op in template.node.operators.items()
            for vname in op.variables
        }
        units = UnitLabels(template.unit_labels(f"{label}/"))
        if vectorize:
            base, k, name = label, 1, label
            while name in taken:
                k += 1
                name = f"{base}_{k}"
            taken.add(name)
            pops.append(Population(name, units, template.node, values))
            continue
        for u, unit in enumerate(units):
            name = unit
            taken.add(name)
            pops.append(
                Population(
                    name,
                    UnitLabels([unit]),
                    template.node,
                    {key: val[u : u + 1] for key, val in values.items()},
                )
            )
    return pops


def _check_target(pop: Population, op: str, var: str, path: str, where: dict) -> None:
    decl = pop.template.operators[op].variables[var]
    if decl.kind != "input":
        raise ModelError(
            f"edge target {path!r} is a {decl.kind} variable; edges can only feed input variables",
            variable=path,
            **where,
        )


def build_ir(circuit: CircuitTemplate, vectorize: bool = True) -> NetworkIR:
    """Flatten and vectorise a circuit (see module docstring)."""
    where = {"file": circuit.path or None, "template": circuit.name}
    nodes, edges = _flatten(circuit)
    taken: set[str] = set()
    pops = _make_populations(nodes, vectorize, False, taken)
    pops += _template_populations(circuit, vectorize, taken)
    unit_of = {}
    for p, pop in enumerate(pops):
        for u, n in enumerate(pop.nodes):
            unit_of[n] = (p, u)
    ir = NetworkIR(circuit.name, pops, [], unit_of, circuit)

    # explicit edges -> connection records
    plain: dict[tuple, list] = {}
    templated: list[tuple] = []
    for source, target, template, attrs in edges:
        try:
            sp, su, sop, svar = ir.locate(source)
            tp, tu, top, tvar = ir.locate(target)
        except ModelError as exc:
            raise ModelError(f"edge {source} -> {target}: {exc}", **where) from None
        weight = attrs.get("weight", 1.0)
        if np.all(np.asarray(weight) == 0):
            continue
        if template is None:
            _check_target(pops[tp], top, tvar, target, where)
            unknown = set(attrs) - {"weight", "delay", "spread"}
            if unknown:
                raise ModelError(
                    f"edge {source} -> {target} has unknown attributes {sorted(unknown)}", **where
                )
            key = ((sp, sop, svar), (tp, top, tvar), "delay" in attrs, "spread" in attrs)
            plain.setdefault(key, []).append(
                (su, tu, weight, attrs.get("delay"), attrs.get("spread"), f"{source}->{target}")
            )
        else:
            templated.append(
                (source, target, template, attrs, (sp, su, sop, svar), (tp, tu, top, tvar))
            )
    for (src, tgt, has_delay, has_spread), conns in plain.items():
        s_units, t_units, w, d, s, labels = zip(*sorted(conns, key=lambda conn: conn[1]))
        ir.projections.append(
            Projection(
                src,
                tgt,
                np.array(s_units, dtype=np.int64),
                np.array(t_units, dtype=np.int64),
                np.array(w, dtype=np.result_type(*w, float)),
                np.array(d, dtype=float) if has_delay else None,
                np.array(s, dtype=float) if has_spread else None,
                list(labels),
            )
        )
    for conn in circuit_connections(circuit):
        _add_matrix_connection(ir, conn, where, templated, vectorize, taken)
    for prefix, owner, conn in circuit.all_connectivity_with_owner():
        _add_connectivity(ir, prefix, owner, conn, where, templated, vectorize, taken)
    if templated:
        _add_templated_edges(ir, templated, vectorize, taken, where)
    ir.projections = [sub for proj in ir.projections for sub in _split_gamma_orders(proj)]
    return ir


def gamma_order(delay: Any, spread: Any) -> np.ndarray:
    """The order of the gamma kernel of each connection, ``round((delay / spread)^2)`` and at
    least 1 (docs/plugin_guide.rst, "Integrate: solve"); delays and spreads must be positive."""
    ratio = np.asarray(delay, dtype=float) / np.asarray(spread, dtype=float)
    return np.maximum(np.rint(ratio**2), 1).astype(np.int64)


def _split_gamma_orders(proj: Projection) -> list[Projection]:
    """``proj`` as one projection per gamma-kernel order of its connections (one chain of
    ODEs per order; a parameter sweep over ``spread`` puts sets with different orders into
    one projection), or ``[proj]`` when all connections share one order. Non-positive
    delays or spreads are left for the System to report."""
    if proj.spread is None or proj.delay is None or proj.all_to_all or proj.spread.ndim != 1:
        return [proj]
    delay = np.broadcast_to(proj.delay, proj.spread.shape)
    if np.any(delay <= 0) or np.any(proj.spread <= 0):
        return [proj]
    orders = gamma_order(delay, proj.spread)
    if np.all(orders == orders[0]):
        return [proj]
    return [
        _subset(proj, np.flatnonzero(orders == order), delay, proj.spread)
        for order in np.unique(orders)
    ]


def _subset(
    proj: Projection, keep: np.ndarray, delay: np.ndarray, spread: np.ndarray
) -> Projection:
    """The connections ``keep`` (positions) of ``proj``, whose per-connection delays and
    spreads are ``delay`` and ``spread``."""
    return Projection(
        proj.source,
        proj.target,
        proj.src_idx[keep],
        proj.tgt_idx[keep],
        np.asarray(proj.weight)[keep],
        delay[keep],
        spread[keep],
        [proj.labels[int(k)] for k in keep] if proj.labels else [],
    )


def circuit_connections(circuit: CircuitTemplate, prefix: str = "") -> list:
    """Matrix connections of the whole hierarchy with node labels made absolute."""
    import dataclasses

    result = []
    for conn in circuit.connections:
        if prefix:
            conn = dataclasses.replace(
                conn,
                source_nodes=tuple(prefix + n for n in conn.source_nodes),
                target_nodes=tuple(prefix + n for n in conn.target_nodes),
            )
        result.append(conn)
    for label, sub in circuit.circuits.items():
        result.extend(circuit_connections(sub, f"{prefix}{label}/"))
    return result


def _add_matrix_connection(
    ir: NetworkIR, conn: Any, where: dict, templated: list, vectorize: bool, taken: set[str]
) -> None:
    src_loc = np.array([ir.unit_of[n] for n in conn.source_nodes], dtype=np.int64).reshape(-1, 2)
    tgt_loc = np.array([ir.unit_of[n] for n in conn.target_nodes], dtype=np.int64).reshape(-1, 2)
    ir.locate(f"{conn.source_nodes[0]}/{conn.source_var}")
    ir.locate(f"{conn.target_nodes[0]}/{conn.target_var}")
    extra = set(conn.attributes) - {"weight", "delay", "spread"}
    if extra and conn.template is None:
        raise ModelError(f"unknown edge attributes {sorted(extra)}", **where)
    _lower_entries(
        ir,
        (src_loc, conn.source_var, conn.source_nodes),
        (tgt_loc, conn.target_var, conn.target_nodes),
        conn.rows,
        conn.cols,
        conn.attributes,
        conn.template,
        where,
        templated,
        vectorize,
        taken,
    )


def _lower_entries(
    ir: NetworkIR,
    source: tuple,
    target: tuple,
    rows: np.ndarray,
    cols: np.ndarray,
    attributes: Mapping[str, Any],
    template: EdgeTemplate | None,
    where: dict,
    templated: list,
    vectorize: bool = False,
    taken: set[str] | None = None,
) -> None:
    """Connections ``source[cols[k]] -> target[rows[k]]`` into one projection per pair of
    populations (or into templated edges). ``source``/``target`` are ``(locations (unit, 2)
    array of (population, unit), "op/var", node labels)``."""
    src_loc, source_var, source_nodes = source
    tgt_loc, target_var, target_nodes = target
    sop, _, svar = source_var.partition("/")
    top, _, tvar = target_var.partition("/")
    n = len(rows)
    if (
        template is not None
        and vectorize
        and _lower_templated(ir, source, target, rows, cols, attributes, template, where, taken)
    ):
        return
    if template is not None:
        # one edge-template instance per connection (vectorised again in _add_templated_edges)
        for k in range(n):
            attrs = {
                key: (val[k] if isinstance(val, np.ndarray) and val.ndim == 1 else val)
                for key, val in attributes.items()
            }
            attrs = {
                key: (v.item() if isinstance(v, np.generic) else v) for key, v in attrs.items()
            }
            spath = f"{source_nodes[cols[k]]}/{source_var}"
            tpath = f"{target_nodes[rows[k]]}/{target_var}"
            templated.append((spath, tpath, template, attrs, ir.locate(spath), ir.locate(tpath)))
        return
    tp0 = int(tgt_loc[rows[0], 0]) if n else int(tgt_loc[0, 0])
    _check_target(ir.populations[tp0], top, tvar, target_var, where)
    # one population on each side (the usual case): no per-connection masks
    single = len(np.unique(src_loc[:, 0])) <= 1 and len(np.unique(tgt_loc[:, 0])) <= 1

    def groups() -> Iterator[tuple[int, int, slice | np.ndarray]]:
        """``(source population, target population, which connections)`` of every pair of
        populations that has connections."""
        if n == 0:
            return
        if single:  # no per-connection populations nor masks needed
            yield int(src_loc[0, 0]), int(tgt_loc[0, 0]), slice(None)
            return
        sp_all, tp_all = src_loc[cols, 0], tgt_loc[rows, 0]
        for sp in np.unique(sp_all):
            for tp in np.unique(tp_all):
                mask = (sp_all == sp) & (tp_all == tp)
                if mask.any():
                    yield int(sp), int(tp), mask

    def per_conn(key: str) -> np.ndarray | None:
        if key not in attributes:
            return None
        return np.broadcast_to(np.asarray(attributes[key]), (n,))

    weight = np.broadcast_to(np.asarray(attributes["weight"]), (n,))  # matrices carry weights
    delay, spread = per_conn("delay"), per_conn("spread")
    for sp, tp, mask in groups():
        ir.locate(f"{ir.populations[sp].nodes[0]}/{source_var}")
        ir.locate(f"{ir.populations[tp].nodes[0]}/{target_var}")
        ir.projections.append(
            Projection(
                (sp, sop, svar),
                (tp, top, tvar),
                _units(src_loc, cols, mask),
                _units(tgt_loc, rows, mask),
                np.asarray(weight[mask]),
                None if delay is None else np.asarray(delay[mask], dtype=float),
                None if spread is None else np.asarray(spread[mask], dtype=float),
                [],
            )
        )


def _add_connectivity(
    ir: NetworkIR,
    prefix: str,
    owner: CircuitTemplate,
    conn: Any,
    where: dict,
    templated: list,
    vectorize: bool,
    taken: set[str],
) -> None:
    """Lower one ``Connectivity`` (paths relative to ``owner``, whose labels start with
    ``prefix`` in the whole circuit)."""
    label = f"{prefix}{conn.source}->{prefix}{conn.target}"
    try:
        src = owner.resolve_path(conn.source)
        tgt = owner.resolve_path(conn.target)
    except ModelError as exc:
        raise ModelError(f"connectivity {label}: {exc}", **where) from None
    source_var = f"{src[0][1]}/{src[0][2]}"
    target_var = f"{tgt[0][1]}/{tgt[0][2]}"
    src_nodes = [f"{prefix}{n}" for n, _, _ in src]
    tgt_nodes = [f"{prefix}{n}" for n, _, _ in tgt]
    src_loc = np.array([ir.unit_of[n] for n in src_nodes], dtype=np.int64).reshape(-1, 2)
    tgt_loc = np.array([ir.unit_of[n] for n in tgt_nodes], dtype=np.int64).reshape(-1, 2)
    ir.locate(f"{src_nodes[0]}/{source_var}")
    ir.locate(f"{tgt_nodes[0]}/{target_var}")
    if not conn.is_global:
        owner.connectivity_shape(conn)
        rows, cols, attributes = conn.entries()
        attributes.update(conn.edge_feeds(tgt_nodes, rows))
        _lower_entries(
            ir,
            (src_loc, source_var, src_nodes),
            (tgt_loc, target_var, tgt_nodes),
            rows,
            cols,
            attributes,
            conn.edge,
            where,
            templated,
            vectorize,
            taken,
        )
        return
    if conn.weights == 0:
        return
    sop, _, svar = source_var.partition("/")
    top, _, tvar = target_var.partition("/")
    for tp in np.unique(tgt_loc[:, 0]):
        _check_target(ir.populations[tp], top, tvar, f"{prefix}{conn.target}", where)
        for sp in np.unique(src_loc[:, 0]):
            ir.projections.append(
                Projection(
                    (int(sp), sop, svar),
                    (int(tp), top, tvar),
                    src_loc[src_loc[:, 0] == sp, 1],
                    tgt_loc[tgt_loc[:, 0] == tp, 1],
                    np.asarray(conn.weights),
                    None if conn.delays is None else np.asarray(conn.delays, dtype=float),
                    None if conn.spread is None else np.asarray(conn.spread, dtype=float),
                    [label],
                    all_to_all=True,
                )
            )


class EdgeUnitLabels(Sequence[str]):
    """Labels ``template[source/op/var->target/op/var]`` of the units of an edge population
    made from a matrix connection, formatted when asked for (a million edges need no million
    strings up front)."""

    def __init__(self, name, source_nodes, target_nodes, cols, rows, source_var, target_var):
        self._args = (name, source_nodes, target_nodes, cols, rows, source_var, target_var)

    def __len__(self) -> int:
        return len(self._args[3])

    def __getitem__(self, i: Any) -> Any:
        name, src, tgt, cols, rows, svar, tvar = self._args
        if isinstance(i, slice):
            return [self[k] for k in range(*i.indices(len(self)))]
        return f"{name}[{src[int(cols[i])]}/{svar}->{tgt[int(rows[i])]}/{tvar}]"


def _lower_templated(
    ir: NetworkIR,
    source: tuple,
    target: tuple,
    rows: np.ndarray,
    cols: np.ndarray,
    attributes: Mapping[str, Any],
    template: EdgeTemplate,
    where: dict,
    taken: set[str] | None,
) -> bool:
    """Templated connections between one source and one target population as one edge
    population, built from the attribute arrays without a template instance per edge; False
    (nothing added) when the connection needs the general path (several populations, edge
    inputs fed from several populations, per-edge values of a shaped variable)."""
    src_loc, source_var, source_nodes = source
    tgt_loc, target_var, target_nodes = target
    n = len(rows)
    if n == 0 or taken is None:
        return False
    if len(np.unique(src_loc[:, 0])) != 1 or len(np.unique(tgt_loc[:, 0])) != 1:
        return False
    sp, tp = int(src_loc[0, 0]), int(tgt_loc[0, 0])
    sop, _, svar = source_var.partition("/")
    top, _, tvar = target_var.partition("/")

    def per_conn(val: Any) -> Any:
        arr = np.asarray(val)
        return arr if arr.ndim == 1 and arr.shape[0] == n else np.broadcast_to(arr, (n,))

    first = {
        key: (val[0] if isinstance(val, np.ndarray) and val.ndim == 1 else val)
        for key, val in attributes.items()
    }
    first = {k: (v.item() if isinstance(v, np.generic) else v) for k, v in first.items()}
    edge_where = dict(where, variable=f"{template.name} edges {source_var} -> {target_var}")
    parsed, receiver = _edge_input(template, first, edge_where)
    if receiver[1] == svar:
        return False  # the general path reports it
    _check_target(ir.populations[tp], top, tvar, target_var, where)
    sink, out_var = template.sink_output()
    values: dict[tuple[str, str], np.ndarray] = {}
    for op_label, op in template.operators.items():
        for vname, decl in op.variables.items():
            values[(op_label, vname)] = np.broadcast_to(decl.array, (n, *np.shape(decl.array)))
    extras: dict[tuple[str, str], tuple[int, str, str, np.ndarray]] = {}
    for key, val in attributes.items():
        if key in ("weight", "delay", "spread"):
            continue
        parts = key.split("/")
        if parts[0] == template.name:
            parts = parts[1:]
        if len(parts) != 2:
            continue  # not an op/var of the template: the receiver ("source")
        op_var = (parts[0], parts[1])
        if op_var not in parsed["values"] and op_var not in parsed["extra"]:
            continue  # the receiver ("source")
        if op_var in parsed["values"]:
            decl = template.operators[op_var[0]].variables[op_var[1]]
            if decl.shape != ():
                return False
            values[op_var] = np.asarray(per_conn(val), dtype=decl.array.dtype)
            continue
        paths = per_conn(np.asarray(val, dtype=object))
        located: dict[str, tuple] = {}
        for path in dict.fromkeys(paths.tolist()):
            located[path] = ir.locate(path)
        pops = {loc[0] for loc in located.values()}
        ops = {(loc[2], loc[3]) for loc in located.values()}
        if len(pops) != 1 or len(ops) != 1:
            return False
        ((xop, xvar),) = ops
        units = np.fromiter((located[path][1] for path in paths.tolist()), np.int64, n)
        extras[op_var] = (pops.pop(), xop, xvar, units)
    label, k = template.name, 1
    while label in taken:
        k += 1
        label = f"{template.name}_{k}"
    taken.add(label)
    nodes = EdgeUnitLabels(
        template.name, source_nodes, target_nodes, cols, rows, source_var, target_var
    )
    p = len(ir.populations)
    ir.populations.append(Population(label, nodes, template, values, True))
    units = np.arange(n, dtype=np.int64)
    delay = attributes.get("delay")
    spread = attributes.get("spread")
    weight = per_conn(attributes.get("weight", 1.0))
    ir.projections.append(
        Projection(
            (sp, sop, svar),
            (p, *receiver),
            src_loc[cols, 1],
            units,
            np.ones(n),
            None if delay is None else np.asarray(per_conn(delay), dtype=float),
            None if spread is None else np.asarray(per_conn(spread), dtype=float),
            [],
        )
    )
    ir.projections.append(
        Projection(
            (p, sink, out_var),
            (tp, top, tvar),
            units,
            tgt_loc[rows, 1],
            np.asarray(weight, dtype=np.result_type(weight, float)),
            None,
            None,
            [],
        )
    )
    for fv, (xp, xop, xvar, xunits) in extras.items():
        ir.projections.append(
            Projection((xp, xop, xvar), (p, *fv), xunits, units, np.ones(n), None, None, [])
        )
    return True


def _edge_input(template: EdgeTemplate, attrs: dict, where: dict) -> tuple[dict, tuple[str, str]]:
    """Split edge attributes into template variable values and extra sources, and find the
    edge input variable that receives the edge's source."""
    values, sources = {}, {}
    for key, val in attrs.items():
        if key in ("weight", "delay", "spread"):
            continue
        parts = key.split("/")
        if parts[0] == template.name:
            parts = parts[1:]
        if len(parts) != 2 or parts[0] not in template.operators:
            raise ModelError(f"unknown edge attribute {key!r}", **where)
        op, var = parts
        if var not in template.operators[op].variables:
            raise ModelError(f"edge template has no variable {op}/{var}", variable=key, **where)
        if isinstance(val, str):
            sources[(op, var)] = val
        else:
            values[(op, var)] = val
    free = [fv for fv in template.free_inputs() if fv not in sources or sources[fv] == "source"]
    explicit = [fv for fv, s in sources.items() if s == "source"]
    receivers = explicit or [fv for fv in free if fv not in sources]
    if len(receivers) != 1:
        raise ModelError(
            "cannot tell which input of edge template "
            f"{template.name!r} receives the source (candidates {receivers}); "
            f"set '{template.name}/<op>/<var>: source'",
            **where,
        )
    extra = {fv: s for fv, s in sources.items() if s != "source"}
    return {"values": values, "extra": extra}, receivers[0]


def _edge_label(name: str, source: str, target: str, used: Mapping[str, Any]) -> str:
    """``name[source->target]``, numbered ``name#2[...]``, ``name#3[...]`` ... for further edges
    with the same template between the same variables: each edge is an instance of its own
    (edges add up, with a template or without one)."""
    label = f"{name}[{source}->{target}]"
    k = 1
    while label in used:
        k += 1
        label = f"{name}#{k}[{source}->{target}]"
    return label


def _add_templated_edges(
    ir: NetworkIR, templated: list, vectorize: bool, taken: set[str], where: dict
) -> None:
    instances: dict[str, Any] = {}
    info: dict[str, tuple] = {}
    for source, target, template, attrs, sloc, tloc in templated:
        edge_where = dict(where, variable=f"{source} -> {target}")
        parsed, receiver = _edge_input(template, attrs, edge_where)
        sink = template.sink_output()
        svar = sloc[3]
        if receiver[1] == svar:
            raise ModelError(
                f"the input variable {receiver[1]!r} of edge template {template.name!r} has the "
                "same name as the source variable; rename one of them",
                **edge_where,
            )
        tmpl = template
        for (op, var), val in parsed["values"].items():
            tmpl = tmpl.update_var(op, var, val)
        label = _edge_label(template.name, source, target, instances)
        instances[label] = tmpl
        extra_locs = {}
        for fv, path in parsed["extra"].items():
            extra_locs[fv] = ir.locate(path)
        info[label] = (source, target, attrs, sloc, tloc, receiver, sink, extra_locs)
        _check_target(ir.populations[tloc[0]], tloc[2], tloc[3], target, edge_where)
    # edges vectorise when template structure and wiring agree
    if vectorize:
        groups: dict[Any, dict[str, Any]] = {}
        for label, tmpl in instances.items():
            source, target, attrs, sloc, tloc, receiver, sink, extra = info[label]
            key = (
                tmpl.structure(),
                (sloc[0], sloc[2], sloc[3]),
                (tloc[0], tloc[2], tloc[3]),
                receiver,
                tuple(sorted((fv, (loc[0], loc[2], loc[3])) for fv, loc in extra.items())),
                "delay" in attrs,
                "spread" in attrs,
            )
            groups.setdefault(key, {})[label] = tmpl
        group_list = list(groups.values())
    else:
        group_list = [{label: tmpl} for label, tmpl in instances.items()]
    for members in group_list:
        (pop,) = _make_populations(members, True, True, taken)
        p = len(ir.populations)
        ir.populations.append(pop)
        labels = list(members)
        first = info[labels[0]]
        receiver, (sink, out_var) = first[5], first[6]
        sloc = np.array([info[lb][3][1] for lb in labels], dtype=np.int64)
        tloc = np.array([info[lb][4][1] for lb in labels], dtype=np.int64)
        units = np.arange(len(labels), dtype=np.int64)
        attrs = [info[lb][2] for lb in labels]
        delay = np.array([a["delay"] for a in attrs], dtype=float) if "delay" in attrs[0] else None
        spread = (
            np.array([a["spread"] for a in attrs], dtype=float) if "spread" in attrs[0] else None
        )
        s0, t0 = first[3], first[4]
        ir.projections.append(
            Projection(
                (s0[0], s0[2], s0[3]),
                (p, *receiver),
                sloc,
                units,
                np.ones(len(labels)),
                delay,
                spread,
                labels,
            )
        )
        weights = [a.get("weight", 1.0) for a in attrs]
        ir.projections.append(
            Projection(
                (p, sink, out_var),
                (t0[0], t0[2], t0[3]),
                units,
                tloc,
                np.array(weights, dtype=np.result_type(*weights, float)),
                None,
                None,
                labels,
            )
        )
        for fv, loc in first[7].items():
            src_units = np.array([info[lb][7][fv][1] for lb in labels], dtype=np.int64)
            ir.projections.append(
                Projection(
                    (loc[0], loc[2], loc[3]),
                    (p, *fv),
                    src_units,
                    units,
                    np.ones(len(labels)),
                    None,
                    None,
                    labels,
                )
            )
