"""Regressions found by the model generator (rates_core.testing.generator, issue 18), as fixed
small models checked on the System (no backend needed)."""

from __future__ import annotations

import numpy as np
import pytest

from rates_core import CircuitTemplate, EdgeTemplate, NodeTemplate, OperatorTemplate, build_system


def _twice_templated(n_edges: int = 2) -> CircuitTemplate:
    """Nodes ``a`` and ``b``; ``n_edges`` edges ``a/op/x -> b/op/u`` with the same linear edge
    template (the generator drew two projections over the same pair)."""
    op = OperatorTemplate(
        name="op",
        equations=["x' = -x + u"],
        variables={"x": "output(0.5)", "u": "input(0.0)"},
    )
    node = NodeTemplate(name="node", operators=[op])
    edge_op = OperatorTemplate(
        name="lin",
        equations=["r_out = c*r_e"],
        variables={"r_e": "input(0.0)", "r_out": "output(0.0)", "c": 0.8},
    )
    edge = EdgeTemplate(name="lin_edge", operators=[edge_op])
    circuit = CircuitTemplate(name="twice", nodes={"a": node, "b": node})
    return circuit.add_edges([("a/op/x", "b/op/u", edge, {"weight": 1.0})] * n_edges)


@pytest.mark.parametrize("vectorize", [False, True], ids=["flat", "vectorised"])
def test_repeated_templated_edges_all_count(vectorize: bool) -> None:
    """G4: two edges with the same template between the same variables are two edges (their
    outputs add up, as without a template); the second used to replace the first, because both
    got the label ``lin_edge[a/op/x->b/op/u]``."""
    system = build_system(_twice_templated(2), vectorize=vectorize)
    if vectorize:  # the separable template is folded into one coupling: both weights in it
        (w,) = [p for p in system.params if p.name.startswith("W_")]
        value = w.value.toarray() if hasattr(w.value, "toarray") else np.asarray(w.value)
        assert value.sum() == pytest.approx(2.0), system.summary()
    else:
        r_out = [a for a in system.algebraic if a.name.endswith("r_out")]
        assert len(r_out) == 2, system.summary()
