"""White noise xi(): parse-time checks, the drift / diffusion split, solver checks (no backend
needed here; the SDE solvers are tested in rates-numpy and by the conformance suite)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import sympy

from rates_core import builtins, noise
from rates_core.equations import parse_equation
from rates_core.errors import EquationError, ModelError, SolverError
from rates_core.frontend.templates import CircuitTemplate, NodeTemplate, OperatorTemplate
from rates_core.plugins import SolverInfo
from rates_core.system import build_system

VARS = {"x": "float", "a": "float", "s": "float"}


def _circuit(equations: list[str], n: int = 1, **values: object) -> CircuitTemplate:
    variables = {"x": "output(0.0)", "z": "variable(0.0)", "s": 0.5, **values}
    op = OperatorTemplate(name="op", equations=equations, variables=variables)
    node = NodeTemplate(name="node", operators=[op])
    return CircuitTemplate(name="c", nodes={f"p{i}": node for i in range(n)})


@pytest.mark.parametrize(
    ("equation", "message"),
    [
        ("a = s*xi()", "only appear in a differential equation"),
        ("x' = xi()**2", "must enter linearly"),
        ("x' = sin(xi())", "must enter linearly"),
        ("x' = x*xi()*xi()", "must enter linearly"),
        ("x' = past(s*xi(), 1)", "cannot be delayed"),
    ],
)
def test_misplaced_noise_is_an_equation_error(equation: str, message: str) -> None:
    with pytest.raises(EquationError, match=message) as info:
        parse_equation(equation, VARS, file="m.yaml", template="op")
    assert (info.value.file, info.value.template) == ("m.yaml", "op")
    assert info.value.variable in ("x", "a")


def test_repeated_xi_is_one_wiener_process() -> None:
    eq = parse_equation("x' = -x + s*xi() + 2*xi()", VARS)
    assert eq.rhs.coeff(builtins.Xi()) == sympy.Symbol("s", real=True) + 2


def test_split_gives_drift_and_diffusion() -> None:
    system = build_system(_circuit(["x' = -x + s*x*xi()", "z' = -z"], n=3))
    assert noise.has_noise(system)
    parts = noise.split(system)
    assert not noise.has_noise(parts.drift) and not noise.has_noise(parts.diffusion)
    drift = dict(parts.drift.derivatives)
    diffusion = dict(parts.diffusion.derivatives)
    x = system.state("x").symbol
    s = system.param("s").symbol
    assert sympy.simplify(drift["x"] + x) == 0
    assert diffusion["z"] == 0 and sympy.simplify(diffusion["x"] - s * x) == 0
    # only x drives noise: its 3 units, in state order
    assert parts.sources.tolist() == list(range(system.state("x").start, system.state("x").stop))
    assert noise.noise_sources(system) == [f"p{i}/op/x" for i in range(3)]
    assert parts.drift.params == system.params and parts.drift.algebraic == system.algebraic


def test_diffusion_computes_only_the_algebraic_updates_it_reads() -> None:
    """The diffusion keeps the updates its noise terms read (and what those read), in order;
    the drift keeps every update (a coupling sum is not computed again for the noise)."""
    circuit = _circuit(
        ["x' = -x + c + g*xi()", "c = 2*z", "g = h*s", "h = 1 + 0*x", "z' = -z"],
        c="variable(0.0)",
        g="variable(0.0)",
        h="variable(0.0)",
    )
    system = build_system(circuit)
    parts = noise.split(system)
    assert parts.drift.algebraic == system.algebraic
    assert [a.name for a in parts.diffusion.algebraic] == ["h", "g"]
    assert [a.name for a in system.algebraic if a.name in ("h", "g")] == ["h", "g"]


def _mixed_circuit() -> CircuitTemplate:
    """Two lone nodes, then a population of 3 units with noise on two variables (x, v)."""
    from rates_core.frontend.population import PopulationTemplate

    op = OperatorTemplate(
        name="op",
        equations=["x' = -x + s*x*xi()", "v' = -v + x + s*xi()", "w' = -w"],
        variables={"x": "output(0.1)", "v": "variable(0.0)", "w": "variable(0.0)", "s": 0.5},
    )
    node = NodeTemplate(name="node", operators=[op])
    return CircuitTemplate(
        name="c",
        nodes={"b": node, "a": node},
        populations={"P": PopulationTemplate(name="pop", node=node, n=3)},
    )


@pytest.mark.parametrize("vectorize", [False, True])
def test_noise_sources_go_node_by_node_whatever_the_layout(vectorize: bool) -> None:
    """Noise sources (the columns of given increments and of the seeded draws) go node by node
    in the circuit's order, a node's variables in equation order, so vectorised and
    unvectorised runs of one circuit drive each unit alike. The vectorised System used to list
    every unit's x before any v: increments given for one layout moved other units in the
    other, and one seed gave other paths."""
    system = build_system(_mixed_circuit(), vectorize=vectorize)
    nodes = ["b", "a", "P/0", "P/1", "P/2"]
    want = [f"{node}/op/{var}" for node in nodes for var in ("x", "v")]
    assert noise.noise_sources(system) == want
    parts = noise.split(system)
    paths = {}
    for st in system.states:
        for i in range(st.size):
            paths[st.start + i] = str(list(st.paths)[i])
    assert [paths[k] for k in parts.sources.tolist()] == want


def test_noise_sources_of_a_system_without_circuit_keep_equation_order() -> None:
    with_circuit = build_system(_mixed_circuit(), vectorize=True)
    system = dataclasses.replace(with_circuit, ir=None)
    noisy = [system.state(name) for name, rhs in system.derivatives if rhs.has(builtins.Xi)]
    want = [k for state in noisy for k in range(state.start, state.stop)]
    assert noise.split(system).sources.tolist() == want
    assert noise.split(with_circuit).sources.tolist() != want  # there: node by node


def test_split_refuses_nonlinear_noise_built_by_hand() -> None:
    system = build_system(_circuit(["x' = -x", "z' = -z"]))
    name, rhs = system.derivatives[0]
    derivatives = ((name, rhs + builtins.Xi() ** 2), *system.derivatives[1:])
    system = dataclasses.replace(system, derivatives=derivatives)  # the System is frozen
    with pytest.raises(ModelError, match="linearly") as info:
        noise.split(system)
    assert info.value.variable == "p0/op/x"


class _Host:
    """The two host calls check_solver makes."""

    def __init__(self, capabilities: dict[str, set[str]]) -> None:
        self.caps = capabilities

    def backend_info(self, name: str) -> object:
        return type("Info", (), {"capabilities": frozenset(self.caps[name])})()

    def backends(self) -> dict[str, tuple[object, None]]:
        return {n: (self.backend_info(n), None) for n in self.caps}


def test_solver_checks_name_the_sde_methods() -> None:
    system = build_system(_circuit(["x' = -x + s*xi()", "z' = -z"]))
    host = _Host({"plain": set(), "numpy": {"sde"}})
    euler = SolverInfo("euler", "numpy", adaptive=False)
    em = SolverInfo("euler_maruyama", "numpy", adaptive=False, capabilities={"sde"})
    with pytest.raises(SolverError, match="backend 'plain' has none.*'numpy'"):
        noise.check_solver(system, host, "plain", euler)
    with pytest.raises(SolverError, match="'euler' integrates ODEs only.*euler_maruyama"):
        noise.check_solver(system, host, "numpy", euler)
    with pytest.raises(SolverError, match=r"xi\(\) in the equation of p0/op/x\)"):
        noise.check_solver(system, host, "numpy", euler)  # the variable's path, not its name
    noise.check_solver(system, host, "numpy", em)
    quiet = build_system(_circuit(["x' = -x", "z' = -z"]))
    noise.check_solver(quiet, host, "plain", euler)  # no noise: nothing to check


def test_noise_with_delays_needs_sde_delays() -> None:
    """A backend with SDE methods but without the capability sde_delays refuses a delayed
    noisy model, naming the backends that have it; one with it integrates it."""
    system = build_system(_circuit(["x' = -x + s*xi() + past(x, 0.5)", "z' = -z"]))
    em = SolverInfo("euler_maruyama", "numpy", adaptive=False, capabilities={"sde"})
    host = _Host({"plain": {"sde"}, "numpy": {"sde", "sde_delays"}})
    with pytest.raises(SolverError, match="'plain' has no SDE methods for delayed.*'numpy'"):
        noise.check_solver(system, host, "plain", em)
    noise.check_solver(system, host, "numpy", em)


def test_xi_is_reserved_and_has_no_arguments() -> None:
    assert "xi" in builtins.RESERVED_NAMES
    with pytest.raises(EquationError, match="xi"):
        parse_equation("x' = xi(1)", VARS)
    assert np.isclose(float(builtins.FUNCTION_ARITY["xi"][1] or 0), 0.0)


def test_solve_without_noise_runs_the_deterministic_method() -> None:
    """The kit's branch every SDE solver takes for a model without xi(): the ODE method's run,
    labelled with the SDE solver; None with noise; increments without noise are an error."""
    from types import SimpleNamespace

    calls: list[str] = []

    def solve_ode(name, function, problem):  # a stand-in backend's ODE solve
        calls.append(name)
        return SimpleNamespace(info={"solver": name})

    plain = SimpleNamespace(extras={})
    problem = SimpleNamespace(wiener_increments=None)
    traj = noise.solve_without_noise("em", plain, problem, solve_ode, "euler")  # type: ignore[arg-type]
    assert calls == ["euler"]
    assert traj is not None and traj.info == {"solver": "em", "noise_sources": 0}
    noisy = SimpleNamespace(extras={"diffusion": object()})
    assert noise.solve_without_noise("em", noisy, problem, solve_ode, "euler") is None  # type: ignore[arg-type]
    given = SimpleNamespace(wiener_increments=[0.0])
    with pytest.raises(SolverError, match="no noise"):
        noise.solve_without_noise("em", plain, given, solve_ode, "euler")  # type: ignore[arg-type]
    assert calls == ["euler"]


def test_wiener_increments_are_one_stream_however_read() -> None:
    """Step by step (blocks of block_rows steps) and in row ranges of any length, the same seed
    gives the same increments: sqrt(dt) times default_rng(seed)'s standard normals in order."""
    from rates_core.backend import Problem

    problem = Problem(np.zeros(3), [], 0.0, 0.25, 0.01, 0.01, 1, seed=9)
    steps = noise.WienerIncrements(problem, 3)
    by_step = np.array([steps(k) for k in range(problem.n_steps)])
    ranges = noise.WienerIncrements(problem, 3)
    cuts = [0, 1, 7, 8, problem.n_steps]
    by_rows = np.vstack([ranges.rows(a, b) for a, b in zip(cuts, cuts[1:])])
    want = np.random.default_rng(9).standard_normal((problem.n_steps, 3)) * 0.1
    np.testing.assert_allclose(by_step, want, rtol=1e-15)
    np.testing.assert_array_equal(by_rows, by_step)
    given = np.ones((problem.n_steps, 3))
    read = noise.WienerIncrements(dataclasses.replace(problem, wiener_increments=given), 3)
    np.testing.assert_array_equal(read(4), given[4])
    np.testing.assert_array_equal(read.rows(2, 5), given[2:5])
    with pytest.raises(SolverError, match="wiener_increments has shape"):
        noise.WienerIncrements(dataclasses.replace(problem, wiener_increments=given[:, :2]), 3)
