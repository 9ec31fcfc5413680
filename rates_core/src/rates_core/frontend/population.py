"""Population-scale building blocks: many identical units and vectorised connectivity.

:class:`PopulationTemplate` is ``n`` units of one :class:`NodeTemplate` with per-unit parameter
values, placed in a circuit without creating ``n`` node objects::

    exc = PopulationTemplate("exc", node=qif_pop, n=10_000,
                             params={"qif_op/eta": rng.standard_cauchy(10_000)})
    net = CircuitTemplate("net", populations={"exc": exc},
                          connectivity=[Connectivity("exc/qif_op/r", "exc/qif_op/r_in", W)])

Paths: inside a circuit a population is addressed like a node (``exc/qif_op/eta`` means every
unit), its units like the nodes of a sub-circuit labelled ``0 .. n-1`` (``exc/3/qif_op/eta``,
``exc/all/qif_op/eta``). ``circuit["exc"]`` is the PopulationTemplate, ``circuit["exc/3"]`` a
NodeTemplate of unit 3 made on demand. Per-unit values are arrays of length ``n``; values that
are equal for every unit collapse to one scalar.

:class:`Connectivity` connects two variable paths (populations, nodes or ``all`` patterns) with
a weight matrix (dense ``n_target x n_source`` array or scipy.sparse) or a scalar: a scalar is
global, all-to-all coupling computed as ``w * sum(source)`` (O(N) per step), never as a matrix.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rates_core.errors import ModelError
from rates_core.frontend.frozen import FrozenMap
from rates_core.frontend.names import check_name, check_path
from rates_core.frontend.templates import EdgeTemplate, NodeTemplate
from rates_core.frontend.variables import MAX_ELEMENTS, Variable, check_finite

_NUMPY = {"float": np.float64, "complex": np.complex128, "int": np.int64}


def _readonly(arr: Any, dtype: Any = None) -> np.ndarray:
    out = np.array(arr, dtype=dtype)
    out.flags.writeable = False
    return out


def _readonly_view(arr: np.ndarray) -> np.ndarray:
    """A read-only view of ``arr`` (no copy; ``arr`` itself stays as it is)."""
    out = np.asarray(arr).view()
    out.flags.writeable = False
    return out


def _is_sparse(value: Any) -> bool:
    return hasattr(value, "tocoo") and hasattr(value, "nnz")


# --------------------------------------------------------------------------- populations


@dataclass(frozen=True, eq=False)
class PopulationTemplate:
    """``n`` units of ``node`` with per-unit values ``params = {"op/var": scalar or (n,) array}``.

    Unlisted variables keep the node's value for every unit. Arrays whose elements are all
    equal are stored as one scalar; the others are read-only arrays of the variable's type.
    """

    name: str
    node: NodeTemplate
    n: int
    params: Mapping[str, Any] = field(default_factory=FrozenMap)
    description: str = ""
    path: str = ""

    def __post_init__(self) -> None:
        where = {"file": self.path or None, "template": self.name}
        check_name(self.name, "population name", **where)
        if not isinstance(self.node, NodeTemplate):
            raise ModelError(
                f"a population's node must be a NodeTemplate, got {self.node!r}", **where
            )
        n = self.n
        if (
            isinstance(n, bool)
            or not isinstance(n, (int, float, np.integer, np.floating))
            or not 1 <= n <= MAX_ELEMENTS  # also inf and nan
            or int(n) != n
        ):
            raise ModelError(
                f"a population needs a positive integer size n of at most {MAX_ELEMENTS}, "
                f"not {n!r}",
                **where,
            )
        object.__setattr__(self, "n", int(self.n))
        for op in self.node.operators.values():
            for vname, decl in op.variables.items():
                if decl.shape != ():
                    raise ModelError(
                        f"population units must have scalar variables; {op.name}/{vname} has "
                        f"shape {decl.shape}",
                        **where,
                    )
        node = self.node
        params: dict[str, Any] = {}
        for key, value in dict(self.params or {}).items():
            decl = self._declaration(str(key), node, where)
            op_label, _, var = str(key).partition("/")
            value, complex_value = self._normalise(str(key), value, decl, where)
            if complex_value and decl.dtype != "complex":
                node = node.update_var(op_label, var, complex(decl.value))
            params[str(key)] = value
        object.__setattr__(self, "node", node)
        object.__setattr__(self, "params", FrozenMap(params))

    @staticmethod
    def _declaration(key: str, node: NodeTemplate, where: dict) -> Variable:
        op, _, var = key.partition("/")
        if op not in node.operators or var not in node.operators[op].variables:
            raise ModelError(
                f"population parameter {key!r} is not an op/var of node {node.name!r}",
                variable=key,
                **where,
            )
        return node.operators[op].variables[var]

    def _normalise(self, key: str, value: Any, decl: Variable, where: dict) -> tuple[Any, bool]:
        arr = np.asarray(value)
        if arr.dtype.kind not in "biufc":
            raise ModelError(f"value for {key!r} is not numeric", variable=key, **where)
        try:
            check_finite(arr)
        except ValueError as exc:
            raise ModelError(f"value for {key!r}: {exc}", variable=key, **where) from None
        is_complex = np.iscomplexobj(arr)
        dtype = "complex" if is_complex or decl.dtype == "complex" else decl.dtype
        if arr.ndim == 0 or (arr.shape == (self.n,) and np.all(arr == arr.flat[0])):
            scalar = arr.flat[0] if arr.ndim else arr.item()
            return _NUMPY[dtype](scalar).item(), is_complex
        if arr.shape != (self.n,):
            raise ModelError(
                f"value for {key!r} has shape {arr.shape}; a population of {self.n} units "
                f"takes a scalar or an array of shape ({self.n},)",
                variable=key,
                **where,
            )
        return _readonly(arr, _NUMPY[dtype]), is_complex

    @classmethod
    def from_yaml(cls, reference: str) -> PopulationTemplate:
        """Load a ``base: PopulationTemplate`` entry (``{node, n, params}``) from YAML."""
        from rates_core.frontend.loader import load_template

        return load_template(reference, expected=cls)

    # ------------------------------------------------------------------ reading

    @property
    def size(self) -> int:
        return self.n

    def structure(self) -> tuple:
        return self.node.structure()

    def values(self, key: str) -> np.ndarray:
        """Per-unit values of ``op/var``: an array of shape ``(n,)`` of the declared type."""
        decl = self._declaration(key, self.node, {"template": self.name})
        value = self.params.get(key, decl.value)
        return np.broadcast_to(np.asarray(value, dtype=_NUMPY[decl.dtype]), (self.n,))

    def unit(self, k: int) -> NodeTemplate:
        """Unit ``k`` as a NodeTemplate with its own values (made on demand)."""
        k = int(k)
        if not 0 <= k < self.n:
            raise ModelError(
                f"population {self.name!r} has units 0..{self.n - 1}, not {k}", template=self.name
            )
        node = self.node
        for key, value in self.params.items():
            op, _, var = key.partition("/")
            node = node.update_var(op, var, value[k] if isinstance(value, np.ndarray) else value)
        return node

    def unit_labels(self, prefix: str = "") -> list[str]:
        return [f"{prefix}{k}" for k in range(self.n)]

    def __getitem__(self, key: Any) -> Any:
        """``"op"``: the operator; ``"op/var"``: the declaration with the population's value
        (a scalar when every unit shares it, else shape ``(n,)``); ``k`` or ``"k[/op/var]"``:
        unit ``k`` (or its variable)."""
        if isinstance(key, (int, np.integer)):
            return self.unit(int(key))
        head, _, rest = str(key).strip("/").partition("/")
        if head.isdigit():
            node = self.unit(int(head))
            return node[rest] if rest else node
        if not rest:
            return self.node[head]
        decl = self._declaration(str(key).strip("/"), self.node, {"template": self.name})
        value = self.params.get(str(key).strip("/"), decl.value)
        if isinstance(value, np.ndarray):
            return dataclasses.replace(decl, shape=(self.n,), value=tuple(value.tolist()))
        return dataclasses.replace(decl, value=value)

    # ------------------------------------------------------------------ edits (return copies)

    def update_var(self, *args: Any) -> PopulationTemplate:
        """``update_var("op/var", value)`` or ``update_var(op, var, value)``: a copy with new
        values (a scalar for every unit or an array of length n)."""
        if len(args) == 3:
            key, value = f"{args[0]}/{args[1]}", args[2]
        elif len(args) == 2:
            key, value = args
        else:
            raise TypeError("update_var(op/var, value) or update_var(op, var, value)")
        return self.with_params({key: value})

    def with_params(self, params: Mapping[str, Any]) -> PopulationTemplate:
        return dataclasses.replace(self, params=FrozenMap({**self.params, **dict(params)}))

    def with_unit_values(self, key: str, units: np.ndarray, values: Any) -> PopulationTemplate:
        """A copy where ``op/var`` of the given units takes ``values`` (scalar or per unit)."""
        current = self.values(key)
        new = np.array(current, dtype=np.result_type(current, np.asarray(values)))
        new[np.asarray(units, dtype=np.int64)] = values
        return self.with_params({key: new})


# --------------------------------------------------------------------------- connectivity


def _matrix(value: Any, what: str, where: dict) -> Any:
    """A scalar (Python number), a read-only 2-D ndarray or a scipy.sparse CSR matrix."""
    if value is None:
        return None
    if _is_sparse(value):
        import scipy.sparse as sp

        matrix = sp.csr_matrix(value, copy=True)
        _check_matrix_values(matrix.data, what, where)
        return matrix
    arr = np.asarray(value)
    if arr.dtype.kind not in "biufc":
        raise ModelError(f"connectivity {what} must be numeric, got {value!r}", **where)
    _check_matrix_values(arr, what, where)
    if arr.ndim == 0:
        return arr.item()
    if arr.ndim != 2:
        raise ModelError(
            f"connectivity {what} must be a scalar or a (targets x sources) matrix, "
            f"got shape {arr.shape}",
            **where,
        )
    return _readonly(arr)


def _check_matrix_values(arr: np.ndarray, what: str, where: dict) -> None:
    try:
        check_finite(arr)
    except ValueError as exc:
        raise ModelError(f"connectivity {what}: {exc}", **where) from None


@dataclass(frozen=True, eq=False)
class Connectivity:
    """Connections from every unit of ``source`` to every unit of ``target``.

    ``source`` / ``target`` are variable paths of the circuit the connectivity belongs to:
    ``population/op/var``, ``node/op/var``, ``pop/3/op/var`` or ``all`` patterns; their matches
    in circuit order are the columns / rows of the matrices.

    ``weights``: a dense ``(n_target, n_source)`` array or a scipy.sparse matrix (zero entries
    are no connection), or a scalar ``w`` for global coupling: every target receives
    ``w * sum(source)``. ``delays`` / ``spread`` (a delay distribution; docs/model_format.rst) are
    matrices read at the connections, or scalars for all of them; global coupling takes scalar
    delays only. ``edge``: an EdgeTemplate placed on every connection (matrix weights only).

    ``edge_var_map`` (PyRates's keyword) says what feeds each input variable of ``edge``:
    ``"source"`` (the source unit's value) or a path ``population/op/var`` of the target
    population (each connection reads its own target unit's ``op/var``), e.g.
    ``{"theta_s": "source", "theta_t": "exc/phase_op/theta"}`` for ``sin(theta_s - theta_t)``.
    Needed when the edge template has more than one input.
    """

    source: str
    target: str
    weights: Any = 1.0
    edge: EdgeTemplate | None = None
    delays: Any = None
    spread: Any = None
    edge_var_map: Mapping[str, str] | None = None

    def __post_init__(self) -> None:
        where = {"variable": f"{self.source} -> {self.target}"}
        for name in ("source", "target"):
            value = getattr(self, name)
            if not isinstance(value, str) or len(value.strip("/").split("/")) < 3:
                raise ModelError(
                    f"connectivity {name} must be a path population/op/var, got {value!r}", **where
                )
            check_path(value, f"connectivity {name}")
        if self.edge is not None and not isinstance(self.edge, EdgeTemplate):
            raise ModelError(f"connectivity edge must be an EdgeTemplate, got {self.edge!r}")
        if isinstance(self.delays, Mapping):
            raise ModelError(
                "connectivity delays must be numeric, got a mapping: PyRates's fifth positional "
                "argument is edge_var_map, rates's is delays; pass edge_var_map=..., delays=... "
                "and spread=... by name",
                **where,
            )
        weights = _matrix(self.weights, "weights", where)
        if weights is None:
            raise ModelError("connectivity weights must not be None", **where)
        delays = _matrix(self.delays, "delays", where)
        spread = _matrix(self.spread, "spread", where)
        object.__setattr__(self, "weights", weights)
        object.__setattr__(self, "delays", delays)
        object.__setattr__(self, "spread", spread)
        shape = None if np.ndim(weights) == 0 and not _is_sparse(weights) else weights.shape
        for what, value in (("delays", delays), ("spread", spread)):
            if value is None or (np.ndim(value) == 0 and not _is_sparse(value)):
                continue
            if shape is None:
                raise ModelError(
                    f"global coupling (scalar weights) takes a scalar {what}, not a matrix: "
                    "every target sees the same delayed sum of the sources",
                    **where,
                )
            if value.shape != shape:
                raise ModelError(
                    f"connectivity {what} has shape {value.shape}, the weights {shape}", **where
                )
        if shape is None and self.edge is not None:
            raise ModelError(
                "an edge template needs a weight matrix (one edge per connection), not global "
                "coupling",
                **where,
            )
        object.__setattr__(self, "edge_var_map", self._edge_inputs(where))

    def _edge_inputs(self, where: dict) -> FrozenMap | None:
        """``edge_var_map`` checked against the edge template's inputs, as a FrozenMap."""
        given = self.edge_var_map
        if self.edge is None:
            if given:
                raise ModelError(
                    "edge_var_map names the inputs of an edge template; give edge=EdgeTemplate",
                    **where,
                )
            return None
        inputs = {var: op for op, var in self.edge.free_inputs()}
        if not given:
            if len(inputs) > 1:
                raise ModelError(
                    f"edge template {self.edge.name!r} has the inputs {sorted(inputs)}: say "
                    "what feeds each with edge_var_map={name: 'source' or "
                    "'population/op/var' of the target}",
                    **where,
                )
            return None
        if not isinstance(given, Mapping):
            raise ModelError(f"edge_var_map must be a mapping, got {given!r}", **where)
        target_population = self.target.strip("/").rsplit("/", 2)[0]
        for name, feed in given.items():
            if name not in inputs:
                raise ModelError(
                    f"edge_var_map: {name!r} is not an input of edge template "
                    f"{self.edge.name!r} (inputs: {sorted(inputs)})",
                    **where,
                )
            if feed == "source":
                continue
            parts = feed.strip("/").rsplit("/", 2) if isinstance(feed, str) else []
            if len(parts) != 3 or parts[0] != target_population:
                raise ModelError(
                    f"edge_var_map[{name!r}] = {feed!r}: give 'source' or a variable "
                    f"{target_population}/op/var of the target population (each connection "
                    "reads its target unit's value)",
                    **where,
                )
            check_path(feed, "edge_var_map")
        return FrozenMap(dict(given))

    def edge_feeds(self, target_nodes: list[str], rows: np.ndarray) -> dict[str, Any]:
        """Edge attributes ``op/var -> "source"`` or one ``node/op/var`` path per connection
        (``rows`` index ``target_nodes``) that carry out ``edge_var_map``."""
        if not self.edge_var_map or self.edge is None:
            return {}
        inputs = {var: op for op, var in self.edge.free_inputs()}
        feeds: dict[str, Any] = {}
        for name, feed in self.edge_var_map.items():
            key = f"{inputs[name]}/{name}"
            if feed == "source":
                feeds[key] = "source"
                continue
            op_var = "/".join(feed.strip("/").rsplit("/", 2)[1:])
            paths = np.empty(len(rows), dtype=object)
            paths[:] = [f"{target_nodes[r]}/{op_var}" for r in rows]
            feeds[key] = paths
        return feeds

    @property
    def is_global(self) -> bool:
        """Scalar weights: all-to-all coupling through the sum of the sources."""
        return np.ndim(self.weights) == 0 and not _is_sparse(self.weights)

    @property
    def shape(self) -> tuple[int, int] | None:
        return None if self.is_global else tuple(self.weights.shape)

    def entries(self, min_weight: float = 0.0) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
        """``rows, cols, {"weight": w, "delay": d, "spread": s}`` of a matrix connectivity:
        the entries with ``abs(w) > min_weight`` sorted by (row, col); attributes per entry
        (or a scalar shared by all)."""
        rows, cols, w = matrix_entries(self.weights, self.weights.shape, min_weight, {})
        attributes: dict[str, Any] = {"weight": w}
        for key, value in (("delay", self.delays), ("spread", self.spread)):
            if value is not None:
                attributes[key] = read_at(value, rows, cols, self.weights.shape, key, {})
        return rows, cols, attributes

    def with_values(self, **changes: Any) -> Connectivity:
        """A copy with new ``weights`` / ``delays`` / ``spread`` / ``edge`` / ``edge_var_map``."""
        return dataclasses.replace(self, **changes)


def matrix_entries(
    weight: Any, shape: tuple[int, int], min_weight: float, where: dict
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows, columns and values of the entries of a dense or sparse weight matrix with
    ``abs(w) > min_weight``, sorted by (row, column); duplicates of a sparse matrix summed."""
    if _is_sparse(weight):
        if tuple(weight.shape) != tuple(shape):
            raise ModelError(f"weight matrix has shape {weight.shape}, expected {shape}", **where)
        csr = weight.tocsr()
        if not csr.has_canonical_format:  # the given matrix is never changed
            csr = csr.copy()
            csr.sum_duplicates()  # also sorts the columns of every row
        index = np.int32 if max(csr.shape) < 2**31 else np.int64
        rows = np.repeat(np.arange(csr.shape[0], dtype=index), np.diff(csr.indptr))
        keep = (csr.data != 0) if min_weight == 0 else (np.abs(csr.data) > min_weight)
        if keep.all():  # views of the matrix: no copy of a million entries
            rows, cols, w = rows, csr.indices, csr.data
        else:
            rows, cols, w = rows[keep], csr.indices[keep], csr.data[keep]
        return _readonly_view(rows), _readonly_view(cols), _readonly_view(w)
    else:
        weight = np.asarray(weight)
        if weight.shape != tuple(shape):
            raise ModelError(
                f"weight matrix has shape {weight.shape}, expected {shape} (targets x sources)",
                **where,
            )
        rows, cols = np.nonzero(np.abs(weight) > min_weight)  # row-major: sorted
        w = weight[rows, cols]
    return _readonly(rows, np.int64), _readonly(cols, np.int64), _readonly(w)


def read_at(
    value: Any, rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int], key: str, where: dict
) -> Any:
    """An edge attribute at the given entries: a matrix is read there (a sparse one without
    densifying it), a scalar is kept."""
    if _is_sparse(value):
        if value.shape != tuple(shape):
            raise ModelError(
                f"edge attribute {key!r} has shape {value.shape}, expected {shape}", **where
            )
        return _readonly(np.asarray(value.tocsr()[rows, cols]).reshape(-1))
    arr = np.asarray(value)
    if arr.ndim == 2:
        if arr.shape != tuple(shape):
            raise ModelError(
                f"edge attribute {key!r} has shape {arr.shape}, expected {shape}", **where
            )
        return _readonly(arr[rows, cols])
    if arr.ndim == 0:
        return value
    raise ModelError(f"edge attribute {key!r} must be a scalar or a matrix", **where)
