"""PyRates-style scripts (issue 21, "silent differences"): each one either gives PyRates's
numbers or says loudly what differs. Written in the project's own words for the use cases of
PyRates's documentation; reference numbers marked "PyRates 1.2.3" were computed with it.
"""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from rates_numpy_testlib import circuit, qif_network

from rates_core import CircuitTemplate
from rates_core.errors import DiscardedEditWarning, InitialStateWarning, ModelError
from rates_core.sweep import grid_search

QIF = "rates_core.models.qif.qif"
ETA = "p/qif_op/eta"


def _no_rates_warnings() -> warnings.catch_warnings:
    """A context in which any warning of rates is an error."""
    context = warnings.catch_warnings()
    context.__enter__()
    warnings.simplefilter("error", DiscardedEditWarning)
    warnings.simplefilter("error", InitialStateWarning)
    return context


# --------------------------------------------------------------------------- 1. discarded edits


def test_discarded_update_var_warns_at_run_naming_the_line() -> None:
    c = CircuitTemplate.from_yaml(QIF)
    c.update_var(node_vars={ETA: -2.0})  # PyRates style: the edited copy is thrown away
    with pytest.warns(DiscardedEditWarning, match=r"update_var\(\.\.\.\) at .*test_pyrates"):
        c.run(0.1, 1e-3)
    with warnings.catch_warnings():  # said once, not at every later run
        warnings.simplefilter("error", DiscardedEditWarning)
        c.run(0.1, 1e-3)


def test_discarded_add_edges_from_matrix_warns_at_get_run_func() -> None:
    c = qif_network(np.zeros((2, 2)))
    c.add_edges_from_matrix("qif_op/r", "qif_op/r_in", ["p0", "p1"], weight=np.ones((2, 2)))
    with pytest.warns(DiscardedEditWarning, match="add_edges_from_matrix"):
        c.get_run_func("f", 1e-3)


def test_discarded_edit_warns_at_grid_search_and_get_jacobian_func() -> None:
    c = CircuitTemplate.from_yaml(QIF)
    c.update_var(node_vars={ETA: -2.0})
    with pytest.warns(DiscardedEditWarning, match="grid_search"):
        grid_search(
            c,
            {"eta": [-1.0]},
            {"eta": {"vars": ["qif_op/eta"], "nodes": ["p"]}},
            0.01,
            1e-3,
            outputs={"r": "p/qif_op/r"},
        )
    c.update_var(node_vars={ETA: -2.0})
    with pytest.warns(DiscardedEditWarning, match="get_jacobian_func"):
        c.get_jacobian_func("jac")


def test_kept_or_used_edits_are_quiet() -> None:
    c = CircuitTemplate.from_yaml(QIF)
    context = _no_rates_warnings()
    try:
        edited = c.update_var(node_vars={ETA: -2.0})
        c = c.update_var(node_vars={ETA: -3.0})
        variants = [c.update_var(node_vars={ETA: e}) for e in (-1.0, 0.0)]
        c.update_var(node_vars={ETA: -4.0}).run(0.01, 1e-3)  # used at once
        for template in (c, edited, *variants):
            template.run(0.01, 1e-3)
    finally:
        context.__exit__(None, None, None)
    assert c["p/qif_op/eta"].value == -3.0


def test_edit_on_the_last_line_of_interactive_input_is_discarded(capsys) -> None:
    """The last line of a REPL input or a notebook cell is compiled to display its value
    (PRINT_EXPR, CALL_INTRINSIC_1 from Python 3.12): the copy is shown, then dropped."""
    c = CircuitTemplate.from_yaml(QIF)
    namespace = {"c": c}
    exec(compile(f"c.update_var(node_vars={{'{ETA}': -2.0}})", "<stdin>", "single"), namespace)
    exec(compile(f"c2 = c.update_var(node_vars={{'{ETA}': -3.0}})", "<stdin>", "single"), namespace)
    assert [method for method, _ in c.discarded_edits] == ["update_var"]  # c2 = ... is quiet
    with pytest.warns(DiscardedEditWarning, match=r"update_var\(\.\.\.\) at <stdin>:1"):
        c.run(0.01, 1e-3)


def test_edit_kept_in_a_local_that_is_never_read_is_discarded() -> None:
    c = CircuitTemplate.from_yaml(QIF)
    tmp = c.update_var(node_vars={ETA: -2.0})  # noqa: F841 (the point of the test)
    with pytest.warns(DiscardedEditWarning, match="kept in 'tmp', which is never read"):
        c.run(0.01, 1e-3)


SCRIPT = f"""
import warnings
from rates_core import CircuitTemplate
from rates_core.errors import DiscardedEditWarning
c = CircuitTemplate.from_yaml("{QIF}")
kept = c.update_var(node_vars={{"{ETA}": -1.0}})
c = c.update_var(node_vars={{"{ETA}": -2.0}})
tmp = c.update_var(node_vars={{"{ETA}": -3.0}})
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    c.run(0.01, 1e-3)
said = [str(w.message) for w in caught if w.category is DiscardedEditWarning]
def later():
    return kept
"""


def test_script_global_that_is_never_read_is_discarded(tmp_path, monkeypatch) -> None:
    """In the script being run (``python script.py``, ``python -c``: the top level of
    ``__main__``) a global that nothing in the script mentions loses the copy;
    ``c = c.update_var(...)`` and a global read by a function are quiet. The same code run as
    another module is not judged."""
    import runpy
    import types

    script = tmp_path / "script.py"
    script.write_text(SCRIPT)
    said = {}
    for how, filename in (("file", str(script)), ("-c", "<string>")):
        main = types.ModuleType("__main__")
        main.__file__ = str(script) if how == "file" else None  # type: ignore[assignment]
        monkeypatch.setitem(sys.modules, "__main__", main)
        exec(compile(SCRIPT, filename, "exec"), vars(main))
        said[how] = vars(main)["said"]
    monkeypatch.undo()
    said["module"] = runpy.run_path(str(script))["said"]
    for how in ("file", "-c"):
        assert len(said[how]) == 1, said[how]
        assert "kept in 'tmp', which is never read" in said[how][0]
        assert "kept in 'kept'" not in said[how][0] and ":7" not in said[how][0]
    assert said["module"] == []


def test_a_failing_edit_is_not_recorded() -> None:
    c = CircuitTemplate.from_yaml(QIF)
    with pytest.raises(ModelError):
        c.update_var(node_vars={ETA: [1.0, 2.0, 3.0]})
    assert c.discarded_edits == []


# --------------------------------------------------------------------------- 2. argument order

#: PyRates 1.2.3's numbers, written by benchmarks/pyrates_reference.py (which says how)
PYRATES = json.loads((Path(__file__).parent / "pyrates_1_2_3.json").read_text())
#: PyRates 1.2.3, get_run_func of its qif template (vectorize=False): the argument keys
PYRATES_QIF_KEYS = PYRATES["qif_keys"]["keys"]


def test_get_run_func_takes_pyrates_parameter_order() -> None:
    c = CircuitTemplate.from_yaml(QIF)
    func, args, keys, _ = c.get_run_func("qif", 1e-3)
    short = [k.rsplit("/", 1)[-1] for k in keys]
    assert short == PYRATES_QIF_KEYS
    assert func.params == tuple(keys)
    # a gallery script fitting (eta, J) by position: args[-2:] are eta and the weight
    edited = c.update_var(
        node_vars={ETA: -2.0},
        edge_vars=[("p/qif_op/r", "p/qif_op/r_in", {"weight": 13.0})],
    )
    ref_func, ref_args, _, _ = edited.get_run_func("qif", 1e-3)
    by_position = list(args)
    by_position[-2:] = [-2.0, 13.0]
    y = np.array([0.3, -1.2])
    np.testing.assert_allclose(
        func(0.0, y, np.zeros(2), *by_position[3:]),
        ref_func(0.0, y, np.zeros(2), *ref_args[3:]),
        rtol=1e-15,
    )


def test_every_generated_function_names_its_arguments() -> None:
    c = CircuitTemplate.from_yaml(QIF)
    functional, f_args, f_keys, _ = c.get_run_func("qif", 1e-3, functional=True)
    jac, j_args, j_keys, _ = c.get_jacobian_func("qif_jac")
    inputs = {"p/qif_op/I_ext": np.linspace(0.0, 1.0, 11)}
    with_inputs, i_args, i_keys, _ = c.get_run_func("qif_in", 1e-3, inputs=inputs)
    assert functional.params == tuple(f_keys) and len(f_keys) == len(f_args)
    assert jac.params == tuple(j_keys) == tuple(f_keys)
    assert with_inputs.params == tuple(i_keys) and len(i_keys) == len(i_args)
    assert i_keys[:4] == ["t", "y", "dy", "input_times"]
    # the input's rows sit where its key says
    np.testing.assert_array_equal(i_args[i_keys.index("p/qif_op/I_ext")], inputs["p/qif_op/I_ext"])
    assert np.all(np.isfinite(with_inputs(*i_args)))


# --------------------------------------------------------------------------- 3. pre-history


def _delayed_vdp() -> CircuitTemplate:
    """Two Van der Pol oscillators coupled through delay-1 edges, x(0) = 1."""
    c = CircuitTemplate.from_yaml("rates_core.models.vanderpol.vdp_coupled")
    return c.update_var(
        node_vars={"all/vdp_op/x": 1.0},
        edge_vars=[
            ("p1/vdp_op/x", "p2/vdp_op/inp", {"delay": 1.0}),
            ("p2/vdp_op/x", "p1/vdp_op/inp", {"delay": 1.0}),
        ],
    )


#: PyRates 1.2.3, the model above, euler with step 1e-3: x1 at t = 1, 2, 5, 9
PYRATES_VDP_X1 = PYRATES["delayed_vdp"]["x1"]


def test_history_zero_gives_pyrates_numbers() -> None:
    c = _delayed_vdp()
    outputs = {"x1": "p1/vdp_op/x"}
    rows = [1000, 2000, 5000, 9000]
    zero = c.run(10.0, 1e-3, outputs=outputs, history="zero")["x1"].to_numpy()[rows]
    np.testing.assert_allclose(zero, PYRATES_VDP_X1, rtol=0, atol=1e-12)
    # the default pre-history (the initial state) is a different model, 13 % apart at t = 1
    initial = c.run(10.0, 1e-3, outputs=outputs)["x1"].to_numpy()[rows]
    assert abs(initial[0] - zero[0]) > 0.1


def test_history_zero_gives_pyrates_numbers_with_spread_delays() -> None:
    """Delay distributions (spread 0.5: a gamma-kernel chain of order 4) with PyRates's zero
    pre-history: PyRates 1.2.3's numbers to 1e-12 (its chains start at 0)."""
    spread = {"delay": 1.0, "spread": 0.5}
    c = _delayed_vdp().update_var(
        edge_vars=[
            ("p1/vdp_op/x", "p2/vdp_op/inp", spread),
            ("p2/vdp_op/x", "p1/vdp_op/inp", spread),
        ]
    )
    x1 = c.run(10.0, 1e-3, outputs={"x1": "p1/vdp_op/x"}, history="zero")["x1"].to_numpy()
    expected = PYRATES["spread_vdp"]["x1"]
    np.testing.assert_allclose(x1[[1000, 2000, 5000, 9000]], expected, rtol=0, atol=1e-12)


def test_history_zero_is_exact_for_a_linear_dde() -> None:
    """x' = -x(t - 1), x(0) = 1: a zero pre-history keeps x at 1 until t = 1 (the initial
    state as pre-history gives 1 - t)."""
    c = circuit("decay", ["x' = -past(x, 1.0)"], {"x": "output(1.0)"})
    for solver in ("euler", "rk4", "scipy"):
        x = c.run(1.5, 0.01, outputs={"x": "n/op/x"}, solver=solver, history="zero")["x"]
        np.testing.assert_allclose(x.loc[:0.99].to_numpy(), 1.0, rtol=0, atol=1e-9)
        # then x' = -1 on [1, 1.5]: x(1.49) = 0.51 (a step that ends at t = 1 reads across
        # the jump of the history at 0: at most one step's error, dt / 6 under rk4)
        assert x.iloc[-1] == pytest.approx(0.51, abs=2e-3)


def test_history_zero_starts_gamma_kernels_at_zero() -> None:
    """A spread edge is a gamma-kernel chain; with a zero pre-history it starts at 0, so the
    target sees nothing at t = 0 (with the default it sees the source's initial value)."""
    c = _delayed_vdp().update_var(
        edge_vars=[("p1/vdp_op/x", "p2/vdp_op/inp", {"delay": 1.0, "spread": 0.5})]
    )
    outputs = {"z2": "p2/vdp_op/z"}
    dt = 1e-3
    zero = c.run(0.002, dt, outputs=outputs, history="zero")["z2"].to_numpy()
    default = c.run(0.002, dt, outputs=outputs)["z2"].to_numpy()
    # z2' = mu (1 - x^2) z - x + inp = -1 + inp at t = 0 (x = 1, z = 1)
    assert (zero[1] - zero[0]) / dt == pytest.approx(-1.0, abs=1e-12)
    assert (default[1] - default[0]) / dt == pytest.approx(-1.0 + 0.5, abs=1e-12)


def test_history_zero_in_grid_search_and_bad_names() -> None:
    c = _delayed_vdp()
    results, _ = grid_search(
        c,
        {"k": [0.5]},
        {"k": {"vars": ["weight"], "edges": [("p1/vdp_op/x", "p2/vdp_op/inp")]}},
        10.0,
        1e-3,
        outputs={"x1": "p1/vdp_op/x"},
        history="zero",
    )
    x1 = results["x1"].to_numpy()[[1000, 2000, 5000, 9000], 0]
    np.testing.assert_allclose(x1, PYRATES_VDP_X1, rtol=0, atol=1e-12)
    with pytest.raises(ModelError, match="'zero'"):
        c.run(0.01, 1e-3, history="zeros")


# --------------------------------------------------------------------------- 4. scipy tolerances


def test_scipy_defaults_are_tight() -> None:
    """x'' = -x over 20 time units: rtol 1e-6 / atol 1e-9 keep the error near 3e-6
    (solve_ivp's own defaults give 5e-3)."""
    c = circuit("osc", ["x' = v", "v' = -x"], {"x": "output(1.0)", "v": "variable(0.0)"})
    frame = c.run(20.0, 1e-2, solver="scipy", outputs={"x": "n/op/x"})
    t = frame.index.to_numpy()
    assert np.max(np.abs(frame["x"].to_numpy() - np.cos(t))) < 2e-5
    loose = c.run(20.0, 1e-2, solver="scipy", outputs={"x": "n/op/x"}, rtol=1e-3, atol=1e-6)
    assert np.max(np.abs(loose["x"].to_numpy() - np.cos(t))) > 1e-3


# --------------------------------------------------------------------------- 5. after run()


def test_get_run_func_after_run_warns_and_last_starts_there() -> None:
    c = CircuitTemplate.from_yaml(QIF)
    declared = c.get_run_func("f", 1e-3)[1][1].copy()
    c.run(1.0, 1e-3)
    final = np.array([c.state["p/qif_op/r"], c.state["p/qif_op/v"]])
    with pytest.warns(InitialStateWarning, match="initial_state='last'"):
        _, args, _, _ = c.get_run_func("f", 1e-3)
    np.testing.assert_array_equal(args[1], declared)
    context = _no_rates_warnings()
    try:
        _, last, _, _ = c.get_run_func("f", 1e-3, initial_state="last")
        _, none, _, _ = c.get_run_func("f", 1e-3, initial_state=None)
        _, jac_args, _, _ = c.get_jacobian_func("j", initial_state="last")
    finally:
        context.__exit__(None, None, None)
    np.testing.assert_array_equal(last[1], final)
    np.testing.assert_array_equal(none[1], declared)
    np.testing.assert_array_equal(jac_args[1], final)


def test_get_run_func_last_without_run_is_an_error() -> None:
    c = CircuitTemplate.from_yaml(QIF)
    with pytest.raises(ModelError, match="previous run"):
        c.get_run_func("f", 1e-3, initial_state="last")


# --------------------------------------------------------------------------- 6. gallery uses


def test_fitting_with_get_run_func_and_slsqp() -> None:
    """PyRates's gallery fits eta and the coupling J of the QIF model by handing
    get_run_func's vector field to solve_ivp inside scipy's SLSQP. Passing them by position
    (args[-2:], PyRates's order) or by name (func.params) fits the same two parameters, and
    both recover the eta = -2, J = 15 that made the data (to 1e-3)."""
    from scipy.integrate import solve_ivp
    from scipy.optimize import minimize

    c = CircuitTemplate.from_yaml(QIF)
    truth = c.update_var(node_vars={ETA: -2.0})
    T, times = 4.0, np.linspace(0.0, 4.0, 41)
    func, args, keys, idx = truth.get_run_func("qif", 1e-3, solver="scipy")

    def rate(f, a):
        sol = solve_ivp(f, (0.0, T), a[1], args=tuple(a[2:]), t_eval=times, rtol=1e-9, atol=1e-12)
        return sol.y[idx["p/qif_op/r"]]

    data = rate(func, args)
    func, args, keys, idx = c.get_run_func("qif", 1e-3, solver="scipy")
    position = {key: i for i, key in enumerate(func.params)}
    by_name = [position[ETA], position["p/qif_op/r->p/qif_op/r_in/weight"]]
    assert by_name == [len(args) - 2, len(args) - 1]  # PyRates's args[-2:]

    def loss(x: np.ndarray) -> float:
        a = list(args)
        a[-2:] = x
        return float(np.sum((rate(func, a) - data) ** 2))

    fit = minimize(loss, x0=[-3.0, 13.0], method="SLSQP", bounds=[(-6, 0), (5, 25)],
                   options={"ftol": 1e-14})  # fmt: skip
    np.testing.assert_allclose(fit.x, [-2.0, 15.0], atol=1e-3)


def test_edge_template_with_a_target_input_gives_pyrates_numbers() -> None:
    """PyRates's edge-template example (kuramoto.kmo_2coupled): sin(theta_s - theta_t) on
    each edge, theta_s fed by the source and theta_t by the target's phase
    (``edge/op/var: path`` edge attributes), written with rates's own templates: PyRates
    1.2.3's numbers (Euler, dt = 1e-3, omega = 12 and theta(0) = 1 at p2) to 1e-12."""
    from rates_core import EdgeTemplate, NodeTemplate, OperatorTemplate

    phase = OperatorTemplate(
        "phase_op",
        "theta' = omega + K*s_in",
        {"theta": "output(0.0)", "omega": 10.0, "K": 1.0, "s_in": "input(0.0)"},
    )
    coupling = OperatorTemplate(
        "coupling_op",
        "s = sin(theta_s - theta_t)",
        {"s": "output(0.0)", "theta_s": "input(0.0)", "theta_t": "input(0.0)"},
    )
    edge = EdgeTemplate("sin_edge", operators=[coupling])
    node = NodeTemplate("phase_pop", operators=[phase])

    def coupled(source: str, target: str) -> tuple:
        attrs = {"weight": -4.0, "sin_edge/coupling_op/theta_s": "source",
                 "sin_edge/coupling_op/theta_t": f"{target}/phase_op/theta"}  # fmt: skip
        return (f"{source}/phase_op/theta", f"{target}/phase_op/s_in", edge, attrs)

    c = CircuitTemplate(
        "kmo_2coupled", nodes={"p1": node, "p2": node}, edges=[coupled("p1", "p2"),
                                                               coupled("p2", "p1")]
    ).update_var(node_vars={"p2/phase_op/omega": 12.0, "p2/phase_op/theta": 1.0})  # fmt: skip
    out = {"theta1": "p1/phase_op/theta", "theta2": "p2/phase_op/theta"}
    frame = c.run(3.0, 1e-3, outputs=out, solver="euler", sampling_step_size=0.25)
    for key in out:
        expected = PYRATES["kuramoto"][key]
        np.testing.assert_allclose(frame[key].to_numpy(), expected, rtol=1e-12, atol=1e-14)
