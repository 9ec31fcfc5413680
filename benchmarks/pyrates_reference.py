"""Regenerate the PyRates 1.2.3 reference numbers that rates's tests store.

Run by hand with PyRates's interpreter, never in CI (the tests keep the numbers, so they need
no PyRates)::

    python3 -m venv /tmp/pyrates-venv && /tmp/pyrates-venv/bin/pip install pyrates==1.2.3
    cd "$(mktemp -d)" && /tmp/pyrates-venv/bin/python $REPO/benchmarks/pyrates_reference.py \
        > $REPO/plugins/rates_numpy/tests/pyrates_1_2_3.json

(case names after the script run only those). It prints one JSON object ``{case: {output:
[numbers]}}`` (complex numbers as ``{"re": [...], "im": [...]}``), each case run with
PyRates's numpy backend in float64 (complex128 where a state is complex) in an empty scratch
directory (PyRates writes its generated code into the working directory), with PyRates's
template caches emptied first.
Each case states the PyRates template, the changes made to it and the solver; the tests that
read these numbers (plugins/rates_numpy/tests/test_pyrates_compat.py and
test_pyrates_scripts.py) run rates's counterpart the same way. Only numbers go into the
tests; nothing of PyRates's code or files is copied.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
from collections.abc import Callable
from typing import Any

import numpy as np

NMM = "model_templates.neural_mass_models."
OSC = "model_templates.oscillators."


def simulate(circuit: Any, T: float, dt: float, outputs: dict, every: float, **options: Any):
    """PyRates's run with its numpy backend, float64, explicit Euler unless told otherwise."""
    options.setdefault("solver", "euler")
    options.setdefault("float_precision", "float64")
    frame = circuit.run(
        simulation_time=T,
        step_size=dt,
        outputs=outputs,
        sampling_step_size=every,
        backend="default",
        clear=True,
        verbose=False,
        **options,
    )
    return {key: _numbers(frame[key].to_numpy()) for key in outputs}


def _numbers(values: np.ndarray) -> Any:
    """A list of floats, or ``{"re": [...], "im": [...]}`` for complex values."""
    if np.iscomplexobj(values):
        return {"re": _numbers(values.real), "im": _numbers(values.imag)}
    return [float(v) for v in values]


def _template(reference: str) -> Any:
    from pyrates import CircuitTemplate

    return CircuitTemplate.from_yaml(reference)


def _one_node(name: str, node: str, edge: Any = None, **attributes: Any) -> Any:
    """A circuit of one PyRates node ``p`` with a recurrent edge ``op/r -> op/r_in``."""
    from pyrates import CircuitTemplate, NodeTemplate

    pop = NodeTemplate.from_yaml(node)
    op = node.rsplit(".", 1)[1].replace("_pop", "_op")
    edges = [(f"p/{op}/r", f"p/{op}/r_in", edge, dict(attributes))]
    return CircuitTemplate(name, nodes={"p": pop}, edges=edges)


# --------------------------------------------------------------------------- cases


def qif() -> dict:
    """qif.qif, defaults, Euler dt = 1e-3, samples at t = 0, 1, ..., 9."""
    return simulate(
        _template(NMM + "qif.qif"), 10.0, 1e-3, {"r": "p/qif_op/r", "v": "p/qif_op/v"}, 1.0
    )


def vdp() -> dict:
    """vanderpol.vdp, defaults, Euler dt = 1e-3, samples at t = 0, 1, ..., 9."""
    circuit = _template(OSC + "vanderpol.vdp")
    return simulate(circuit, 10.0, 1e-3, {"x": "p/vdp_op/x", "z": "p/vdp_op/z"}, 1.0)


def qif_sfa() -> dict:
    """qif.qif_sfa, defaults, Euler dt = 1e-3, samples at t = 0, 10, 20, 30."""
    out = {"r": "p/qif_sfa_op/r", "a": "p/qif_sfa_op/a"}
    return simulate(_template(NMM + "qif.qif_sfa"), 40.0, 1e-3, out, 10.0)


def jansen_rit() -> dict:
    """jansenrit.JRC, defaults: the pyramidal cells' PSPs, Euler dt = 1e-4, t = 0, 0.1, ..."""
    out = {"ve": "pc/rpo_e_in/v", "vi": "pc/rpo_i/v"}
    return simulate(_template(NMM + "jansenrit.JRC"), 0.5, 1e-4, out, 0.1)


def izhikevich() -> dict:
    """ik.ik_theta and ik.ik_eta with Delta = 1, eta = 100, g = 15, tau_s = 6, r(0) = 0.01,
    v(0) = -60, DOP853 (rtol 1e-10, atol 1e-12): (r, v) at t = 80."""
    result = {}
    for name in ("ik_theta", "ik_eta"):
        op = f"p/{name}_op"
        values = {"Delta": 1.0, "eta": 100.0, "g": 15.0, "tau_s": 6.0, "r": 0.01, "v": -60.0}
        circuit = _template(NMM + f"ik.{name}").update_var(
            node_vars={f"{op}/{k}": v for k, v in values.items()}
        )
        frame = simulate(
            circuit, 100.0, 1e-3, {"r": f"{op}/r", "v": f"{op}/v"}, 20.0,
            solver="scipy", method="DOP853", rtol=1e-10, atol=1e-12,
        )  # fmt: skip
        result[name] = [frame["r"][4], frame["v"][4]]
    return result


def ik_nodim() -> dict:
    """ik.ik_nodim, defaults, Euler dt = 1e-3, samples at t = 0, 20, ..., 180."""
    op = "p/ik_nodim_op"
    out = {key: f"{op}/{key}" for key in ("r", "v", "u", "s")}
    return simulate(_template(NMM + "ik.ik_nodim"), 200.0, 1e-3, out, 20.0)


def theta() -> dict:
    """theta.kmo_theta, defaults (z(0) = -0.6 - 0.8i), Euler dt = 1e-3, t = 0, 1, ..., 9."""
    circuit = _template(NMM + "theta.kmo_theta")
    return simulate(circuit, 10.0, 1e-3, {"z": "p/theta_op/z"}, 1.0, float_precision="complex128")


def kuramoto() -> dict:
    """kuramoto.kmo_2coupled with omega = 12 and theta(0) = 1 at p2, Euler dt = 1e-3,
    samples at t = 0, 0.25, ..., 2.75."""
    circuit = _template(OSC + "kuramoto.kmo_2coupled").update_var(
        node_vars={"p2/phase_op/omega": 12.0, "p2/phase_op/theta": 1.0}
    )
    out = {"theta1": "p1/phase_op/theta", "theta2": "p2/phase_op/theta"}
    return simulate(circuit, 3.0, 1e-3, out, 0.25)


def kuramoto_mf() -> dict:
    """kuramoto.kmo_mf, defaults (z(0) = 0.5 + 0.1i, coupling 1), Euler dt = 1e-3, t = 0..9."""
    circuit = _template(OSC + "kuramoto.kmo_mf")
    return simulate(circuit, 10.0, 1e-3, {"z": "p/kmo_op/z"}, 1.0, float_precision="complex128")


def qif_gap() -> dict:
    """qif_gap_pop with g = 1 and a recurrent edge of weight 15 (PyRates's qif_gap circuit
    names qif_op, which its qif_gap_pop lacks), Euler dt = 1e-3, t = 0, 1, ..., 9."""
    circuit = _one_node("qif_gap", NMM + "qif.qif_gap_pop", weight=15.0)
    circuit = circuit.update_var(node_vars={"p/qif_gap_op/g": 1.0})
    out = {"r": "p/qif_gap_op/r", "v": "p/qif_gap_op/v"}
    return simulate(circuit, 10.0, 1e-3, out, 1.0)


def qif_conduct() -> dict:
    """qif.qif_conduct, defaults, Euler dt = 1e-3, samples at t = 0, 2, ..., 18."""
    op = "p/qif_conduct_op"
    out = {key: f"{op}/{key}" for key in ("r", "v", "s")}
    return simulate(_template(NMM + "qif.qif_conduct"), 20.0, 1e-3, out, 2.0)


def qif_plastic() -> dict:
    """qif_pop with a recurrent depression_edge (k = 1, weight 15) and one with a tsodyks_edge
    (k = 1, weight 15), both without delay, Euler dt = 1e-3, samples at t = 0, 5, ..., 45."""
    from pyrates import EdgeTemplate

    result = {}
    for name, edge_op in (("depression", "depression_op"), ("tsodyks", "tsodyks_op")):
        edge = EdgeTemplate.from_yaml(NMM + f"synaptic_plasticity.{name}_edge")
        k = {f"{edge_op}/k": 1.0}
        circuit = _one_node(f"qif_{name}", NMM + "qif.qif_pop", edge, weight=15.0, **k)
        frame = simulate(circuit, 50.0, 1e-3, {"r": "p/qif_op/r", "v": "p/qif_op/v"}, 5.0)
        result[name] = frame
    return result


def wilson_cowan() -> dict:
    """wilsoncowan.WC with r(0) = 0.1 (e) and 0.05 (i), Euler dt = 1e-3, t = 0, 10, ..., 90."""
    circuit = _template(NMM + "wilsoncowan.WC").update_var(
        node_vars={"e/rate_op/r": 0.1, "i/rate_op/r": 0.05}
    )
    return simulate(circuit, 100.0, 1e-3, {"e": "e/rate_op/r", "i": "i/rate_op/r"}, 10.0)


def delayed_vdp(spread: float | None = None) -> dict:
    """Two vdp_pop nodes coupled x -> inp (weight 0.5, delay 1, and ``spread`` if given) both
    ways, x(0) = 1, Euler dt = 1e-3: x of the first at t = 1, 2, 5, 9 (PyRates's pre-history
    is 0)."""
    from pyrates import CircuitTemplate, NodeTemplate

    pop = NodeTemplate.from_yaml(OSC + "vanderpol.vdp_pop")
    attributes = {"weight": 0.5, "delay": 1.0}
    if spread is not None:
        attributes["spread"] = spread
    edges = [
        ("p1/vdp_op/x", "p2/vdp_op/inp", None, dict(attributes)),
        ("p2/vdp_op/x", "p1/vdp_op/inp", None, dict(attributes)),
    ]
    circuit = CircuitTemplate("vdp2", nodes={"p1": pop, "p2": pop}, edges=edges).update_var(
        node_vars={"p1/vdp_op/x": 1.0, "p2/vdp_op/x": 1.0}
    )
    x1 = simulate(circuit, 10.0, 1e-3, {"x1": "p1/vdp_op/x"}, 1e-3)["x1"]
    return {"x1": [x1[k] for k in (1000, 2000, 5000, 9000)]}


def spread_vdp() -> dict:
    """delayed_vdp with spread 0.5 on both edges (a gamma-kernel chain of order 4)."""
    return delayed_vdp(spread=0.5)


#: The Kuramoto population of ``kuramoto_population``: 5 units, coupling W[target, source]
KURAMOTO_W = [
    [0.0, 1.0, 0.5, 0.0, 2.0],
    [0.3, 0.0, 0.0, 1.5, 0.0],
    [0.0, 0.8, 0.0, 0.4, 1.1],
    [1.2, 0.0, 0.7, 0.0, 0.0],
    [0.0, 0.6, 0.0, 0.9, 0.0],
]
KURAMOTO_OMEGA = [8.0, 9.0, 10.0, 11.0, 12.0]
KURAMOTO_THETA = [0.0, 1.0, 2.0, 3.0, 4.0]


def kuramoto_population() -> dict:
    """PopulationTemplate "e" of 5 kuramoto.phase_pop units (omega, theta(0) above) and a
    Connectivity e/phase_op/theta -> e/phase_op/s_in with KURAMOTO_W and the sin_edge,
    edge_var_map={"theta_s": "source", "theta_t": "e/phase_op/theta"}: theta' = omega +
    sum_j W_ij sin(theta_j - theta_i). Euler dt = 1e-3, samples at t = 0, 0.5, ..., 2.5."""
    from pyrates import (
        CircuitTemplate,
        Connectivity,
        EdgeTemplate,
        NodeTemplate,
        PopulationTemplate,
    )

    node = NodeTemplate.from_yaml(OSC + "kuramoto.phase_pop")
    edge = EdgeTemplate.from_yaml(OSC + "kuramoto.sin_edge")
    params = {"phase_op/omega": KURAMOTO_OMEGA, "phase_op/theta": KURAMOTO_THETA}
    pop = PopulationTemplate("e", node=node, n=5, params=params)
    conn = Connectivity(
        "e/phase_op/theta", "e/phase_op/s_in", np.array(KURAMOTO_W), edge=edge,
        edge_var_map={"theta_s": "source", "theta_t": "e/phase_op/theta"},
    )  # fmt: skip
    circuit = CircuitTemplate("kmo_pop", populations={"e": pop}, connections=[conn])
    frame = circuit.run(
        simulation_time=3.0, step_size=1e-3, outputs={"theta": "e/phase_op/theta"},
        sampling_step_size=0.5, solver="euler", backend="default", float_precision="float64",
        clear=True, verbose=False,
    )  # fmt: skip
    return {"theta": [_numbers(row) for row in np.asarray(frame, dtype=float)]}


def qif_keys() -> dict:
    """The argument keys of get_run_func for qif.qif (vectorize=False)."""
    _, _, keys, _ = _template(NMM + "qif.qif").get_run_func(
        "qif_rhs", 1e-3, backend="default", vectorize=False, clear=True
    )
    return {"keys": [str(k).rsplit("/", 1)[-1] for k in keys]}


CASES: dict[str, Callable[[], dict]] = {
    f.__name__: f
    for f in (
        qif, vdp, qif_sfa, jansen_rit, izhikevich, ik_nodim, theta, kuramoto, kuramoto_mf,
        qif_gap, qif_conduct, qif_plastic, wilson_cowan, delayed_vdp, qif_keys,
        kuramoto_population, spread_vdp,
    )
}  # fmt: skip


def main(names: list[str]) -> None:
    from pyrates import clear_frontend_caches

    results = {}
    for name in names or list(CASES):
        with tempfile.TemporaryDirectory() as scratch, contextlib.redirect_stdout(sys.stderr):
            here = os.getcwd()
            os.chdir(scratch)
            try:
                clear_frontend_caches()  # PyRates caches templates, and a run edits them
                results[name] = CASES[name]()
            finally:
                os.chdir(here)
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main(sys.argv[1:])
