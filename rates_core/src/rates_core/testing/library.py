"""The model library as conformance cases: every template of ``rates_core.models`` as a
circuit, the capabilities it needs and the variables the suite compares
(``ConformanceSuite.test_model_library``)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from rates_core.cli import LibraryEntry, library_entries

#: Steps and step size of the library runs (time units of the models differ, so a small step).
LIBRARY_STEPS = 100
LIBRARY_DT = 1e-3

_DELAYED_READ = re.compile(r"\bpast\s*\(|\(\s*t\s*-")


def library_circuit(entry: LibraryEntry) -> Any:
    """The template of ``entry`` as a circuit: a circuit itself, a node in a one-node circuit, an
    operator in a one-operator node."""
    from rates_core import CircuitTemplate, NodeTemplate, OperatorTemplate, load_template

    template = load_template(entry.reference)
    if isinstance(template, OperatorTemplate):
        template = NodeTemplate(name=entry.template, operators=[template])
    if isinstance(template, NodeTemplate):
        template = CircuitTemplate(name=entry.template, nodes={"n": template})
    if not isinstance(template, CircuitTemplate):
        raise TypeError(f"{entry.reference}: a {entry.kind} cannot be simulated on its own")
    return template


def _nodes(circuit: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    for label, node in circuit.nodes.items():
        yield prefix + label, node
    for label, sub in circuit.circuits.items():
        yield from _nodes(sub, f"{prefix}{label}/")


def library_needs(circuit: Any) -> set[str]:
    """Capabilities a library circuit needs beyond ``execute``: ``complex`` for complex
    variables, ``dde`` for delayed edges or delayed reads."""
    needs = set()
    operators = [op for _, node in _nodes(circuit) for op in node.operators.values()]
    for _, edge in circuit.all_edges_with_owner():
        if edge.attributes.get("delay"):
            needs.add("dde")
        if edge.template is not None:
            operators += list(edge.template.operators.values())
    for op in operators:
        if any(v.dtype == "complex" for v in op.variables.values()):
            needs.add("complex")
        if any(_DELAYED_READ.search(eq) for eq in op.equations):
            needs.add("dde")
    return needs


def library_outputs(circuit: Any) -> dict[str, str]:
    """The output variable of every operator of every node of ``circuit``."""
    return {
        f"{path}/{label}/{op.output}": f"{path}/{label}/{op.output}"
        for path, node in _nodes(circuit)
        for label, op in node.operators.items()
        if op.output is not None
    }


LIBRARY = [e for e in library_entries() if e.kind != "edge"]


# --------------------------------------------------------------------------- references

#: The backend of the reference runs (unvectorised) and its solvers: a tight SciPy method for
#: the reference itself, and per order class (see checks.order_class) the fixed-step method
#: whose error sets the tolerance of a fixed-step solver of that class.
REFERENCE_BACKEND = "numpy"
REFERENCE_SOLVER = ("scipy", {"method": "DOP853", "rtol": 1e-12, "atol": 1e-12})
ORDER_SOLVERS = {1: "euler", 2: "heun", 4: "rk4"}
#: A fixed-step solver may be this many times less accurate than rates-numpy's method of its
#: order class (and is always allowed ERROR_FLOOR); adaptive solvers are allowed
#: ADAPTIVE_ERROR (asked for rtol 1e-10, atol 1e-12).
ERROR_FACTOR = 10.0
ERROR_FLOOR = 1e-9
ADAPTIVE_ERROR = 1e-7

_CACHE: dict[tuple[str, str], Any] = {}


def library_run(
    entry: LibraryEntry, backend: str, solver: str, options: dict[str, Any], **kwargs: Any
) -> Any:
    """``entry`` run for LIBRARY_STEPS steps of LIBRARY_DT (a DataFrame)."""
    circuit = library_circuit(entry)
    # only the states where delays are (algebraic variables of delayed systems cannot be
    # recorded yet)
    outputs = None if "dde" in library_needs(circuit) else library_outputs(circuit)
    return circuit.run(
        LIBRARY_STEPS * LIBRARY_DT,
        LIBRARY_DT,
        outputs=outputs,
        solver=solver,
        backend=backend,
        **options,
        **kwargs,
    )


def library_reference(entry: LibraryEntry, method: str | None = None) -> Any:
    """The reference run of ``entry`` (``method=None``) or rates-numpy's unvectorised run with
    the fixed-step ``method``; computed once per session."""
    key = (entry.reference, method or "")
    if key not in _CACHE:
        solver, options = (method, {}) if method else REFERENCE_SOLVER
        _CACHE[key] = library_run(entry, REFERENCE_BACKEND, solver, options, vectorize=False)
    return _CACHE[key]


def library_scale(reference: Any) -> Any:
    """Per column the largest magnitude of the reference, at least 1e-6 of the largest of all
    columns (a variable that stays 0 is compared on the scale of the others)."""
    import numpy as np

    values = np.abs(np.asarray(reference.to_numpy()))
    cols = np.max(values, axis=0)
    return np.maximum(cols, max(float(np.max(cols)) * 1e-6, 1e-12))


def library_tolerance(entry: LibraryEntry, order_class: int | None) -> float:
    """The error allowed of a solver of ``order_class`` (None: adaptive) on ``entry``: the
    relative error of rates-numpy's method of that class, times ERROR_FACTOR."""
    import numpy as np

    if order_class is None:
        return ADAPTIVE_ERROR
    reference = library_reference(entry)
    ours = library_reference(entry, ORDER_SOLVERS[order_class])
    err = np.abs(ours.to_numpy() - reference.to_numpy()) / library_scale(reference)
    return max(ERROR_FACTOR * float(np.max(err)), ERROR_FLOOR)
