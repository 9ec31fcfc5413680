"""The QIF network of ``population_scale.py`` in PyRates 1.2.3 (run with PyRates's Python).

N nodes of the same QIF operator (the equations of ``population_scale.QIF_EQUATIONS``,
per-node ``eta`` drawn as there) coupled with ``add_edges_from_matrix`` through the seeded
random matrix of ``population_scale.random_sparse`` (as a dense array, which PyRates wants), then
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


def inputs(n: int, density: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``population_scale.random_sparse`` as a dense array and the per-unit ``eta`` (same seed,
    same draws as ``population_scale.qif_part``)."""
    rng = np.random.default_rng(seed)
    k = int(round(density * n * n))
    rows, cols = rng.integers(0, n, k), rng.integers(0, n, k)
    weights = rng.uniform(0.0, 2.0, k) * 15.0 / (density * n)
    dense = np.zeros((n, n))
    np.add.at(dense, (rows, cols), weights)
    eta = -5.0 + 1.0 * np.tan(np.pi * (rng.random(n) - 0.5)).clip(-10, 10)
    return dense, eta


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--density", type=float, default=0.01)
    parser.add_argument("--time", type=float, default=10.0)
    args = parser.parse_args()
    n = args.nodes
    weights, eta = inputs(n, args.density)
    rss_inputs = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    start = time.perf_counter()
    from pyrates import CircuitTemplate, NodeTemplate, OperatorTemplate

    op = OperatorTemplate(  # population_scale.QIF_EQUATIONS / QIF_VARIABLES in PyRates syntax
        name="qif_op",
        path=None,
        equations=[
            "d/dt * r = (Delta/(pi*tau) + 2.0*r*v) / tau",
            "d/dt * v = (v^2 + eta + I_ext + tau*r_in - (pi*tau*r)^2) / tau",
        ],
        variables={
            "r": "output(0.01)",
            "v": "variable(-2.0)",
            "Delta": 1.0,
            "tau": 1.0,
            "eta": -5.0,
            "I_ext": "input(0.0)",
            "r_in": "input(0.0)",
        },
    )
    node = NodeTemplate(name="qif_pop", path=None, operators=[op])
    labels = [f"p{i}" for i in range(n)]
    circuit = CircuitTemplate(name="qif_net", nodes={label: node for label in labels})
    circuit.update_var(node_vars={f"{lb}/qif_op/eta": float(e) for lb, e in zip(labels, eta)})
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
