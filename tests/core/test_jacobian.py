"""Tests of the symbolic Jacobian (rates_core.jacobian).

Every Jacobian is checked against central finite differences of the vector field. The field is
evaluated twice: from the scalarised expressions (``vector_field_function``) and, independently,
by a small vectorised NumPy evaluator of the System below, so the scalarisation is checked too.
Finite differences: step ``h_j = 1e-6 * max(|x_j|, floor)``; Jacobians must agree to
``rtol=1e-6`` with ``atol=1e-7 * max|J|`` (entries far below the largest one are at the level
of the finite-difference error).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import sympy

from rates_core import CircuitTemplate, ModelError, NodeTemplate, OperatorTemplate, build_system
from rates_core.builtins import function_table
from rates_core.jacobian import (
    DIFFERENTIABLE_ROLES,
    jacobian_function,
    system_jacobian,
    vector_field_function,
)
from rates_core.system import System

RTOL = 1e-6
STEP = 1e-6

# --------------------------------------------------------------------------- models


def _qif_op() -> OperatorTemplate:
    return OperatorTemplate(
        name="qif_op",
        equations=[
            "r' = (Delta/(pi*tau) + 2.0*r*v) / tau",
            "v' = (v^2 + eta + I_ext + tau*r_in - (pi*tau*r)^2) / tau",
        ],
        variables={
            "r": "output(0.01)",
            "v": "variable(-2.0)",
            "Delta": 1.0,
            "tau": 1.0,
            "eta": -5.0,
            "I_ext": "input(0.0)",
            "r_in": "input(0.0)",
        },
    )


def _qif() -> CircuitTemplate:
    node = NodeTemplate(name="qif_pop", operators=[_qif_op()])
    return CircuitTemplate(
        name="qif",
        nodes={"p": node},
        edges=[("p/qif_op/r", "p/qif_op/r_in", None, {"weight": 15.0})],
    )


W3 = np.array([[0.0, 1.5, -2.0], [3.0, 0.0, 0.5], [-1.0, 2.5, 0.0]])


def _qif_network(**edge_attr: Any) -> CircuitTemplate:
    node = NodeTemplate(name="qif_pop", operators=[_qif_op()])
    nodes = ["a", "b", "c"]
    c = CircuitTemplate(name="qif_net", nodes={n: node for n in nodes})
    return c.add_edges_from_matrix(
        "qif_op/r", "qif_op/r_in", nodes, weight=W3, edge_attr=edge_attr or None
    )


def _jansen_rit() -> CircuitTemplate:
    def rpo(name: str, h: float, tau: float, extra: bool = False) -> OperatorTemplate:
        drive = "(m_in + u)" if extra else "m_in"
        variables: dict[str, Any] = {
            "v": "output(0.0)",
            "x": "variable(0.0)",
            "h": h,
            "tau": tau,
            "m_in": "input(0.0)",
        }
        if extra:
            variables["u"] = "input(220.0)"
        return OperatorTemplate(
            name=name,
            equations=["v' = x", f"x' = h*{drive}/tau - 2*x/tau - v/tau^2"],
            variables=variables,
        )

    pro = OperatorTemplate(
        name="pro",
        equations=["m = m_max*sigmoid(s*(v - v_thr))"],
        variables={"m": "output(0.0)", "m_max": 5.0, "s": 560.0, "v_thr": 6e-3, "v": "input(0.0)"},
    )
    pc = NodeTemplate(
        name="PC",
        operators=[rpo("rpo_e_in", 3.25e-3, 10e-3, True), rpo("rpo_i", -22e-3, 20e-3), pro],
    )
    inter = NodeTemplate(name="IN", operators=[rpo("rpo_e", 3.25e-3, 10e-3), pro])
    return CircuitTemplate(
        name="jrc",
        nodes={"pc": pc, "ein": inter, "iin": inter},
        edges=[
            ("pc/pro/m", "ein/rpo_e/m_in", None, {"weight": 135.0}),
            ("pc/pro/m", "iin/rpo_e/m_in", None, {"weight": 33.75}),
            ("ein/pro/m", "pc/rpo_e_in/m_in", None, {"weight": 108.0}),
            ("iin/pro/m", "pc/rpo_i/m_in", None, {"weight": 33.75}),
        ],
    )


def _complex_network(equation: str) -> CircuitTemplate:
    op = OperatorTemplate(
        name="osc_op",
        equations=[equation],
        variables={
            "z": "output(0.5+0.1j)",
            "omega": 10.0,
            "Delta": 1.0,
            "z_in": "input(complex)",
        },
    )
    node = NodeTemplate(name="osc", operators=[op])
    c = CircuitTemplate(name="osc_net", nodes={"p1": node, "p2": node})
    return c.add_edges_from_matrix(
        "osc_op/z", "osc_op/z_in", ["p1", "p2"], weight=np.array([[0.0, 0.7], [1.3, 0.0]])
    )


# --------------------------------------------------------------------------- helpers


def _param_values(system: System) -> list[Any]:
    return [p.value for p in system.params]


def _vectorised_field(system: System) -> Callable[..., np.ndarray]:
    """An evaluator of the *vectorised* System, independent of the scalarisation."""
    modules = [
        {
            "Matvec": lambda w, x: w @ np.broadcast_to(x, (w.shape[1],)),
            "Index": lambda x, i: np.atleast_1d(x)[i],
            "VSum": lambda x, *axis: np.sum(x),
            "Mean": lambda x, *axis: np.mean(x),
            "Maxi": lambda a, *b: np.maximum(a, b[0]) if b else np.max(a),
            "Mini": lambda a, *b: np.minimum(a, b[0]) if b else np.min(a),
            "Greater": lambda a, b: 1.0 * np.greater(a, b),
        },
        "numpy",
    ]
    env_syms = (
        [s.symbol for s in system.states]
        + [p.symbol for p in system.params]
        + [d.symbol for d in system.delayed]
        + [a.symbol for a in system.algebraic]
    )
    t = sympy.Symbol("t", real=True)
    algebraic = [sympy.lambdify([t, *env_syms], a.expr, modules) for a in system.algebraic]
    derivs = [sympy.lambdify([t, *env_syms], e, modules) for _, e in system.derivatives]

    def field(t_val: float, y: np.ndarray, *params: Any, delayed: dict | None = None) -> np.ndarray:
        env: list[Any] = [y[s.start : s.stop] if s.size > 1 else y[s.start] for s in system.states]
        env += list(params)
        env += [(delayed or {})[d.name] for d in system.delayed]
        env += [None] * len(system.algebraic)
        offset = len(env) - len(system.algebraic)
        for k, fn in enumerate(algebraic):
            env[offset + k] = fn(t_val, *env)
        dy = np.zeros(system.n_states, dtype=complex if system.is_complex else float)
        for s, fn in zip(system.states, derivs):
            dy[s.start : s.stop] = fn(t_val, *env)
        return dy

    return field


def _fd_jacobian(
    field: Callable[..., np.ndarray], t: float, y: np.ndarray, params: list, floor: float, **kw: Any
) -> np.ndarray:
    """Central differences d field / d y, column by column."""
    cols = []
    for j in range(y.size):
        h = STEP * max(abs(y[j]), floor)
        e = np.zeros_like(y)
        e[j] = h
        cols.append((field(t, y + e, *params, **kw) - field(t, y - e, *params, **kw)) / (2 * h))
    return np.stack(cols, axis=1)


def _fd_params(
    system: System, field: Callable[..., np.ndarray], t: float, y: np.ndarray, **kw: Any
) -> np.ndarray:
    """Central differences d field / d p over the entries of the differentiable parameters."""
    values = [
        np.array(v, dtype=complex if np.iscomplexobj(v) else float, copy=True)
        for v in _param_values(system)
    ]
    values = [
        v if p.role not in ("matrix", "index") else p.value for v, p in zip(values, system.params)
    ]
    cols = []
    for k, p in enumerate(system.params):
        if p.role not in DIFFERENTIABLE_ROLES:
            continue
        base = values[k]
        for i in range(max(base.size, 1)):
            h = STEP * max(abs(base.reshape(-1)[i]), 1e-2)
            plus, minus = base.copy().reshape(-1), base.copy().reshape(-1)
            plus[i] += h
            minus[i] -= h
            args_p = values[:k] + [plus.reshape(base.shape)] + values[k + 1 :]
            args_m = values[:k] + [minus.reshape(base.shape)] + values[k + 1 :]
            cols.append((field(t, y, *args_p, **kw) - field(t, y, *args_m, **kw)) / (2 * h))
    return np.stack(cols, axis=1)


def _assert_jacobian(actual: np.ndarray, expected: np.ndarray) -> None:
    scale = max(float(np.abs(expected).max()), 1.0)
    np.testing.assert_allclose(actual, expected, rtol=RTOL, atol=1e-7 * scale)


def _check_system(system: System, y: np.ndarray, floor: float, t: float = 0.3) -> None:
    """Field, d f / d y and d f / d p of ``system`` at ``y`` against the independent evaluator."""
    params = _param_values(system)
    jac = system_jacobian(system)
    reference = _vectorised_field(system)
    field = vector_field_function(system, jacobian=jac)
    np.testing.assert_allclose(field(t, y, *params), reference(t, y, *params), rtol=1e-12)
    J = jacobian_function(system, jacobian=jac)(t, y, *params)
    _assert_jacobian(J, _fd_jacobian(reference, t, y, params, floor))
    Jp = jacobian_function(system, wrt="params", jacobian=jac)(t, y, *params)
    assert Jp.shape == (system.n_states, len(jac.params))
    _assert_jacobian(Jp, _fd_params(system, reference, t, y))


# --------------------------------------------------------------------------- tests


def test_qif_single_node_matches_hand_derivation() -> None:
    system = build_system(_qif())
    jac = system_jacobian(system)
    r, v = jac.y
    assert [s.name for s in jac.y] == ["r", "v"]
    syms = {s.name: s for s in jac.params}
    tau, w = syms["tau"], syms["w_r_in_from_r"]
    expected = sympy.Matrix(
        [[2.0 * v / tau, 2.0 * r / tau], [w - 2 * sympy.pi**2 * r * tau, 2 * v / tau]]
    )
    assert sympy.simplify(sympy.Matrix(jac.dfdy) - expected) == sympy.zeros(2, 2)
    # d f_v / d eta = 1 / tau, nothing else depends on eta
    k = jac.params.index(syms["eta"])
    assert sympy.simplify(jac.dfdp[1, k] - 1 / tau) == 0 and jac.dfdp[0, k] == 0
    _check_system(system, np.array([0.4, -1.3]), floor=1.0)


def test_qif_network_dense_coupling_and_extrinsic_input() -> None:
    system = build_system(_qif_network(), inputs=["all/qif_op/I_ext"])
    assert any(p.role == "matrix" for p in system.params)
    jac = system_jacobian(system)
    assert [s.name for s in jac.y] == ["r[0]", "r[1]", "r[2]", "v[0]", "v[1]", "v[2]"]
    assert {"I_ext_input[0]", "I_ext_input[1]", "I_ext_input[2]"} <= {s.name for s in jac.params}
    # sparsity follows the coupling matrix: d v_i / d r_j != 0 iff W[i, j] != 0 or i == j
    block = np.array([[jac.dfdy[3 + i, j] != 0 for j in range(3)] for i in range(3)])
    np.testing.assert_array_equal(block, (W3 != 0) | np.eye(3, dtype=bool))
    rng = np.random.default_rng(1)
    y = np.concatenate([rng.uniform(0.1, 1.0, 3), rng.uniform(-2.0, 1.0, 3)])
    _check_system(system, y, floor=1.0)

    # same numbers as the unvectorised build, states matched by their paths
    flat = build_system(_qif_network(), inputs=["all/qif_op/I_ext"], vectorize=False)
    where = {path: s.start + i for s in flat.states for i, path in enumerate(s.paths)}
    perm = [where[path] for s in system.states for path in s.paths]
    y_flat = np.empty_like(y)
    y_flat[perm] = y
    J = jacobian_function(system)(0.0, y, *_param_values(system))
    J_flat = jacobian_function(flat)(0.0, y_flat, *_param_values(flat))
    np.testing.assert_allclose(J, J_flat[np.ix_(perm, perm)], rtol=1e-12)


def test_jansen_rit_three_populations_with_sigmoid() -> None:
    system = build_system(_jansen_rit())
    rng = np.random.default_rng(2)
    y = np.empty(system.n_states)
    for s in system.states:
        lo, hi = (0.001, 0.011) if s.name.endswith("_v") or s.name == "v" else (-0.1, 0.1)
        y[s.start : s.stop] = rng.uniform(lo, hi, s.size)
    _check_system(system, y, floor=1e-3)


def test_complex_holomorphic_field() -> None:
    system = build_system(_complex_network("z' = (I*omega - Delta)*z - z^3 + z_in"))
    assert system.is_complex
    jac = system_jacobian(system)
    params = _param_values(system)
    y = np.array([0.4 - 0.3j, -0.2 + 0.6j])
    J = jacobian_function(system, jacobian=jac)(0.0, y, *params)
    reference = _vectorised_field(system)
    field = vector_field_function(system, jacobian=jac)
    np.testing.assert_allclose(field(0.0, y, *params), reference(0.0, y, *params), rtol=1e-12)
    # holomorphic: the same complex derivative along the real and the imaginary direction
    for direction in (1.0, 1.0j):
        cols = []
        for j in range(2):
            e = np.zeros(2, dtype=complex)
            e[j] = STEP * direction
            diff = reference(0.0, y + e, *params) - reference(0.0, y - e, *params)
            cols.append(diff / (2 * STEP * direction))
        _assert_jacobian(J, np.stack(cols, axis=1))
    Jp = jacobian_function(system, wrt="params", jacobian=jac)(0.0, y, *params)
    _assert_jacobian(Jp, _fd_params(system, reference, 0.0, y))


@pytest.mark.parametrize(
    ("equation", "name"),
    [
        ("z' = (I*omega - Delta)*z + (z_in - conj(z_in)*z^2) / 2", "conj"),  # Kuramoto mean field
        ("z' = (Delta + I*omega)*z - abs(z)^2*z + z_in", "abs"),  # Stuart-Landau
    ],
)
def test_non_holomorphic_complex_field_raises(equation: str, name: str) -> None:
    system = build_system(_complex_network(equation))
    with pytest.raises(ModelError, match=f"'{name}' is not holomorphic"):
        system_jacobian(system)


def test_conj_of_a_complex_parameter_needs_with_params_false() -> None:
    op = OperatorTemplate(
        name="o",
        equations=["z' = (I*omega - Delta)*z - z^3 + conj(c)"],
        variables={"z": "output(0.5+0.1j)", "omega": 10.0, "Delta": 1.0, "c": 0.5 + 0.2j},
    )
    system = build_system(
        CircuitTemplate(name="c", nodes={"n": NodeTemplate(name="n", operators=[op])})
    )
    with pytest.raises(ModelError, match="with_params=False"):
        system_jacobian(system)
    jac = system_jacobian(system, with_params=False)
    assert jac.params == [] and jac.dfdp.shape == (1, 0)
    (z,) = jac.y
    omega, delta = jac.scalars["omega"][0], jac.scalars["Delta"][0]
    assert sympy.expand(jac.dfdy[0, 0] - (sympy.I * omega - delta - 3 * z**2)) == 0


def test_delayed_reads_are_inputs() -> None:
    system = build_system(_qif_network(delay=0.5))
    assert system.delayed
    jac = system_jacobian(system)
    assert jac.delayed and not set(jac.delayed) & set(jac.y)
    # instantaneous part: the coupling only enters through the delayed reads
    r_cols = np.array([[jac.dfdy[3 + i, j] != 0 for j in range(3)] for i in range(3)])
    np.testing.assert_array_equal(r_cols, np.eye(3, dtype=bool))
    params = _param_values(system)
    delayed = {d.name: np.linspace(0.2, 0.6, d.size) for d in system.delayed}
    y = np.array([0.3, 0.5, 0.7, -1.0, 0.2, -0.4])
    J = jacobian_function(system, jacobian=jac)(0.0, y, *params, delayed=delayed)
    reference = _vectorised_field(system)
    _assert_jacobian(J, _fd_jacobian(reference, 0.0, y, params, 1.0, delayed=delayed))
    # without delayed values the current state stands in (exact at an equilibrium)
    field = vector_field_function(system, jacobian=jac)
    (read,) = system.delayed
    r = system.state(read.state)
    current = {read.name: y[r.start : r.stop][system.param(read.index).value]}
    np.testing.assert_allclose(
        field(0.0, y, *params), reference(0.0, y, *params, delayed=current), rtol=1e-12
    )


def test_gamma_kernel_edges() -> None:
    system = build_system(_qif_network(delay=0.5, spread=0.25))
    assert system.n_states > 6  # kernel chain states
    rng = np.random.default_rng(3)
    _check_system(system, rng.uniform(0.1, 1.0, system.n_states), floor=1.0)


def test_reductions_index_and_comparisons() -> None:
    op = OperatorTemplate(
        name="red_op",
        equations=["x' = -x + a*maxi(x) + mean(x^2) - mini(x)*vsum(x) + greater(x, 0.1)*x^2"],
        variables={"x": "output(0.0)", "a": 0.5},
    )
    node = NodeTemplate(name="red", operators=[op])
    system = build_system(CircuitTemplate(name="red", nodes={n: node for n in "abcd"}))
    assert system.n_states == 4
    _check_system(system, np.array([0.3, -0.4, 0.9, 0.05]), floor=1.0)


def test_errors() -> None:
    system = build_system(_qif_network())
    with pytest.raises(ModelError, match="numerical"):
        system_jacobian(system, max_states=5)
    fn = jacobian_function(system)
    params = _param_values(system)
    k = next(i for i, p in enumerate(system.params) if p.role == "matrix")
    params[k] = 2 * params[k]
    with pytest.raises(ValueError, match="baked"):
        fn(0.0, np.ones(6), *params)

    op = OperatorTemplate(
        name="plug_op", equations=["x' = -myfunc(x)"], variables={"x": "output(0.1)"}
    )
    circuit = CircuitTemplate(name="plug", nodes={"n": NodeTemplate(name="n", operators=[op])})
    plugged = build_system(circuit, functions=function_table(["myfunc"]))
    with pytest.raises(ModelError, match="'myfunc'"):
        system_jacobian(plugged)
