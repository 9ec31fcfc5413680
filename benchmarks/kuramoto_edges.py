"""1000 Kuramoto oscillators with pairwise sine coupling through an edge template (issue 6).

``theta_i' = omega_i + sum_j W_ij sin(theta_j - theta_i)``, W dense random (K/N scaled), 10 time
units of Euler at dt = 1e-3, sampled every 1e-2. rates builds it as PyRates users write it: an
edge template ``s = sin(theta_s - theta_t)`` on every pair through
``add_edges_from_matrix(..., template=sin_edge, edge_attr={theta_s: "source", theta_t: <target
paths>})``; rates sums the separable edge output as two matrix-vector products. The baseline is a
hand-written NumPy Euler loop with the sin/cos expansion (two matvecs per step).

    /tmp/dev/bin/python benchmarks/kuramoto_edges.py [--nodes 1000] [--time 10] [--repeat 3]

Prints build and integration times, the ratio and the agreement. Run by hand; not a test.
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np


def inputs(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    omega = rng.normal(10.0, 1.0, n)
    weights = rng.random((n, n)) * 2.0 / n
    theta0 = rng.uniform(0.0, 2 * np.pi, n)
    return omega, weights, theta0


def build_rates(omega, weights):
    from rates_core import CircuitTemplate, EdgeTemplate, NodeTemplate, OperatorTemplate

    n = len(omega)
    phase = OperatorTemplate(
        name="phase_op",
        equations=["theta' = omega + s_in"],
        variables={"theta": "output(0.0)", "omega": 10.0, "s_in": "input(0.0)"},
    )
    coupling = OperatorTemplate(
        name="coupling_op",
        equations=["s = sin(theta_s - theta_t)"],
        variables={"s": "output(0.0)", "theta_s": "input(0.0)", "theta_t": "input(0.0)"},
    )
    node = NodeTemplate(name="phase_pop", operators=[phase])
    edge = EdgeTemplate("sin_edge", operators=[coupling])
    labels = [f"p{i}" for i in range(n)]
    theta_t = np.empty((n, n), dtype=object)
    for i, label in enumerate(labels):
        theta_t[i, :] = f"{label}/phase_op/theta"
    circuit = CircuitTemplate(name="kuramoto", nodes={label: node for label in labels})
    circuit = circuit.add_edges_from_matrix(
        "phase_op/theta",
        "phase_op/s_in",
        labels,
        weight=weights,
        template=edge,
        edge_attr={
            "sin_edge/coupling_op/theta_s": "source",
            "sin_edge/coupling_op/theta_t": theta_t,
        },
    )
    return circuit.update_var(node_vars={"all/phase_op/omega": omega}), labels


def numpy_loop(omega, weights, theta0, T, dt, every):
    theta = theta0.copy()
    steps = int(round(T / dt))
    out = np.empty((steps // every, len(theta)))
    out[0] = theta
    row = 1
    for k in range(steps):
        s, c = np.sin(theta), np.cos(theta)
        theta = theta + dt * (omega + c * (weights @ s) - s * (weights @ c))
        if (k + 1) % every == 0 and row < len(out):
            out[row] = theta
            row += 1
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--time", type=float, default=10.0)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    n, T, dt, every = args.nodes, args.time, 1e-3, 10
    omega, weights, theta0 = inputs(n)

    t = time.perf_counter()
    circuit, labels = build_rates(omega, weights)
    templates = time.perf_counter() - t
    initial = {f"{lb}/phase_op/theta": float(v) for lb, v in zip(labels, theta0)}
    run_kwargs = dict(
        outputs={"theta": "all/phase_op/theta"},
        initial_state=initial,
        sampling_step_size=every * dt,
    )
    t = time.perf_counter()
    frame = circuit.run(T, dt, **run_kwargs)
    first = time.perf_counter() - t
    rates_runs, loop_runs = [], []
    for _ in range(args.repeat):
        t = time.perf_counter()
        frame = circuit.run(T, dt, **run_kwargs)
        rates_runs.append(time.perf_counter() - t)
        t = time.perf_counter()
        reference = numpy_loop(omega, weights, theta0, T, dt, every)
        loop_runs.append(time.perf_counter() - t)
    diff = np.abs(frame.to_numpy() - reference).max()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"N = {n}: {n * n} edges, Euler dt = {dt}, {int(round(T / dt))} steps")
    print(f"  templates + edges (add_edges_from_matrix)   {templates:8.3f} s")
    print(f"  run() first call (build + integrate)        {first:8.3f} s")
    print(f"  run() again, best of {args.repeat}                   {min(rates_runs):8.3f} s")
    print(f"  hand-written NumPy loop, best of {args.repeat}        {min(loop_runs):8.3f} s")
    print(f"  rates / NumPy: {min(rates_runs) / min(loop_runs):.2f} (target <= 2)")
    print(
        f"  agreement: max |theta diff| {diff:.3g} (largest |theta| {np.abs(reference).max():.3g})"
    )
    print(f"  peak RSS {rss:.0f} MB")


if __name__ == "__main__":
    main()
