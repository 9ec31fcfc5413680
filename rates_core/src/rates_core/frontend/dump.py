"""Writing templates back to one self-contained YAML file (``CircuitTemplate.to_yaml``).

The file loads with ``CircuitTemplate.from_yaml("path/file.yaml/Name")`` into a circuit that
builds the same System. Matrix connections are written under the rates extension key
``connections`` (index arrays and per-connection attributes), never as N*N edges. Populations
(``populations: {label: {node, n, params}}``) and connectivity (``connectivity: [{source, target,
weights, delays, spread, edge}]``, matrices as ``{shape, rows, cols, data}`` of their nonzero
entries) are rates extension keys too; PyRates files never contain them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import yaml

from rates_core.errors import ModelError
from rates_core.frontend.names import MAX_NAME_LENGTH
from rates_core.frontend.templates import CircuitTemplate, OperatorGraph, OperatorTemplate
from rates_core.frontend.variables import Variable


def _declaration(var: Variable) -> Any:
    """The shortest declaration that reads back to ``var``."""
    if var.shape == () and var.dtype == "float":
        if var.kind == "constant":
            return var.value
        word = "variable" if var.kind == "state" else var.kind
        return f"{word}({var.value!r})"
    return var.to_declaration()


def _matrix(value: Any) -> Any:
    """A scalar as a number, a dense or sparse matrix as its nonzero entries."""
    if value is None or np.ndim(value) == 0 and not hasattr(value, "tocoo"):
        return _plain(value)
    if hasattr(value, "tocoo"):
        csr = value.tocsr(copy=True)
        csr.sum_duplicates()
        csr.eliminate_zeros()
        coo = csr.tocoo()
        rows, cols, data = coo.row, coo.col, coo.data
    else:
        rows, cols = np.nonzero(value)
        data = value[rows, cols]
    return {
        "shape": [int(d) for d in value.shape],
        "rows": rows.tolist(),
        "cols": cols.tolist(),
        "data": _plain(np.asarray(data)),
    }


def _plain(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return [_plain(v) for v in value.tolist()]
    if isinstance(value, (np.generic,)):
        return _plain(value.item())
    if isinstance(value, complex):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


class _Writer:
    def __init__(self) -> None:
        self.out: dict[str, Any] = {}
        self.ops: dict[str, OperatorTemplate] = {}
        self.names: dict[int, str] = {}

    def _name(self, base: str, obj: Any) -> str:
        if id(obj) in self.names:
            return self.names[id(obj)]
        name, k = base, 1
        while name in self.out:
            k += 1
            suffix = f"_{k}"  # the name stays within the grammar's length
            name = base[: MAX_NAME_LENGTH - len(suffix)] + suffix
        self.names[id(obj)] = name
        self.out[name] = None  # reserve
        return name

    def operator(self, op: OperatorTemplate) -> tuple[str, dict]:
        """Reference of the base operator plus the variable overrides this one needs."""
        base = self.ops.get(op.name)
        if base is None:
            self.ops[op.name] = op
            self.out[op.name] = {
                "base": "OperatorTemplate",
                "description": op.description,
                "equations": list(op.equations),
                "variables": {n: _declaration(v) for n, v in op.variables.items()},
            }
            return op.name, {}
        if base.structure() != op.structure():
            raise ModelError(
                f"two different operators share the name {op.name!r}; rename one to write YAML",
                template=op.name,
            )
        overrides = {n: _plain(v.value) for n, v in op.variables.items() if base.variables[n] != v}
        return op.name, overrides

    def graph(self, graph: OperatorGraph, cls_name: str) -> str:
        operators = {}
        for op in graph.operators.values():
            ref, overrides = self.operator(op)
            operators[ref] = overrides or None
        entry = {"base": cls_name, "description": graph.description, "operators": operators}
        for name, existing in self.out.items():
            if existing == entry and name.startswith(graph.name):
                return name
        name = self._name(graph.name, graph)
        self.out[name] = entry
        return name

    def circuit(self, circuit: CircuitTemplate, name: str | None = None) -> str:
        nodes = {label: self.graph(n, "NodeTemplate") for label, n in circuit.nodes.items()}
        circuits = {label: self.circuit(c) for label, c in circuit.circuits.items()}
        edges = []
        for e in circuit.edges:
            attrs = {}
            for key, val in e.attributes.items():
                if e.template is not None and key.startswith(e.template.name + "/"):
                    key = key[len(e.template.name) + 1 :]
                attrs[key] = _plain(val)
            template = self.graph(e.template, "EdgeTemplate") if e.template is not None else None
            edges.append([e.source, e.target, template, attrs])
        entry: dict[str, Any] = {"base": "CircuitTemplate", "description": circuit.description}
        if nodes:
            entry["nodes"] = nodes
        if circuits:
            entry["circuits"] = circuits
        if edges:
            entry["edges"] = edges
        if circuit.populations:
            entry["populations"] = {
                label: {
                    "node": self.graph(pop.node, "NodeTemplate"),
                    "n": pop.n,
                    **(
                        {"params": {k: _plain(v) for k, v in pop.params.items()}}
                        if pop.params
                        else {}
                    ),
                    **({"description": pop.description} if pop.description else {}),
                }
                for label, pop in circuit.populations.items()
            }
        if circuit.connectivity:
            conns = []
            for c in circuit.connectivity:
                item: dict[str, Any] = {
                    "source": c.source,
                    "target": c.target,
                    "weights": _matrix(c.weights),
                }
                if c.delays is not None:
                    item["delays"] = _matrix(c.delays)
                if c.spread is not None:
                    item["spread"] = _matrix(c.spread)
                if c.edge is not None:
                    item["edge"] = self.graph(c.edge, "EdgeTemplate")
                if c.edge_var_map:
                    item["edge_var_map"] = dict(c.edge_var_map)
                conns.append(item)
            entry["connectivity"] = conns
        if circuit.connections:
            entry["connections"] = [
                {
                    "source_var": c.source_var,
                    "target_var": c.target_var,
                    "source_nodes": list(c.source_nodes),
                    "target_nodes": list(c.target_nodes),
                    "rows": c.rows.tolist(),
                    "cols": c.cols.tolist(),
                    "template": self.graph(c.template, "EdgeTemplate") if c.template else None,
                    "attributes": {k: _plain(v) for k, v in c.attributes.items()},
                }
                for c in circuit.connections
            ]
        label = self._name(name or circuit.name, circuit)
        self.out[label] = entry
        return label


def write_yaml(
    circuit: CircuitTemplate, path: str | Path, name: str | None = None, overwrite: bool = False
) -> str:
    """Write ``circuit`` to ``path``; returns the template name to load it back with.

    An existing file is replaced only with ``overwrite=True``, and a symbolic link is never
    written through (:func:`rates_core.outputs.write_file`).
    """
    from rates_core.outputs import write_file

    writer = _Writer()
    top = writer.circuit(circuit, name)
    path = Path(path)
    text = yaml.safe_dump(writer.out, sort_keys=False, default_flow_style=None, width=100)
    header = f"# written by rates: load with CircuitTemplate.from_yaml('{path}/{top}')\n"
    write_file(path, header + text, overwrite=overwrite)
    return top
