"""rates-torch against rates-numpy and PyRates 1.2.3's torch backend, in one run (issue 7).

Run by hand, never as a test (about 25 minutes with the defaults on 2 shared cores)::

    python benchmarks/torch_backend.py [--qif-time 5] [--jrc-time 10] [--compile] [--json out.json]
        [--devices cpu cuda]

Needs rates-core, rates-numpy and rates-torch (torch CPU build) in this interpreter; PyRates 1.2.3
with torch from ``--pyrates-python`` (default ``/tmp/pyrates_venv/bin/python``; ``--no-pyrates``
skips it). Every PyRates measurement runs in a fresh subprocess in an empty scratch directory
(PyRates writes generated files into the working directory), removed afterwards.

1. **QIF population, sparse coupling**: N = 10,000 QIF units (``r``, ``v``; Lorentzian ``eta``)
   with 1 % random sparse recurrent coupling (10^6 nonzeros: a SciPy CSR matrix for rates-numpy, a
   torch CSR tensor for rates-torch), ``--qif-time`` time units at dt = 1e-3, through ``run()``:
   rates-numpy ``euler``/``rk4`` against rates-torch ``torch_euler``/``torch_rk4`` (CPU).
   PyRates: the same network as N ``qif_pop`` nodes (same equations, ``eta`` set per node,
   ``add_edges_from_matrix`` with the dense matrix, which PyRates needs), ``backend="torch"``,
   ``solver="euler"`` (PyRates's torch backend has ``euler`` and ``scipy`` only), for
   ``--pyrates-qif-time`` time units (shorter: each of its steps is a dense 10^4 x 10^4 product).
2. **Jansen-Rit, 1,000 parameter sets**: ``rates_core.models.jansenrit.JRC`` with the gain ``h``
   of the pyramidal cells' excitatory synapse over [0.5, 1.5] x 3.25e-3, ``--jrc-time`` seconds at
   dt = 1e-4, sampled every 1e-3. rates-torch: one batch (``TorchModel.simulate(batch=1000)``,
   one generated function with a leading batch axis). rates-numpy: ``rates_core.sweep.grid_search``
   with ``batch_size=1000`` (the 1,000 copies as one vectorised system), and one ``run()`` per set
   (``--numpy-sets`` timed, extrapolated). rates-torch one set at a time (``--single-time``,
   extrapolated). PyRates: ``grid_search(..., backend="torch", solver="euler")`` over the same
   values of ``h`` (``pc/rpo_e_in/h``; same equations).
3. ``--compile``: ``torch.compile`` of the generated equations (``simulate(compile=True)``) for the
   Jansen-Rit batch (RK4) and the QIF population (Euler): compile time (first call with compile
   minus the first call without) and time per step after it.

``--devices`` (default ``cpu``): the torch measurements run once per device named (``cuda``:
the GPU, fixed-step runs replayed as a CUDA graph; ``cuda-eager``: the GPU with
``cuda_graph=False``; timings wait for the device with ``torch.cuda.synchronize``).

Times are wall-clock seconds of one call (the best of ``--repeat``) after a warm-up call of the
same model (code generation caches warm). ``run()`` includes building the System; its time per
step subtracts a run of 10 steps. PyRates: ``build`` is everything but the integration loop,
``sim`` the loop as PyRates times it (``verbose=True``). Results are compared (max abs
difference) where two implementations ran the same thing. ``--threads`` (default 1) sets torch's
threads here and in PyRates.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from rates_core import (
    CircuitTemplate,
    Connectivity,
    NodeTemplate,
    OperatorTemplate,
    PopulationTemplate,
)

DEFAULT_PYRATES = "/tmp/pyrates_venv/bin/python"
MARKER = "BENCH_JSON "
QIF_DT, QIF_SAMPLING = 1e-3, 0.1
JRC_DT, JRC_SAMPLING = 1e-4, 1e-3
JRC_H = 3.25e-3

QIF_EQUATIONS = [
    "r' = (Delta/(pi*tau) + 2.0*r*v) / tau",
    "v' = (v^2 + eta + I_ext + tau*r_in - (pi*tau*r)^2) / tau",
]
QIF_VARIABLES = {
    "r": "output(0.01)",
    "v": "variable(-2.0)",
    "Delta": 1.0,
    "tau": 1.0,
    "eta": -5.0,
    "I_ext": "input(0.0)",
    "r_in": "input(0.0)",
}

PYRATES_QIF = r"""
import contextlib, io, json, re, resource, sys, time
import numpy as np
data = np.load(sys.argv[1])
T, out = float(sys.argv[2]), sys.argv[3]
n = int(data["n"])
w = np.zeros((n, n))
rows = np.repeat(np.arange(n), np.diff(data["indptr"]))
w[rows, data["indices"]] = data["data"]
start = time.perf_counter()
from pyrates import CircuitTemplate, NodeTemplate
node = NodeTemplate.from_yaml("model_templates.neural_mass_models.qif.qif_pop")
labels = [f"p{i}" for i in range(n)]
circuit = CircuitTemplate(name="qif_net", nodes={label: node for label in labels})
circuit.update_var(node_vars={"all/qif_op/eta": data["eta"]})
circuit.add_edges_from_matrix("qif_op/r", "qif_op/r_in", labels, weight=w)
load = time.perf_counter() - start
del w
printed = io.StringIO()
with contextlib.redirect_stdout(printed):
    frame = circuit.run(simulation_time=T, step_size=1e-3, sampling_step_size=0.1,
                        outputs={"r": "all/qif_op/r"}, solver="euler", backend="torch",
                        float_precision="float64", clear=True, verbose=True)
wall = time.perf_counter() - start
sim = float(re.findall(r"finished after ([0-9.eE+-]+)s", printed.getvalue())[-1])
order = [frame.columns.get_loc(c) for l in labels for c in frame.columns if c[1] == l]
np.save(out, frame.to_numpy()[:, order])
print("BENCH_JSON " + json.dumps({"load": load, "wall": wall, "sim": sim, "rows": len(frame),
      "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

PYRATES_JRC = r"""
import contextlib, io, json, re, resource, sys, time
import numpy as np
h = np.load(sys.argv[1])
T, out = float(sys.argv[2]), sys.argv[3]
start = time.perf_counter()
from pyrates import grid_search
printed = io.StringIO()
with contextlib.redirect_stdout(printed):
    res, grid = grid_search(
        "model_templates.neural_mass_models.jansenrit.JRC", param_grid={"h": h},
        param_map={"h": {"vars": ["rpo_e_in/h"], "nodes": ["pc"]}}, simulation_time=T,
        step_size=1e-4, sampling_step_size=1e-3, outputs={"v": "pc/rpo_e_in/v"},
        solver="euler", backend="torch", float_precision="float64", clear=True, verbose=True)
wall = time.perf_counter() - start
sim = float(re.findall(r"finished after ([0-9.eE+-]+)s", printed.getvalue())[-1])
labels = list(grid.sort_values("h").index)
level = next(i for i in range(res.columns.nlevels)
             if set(res.columns.get_level_values(i)) >= set(labels))
cols = [res.columns.get_level_values(level).get_loc(label) for label in labels]
np.save(out, res.to_numpy()[:, cols])
print("BENCH_JSON " + json.dumps({"wall": wall, "sim": sim, "rows": len(res),
      "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


# --------------------------------------------------------------------------- helpers


def timed(func):
    start = time.perf_counter()
    out = func()
    return time.perf_counter() - start, out


def best(func, repeat: int):
    """The shortest of ``repeat`` timed calls (load spikes of a shared machine only ever add
    time) and the last result."""
    times = []
    for _ in range(max(repeat, 1)):
        seconds, out = timed(func)
        times.append(seconds)
    return min(times), out


def device_options(device: str) -> dict:
    """The run options of a ``--devices`` entry (``cuda-eager``: CUDA without graphs)."""
    if device == "cuda-eager":
        return {"device": "cuda", "cuda_graph": False}
    return {"device": device}


def simulate(model, T: float, dt: float, kw: dict):
    """``model.simulate`` that returns once the device has finished (CUDA runs are
    asynchronous)."""
    import torch

    kw = dict(kw)
    kw.update(device_options(kw.pop("device", "cpu")))
    res = model.simulate(T, dt, **kw)
    if str(kw["device"]).startswith("cuda"):
        torch.cuda.synchronize()
    return res


def run_pyrates(python: str, script: str, args: list[str], timeout: float) -> dict:
    """One PyRates measurement in a fresh process and scratch directory: its BENCH_JSON dict, or
    ``{"error": ...}`` (what failed, precisely)."""
    work = Path(tempfile.mkdtemp(prefix="rates-torch-bench-pyrates-"))
    try:
        (work / "case.py").write_text(script)
        try:
            proc = subprocess.run(
                [python, "case.py", *args],
                cwd=work,
                capture_output=True,
                text=True,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired:
            return {"error": f"did not finish within {timeout:.0f} s (--pyrates-timeout)"}
        for line in proc.stdout.splitlines():
            if line.startswith(MARKER):
                return json.loads(line[len(MARKER) :])
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-6:]
        return {"error": f"exit {proc.returncode}: " + " | ".join(tail)}
    finally:
        shutil.rmtree(work, ignore_errors=True)


def qif_circuit(n: int, density: float) -> tuple[CircuitTemplate, sp.csr_matrix, np.ndarray]:
    rng = np.random.default_rng(0)
    k = int(round(density * n * n))
    rows, cols = rng.integers(0, n, k), rng.integers(0, n, k)
    weights = rng.uniform(0.0, 2.0, k) * 15.0 / (density * n)
    w = sp.csr_matrix((weights, (rows, cols)), shape=(n, n))
    eta = -5.0 + np.tan(np.pi * (rng.random(n) - 0.5)).clip(-50, 50)
    node = NodeTemplate(
        "qif_pop",
        operators=[OperatorTemplate("qif_op", equations=QIF_EQUATIONS, variables=QIF_VARIABLES)],
    )
    pop = PopulationTemplate("exc", node, n, params={"qif_op/eta": eta})
    circuit = CircuitTemplate(
        "qif_net",
        populations={"exc": pop},
        connectivity=[Connectivity("exc/qif_op/r", "exc/qif_op/r_in", w)],
    )
    return circuit, w, eta


class Report:
    """Rows of the summary and everything for ``--json``."""

    def __init__(self) -> None:
        self.rows: list[dict] = []

    def add(self, case: str, impl: str, **values) -> dict:
        row = {"case": case, "impl": impl, **values}
        self.rows.append(row)
        parts = [f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in values.items()]
        print(f"  {impl:44s} " + ", ".join(parts), flush=True)
        return row


# --------------------------------------------------------------------------- 1. QIF


def qif_case(args, report: Report) -> None:
    n, T = args.qif_n, args.qif_time
    circuit, w, eta = qif_circuit(n, args.density)
    steps = int(round(T / QIF_DT))
    print(f"\n1. QIF population: N = {n}, {w.nnz} nonzeros, T = {T} ({steps} steps of {QIF_DT})")
    out = {"r": "exc/qif_op/r"}
    frames = {}
    for np_solver, torch_solver in (("euler", "torch_euler"), ("rk4", "torch_rk4")):
        runs = [("numpy", np_solver, None)] + [("torch", torch_solver, d) for d in args.devices]
        for backend, solver, device in runs:
            kw = dict(solver=solver, backend=backend, outputs=out)
            if device is not None:
                kw.update(device_options(device))
            circuit.run(10 * QIF_DT, QIF_DT, **kw)  # warm-up: code generation
            overhead, _ = best(lambda kw=kw: circuit.run(10 * QIF_DT, QIF_DT, **kw), 3)
            seconds, frame = best(
                lambda kw=kw: circuit.run(T, QIF_DT, sampling_step_size=QIF_SAMPLING, **kw),
                args.repeat,
            )
            frames[solver, device] = frame.to_numpy()
            per_step = (seconds - overhead) / (steps - 10) * 1e3
            report.add(
                "qif",
                f"rates-{backend} {solver}" + (f" ({device})" if device else ""),
                seconds=seconds,
                ms_per_step=per_step,
                build=overhead,
            )
        for device in args.devices:
            diff = float(np.max(np.abs(frames[np_solver, None] - frames[torch_solver, device])))
            report.add("qif", f"max |numpy - torch {device}| ({np_solver})", diff=diff)
    if args.pyrates:
        with tempfile.TemporaryDirectory(prefix="rates-torch-bench-") as tmp:
            inp, res_path = Path(tmp) / "net.npz", Path(tmp) / "r.npy"
            np.savez(inp, n=n, indptr=w.indptr, indices=w.indices, data=w.data, eta=eta)
            Tp = args.pyrates_qif_time
            res = run_pyrates(
                args.pyrates_python,
                PYRATES_QIF,
                [str(inp), str(Tp), str(res_path)],
                args.pyrates_timeout,
            )
            if "error" in res:
                report.add("qif", "PyRates 1.2.3 torch euler", failed=res["error"])
            else:
                p_steps = int(round(Tp / QIF_DT))
                report.add(
                    "qif",
                    "PyRates 1.2.3 torch euler",
                    T=Tp,
                    seconds=res["wall"],
                    ms_per_step=res["sim"] / p_steps * 1e3,
                    build=res["wall"] - res["sim"],
                    peak_mib=res["peak_mib"],
                )
                got = np.load(res_path)
                ref = frames["euler", None]
                rows = min(got.shape[0], ref.shape[0])
                diff = float(np.max(np.abs(got[:rows] - ref[:rows])))
                report.add("qif", "max |PyRates - rates-numpy| (euler)", diff=diff, rows=rows)


# --------------------------------------------------------------------------- 2. Jansen-Rit


def jrc_case(args, report: Report) -> None:
    import torch

    import rates_torch
    from rates_core.sweep import grid_search

    n_sets, T = args.sets, args.jrc_time
    steps = int(round(T / JRC_DT))
    h = JRC_H * np.linspace(0.5, 1.5, n_sets)
    key, out_path = "pc/syn_exc_ext/h", "pc/syn_exc_ext/v"
    jrc = CircuitTemplate.from_yaml("rates_core.models.jansenrit.JRC")
    print(
        f"\n2. Jansen-Rit: {n_sets} sets of {key} in [0.5, 1.5] x {JRC_H}, T = {T} "
        f"({steps} steps of {JRC_DT}), sampled every {JRC_SAMPLING}"
    )
    build, model = timed(lambda: rates_torch.TorchModel(jrc))
    report.add("jrc", "rates-torch TorchModel build", seconds=build)
    values = torch.as_tensor(h)
    results = {}
    sim = dict(sampling_step_size=JRC_SAMPLING, outputs={"v": out_path})
    for solver in args.jrc_solvers:
        name = f"torch_{solver}"
        for device in args.devices:
            kw = dict(params={key: values}, batch=n_sets, solver=name, device=device, **sim)
            simulate(model, 10 * JRC_DT, JRC_DT, kw)  # warm-up
            seconds, res = best(lambda kw=kw: simulate(model, T, JRC_DT, kw), args.repeat)
            results[name, device] = res.outputs["v"].cpu().numpy()
            del res
            report.add(
                "jrc",
                f"rates-torch batch of {n_sets} {name} ({device})",
                seconds=seconds,
                ms_per_step=seconds / steps * 1e3,
            )

        grid_kw = dict(
            param_grid={"h": h},
            param_map={"h": {"vars": ["syn_exc_ext/h"], "nodes": ["pc"]}},
            outputs={"v": out_path},
            sampling_step_size=JRC_SAMPLING,
            solver=solver,
            batch_size=n_sets,
        )
        grid_search(jrc, simulation_time=10 * JRC_DT, step_size=JRC_DT, **grid_kw)  # warm-up
        seconds, (frame, grid) = best(
            lambda kw=grid_kw: grid_search(jrc, simulation_time=T, step_size=JRC_DT, **kw),
            args.repeat,
        )
        labels = frame.columns.get_level_values(1)
        order = [labels.get_loc(lb) for lb in grid.sort_values("h").index]
        results[solver] = frame.to_numpy()[:, order]
        del frame
        report.add(
            "jrc",
            f"rates-numpy sweep, batch_size {n_sets}, {solver}",
            seconds=seconds,
            ms_per_step=seconds / steps * 1e3,
        )
        for device in args.devices:
            diff = float(np.max(np.abs(results[solver] - results[name, device])))
            report.add(
                "jrc", f"max |numpy sweep - torch {device} batch| ({solver}, all sets)", diff=diff
            )

    # one set at a time
    solver = args.jrc_solvers[-1]
    single_steps = int(round(args.single_time / JRC_DT))
    for device in args.devices:
        kw = dict(params={key: values[0]}, solver=f"torch_{solver}", device=device, **sim)
        simulate(model, 10 * JRC_DT, JRC_DT, kw)
        seconds, _ = best(lambda kw=kw: simulate(model, args.single_time, JRC_DT, kw), args.repeat)
        report.add(
            "jrc",
            f"rates-torch one set, torch_{solver} ({device})",
            ms_per_step=seconds / single_steps * 1e3,
            sets_extrapolated=n_sets * seconds * steps / single_steps,
        )
    per_set = []
    for i in range(args.numpy_sets):
        circuit = jrc.update_var(node_vars={key: float(h[i])})
        seconds, frame = timed(
            lambda c=circuit: c.run(T, JRC_DT, solver=solver, sampling_step_size=JRC_SAMPLING)
        )
        per_set.append(seconds)
        if i == 0:
            col = next(c for c in frame.columns if "syn_exc_ext" in str(c) and "/v" in str(c))
            torch_v = results[f"torch_{solver}", args.devices[0]]
            d0 = float(np.max(np.abs(frame[col].to_numpy() - torch_v[:, 0])))
    if args.numpy_sets:
        per = float(np.median(per_set))
        report.add(
            "jrc",
            f"rates-numpy one run() per set, {solver}",
            seconds_per_set=per,
            sets_extrapolated=per * n_sets,
            timed_sets=args.numpy_sets,
        )
        report.add("jrc", f"max |numpy run() - torch batch| (set 0, {solver})", diff=d0)

    if args.pyrates:
        with tempfile.TemporaryDirectory(prefix="rates-torch-bench-") as tmp:
            inp, res_path = Path(tmp) / "h.npy", Path(tmp) / "v.npy"
            np.save(inp, h)
            res = run_pyrates(
                args.pyrates_python, PYRATES_JRC, [str(inp), str(T), str(res_path)], 3600
            )
            if "error" in res:
                report.add("jrc", "PyRates 1.2.3 grid_search torch euler", failed=res["error"])
            else:
                report.add(
                    "jrc",
                    f"PyRates 1.2.3 grid_search ({n_sets}) torch euler",
                    seconds=res["wall"],
                    ms_per_step=res["sim"] / steps * 1e3,
                    build=res["wall"] - res["sim"],
                    peak_mib=res["peak_mib"],
                )
                if ("torch_euler", args.devices[0]) in results:
                    got = np.load(res_path)
                    mine = results["torch_euler", args.devices[0]]
                    rows = min(got.shape[0], mine.shape[0])
                    diff = float(np.max(np.abs(got[:rows] - mine[:rows])))
                    report.add("jrc", "max |PyRates - rates-torch| (euler, all sets)", diff=diff)


# --------------------------------------------------------------------------- 3. compile


def compile_case(args, report: Report) -> None:
    import torch

    import rates_torch

    print(f"\n3. torch.compile (inductor, {torch.get_num_threads()} threads)")
    jrc = CircuitTemplate.from_yaml("rates_core.models.jansenrit.JRC")
    cases = [
        (
            "jrc",
            rates_torch.TorchModel(jrc),
            dict(
                params={"pc/syn_exc_ext/h": torch.as_tensor(JRC_H * np.linspace(0.5, 1.5, 1000))},
                batch=1000,
                solver="torch_rk4",
            ),
            JRC_DT,
            args.compile_steps,
            "Jansen-Rit batch of 1000, torch_rk4",
        ),
        (
            "qif",
            rates_torch.TorchModel(qif_circuit(args.qif_n, args.density)[0]),
            dict(solver="torch_euler"),
            QIF_DT,
            max(args.compile_steps // 10, 100),
            f"QIF N = {args.qif_n} sparse, torch_euler",
        ),
    ]
    for case, model, kw, dt, steps, label in cases:
        for device in args.devices:
            kw_device = dict(kw, device=device)
            _compile_pair(report, case, model, kw_device, dt, steps, f"{label} ({device})")


def _compile_pair(report: Report, case: str, model, kw: dict, dt: float, steps: int, label: str):
    per_step = {}
    first = {}
    for use in (False, True):
        try:
            first[use], _ = timed(lambda u=use: simulate(model, dt, dt, dict(kw, compile=u)))
            seconds, _ = timed(lambda u=use: simulate(model, steps * dt, dt, dict(kw, compile=u)))
        except Exception as exc:  # report what failed, precisely
            report.add(case, f"{label}, compile={use}", failed=f"{type(exc).__name__}: {exc}")
            return
        per_step[use] = seconds / steps * 1e3
        row = f"{label}, compile={use}"
        report.add(case, row, first_call=first[use], ms_per_step=per_step[use])
    report.add(
        case,
        f"{label}: compile",
        compile_seconds=first[True] - first[False],
        speedup=per_step[False] / per_step[True],
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--qif-n", type=int, default=10_000)
    parser.add_argument("--density", type=float, default=0.01)
    parser.add_argument("--qif-time", type=float, default=5.0)
    parser.add_argument("--pyrates-qif-time", type=float, default=0.5)
    parser.add_argument("--sets", type=int, default=1000)
    parser.add_argument("--jrc-time", type=float, default=10.0)
    parser.add_argument("--jrc-solvers", nargs="+", default=["euler", "rk4"])
    parser.add_argument("--numpy-sets", type=int, default=3)
    parser.add_argument("--single-time", type=float, default=0.5)
    parser.add_argument("--pyrates-python", default=DEFAULT_PYRATES)
    parser.add_argument("--pyrates-timeout", type=float, default=1800.0)
    parser.add_argument("--no-pyrates", dest="pyrates", action="store_false")
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--compile-steps", type=int, default=2000)
    parser.add_argument("--skip-qif", action="store_true")
    parser.add_argument("--skip-jrc", action="store_true")
    parser.add_argument("--json", default=None, help="write every row to this file")
    parser.add_argument(
        "--devices", nargs="+", default=["cpu"], help="torch devices to measure (cpu, cuda)"
    )
    parser.add_argument(
        "--repeat", type=int, default=1, help="best of this many calls (rates measurements)"
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads, here and in PyRates (default 1: on a shared, busy machine two "
        "OpenMP threads per process spin against each other and every timing swings by 10x)",
    )
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    os.environ["OMP_NUM_THREADS"] = str(args.threads)  # for the PyRates processes

    if args.pyrates and not Path(args.pyrates_python).exists():
        print(f"PyRates skipped: no interpreter {args.pyrates_python}")
        args.pyrates = False
    header = (
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs, "
        f"CUDA: {torch.cuda.is_available()}, {platform.processor() or platform.machine()}, "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    print(header)
    report = Report()
    start = time.perf_counter()
    if not args.skip_qif:
        qif_case(args, report)
    if not args.skip_jrc:
        jrc_case(args, report)
    if args.compile:
        compile_case(args, report)
    print(
        f"\ntotal {time.perf_counter() - start:.0f} s, load average {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    if args.json:
        Path(args.json).write_text(
            json.dumps({"header": header, "args": vars(args), "rows": report.rows}, indent=1)
        )


if __name__ == "__main__":
    main()
