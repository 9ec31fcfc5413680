"""The model library (rates_core.models) on rates-numpy: each family reproduces a published
property (closed forms, bifurcations, reductions between models), not just that it runs."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import brentq
from scipy.signal import welch

from rates_core import CircuitTemplate, NodeTemplate, load_template
from rates_core.cli import library_entries

LIB = "rates_core.models."


def circuit(ref: str, **node_vars: float) -> CircuitTemplate:
    """A library circuit; an operator or node is wrapped as node ``n`` of a circuit."""
    tmpl = load_template(LIB + ref)
    if not isinstance(tmpl, (CircuitTemplate, NodeTemplate)):
        tmpl = NodeTemplate(name=tmpl.name, operators=[tmpl])
    if isinstance(tmpl, NodeTemplate):
        tmpl = CircuitTemplate(name=tmpl.name, nodes={"n": tmpl})
    return tmpl.update_var(node_vars=node_vars) if node_vars else tmpl


def run(c: CircuitTemplate, T: float, dt: float, outputs: dict, every: int = 1, **kw):
    frame = c.run(T, dt, solver="rk4", outputs=outputs, sampling_step_size=every * dt, **kw)
    return frame.index.to_numpy(), {k: frame[k].to_numpy() for k in outputs}


def up_crossings(t: np.ndarray, x: np.ndarray, level: float = 0.0) -> np.ndarray:
    """Times where x crosses ``level`` upwards, linearly interpolated."""
    k = np.nonzero((x[:-1] < level) & (x[1:] >= level))[0]
    return t[k] + (level - x[k]) * (t[k + 1] - t[k]) / (x[k + 1] - x[k])


# --------------------------------------------------------------------------- base blocks

TAU, H = 0.7, 2.0


@pytest.mark.parametrize(
    ("op", "impulse_state", "impulse", "step"),
    [
        (
            "exp_syn_op",
            {"s": H / TAU},
            lambda t: H / TAU * np.exp(-t / TAU),
            lambda t: H * (1 - np.exp(-t / TAU)),
        ),
        (
            "biexp_syn_op",
            {"x": 1.0},
            lambda t: H * (np.exp(-t / 2.0) - np.exp(-t / 0.5)) / 1.5,
            lambda t: H * (1 - (2.0 * np.exp(-t / 2.0) - 0.5 * np.exp(-t / 0.5)) / 1.5),
        ),
        (
            "alpha_syn_op",
            {"x": H / TAU},
            lambda t: H / TAU * t * np.exp(-t / TAU),
            lambda t: H * TAU * (1 - (1 + t / TAU) * np.exp(-t / TAU)),
        ),
    ],
)
def test_synaptic_kernels(op, impulse_state, impulse, step) -> None:
    """Impulse (a jump of the state) and unit-step responses against the closed forms (1e-8)."""
    params = {"h": H} if op == "biexp_syn_op" else {"h": H, "tau": TAU}
    base = circuit("base." + op, **{f"n/{op}/{k}": v for k, v in params.items()})
    out = {"s": f"n/{op}/s"}
    kick = base.update_var(node_vars={f"n/{op}/{k}": v for k, v in impulse_state.items()})
    t, got = run(kick, 6.0, 1e-3, out, every=10)
    np.testing.assert_allclose(got["s"], impulse(t), atol=1e-8, rtol=0)
    driven = base.update_var(node_vars={f"n/{op}/m_in": 1.0})
    t, got = run(driven, 6.0, 1e-3, out, every=10)
    np.testing.assert_allclose(got["s"], step(t), atol=1e-8, rtol=0)


def test_leaky_integrator_and_transfer_functions() -> None:
    """Leaky integrator step response; sigmoid and tanh of a driven potential (round-off)."""
    c = circuit("base.leaky_op", **{"n/leaky_op/tau": TAU, "n/leaky_op/x_in": 3.0})
    t, got = run(c, 4.0, 1e-3, {"x": "n/leaky_op/x"}, every=10)
    np.testing.assert_allclose(got["x"], 3.0 * (1 - np.exp(-t / TAU)), atol=1e-9, rtol=0)
    node = NodeTemplate(  # the sigmoid reads the integrator by an edge, tanh an input series
        name="transfer",
        operators=[
            load_template(LIB + "base.leaky_op").update_var("x_in", 3.0),
            load_template(LIB + "base.sigmoid_op").update_var("s", 2.0).update_var("v_thr", 1.0),
            load_template(LIB + "base.tanh_op").update_var("s", 0.5),
        ],
    )
    steps = 400
    v = np.linspace(-3.0, 3.0, steps)
    c = CircuitTemplate(
        name="t",
        nodes={"n": node},
        edges=[("n/leaky_op/x", "n/sigmoid_op/v", None, {"weight": 1.0})],
    )
    t, got = run(
        c,
        steps * 1e-2,
        1e-2,
        {"x": "n/leaky_op/x", "m": "n/sigmoid_op/m", "th": "n/tanh_op/m"},
        inputs={"n/tanh_op/v": v},
    )
    np.testing.assert_allclose(got["m"], 1 / (1 + np.exp(2.0 * (1.0 - got["x"]))), atol=1e-12)
    np.testing.assert_allclose(got["th"], np.tanh(0.5 * v), atol=1e-12)
    assert np.ptp(got["m"]) > 0.5


# --------------------------------------------------------------------------- oscillators


def test_van_der_pol_period_and_amplitude() -> None:
    """mu = 1: period 6.6633 (1e-3 relative) and amplitude 2.0086 (1e-3)."""
    t, got = run(circuit("vanderpol.vdp"), 50.0, 5e-3, {"x": "p/vdp_op/x"})
    crossings = up_crossings(t, got["x"])
    period = np.diff(crossings[2:]).mean()
    assert period == pytest.approx(6.6633, rel=1e-3)
    assert np.abs(got["x"][t > 20]).max() == pytest.approx(2.0086, abs=1e-3)


@pytest.mark.parametrize("mu", [1.0, 0.25])
def test_stuart_landau_radius_and_period(mu: float) -> None:
    """Radius sqrt(mu) (1e-6) and period 2 pi / omega (1e-6); Cartesian and complex forms agree."""
    omega = 3.0
    sl = circuit("stuartlandau.sl", **{"p/sl_op/mu": mu, "p/sl_op/omega": omega})
    slc = circuit(
        "stuartlandau.sl_complex",
        **{"p/sl_complex_op/mu": mu, "p/sl_complex_op/omega": omega},
    )
    t, a = run(sl, 40.0, 2e-3, {"x": "p/sl_op/x", "w": "p/sl_op/w"})
    _, b = run(slc, 40.0, 2e-3, {"z": "p/sl_complex_op/z"})
    np.testing.assert_allclose(a["x"] + 1j * a["w"], b["z"], atol=1e-9)
    late = t > 30
    np.testing.assert_allclose(np.hypot(a["x"], a["w"])[late], np.sqrt(mu), rtol=1e-6)
    period = np.diff(up_crossings(t[late], a["x"][late])).mean()
    assert period == pytest.approx(2 * np.pi / omega, rel=1e-6)


@pytest.mark.parametrize("K", [1.0, 1.6, 3.0, 8.0])
def test_kuramoto_ott_antonsen_onset(K: float) -> None:
    """Lorentzian frequencies (Delta = 1): |z| -> 0 below K = 2 Delta, sqrt(1 - 2 Delta/K) above."""
    c = circuit("kuramoto.kmo_oa", **{"p/kmo_oa_op/K": K, "p/kmo_oa_op/Delta": 1.0})
    t, got = run(c, 80.0, 1e-2, {"z": "p/kmo_oa_op/z"}, every=10)
    want = np.sqrt(1 - 2.0 / K) if K > 2.0 else 0.0
    assert abs(got["z"][-1]) == pytest.approx(want, abs=1e-5)


@pytest.mark.parametrize("d_omega", [1.0, 3.0])
def test_two_kuramoto_oscillators_lock_or_drift(d_omega: float) -> None:
    """K = 1 each way: phase difference phi' = d_omega - 2 sin(phi) locks at asin(d_omega / 2)
    (1e-6) for d_omega <= 2, else drifts with the mean rate sqrt(d_omega^2 - 4) (1e-3)."""
    c = circuit("kuramoto.kmo", **{"p1/phase_op/omega": 10.0 + d_omega, "p2/phase_op/omega": 10.0})
    t, got = run(c, 60.0, 1e-3, {"a": "p1/phase_op/theta", "b": "p2/phase_op/theta"}, every=10)
    phi = got["a"] - got["b"]
    if d_omega <= 2:
        assert phi[-1] == pytest.approx(np.arcsin(d_omega / 2), abs=1e-6)
    else:
        slips = up_crossings(t, np.mod(phi + np.pi, 2 * np.pi) - np.pi, level=0.0)
        assert np.diff(slips).mean() == pytest.approx(2 * np.pi / np.sqrt(d_omega**2 - 4), rel=1e-3)


# --------------------------------------------------------------------------- Jansen-Rit

JR_OUT = {"e": "pc/syn_exc_ext/v", "i": "pc/syn_inh/v"}


def test_jansen_rit_forms_agree() -> None:
    """The three-population JRC and the single-operator JRC_op give the same PSP (1e-12 V)."""
    _, a = run(load_template(LIB + "jansenrit.JRC"), 1.0, 1e-4, JR_OUT, every=10)
    _, b = run(load_template(LIB + "jansenrit.JRC_op"), 1.0, 1e-4, {"v": "jrc/jrc_op/v"}, every=10)
    np.testing.assert_allclose(a["e"] + a["i"], b["v"], atol=1e-12, rtol=0)
    assert np.ptp(b["v"]) > 5e-3  # it oscillates


@pytest.mark.parametrize("noisy", [False, True], ids=["p=220", "p~U(120,320)"])
def test_jansen_rit_alpha_peak(noisy: bool) -> None:
    """Standard parameters: the PSP spectrum (Welch) peaks in the alpha band, 8-13 Hz."""
    dt, T = 5e-4, 8.0
    kw = {}
    if noisy:
        u = np.random.default_rng(7).uniform(120.0, 320.0, round(T / dt))
        kw["inputs"] = {"pc/syn_exc_ext/u": u}
    t, got = run(load_template(LIB + "jansenrit.JRC"), T, dt, JR_OUT, every=2, **kw)
    psp = (got["e"] + got["i"])[t > 1.0]
    f, p = welch(psp - psp.mean(), fs=1 / (2 * dt), nperseg=2048)
    assert 8.0 <= f[np.argmax(p)] <= 13.0


def test_jansen_rit_delay_coupled() -> None:
    """Two delay-coupled circuits: identical circuits stay in synchrony (1e-12); with zero weight
    each is the single JRC (1e-12); the delay matters (the 10 ms and the 1 ms runs differ)."""
    pair = load_template(LIB + "jansenrit.JRC_delay")
    out = {"a": "jrc1/pc/syn_exc_ext/v", "b": "jrc2/pc/syn_exc_ext/v"}
    _, got = run(pair, 0.5, 1e-4, out, every=10)
    np.testing.assert_allclose(got["a"], got["b"], atol=1e-12, rtol=0)
    edges = [
        ("jrc1/pc/rate_out/m", "jrc2/pc/syn_exc_ext/m_in"),
        ("jrc2/pc/rate_out/m", "jrc1/pc/syn_exc_ext/m_in"),
    ]
    short = pair.update_var(edge_vars=[(s, t, {"delay": 0.001}) for s, t in edges])
    _, other = run(short, 0.5, 1e-4, out, every=10)
    assert np.max(np.abs(other["a"] - got["a"])) > 1e-5
    free = pair.update_var(
        node_vars={"jrc2/pc/syn_exc_ext/u": 150.0},
        edge_vars=[(s, t, {"weight": 0.0}) for s, t in edges],
    )
    _, alone = run(free, 0.5, 1e-4, out, every=10)
    _, single = run(load_template(LIB + "jansenrit.JRC"), 0.5, 1e-4, JR_OUT, every=10)
    np.testing.assert_allclose(alone["a"], single["e"], atol=1e-12, rtol=0)
    assert np.max(np.abs(alone["a"] - alone["b"])) > 1e-4


# --------------------------------------------------------------------------- Wilson-Cowan


@pytest.mark.parametrize("name", ["WC", "WC_stp"])
def test_wilson_cowan_limit_cycle(name: str) -> None:
    """Wilson & Cowan (1972) limit-cycle parameters: E oscillates with an amplitude above 0.05
    that is the same in every cycle after the transient (peaks agree to 1e-4)."""
    t, got = run(load_template(LIB + f"wilsoncowan.{name}"), 300.0, 1e-2, {"e": "e/wc_op/m"})
    e = got["e"][t > 150]
    peaks = np.nonzero((e[1:-1] > e[:-2]) & (e[1:-1] >= e[2:]))[0] + 1
    assert len(peaks) >= 5
    assert np.ptp(e) > 0.05
    np.testing.assert_allclose(e[peaks], e[peaks].mean(), atol=1e-4)
    troughs = np.nonzero((e[1:-1] < e[:-2]) & (e[1:-1] <= e[2:]))[0] + 1
    np.testing.assert_allclose(e[troughs], e[troughs].mean(), atol=1e-4)


# --------------------------------------------------------------------------- QIF mean field

QIF_OUT = {"r": "p/qif_op/r", "v": "p/qif_op/v"}
DELTA, J = 1.0, 15.0


def eta_of_rate(r, delta=DELTA, j=J):
    """Stationary QIF mean field (tau = 1): v = -Delta/(2 pi r) and v^2 + eta + J r - (pi r)^2 = 0
    solved for eta."""
    return (np.pi * r) ** 2 - j * r - delta**2 / (4 * np.pi**2 * r**2)


def bistable_range(delta=DELTA, j=J) -> tuple[float, float]:
    """The saddle-node values of eta: the local extrema of eta(r)."""
    d = lambda r: 2 * np.pi**2 * r - j + delta**2 / (2 * np.pi**2 * r**3)  # noqa: E731
    grid = np.geomspace(1e-3, 10.0, 4000)
    signs = np.sign(d(grid))
    roots = [brentq(d, grid[k], grid[k + 1]) for k in np.nonzero(np.diff(signs))[0]]
    assert len(roots) == 2
    return tuple(sorted(eta_of_rate(np.array(roots), delta, j)))


def stationary_rates(eta: float, delta=DELTA, j=J) -> list[float]:
    grid = np.geomspace(1e-4, 20.0, 20000)
    f = eta_of_rate(grid, delta, j) - eta
    return [
        brentq(lambda r: eta_of_rate(r, delta, j) - eta, grid[k], grid[k + 1])
        for k in np.nonzero(np.diff(np.sign(f)))[0]
    ]


def final_state(c: CircuitTemplate, out: dict, T: float = 40.0, dt: float = 2e-3, **init):
    c = c.update_var(node_vars=init) if init else c
    _, got = run(c, T, dt, out, every=500)
    return {k: v[-1] for k, v in got.items()}


def test_qif_bistability_matches_saddle_node_curve() -> None:
    """Delta = 1, J = 15: inside the analytic bistable eta range a low and a high initial state
    end in different fixed points, the lowest and highest analytic ones (1e-5 after 60 tau);
    outside the range both end in the same one."""
    lo, hi = bistable_range()
    # eta = -5, the bistable example of Montbrio et al. (2015, Fig. 2), lies inside
    assert lo < -5.0 < hi
    base = load_template(LIB + "qif.qif")
    for eta, inside in [((lo + hi) / 2, True), (lo - 1.0, False), (hi + 1.0, False)]:
        c = base.update_var(node_vars={"p/qif_op/eta": eta})
        low = final_state(c, QIF_OUT, T=60.0, **{"p/qif_op/r": 0.01, "p/qif_op/v": -3.0})
        high = final_state(c, QIF_OUT, T=60.0, **{"p/qif_op/r": 1.5, "p/qif_op/v": -0.1})
        rates = stationary_rates(eta)
        assert len(rates) == (3 if inside else 1)
        assert low["r"] == pytest.approx(rates[0], abs=1e-5)
        assert high["r"] == pytest.approx(rates[-1], abs=1e-5)
        assert high["v"] == pytest.approx(-DELTA / (2 * np.pi * rates[-1]), abs=1e-5)


def test_qif_sfa() -> None:
    """Spike-frequency adaptation: alpha = 0 is the base model (1e-12); with alpha > 0 the fixed
    point is that of the base model with J - alpha (the adaptation kernel has unit area) (1e-6)."""
    out = {"r": "p/qif_sfa_op/r", "v": "p/qif_sfa_op/v"}
    sfa = load_template(LIB + "qif.qif_sfa").update_var(node_vars={"p/qif_sfa_op/alpha": 0.0})
    _, a = run(sfa, 5.0, 1e-3, out, every=50)
    _, b = run(load_template(LIB + "qif.qif"), 5.0, 1e-3, QIF_OUT, every=50)
    np.testing.assert_allclose(a["r"], b["r"], atol=1e-12, rtol=0)
    eta, alpha = -3.0, 5.0
    c = load_template(LIB + "qif.qif_sfa").update_var(
        node_vars={"p/qif_sfa_op/eta": eta, "p/qif_sfa_op/alpha": alpha}
    )
    end = final_state(c, out, T=300.0, dt=5e-3)
    (rate,) = stationary_rates(eta, j=J - alpha)
    assert end["r"] == pytest.approx(rate, abs=1e-6)


def test_qif_gap_junctions() -> None:
    """Gap junctions: g = 0 is the base model (1e-12); the fixed point for g > 0 solves
    v = g/2 - Delta/(2 pi r), v^2 + eta + J r - (pi r)^2 = 0 (1e-6)."""
    out = {"r": "p/qif_gap_op/r", "v": "p/qif_gap_op/v"}
    g0 = load_template(LIB + "qif.qif_gap").update_var(node_vars={"p/qif_gap_op/g": 0.0})
    _, a = run(g0, 5.0, 1e-3, out, every=50)
    _, b = run(load_template(LIB + "qif.qif"), 5.0, 1e-3, QIF_OUT, every=50)
    np.testing.assert_allclose(a["r"], b["r"], atol=1e-12, rtol=0)
    g, eta = 1.0, -3.0
    end = final_state(
        load_template(LIB + "qif.qif_gap").update_var(node_vars={"p/qif_gap_op/eta": eta}), out
    )
    f = lambda r: (g / 2 - DELTA / (2 * np.pi * r)) ** 2 + eta + J * r - (np.pi * r) ** 2  # noqa: E731
    assert f(end["r"]) == pytest.approx(0.0, abs=1e-6)
    assert end["v"] == pytest.approx(g / 2 - DELTA / (2 * np.pi * end["r"]), abs=1e-6)


def test_qif_synaptic_depression_and_tsodyks_markram() -> None:
    """Depression: kappa = 0 is the base model (1e-12); the steady state has
    x = 1/(1 + kappa tau_d r) (1e-6). Tsodyks-Markram: u = U (1 + tau_f r)/(1 + U tau_f r),
    x = 1/(1 + u tau_d r) (1e-6)."""
    sd = load_template(LIB + "qif.qif_sd")
    _, a = run(sd.update_var(node_vars={"p/depression_op/kappa": 0.0}), 5.0, 1e-3, QIF_OUT)
    _, b = run(load_template(LIB + "qif.qif"), 5.0, 1e-3, QIF_OUT)
    np.testing.assert_allclose(a["r"], b["r"], atol=1e-12, rtol=0)
    end = final_state(sd, {"r": "p/qif_op/r", "x": "p/depression_op/x"}, T=200.0, dt=5e-3)
    assert end["r"] > 0
    assert end["x"] == pytest.approx(1 / (1 + 0.1 * 10.0 * end["r"]), abs=1e-6)
    tm = load_template(LIB + "qif.qif_tsodyks")
    out = {"r": "p/qif_op/r", "u": "p/tsodyks_op/u", "x": "p/tsodyks_op/x"}
    end = final_state(tm, out, T=300.0, dt=5e-3)
    U, r = 0.2, end["r"]
    u = U * (1 + 20.0 * r) / (1 + U * 20.0 * r)
    assert end["u"] == pytest.approx(u, abs=1e-6)
    assert end["x"] == pytest.approx(1 / (1 + u * 10.0 * r), abs=1e-6)


def test_qif_three_populations_reduce_to_one() -> None:
    """Three identical populations coupled all-to-all with J/3 behave as one population with
    J (1e-12): the circuit's edges sum correctly."""
    c = load_template(LIB + "qif.qif_3pop")
    pops = ["e", "i1", "i2"]
    existing = {
        (s, t)
        for s, t in [("e", "e"), ("e", "i1"), ("e", "i2"), ("i1", "e"), ("i1", "i2"), ("i2", "i1")]
    }
    c = c.update_var(
        edge_vars=[(f"{s}/qif_op/r", f"{t}/qif_op/r_in", {"weight": J / 3}) for s, t in existing]
    )
    missing = [(s, t) for s in pops for t in pops if (s, t) not in existing]
    c = c.add_edges(
        [(f"{s}/qif_op/r", f"{t}/qif_op/r_in", None, {"weight": J / 3}) for s, t in missing]
    )
    out = {p: f"{p}/qif_op/r" for p in pops}
    _, got = run(c, 5.0, 1e-3, out, every=50)
    _, one = run(load_template(LIB + "qif.qif"), 5.0, 1e-3, QIF_OUT, every=50)
    for p in pops:
        np.testing.assert_allclose(got[p], one["r"], atol=1e-12, rtol=0)


# --------------------------------------------------------------------------- theta neurons


def test_theta_equals_qif_under_conformal_map() -> None:
    """theta.theta and qif.qif: r equal and z = (1 - conj W)/(1 + conj W), W = pi r + i v
    (1e-9), through the transient to the fixed point and with a driven eta."""
    eta = -4.0
    th = load_template(LIB + "theta.theta").update_var(node_vars={"p/theta_op/eta": eta})
    q = load_template(LIB + "qif.qif").update_var(node_vars={"p/qif_op/eta": eta})
    drive = 3.0 * np.sin(np.arange(10000) * 1e-3 * 2.0)
    t, a = run(
        th,
        10.0,
        1e-3,
        {"r": "p/theta_op/r", "z": "p/theta_op/z"},
        every=20,
        inputs={"p/theta_op/I_ext": drive},
    )
    _, b = run(q, 10.0, 1e-3, QIF_OUT, every=20, inputs={"p/qif_op/I_ext": drive})
    np.testing.assert_allclose(a["r"], b["r"], atol=1e-9, rtol=0)
    w = np.pi * b["r"] + 1j * b["v"]
    np.testing.assert_allclose(a["z"], (1 - np.conj(w)) / (1 + np.conj(w)), atol=1e-9)
    assert np.ptp(b["r"]) > 0.1


# --------------------------------------------------------------------------- Izhikevich


def test_izhikevich_reduces_to_qif() -> None:
    """Adaptation off, alpha = 0 (dimensionless) or C = k = 1, v_r = v_t = 0 (physical units):
    both Izhikevich mean fields give the rates of the QIF mean field with conductance-based
    synapses and the same synapse (1e-12)."""
    shared = {"Delta": 1.0, "eta": -2.0, "g": 1.5, "I_ext": 0.0}
    syn = {"p/exp_syn_op/tau": 2.0, "p/exp_syn_op/h": 2.0}
    qif = load_template(LIB + "qif.qif_cond").update_var(
        node_vars={
            **{f"p/qif_cond_op/{k}": v for k, v in shared.items()},
            "p/qif_cond_op/E_r": 10.0,
            "p/qif_cond_op/r": 0.1,
            "p/qif_cond_op/v": -1.0,
            **syn,
        }
    )
    nd = load_template(LIB + "ik.ik_nd").update_var(
        node_vars={
            **{f"p/ik_nd_op/{k}": v for k, v in shared.items()},
            **{f"p/ik_nd_op/{k}": 0.0 for k in ("alpha", "a", "b", "w_jump")},
            "p/ik_nd_op/e_r": 10.0,
            "p/ik_nd_op/r": 0.1,
            "p/ik_nd_op/v": -1.0,
            **syn,
        }
    )
    eta = load_template(LIB + "ik.ik_eta").update_var(
        node_vars={
            **{f"p/ik_eta_op/{k}": v for k, v in shared.items()},
            **{f"p/ik_eta_op/{k}": 0.0 for k in ("v_r", "v_t", "b", "kappa")},
            "p/ik_eta_op/C": 1.0,
            "p/ik_eta_op/k": 1.0,
            "p/ik_eta_op/E_r": 10.0,
            "p/ik_eta_op/r": 0.1,
            "p/ik_eta_op/v": -1.0,
            **syn,
        }
    )
    _, q = run(qif, 20.0, 1e-3, {"r": "p/qif_cond_op/r"}, every=100)
    _, a = run(nd, 20.0, 1e-3, {"r": "p/ik_nd_op/r"}, every=100)
    _, b = run(eta, 20.0, 1e-3, {"r": "p/ik_eta_op/r"}, every=100)
    assert np.ptp(q["r"]) > 0.05
    np.testing.assert_allclose(a["r"], q["r"], atol=1e-12, rtol=0)
    np.testing.assert_allclose(b["r"], q["r"], atol=1e-12, rtol=0)


def test_izhikevich_threshold_heterogeneity() -> None:
    """Lorentzian thresholds of half-width Delta_v act at a fixed point like Lorentzian
    background currents of half-width k Delta_v (v* - v_r) and a mean current lowered by
    pi C r* Delta_v (Gast, Solla & Kennedy 2023): the ik_theta fixed point is a fixed point of
    ik_eta with that Delta and eta (rates to 1e-6 relative)."""
    out = {"r": "p/ik_theta_op/r", "v": "p/ik_theta_op/v"}
    th = load_template(LIB + "ik.ik_theta")
    end = final_state(th, out, T=1000.0, dt=1e-2)
    assert end["r"] > 1e-3  # firing (per ms)
    assert end["v"] > -60.0  # v > v_r, where the mean field holds
    delta = 0.7 * 1.0 * (end["v"] + 60.0)
    eta_shift = -np.pi * 100.0 * end["r"] * 1.0
    eta = load_template(LIB + "ik.ik_eta").update_var(
        node_vars={"p/ik_eta_op/Delta": delta, "p/ik_eta_op/eta": 60.0 + eta_shift}
    )
    other = final_state(eta, {"r": "p/ik_eta_op/r", "v": "p/ik_eta_op/v"}, T=1000.0, dt=1e-2)
    assert other["r"] == pytest.approx(end["r"], rel=1e-6)
    assert other["v"] == pytest.approx(end["v"], rel=1e-6)


# --------------------------------------------------------------------------- the whole library


def test_every_template_is_described_and_loads() -> None:
    """Every template has a description citing a publication (a year) and loads through its
    dotted reference."""
    entries = library_entries()
    files = {e.file for e in entries}
    assert {
        "base",
        "jansenrit",
        "qif",
        "ik",
        "theta",
        "wilsoncowan",
        "kuramoto",
        "stuartlandau",
        "vanderpol",
    } <= files
    for e in entries:
        assert e.description, e.reference
        load_template(e.reference)
        assert any(str(y) in e.description for y in range(1920, 2030)), e.reference
