"""Compare rates (rates-numpy backend) with PyRates 1.2.3 and hand-written baselines.

Run by hand, never as a test::

    /tmp/dev/bin/python benchmarks/run_pyrates_comparison.py [--repeat 3] [--cases ...]

Every measurement runs in a fresh subprocess (``benchmarks/cases/*.py``): rates with
``--rates-python`` (default: the interpreter running this script), PyRates with
``--pyrates-python`` (default ``/tmp/pyrates_venv/bin/python``; its cases are skipped with a
message when that interpreter is missing), the baselines with the rates interpreter. Each rates
process gets an empty compile cache (``RATES_CACHE_DIR``), so its first compile is cold; each
PyRates process runs in an empty scratch directory (PyRates writes generated files into the working
directory), removed afterwards. Times are the best of ``--repeat`` processes. The recorded
trajectories are compared at the common sample times (max abs difference).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
CASES_DIR = HERE / "cases"
MARKER = "BENCH_JSON "
DEFAULT_PYRATES = "/tmp/pyrates_venv/bin/python"


@dataclass
class Case:
    name: str
    script: str
    title: str
    baseline: str  # the --impl of the hand-written baseline
    baseline_label: str
    extra_args: list[str] = field(default_factory=list)


CASES = {
    "jansenrit": Case(
        "jansenrit",
        "jansenrit.py",
        "1. Jansen-Rit circuit: 10 s, Euler dt = 1e-4 (100 000 steps), sampled every 1e-3",
        "plain",
        "plain floats",
    ),
    "qif": Case(
        "qif",
        "qif.py",
        "2. QIF population: 100 time units, Euler dt = 1e-3 (100 000 steps), sampled every 1e-2",
        "plain",
        "plain floats",
    ),
    "qif_network": Case(
        "qif_network",
        "qif_network.py",
        "3. QIF network, {n} nodes, 10 % of the pairs coupled: 10 time units, Euler dt = 1e-3 "
        "(10 000 steps), sampled every 1e-2",
        "numpy",
        "NumPy loop",
    ),
}

# (label, key) of the table rows; keys starting with "=" are derived in ``derive``
ROWS = [
    ("import (rates imports lazily)", "import"),
    ("load (from_yaml or templates)", "load"),
    ("  templates", "templates"),
    ("  add_edges_from_matrix", "edges"),
    ("build: load + get_run_func", "build"),
    ("import + build", "=import+build"),
    ("build again, same process", "build_again"),
    ("run() first call, total", "run"),
    ("  integration inside it", "sim"),
    ("  rest of run() (build etc.)", "=run-sim"),
    ("run() second call, total", "run2"),
    ("  integration inside it", "sim2"),
]
# rows the hand-written baseline has: it is nothing but the integration loop
BASELINE_ROWS = {"sim", "sim2", "run2"}


# --------------------------------------------------------------------------- running cases


def run_case_process(
    python: str, case: Case, impl: str, phase: str, save: Path | None, args: argparse.Namespace
) -> dict:
    """One fresh process of a case script; its JSON record (or ``{"error": ...}``)."""
    cmd = [python, str(CASES_DIR / case.script), "--impl", impl, "--phase", phase]
    cmd += case.extra_args
    if impl == "pyrates":
        cmd += ["--precision", args.pyrates_precision]
    if save is not None:
        cmd += ["--save", str(save)]
    env = dict(os.environ)
    scratch = Path(tempfile.mkdtemp(prefix=f"bench_{impl}_"))
    env["RATES_CACHE_DIR"] = str(scratch / "rates_cache")  # empty: the first compile is cold
    env["TMPDIR"] = str(scratch)
    env.pop("PYTHONPATH", None)
    try:
        proc = subprocess.run(
            cmd, cwd=scratch, env=env, capture_output=True, text=True, timeout=args.timeout
        )
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {args.timeout:g} s"}
    finally:
        shutil.rmtree(scratch, ignore_errors=True)  # PyRates's generated files, rates's cache
    for line in proc.stdout.splitlines():
        if line.startswith(MARKER):
            return json.loads(line[len(MARKER) :])
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
    return {"error": f"exit code {proc.returncode}: " + " | ".join(tail)}


def derive(record: dict) -> dict:
    """Add the derived quantities of one process's record."""
    out = dict(record)
    if "import" in out and "build" in out:
        out["=import+build"] = out["import"] + out["build"]
    if out.get("run") is not None and out.get("sim") is not None:
        out["=run-sim"] = out["run"] - out["sim"]
    return out


def best_of(records: list[dict]) -> dict:
    """Per key the smallest value over the repeats (a failed repeat gives its error)."""
    best: dict = {}
    for record in records:
        if "error" in record:
            best.setdefault("error", record["error"])
            continue
        for key, value in derive(record).items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                best[key] = min(best.get(key, value), value)
    return best


def measure(case: Case, args: argparse.Namespace, workdir: Path) -> dict:
    """Best-of timings per implementation and the saved trajectories."""
    plan = [
        ("rates", "build", args.rates_python),
        ("rates", "run", args.rates_python),
        (case.baseline, "run", args.rates_python),
    ]
    if args.pyrates_python:
        plan += [("pyrates", "build", args.pyrates_python), ("pyrates", "run", args.pyrates_python)]
    records: dict[str, list[dict]] = {}
    saves = {}
    for repeat in range(args.repeat):
        for impl, phase, python in plan:
            save = None
            if phase == "run" and repeat == 0:
                save = saves[impl] = workdir / f"{case.name}_{impl}.npz"
            label = f"{case.name}: {impl} {phase} ({repeat + 1}/{args.repeat})"
            print(f"  running {label} ...", end="", flush=True)
            record = run_case_process(python, case, impl, phase, save, args)
            print(" " + (record["error"] if "error" in record else "ok"), flush=True)
            records.setdefault(impl, []).append(record)
            if save is not None and "error" in record:
                saves.pop(impl)  # no trajectory to compare
            if "error" in record and "timed out" in record["error"]:
                plan = [p for p in plan if p[0] != impl]  # do not wait again for this one
    timings = {impl: best_of(recs) for impl, recs in records.items()}
    return {"timings": timings, "saves": saves, "raw": records}


# --------------------------------------------------------------------------- agreement


def compare(a: Path, b: Path) -> str:
    """Max abs difference of two saved trajectories at their common sample times."""
    if not (a.exists() and b.exists()):
        return "n/a (a trajectory is missing)"
    x, y = np.load(a), np.load(b)
    if x["values"].shape != y["values"].shape:
        return f"n/a (shapes {x['values'].shape} and {y['values'].shape})"
    dt = float(np.max(np.abs(x["times"] - y["times"]))) if x["times"].size else 0.0
    diff = float(np.max(np.abs(x["values"] - y["values"])))
    scale = float(np.max(np.abs(x["values"])))
    return f"max |diff| = {diff:.3g} (largest |value| {scale:.3g}; sample times differ by {dt:.1g})"


# --------------------------------------------------------------------------- printing


def fmt_seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f} s"


def fmt_ratio(num: float | None, den: float | None) -> str:
    return "-" if num is None or den is None or den == 0 else f"{num / den:.2f}"


def print_table(case: Case, title: str, timings: dict) -> list[str]:
    rates = timings.get("rates", {})
    pyrates = timings.get("pyrates", {})
    base = timings.get(case.baseline, {})
    lines = [title, ""]
    header = (
        f"  {'':32} {'rates':>9} {'PyRates':>9} {case.baseline_label:>12}"
        f" {'rates/PyRates':>14} {'rates/' + case.baseline:>13}"
    )
    lines.append(header)
    lines.append("  " + "-" * (len(header) - 2))
    for label, key in ROWS:
        r, p = rates.get(key), pyrates.get(key)
        b = base.get("sim") if key in BASELINE_ROWS else None
        if r is None and p is None:
            continue
        lines.append(
            f"  {label:32} {fmt_seconds(r):>9} {fmt_seconds(p):>9} {fmt_seconds(b):>12}"
            f" {fmt_ratio(r, p):>14} {fmt_ratio(r, b):>13}"
        )
    for impl, t in timings.items():
        if "error" in t:
            lines.append(f"  note: {impl}: {t['error']}")
    return lines


def targets(case: Case, timings: dict) -> list[str]:
    rates = timings.get("rates", {})
    pyrates = timings.get("pyrates", {})
    base = timings.get(case.baseline, {})
    out = []

    def verdict(ok: bool) -> str:
        return "met" if ok else "MISSED"

    if case.name == "jansenrit" and "sim" in rates and "sim" in base:
        for key, what in (("sim", "first run"), ("sim2", "second run")):
            ratio = rates[key] / base["sim"]
            out.append(
                f"  target rates/plain integration <= 2 ({what}): {ratio:.2f} -> "
                f"{verdict(ratio <= 2)}"
            )
    if case.name == "qif_network":
        if "sim" in rates and "sim" in base:
            for key, what in (("sim", "first run"), ("sim2", "second run")):
                ratio = rates[key] / base["sim"]
                out.append(
                    f"  target rates/NumPy integration <= 1.3 ({what}): {ratio:.2f} -> "
                    f"{verdict(ratio <= 1.3)}"
                )
        if "build" in rates and "build" in pyrates:
            ratio = pyrates["build"] / rates["build"]
            out.append(
                f"  target PyRates build / rates build >= 5: {ratio:.2f} -> {verdict(ratio >= 5)}"
            )
            for key, what in (("=import+build", "import + build"), ("build_again", "build again")):
                ratio = pyrates[key] / rates[key]
                out.append(f"  ({what}: PyRates / rates = {ratio:.2f})")
    return out


def versions(python: str, code: str) -> str:
    try:
        return subprocess.run(
            [python, "-c", code], capture_output=True, text=True, timeout=120
        ).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return "?"


def source_state() -> str:
    """The commit of this checkout and whether the library sources differ from it."""

    def git(*cmd: str) -> str:
        try:
            return subprocess.run(
                ["git", *cmd], cwd=HERE.parent, capture_output=True, text=True, timeout=30
            ).stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            return ""

    commit = git("rev-parse", "--short", "HEAD") or "unknown commit"
    changed = git("status", "--porcelain", "--", "rates_core/src", "plugins/rates_numpy/src")
    n = len(changed.splitlines())
    return commit + (f" + uncommitted changes in {n} library files" if n else "")


def machine_lines(args: argparse.Namespace) -> list[str]:
    cpu = platform.processor() or "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    rates_v = versions(
        args.rates_python,
        "import sys, numpy, rates_core, importlib.metadata as m; "
        'print(f\'rates-core {rates_core.__version__}, rates-numpy {m.version("rates-numpy")}, '
        "numpy {numpy.__version__}, Python {sys.version.split()[0]}')",
    )
    lines = [
        f"date: {datetime.datetime.now().isoformat(timespec='seconds')}",
        f"rates source: {source_state()}",
        f"machine: {platform.platform()}, {os.cpu_count()} CPUs ({cpu})",
        f"rates: {args.rates_python}: {rates_v}",
    ]
    if args.pyrates_python:
        pyrates_v = versions(
            args.pyrates_python,
            "import sys, numpy, pyrates; print(f'PyRates {pyrates.__version__}, "
            "numpy {numpy.__version__}, Python {sys.version.split()[0]}')",
        )
        lines.append(f"PyRates: {args.pyrates_python}: {pyrates_v}")
    else:
        lines.append(f"PyRates: skipped ({getattr(args, 'skipped_pyrates', '?')} not found)")
    lines.append(
        f"best of {args.repeat} fresh processes per number; rates and baselines in float64, "
        f"PyRates in {args.pyrates_precision}"
    )
    return lines


# --------------------------------------------------------------------------- main


def write_weights(path: Path, nodes: int, seed: int) -> int:
    """Save the network's weight matrix once, for every implementation; its number of edges."""
    sys.path.insert(0, str(CASES_DIR))
    from qif_network import make_weights  # the case script's own recipe

    weights = make_weights(nodes, seed)
    np.save(path, weights)
    return int(np.count_nonzero(weights))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rates-python", default=sys.executable)
    p.add_argument("--pyrates-python", default=DEFAULT_PYRATES)
    p.add_argument("--cases", default=",".join(CASES), help="comma-separated: " + ", ".join(CASES))
    p.add_argument("--repeat", type=int, default=3, help="fresh processes per measurement")
    p.add_argument("--nodes", type=int, default=1000, help="size of the QIF network")
    p.add_argument("--seed", type=int, default=42, help="seed of the network's weights")
    p.add_argument(
        "--pyrates-precision",
        default="float64",
        choices=("float64", "float32"),
        help="PyRates's float_precision (its own default is float32; rates always uses float64)",
    )
    p.add_argument("--timeout", type=float, default=300.0, help="seconds per process")
    p.add_argument("--json", default=None, help="also write all raw records to this file")
    args = p.parse_args()

    if args.pyrates_python and not Path(args.pyrates_python).exists():
        print(
            f"PyRates interpreter {args.pyrates_python} not found: skipping the PyRates runs "
            "(point --pyrates-python at a Python with PyRates 1.2.3 installed)."
        )
        args.skipped_pyrates = args.pyrates_python
        args.pyrates_python = None

    names = [c.strip() for c in args.cases.split(",") if c.strip()]
    unknown = [c for c in names if c not in CASES]
    if unknown:
        p.error(f"unknown case(s) {', '.join(unknown)}; choose from {', '.join(CASES)}")
    selected = [CASES[c] for c in names]
    report = machine_lines(args)
    everything = {}
    with tempfile.TemporaryDirectory(prefix="rates_bench_") as tmp:
        workdir = Path(tmp)
        for case in selected:
            title = case.title
            if case.name == "qif_network":
                n_edges = write_weights(workdir / "weights.npy", args.nodes, args.seed)
                case.extra_args = ["--weights", str(workdir / "weights.npy")]
                title = title.format(n=args.nodes) + f", {n_edges} edges"
            print(f"[{case.name}]", flush=True)
            result = measure(case, args, workdir)
            everything[case.name] = result["raw"]
            saves = result["saves"]
            report += [""] + print_table(case, title, result["timings"])
            if "rates" in saves:
                for other, label in (("pyrates", "PyRates"), (case.baseline, case.baseline_label)):
                    if other in saves:
                        agreement = compare(saves["rates"], saves[other])
                        report.append(f"  agreement rates vs {label}: {agreement}")
            report += targets(case, result["timings"])
    print()
    print("\n".join(report))
    if args.json:
        Path(args.json).write_text(json.dumps(everything, indent=1))


if __name__ == "__main__":
    main()
