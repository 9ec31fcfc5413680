"""Parameter sweeps of the QIF population: rates_core.sweep.grid_search against PyRates 1.2.3's
grid_search (issue 11).

Run by hand, never as a test::

    python benchmarks/sweep_qif.py [--sizes 1000 10000] [--pyrates-sizes 1000] [--time 100]

Each measurement runs in a fresh subprocess and reports its wall time (import excluded, model
load, build, compile and simulation included) and peak resident memory. PyRates runs with
``--pyrates-python`` (default ``/tmp/pyrates_venv/bin/python``) in an empty scratch directory
(it writes generated files into the working directory); rates with the interpreter running this
script and an empty compile cache (``RATES_CACHE_DIR``), so its compile is cold. Both: euler, step
1e-3, sampled every 0.1, ``eta`` swept over [-8, -2], float64. The recorded rates of the sizes both
ran are compared (max abs difference).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

MARKER = "BENCH_JSON "
DEFAULT_PYRATES = "/tmp/pyrates_venv/bin/python"

RATES = """
import json, resource, sys, time
import numpy as np
from rates_core import CircuitTemplate
from rates_core.sweep import grid_search
n, T, batch, out = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
start = time.perf_counter()
qif = CircuitTemplate.from_yaml("rates_core.models.qif.qif")
res, grid = grid_search(
    qif, {"eta": np.linspace(-8.0, -2.0, n)}, {"eta": {"vars": ["qif_op/eta"], "nodes": ["p"]}},
    T, 1e-3, {"r": "p/qif_op/r"}, sampling_step_size=0.1, solver="euler", batch_size=batch,
)
wall = time.perf_counter() - start
np.save(out, res.to_numpy())
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print("BENCH_JSON " + json.dumps({"wall": wall, "peak_mib": peak, "shape": list(res.shape)}))
"""

PYRATES = """
import json, resource, sys, time
import numpy as np
from pyrates import grid_search
n, T, out = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
start = time.perf_counter()
res, grid = grid_search(
    "model_templates.neural_mass_models.qif.qif", param_grid={"eta": np.linspace(-8.0, -2.0, n)},
    param_map={"eta": {"vars": ["qif_op/eta"], "nodes": ["p"]}}, simulation_time=T,
    step_size=1e-3, outputs={"r": "p/qif_op/r"}, solver="euler", sampling_step_size=0.1,
    backend="default", float_precision="float64", clear=True, verbose=False,
)
wall = time.perf_counter() - start
np.save(out, res.to_numpy())
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print("BENCH_JSON " + json.dumps({"wall": wall, "peak_mib": peak, "shape": list(res.shape)}))
"""


def _run(python: str, script: str, args: list[str], workdir: Path, env: dict) -> dict:
    path = workdir / "case.py"
    path.write_text(script)
    proc = subprocess.run(
        [python, str(path), *args], cwd=workdir, env=env, capture_output=True, text=True
    )
    for line in proc.stdout.splitlines():
        if line.startswith(MARKER):
            return json.loads(line[len(MARKER) :])
    raise RuntimeError(f"{python} {path} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--pyrates-sizes", type=int, nargs="*", default=[1000])
    parser.add_argument("--time", type=float, default=100.0, help="simulation time")
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--pyrates-python", default=DEFAULT_PYRATES)
    args = parser.parse_args()
    rows = []
    outputs: dict[tuple[str, int], Path] = {}
    with tempfile.TemporaryDirectory(prefix="rates-sweep-bench-") as tmp:
        tmp_path = Path(tmp)
        for n in args.sizes:
            work = tmp_path / f"rates-{n}"
            work.mkdir()
            env = dict(os.environ, RATES_CACHE_DIR=str(work / "cache"))
            out = work / "r.npy"
            res = _run(
                sys.executable,
                RATES,
                [str(n), str(args.time), str(args.batch_size), str(out)],
                work,
                env,
            )
            outputs[("rates", n)] = out
            rows.append((f"rates (numpy, batch_size {args.batch_size})", n, res))
            print(f"rates   n={n:6d}: {res['wall']:8.2f} s, peak {res['peak_mib']:7.0f} MiB")
        if args.pyrates_sizes and not Path(args.pyrates_python).exists():
            print(f"PyRates skipped: no interpreter {args.pyrates_python}")
            args.pyrates_sizes = []
        for n in args.pyrates_sizes:
            work = tmp_path / f"pyrates-{n}"
            work.mkdir()
            out = work / "r.npy"
            res = _run(
                args.pyrates_python,
                PYRATES,
                [str(n), str(args.time), str(out)],
                work,
                dict(os.environ),
            )
            outputs[("pyrates", n)] = out
            rows.append(("PyRates 1.2.3 (default backend)", n, res))
            print(f"PyRates n={n:6d}: {res['wall']:8.2f} s, peak {res['peak_mib']:7.0f} MiB")
        print()
        print(f"QIF population, {args.time:g} time units, euler dt = 1e-3, sampled every 0.1")
        print("| implementation | sets | wall (s) | peak RSS (MiB) | speed-up |")
        print("|---|---|---|---|---|")
        pyrates_wall = {n: r["wall"] for name, n, r in rows if name.startswith("PyRates")}
        for name, n, r in rows:
            ratio = pyrates_wall.get(n)
            speed = f"{ratio / r['wall']:.1f}x" if ratio and not name.startswith("Py") else ""
            print(f"| {name} | {n} | {r['wall']:.2f} | {r['peak_mib']:.0f} | {speed} |")
        for n in args.pyrates_sizes:
            if ("rates", n) in outputs:
                a = np.load(outputs[("rates", n)])
                b = np.load(outputs[("pyrates", n)])
                rows_common = min(a.shape[0], b.shape[0])
                diff = np.max(np.abs(a[:rows_common] - b[:rows_common]))
                print(f"max |rates - PyRates| over {n} sets: {diff:.3g}")
        shutil.rmtree(tmp_path, ignore_errors=True)


if __name__ == "__main__":
    main()
