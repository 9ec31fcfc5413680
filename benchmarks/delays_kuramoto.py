"""Delayed Kuramoto network: rates against PyRates 1.2.3 and hand-written NumPy loops.

Run by hand, never as a test::

    /tmp/dev/bin/python benchmarks/delays_kuramoto.py [--sizes 100,300,1000] [--repeat 1]

N phase oscillators, all-to-all, a dense seeded delay matrix of 1 .. 50 steps, 10 time units of
Euler at dt = 1e-3 (the model and the implementations: ``benchmarks/cases/kuramoto_delays.py``).
Every measurement runs in a fresh subprocess, as in ``run_pyrates_comparison.py``: rates with
an empty compile cache, PyRates in an empty scratch directory, each process under a wall-clock
limit (``--timeout``) and an address-space limit (``--memory-limit``, ``RLIMIT_AS``); an
implementation that times out or fails at one size is not started again at that size. The
driver writes the inputs (omega, delay steps) once per size so every implementation gets the
same. It reports build and integration times, the peak resident set of each process
(``ru_maxrss``) and the agreement of the trajectories (theta at the last sample, the largest
difference over all samples, and the Kuramoto order parameter R = |mean exp(i theta)|).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
CASES_DIR = HERE / "cases"
SCRIPT = CASES_DIR / "kuramoto_delays.py"
MARKER = "BENCH_JSON "
DEFAULT_PYRATES = "/tmp/pyrates_venv/bin/python"

sys.path.insert(0, str(HERE))
from run_pyrates_comparison import (  # noqa: E402  (the driver's helpers, not its cases)
    best_of,
    fmt_ratio,
    fmt_seconds,
    machine_lines,
)

# (impl, column label, phases); the order is the order of the runs
IMPLS = [
    ("rates", "rates", ("build", "run")),
    ("rates_edges", "rates edges", ("build", "run")),
    ("pyrates", "PyRates", ("build", "run")),
    ("pyrates_sincos", "PyR. sincos", ("build", "run")),
    ("numpy", "NumPy", ("run",)),
    ("numpy_theta", "NumPy theta", ("run",)),
    ("numpy_edge", "NumPy edge", ("run",)),
]
LABELS = {impl: label for impl, label, _ in IMPLS}
DEFAULT_IMPLS = "rates,rates_edges,pyrates,pyrates_sincos,numpy,numpy_theta,numpy_edge"
SECONDS_ROWS = [
    ("import", "import"),
    ("templates", "templates"),
    ("edges", "edges"),
    ("build: load + get_run_func", "build"),
    ("build again, same process", "build_again"),
    ("run() first call, total", "run"),
    ("  integration inside it", "sim"),
    ("  rest of run()", "=run-sim"),
]
MEMORY_ROWS = [
    ("peak RSS, run process (MB)", "rss_peak_mb"),
    ("  minus RSS with inputs (MB)", "=rss_growth"),
    ("peak RSS, build process (MB)", "rss_build_mb"),
]
# (numerator, denominator) of the integration ratios printed under each table
RATIOS = [
    ("rates", "pyrates_sincos"),
    ("rates", "pyrates"),
    ("rates", "numpy"),
    ("rates", "numpy_theta"),
    ("rates_edges", "numpy"),
]
# (a, b) trajectories compared; pyrates integrates another model (see the case script)
AGREEMENT = [
    ("rates", "numpy"),
    ("rates", "numpy_theta"),
    ("rates_edges", "numpy"),
    ("pyrates_sincos", "numpy"),
    ("pyrates", "numpy_edge"),
    ("pyrates", "numpy"),
]


def limit_memory(gigabytes: float):
    """A ``preexec_fn`` setting the child's address-space limit."""

    def apply() -> None:
        size = int(gigabytes * 2**30)
        resource.setrlimit(resource.RLIMIT_AS, (size, size))

    return apply


def run_process(python: str, impl: str, phase: str, extra: list[str], args) -> dict:
    cmd = [python, str(SCRIPT), "--impl", impl, "--phase", phase, *extra]
    if impl.startswith("pyrates"):
        cmd += ["--precision", args.pyrates_precision]
    if phase == "build" and impl != "rates":
        cmd.append("--build-once")  # their builds take minutes; rates's second build is cheap
    env = dict(os.environ)
    scratch = Path(tempfile.mkdtemp(prefix=f"bench_{impl}_"))
    env["RATES_CACHE_DIR"] = str(scratch / "rates_cache")
    env["TMPDIR"] = str(scratch)
    env.pop("PYTHONPATH", None)
    try:
        proc = subprocess.run(
            cmd,
            cwd=scratch,
            env=env,
            capture_output=True,
            text=True,
            timeout=args.timeout,
            preexec_fn=limit_memory(args.memory_limit),
        )
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {args.timeout:g} s"}
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    for line in proc.stdout.splitlines():
        if line.startswith(MARKER):
            return json.loads(line[len(MARKER) :])
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
    return {"error": f"exit code {proc.returncode}: " + " | ".join(tail)}


def measure(n: int, workdir: Path, args) -> tuple[dict, dict, dict]:
    """Best-of records per implementation (build and run merged), saved trajectories, raw."""
    sys.path.insert(0, str(CASES_DIR))
    from kuramoto_delays import make_inputs

    omega, steps = make_inputs(n, args.seed)
    inputs = workdir / f"inputs_{n}.npz"
    np.savez(inputs, omega=omega, delay_steps=steps)
    wanted = [i.strip() for i in args.impls.split(",") if i.strip()]
    raw: dict[str, list[dict]] = {}
    saves: dict[str, Path] = {}
    failed: set[str] = set()
    for impl, _, phases in IMPLS:
        if impl not in wanted:
            continue
        python = args.pyrates_python if impl.startswith("pyrates") else args.rates_python
        if python is None:
            continue
        if impl == "numpy_edge" and "pyrates" not in saves:
            continue  # only needed to check PyRates's own semantics
        for repeat in range(args.repeat):
            for phase in phases:
                if impl in failed:
                    continue
                extra = ["--inputs", str(inputs), "--simulation-time", str(args.simulation_time)]
                if phase == "run" and repeat == 0:
                    saves[impl] = workdir / f"{impl}_{n}.npz"
                    extra += ["--save", str(saves[impl])]
                label = f"N={n}: {impl} {phase} ({repeat + 1}/{args.repeat})"
                print(f"  running {label} ...", end="", flush=True)
                record = run_process(python, impl, phase, extra, args)
                print(" " + record.get("error", "ok"), flush=True)
                record["phase"] = phase
                raw.setdefault(impl, []).append(record)
                if "error" in record:
                    failed.add(impl)
                    saves.pop(impl, None)
    best = {}
    for impl, records in raw.items():
        runs = [r for r in records if r.get("phase") == "run"]
        builds = [r for r in records if r.get("phase") == "build"]
        merged = best_of(builds)
        if "rss_peak_mb" in merged:
            merged["rss_build_mb"] = merged.pop("rss_peak_mb")
        merged.pop("rss_inputs_mb", None)
        for key, value in best_of(runs).items():
            if key in ("import", "templates", "edges", "load") and key in merged:
                continue  # the build process's numbers (the run repeats them)
            merged[key] = value
        if "rss_peak_mb" in merged and "rss_inputs_mb" in merged:
            merged["=rss_growth"] = merged["rss_peak_mb"] - merged["rss_inputs_mb"]
        for r in runs:
            for key in ("history_rows", "n_delayed", "solver_path"):
                if key in r:
                    merged[key] = r[key]
        errors = [r["error"] for r in records if "error" in r]
        if errors:
            merged["error"] = errors[0]
        best[impl] = merged
    return best, saves, raw


def order_parameter(theta: np.ndarray) -> np.ndarray:
    return np.abs(np.exp(1j * theta).mean(axis=-1))


def agreement(a: Path, b: Path) -> str:
    x, y = np.load(a), np.load(b)
    if x["values"].shape != y["values"].shape:
        return f"n/a (shapes {x['values'].shape} and {y['values'].shape})"
    times = float(np.max(np.abs(x["times"] - y["times"])))
    diff = np.abs(x["values"] - y["values"])
    r_a, r_b = order_parameter(x["values"][-1]), order_parameter(y["values"][-1])
    return (
        f"theta at t = {x['times'][-1]:.2f}: max |diff| {diff[-1].max():.3g} (all samples "
        f"{diff.max():.3g}; largest |theta| {np.abs(x['values'][-1]).max():.3g}); "
        f"R {r_a:.6f} vs {r_b:.6f}; sample times differ by {times:.1g}"
    )


def table(n: int, best: dict, saves: dict, args) -> list[str]:
    impls = [i for i, _, _ in IMPLS if i in best]
    lines = [
        f"N = {n}: {n * n} delayed connections (delays 1 .. 50 steps), "
        f"Euler dt = 1e-3, {round(args.simulation_time / 1e-3)} steps",
        "",
    ]
    header = f"  {'':30}" + "".join(f" {LABELS[i]:>12}" for i in impls)
    lines += [header, "  " + "-" * (len(header) - 2)]

    def value(impl: str, key: str):
        rec = best[impl]
        if key == "=run-sim":
            return rec["run"] - rec["sim"] if rec.get("run") and rec.get("sim") else None
        return rec.get(key)

    for label, key in SECONDS_ROWS:
        cells = [value(i, key) for i in impls]
        if all(c is None for c in cells):
            continue
        lines.append(f"  {label:30}" + "".join(f" {fmt_seconds(c):>12}" for c in cells))
    for label, key in MEMORY_ROWS:
        cells = [value(i, key) for i in impls]
        if all(c is None for c in cells):
            continue
        text = ["-" if c is None else f"{c:.0f}" for c in cells]
        lines.append(f"  {label:30}" + "".join(f" {t:>12}" for t in text))
    for impl in impls:
        rec = best[impl]
        if "history_rows" in rec:
            ring_mb = 2 * rec["history_rows"] * n * 8 / 2**20
            lines.append(
                f"  {LABELS[impl]}: solver path {rec.get('solver_path')}, "
                f"{rec['n_delayed']} delayed values read per step, ring of "
                f"{rec['history_rows']} rows x {n} phases, stored twice: {ring_mb:.2f} MB"
            )
    for num, den in RATIOS:
        a, b = best.get(num, {}).get("sim"), best.get(den, {}).get("sim")
        if a and b:
            lines.append(f"  integration {LABELS[num]} / {LABELS[den]}: {fmt_ratio(a, b)}")
    for a, b in AGREEMENT:
        if a in saves and b in saves and saves[a].exists() and saves[b].exists():
            lines.append(f"  agreement {LABELS[a]} vs {LABELS[b]}: {agreement(saves[a], saves[b])}")
    for impl in impls:
        if "error" in best[impl]:
            lines.append(f"  note: {LABELS[impl]}: {best[impl]['error']}")
    rates, pyr = best.get("rates", {}), best.get("pyrates_sincos", {})
    base = best.get("numpy", {})
    if rates.get("sim") and base.get("sim"):
        ratio = rates["sim"] / base["sim"]
        verdict = "met" if ratio <= 1.5 else "MISSED"
        lines.append(f"  target rates/NumPy integration <= 1.5: {ratio:.2f} -> {verdict}")
    for other in ("pyrates_sincos", "pyrates"):
        pyr = best.get(other, {})
        if rates.get("sim") and pyr.get("sim"):
            ratio = rates["sim"] / pyr["sim"]
            verdict = "met" if ratio <= 1.0 else "MISSED"
            lines.append(
                f"  target rates integration <= {LABELS[other]}'s: {ratio:.2f} -> {verdict}"
            )
        elif rates.get("sim") and "error" in pyr:
            lines.append(f"  target rates <= {LABELS[other]}: {LABELS[other]} did not finish")
    return lines


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rates-python", default=sys.executable)
    p.add_argument("--pyrates-python", default=DEFAULT_PYRATES)
    p.add_argument("--sizes", default="100,300,1000", help="comma-separated N")
    p.add_argument("--impls", default=DEFAULT_IMPLS, help="comma-separated, default all")
    p.add_argument("--repeat", type=int, default=1, help="fresh processes per measurement")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--simulation-time", type=float, default=10.0)
    p.add_argument("--pyrates-precision", default="float64", choices=("float64", "float32"))
    p.add_argument("--timeout", type=float, default=600.0, help="seconds per process")
    p.add_argument(
        "--memory-limit", type=float, default=16.0, help="GiB of address space per process"
    )
    p.add_argument("--json", default=None, help="also write all raw records to this file")
    args = p.parse_args()
    if args.pyrates_python and not Path(args.pyrates_python).exists():
        print(f"PyRates interpreter {args.pyrates_python} not found: skipping the PyRates runs.")
        args.skipped_pyrates = args.pyrates_python
        args.pyrates_python = None
    args.repeat = max(1, args.repeat)
    report = machine_lines(args)
    report.append(
        f"{args.simulation_time:g} time units; limits per process: {args.timeout:g} s, "
        f"{args.memory_limit:g} GiB address space"
    )
    everything = {}
    with tempfile.TemporaryDirectory(prefix="rates_kuramoto_") as tmp:
        for n in [int(s) for s in args.sizes.split(",") if s.strip()]:
            print(f"[N = {n}]", flush=True)
            best, saves, raw = measure(n, Path(tmp), args)
            everything[n] = raw
            lines = table(n, best, saves, args)
            report += [""] + lines
            print("\n".join(lines), flush=True)
    print()
    print("\n".join(report))
    if args.json:
        Path(args.json).write_text(json.dumps(everything, indent=1))


if __name__ == "__main__":
    main()
