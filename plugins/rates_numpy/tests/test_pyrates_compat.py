"""Scripts written the PyRates way (issue 21, "Loud breakages"): each runs unchanged, with a
warning for what rates ignores, or fails with a message that names the rates way."""

from __future__ import annotations

import warnings

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

#: PyRates 1.2.3's ik_theta and ik_eta (model_templates.neural_mass_models.ik) with Delta=1,
#: eta=100, g=15, tau_s=6, r(0)=0.01, v(0)=-60, other values its defaults, float64, DOP853:
#: (r, v) at t = 80 ms, near the fixed point (where the solver's tolerance hardly matters).
PYRATES_IK_AT_80 = {
    "ik_theta": (0.0005638345443120706, -66.07005372097444),
    "ik_eta": (0.000142513157661437, -66.16111430496582),
}


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
    r, v = PYRATES_IK_AT_80[name]
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


def test_delayed_export_needs_no_inputs_and_a_dde_backend():
    with pytest.raises(ModelError, match="without inputs"):
        delayed_vdp().get_run_func("f", 1e-3, inputs={"p1/vdp_op/inp": np.zeros(10)})


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
    r = [0.01, 0.08000269056831683, 0.07848231806222307, 0.07758684219533507]
    a = [0.0, 0.10305023998633628, 0.23506554838114005, 0.31553166653449294]
    np.testing.assert_allclose(frame["r"], r, rtol=1e-12, atol=0)
    np.testing.assert_allclose(frame["a"], a, rtol=1e-12, atol=0)


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
    ve = [0.0, 0.02432926009144612, 0.024138815927392768, 0.02432053396965988, 0.024472499793047813]
    vi = [0.0, -0.017363819893061565, -0.014087480961622934, -0.014663883967548096,
          -0.01555464514824264]  # fmt: skip
    np.testing.assert_allclose(frame["ve"], ve, rtol=1e-12, atol=0)
    np.testing.assert_allclose(frame["vi"], vi, rtol=1e-12, atol=0)


# PyRates 1.2.3's numbers (float64, Euler, dt = 1e-3, default parameters, samples at t = 0,
# 1, ..., 9) of its qif and vdp templates
PYRATES_QIF = {
    "r": [0.01, 0.07809562877097087, 0.08088496017645899, 0.08111299582055949,
          0.08113259463992992, 0.08113428281656054, 0.08113442824180456, 0.0811344407692384,
          0.08113444184839447, 0.08113444194135676],
    "v": [-2.0, -1.9873417640481008, -1.9638831755711197, -1.961814881411182,
          -1.9616367750058195, -1.9616214345979945, -1.9616201131476287, -1.9616199993135748,
          -1.9616199895075197, -1.9616199886627923],
}  # fmt: skip
PYRATES_VDP = {
    "x": [0.0, 1.2513195787934028, 1.3656689078346065, 0.3411874994162667, -1.7699207983488796,
          -1.7284593382346423, -0.8276422238672286, 1.2903915683721265, 1.9183157551566774,
          1.2087456190198873],
    "z": [1.0, 0.9806141206019539, -0.537755365050635, -1.6698895078128024, -1.191583662403345,
          0.6091222415515155, 1.3106501322269382, 2.4221942219566404, -0.44016078413868165,
          -0.9913218489635958],
}  # fmt: skip


@pytest.mark.parametrize(
    ("reference", "outputs", "expected"),
    [
        ("qif.qif", {"r": "p/qif_op/r", "v": "p/qif_op/v"}, PYRATES_QIF),
        ("vanderpol.vdp", {"x": "p/vdp_op/x", "z": "p/vdp_op/z"}, PYRATES_VDP),
    ],
)
def test_qif_and_van_der_pol_agree_with_pyrates(reference, outputs, expected):
    """rates's qif (Montbrio, Pazo & Roxin 2015) and vdp templates are PyRates 1.2.3's qif and
    vdp: the same numbers to 1e-12 over 10 time units."""
    frame = CircuitTemplate.from_yaml(f"rates_core.models.{reference}").run(
        10.0, 1e-3, outputs=outputs, solver="euler", sampling_step_size=1.0
    )
    for key, values in expected.items():
        np.testing.assert_allclose(frame[key], values, rtol=1e-12, atol=0)
