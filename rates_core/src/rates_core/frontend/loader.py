"""Loading templates from YAML files: references, inheritance and equation edits.

Loading is pure, bounded data (:func:`~rates_core.frontend.yaml_data.read_yaml`). A
:class:`Loader` lives for one ``from_yaml`` call and caches parsed files by resolved path and
content, so nothing leaks between models.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from rates_core.errors import ModelError
from rates_core.frontend.frozen import FrozenMap
from rates_core.frontend.locate import YAML_SUFFIXES, find_package_yaml
from rates_core.frontend.names import check_name
from rates_core.frontend.population import Connectivity, PopulationTemplate
from rates_core.frontend.templates import (
    CircuitTemplate,
    EdgeTemplate,
    MatrixConnection,
    NodeTemplate,
    OperatorTemplate,
)
from rates_core.frontend.variables import MAX_ELEMENTS, check_finite, parse_declaration
from rates_core.frontend.yaml_data import read_yaml

#: The top-level package of PyRates's model library (``model_templates.*`` references).
PYRATES_LIBRARY = "model_templates"

BASE_CLASSES = {
    "OperatorTemplate": OperatorTemplate,
    "NodeTemplate": NodeTemplate,
    "EdgeTemplate": EdgeTemplate,
    "CircuitTemplate": CircuitTemplate,
    "PopulationTemplate": PopulationTemplate,
}
_TEMPLATE_KEYS = {
    OperatorTemplate: {"base", "equations", "variables", "description"},
    NodeTemplate: {"base", "operators", "description"},
    EdgeTemplate: {"base", "operators", "description"},
    # "label" is a legacy PyRates entry naming the circuit instance; the template name is used.
    # "connections", "populations" and "connectivity" are rates extensions (never in PyRates).
    CircuitTemplate: {
        "base",
        "nodes",
        "circuits",
        "edges",
        "connections",
        "populations",
        "connectivity",
        "description",
        "label",
    },
    PopulationTemplate: {"base", "node", "n", "params", "description"},
}
MAX_LOAD_ELEMENTS = 10**7
"""The most elements the variables declared in one load (every file it reads) may have in all,
a population counting its number of units times its node's variables: each declared variable
is capped at :data:`~rates_core.frontend.variables.MAX_ELEMENTS`, and this keeps a file from
declaring many such variables. Also the most variable elements and edges a circuit of a model
file flattens to."""
MAX_REFERENCE_DEPTH = 50
"""The longest chain of templates built inside one another (bases, operators, nodes,
sub-circuits): each level takes a few Python stack frames."""
MAX_EQUATION_LENGTH = 100_000
"""The longest equation that equation edits (``replace``, ``append``, ...) may produce."""
_POPULATION_KEYS = {"node", "n", "params", "description"}
_CONNECTIVITY_KEYS = {"source", "target", "weights", "edge", "delays", "spread", "edge_var_map"}


def load_template(reference: str, expected: type | None = None) -> Any:
    """Load the template a reference points to (docs/model_format.rst)."""
    template = Loader().load(reference)
    if expected is not None and not isinstance(template, expected):
        raise ModelError(
            f"{reference!r} is a {type(template).__name__}, not a {expected.__name__}",
            template=reference,
        )
    return template


def _token_pattern(old: str) -> str:
    pattern = re.escape(old)
    if re.match(r"[\w.]", old):
        pattern = r"(?<![\w.])" + pattern
    if re.search(r"\w$", old):
        pattern = pattern + r"(?![\w])"
    return pattern


def replace_token(text: str, old: str, new: str) -> str:
    """Replace ``old`` by ``new`` only where it stands as a whole token (``r`` not in ``r_in``)."""
    return re.sub(_token_pattern(old), lambda _: new, text)


def _edited_length(text: str, old: str, new: str) -> int:
    """The length ``replace_token(text, old, new)`` would have, without building it."""
    matches = sum(1 for _ in re.finditer(_token_pattern(old), text))
    return len(text) + matches * (len(new) - len(old))


def edit_equations(
    equations: tuple[str, ...], edits: Mapping[str, Any], where: dict
) -> tuple[str, ...]:
    """Apply a child's ``replace/remove/add/append/prepend`` edits to the parent's equations."""
    unknown = set(edits) - {"replace", "remove", "add", "append", "prepend"}
    if unknown:
        raise ModelError(f"unknown equation edits {sorted(unknown)}", **where)
    result = []
    remove = edits.get("remove") or []
    if isinstance(remove, str):
        remove = [remove]
    for eq in equations:
        for old, new in (edits.get("replace") or {}).items():
            _check_length(_edited_length(eq, str(old), str(new)), where)
            eq = replace_token(eq, str(old), str(new))
        for old in remove:
            eq = replace_token(eq, str(old), "")
        if edits.get("append"):
            eq = f"{eq} {edits['append']}"
        if edits.get("prepend"):
            eq = f"{edits['prepend']} {eq}"
        _check_length(len(eq), where)
        result.append(eq)
    add = edits.get("add") or []
    if isinstance(add, str):
        add = [add]
    return tuple(result) + tuple(str(a) for a in add)


def _check_length(length: int, where: dict) -> None:
    """Edits may not grow an equation past MAX_EQUATION_LENGTH: ``replace: {x: (x+x)}`` down a
    chain of 30 templates would make it 2^30 times as long."""
    if length > MAX_EQUATION_LENGTH:
        raise ModelError(
            f"equation edits make an equation of {length} characters, more than "
            f"{MAX_EQUATION_LENGTH}",
            **where,
        )


class _TooDeepError(ModelError):
    """Past MAX_REFERENCE_DEPTH: passed up as it is, not wrapped once per level."""


class _File:
    """One parsed YAML file: its path and its top-level mapping."""

    def __init__(self, path: Path, data: dict) -> None:
        self.path = path
        self.data = data


class Loader:
    """Resolves references and builds templates for one load (no state beyond this object)."""

    def __init__(self) -> None:
        self._files: dict[tuple[str, str], _File] = {}
        self._built: dict[tuple[str, str], Any] = {}
        self._building: list[tuple[str, str]] = []
        self._elements = 0  # declared so far in this load, see MAX_LOAD_ELEMENTS
        self._flat_sizes: dict[int, tuple[CircuitTemplate, int]] = {}

    # -------------------------------------------------------------- files and references

    def _read(self, path: Path) -> _File:
        path = path.resolve()
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise ModelError(f"cannot read model file: {exc.strerror}", file=str(path)) from None
        key = (str(path), hashlib.sha256(raw).hexdigest())
        if key not in self._files:
            data = read_yaml(raw, file=str(path))
            if data is None:
                data = {}
            if not isinstance(data, dict):
                raise ModelError("a model file must be a mapping of templates", file=str(path))
            self._files[key] = _File(path, data)
        return self._files[key]

    @staticmethod
    def _find_path(reference: str, relative_to: Path | None) -> tuple[Path, str] | None:
        if ":" in reference and not re.match(r"^[A-Za-z]:[\\/]", reference):
            file_part, _, name = reference.rpartition(":")
        else:
            file_part, _, name = reference.rpartition("/")
        if not file_part or not name:
            return None
        roots = [Path.cwd()]
        if relative_to is not None:
            roots.append(relative_to.parent)
        for root in roots:
            base = Path(file_part) if os.path.isabs(file_part) else root / file_part
            candidates = [base] if base.suffix in YAML_SUFFIXES else []
            candidates += [base.with_name(base.name + s) for s in YAML_SUFFIXES]
            for candidate in candidates:
                if candidate.is_file():
                    return candidate, name
        return None

    def resolve(self, reference: str, referrer: _File | None = None) -> tuple[_File, str]:
        """Find the file and template name a reference points to."""
        reference = str(reference).strip()
        where = {"file": str(referrer.path) if referrer else None}
        found = None
        if "." in reference and "/" not in reference and ":" not in reference:
            found = find_package_yaml(reference)
        if found is None and ("/" in reference or ":" in reference):
            found = self._find_path(reference, referrer.path if referrer else None)
        if found is None and referrer is not None and reference in referrer.data:
            return referrer, reference
        if found is None and reference.split(".")[0] == PYRATES_LIBRARY:
            raise ModelError(
                f"cannot resolve template reference {reference!r}: {PYRATES_LIBRARY} is "
                "PyRates's model library, which is not part of rates. Install it with "
                "`pip install pyrates` (rates then reads its YAML files without running "
                "PyRates), or use rates's own templates in rates_core.models (the table in "
                "the migration guide, docs/migration.rst, names the counterparts)",
                template=reference,
                **where,
            )
        if found is None:
            raise ModelError(
                f"cannot resolve template reference {reference!r} (tried a dotted package "
                "reference, a file path and a name in the same file)",
                template=reference,
                **where,
            )
        path, name = found
        return self._read(path), name

    def _count(self, elements: int, where: dict) -> None:
        """Add to the elements declared in this load; ModelError past MAX_LOAD_ELEMENTS."""
        self._elements += elements
        if self._elements > MAX_LOAD_ELEMENTS:
            raise ModelError(
                f"the model declares more than {MAX_LOAD_ELEMENTS} variable elements in all",
                **where,
            )

    # -------------------------------------------------------------- building

    def load(self, reference: str, referrer: _File | None = None) -> Any:
        file, name = self.resolve(reference, referrer)
        return self._build(file, name)

    def _load_ref(self, reference: str, file: _File, where: dict) -> Any:
        """Load a reference made by the template ``where`` names, naming it in any error."""
        try:
            return self.load(reference, file)
        except _TooDeepError:
            raise
        except ModelError as exc:
            if exc.template == where.get("template"):
                raise
            raise ModelError(f"reference {reference!r} failed: {exc}", **where) from None

    def _build(self, file: _File, name: str) -> Any:
        key = (str(file.path), name)
        if key in self._built:
            return self._built[key]
        where = {"file": str(file.path), "template": name}
        check_name(name, "template name", **where)
        if name not in file.data:
            raise ModelError("no template of that name in the file", **where)
        if key in self._building:
            chain = " -> ".join(n for _, n in self._building + [key])
            raise ModelError(f"circular template references: {chain}", **where)
        if len(self._building) >= MAX_REFERENCE_DEPTH:
            raise _TooDeepError(
                f"templates refer to templates more than {MAX_REFERENCE_DEPTH} deep "
                f"(from {self._building[0][1]!r})",
                **where,
            )
        data = file.data[name]
        if not isinstance(data, dict) or "base" not in data:
            raise ModelError("a template is a mapping with a 'base:' entry", **where)
        self._building.append(key)
        try:
            template = self._build_from(file, name, data, where)
        finally:
            self._building.pop()
        self._built[key] = template
        return template

    def _build_from(self, file: _File, name: str, data: dict, where: dict) -> Any:
        base = data["base"]
        if not isinstance(base, str):
            raise ModelError(f"'base' must be a class name or a reference, got {base!r}", **where)
        if base in BASE_CLASSES:
            cls, parent = BASE_CLASSES[base], None
        else:
            try:
                parent = self.load(base, file)
            except _TooDeepError:
                raise
            except ModelError as exc:
                raise ModelError(f"unknown base {base!r}: {exc}", **where) from None
            cls = type(parent)
        extra = set(data) - _TEMPLATE_KEYS[cls]
        if extra:
            raise ModelError(f"unknown entries {sorted(extra)} for a {cls.__name__}", **where)
        path = f"{file.path}:{name}"
        description = str(data.get("description") or (parent.description if parent else ""))
        common = {"name": name, "description": description, "path": str(file.path)}
        _ = path
        if cls is OperatorTemplate:
            return self._operator(data, parent, common, where)
        if cls in (NodeTemplate, EdgeTemplate):
            return self._graph(cls, file, data, parent, common, where)
        if cls is PopulationTemplate:
            return self._population(file, data, parent, common, where)
        return self._circuit(file, data, parent, common, where)

    def _population(
        self, file: _File, data: dict, parent: Any, common: dict, where: dict
    ) -> PopulationTemplate:
        """A population: ``{node: reference, n: size, params: {op/var: scalar or list}}``."""
        node = data.get("node")
        if node is None:
            if parent is None:
                raise ModelError("a population needs 'node' (a NodeTemplate reference)", **where)
            node = parent.node
        elif isinstance(node, str):
            node = self._load_ref(node, file, where)
        if not isinstance(node, NodeTemplate):
            raise ModelError(f"population node {data.get('node')!r} is not a NodeTemplate", **where)
        n = data.get("n", parent.n if parent else None)
        if n is None:
            raise ModelError("a population needs 'n' (its number of units)", **where)
        raw = data.get("params") or {}
        if not isinstance(raw, dict):
            raise ModelError("population params must be a mapping op/var -> value", **where)
        params = dict(parent.params) if parent else {}
        for key, value in raw.items():
            try:
                params[str(key)] = _numeric(value)
            except ValueError as exc:
                raise ModelError(f"population param: {exc}", variable=str(key), **where) from None
        population = PopulationTemplate(node=node, n=n, params=params, **common)
        per_unit = sum(len(op.variables) for op in node.operators.values())
        self._count(population.n * per_unit, where)
        return population

    def _circuit_population(self, file: _File, label: str, raw: Any, where: dict) -> Any:
        if isinstance(raw, str):
            pop = self._load_ref(raw, file, where)
            if not isinstance(pop, PopulationTemplate):
                raise ModelError(
                    f"population {label!r} refers to {raw!r}, which is a "
                    f"{type(pop).__name__}, not a PopulationTemplate",
                    **where,
                )
            return pop
        if not isinstance(raw, dict):
            raise ModelError(
                f"population {label!r} must be a reference or a mapping {{node, n, params}}",
                **where,
            )
        extra = set(raw) - _POPULATION_KEYS
        if extra:
            raise ModelError(f"unknown entries {sorted(extra)} for population {label!r}", **where)
        common = {
            "name": str(label),
            "description": str(raw.get("description") or ""),
            "path": where.get("file") or "",
        }
        return self._population(file, raw, None, common, where)

    def _connectivity(self, file: _File, raw: Any, where: dict) -> Connectivity:
        """A ``connectivity:`` entry; matrices as ``{shape, rows, cols, data}`` or nested lists."""
        if not isinstance(raw, dict):
            raise ModelError(f"a connectivity entry is a mapping, got {raw!r}", **where)
        extra = set(raw) - _CONNECTIVITY_KEYS
        if extra:
            raise ModelError(f"unknown connectivity entries {sorted(extra)}", **where)
        try:
            edge = raw.get("edge")
            if edge is not None:
                edge = self._load_ref(edge, file, where)
            return Connectivity(
                source=raw["source"],
                target=raw["target"],
                weights=_matrix(raw.get("weights", 1.0)),
                edge=edge,
                delays=_matrix(raw.get("delays")),
                spread=_matrix(raw.get("spread")),
                edge_var_map=raw.get("edge_var_map"),
            )
        except (KeyError, TypeError, ValueError) as exc:
            label = f"{raw.get('source')} -> {raw.get('target')}"
            raise ModelError(
                f"invalid connectivity entry: {exc}", variable=label, **where
            ) from None

    def _operator(self, data: dict, parent: Any, common: dict, where: dict) -> OperatorTemplate:
        equations = data.get("equations")
        if equations is None:
            eqs = parent.equations if parent else ()
        elif isinstance(equations, str):
            eqs = (equations,)
        elif isinstance(equations, list):
            eqs = tuple(str(e) for e in equations)
        elif isinstance(equations, dict):
            if parent is None:
                raise ModelError("equation edits need a parent template", **where)
            eqs = edit_equations(parent.equations, equations, where)
        else:
            raise ModelError("equations must be a string, list or mapping of edits", **where)
        variables = dict(parent.variables) if parent else {}
        raw = data.get("variables") or {}
        if not isinstance(raw, dict):
            raise ModelError("variables must be a mapping name -> declaration", **where)
        for vname, decl in raw.items():  # parsed here to count them against the load's budget
            variable = parse_declaration(decl, variable=str(vname), **where)
            self._count(int(np.prod(variable.shape)), where)
            variables[vname] = variable
        return OperatorTemplate(equations=eqs, variables=variables, **common)

    def _graph(
        self, cls: type, file: _File, data: dict, parent: Any, common: dict, where: dict
    ) -> Any:
        operators = dict(parent.operators) if parent else {}
        raw = data.get("operators") or []
        if isinstance(raw, str):
            raw = [raw]
        items = raw.items() if isinstance(raw, dict) else ((r, None) for r in raw)
        for ref, overrides in items:
            op = self._load_ref(ref, file, where) if not isinstance(ref, OperatorTemplate) else ref
            if not isinstance(op, OperatorTemplate):
                raise ModelError(f"{ref!r} is not an OperatorTemplate", **where)
            if overrides:
                if not isinstance(overrides, dict):
                    raise ModelError(f"overrides of {ref!r} must be a mapping", **where)
                for var, value in overrides.items():
                    try:
                        op = op.update_var(var, value)
                    except ModelError as exc:
                        message = f"override of {op.name}/{var} failed: {exc}"
                        raise ModelError(message, variable=str(var), **where) from None
            operators[op.name] = op
        return cls(operators=operators, **common)

    def _circuit(
        self, file: _File, data: dict, parent: Any, common: dict, where: dict
    ) -> CircuitTemplate:
        if data.get("nodes") and data.get("circuits"):
            raise ModelError("a circuit level has either 'nodes' or 'circuits', not both", **where)
        nodes = dict(parent.nodes) if parent else {}
        circuits = dict(parent.circuits) if parent else {}
        for key, target, cls in (
            ("nodes", nodes, NodeTemplate),
            ("circuits", circuits, CircuitTemplate),
        ):
            raw = data.get(key) or {}
            if not isinstance(raw, dict):
                raise ModelError(f"'{key}' must be a mapping label -> reference", **where)
            for label, ref in raw.items():
                tmpl = ref if not isinstance(ref, str) else self._load_ref(ref, file, where)
                if not isinstance(tmpl, cls):
                    raise ModelError(
                        f"{key[:-1]} {label!r} refers to {ref!r}, which is a "
                        f"{type(tmpl).__name__}, not a {cls.__name__}",
                        **where,
                    )
                target[str(label)] = tmpl
        edges = list(parent.edges) if parent else []
        for raw_edge in data.get("edges") or []:
            edges.append(self._edge(file, raw_edge, where))
        connections = tuple(parent.connections) if parent else ()
        for raw_conn in data.get("connections") or []:
            connections += (self._connection(file, raw_conn, where),)
        populations = dict(parent.populations) if parent else {}
        raw_pops = data.get("populations") or {}
        if not isinstance(raw_pops, dict):
            raise ModelError("'populations' must be a mapping label -> population", **where)
        for label, raw_pop in raw_pops.items():
            populations[str(label)] = self._circuit_population(file, str(label), raw_pop, where)
        connectivity = tuple(parent.connectivity) if parent else ()
        for raw_conn in data.get("connectivity") or []:
            connectivity += (self._connectivity(file, raw_conn, where),)
        circuit = CircuitTemplate(
            nodes=nodes,
            circuits=circuits,
            edges=tuple(edges),
            connections=connections,
            populations=populations,
            connectivity=connectivity,
            **common,
        )
        size = self._flat_size(circuit)
        if size > MAX_LOAD_ELEMENTS:
            raise ModelError(
                f"the circuit flattens to {size} variable elements and edges, more than "
                f"{MAX_LOAD_ELEMENTS} (sub-circuits repeat everything they hold)",
                **where,
            )
        return circuit

    def _flat_size(self, circuit: CircuitTemplate) -> int:
        """Variable elements and edges of a circuit once flattened: ten sub-circuits of ten
        sub-circuits ... of ten nodes are a few lines of YAML but 10^depth nodes."""
        key = id(circuit)
        if key not in self._flat_sizes:
            size = sum(_node_size(node) for node in circuit.nodes.values())
            size += sum(p.n * _node_size(p.node) for p in circuit.populations.values())
            size += len(circuit.edges) + sum(len(c.rows) for c in circuit.connections)
            size += sum(self._flat_size(sub) for sub in circuit.circuits.values())
            self._flat_sizes[key] = (circuit, size)  # the circuit keeps its id() unique
        return self._flat_sizes[key][1]

    def _connection(self, file: _File, raw: Any, where: dict) -> MatrixConnection:
        """A ``connections:`` entry (rates extension written by ``to_yaml``)."""
        try:
            template = raw.get("template")
            if template is not None:
                template = self._load_ref(template, file, where)
            attributes = {}
            for key, val in (raw.get("attributes") or {}).items():
                arr = np.asarray(val)
                if arr.dtype.kind == "U":
                    arr = arr.astype(complex)
                check_finite(arr)
                arr.flags.writeable = False
                attributes[key] = arr if arr.ndim else arr.item()
            rows = np.asarray(raw["rows"], dtype=np.int64)
            cols = np.asarray(raw["cols"], dtype=np.int64)
            rows.flags.writeable = cols.flags.writeable = False
            return MatrixConnection(
                source_var=raw["source_var"],
                target_var=raw["target_var"],
                source_nodes=tuple(raw["source_nodes"]),
                target_nodes=tuple(raw["target_nodes"]),
                rows=rows,
                cols=cols,
                attributes=FrozenMap(attributes),
                template=template,
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ModelError(f"invalid connections entry: {exc}", **where) from None

    def _edge(self, file: _File, raw: Any, where: dict) -> tuple:
        if isinstance(raw, dict):
            source, target = raw.get("source"), raw.get("target")
            template, attrs = raw.get("template"), raw.get("variables") or {}
        elif isinstance(raw, list) and len(raw) in (2, 3, 4):
            source, target, *rest = raw
            template = rest[0] if rest else None
            attrs = (rest[1] if len(rest) > 1 else None) or {}
        else:
            raise ModelError(
                f"an edge is [source, target, template, attributes], got {raw!r}", **where
            )
        if not isinstance(source, str) or not isinstance(target, str):
            raise ModelError(f"edge source and target must be paths, got {raw!r}", **where)
        if not isinstance(attrs, dict):
            raise ModelError(f"edge attributes must be a mapping, got {attrs!r}", **where)
        for key, value in attrs.items():
            if isinstance(value, (int, float, list)) and not isinstance(value, bool):
                try:
                    check_finite(np.asarray(value))
                except ValueError as exc:
                    raise ModelError(f"edge attribute {key!r}: {exc}", **where) from None
        if template is not None:
            template = self._load_ref(template, file, where)
            if not isinstance(template, EdgeTemplate):
                raise ModelError(f"edge template {raw[2]!r} is not an EdgeTemplate", **where)
        return (source, target, template, attrs)


def _node_size(node: NodeTemplate) -> int:
    """The elements of all variables of a node."""
    return sum(
        int(np.prod(var.shape)) for op in node.operators.values() for var in op.variables.values()
    )


def _numeric(value: Any) -> Any:
    """A YAML number or list of finite numbers (complex ones written as text) as a value or
    array (ValueError otherwise)."""
    arr = np.asarray(value)
    if arr.dtype.kind == "U":
        arr = arr.astype(complex)
    check_finite(arr)
    return arr if arr.ndim else arr.item()


def _matrix_shape(value: Any) -> tuple[int, int]:
    """The ``shape`` of a sparse YAML matrix: two sizes up to MAX_ELEMENTS (scipy allocates a
    row pointer per row, so a huge shape costs memory even without entries)."""
    if not isinstance(value, list) or len(value) != 2:
        raise ValueError(f"matrix shape must be [rows, cols], got {value!r}")
    for size in value:
        if isinstance(size, bool) or not isinstance(size, int) or not 0 <= size <= MAX_ELEMENTS:
            raise ValueError(f"matrix sizes are whole numbers from 0 to {MAX_ELEMENTS}")
    return value[0], value[1]


def _matrix(value: Any) -> Any:
    """A connectivity matrix: ``{shape, rows, cols, data}`` -> CSR; lists -> ndarray."""
    if value is None:
        return None
    if isinstance(value, dict):
        unknown = set(value) - {"shape", "rows", "cols", "data"}
        if unknown:
            raise ValueError(f"unknown matrix entries {sorted(unknown)}")
        data = np.asarray(_numeric(value["data"]))
        shape = _matrix_shape(value["shape"])
        rows = np.asarray(value["rows"], dtype=np.int64)
        cols = np.asarray(value["cols"], dtype=np.int64)
        if not (len(rows) == len(cols) == data.size):
            raise ValueError("matrix rows, cols and data must have the same length")
        import scipy.sparse as sp

        return sp.csr_matrix((data.reshape(-1), (rows, cols)), shape=shape)
    return _numeric(value)
