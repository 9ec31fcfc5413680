"""rates_core.pipeline: the Problem every entry point makes, and the rule that modules use
each other's public names only."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

from rates_core.errors import ModelError
from rates_core.pipeline import make_problem
from rates_core.system import build_system
from rates_core.testing import combinations as cb

ROOT = Path(__file__).resolve().parents[2]


def _private_imports(path: Path) -> list[str]:
    """``module._name`` for every ``from rates... import _name`` in ``path``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("rates"):
            found += [
                f"{node.module}.{alias.name}"
                for alias in node.names
                if alias.name.startswith("_") and alias.name != "__version__"
            ]
    return found


def test_no_module_imports_private_names_of_another():
    sources = [*ROOT.glob("rates_core/src/**/*.py"), *ROOT.glob("plugins/*/src/**/*.py")]
    assert len(sources) > 50
    found = {str(p.relative_to(ROOT)): names for p in sources if (names := _private_imports(p))}
    assert found == {}


def test_make_problem_sets_up_a_run():
    """Input rows one per step, the initial state from the user's dict, kernel stages at 0
    for history="zero", fresh copies of the input parameters and the pre-history."""
    circuit = cb.spread_edge_circuit()
    system = build_system(circuit, vectorize=False, inputs=["a/qif_op/r_in"])
    rows = np.linspace(0.0, 1.0, 100)
    problem = make_problem(
        circuit,
        system,
        simulation_time=1.0,
        step_size=0.01,
        sampling_step=0.1,
        inputs={"a/qif_op/r_in": rows},
        initial_state={"a/qif_op/v": -1.5},
        history="zero",
        options={"rtol": 1e-6},
        seed=3,
    )
    (name,) = problem.inputs
    np.testing.assert_array_equal(problem.inputs[name], rows)
    np.testing.assert_allclose(problem.input_times, np.arange(100) * 0.01, rtol=0, atol=1e-15)
    assert problem.n_samples == 10 and problem.seed == 3 and problem.options == {"rtol": 1e-6}
    v = system.state(system.label_map["a/qif_op/v"][0])
    assert problem.y0[v.start] == -1.5
    kernels = [s for s in system.states if s.kernel]
    assert kernels and all(not problem.y0[s.start : s.stop].any() for s in kernels)
    np.testing.assert_array_equal(problem.history(-1.0), np.zeros(system.n_states))
    i = [p.name for p in system.params].index(name)
    assert problem.params[i] is not system.params[i].value


def test_make_problem_names_a_bad_input():
    circuit = cb.spread_edge_circuit()
    system = build_system(circuit, vectorize=False, inputs=["a/qif_op/r_in"])
    with pytest.raises(ModelError, match="one per step"):
        make_problem(
            circuit,
            system,
            simulation_time=1.0,
            step_size=0.01,
            sampling_step=0.1,
            inputs={"a/qif_op/r_in": np.zeros(7)},
        )
