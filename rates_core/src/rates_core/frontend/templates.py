"""Template values: operators, nodes, edges and circuits (docs/model_format.rst).

Templates are immutable: every edit (``update_var``, ``add_edges_from_matrix``, ...) returns a new
template and leaves the original untouched, so templates loaded once can be shared safely. The only
mutable attribute is ``discarded_edits``, the circuit edits whose result a caller threw away
(:mod:`rates_core.frontend.edits`); ``state``, the final state of the last ``run``, is kept
beside the template (:mod:`rates_core.frontend.last_run`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from rates_core.errors import ModelError
from rates_core.frontend import last_run
from rates_core.frontend.edits import edit
from rates_core.frontend.frozen import FrozenMap
from rates_core.frontend.names import check_label, check_name, check_path
from rates_core.frontend.variables import Variable, parse_declaration
from rates_core.graphs import dependency_cycle, dependency_graph, dependency_order

EDGE_ATTRIBUTES = ("weight", "delay", "spread")


def _where(template: Any) -> dict:
    return {"file": template.path or None, "template": template.name}


# --------------------------------------------------------------------------- operators


@dataclass(frozen=True)
class OperatorTemplate:
    """A set of equations with the declarations of every variable they use.

    ``equations`` may be given as a string or a list of strings and ``variables`` as raw
    declarations (``"output(0.5)"``, numbers, long-form dicts); both are normalised on creation.
    """

    name: str
    equations: tuple[str, ...] = ()
    variables: FrozenMap[str, Variable] = field(default_factory=FrozenMap)
    description: str = ""
    path: str = ""

    if TYPE_CHECKING:  # the raw input that __post_init__ normalises

        def __init__(
            self,
            name: str,
            equations: str | Iterable[str] = (),
            variables: Mapping[str, Any] = ...,
            description: str = "",
            path: str = "",
        ) -> None: ...

    @classmethod
    def from_yaml(cls, reference: str) -> OperatorTemplate:
        """Load an operator from a reference (``pkg.file.Template``, ``dir/file/Template`` ...)."""
        return _from_yaml(cls, reference)

    def __post_init__(self) -> None:
        check_name(self.name, "operator name", **_where(self))
        eqs = self.equations
        if isinstance(eqs, str):
            eqs = (eqs,)
        if not all(isinstance(e, str) for e in eqs):
            raise ModelError("equations must be strings", **_where(self))
        object.__setattr__(self, "equations", tuple(eqs))
        where = _where(self)
        from rates_core.equations import check_variable_name  # sympy only when templates exist

        variables = {}
        for vname, decl in dict(self.variables).items():
            check_variable_name(vname, **where)
            variables[str(vname)] = parse_declaration(decl, variable=str(vname), **where)
        object.__setattr__(self, "variables", FrozenMap(variables))
        outputs = [v for v, d in variables.items() if d.kind == "output"]
        if len(outputs) > 1:
            raise ModelError(
                f"an operator has exactly one output, found {len(outputs)}: {', '.join(outputs)}",
                **where,
            )

    @property
    def output(self) -> str | None:
        """Name of the variable this operator exposes to other operators and edges."""
        return next((v for v, d in self.variables.items() if d.kind == "output"), None)

    @property
    def inputs(self) -> tuple[str, ...]:
        return tuple(v for v, d in self.variables.items() if d.kind == "input")

    def __getitem__(self, var: str) -> Variable:
        try:
            return self.variables[var]
        except KeyError:
            raise ModelError(
                f"operator has no variable {var!r} (it has {', '.join(self.variables)})",
                variable=var,
                **_where(self),
            ) from None

    def structure(self) -> tuple:
        """Everything but the values: two operators with equal structure vectorise together."""
        return (
            self.equations,
            tuple((n, v.kind, v.dtype, v.shape) for n, v in self.variables.items()),
        )

    def update_var(self, var: str, value: Any) -> OperatorTemplate:
        """A copy with a new value for one variable (kind and shape unchanged)."""
        decl = self[var]
        try:
            new = decl.with_value(value)
        except ValueError as exc:
            raise ModelError(str(exc), variable=var, **_where(self)) from None
        return dataclasses.replace(self, variables=self.variables.updated({var: new}))

    def update_template(
        self,
        name: str | None = None,
        path: str | None = None,
        equations: str | Sequence[str] | Mapping[str, Any] | None = None,
        variables: Mapping[str, Any] | None = None,
        description: str | None = None,
    ) -> OperatorTemplate:
        """A copy with the given parts changed (PyRates's ``update_template``): ``equations``
        replaces the equations (a string or list) or edits them (a mapping as in a YAML file:
        ``replace``, ``add``, ``remove``); ``variables`` adds or replaces declarations."""
        eqs = self.equations
        if isinstance(equations, Mapping):
            from rates_core.frontend.loader import edit_equations

            eqs = tuple(edit_equations(self.equations, dict(equations), _where(self)))
        elif equations is not None:
            eqs = (equations,) if isinstance(equations, str) else tuple(equations)
        return OperatorTemplate(
            name=name or self.name,
            equations=eqs,
            variables={**self.variables, **dict(variables or {})},
            description=self.description if description is None else description,
            path=self.path if path is None else path,
        )


# --------------------------------------------------------------------------- nodes and edges


def _operator_map(operators: Any, owner: str, path: str) -> FrozenMap:
    """Normalise a list of operators or a mapping ``operator -> {var: value}`` to
    ``label -> op``."""
    if isinstance(operators, FrozenMap):
        return operators
    items: Iterable[tuple[Any, Any]]
    if isinstance(operators, Mapping):
        items = operators.items()
    else:
        items = ((op, None) for op in operators)
    result: dict[str, OperatorTemplate] = {}
    for op, overrides in items:
        if isinstance(op, str) and isinstance(overrides, OperatorTemplate):
            op, overrides = overrides, None
        if not isinstance(op, OperatorTemplate):
            raise ModelError(
                f"node operators must be OperatorTemplates, got {op!r}",
                file=path or None,
                template=owner,
            )
        if isinstance(overrides, OperatorTemplate):
            op = overrides
        elif overrides:
            for var, value in dict(overrides).items():
                op = op.update_var(var, value)
        if op.name in result:
            raise ModelError(
                f"operator {op.name!r} appears twice", file=path or None, template=owner
            )
        result[op.name] = op
    return FrozenMap(result)


_G = TypeVar("_G", bound="OperatorGraph")


@dataclass(frozen=True)
class OperatorGraph:
    """Shared behaviour of nodes and edges: a small graph of operators wired by variable names."""

    name: str
    operators: FrozenMap[str, OperatorTemplate] = field(default_factory=FrozenMap)
    description: str = ""
    path: str = ""

    if TYPE_CHECKING:  # the raw input that __post_init__ normalises (see _operator_map)

        def __init__(
            self,
            name: str,
            operators: Mapping[str, Any] | Iterable[OperatorTemplate] = ...,
            description: str = "",
            path: str = "",
        ) -> None: ...

    @classmethod
    def from_yaml(cls: type[_G], reference: str) -> _G:
        """Load a node or edge from a reference (``pkg.file.Template``, ...)."""
        return _from_yaml(cls, reference)

    def __post_init__(self) -> None:
        check_name(self.name, f"{type(self).__name__[:-8].lower()} name", **_where(self))
        object.__setattr__(self, "operators", _operator_map(self.operators, self.name, self.path))
        self.operator_order()  # validates the wiring early

    def __getitem__(self, key: str) -> Any:
        op, _, var = key.partition("/")
        try:
            template = self.operators[op]
        except KeyError:
            raise ModelError(
                f"no operator {op!r} (operators: {', '.join(self.operators)})", **_where(self)
            ) from None
        return template[var] if var else template

    def structure(self) -> tuple:
        return tuple((label, op.structure()) for label, op in self.operators.items())

    def wiring(self) -> dict[tuple[str, str], list[str]]:
        """``(operator, input variable) -> [source operators]`` inside this graph."""
        outputs: dict[str, list[str]] = {}
        for label, op in self.operators.items():
            if op.output is not None:
                outputs.setdefault(op.output, []).append(label)
        wiring = {}
        for label, op in self.operators.items():
            for var in op.inputs:
                sources = [s for s in outputs.get(var, []) if s != label]
                if sources:
                    wiring[(label, var)] = sources
        return wiring

    def operator_order(self) -> list[str]:
        """Operators sorted so that each comes after the operators that feed it."""
        deps: dict[str, set[str]] = {label: set() for label in self.operators}
        for (label, _), sources in self.wiring().items():
            deps[label].update(sources)
        graph = dependency_graph(deps)
        cycle = dependency_cycle(graph)
        if cycle:
            raise ModelError(f"operator wiring is cyclic: {' -> '.join(cycle)}", **_where(self))
        return dependency_order(graph)

    def update_var(self, op: str, var: str, value: Any) -> Any:
        new_op = self[op].update_var(var, value)
        return dataclasses.replace(self, operators=self.operators.updated({op: new_op}))

    def update_template(
        self,
        name: str | None = None,
        path: str | None = None,
        operators: Any = None,
        description: str | None = None,
    ) -> Any:
        """A copy with the given parts changed (PyRates's ``update_template``); ``operators``
        (a list, or a mapping operator -> value overrides) adds or replaces operators."""
        ops = dict(self.operators)
        if operators is not None:
            ops.update(_operator_map(operators, self.name, self.path))
        return dataclasses.replace(
            self,
            name=name or self.name,
            path=self.path if path is None else path,
            operators=FrozenMap(ops),
            description=self.description if description is None else description,
        )


class NodeTemplate(OperatorGraph):
    """A population model: operators whose inputs are fed by the outputs of the others."""


class EdgeTemplate(OperatorGraph):
    """An operator graph placed on a connection; its sink operator's output feeds the target."""

    def sink(self) -> str:
        fed = {s for sources in self.wiring().values() for s in sources}
        sinks = [label for label in self.operators if label not in fed]
        if len(sinks) != 1:
            raise ModelError(
                f"an edge template needs exactly one sink operator, found {sinks}", **_where(self)
            )
        return sinks[0]

    def sink_output(self) -> tuple[str, str]:
        """``(sink operator, its output variable)``: what the edge delivers to its target."""
        sink = self.sink()
        output = self.operators[sink].output
        if output is None:
            raise ModelError(
                f"the sink operator {sink!r} of an edge template needs an output variable "
                "(the value the edge delivers)",
                **_where(self),
            )
        return sink, output

    def free_inputs(self) -> list[tuple[str, str]]:
        """``(operator, variable)`` inputs not fed from inside the edge."""
        wired = self.wiring()
        return [
            (label, var)
            for label, op in self.operators.items()
            for var in op.inputs
            if (label, var) not in wired
        ]


# --------------------------------------------------------------------------- circuits


@dataclass(frozen=True, eq=False)
class Edge:
    """One connection ``source -> target`` (paths ``node/op/var``) with its attributes."""

    source: str
    target: str
    template: EdgeTemplate | None = None
    attributes: FrozenMap[str, Any] = field(default_factory=FrozenMap)

    if TYPE_CHECKING:  # the raw input that __post_init__ normalises

        def __init__(
            self,
            source: str,
            target: str,
            template: EdgeTemplate | None = None,
            attributes: Mapping[str, Any] | None = None,
        ) -> None: ...

    def __post_init__(self) -> None:
        object.__setattr__(self, "attributes", FrozenMap(self.attributes or {}))

    @property
    def weight(self) -> Any:
        return self.attributes.get("weight", 1.0)


@dataclass(frozen=True, eq=False)
class MatrixConnection:
    """Many edges stored as one sparse connection (from ``add_edges_from_matrix``).

    ``rows``/``cols`` index ``target_nodes``/``source_nodes``; ``attributes`` hold one value per
    stored connection (weight, delay, spread, edge-template variables) or a scalar for all.
    """

    source_var: str
    target_var: str
    source_nodes: tuple[str, ...]
    target_nodes: tuple[str, ...]
    rows: np.ndarray
    cols: np.ndarray
    attributes: Mapping[str, Any]
    template: EdgeTemplate | None = None

    def edges(self) -> Iterable[Edge]:
        """The connection as individual edges (slow path, for export and inspection)."""
        for k, (r, c) in enumerate(zip(self.rows, self.cols)):
            attrs = {
                key: (val[k] if isinstance(val, np.ndarray) and val.ndim == 1 else val)
                for key, val in self.attributes.items()
            }
            yield Edge(
                f"{self.source_nodes[c]}/{self.source_var}",
                f"{self.target_nodes[r]}/{self.target_var}",
                self.template,
                {k: (v.item() if isinstance(v, np.generic) else v) for k, v in attrs.items()},
            )


def _readonly(arr: Any, dtype: Any = None) -> np.ndarray:
    out = np.array(arr, dtype=dtype)
    out.flags.writeable = False
    return out


def split_path(path: str) -> tuple[str, str, str]:
    """``"a/b/op/var"`` -> ``("a/b", "op", "var")``."""
    parts = path.strip("/").split("/")
    if len(parts) < 3:
        raise ModelError(f"{path!r} is not a variable path of the form node/op/var")
    return "/".join(parts[:-2]), parts[-2], parts[-1]


def _coerce_edge(edge: Any, owner: str, path: str) -> Edge:
    """An Edge from an Edge, a mapping or a list, its paths checked against the name grammar."""
    edge = _make_edge(edge, owner, path)
    for end in (edge.source, edge.target):
        check_path(end, "edge path", file=path or None, template=owner)
    return edge


def _make_edge(edge: Any, owner: str, path: str) -> Edge:
    if isinstance(edge, Edge):
        return edge
    if isinstance(edge, Mapping):
        return Edge(
            edge["source"], edge["target"], edge.get("template"), edge.get("variables") or {}
        )
    if isinstance(edge, (list, tuple)) and len(edge) in (2, 3, 4):
        source, target, *rest = edge
        template = rest[0] if rest else None
        attrs = rest[1] if len(rest) > 1 else {}
        return Edge(source, target, template, attrs or {})
    raise ModelError(
        f"an edge is [source, target, template, attributes], got {edge!r}",
        file=path or None,
        template=owner,
    )


@dataclass(frozen=True, eq=False)
class CircuitTemplate:
    """Nodes, populations and sub-circuits connected by edges; the thing that is simulated.

    ``populations`` maps labels to :class:`~rates_core.frontend.population.PopulationTemplate`
    values (n units of one node, addressed ``label/op/var`` for all units and
    ``label/k/op/var`` for unit k); ``connectivity`` holds
    :class:`~rates_core.frontend.population.Connectivity` values (weight matrices or global
    coupling between variable paths of this circuit).
    """

    name: str
    nodes: FrozenMap[str, NodeTemplate] = field(default_factory=FrozenMap)
    circuits: FrozenMap[str, CircuitTemplate] = field(default_factory=FrozenMap)
    edges: tuple[Edge, ...] = ()
    connections: tuple[MatrixConnection, ...] = ()
    description: str = ""
    path: str = ""
    populations: FrozenMap[str, Any] = field(default_factory=FrozenMap)
    connectivity: tuple[Any, ...] = ()
    #: edits whose result a caller threw away (:mod:`rates_core.frontend.edits`)
    discarded_edits: list[Any] = field(init=False, repr=False, default_factory=list)

    if TYPE_CHECKING:  # the raw input that __post_init__ normalises

        def __init__(
            self,
            name: str,
            nodes: Mapping[str, NodeTemplate] | None = None,
            circuits: Mapping[str, CircuitTemplate] | None = None,
            edges: Iterable[Any] = (),
            connections: Iterable[Any] = (),
            description: str = "",
            path: str = "",
            populations: Mapping[str, Any] | None = None,
            connectivity: Iterable[Any] = (),
        ) -> None: ...

    def __post_init__(self) -> None:
        from rates_core.frontend.population import Connectivity, PopulationTemplate

        where = _where(self)
        check_name(self.name, "circuit name", **where)
        object.__setattr__(self, "nodes", FrozenMap(self.nodes or {}))
        object.__setattr__(self, "circuits", FrozenMap(self.circuits or {}))
        object.__setattr__(self, "populations", FrozenMap(self.populations or {}))
        for label, node in self.nodes.items():
            if not isinstance(node, NodeTemplate):
                raise ModelError(f"node {label!r} is not a NodeTemplate: {node!r}", **where)
        for label, circ in self.circuits.items():
            if not isinstance(circ, CircuitTemplate):
                raise ModelError(f"circuit {label!r} is not a CircuitTemplate: {circ!r}", **where)
        for label, pop in self.populations.items():
            if not isinstance(pop, PopulationTemplate):
                raise ModelError(
                    f"population {label!r} is not a PopulationTemplate: {pop!r}", **where
                )
        kinds = [set(self.nodes), set(self.circuits), set(self.populations)]
        both = (kinds[0] & kinds[1]) | (kinds[0] & kinds[2]) | (kinds[1] & kinds[2])
        if both:
            raise ModelError(
                f"labels used twice (node, circuit or population): {sorted(both)}", **where
            )
        for label in self.labels():
            check_label(label, "node label", **where)
            if label == "all":
                raise ModelError("'all' is a wildcard and cannot label a node", **where)
        edges = tuple(_coerce_edge(e, self.name, self.path) for e in self.edges)
        object.__setattr__(self, "edges", edges)
        # PyRates's CircuitTemplate(populations=..., connections=[Connectivity(...)]): rates
        # names those ``connectivity`` and keeps ``connections`` for MatrixConnections
        moved = tuple(c for c in self.connections or () if isinstance(c, Connectivity))
        kept = tuple(c for c in self.connections or () if not isinstance(c, Connectivity))
        object.__setattr__(self, "connections", kept)
        conns = []
        for conn in tuple(self.connectivity or ()) + moved:
            if isinstance(conn, Mapping):
                conn = Connectivity(**conn)
            if not isinstance(conn, Connectivity):
                raise ModelError(
                    f"connectivity entries must be Connectivity, got {conn!r}", **where
                )
            conns.append(conn)
        object.__setattr__(self, "connectivity", tuple(conns))
        for conn in self.connectivity:
            self.connectivity_shape(conn)  # paths exist, matrices fit

    # ------------------------------------------------------------------ navigation

    def __getitem__(self, key: str) -> Any:
        parts = key.strip("/").split("/")
        head, rest = parts[0], "/".join(parts[1:])
        if head in self.nodes:
            return self.nodes[head][rest] if rest else self.nodes[head]
        if head in self.populations:
            return self.populations[head][rest] if rest else self.populations[head]
        if head in self.circuits:
            return self.circuits[head][rest] if rest else self.circuits[head]
        raise ModelError(
            f"no node or circuit {head!r} (labels: {', '.join(self.labels())})",
            **_where(self),
        )

    def labels(self) -> list[str]:
        return list(self.nodes) + list(self.populations) + list(self.circuits)

    def node_labels(self, units: bool = True) -> list[str]:
        """Every node of the hierarchy as a full path ``circuit/.../node``; the units of a
        population ``p`` are ``p/0 .. p/n-1`` (left out with ``units=False``)."""
        labels = list(self.nodes)
        if units:
            for plabel, pop in self.populations.items():
                labels.extend(pop.unit_labels(f"{plabel}/"))
        for clabel, circ in self.circuits.items():
            labels.extend(f"{clabel}/{n}" for n in circ.node_labels(units))
        return labels

    def population_items(self, prefix: str = "") -> list[tuple[str, Any]]:
        """``(full label, PopulationTemplate)`` of every population of the hierarchy."""
        items = [(f"{prefix}{label}", pop) for label, pop in self.populations.items()]
        for clabel, circ in self.circuits.items():
            items.extend(circ.population_items(f"{prefix}{clabel}/"))
        return items

    def get_population(self, label: str) -> Any:
        from rates_core.frontend.population import PopulationTemplate

        pop = self[label]
        if not isinstance(pop, PopulationTemplate):
            raise ModelError(f"{label!r} is not a population", **_where(self))
        return pop

    def unit_of(self, label: str) -> tuple[str, int] | None:
        """``(population label, unit)`` when ``label`` names a unit of a population."""
        head, sep, last = label.rpartition("/")
        if not sep or not last.isdigit():
            return None
        owner, _, plabel = head.rpartition("/")
        circuit = self
        for part in owner.split("/") if owner else []:
            sub = circuit.circuits.get(part)
            if sub is None:
                return None
            circuit = sub
        pop = circuit.populations.get(plabel)
        if pop is None or int(last) >= pop.n:
            return None
        return head, int(last)

    def get_node(self, label: str) -> NodeTemplate:
        node = self[label]
        if not isinstance(node, NodeTemplate):
            raise ModelError(f"{label!r} is not a node", **_where(self))
        return node

    def get_nodes(self, pattern: str | Sequence[str] = "all", var: str | None = None) -> list[str]:
        """Full labels of the nodes matching ``pattern`` (``all`` is a wildcard for one level;
        a lone ``all`` matches every node at any depth). With ``var="op/var"`` only nodes that
        have that variable are returned.

        A population matches like a node of its level and stands for all its units
        (``exc`` -> ``exc/0 .. exc/n-1``); ``exc/all`` and ``exc/3`` address its units."""
        if not isinstance(pattern, str):
            pattern = "/".join(pattern)
        segments = pattern.strip("/").split("/") if pattern else ["all"]
        everything = segments == ["all"]
        op, _, vname = (var or "").partition("/")

        def has_var(node: Any) -> bool:
            return var is None or (op in node.operators and vname in node.operators[op].variables)

        def fits(parts: list[str], segs: list[str]) -> bool:
            return len(parts) == len(segs) and all(
                s == "all" or s == p for s, p in zip(segs, parts)
            )

        result: list[str] = []

        def walk(circuit: CircuitTemplate, prefix: list[str]) -> None:
            for label, node in circuit.nodes.items():
                parts = prefix + [label]
                if (everything or fits(parts, segments)) and has_var(node):
                    result.append("/".join(parts))
            for label, pop in circuit.populations.items():
                parts = prefix + [label]
                if not has_var(pop.node):
                    continue
                full = "/".join(parts) + "/"
                if everything or fits(parts, segments):
                    result.extend(pop.unit_labels(full))
                elif fits(parts, segments[:-1]):
                    last = segments[-1]
                    if last == "all":
                        result.extend(pop.unit_labels(full))
                    elif last.isdigit() and int(last) < pop.n:
                        result.append(f"{full}{int(last)}")
            for label, sub in circuit.circuits.items():
                if len(prefix) + 1 < len(segments) or everything:
                    walk(sub, prefix + [label])

        walk(self, [])
        return result

    def resolve_path(self, path: str) -> list[tuple[str, str, str]]:
        """``node/op/var`` with ``all`` wildcards -> matching ``(node, op, var)`` triples."""
        node_pattern, op, var = split_path(path)
        nodes = self.get_nodes(node_pattern, var=f"{op}/{var}")
        if not nodes:
            raise ModelError(f"no node has a variable matching {path!r}", **_where(self))
        return [(n, op, var) for n in nodes]

    # ------------------------------------------------------------------ edits (return copies)

    def _with_node(self, label: str, node: NodeTemplate) -> CircuitTemplate:
        head, _, rest = label.partition("/")
        if rest:
            sub = self.circuits[head]._with_node(rest, node)
            return self._copy(circuits=self.circuits.updated({head: sub}))
        return self._copy(nodes=self.nodes.updated({head: node}))

    def _with_nodes(self, updates: Mapping[str, NodeTemplate]) -> CircuitTemplate:
        """Replace many nodes (full labels) with one copy per circuit level."""
        local = {label: node for label, node in updates.items() if "/" not in label}
        nested: dict[str, dict[str, NodeTemplate]] = {}
        for label, node in updates.items():
            head, sep, rest = label.partition("/")
            if sep:
                nested.setdefault(head, {})[rest] = node
        circuits = {head: self.circuits[head]._with_nodes(sub) for head, sub in nested.items()}
        return self._copy(
            nodes=self.nodes.updated(local) if local else self.nodes,
            circuits=self.circuits.updated(circuits) if circuits else self.circuits,
        )

    def _with_populations(self, updates: Mapping[str, Any]) -> CircuitTemplate:
        """Replace populations (full labels) with one copy per circuit level."""
        local = {label: pop for label, pop in updates.items() if "/" not in label}
        nested: dict[str, dict[str, Any]] = {}
        for label, pop in updates.items():
            head, sep, rest = label.partition("/")
            if sep:
                nested.setdefault(head, {})[rest] = pop
        circuits = {
            head: self.circuits[head]._with_populations(sub) for head, sub in nested.items()
        }
        return self._copy(
            populations=self.populations.updated(local) if local else self.populations,
            circuits=self.circuits.updated(circuits) if circuits else self.circuits,
        )

    def _copy(self, **changes: Any) -> CircuitTemplate:
        return dataclasses.replace(self, **changes)

    def connectivity_shape(self, conn: Any) -> tuple[int, int]:
        """``(n_target, n_source)``: the number of units ``conn``'s paths match here, checked
        against its matrices (a clear error when a path matches nothing or a matrix misfits)."""
        where = dict(_where(self), variable=f"{conn.source} -> {conn.target}")
        try:
            n_src = len(self.resolve_path(conn.source))
            n_tgt = len(self.resolve_path(conn.target))
        except ModelError as exc:
            raise ModelError(
                f"connectivity {conn.source} -> {conn.target}: {exc}", **where
            ) from None
        if conn.shape is not None and conn.shape != (n_tgt, n_src):
            raise ModelError(
                f"connectivity weights have shape {conn.shape}, expected {(n_tgt, n_src)} "
                f"(targets of {conn.target!r} x sources of {conn.source!r})",
                **where,
            )
        return n_tgt, n_src

    @edit
    def add_connectivity(self, *connectivity: Any) -> CircuitTemplate:
        """A copy with more :class:`~rates_core.frontend.population.Connectivity` values."""
        return self._copy(connectivity=self.connectivity + tuple(connectivity))

    def all_connectivity_with_owner(self, prefix: str = "") -> Iterable[tuple[str, Any, Any]]:
        """``(prefix, owning circuit, Connectivity)`` for the whole hierarchy; the paths of a
        connectivity are relative to its owner."""
        for conn in self.connectivity:
            yield prefix, self, conn
        for label, circ in self.circuits.items():
            yield from circ.all_connectivity_with_owner(f"{prefix}{label}/")

    @edit
    def update_var(
        self,
        node_vars: Mapping[str, Any] | None = None,
        edge_vars: Iterable[tuple[str, str, Mapping[str, Any]]] | None = None,
    ) -> CircuitTemplate:
        """A copy with new variable values.

        ``node_vars`` maps ``node/op/var`` (``all`` allowed) to a value; an array whose length is
        the number of matched nodes is spread over them, one element each. ``edge_vars`` is a
        list of
        ``(source, target, {attribute: value})`` with source/target as in the edge list (full
        variable paths, or node labels when that is unambiguous).
        """
        circuit = self
        for key, value in (node_vars or {}).items():
            matches = circuit.resolve_path(key)
            decl_shape = circuit.get_node(matches[0][0])[f"{matches[0][1]}/{matches[0][2]}"].shape
            arr = np.asarray(value)
            if arr.shape == decl_shape:
                per_match = False
            elif arr.shape == (len(matches),) + decl_shape:
                per_match = True
            else:
                raise ModelError(
                    f"value of shape {arr.shape} for {key!r} matches neither the variable's shape "
                    f"{decl_shape} nor one value per matched node ({len(matches)} nodes)",
                    variable=key,
                    **_where(self),
                )
            updated: dict[str, NodeTemplate] = {}
            # units of populations: (units, positions in matches) per population
            in_pops: dict[str, tuple[list[int], list[int]]] = {}
            for i, (node, op, var) in enumerate(matches):
                unit = circuit.unit_of(node) if circuit.populations or circuit.circuits else None
                if unit is not None:
                    units, positions = in_pops.setdefault(unit[0], ([], []))
                    units.append(unit[1])
                    positions.append(i)
                    continue
                val = arr[i] if per_match else value
                updated[node] = circuit.get_node(node).update_var(op, var, val)
            if updated:
                circuit = circuit._with_nodes(updated)
            if in_pops:
                _, op, var = matches[0]
                pops = {}
                for label, (units, positions) in in_pops.items():
                    pop = circuit.get_population(label)
                    vals = arr[np.asarray(positions)] if per_match else arr
                    if len(units) == pop.n and units == list(range(pop.n)):
                        pops[label] = pop.update_var(f"{op}/{var}", vals)
                    else:
                        pops[label] = pop.with_unit_values(f"{op}/{var}", np.asarray(units), vals)
                circuit = circuit._with_populations(pops)
        for source, target, attrs in edge_vars or []:
            circuit = circuit._update_edge(source, target, dict(attrs))
        return circuit

    def _update_edge(self, source: str, target: str, attrs: dict) -> CircuitTemplate:
        def matches(path: str, key: str) -> bool:
            return (
                path == key or path.startswith(key + "/") and path.count("/") - key.count("/") == 2
            )

        edges = list(self.all_edges_with_owner())
        hits = [
            i
            for i, (_, e) in enumerate(edges)
            if matches(e.source, source) and matches(e.target, target)
        ]
        if hits:
            circuit = self
            for i in hits:
                prefix, edge = edges[i]
                circuit = circuit._replace_edge(prefix, edge, attrs)
            return circuit
        for k, conny in enumerate(self.connectivity):
            if conny.source.strip("/") == source.strip("/") and conny.target.strip(
                "/"
            ) == target.strip("/"):
                names = {"weight": "weights", "delay": "delays", "spread": "spread"}
                unknown = set(attrs) - set(names)
                if unknown:
                    raise ModelError(
                        f"connectivity attributes are weight, delay and spread, not "
                        f"{sorted(unknown)}",
                        **_where(self),
                    )
                conns = list(self.connectivity)
                conns[k] = conny.with_values(**{names[key]: v for key, v in attrs.items()})
                return self._copy(connectivity=tuple(conns))
        for k, conn in enumerate(self.connections):
            found = False
            rows, cols = conn.rows, conn.cols
            new_attrs = dict(conn.attributes)
            for idx, (r, c) in enumerate(zip(rows, cols)):
                src = f"{conn.source_nodes[c]}/{conn.source_var}"
                tgt = f"{conn.target_nodes[r]}/{conn.target_var}"
                if matches(src, source) and matches(tgt, target):
                    found = True
                    for key, val in attrs.items():
                        arr = new_attrs.get(key, 1.0 if key == "weight" else 0.0)
                        arr = np.array(
                            np.broadcast_to(arr, rows.shape), dtype=np.result_type(arr, val)
                        )
                        arr[idx] = val
                        arr.flags.writeable = False
                        new_attrs[key] = arr
            if found:
                conns = list(self.connections)
                conns[k] = dataclasses.replace(conn, attributes=FrozenMap(new_attrs))
                return self._copy(connections=tuple(conns))
        raise ModelError(f"no edge from {source!r} to {target!r}", **_where(self))

    def all_edges_with_owner(self, prefix: str = "") -> Iterable[tuple[str, Edge]]:
        """Every explicit edge of the hierarchy with full paths, and the circuit path owning it."""
        for e in self.edges:
            full = dataclasses.replace(
                e,
                source=f"{prefix}{e.source}",
                target=f"{prefix}{e.target}",
            )
            yield prefix, full
        for label, circ in self.circuits.items():
            yield from circ.all_edges_with_owner(f"{prefix}{label}/")

    def _replace_edge(self, prefix: str, full_edge: Edge, attrs: dict) -> CircuitTemplate:
        if prefix:
            head, _, rest = prefix.rstrip("/").partition("/")
            local = dataclasses.replace(
                full_edge,
                source=full_edge.source.split("/", 1)[1],
                target=full_edge.target.split("/", 1)[1],
            )
            sub = self.circuits[head]._replace_edge(rest + "/" if rest else "", local, attrs)
            return self._copy(circuits=self.circuits.updated({head: sub}))
        edges = list(self.edges)
        local_src = full_edge.source
        local_tgt = full_edge.target
        for i, e in enumerate(edges):
            if e.source == local_src and e.target == local_tgt:
                edges[i] = dataclasses.replace(e, attributes=e.attributes.updated(attrs))
        return self._copy(edges=tuple(edges))

    @edit
    def add_edges(self, edges: Iterable[Any]) -> CircuitTemplate:
        """A copy with more edges (``[source, target, template, attributes]`` items)."""
        new = tuple(_coerce_edge(e, self.name, self.path) for e in edges)
        return self._copy(edges=self.edges + new)

    @edit
    def add_edges_from_matrix(
        self,
        source_var: str,
        target_var: str,
        source_nodes: Sequence[str],
        target_nodes: Sequence[str] | None = None,
        weight: Any = None,
        template: EdgeTemplate | None = None,
        edge_attr: Mapping[str, Any] | None = None,
        min_weight: float = 0.0,
    ) -> CircuitTemplate:
        """A copy with one vectorised connection from a weight matrix.

        ``weight`` is ``(len(target_nodes), len(source_nodes))`` (dense or scipy.sparse); only
        entries with ``abs(w) > min_weight`` become connections. Matrix-shaped ``edge_attr``
        values (delays, spreads) are read at the same entries; scalars apply to all.
        """
        from rates_core.frontend.population import matrix_entries, read_at

        target_nodes = list(source_nodes if target_nodes is None else target_nodes)
        source_nodes = list(source_nodes)
        shape = (len(target_nodes), len(source_nodes))
        where = _where(self)
        known = set(self.node_labels())
        for n in source_nodes + target_nodes:
            if not isinstance(n, str) or n not in known:
                raise ModelError(f"add_edges_from_matrix: no node {n!r}", **where)
        if weight is None:
            weight = np.ones(shape)
        rows, cols, w = matrix_entries(weight, shape, min_weight, where)
        attributes: dict[str, Any] = {"weight": w}
        for key, val in (edge_attr or {}).items():
            attributes[key] = read_at(val, rows, cols, shape, key, where)
        conn = MatrixConnection(
            source_var=source_var,
            target_var=target_var,
            source_nodes=tuple(source_nodes),
            target_nodes=tuple(target_nodes),
            rows=_readonly(rows, np.int64),
            cols=_readonly(cols, np.int64),
            attributes=FrozenMap(attributes),
            template=template,
        )
        return self._copy(connections=self.connections + (conn,))

    # ------------------------------------------------------------------ PyRates's methods

    def update_template(
        self,
        name: str | None = None,
        path: str | None = None,
        description: str | None = None,
        circuits: Mapping[str, CircuitTemplate] | None = None,
        nodes: Mapping[str, NodeTemplate] | None = None,
        edges: Iterable[Any] | None = None,
        in_place: bool = False,
    ) -> CircuitTemplate:
        """A copy with the given parts changed (PyRates's ``update_template``): ``nodes`` and
        ``circuits`` add or replace labels, ``edges`` (``[source, target, template,
        attributes]`` items or dicts with those keys) are added. ``in_place=True`` is an error:
        templates are values, keep the returned one."""
        if in_place:
            raise ModelError(
                "update_template(in_place=True): rates templates cannot change in place; "
                "write circuit = circuit.update_template(...)",
                **_where(self),
            )
        new_edges = [_edge_items(e) for e in edges or ()]
        return self._copy(
            name=name or self.name,
            path=self.path if path is None else path,
            description=self.description if description is None else description,
            nodes={**self.nodes, **dict(nodes or {})},
            circuits={**self.circuits, **dict(circuits or {})},
            edges=self.edges + tuple(_coerce_edge(e, self.name, self.path) for e in new_edges),
        )

    def to_networkx(self) -> Any:
        """This circuit as a :class:`networkx.MultiDiGraph`: its nodes (population units
        included) with their template names, one edge per connection with its weight, delay,
        spread and variables (:func:`rates_core.frontend.graph.circuit_graph`)."""
        from rates_core.frontend.graph import circuit_graph

        return circuit_graph(self)

    def get_var(self, var: str) -> Any:
        """Not available: PyRates returned a compiled backend variable. The replacements are
        named in the error."""
        raise ModelError(
            f"get_var({var!r}): rates keeps no compiled backend variables on a template. "
            f"Read a template value with circuit[{var!r}].value, the state-vector positions "
            "with circuit.get_variable_positions(...) or the state_indices that get_run_func "
            "returns, and simulated values from run()'s outputs",
            **_where(self),
        )

    def get_variable_positions(self, outputs: str | Mapping[str, str], **options: Any) -> tuple:
        """``(positions, names)``: where variables sit in the state vector ``y`` of
        :meth:`get_run_func` (same ``backend``, ``vectorize`` and ``delay_approximation``
        options). See :func:`rates_core.pyrates_compat.variable_positions`."""
        from rates_core.pyrates_compat import variable_positions

        return variable_positions(self, outputs, **options)

    @property
    def state(self) -> dict[str, Any]:
        """The final state of the last ``run()`` of this template, ``path -> value`` (empty
        before any run); ``initial_state="last"`` starts there."""
        return last_run.final_state(self)

    def clear(self) -> None:
        """Forget the final state of the last run (``initial_state="last"``); rates keeps no
        generated files, and what it keeps in memory for a template (its built System) goes
        with the template, so there is nothing else to clear."""
        last_run.forget_final_state(self)

    # ------------------------------------------------------------------ simulation

    def run(self, simulation_time: float, step_size: float, **kwargs: Any) -> Any:
        """Simulate this circuit; see :func:`rates_core.simulate.run` for the arguments."""
        from rates_core.simulate import run

        return run(self, simulation_time, step_size, **kwargs)

    def get_run_func(self, func_name: str, step_size: float, **kwargs: Any) -> Any:
        """``(func, args, arg_keys, state_indices)``, see ``rates_core.simulate.get_run_func``."""
        from rates_core.simulate import get_run_func

        return get_run_func(self, func_name, step_size, **kwargs)

    def get_jacobian_func(
        self, func_name: str, step_size: float | None = None, **kwargs: Any
    ) -> Any:
        """The Jacobian counterpart of :meth:`get_run_func`."""
        from rates_core.simulate import get_jacobian_func

        return get_jacobian_func(self, func_name, step_size, **kwargs)

    # ------------------------------------------------------------------ files

    @classmethod
    def from_yaml(cls, reference: str) -> CircuitTemplate:
        """Load a circuit from a reference (``pkg.file.Template``, ``dir/file/Template`` ...)."""
        from rates_core.frontend.loader import load_template

        return load_template(reference, expected=cls)

    def to_yaml(self, path: str, name: str | None = None, overwrite: bool = False) -> None:
        """Write this circuit and everything it uses to one self-contained YAML file (an
        existing file is replaced only with ``overwrite=True``; links are never followed)."""
        from rates_core.frontend.dump import write_yaml

        write_yaml(self, path, name=name, overwrite=overwrite)


def _edge_items(edge: Any) -> Any:
    """A PyRates edge dict ``{source, target, template, variables}`` as an edge list item."""
    if isinstance(edge, Mapping) and {"source", "target"} <= set(edge):
        return [edge["source"], edge["target"], edge.get("template"), edge.get("variables", {})]
    return edge


def _from_yaml(cls: type, reference: str) -> Any:
    from rates_core.frontend.loader import load_template

    return load_template(reference, expected=cls)
