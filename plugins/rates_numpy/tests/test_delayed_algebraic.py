"""Recording algebraic variables of delayed systems (issue 22): those that read no delayed
value are evaluated from the sampled states like in any system; those that do are a
ModelError naming the variable, the delayed source and the workarounds."""

from __future__ import annotations

import numpy as np
import pytest

from rates_core.errors import ModelError
from rates_core.frontend.templates import CircuitTemplate, NodeTemplate, OperatorTemplate


def _circuit(n: int = 2) -> CircuitTemplate:
    """``n`` nodes ``x' = -x + tanh(u)`` with ``s = x^2`` and ``q = x + u``, in a delayed
    ring: ``x`` of node i drives ``u`` of node i+1 (delay 0.3), and ``s`` of the last node
    drives ``u`` of the first (delay 0.2, an algebraic variable kept in the history)."""
    op = OperatorTemplate(
        name="op",
        equations=["x' = -x + tanh(u)", "s = x^2", "q = x + u"],
        variables={
            "x": "output(0.5)",
            "s": "variable(0.0)",
            "q": "variable(0.0)",
            "u": "input(0.0)",
        },
    )
    node = NodeTemplate(name="n", operators=[op])
    labels = [f"p{i}" for i in range(n)]
    circuit = CircuitTemplate(name="ring", nodes={lb: node for lb in labels})
    edges = [
        (f"{a}/op/x", f"{b}/op/u", None, {"weight": 2.0, "delay": 0.3})
        for a, b in zip(labels[:-1], labels[1:])
    ]
    edges.append((f"{labels[-1]}/op/s", "p0/op/u", None, {"weight": -0.5, "delay": 0.2}))
    return circuit.add_edges(edges)


@pytest.mark.parametrize(
    ("n", "vectorize", "options"),
    [
        (2, False, {"solver": "rk4"}),
        (6, True, {"solver": "heun"}),
        (2, False, {"solver": "scipy", "rtol": 1e-9, "atol": 1e-9}),
    ],
)
def test_an_algebraic_variable_without_delayed_reads_is_recorded(n, vectorize, options):
    """``s = x^2`` equals the recorded ``x`` squared at every sample, to 1e-12."""
    frame = _circuit(n).run(
        2.0, 1e-3, vectorize=vectorize, outputs={"s": "all/op/s", "x": "all/op/x"}, **options
    )
    s, x = frame["s"].to_numpy(), frame["x"].to_numpy()
    assert s.shape == (2000, n) and np.ptp(x) > 0.1
    np.testing.assert_allclose(s, x**2, rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    ("path", "match"),
    [
        ("p1/op/q", r"cannot record 'p1/op/q': it reads the delayed value of 'p0/op/x' \(through"),
        ("p0/op/u", r"cannot record 'p0/op/u': it reads the delayed value of 'p1/op/s'"),
    ],
)
def test_an_algebraic_variable_reading_a_delay_is_named_with_the_workaround(path, match):
    with pytest.raises(ModelError, match=match) as err:
        _circuit().run(1.0, 1e-3, solver="rk4", outputs={"q": path})
    assert "delay_approximation=n" in str(err.value)


def test_the_workaround_delay_approximation_records_it():
    frame = _circuit().run(1.0, 1e-3, solver="rk4", outputs={"q": "p1/op/q"}, delay_approximation=8)
    assert np.isfinite(frame["q"].to_numpy()).all()
