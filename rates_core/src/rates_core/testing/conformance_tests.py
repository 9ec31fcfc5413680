"""The conformance suite for the backend named on the command line.

Collected automatically by ``pytest -p rates_core.testing --rates-backend NAME`` when no test
paths are given (or pass this file, e.g. ``--pyargs rates_core.testing.conformance_tests``).

Besides :class:`~rates_core.testing.suite.ConformanceSuite` it runs ``test_model_library``: every
template of the model library (``rates_core.models``) builds and simulates briefly.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from rates_core.cli import LibraryEntry, library_entries
from rates_core.plugins import SolverInfo
from rates_core.testing.suite import ConformanceSuite, uses_solvers

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


class TestConformance(ConformanceSuite):
    """The suite for ``--rates-backend`` (and ``--rates-solver``)."""

    @uses_solvers("one")
    @pytest.mark.parametrize("entry", LIBRARY, ids=[f"{e.file}.{e.template}" for e in LIBRARY])
    def test_model_library(self, entry: LibraryEntry, solver: SolverInfo) -> None:
        """Every template of rates_core.models builds and runs 100 steps with finite results
        (operators and nodes wrapped in a one-node circuit; complex and delayed models need
        the capability)."""
        circuit = library_circuit(entry)
        needs = library_needs(circuit)
        missing = self.target.missing(needs, solver)
        if missing:
            pytest.skip(f"{entry.reference} needs {', '.join(missing)}")
        # only the states where delays are (algebraic variables of delayed systems cannot be
        # recorded yet)
        outputs = None if "dde" in needs else library_outputs(circuit)
        frame = circuit.run(
            LIBRARY_STEPS * LIBRARY_DT,
            LIBRARY_DT,
            outputs=outputs,
            solver=solver.name,
            backend=self._backend,
            **self._options(solver),
        )
        assert len(frame) == LIBRARY_STEPS, f"{len(frame)} rows instead of {LIBRARY_STEPS}"
        values = frame.to_numpy()
        assert np.all(np.isfinite(values)), f"{entry.reference}: non-finite values"
