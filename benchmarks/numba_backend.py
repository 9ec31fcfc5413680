"""rates-numba against hand-written numba loops, rates-fortran, rates-numpy, PyRates, in one run.

Cases: the Jansen-Rit circuit (``rates_core.models.jansenrit.JRC``) 10 s at dt = 1e-4 sampled
at 1e-3 with euler and rk4; the QIF population (``rates_core.models.qif.qif``) 100 time units
at dt = 1e-3 sampled at 1e-2 with euler; a 1000-node QIF network (``qif_pop`` nodes coupled by
``add_edges_from_matrix`` with the weights of ``cases/qif_network.py``) 10 time units at dt =
1e-3 with euler.

For rates-numba three times are reported:

* ``first``: the first ``circuit.run`` in this process (numba compiles the model: the disk
  cache is a fresh directory);
* ``run``: a later ``circuit.run`` (best of ``--repeat``), and ``loop``, the compiled loop call
  inside it (``Trajectory.info["loop_seconds"]``): the integration alone;
* ``warm first``: the first ``circuit.run`` of a new process whose disk cache holds the model
  (numba loads the compiled code), timed from right after ``import rates_core``: the model
  file, plugin discovery, numba's import and start, pandas's import and the run (best of three
  processes); and in a fourth process its parts: discovery, numba's start (its import and the
  target initialisation its first compiled call in a process does), pandas's import, and the
  rest (``warm_rest``: rates's model file, build, code, cache load, loop and frame).
  ``warm_with_import`` adds ``import rates_core`` to ``warm first``. ``--warm-python`` runs
  these processes with another interpreter (with the same numba, so they find this process's
  cache): pandas and numba import optional packages where they are installed (pyarrow,
  matplotlib, ...), so a development environment starts slower than one made by pip from
  ``rates_core`` and ``rates_numba`` alone, which is what the target is about.

``run / hand`` and ``fortran / hand``: a whole later ``run()`` over the hand-written loop.

The hand-written loops are the same equations as numba functions over scalars (Jansen-Rit, QIF)
or arrays (network, ``W @ r`` as numba's dot), compiled before timing; their samples are
compared with rates-numba's (max relative difference printed). rates-fortran runs only where
gfortran is installed; PyRates 1.2.3 (``--pyrates-python``) runs ``cases/jansenrit.py --impl
pyrates`` when that interpreter exists.

    python benchmarks/numba_backend.py [--repeat 5] [--nodes 1000] [--json out.json]
                                       [--warm-python PATH]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "cases"))

JRC = "rates_core.models.jansenrit.JRC"
JRC_OUT = {"v_e": "pc/syn_exc_ext/v", "v_i": "pc/syn_inh/v"}
QIF = "rates_core.models.qif.qif"
QIF_OUT = {"r": "p/qif_op/r", "v": "p/qif_op/v"}


# --------------------------------------------------------------------------- hand-written loops


def hand_loops():
    """The hand-written numba loops (compiled on their first call)."""
    import numba

    @numba.njit(cache=False, error_model="numpy")
    def jrc_f(y, dy, u):
        h_e, tau_e, h_i, tau_i = 3.25e-3, 10e-3, -22e-3, 20e-3
        m_max, s, v_thr = 5.0, 560.0, 6e-3
        m_pc = m_max / (1.0 + math.exp(s * (v_thr - (y[0] + y[2]))))
        m_ein = m_max / (1.0 + math.exp(s * (v_thr - y[4])))
        m_iin = m_max / (1.0 + math.exp(s * (v_thr - y[6])))
        dy[0] = y[1]
        dy[1] = h_e * (108.0 * m_ein + u) / tau_e - 2.0 * y[1] / tau_e - y[0] / tau_e**2
        dy[2] = y[3]
        dy[3] = h_i * (33.75 * m_iin) / tau_i - 2.0 * y[3] / tau_i - y[2] / tau_i**2
        dy[4] = y[5]
        dy[5] = h_e * (135.0 * m_pc) / tau_e - 2.0 * y[5] / tau_e - y[4] / tau_e**2
        dy[6] = y[7]
        dy[7] = h_e * (33.75 * m_pc) / tau_e - 2.0 * y[7] / tau_e - y[6] / tau_e**2

    @numba.njit(cache=False, error_model="numpy")
    def jrc(method, n_steps, every, n_samples, dt):
        y = np.zeros(8)
        k1, k2, k3, k4, ys = np.zeros(8), np.zeros(8), np.zeros(8), np.zeros(8), np.zeros(8)
        out = np.zeros((n_samples, 2))
        for k in range(n_steps):
            jrc_f(y, k1, 220.0)
            if method == 0:
                for i in range(8):
                    y[i] += dt * k1[i]
            else:
                for i in range(8):
                    ys[i] = y[i] + 0.5 * dt * k1[i]
                jrc_f(ys, k2, 220.0)
                for i in range(8):
                    ys[i] = y[i] + 0.5 * dt * k2[i]
                jrc_f(ys, k3, 220.0)
                for i in range(8):
                    ys[i] = y[i] + dt * k3[i]
                jrc_f(ys, k4, 220.0)
                for i in range(8):
                    y[i] += dt * (k1[i] + 2.0 * k2[i] + 2.0 * k3[i] + k4[i]) / 6.0
            if (k + 1) % every == 0 and (k + 1) // every < n_samples:
                out[(k + 1) // every, 0] = y[0]
                out[(k + 1) // every, 1] = y[2]
        return out

    @numba.njit(cache=False, error_model="numpy")
    def qif(n_steps, every, n_samples, dt):
        delta, tau, eta, j = 1.0, 1.0, -5.0, 15.0
        r, v = 0.01, -2.0
        out = np.zeros((n_samples, 2))
        out[0] = (r, v)
        for k in range(n_steps):
            dr = (delta / (math.pi * tau) + 2.0 * r * v) / tau
            dv = (v * v + eta + tau * j * r - (math.pi * tau * r) ** 2) / tau
            r, v = r + dt * dr, v + dt * dv
            if (k + 1) % every == 0 and (k + 1) // every < n_samples:
                out[(k + 1) // every, 0] = r
                out[(k + 1) // every, 1] = v
        return out

    @numba.njit(cache=False, error_model="numpy")
    def network(w, n_steps, every, n_samples, dt):
        delta, tau, eta = 1.0, 1.0, -5.0
        n = w.shape[0]
        r = np.full(n, 0.01)
        v = np.full(n, -2.0)
        out = np.zeros((n_samples, n))
        out[0] = r
        for k in range(n_steps):
            r_in = w @ r
            for i in range(n):
                dr = (delta / (math.pi * tau) + 2.0 * r[i] * v[i]) / tau
                dv = (v[i] ** 2 + eta + tau * r_in[i] - (math.pi * tau * r[i]) ** 2) / tau
                r[i] += dt * dr
                v[i] += dt * dv
            if (k + 1) % every == 0 and (k + 1) // every < n_samples:
                out[(k + 1) // every] = r
        return out

    return jrc, qif, network


# --------------------------------------------------------------------------- timing


def best(func, repeat: int) -> tuple[float, Any]:
    times, value = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        value = func()
        times.append(time.perf_counter() - start)
    return min(times), value


def numba_run(circuit, repeat: int, **run) -> dict:
    """first call, best later call and its compiled loop (seconds), and the samples."""
    import rates_numba.solvers as solvers

    loops: list[float] = []
    original = solvers.solve

    def solve(*args):
        trajectory = original(*args)
        loops.append(trajectory.info["loop_seconds"])
        return trajectory

    solvers.solve = solve
    try:
        start = time.perf_counter()
        frame = circuit.run(backend="numba", **run)
        first = time.perf_counter() - start
        whole, _ = best(lambda: circuit.run(backend="numba", **run), repeat)
    finally:
        solvers.solve = original
    return {"first": first, "run": whole, "loop": min(loops[1:]), "samples": frame.to_numpy()}


def other_backend(circuit, backend: str, repeat: int, **run) -> float | str:
    try:
        circuit.run(backend=backend, **run)  # compile / warm
        seconds, _ = best(lambda: circuit.run(backend=backend, **run), repeat)
        return seconds
    except Exception as exc:  # noqa: BLE001 - reported, not fatal
        return f"failed: {type(exc).__name__}: {str(exc)[:80]}"


WARM_SCRIPT = """
import json, sys, time
before = {}
start = time.perf_counter()
from rates_core import CircuitTemplate
before["import_rates_core"] = time.perf_counter() - start
start = time.perf_counter()
if sys.argv[3] == "parts":  # numba's start and pandas done first: what is left is rates's part
    from rates_core.plugins import default_host
    default_host()  # plugin discovery (cheap: no plugin imports its runtime there)
    before["discovery"] = time.perf_counter() - start
    start = time.perf_counter()
    from numba.core.registry import cpu_target
    cpu_target.target_context.refresh()  # what numba's first compiled call in a process does
    before["numba_start"] = time.perf_counter() - start
    start = time.perf_counter()
    import pandas  # noqa: F401
    before["pandas_import"] = time.perf_counter() - start
    start = time.perf_counter()
circuit = CircuitTemplate.from_yaml(sys.argv[1])
run = json.loads(sys.argv[2])
circuit.run(backend="numba", **run)
print(json.dumps({"warm_first": time.perf_counter() - start, **before}))
"""


#: The interpreter of the warm-cache processes (``--warm-python``).
WARM_PYTHON = [sys.executable]


def warm_first(model: str, run: dict, mode: str = "whole") -> dict:
    """The first run of ``model`` in a new process with the disk cache of this one
    (``mode="parts"``: also the times of numba's start and pandas's import, done first)."""
    out = subprocess.run(
        [WARM_PYTHON[0], "-c", WARM_SCRIPT, model, json.dumps(run), mode],
        capture_output=True,
        text=True,
    )
    if out.returncode:
        raise RuntimeError(f"the warm-cache process failed: {out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def warm_rows(model: str, run: dict) -> dict:
    """``warm_first`` (best of three processes: everything after ``import rates_core`` up to the
    frame, plugin discovery, numba's import and start included) and its parts: discovery,
    numba's start, pandas's import and the rest of the first run (rates: model file, build,
    code, cache load, loop, frame)."""
    wholes = [warm_first(model, run) for _ in range(3)]
    whole = min(wholes, key=lambda w: w["warm_first"])
    parts = warm_first(model, run, "parts")
    return {
        "warm_first": whole["warm_first"],
        "warm_with_import": whole["warm_first"] + whole["import_rates_core"],
        "warm_discovery": parts["discovery"],
        "warm_numba_start": parts["numba_start"],
        "warm_pandas_import": parts["pandas_import"],
        "warm_rest": parts["warm_first"],
    }


def pyrates(python: str) -> float | str:
    if not Path(python).exists():
        return "skipped (no PyRates interpreter)"
    with tempfile.TemporaryDirectory() as work:
        out = subprocess.run(
            [python, str(HERE / "cases" / "jansenrit.py"), "--impl", "pyrates"],
            capture_output=True,
            text=True,
            cwd=work,
        )
    for line in out.stdout.splitlines():
        if line.startswith("BENCH_JSON"):
            return json.loads(line.split(" ", 1)[1]).get("run", "?")
    return f"failed: {out.stderr.strip()[-120:]}"


def rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


# --------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--pyrates-python", default="/tmp/pyrates-venv/bin/python")
    parser.add_argument("--json", default=None)
    parser.add_argument(
        "--warm-python",
        default=sys.executable,
        help="interpreter of the warm-cache processes (default: this one), e.g. of a virtual "
        "environment made with pip install ./rates_core ./plugins/rates_numba alone",
    )
    args = parser.parse_args()
    WARM_PYTHON[0] = args.warm_python
    cache = tempfile.mkdtemp(prefix="rates-numba-bench-")
    os.chmod(cache, 0o700)
    os.environ["RATES_CACHE_DIR"] = cache  # a cold disk cache: the first call compiles
    os.environ.pop("NUMBA_CACHE_DIR", None)

    from qif_network import make_weights  # cases/qif_network.py (cases/ is on sys.path)

    from rates_core import CircuitTemplate, NodeTemplate

    hand_jrc, hand_qif, hand_net = hand_loops()
    rows: list[dict] = []

    jrc = CircuitTemplate.from_yaml(JRC)
    for method in ("euler", "rk4"):
        run = dict(simulation_time=10.0, step_size=1e-4, sampling_step_size=1e-3, solver=method)
        got = numba_run(jrc, args.repeat, outputs=JRC_OUT, **run)
        call = lambda m=method: hand_jrc(0 if m == "euler" else 1, 100_000, 10, 10_000, 1e-4)  # noqa: E731
        call()
        hand, samples = best(call, args.repeat)
        rows.append(
            {
                "case": f"Jansen-Rit 10 s, dt 1e-4, {method}",
                **{k: v for k, v in got.items() if k != "samples"},
                **warm_rows(JRC, {**run, "outputs": JRC_OUT}),
                "hand": hand,
                "hand_rel_diff": rel(got["samples"], samples),
                "fortran": other_backend(jrc, "fortran", args.repeat, outputs=JRC_OUT, **run),
                "numpy": other_backend(jrc, "numpy", min(args.repeat, 2), outputs=JRC_OUT, **run),
            }
        )
    rows[0]["pyrates"] = pyrates(args.pyrates_python)

    qif = CircuitTemplate.from_yaml(QIF)
    run = dict(simulation_time=100.0, step_size=1e-3, sampling_step_size=1e-2, solver="euler")
    got = numba_run(qif, args.repeat, outputs=QIF_OUT, **run)
    hand_qif(100_000, 10, 10_000, 1e-3)
    hand, samples = best(lambda: hand_qif(100_000, 10, 10_000, 1e-3), args.repeat)
    rows.append(
        {
            "case": "QIF 100 time units, dt 1e-3, euler",
            **{k: v for k, v in got.items() if k != "samples"},
            **warm_rows(QIF, {**run, "outputs": QIF_OUT}),
            "hand": hand,
            "hand_rel_diff": rel(got["samples"], samples),
            "fortran": other_backend(qif, "fortran", args.repeat, outputs=QIF_OUT, **run),
            "numpy": other_backend(qif, "numpy", min(args.repeat, 2), outputs=QIF_OUT, **run),
        }
    )

    n = args.nodes
    weights = make_weights(n, seed=0)
    labels = [f"p{i}" for i in range(n)]
    node = NodeTemplate.from_yaml("rates_core.models.qif.qif_pop")
    net = CircuitTemplate(name="qif_net", nodes={label: node for label in labels})
    net = net.add_edges_from_matrix("qif_op/r", "qif_op/r_in", labels, weight=weights)
    run = dict(simulation_time=10.0, step_size=1e-3, sampling_step_size=1e-2, solver="euler")
    out = {"r": "all/qif_op/r"}
    got = numba_run(net, max(2, args.repeat // 2), outputs=out, **run)
    hand_net(weights, 10_000, 10, 1000, 1e-3)
    hand, samples = best(lambda: hand_net(weights, 10_000, 10, 1000, 1e-3), args.repeat)
    rows.append(
        {
            "case": f"{n}-node QIF network 10 time units, dt 1e-3, euler",
            **{k: v for k, v in got.items() if k != "samples"},
            "hand": hand,
            "hand_rel_diff": rel(got["samples"], samples),
            "fortran": other_backend(net, "fortran", 2, outputs=out, **run),
            "numpy": other_backend(net, "numpy", 2, outputs=out, **run),
        }
    )

    for row in rows:
        print(row["case"])
        for key, value in row.items():
            if key != "case":
                text = f"{value:.4g}" if isinstance(value, float) else str(value)
                print(f"  {key:14s} {text}")
        print(f"  loop / hand    {row['loop'] / row['hand']:.2f}")
        print(f"  run / hand     {row['run'] / row['hand']:.2f}")
        if isinstance(row["fortran"], float):
            print(f"  fortran / hand {row['fortran'] / row['hand']:.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
