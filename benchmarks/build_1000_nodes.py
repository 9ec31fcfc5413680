"""Time building a 1000-node QIF network (run by hand: ``python benchmarks/build_1000_nodes.py``).

Three stages are timed separately, best of ``--repeat`` runs each (time.perf_counter):

1. ``CircuitTemplate(...)`` with 1000 QIF nodes (operator and node templates built once);
2. ``add_edges_from_matrix`` with a seeded random weight matrix of 10 % density;
3. ``build_system`` (flatten, vectorise, parse equations, build the couplings).

It also reports (outside the target) ``update_var`` with one ``eta`` per node and the build
after it.

The target is build-to-System (stages 1 to 3) under 2 s.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from rates_core import CircuitTemplate, NodeTemplate, OperatorTemplate, build_system

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


def best_of(repeat: int, function, *args):
    """``(best seconds, result of the last call)``."""
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = function(*args)
        best = min(best, time.perf_counter() - start)
    return best, result


def make_circuit(n: int) -> CircuitTemplate:
    op = OperatorTemplate("qif_op", equations=QIF_EQUATIONS, variables=QIF_VARIABLES)
    node = NodeTemplate("qif_pop", operators=[op])
    return CircuitTemplate("qif_net", nodes={f"p{i}": node for i in range(n)})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--density", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    rng = np.random.default_rng(args.seed)
    n = args.nodes
    weights = rng.uniform(0.0, 1.0, (n, n)) * (rng.random((n, n)) < args.density)
    labels = [f"p{i}" for i in range(n)]

    t_circuit, circuit = best_of(args.repeat, make_circuit, n)
    t_edges, connected = best_of(
        args.repeat,
        lambda: circuit.add_edges_from_matrix("qif_op/r", "qif_op/r_in", labels, weight=weights),
    )
    t_system, system = best_of(args.repeat, build_system, connected)
    # not part of the target: heterogeneous values, one per node, and the System built from them
    etas = rng.uniform(-6.0, -4.0, n)
    t_update, varied = best_of(args.repeat, lambda: connected.update_var({"all/qif_op/eta": etas}))
    t_varied, _ = best_of(args.repeat, build_system, varied)

    (conn,) = connected.connections
    (matrix,) = [p for p in system.params if p.role == "matrix"]
    print(f"nodes: {n}, connections: {len(conn.rows)} ({len(conn.rows) / n**2:.1%} density)")
    print(f"System: {system.n_states} states, {len(system.params)} parameters")
    print(f"coupling: {type(matrix.value).__module__}.{type(matrix.value).__name__}")
    print(f"best of {args.repeat}:")
    print(f"  CircuitTemplate construction  {t_circuit * 1e3:9.1f} ms")
    print(f"  add_edges_from_matrix         {t_edges * 1e3:9.1f} ms")
    print(f"  build_system                  {t_system * 1e3:9.1f} ms")
    total = t_circuit + t_edges + t_system
    verdict = "within" if total < 2.0 else "OVER"
    print(f"  total build-to-System         {total * 1e3:9.1f} ms ({verdict} the 2 s target)")
    print("extra (not in the target):")
    print(f"  update_var, {n} eta values   {t_update * 1e3:9.1f} ms")
    print(f"  build_system after that       {t_varied * 1e3:9.1f} ms")


if __name__ == "__main__":
    main()
