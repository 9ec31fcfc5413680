"""Population-scale networks (run by hand: ``python benchmarks/population_scale.py``).

Needs rates-core and rates-numpy. Two parts:

1. **QIF**: ``PopulationTemplate`` of 10,000 QIF units (heterogeneous ``eta``) with 1 % random
   sparse recurrent coupling (``Connectivity`` with a scipy.sparse matrix), 10 time units at
   ``dt = 1e-3`` with Euler (10,000 steps, sampled every 0.1). Reported: template and System
   build time (target: well under 3 s), run time, and peak memory (``resource.getrusage``
   ``ru_maxrss``) against the size of the state vector plus the sparse matrix.
2. **Kuramoto, global coupling** (``Connectivity(..., weights=K/N)``, computed as
   ``K/N * sum(z)``): per-step cost at N = 1,000 / 5,000 / 20,000, which should grow linearly
   in N. The per-step cost is the difference of two runs (``--steps`` and 5x as many) divided
   by the extra steps (best of 3 each, after a warm-up run), so build and set-up costs cancel.
   ``--dense`` adds the same coupling as a dense N x N matrix (N <= 2,000) for contrast.

Options: ``--n-qif``, ``--density``, ``--kuramoto-n 1000 5000 20000``, ``--steps``, ``--dense``,
``--skip-qif``, ``--skip-kuramoto``, ``--pyrates-python`` (PyRates 1.2.3's interpreter: the same
QIF network there, ``cases/qif_population_pyrates.py``, at ``--pyrates-nodes 1000 2000 10000``
until a size fails or exceeds ``--pyrates-timeout``; ``''`` skips it).
"""

from __future__ import annotations

import argparse
import resource
import sys
import time

import numpy as np
import scipy.sparse as sp

from rates_core import (
    CircuitTemplate,
    Connectivity,
    NodeTemplate,
    OperatorTemplate,
    PopulationTemplate,
    build_system,
)

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


def max_rss_mib() -> float:
    """Peak resident set size of this process so far (Linux: KiB, macOS: bytes)."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 2**20 if sys.platform == "darwin" else rss / 2**10


def random_sparse(n: int, density: float, rng: np.random.Generator) -> sp.csr_matrix:
    """About ``density * n * n`` uniform weights at random positions (duplicates summed);
    scipy.sparse.random is avoided, it takes ~10 s at this size."""
    k = int(round(density * n * n))
    rows, cols = rng.integers(0, n, k), rng.integers(0, n, k)
    weights = rng.uniform(0.0, 2.0, k) * 15.0 / (density * n)  # mean input 15 * r
    return sp.csr_matrix((weights, (rows, cols)), shape=(n, n))


def qif_part(n: int, density: float) -> None:
    rng = np.random.default_rng(0)
    weights = random_sparse(n, density, rng)
    # Lorentzian (Delta 1) cut at +-10: the tails blow up under Euler at this step
    eta = -5.0 + 1.0 * np.tan(np.pi * (rng.random(n) - 0.5)).clip(-10, 10)
    rss0 = max_rss_mib()

    import gc
    import tracemalloc

    import pandas  # noqa: F401  (imported by run() anyway: keep its import out of the numbers)

    tracemalloc.start()
    start = time.perf_counter()
    node = NodeTemplate(
        "qif_pop",
        operators=[OperatorTemplate("qif_op", equations=QIF_EQUATIONS, variables=QIF_VARIABLES)],
    )
    pop = PopulationTemplate("exc", node, n, params={"qif_op/eta": eta})
    circuit = CircuitTemplate(
        "qif_net",
        populations={"exc": pop},
        connectivity=[Connectivity("exc/qif_op/r", "exc/qif_op/r_in", weights)],
    )
    t_template = time.perf_counter() - start
    held_template = tracemalloc.get_traced_memory()[0]
    start = time.perf_counter()
    system = build_system(circuit)
    t_system = time.perf_counter() - start
    rss_build = max_rss_mib()
    gc.collect()
    held_build, peak_build = tracemalloc.get_traced_memory()
    tracemalloc.stop()  # the run is timed untraced

    (matrix,) = [p for p in system.params if p.role == "matrix"]
    w = matrix.value
    matrix_bytes = (
        w.data.nbytes + w.indices.nbytes + w.indptr.nbytes if sp.issparse(w) else w.nbytes
    )
    state_bytes = system.n_states * 8

    start = time.perf_counter()
    frame = circuit.run(
        10.0, 1e-3, solver="euler", sampling_step_size=0.1, outputs={"r": "exc/qif_op/r"}
    )
    t_run = time.perf_counter() - start
    rss_run = max_rss_mib()

    print(f"QIF population: N = {n}, {weights.nnz} connections ({weights.nnz / n / n:.2%})")
    print(f"  build: template {t_template:.3f} s + System {t_system:.3f} s")
    print(f"    (coupling: {type(w).__name__}, {len(system.states)} state vectors)")
    print(f"  run 10 time units, dt 1e-3, euler (10,000 steps): {t_run:.2f} s")
    print(f"    -> {t_run / 10_000 * 1e6:.0f} us per step; result {frame.shape}")
    values = frame.to_numpy()
    print(
        f"    mean rate at t=9.9: {np.mean(values[-1]):.4f}; "
        f"{np.count_nonzero(~np.isfinite(values))} non-finite values"
    )
    print(
        f"  memory: state {state_bytes / 2**20:.2f} MiB + sparse matrix "
        f"{matrix_bytes / 2**20:.1f} MiB = {(state_bytes + matrix_bytes) / 2**20:.1f} MiB"
    )
    model = (state_bytes + matrix_bytes) / 2**20
    held_system = (held_build - held_template) / 2**20
    print(
        f"  traced allocations (tracemalloc, NumPy arrays included): the templates hold "
        f"{held_template / 2**20:.1f} MiB (the Connectivity keeps its own copy of the matrix), "
        f"the System {held_system:.1f} MiB = {held_system / model:.2f}x the state + matrix; "
        f"peak {peak_build / 2**20:.1f} MiB while building (templates included)"
    )
    print(
        f"  peak RSS: {rss0:.0f} MiB before building, {rss_build:.0f} MiB after building, "
        f"{rss_run:.0f} MiB after the run (+{rss_run - rss0:.0f} MiB over the imports and "
        "the weight matrix given)"
    )


def kuramoto_circuit(n: int, k: float, dense: bool) -> CircuitTemplate:
    op = OperatorTemplate(
        "k_op",
        equations=["theta' = omega + imag(z_in * exp(-I*theta))", "z = exp(I*theta)"],
        variables={
            "theta": "variable(0.0)",
            "omega": 1.0,
            "z": "output(complex)",
            "z_in": "input(complex)",
        },
    )
    rng = np.random.default_rng(1)
    pop = PopulationTemplate(
        "osc",
        NodeTemplate("kuramoto", operators=[op]),
        n,
        params={"k_op/omega": rng.normal(1.0, 0.1, n), "k_op/theta": rng.uniform(0, 2 * np.pi, n)},
    )
    weights = np.full((n, n), k / n) if dense else k / n
    return CircuitTemplate(
        "kuramoto",
        populations={"osc": pop},
        connectivity=[Connectivity("osc/k_op/z", "osc/k_op/z_in", weights)],
    )


def per_step(circuit: CircuitTemplate, steps: int, dt: float = 1e-3) -> tuple[float, float]:
    """``(seconds per step, order parameter at the end)`` from two runs of different length."""
    times = []
    frame = None
    circuit.run(10 * dt, dt, solver="euler", outputs={"z": "osc/k_op/z"})  # warm-up
    for s in (steps, 5 * steps):
        best = float("inf")
        for _ in range(3):
            start = time.perf_counter()
            frame = circuit.run(
                s * dt,
                dt,
                solver="euler",
                sampling_step_size=s * dt / 10,
                outputs={"z": "osc/k_op/z"},
            )
            best = min(best, time.perf_counter() - start)
        times.append(best)
    order = abs(np.mean(frame.iloc[-1].to_numpy()))
    return (times[1] - times[0]) / (4 * steps), order


def kuramoto_part(sizes: list[int], steps: int, dense: bool) -> None:
    print(f"Kuramoto, global coupling K = 2 (w * sum(z), no N x N matrix), euler, {steps} steps")
    base = None
    for n in sizes:
        start = time.perf_counter()
        circuit = kuramoto_circuit(n, 2.0, dense=False)
        system = build_system(circuit)
        t_build = time.perf_counter() - start
        assert not [p for p in system.params if p.role == "matrix"]
        cost, order = per_step(circuit, steps)
        base = base or cost / n
        print(
            f"  N = {n:6d}: build {t_build:.3f} s, {cost * 1e6:8.1f} us per step "
            f"({cost / n * 1e9:.1f} ns per oscillator, x{cost / n / base:.2f} of N = {sizes[0]}), "
            f"order parameter |<z>| = {order:.3f}"
        )
        if dense and n <= 2000:
            cost_dense, _ = per_step(kuramoto_circuit(n, 2.0, dense=True), steps)
            print(
                f"      same coupling as a dense N x N matrix: {cost_dense * 1e6:8.1f} us per step"
            )


def pyrates_part(python: str, sizes: list[int], density: float, timeout: float) -> None:
    """The same QIF network in PyRates 1.2.3 (``cases/qif_population_pyrates.py``), one fresh
    process per size in a scratch directory, until a size fails or runs out of time."""
    import json
    import os
    import subprocess
    import tempfile

    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "cases")
    script = os.path.join(script, "qif_population_pyrates.py")
    if not os.path.exists(python):
        print(f"PyRates: {python} not found, skipped")
        return
    for n in sizes:
        with tempfile.TemporaryDirectory() as scratch:
            command = [python, script, "--nodes", str(n), "--density", str(density)]
            try:
                done = subprocess.run(
                    command, cwd=scratch, capture_output=True, text=True, timeout=timeout
                )
            except subprocess.TimeoutExpired:
                print(f"PyRates N = {n}: not finished in {timeout:.0f} s")
                return
        lines = [ln for ln in done.stdout.splitlines() if ln.startswith("BENCH_JSON ")]
        if done.returncode or not lines:
            print(f"PyRates N = {n}: failed: {done.stderr.strip().splitlines()[-1:]}")
            return
        r = json.loads(lines[-1].removeprefix("BENCH_JSON "))
        print(
            f"PyRates N = {n} ({r['edges']} connections): templates + edges {r['load_s']:.2f} s, "
            f"run() {r['run_s']:.2f} s (compile included), peak RSS {r['peak_rss_mib']:.0f} MiB "
            f"({r['rss_inputs_mib']:.0f} MiB with the inputs), mean rate at the end "
            f"{r['mean_rate_last']:.4f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-qif", type=int, default=10_000)
    parser.add_argument("--density", type=float, default=0.01)
    parser.add_argument("--kuramoto-n", type=int, nargs="+", default=[1000, 5000, 20000])
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--dense", action="store_true")
    parser.add_argument("--skip-qif", action="store_true")
    parser.add_argument("--skip-kuramoto", action="store_true")
    parser.add_argument(
        "--pyrates-python",
        default="/tmp/pyrates_venv/bin/python",
        help="PyRates 1.2.3's interpreter for the same QIF network ('' to skip)",
    )
    parser.add_argument(
        "--pyrates-nodes",
        type=int,
        nargs="+",
        default=[1000, 2000, 10000],
        help="network sizes for PyRates, smallest first; stops after the first failure",
    )
    parser.add_argument("--pyrates-timeout", type=float, default=900.0)
    args = parser.parse_args()
    if not args.skip_qif:
        qif_part(args.n_qif, args.density)
        if args.pyrates_python:
            pyrates_part(
                args.pyrates_python, args.pyrates_nodes, args.density, args.pyrates_timeout
            )
    if not args.skip_kuramoto:
        kuramoto_part(args.kuramoto_n, args.steps, args.dense)


if __name__ == "__main__":
    main()
