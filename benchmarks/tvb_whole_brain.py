"""Whole-brain network: rates against The Virtual Brain (tvb-library), side by side in one run.

Run by hand, never as a test::

    python benchmarks/tvb_whole_brain.py [--regions 1000] [--time 1000] [--repeat 1]
                                         [--impls tvb,numpy,numpy_grid,...] [--json FILE]
                                         [--noise D]

The case (issue 22): N regions (default 1000), each TVB's ``Generic2dOscillator`` (a = 8, d = 0.05:
limit cycles; TVB's other defaults), written in rates as the same two equations
(:func:`g2d_node`)::

    V' = d*tau*(alpha*W - f*V^3 + e*V^2 + g*V + gamma*I_ext + gamma*cpl)
    W' = d*(a + b*V + c*V^2 - beta*W)/tau

coupled linearly (TVB's ``Linear``, rates's ``LinearCoupling``), ``cpl_i = A sum_j w_ij
V_j(t - d_ij)`` with ``A = 1 / (0.1 N)``; weights uniform [0, 1) on 10 % of the pairs (no
self-connections), delays uniform 1 - 50 ms (tract lengths 3 x delay mm at 3 mm/ms), all from a
fixed seed; per-region initial states uniform (V in [-1, 1], W in [-4, -2]) and a constant
pre-history; Heun with dt = 0.1 ms for ``--time`` ms (default 1 s), V sampled every 1 ms.

Implementations (``--impls``), each in its own process (rates with an empty compile cache):

- ``tvb``: tvb-library's ``Simulator`` (``HeunDeterministic``, ``SubSample`` monitor), run with
  the Python of ``--tvb-python`` (default ``$RATES_TVB_PYTHON`` or ``/tmp/tvb-venv/bin/python``);
- ``numpy``, ``numba``, ``fortran``: ``circuit.run(backend=..., solver="heun")`` with exact
  delays (cubic Hermite reads of the history, the default);
- ``numpy_grid``, ``numba_grid``, ``fortran_grid``: the same with ``delays="grid"`` (every delay
  rounded to the step and held over the step, TVB's convention); reported as not available
  where the installed rates does not have the option.

Per implementation: ``build`` (TVB: connectivity, simulator and ``configure()``; rates:
templates and the first ``run`` of two steps, which generates and compiles the code), the best
of ``--repeat`` whole runs (``sim.run()`` / ``circuit.run(...)``; for rates also the solver
call inside it), then one more run under tracemalloc: the peak of traced allocations during
that run (NumPy arrays included) is the memory of the run; the peak resident set of the process
(``ru_maxrss``: imports, build and runs) is reported too.

``--noise D``: the same network with additive noise of dispersion D on both variables (TVB's
``noise.Additive(nsig=D)``, ``sqrt(2 D) dW``; in rates ``+ sigma_n*xi()`` with ``sigma_n =
sqrt(2 D)``), integrated by the stochastic Heun method (TVB's ``HeunStochastic``, rates's
``heun_stochastic``). The Wiener increments of TVB are its own stream, so only speed is
compared with TVB; rates-numpy and rates-numba draw the same increments (seed ``NOISE_SEED``)
and are compared with each other. rates-fortran has no SDE methods (its rows say so).

Agreement (``--agreement``, on by default): 76 regions (TVB's ``connectivity_76.zip`` from
tvb-data when the TVB Python has it, else a synthetic 76-region connectome made here), TVB's
``Raw`` monitor against rates-numpy with ``delays="grid"``, Euler and Heun, 1 s: the largest
difference over all samples relative to the largest value, ``max |rates - TVB| / max |TVB|``.
TVB keeps its weights and its history in float32 (``tvb.simulator.history``), so rates gets
the weights rounded to float32, and the check is run twice: against stock TVB, and against TVB
with the dtype of those arrays set to float64 in its process (everything else unchanged).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np

MARKER = "BENCH_JSON "
#: The seed of the Wiener increments (``--noise``): rates-numpy and rates-numba draw the same.
NOISE_SEED = 7
DT = 0.1  # ms
SAMPLING = 1.0  # ms
SPEED = 3.0  # mm/ms
#: TVB's Generic2dOscillator with a = 8 and d = 0.05 (an unstable focus at V = 1, so every
#: region is on a limit cycle of a period of tens of ms), its other defaults; its ``I`` is
#: ``I_ext`` here (``I`` is rates's imaginary unit)
G2D = {"tau": 1.0, "I_ext": 0.0, "a": 8.0, "b": -10.0, "c": 0.0, "d": 0.05, "e": 3.0}
G2D.update({"f": 1.0, "g": 0.0, "alpha": 1.0, "beta": 1.0, "gamma": 1.0})
#: implementation -> (rates backend, delays option); None: TVB
IMPLS: dict[str, tuple[str, str] | None] = {
    "tvb": None,
    "numpy": ("numpy", "exact"),
    "numpy_grid": ("numpy", "grid"),
    "numba": ("numba", "exact"),
    "numba_grid": ("numba", "grid"),
    "fortran": ("fortran", "exact"),
    "fortran_grid": ("fortran", "grid"),
}
AGREEMENT_REGIONS = 76
AGREEMENT_TIME = 1000.0  # ms


# --------------------------------------------------------------------------- inputs


def make_inputs(n: int, seed: int) -> dict[str, Any]:
    """The network of the case (see the module doc), the same for every implementation."""
    rng = np.random.default_rng(seed)
    weights = rng.random((n, n)) * (rng.random((n, n)) < 0.1)
    np.fill_diagonal(weights, 0.0)
    weights = as_float32(weights)
    delays = rng.uniform(1.0, 50.0, (n, n))
    return {
        "weights": weights,
        "tract_lengths": delays * SPEED,
        "v0": rng.uniform(-1.0, 1.0, n),
        "w0": rng.uniform(-4.0, -2.0, n),
        "coupling": np.array(1.0 / (0.1 * n)),
    }


def synthetic_76(seed: int) -> dict[str, Any]:
    """A 76-region stand-in for TVB's connectome: distance-dependent weights of 30 % of the
    pairs, tract lengths of 10 - 150 mm (delays 3.3 - 50 ms at 3 mm/ms)."""
    rng = np.random.default_rng(seed)
    n = AGREEMENT_REGIONS
    centres = rng.uniform(-60.0, 60.0, (n, 3))
    dist = np.sqrt(((centres[:, None] - centres[None]) ** 2).sum(axis=2))
    tracts = np.clip(1.2 * dist, 10.0, 150.0)
    weights = 3.0 * np.exp(-dist / 40.0) * (rng.random((n, n)) < 0.3)
    np.fill_diagonal(weights, 0.0)
    return {"weights": as_float32(weights), "tract_lengths": tracts}


def as_float32(weights: np.ndarray) -> np.ndarray:
    """``weights`` rounded to float32 values (kept in float64): TVB's history stores its
    weights in float32, so both sides then couple with the same numbers."""
    return np.asarray(weights, dtype=np.float32).astype(np.float64)


# --------------------------------------------------------------------------- workers


def peak_rss_mb() -> float:
    """Peak resident set of this process (MiB; ``ru_maxrss`` is KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def traced(run: Any) -> tuple[Any, float]:
    """``run()`` under tracemalloc: its value and the peak of traced allocations (MiB)."""
    tracemalloc.start()
    try:
        value = run()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return value, peak / 2**20


def tvb_float64() -> None:
    """Make TVB's history keep weights, delays and states in float64 (stock: float32)."""
    from tvb.simulator import history

    for cls in (history.BaseHistory, history.DenseHistory, history.SparseHistory):
        for attr in vars(cls).values():
            if type(attr).__name__ == "NDArray" and attr.dtype == "f":
                attr.dtype = "d"


def tvb_simulator(
    data: dict, method: str, length: float, monitor: str, noise_d: float = 0.0
) -> Any:
    """TVB's simulator of the case, configured (``data``: the inputs, or a connectome file;
    ``noise_d`` > 0: TVB's additive noise of that dispersion and its stochastic integrator)."""
    from tvb.datatypes.connectivity import Connectivity
    from tvb.simulator import coupling, integrators, models, monitors, simulator
    from tvb.simulator import noise as tvb_noise

    if "file" in data:
        conn = Connectivity.from_file(str(data["file"]))
        conn.weights = as_float32(conn.weights)
    else:
        n = data["weights"].shape[0]
        conn = Connectivity(
            weights=data["weights"],
            tract_lengths=data["tract_lengths"],
            centres=np.zeros((n, 3)),
            region_labels=np.array([f"r{k}" for k in range(n)]),
        )
    conn.speed = np.array([SPEED])
    conn.configure()
    n = conn.number_of_regions
    params = {("I" if k == "I_ext" else k): np.array([v]) for k, v in G2D.items()}
    if noise_d > 0:  # additive noise of dispersion D on both variables: sqrt(2 D) dW
        stochastic = {"heun": integrators.HeunStochastic, "euler": integrators.EulerStochastic}
        additive = tvb_noise.Additive(nsig=np.array([noise_d]))
        additive.random_stream.seed(NOISE_SEED)
        integrator = stochastic[method](dt=DT, noise=additive)
    else:
        deterministic = {
            "heun": integrators.HeunDeterministic,
            "euler": integrators.EulerDeterministic,
        }
        integrator = deterministic[method](dt=DT)
    monitor_ = monitors.Raw() if monitor == "raw" else monitors.SubSample(period=SAMPLING)
    sim = simulator.Simulator(
        model=models.Generic2dOscillator(**params),
        connectivity=conn,
        coupling=coupling.Linear(a=np.array([float(data["coupling"])])),
        integrator=integrator,
        monitors=[monitor_],
        simulation_length=length,
    )
    sim.configure()
    initial = np.zeros((sim.connectivity.horizon, 2, n, 1))
    initial[:, 0, :, 0] = data["v0"]
    initial[:, 1, :, 0] = data["w0"]
    sim.initial_conditions = initial
    sim.configure()
    return sim


def tvb_worker(data: dict, args: argparse.Namespace, results: dict) -> np.ndarray:
    if args.tvb_float64:
        tvb_float64()

    def build() -> Any:
        start = time.perf_counter()
        sim = tvb_simulator(data, args.method, args.time, args.monitor, args.noise)
        results.setdefault("build_s", []).append(time.perf_counter() - start)
        return sim

    def run() -> np.ndarray:
        sim = build()
        start, cpu = time.perf_counter(), time.process_time()
        ((_, samples),) = sim.run()
        results.setdefault("run_s", []).append(time.perf_counter() - start)
        results.setdefault("cpu_s", []).append(time.process_time() - cpu)
        return samples[:, 0, :, 0]

    for _ in range(args.repeat):
        values = run()
    if args.trace:
        _, results["traced_peak_mb"] = traced(lambda: build().run())
    # TVB's monitors start after the first step: prepend the initial state as rates's row 0
    return np.vstack([np.asarray(data["v0"])[None], values[:-1]])


def g2d_node(noise_d: float = 0.0) -> Any:
    """TVB's Generic2dOscillator as a rates node (see the module doc); ``noise_d`` > 0: TVB's
    additive noise, ``sqrt(2 D) xi()`` on both variables."""
    from rates_core import NodeTemplate, OperatorTemplate

    noise = " + sigma_n*xi()" if noise_d > 0 else ""
    extra = {"sigma_n": float(np.sqrt(2.0 * noise_d))} if noise_d > 0 else {}
    op = OperatorTemplate(
        "g2d",
        [
            "V' = d*tau*(alpha*W - f*V^3 + e*V^2 + g*V + gamma*I_ext + gamma*cpl)" + noise,
            "W' = d*(a + b*V + c*V^2 - beta*W)/tau" + noise,
        ],
        {"V": "output(0.0)", "W": "variable(0.0)", "cpl": "input(0.0)", **G2D, **extra},
    )
    return NodeTemplate("g2d_node", operators=[op])


def rates_circuit(data: dict, noise_d: float = 0.0) -> Any:
    from rates_core import Connectome, LinearCoupling, load_connectome

    if "file" in data:
        loaded = load_connectome(str(data["file"]))
        conn = Connectome(as_float32(loaded.weights), tract_lengths=loaded.tract_lengths)
    else:
        conn = Connectome(data["weights"], tract_lengths=data["tract_lengths"])
    return conn.circuit(
        g2d_node(noise_d),
        "g2d/V",
        "g2d/cpl",
        coupling=LinearCoupling(a=float(data["coupling"])),
        speed=SPEED,
        params={"g2d/V": data["v0"], "g2d/W": data["w0"]},
    )


def rates_worker(data: dict, args: argparse.Namespace, results: dict) -> np.ndarray:
    start = time.perf_counter()
    from rates_core.plugins import default_host

    backend, delays = IMPLS[args.impl] or ("", "")
    host = default_host()
    original = host.solve
    solve_s: list[float] = []

    def timed_solve(*a: Any, **k: Any) -> Any:
        start = time.perf_counter()
        try:
            return original(*a, **k)
        finally:
            solve_s.append(time.perf_counter() - start)

    host.solve = timed_solve  # type: ignore[method-assign]  # an instance attribute
    options: dict[str, Any] = {"solver": args.method, "backend": backend}
    if args.noise > 0:
        options["solver"] = {"heun": "heun_stochastic", "euler": "euler_maruyama"}[args.method]
        options["seed"] = NOISE_SEED
    if delays != "exact":
        options["delays"] = delays
    sampling = DT if args.monitor == "raw" else SAMPLING
    outputs = {"V": "regions/g2d/V"}
    circuit = rates_circuit(data, args.noise)
    circuit.run(2 * DT, DT, outputs=outputs, **options)  # generates and compiles the code
    results["build_s"] = [time.perf_counter() - start]

    def run(circuit: Any) -> np.ndarray:
        frame = circuit.run(args.time, DT, sampling_step_size=sampling, outputs=outputs, **options)
        results["solver"] = frame.attrs.get("solver")
        return frame.to_numpy()

    results["run_s"], results["cpu_s"] = [], []
    for _ in range(args.repeat):
        start, cpu = time.perf_counter(), time.process_time()
        values = run(circuit)
        results["run_s"].append(time.perf_counter() - start)
        results["cpu_s"].append(time.process_time() - cpu)
    results["solve_s"] = solve_s[1:]
    if args.trace:  # a new circuit (the code is cached) and its run
        _, results["traced_peak_mb"] = traced(lambda: run(rates_circuit(data, args.noise)))
    return values


def worker(args: argparse.Namespace) -> None:
    """One implementation in this process; prints one ``BENCH_JSON {...}`` line."""
    with np.load(args.inputs) as npz:
        data = {key: npz[key] for key in npz.files}
    if args.connectome:
        data["file"] = args.connectome
    results: dict[str, Any] = {"impl": args.impl, "method": args.method}
    try:
        if args.impl == "tvb":
            values = tvb_worker(data, args, results)
        else:
            values = rates_worker(data, args, results)
        if args.save:
            np.save(args.save, values)
    except Exception as exc:  # noqa: BLE001 - reported by the driver, not fatal
        results["error"] = f"{type(exc).__name__}: {str(exc)[:300]}"
    results["rss_peak_mb"] = peak_rss_mb()
    print(MARKER + json.dumps(results), flush=True)


# --------------------------------------------------------------------------- driver


def run_worker(
    python: str, impl: str, extra: list[str], args: argparse.Namespace, path: str = ""
) -> dict:
    """One worker process (``path``: a folder put first on its ``PYTHONPATH``); its record,
    or ``{"error": ...}``."""
    command = [python, str(Path(__file__).resolve()), "--impl", impl, *extra]
    env = dict(os.environ)
    if path:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [path, env.get("PYTHONPATH", "")]))
    env["RATES_CACHE_DIR"] = tempfile.mkdtemp(prefix="rates_tvb_bench_")
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=args.timeout, env=env
        )
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {args.timeout} s"}
    finally:
        shutil.rmtree(env["RATES_CACHE_DIR"], ignore_errors=True)
    for line in done.stdout.splitlines():
        if line.startswith(MARKER):
            return json.loads(line[len(MARKER) :])
    return {"error": f"exit {done.returncode}: {done.stderr.strip()[-400:]}"}


def tvb_connectome_76(python: str) -> str | None:
    """The path of tvb-data's connectivity_76.zip in the TVB Python, or None."""
    code = (
        "import os, tvb_data; p = os.path.join(os.path.dirname(tvb_data.__file__), "
        "'connectivity', 'connectivity_76.zip'); print(p if os.path.isfile(p) else '')"
    )
    try:
        done = subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired):
        return None
    path = done.stdout.strip()
    return path or None


def relative_difference(a: np.ndarray, b: np.ndarray) -> float:
    """``max |a - b| / max |b|`` over all samples (rows and regions)."""
    return float(np.abs(a - b).max() / np.abs(b).max())


def speed_case(args: argparse.Namespace, workdir: Path) -> dict:
    inputs = workdir / "inputs.npz"
    np.savez(inputs, **make_inputs(args.regions, args.seed))
    records: dict[str, dict] = {}
    runs = [(impl, impl, "") for impl in args.impls]
    if args.before:  # rates-numpy from another source tree, before the new implementation
        runs.insert(1, ("numpy_before", "numpy", args.before))
    for label, impl, path in runs:
        python = args.tvb_python if impl == "tvb" else sys.executable
        if impl == "tvb" and not Path(python).is_file():
            records[impl] = {"error": f"no TVB Python at {python}"}
            continue
        save = workdir / f"{label}.npy"
        extra = ["--inputs", str(inputs), "--time", str(args.time), "--repeat", str(args.repeat)]
        extra += ["--save", str(save), "--trace", "--noise", str(args.noise)]
        print(f"  running {label} ...", file=sys.stderr, flush=True)
        record = run_worker(python, impl, extra, args, path)
        if save.is_file():
            record["values"] = np.load(save)
        records[label] = record
    return records


def agreement_case(args: argparse.Namespace, workdir: Path) -> dict:
    """Max relative difference rates-numpy (grid) vs TVB, 76 regions, Euler and Heun."""
    connectome = tvb_connectome_76(args.tvb_python) if Path(args.tvb_python).is_file() else None
    data: dict[str, Any] = {} if connectome else synthetic_76(args.seed)
    rng = np.random.default_rng(args.seed + 1)
    n = AGREEMENT_REGIONS
    data.update(
        v0=rng.uniform(-1.0, 1.0, n), w0=rng.uniform(-4.0, -2.0, n), coupling=np.array(0.01)
    )
    inputs = workdir / "agreement.npz"
    np.savez(inputs, **data)
    out: dict[str, Any] = {"connectome": connectome or "synthetic (76 regions, made here)"}
    for method in ("euler", "heun"):
        base = ["--inputs", str(inputs), "--method", method, "--monitor", "raw"]
        base += ["--time", str(AGREEMENT_TIME), "--repeat", "1"]
        if connectome:
            base += ["--connectome", connectome]
        saved = {}
        for impl, flags in (("numpy_grid", []), ("tvb", []), ("tvb", ["--tvb-float64"])):
            label = impl + ("_float64" if flags else "")
            save = workdir / f"agree_{method}_{label}.npy"
            python = args.tvb_python if impl == "tvb" else sys.executable
            record = run_worker(python, impl, [*base, *flags, "--save", str(save)], args)
            if "error" in record:
                out[f"{method}_{label}"] = record["error"]
            elif save.is_file():
                saved[label] = np.load(save)
        ours = saved.get("numpy_grid")
        for label in ("tvb", "tvb_float64"):
            if ours is not None and label in saved:
                out[f"{method}_vs_{label}"] = relative_difference(ours, saved[label])
    return out


def fmt(value: Any, unit: str = "", digits: int = 2) -> str:
    if value is None:
        return "-"
    return f"{value:.{digits}f}{unit}"


def report(records: dict, agreement: dict | None, args: argparse.Namespace) -> list[str]:
    lines = [
        f"Whole-brain case: {args.regions} regions, 10 % weights, delays 1-50 ms, Heun, "
        f"dt {DT} ms, {args.time:g} ms; best of {args.repeat}"
        + (f"; additive noise D = {args.noise:g}, stochastic Heun" if args.noise > 0 else ""),
        "",
        f"  {'implementation':16} {'build':>9} {'run':>9} {'solver':>9} {'run/TVB':>8}"
        f" {'CPU':>9} {'CPU/TVB':>8}"
        f" {'traced MiB':>11} {'RSS MiB':>9}  agreement",
    ]
    tvb = records.get("tvb", {})
    tvb_run = min(tvb["run_s"]) if tvb.get("run_s") else None
    tvb_cpu = min(tvb["cpu_s"]) if tvb.get("cpu_s") else None
    exact = records.get("numpy", {}).get("values")
    for impl, record in records.items():
        if "error" in record:
            lines.append(f"  {impl:16} {record['error'][:120]}")
            continue
        run = min(record["run_s"])
        solve = min(record["solve_s"]) if record.get("solve_s") else None
        ratio = f"{run / tvb_run:.2f}" if tvb_run else "-"
        cpu = min(record["cpu_s"])
        cpu_ratio = f"{cpu / tvb_cpu:.2f}" if tvb_cpu else "-"
        values = record.get("values")
        note = ""
        reference = tvb.get("values") if impl.endswith("grid") else exact
        if impl.endswith("grid") and args.noise > 0:  # TVB's noise stream is its own
            reference = records.get("numpy_grid", {}).get("values")
            reference = None if impl == "numpy_grid" else reference
        if values is not None and reference is not None and impl not in ("tvb", "numpy"):
            against = "TVB" if impl.endswith("grid") else "numpy"
            against = "numpy_grid" if impl.endswith("grid") and args.noise > 0 else against
            note = f"{relative_difference(values, reference):.1e} vs {against}"
        lines.append(
            f"  {impl:16} {fmt(record['build_s'][0], ' s'):>9} {fmt(run, ' s'):>9}"
            f" {fmt(solve, ' s'):>9} {ratio:>8} {fmt(cpu, ' s'):>9} {cpu_ratio:>8}"
            f" {fmt(record.get('traced_peak_mb'), '', 1):>11}"
            f" {fmt(record.get('rss_peak_mb'), '', 0):>9}  {note}"
        )
    lines += [
        "",
        "  build: TVB connectivity + simulator + configure; rates templates + first run of 2 "
        "steps (code generation, compilation)",
        "  run: whole sim.run() / circuit.run(); solver: the integration inside circuit.run()",
        "  CPU: process time of that run (less sensitive than wall time to other load)",
        "  traced: tracemalloc peak during one more run; RSS: ru_maxrss of the process",
        "  agreement: max |x - ref| / max |ref| of V over all samples",
    ]
    if agreement:
        lines += ["", f"Agreement, 76 regions ({agreement['connectome']}), 1 s, rates-numpy "]
        lines[-1] += "delays='grid' vs TVB (max |rates - TVB| / max |TVB|):"
        for key, value in agreement.items():
            if key != "connectome":
                shown = f"{value:.2e}" if isinstance(value, float) else value
                lines.append(f"  {key:28} {shown}")
    return lines


def machine() -> str:
    cpu = platform.processor() or "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} CPUs, Python {platform.python_version()}"


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--regions", type=int, default=1000)
    p.add_argument("--time", type=float, default=1000.0, help="model time in ms (default 1 s)")
    p.add_argument("--repeat", type=int, default=1, help="timed runs per implementation")
    p.add_argument("--json", default=None, help="write every record to this file")
    p.add_argument("--impls", default=",".join(IMPLS), help="comma-separated: " + ", ".join(IMPLS))
    p.add_argument("--seed", type=int, default=22)
    p.add_argument(
        "--tvb-python",
        default=os.environ.get("RATES_TVB_PYTHON", "/tmp/tvb-venv/bin/python"),
    )
    p.add_argument("--timeout", type=float, default=1800.0, help="seconds per process")
    p.add_argument("--agreement", action=argparse.BooleanOptionalAction, default=True)
    p.add_argument(
        "--noise",
        type=float,
        default=0.0,
        help="additive noise of this dispersion D (TVB's nsig; sqrt(2 D) xi() on both "
        "variables in rates) with the stochastic Heun method (default 0: none)",
    )
    p.add_argument(
        "--before",
        default="",
        help="a folder holding another rates_numpy package (e.g. the source of an earlier "
        "commit): also run rates-numpy (exact) from it, as numpy_before",
    )
    # worker options (the driver passes them)
    p.add_argument("--impl", choices=list(IMPLS), help=argparse.SUPPRESS)
    p.add_argument("--inputs", help=argparse.SUPPRESS)
    p.add_argument("--connectome", help=argparse.SUPPRESS)
    p.add_argument("--method", default="heun", choices=("heun", "euler"), help=argparse.SUPPRESS)
    p.add_argument("--monitor", default="subsample", help=argparse.SUPPRESS)
    p.add_argument("--save", help=argparse.SUPPRESS)
    p.add_argument("--trace", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--tvb-float64", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.impl is None:
        args.impls = [name.strip() for name in args.impls.split(",") if name.strip()]
        unknown = sorted(set(args.impls) - set(IMPLS))
        if unknown:
            p.error(f"unknown implementations {unknown}; choose from {list(IMPLS)}")
    return args


def main() -> None:
    args = parse()
    if args.impl is not None:
        worker(args)
        return
    workdir = Path(tempfile.mkdtemp(prefix="tvb_whole_brain_"))
    try:
        records = speed_case(args, workdir)
        agreement = agreement_case(args, workdir) if args.agreement else None
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    lines = [machine(), "", *report(records, agreement, args)]
    print("\n".join(lines))
    if args.json:
        plain = {k: {kk: vv for kk, vv in v.items() if kk != "values"} for k, v in records.items()}
        with open(args.json, "w") as out:
            json.dump({"speed": plain, "agreement": agreement, "args": vars(args)}, out, indent=1)


if __name__ == "__main__":
    main()
