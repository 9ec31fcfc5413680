"""The QIF network of ``population_scale.py`` in PyRates 1.2.3 (run with PyRates's Python).

N ``qif_pop`` nodes (``model_templates.neural_mass_models.qif``: the same equations as rates's
``qif_op``) coupled with ``add_edges_from_matrix`` through the seeded random sparse matrix of
``population_scale.random_sparse`` (PyRates wants a dense matrix: it gets ``W.toarray()``), then
10 time units of Euler at dt = 1e-3 sampled every 0.1 with ``backend="default"``. Prints one
``BENCH_JSON {...}`` line: build (templates + edges + compile inside run), the whole run, peak
RSS. Run it in a scratch directory (PyRates writes its generated code there).

    cd "$(mktemp -d)"
    /tmp/pyrates_venv/bin/python /work/main/benchmarks/cases/qif_population_pyrates.py --nodes 2000
"""

from __future__ import annotations

import argparse
import json
import resource
import time

import numpy as np


def random_sparse_dense(n: int, density: float, seed: int = 0) -> np.ndarray:
    """``population_scale.random_sparse`` (same seed, same draws), as a dense array."""
    rng = np.random.default_rng(seed)
    k = int(round(density * n * n))
    rows, cols = rng.integers(0, n, k), rng.integers(0, n, k)
    weights = rng.uniform(0.0, 2.0, k) * 15.0 / (density * n)
    dense = np.zeros((n, n))
    np.add.at(dense, (rows, cols), weights)
    return dense


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--density", type=float, default=0.01)
    parser.add_argument("--time", type=float, default=10.0)
    args = parser.parse_args()
    n = args.nodes
    weights = random_sparse_dense(n, args.density)
    rss_inputs = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    start = time.perf_counter()
    from pyrates import CircuitTemplate, NodeTemplate

    node = NodeTemplate.from_yaml("model_templates.neural_mass_models.qif.qif_pop")
    labels = [f"p{i}" for i in range(n)]
    circuit = CircuitTemplate(name="qif_net", nodes={label: node for label in labels})
    circuit.add_edges_from_matrix("qif_op/r", "qif_op/r_in", labels, weight=weights)
    load = time.perf_counter() - start
    start = time.perf_counter()
    frame = circuit.run(
        simulation_time=args.time,
        step_size=1e-3,
        sampling_step_size=0.1,
        solver="euler",
        outputs={"r": "all/qif_op/r"},
        backend="default",
        float_precision="float64",
        vectorize=True,
        clear=True,
    )
    run = time.perf_counter() - start
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    record = {
        "nodes": n,
        "edges": int(np.count_nonzero(weights)),
        "load_s": load,
        "run_s": run,
        "peak_rss_mib": rss,
        "rss_inputs_mib": rss_inputs,
        "mean_rate_last": float(np.asarray(frame.iloc[-1]).mean()),
    }
    print("BENCH_JSON " + json.dumps(record))


if __name__ == "__main__":
    main()
