"""Scripts written the PyRates way (issue 21, "Loud breakages"): each runs unchanged, with a
warning for what rates ignores, or fails with a message that names the rates way."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

import rates_core
from rates_core import (
    ArgumentError,
    CircuitTemplate,
    Connectivity,
    ModelError,
    NodeTemplate,
    PopulationTemplate,
    UnknownBackendError,
)
from rates_core.pyrates_compat import PyRatesWarning
from rates_core.sweep import grid_search

QIF = "rates_core.models.qif.qif"
R = {"r": "p/qif_op/r"}


def qif() -> CircuitTemplate:
    return CircuitTemplate.from_yaml(QIF)


# ------------------------------------------------------------------ keywords of the drivers


@pytest.mark.parametrize("key", ["clear", "in_place", "verbose", "file_name", "decorator"])
def test_run_accepts_pyrates_keywords_with_a_warning_and_the_same_numbers(key):
    reference = qif().run(0.5, 1e-3, outputs=R)
    with pytest.warns(PyRatesWarning, match=rf"run\({key}=\.\.\.\) is ignored") as record:
        frame = qif().run(0.5, 1e-3, outputs=R, **{key: True})
    assert record[0].filename == __file__  # points at the script's line, not into rates
    np.testing.assert_array_equal(frame["r"].to_numpy(), reference["r"].to_numpy())


def test_pyrates_keyword_warning_is_shown_once_per_line():
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("default")
        for _ in range(3):
            qif().run(0.01, 1e-3, outputs=R, verbose=False)
    assert len([w for w in record if issubclass(w.category, PyRatesWarning)]) == 1


def test_run_keyword_is_never_blamed_on_the_solver():
    with pytest.raises(ArgumentError, match="solver='scipy'") as info:
        qif().run(0.5, 1e-3, outputs=R, adaptive=True)
    assert "has no option" not in str(info.value)
    with pytest.warns(PyRatesWarning, match="solver decides"):
        qif().run(0.5, 1e-3, outputs=R, adaptive=False)
    with pytest.warns(PyRatesWarning, match="solver decides"):
        qif().run(0.5, 1e-3, outputs=R, adaptive=True, solver="scipy")


def test_get_run_func_accepts_pyrates_keywords():
    plain = qif().get_run_func("f", 1e-3)
    with pytest.warns(PyRatesWarning):
        func, args, keys, _ = qif().get_run_func(
            "f", 1e-3, clear=False, in_place=True, verbose=False, decorator=None, adaptive=True
        )
    assert keys == plain[2]
    np.testing.assert_array_equal(func(*args), plain[0](*plain[1]))


def test_get_run_func_refuses_unknown_keywords_and_auto_constants_without_auto():
    with pytest.raises(ArgumentError, match="'nonsense'"):
        qif().get_run_func("f", 1e-3, nonsense=1)
    with pytest.raises(ArgumentError, match="NMX.*auto=True"):
        qif().get_run_func("f", 1e-3, NMX=100)


def test_get_jacobian_func_accepts_pyrates_keywords():
    with pytest.warns(PyRatesWarning):
        jac, args, *_ = qif().get_jacobian_func("j", backend="default", clear=True)
    assert np.asarray(jac(*args)).shape == (2, 2)


@pytest.mark.parametrize("backend", ["default", None])
def test_default_backend_names_mean_numpy(backend):
    frame = qif().run(0.1, 1e-3, outputs=R, backend=backend)
    assert frame.attrs["backend"] == "numpy"
    assert qif().get_run_func("f", 1e-3, backend=backend)[2][0] == "t"


@pytest.mark.parametrize(("given", "used"), [("complex128", "float64"), ("complex64", "float32")])
def test_complex_precision_names_are_accepted(given, used):
    frame = qif().run(0.1, 1e-3, outputs=R, float_precision=given)
    assert frame.attrs["float_precision"] == used


def test_complex_precision_keeps_complex_states_complex():
    c = CircuitTemplate.from_yaml("rates_core.models.stuartlandau.sl_complex")
    func, args, *_ = c.get_run_func("f", 1e-3, float_precision="complex128")
    assert np.iscomplexobj(args[1]) and np.iscomplexobj(func(*args))


# ------------------------------------------------------------------ grid_search


PARAMS = {"eta": {"vars": ["qif_op/eta"], "nodes": ["p"]}}


def test_grid_search_takes_circuit_template_and_pyrates_keywords():
    kwargs = dict(
        param_grid={"eta": [-1.0, 1.0]},
        param_map=PARAMS,
        simulation_time=0.5,
        step_size=1e-3,
        outputs=R,
    )
    reference, _ = grid_search(qif(), **kwargs)
    with pytest.warns(PyRatesWarning):
        results, grid = grid_search(
            circuit_template=qif(), clear=True, verbose=False, backend="default", **kwargs
        )
    assert list(grid.index) == ["qif_0", "qif_1"]
    np.testing.assert_array_equal(results.to_numpy(), reference.to_numpy())


def test_grid_search_names_missing_arguments():
    with pytest.raises(ArgumentError, match="step_size"):
        grid_search(circuit_template=qif(), param_grid={"eta": [1.0]}, param_map=PARAMS,
                    simulation_time=1.0, outputs=R)  # fmt: skip
    with pytest.raises(ArgumentError, match="not both"):
        grid_search(qif(), circuit_template=qif())


# ------------------------------------------------------------------ populations and methods


def population_net(n: int = 6) -> CircuitTemplate:
    node = NodeTemplate.from_yaml("rates_core.models.qif.qif_pop")
    pop = PopulationTemplate("exc", node=node, n=n, params={"qif_op/eta": np.linspace(-1, 1, n)})
    weights = np.full((n, n), 1.0 / n)
    # PyRates's keyword: connections=[Connectivity(...)]
    return CircuitTemplate(
        "net",
        populations={"exc": pop},
        connections=[Connectivity("exc/qif_op/r", "exc/qif_op/r_in", weights)],
    )


def test_population_circuit_takes_pyrates_connections_keyword():
    net = population_net()
    assert len(net.connectivity) == 1 and net.connections == ()
    same = CircuitTemplate(
        "net", populations=dict(net.populations), connectivity=list(net.connectivity)
    )
    a = net.run(0.2, 1e-3, outputs={"r": "exc/qif_op/r"})
    b = same.run(0.2, 1e-3, outputs={"r": "exc/qif_op/r"})
    np.testing.assert_array_equal(a.to_numpy(), b.to_numpy())


def test_get_variable_positions_match_get_run_func_states():
    net = population_net(40)  # vectorised: more than 32 states
    positions, names = net.get_variable_positions(
        {"r": "exc/qif_op/r", "v": "exc/qif_op/v", "r3": "exc/3/qif_op/r"}
    )
    assert isinstance(positions["r"], range) and len(positions["r"]) == 40
    assert names["r"] == "r"
    _, args, _, indices = net.get_run_func("f", 1e-3)
    y0 = args[1]
    assert positions["r3"] == indices["exc/3/qif_op/r"]
    v = [indices[f"exc/{k}/qif_op/v"] for k in range(40)]
    assert list(positions["v"]) == v
    assert y0[positions["v"]].shape == (40,)
    single, _ = qif().get_variable_positions("all/qif_op/v")
    assert single == {"p/qif_op/v": qif().get_run_func("f", 1e-3)[3]["p/qif_op/v"]}


def test_update_template_of_operators_nodes_and_circuits():
    c = qif()
    op = c["p/qif_op"].update_template(
        equations={"replace": {"eta": "(eta + I_bias)"}}, variables={"I_bias": 2.0}
    )
    node = c["p"].update_template(operators={op: {}})
    changed = c.update_template(nodes={"p": node})
    shifted = c.update_var(node_vars={"p/qif_op/eta": c["p/qif_op/eta"].value + 2.0})
    a = changed.run(1.0, 1e-3, outputs=R)["r"].to_numpy()
    b = shifted.run(1.0, 1e-3, outputs=R)["r"].to_numpy()
    np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
    with pytest.raises(ModelError, match="circuit = circuit.update_template"):
        c.update_template(in_place=True)


def test_get_var_points_to_the_replacements():
    with pytest.raises(ModelError, match="get_variable_positions"):
        qif().get_var("p/qif_op/r")


def test_clear_functions_exist_and_forget_the_last_state():
    c = qif()
    c.run(0.1, 1e-3, outputs=R)
    assert c.state
    rates_core.clear(c)
    assert c.state == {}
    c.run(0.1, 1e-3, outputs=R)
    c.clear()
    assert c.state == {}
    rates_core.clear_frontend_caches(clear_template_cache=True, clear_ir_cache=True)


# ------------------------------------------------------------------ libraries and backends


def test_pyrates_library_reference_says_whose_it_is(monkeypatch):
    import rates_core.frontend.locate as locate

    monkeypatch.setattr(locate, "package_dirs", lambda top: [])  # as without PyRates installed
    with pytest.raises(ModelError, match="PyRates's model library.*pip install pyrates"):
        CircuitTemplate.from_yaml("model_templates.neural_mass_models.qif.qif")


@pytest.mark.parametrize(
    ("name", "says"),
    [
        ("nope", "numpy (rates-numpy)"),
        ("tensorflow", "no TensorFlow backend"),
        ("torch_like", "third-party plugins"),
    ],
)
def test_unknown_backend_hint_names_real_distributions_only(name, says):
    with pytest.raises(UnknownBackendError) as info:
        qif().run(0.1, 1e-3, backend=name)
    message = str(info.value)
    assert says in message
    assert f"rates-{name.replace('_', '-')}" not in message


# ------------------------------------------------------------------ the model library

#: PyRates 1.2.3's numbers, written by benchmarks/pyrates_reference.py (which says how each
#: case was run): ``{case: {output: [values]}}``, complex values as ``{"re": ..., "im": ...}``
PYRATES = json.loads((Path(__file__).parent / "pyrates_1_2_3.json").read_text())


def pyrates(*keys: str) -> np.ndarray:
    """``pyrates("qif", "r")``: PyRates's numbers of one output, complex where they are."""
    found = PYRATES
    for key in keys:
        found = found[key]
    if isinstance(found, dict):
        return np.asarray(found["re"]) + 1j * np.asarray(found["im"])
    return np.asarray(found, dtype=float)


@pytest.mark.parametrize("name", ["ik_theta", "ik_eta"])
def test_izhikevich_templates_agree_with_pyrates(name):
    """rates's Izhikevich mean fields with PyRates's parameters give PyRates's numbers: the
    threshold model has the -pi C r Delta_v term in v' (rates's Delta of ik_eta is PyRates's
    times k, here k = 1). Rates's u' = (b (v - v_r) - u)/tau_u + kappa r is PyRates's
    a (b (v - v_r) - u) + d r with tau_u = 1/a, kappa = d; tau s' = h m_in - s with h = tau
    is PyRates's s' = -s/tau_s + r_in."""
    op = f"p/{name}_op"
    delta = "Delta_v" if name == "ik_theta" else "Delta"
    values = {"k": 1.0, "v_r": -70.0, "v_t": -40.0, "b": -0.01, "tau_u": 1 / 0.008}
    values |= {"kappa": 10.0, "C": 100.0, "E_r": 0.0, delta: 1.0, "eta": 100.0, "g": 15.0}
    values |= {"v": -60.0, "r": 0.01}
    c = CircuitTemplate.from_yaml(f"rates_core.models.ik.{name}").update_var(
        node_vars={
            **{f"{op}/{k}": v for k, v in values.items()},
            "p/exp_syn_op/tau": 6.0,
            "p/exp_syn_op/h": 6.0,
        }
    )
    frame = c.run(
        100.0,
        1e-3,
        outputs={"r": f"{op}/r", "v": f"{op}/v"},
        solver="scipy",
        method="DOP853",
        rtol=1e-10,
        atol=1e-12,
        sampling_step_size=20.0,
    )
    r, v = PYRATES["izhikevich"][name]  # (r, v) at t = 80 ms, near the fixed point
    assert frame["r"].iloc[-1] == pytest.approx(r, rel=1e-5)
    assert frame["v"].iloc[-1] == pytest.approx(v, rel=1e-7)


def test_izhikevich_eta_is_a_qif_population_in_physical_units():
    """Closed form: with C v' = k (v - v_r)(v - v_t) + ..., w = v - (v_r + v_t)/2 and
    tau = C/k, ik_eta's (r, w) is the QIF mean field with half-width Delta/k; its fixed point
    without recovery and synapses solves r = -Delta/(2 pi C w) and k w^2 + eta' = k (pi tau r)^2
    with eta' = eta - k (v_t - v_r)^2/4 (here checked by integrating)."""
    op = "p/ik_eta_op"
    c = CircuitTemplate.from_yaml("rates_core.models.ik.ik_eta").update_var(
        node_vars={f"{op}/b": 0.0, f"{op}/kappa": 0.0, f"{op}/g": 0.0, f"{op}/Delta": 2.0}
    )
    frame = c.run(2000.0, 1e-2, outputs={"r": f"{op}/r", "v": f"{op}/v"}, solver="rk4")
    r, v = frame["r"].iloc[-1], frame["v"].iloc[-1]
    k, C, v_r, v_t, delta, eta = 0.7, 100.0, -60.0, -40.0, 2.0, 60.0
    w = v - (v_r + v_t) / 2
    assert w < 0 and r == pytest.approx(-delta / (2 * np.pi * C * w), rel=1e-6)
    tau = C / k
    assert k * w**2 + eta - k * (v_t - v_r) ** 2 / 4 == pytest.approx(
        k * (np.pi * tau * r) ** 2, rel=1e-6
    )


# ------------------------------------------------------------------ Auto-07p constants


def test_get_run_func_auto_takes_auto07p_constants(tmp_path):
    """PyRates 0.17's get_run_func(..., auto=True, NMX=...): the constants reach every
    constants file, ICP may name a parameter (eta is PAR(4), PyRates's numbering)."""
    import shutil

    pytest.importorskip("rates_fortran")
    if shutil.which("gfortran") is None:
        pytest.skip("gfortran is not installed")
    qif().get_run_func(
        "f", 1e-3, backend="fortran", auto=True, file_name=str(tmp_path / "qif.f90"),
        NMX=5000, ICP="eta", DSMAX=0.2,
    )  # fmt: skip
    eq = (tmp_path / "c.qif_auto.eq").read_text().splitlines()
    assert "NMX = 5000" in eq and "DSMAX = 0.2" in eq and "ICP = [4]" in eq
    assert any(line.startswith("parnames") and "4: 'eta'" in line for line in eq)
    assert "NMX = 5000" in (tmp_path / "c.qif_auto.ivp").read_text().splitlines()


# ------------------------------------------------------------------ delayed models


def delayed_vdp() -> CircuitTemplate:
    c = CircuitTemplate.from_yaml("rates_core.models.vanderpol.vdp_coupled")
    return c.update_var(
        edge_vars=[
            ("p1/vdp_op/x", "p2/vdp_op/inp", {"delay": 0.5}),
            ("p2/vdp_op/x", "p1/vdp_op/inp", {"delay": 0.25}),
        ]
    )


def test_get_run_func_exports_a_delayed_model_with_a_history_argument():
    """f(t, y, hist, *params): Euler steps with the history of the computed grid give run()'s
    Euler numbers (delays on the grid, pre-history = initial state), to 1e-12."""
    c, dt, n = delayed_vdp(), 1e-3, 3000
    func, args, keys, indices = c.get_run_func("f", dt)
    assert keys[:3] == ["t", "y", "hist"]
    y0, params = np.array(args[1]), args[3:]
    rows = [y0]

    def hist(s):
        k = int(round(s / dt))
        return rows[0] if k < 0 else rows[k]

    assert np.allclose(func(*args), func(0.0, y0, lambda s: y0, *params))
    for k in range(n - 1):
        rows.append(rows[k] + dt * np.asarray(func(k * dt, rows[k], hist, *params)))
    out = {"x1": "p1/vdp_op/x", "x2": "p2/vdp_op/x"}
    frame = c.run(n * dt, dt, outputs=out, solver="euler")
    mine = np.array(rows)
    np.testing.assert_allclose(mine[:, indices["p1/vdp_op/x"]], frame["x1"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(mine[:, indices["p2/vdp_op/x"]], frame["x2"], rtol=0, atol=1e-12)


def test_get_run_func_exports_a_delayed_model_with_inputs():
    """f(t, y, hist, input_times, *params): the input's rows are an argument (key: its path)
    read at t by linear interpolation; Euler steps with the history of the computed grid give
    run(..., inputs=...)'s Euler numbers to 1e-12, and between grid points the input is
    interpolated (to 1e-15)."""
    c, dt, n = delayed_vdp(), 1e-3, 2000
    drive = np.sin(np.arange(n) * dt * 5.0)
    func, args, keys, indices = c.get_run_func("f", dt, inputs={"p1/vdp_op/inp": drive})
    assert keys[:4] == ["t", "y", "hist", "input_times"] and func.params == tuple(keys)
    at = keys.index("p1/vdp_op/inp")
    np.testing.assert_array_equal(args[at], drive)
    y0, times, params = np.array(args[1]), args[3], args[4:]
    rows = [y0]

    def hist(s):
        return rows[max(int(round(s / dt)), 0)]

    for k in range(n - 1):
        rows.append(rows[k] + dt * np.asarray(func(k * dt, rows[k], hist, times, *params)))
    out = {"x1": "p1/vdp_op/x", "x2": "p2/vdp_op/x"}
    frame = c.run(n * dt, dt, outputs=out, solver="euler", inputs={"p1/vdp_op/inp": drive})
    mine = np.array(rows)
    np.testing.assert_allclose(mine[:, indices["p1/vdp_op/x"]], frame["x1"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(mine[:, indices["p2/vdp_op/x"]], frame["x2"], rtol=0, atol=1e-12)
    # halfway between rows k and k + 1 the input is their mean
    z = indices["p1/vdp_op/z"]
    y, k = rows[100], 100
    half = func((k + 0.5) * dt, y, hist, times, *params)[z]
    low = func(k * dt, y, hist, times, *params)[z]
    high = func((k + 1) * dt, y, hist, times, *params)[z]
    assert half == pytest.approx((low + high) / 2, abs=1e-15)


def test_delayed_export_needs_a_dde_backend():
    from rates_core.delay_export import check_exportable

    system = type("S", (), {"delayed": [], "name": "m"})()
    with pytest.raises(ModelError, match="capability 'dde'.*delay_approximation"):
        check_exportable(system, frozenset(), "julia")


@pytest.mark.parametrize("backend", ["fortran", "torch"])
def test_delayed_export_agrees_across_backends(backend):
    import shutil

    pytest.importorskip(f"rates_{backend}")
    if backend == "fortran" and shutil.which("gfortran") is None:
        pytest.skip("gfortran is not installed")
    if backend == "torch":
        pytest.importorskip("torch")
    y = np.array([1.0, 0.5, -0.5, 0.2])
    past = np.array([0.3, -0.2, 0.1, 0.4])
    results = []
    for name in ("numpy", backend):
        func, args, *_ = delayed_vdp().get_run_func("f", 1e-3, backend=name)
        results.append(np.asarray(func(1.0, y, lambda s: past, *args[3:]), dtype=float))
    np.testing.assert_allclose(results[1], results[0], rtol=1e-14, atol=0)


def test_integrate_takes_a_template_or_a_reference_and_pyrates_keywords():
    with pytest.warns(PyRatesWarning, match="clear"):
        a = rates_core.integrate(qif(), simulation_time=0.2, step_size=1e-3, outputs=R, clear=True)
    b = rates_core.integrate(QIF, simulation_time=0.2, step_size=1e-3, outputs=R)
    np.testing.assert_array_equal(a.to_numpy(), b.to_numpy())


def test_qif_sfa_agrees_with_pyrates():
    """rates's qif_sfa (alpha = 5: the unit-area kernel scaled by alpha) is PyRates 1.2.3's
    qif_sfa (alpha = 0.5 times tau_a = 10); PyRates's numbers (float64, Euler, dt = 1e-3) at
    t = 0, 10, 20, 30 agree to 1e-12."""
    frame = CircuitTemplate.from_yaml("rates_core.models.qif.qif_sfa").run(
        40.0,
        1e-3,
        outputs={"r": "p/qif_sfa_op/r", "a": "p/qif_sfa_op/a"},
        solver="euler",
        sampling_step_size=10.0,
    )
    np.testing.assert_allclose(frame["r"], pyrates("qif_sfa", "r"), rtol=1e-12, atol=0)
    np.testing.assert_allclose(frame["a"], pyrates("qif_sfa", "a"), rtol=1e-12, atol=0)


def test_jansen_rit_agrees_with_pyrates():
    """rates's JRC is PyRates 1.2.3's JRC: the pyramidal cells' excitatory and inhibitory
    PSPs (float64, Euler, dt = 1e-4) at t = 0, 0.1, ..., 0.4 s agree to 1e-12."""
    frame = CircuitTemplate.from_yaml("rates_core.models.jansenrit.JRC").run(
        0.5,
        1e-4,
        outputs={"ve": "pc/syn_exc_ext/v", "vi": "pc/syn_inh/v"},
        solver="euler",
        sampling_step_size=0.1,
    )
    np.testing.assert_allclose(frame["ve"], pyrates("jansen_rit", "ve"), rtol=1e-12, atol=0)
    np.testing.assert_allclose(frame["vi"], pyrates("jansen_rit", "vi"), rtol=1e-12, atol=0)


@pytest.mark.parametrize(
    ("reference", "case", "outputs"),
    [
        ("qif.qif", "qif", {"r": "p/qif_op/r", "v": "p/qif_op/v"}),
        ("vanderpol.vdp", "vdp", {"x": "p/vdp_op/x", "z": "p/vdp_op/z"}),
    ],
)
def test_qif_and_van_der_pol_agree_with_pyrates(reference, case, outputs):
    """rates's qif (Montbrio, Pazo & Roxin 2015) and vdp templates are PyRates 1.2.3's qif and
    vdp: the same numbers to 1e-12 over 10 time units (float64, Euler, dt = 1e-3, defaults)."""
    frame = CircuitTemplate.from_yaml(f"rates_core.models.{reference}").run(
        10.0, 1e-3, outputs=outputs, solver="euler", sampling_step_size=1.0
    )
    for key in outputs:
        np.testing.assert_allclose(frame[key], pyrates(case, key), rtol=1e-12, atol=0)


# ------------------------------------------------------------------ more library templates
# Each builder returns rates's counterpart of a case of benchmarks/pyrates_reference.py with
# PyRates's values, and how to run it (Euler, as there); the docstrings map the parameters.


def _library(reference: str, node_vars=None, weight=None) -> CircuitTemplate:
    c = CircuitTemplate.from_yaml(f"rates_core.models.{reference}")
    edges = None if weight is None else [(e.source, e.target, {"weight": weight}) for e in c.edges]
    return c.update_var(node_vars=node_vars or {}, edge_vars=edges)


def ik_nd():
    """ik_nd is PyRates's ik_nodim with tau = 1 (its w, w_jump are PyRates's u, d); the
    synapse tau s' = h m_in - s with h = tau = 2.6 is PyRates's s' = -s/tau_s + r_in."""
    op = "p/ik_nd_op"
    values = {"Delta": 0.02, "alpha": 0.6, "g": 0.5, "e_r": 1.0, "a": 0.008, "b": -0.01}
    values |= {"w_jump": 0.02, "eta": 0.0, "r": 0.0, "v": 0.0, "w": 0.0}
    syn = {"p/exp_syn_op/tau": 2.6, "p/exp_syn_op/h": 2.6}
    c = _library("ik.ik_nd", {**{f"{op}/{k}": v for k, v in values.items()}, **syn})
    out = {"r": f"{op}/r", "v": f"{op}/v", "u": f"{op}/w", "s": "p/exp_syn_op/s"}
    return c, (200.0, 1e-3, out, 20.0)


def theta():
    """theta is PyRates's kmo_theta (tau r_in with tau = 1 is its s), z(0) = -0.6 - 0.8i."""
    c = _library("theta.theta", {"p/theta_op/z": -0.6 - 0.8j})
    return c, (10.0, 1e-3, {"z": "p/theta_op/z"}, 1.0)


def kuramoto():
    """kmo (sin(theta_j - theta_i) as sine and cosine sums) is PyRates's kmo_2coupled (a
    sin_edge of weight -4 each way), here with omega = 12 and theta(0) = 1 at p2."""
    c = _library("kuramoto.kmo", {"p2/phase_op/omega": 12.0, "p2/phase_op/theta": 1.0}, -4.0)
    out = {"theta1": "p1/phase_op/theta", "theta2": "p2/phase_op/theta"}
    return c, (3.0, 1e-3, out, 0.25)


def kuramoto_mf():
    """kmo_oa with K = 1 is PyRates's kmo_mf (s = z through an edge of weight 1)."""
    c = _library("kuramoto.kmo_oa", {"p/kmo_oa_op/K": 1.0, "p/kmo_oa_op/z": 0.5 + 0.1j})
    return c, (10.0, 1e-3, {"z": "p/kmo_oa_op/z"}, 1.0)


def qif_gap():
    """qif_gap (g = 1, J = 15) is PyRates's qif_gap_op with g = 1."""
    return _library("qif.qif_gap"), (
        10.0,
        1e-3,
        {"r": "p/qif_gap_op/r", "v": "p/qif_gap_op/v"},
        1.0,
    )


def qif_conduct():
    """qif_cond with g = 5, E_r = 1, r(0) = v(0) = 0 is PyRates's qif_conduct (tau = 1)."""
    op = "p/qif_cond_op"
    values = {"g": 5.0, "E_r": 1.0, "r": 0.0, "v": 0.0}
    c = _library("qif.qif_cond", {f"{op}/{k}": v for k, v in values.items()})
    return c, (20.0, 1e-3, {"r": f"{op}/r", "v": f"{op}/v", "s": "p/exp_syn_op/s"}, 2.0)


def qif_depression():
    """qif_sd with tau_d = 100, kappa = 1 is PyRates's qif_pop with a depression_edge
    (tau_x = 100, k = 1, no delay)."""
    c = _library("qif.qif_sd", {"p/depression_op/tau_d": 100.0, "p/depression_op/kappa": 1.0})
    return c, (50.0, 1e-3, {"r": "p/qif_op/r", "v": "p/qif_op/v"}, 5.0)


def qif_tsodyks():
    """qif_tsodyks with PyRates's tsodyks_op values (tau_d = tau_x = 100, tau_f = tau_u = 200,
    U = U0 = 0.6) and J = 15 is PyRates's qif_pop with a tsodyks_edge with k = 1 (rates has
    no k: Tsodyks et al. 1998 deplete by u x r)."""
    values = {"tau_d": 100.0, "tau_f": 200.0, "U": 0.6, "u": 0.6}
    c = _library("qif.qif_tsodyks", {f"p/tsodyks_op/{k}": v for k, v in values.items()}, 15.0)
    return c, (50.0, 1e-3, {"r": "p/qif_op/r", "v": "p/qif_op/v"}, 5.0)


def wilson_cowan():
    """WC with PyRates's values gives PyRates's WC once the paper's factor k_e = 1 - 1/(1 +
    exp(a theta)) (the largest value of the shifted sigmoid; Wilson & Cowan 1972) is replaced
    by PyRates's 1: that factor is the one difference (rates's m, a, r are PyRates's r, s,
    k; P = 0)."""
    c = CircuitTemplate.from_yaml("rates_core.models.wilsoncowan.WC")
    op = c["e/wc_op"].update_template(
        equations={"replace": {"1.0 - 1.0/(1.0 + exp(a*theta)) - r*m": "1.0 - r*m"}}
    )
    c = c.update_template(nodes={n: c[n].update_template(operators={op: {}}) for n in "ei"})
    values = {
        "e": {"a": 1.0, "theta": 2.0, "tau": 10.0, "P": 0.0, "m": 0.1},
        "i": {"a": 2.0, "theta": 2.5, "tau": 10.0, "P": 0.0, "m": 0.05},
    }
    weights = {"ee": 15.0, "ei": 15.0, "ie": -15.0, "ii": -4.0}
    c = c.update_var(
        node_vars={f"{n}/wc_op/{k}": v for n, vs in values.items() for k, v in vs.items()},
        edge_vars=[(f"{s}/wc_op/m", f"{t}/wc_op/m_in", {"weight": w}) for (s, t), w in
                   weights.items()],
    )  # fmt: skip
    return c, (100.0, 1e-3, {"e": "e/wc_op/m", "i": "i/wc_op/m"}, 10.0)


@pytest.mark.parametrize(
    ("build", "case"),
    [
        (ik_nd, ("ik_nodim",)),
        (theta, ("theta",)),
        (kuramoto, ("kuramoto",)),
        (kuramoto_mf, ("kuramoto_mf",)),
        (qif_gap, ("qif_gap",)),
        (qif_conduct, ("qif_conduct",)),
        (qif_depression, ("qif_plastic", "depression")),
        (qif_tsodyks, ("qif_plastic", "tsodyks")),
        (wilson_cowan, ("wilson_cowan",)),
    ],
    ids=lambda v: getattr(v, "__name__", None),
)
def test_library_templates_agree_with_pyrates(build, case):
    """rates's library templates give PyRates 1.2.3's numbers with PyRates's values (float64,
    Euler): to 1e-12 relative (1e-15 absolute near 0) at every sample."""
    circuit, (T, dt, outputs, every) = build()
    frame = circuit.run(T, dt, outputs=outputs, solver="euler", sampling_step_size=every)
    for key in outputs:
        theirs = pyrates(*case, key)
        assert len(frame) == len(theirs) > 3
        np.testing.assert_allclose(frame[key].to_numpy(), theirs, rtol=1e-12, atol=1e-15)


# ------------------------------------------------------------------ Connectivity(edge_var_map)

KURAMOTO_W = np.array(
    [
        [0.0, 1.0, 0.5, 0.0, 2.0],
        [0.3, 0.0, 0.0, 1.5, 0.0],
        [0.0, 0.8, 0.0, 0.4, 1.1],
        [1.2, 0.0, 0.7, 0.0, 0.0],
        [0.0, 0.6, 0.0, 0.9, 0.0],
    ]
)


def kuramoto_population(n, weights, edge_var_map, omega, theta0, **options):
    """theta_i' = omega_i + sum_j W_ij sin(theta_j - theta_i) as a population whose
    Connectivity carries a two-input edge template, PyRates-style."""
    from rates_core import EdgeTemplate, OperatorTemplate

    phase = OperatorTemplate(
        "phase_op",
        "theta' = omega + s_in",
        {"theta": "output(0.0)", "omega": 1.0, "s_in": "input(0.0)"},
    )
    coupling = OperatorTemplate(
        "coupling_op",
        "s = sin(theta_s - theta_t)",
        {"s": "output(0.0)", "theta_s": "input(0.0)", "theta_t": "input(0.0)"},
    )
    edge = EdgeTemplate("sin_edge", operators=[coupling])
    params = {"phase_op/omega": omega, "phase_op/theta": theta0}
    pop = PopulationTemplate("e", node=NodeTemplate("osc", operators=[phase]), n=n, params=params)
    conn = Connectivity(
        "e/phase_op/theta", "e/phase_op/s_in", weights, edge=edge, edge_var_map=edge_var_map,
        **options,
    )  # fmt: skip
    return CircuitTemplate("kmo_net", populations={"e": pop}, connections=[conn])


PYRATES_MAP = {"theta_s": "source", "theta_t": "e/phase_op/theta"}


def test_connectivity_edge_var_map_has_pyrates_meaning():
    """PyRates 1.2.3's Connectivity(..., edge=sin_edge, edge_var_map={"theta_s": "source",
    "theta_t": "e/phase_op/theta"}) on a 5-unit Kuramoto population: the same numbers (Euler,
    dt = 1e-3) to 1e-12."""
    net = kuramoto_population(5, KURAMOTO_W, PYRATES_MAP, np.arange(8.0, 13.0), np.arange(5.0))
    frame = net.run(3.0, 1e-3, outputs={"theta": "e/phase_op/theta"}, solver="euler",
                    sampling_step_size=0.5)  # fmt: skip
    expected = pyrates("kuramoto_population", "theta")
    assert expected.shape == (6, 5)
    np.testing.assert_allclose(frame.to_numpy(), expected, rtol=1e-12, atol=0)


def test_connectivity_edge_var_map_in_a_vectorised_population_and_yaml(tmp_path):
    """40 units (built vectorised): a hand-written Euler loop of the same equations, to 1e-12;
    to_yaml keeps edge_var_map."""
    n, dt = 40, 1e-3
    rng = np.random.default_rng(3)
    w = rng.random((n, n)) * (rng.random((n, n)) < 0.3)
    omega, theta = rng.normal(10.0, 1.0, n), rng.uniform(0.0, 2 * np.pi, n)
    net = kuramoto_population(n, w, PYRATES_MAP, omega, theta)
    frame = net.run(0.2, dt, outputs={"theta": "e/phase_op/theta"}, solver="euler")
    for _ in range(len(frame) - 1):
        theta = theta + dt * (omega + (w * np.sin(theta[None, :] - theta[:, None])).sum(1))
    np.testing.assert_allclose(frame.to_numpy()[-1], theta, rtol=1e-12)
    net.to_yaml(tmp_path / "net.yaml")
    loaded = CircuitTemplate.from_yaml(f"{tmp_path}/net.yaml/kmo_net")
    assert dict(loaded.connectivity[0].edge_var_map) == PYRATES_MAP
    again = loaded.run(0.2, dt, outputs={"theta": "e/phase_op/theta"}, solver="euler")
    np.testing.assert_array_equal(again.to_numpy(), frame.to_numpy())


@pytest.mark.parametrize(
    ("edge_var_map", "says"),
    [
        (None, r"inputs \['theta_s', 'theta_t'\]: say what feeds each with edge_var_map"),
        ({"theta_s": "source", "theta_x": "e/phase_op/theta"}, "'theta_x' is not an input"),
        ({"theta_s": "source", "theta_t": "i/phase_op/theta"}, "e/op/var of the target"),
        ({"theta_s": "source", "theta_t": "theta"}, "e/op/var of the target"),
    ],
)
def test_connectivity_edge_var_map_errors_name_the_fix(edge_var_map, says):
    with pytest.raises(ModelError, match=says):
        kuramoto_population(5, KURAMOTO_W, edge_var_map, 10.0, 0.0)


def test_edge_var_map_without_an_edge_is_an_error():
    with pytest.raises(ModelError, match="give edge=EdgeTemplate"):
        Connectivity("e/phase_op/theta", "e/phase_op/s_in", KURAMOTO_W, edge_var_map=PYRATES_MAP)


def test_edge_var_map_given_by_position_names_the_keyword():
    """PyRates's Connectivity(source, target, weights, edge, edge_var_map, ...): in rates the
    fifth argument is delays, so a mapping there is an error naming edge_var_map."""
    with pytest.raises(ModelError, match="pass edge_var_map=..., delays=... and spread=..."):
        Connectivity("e/phase_op/theta", "e/phase_op/s_in", KURAMOTO_W, None, PYRATES_MAP)
