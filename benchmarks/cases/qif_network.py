"""Benchmark case 3: a network of QIF populations coupled through a dense random matrix, 10 time
units of explicit Euler at dt = 1e-3, sampled at 1e-2.

Each node is the ``qif_pop`` template of the model file; node j's rate r drives node i's input
r_in with weight ``W[i, j]``. ``W`` (seeded: 10 % of the entries nonzero, uniform in
[0, 1) * J / (0.1 N)) is read from ``--weights`` (the driver writes it once, so every
implementation gets the same matrix) or made here from ``--nodes`` / ``--seed``.

Implementations (``--impl``):

* ``rates``: ``CircuitTemplate(nodes=...)`` then ``add_edges_from_matrix`` (returns a new
  circuit), on the rates-numpy backend;
* ``pyrates``: the same with PyRates 1.2.3 (its ``add_edges_from_matrix`` changes the circuit in
  place and returns None); run with the PyRates interpreter in a scratch directory;
* ``numpy``: a hand-written NumPy Euler loop of the same vectorised equations (``W @ r``).

Timed separately: building the templates, adding the edges, ``get_run_func`` (phase ``build``),
and ``run`` with the integration inside it (phase ``run``). Recorded: r of every node.
"""

from __future__ import annotations

import math

import _common
import numpy as np

SIMULATION_TIME = 10.0
STEP = 1e-3
SAMPLING = 1e-2
DENSITY = 0.1
COUPLING = 15.0  # J: the mean summed input weight of a node is J / 2

RATES_NODE = "rates_core.models.qif.qif_pop"
PYRATES_NODE = "model_templates.neural_mass_models.qif.qif_pop"


def make_weights(n: int, seed: int, density: float = DENSITY) -> np.ndarray:
    """``W[target, source]``: J * uniform [0, 1) on a random 10 % of the pairs, / (0.1 N)."""
    rng = np.random.default_rng(seed)
    mask = rng.random((n, n)) < density
    return COUPLING * rng.uniform(0.0, 1.0, (n, n)) * mask / (density * n)


def numpy_qif_network(weights: np.ndarray, simulation_time: float, dt: float, sampling: float):
    """Explicit Euler of ``r' = (Delta/(pi tau) + 2 r v)/tau`` and
    ``v' = (v^2 + eta + I_ext + tau r_in - (pi tau r)^2)/tau`` with ``r_in = W @ r``.
    Returns the samples of r, shape ``(n_samples, N)``, row 0 the initial state.
    """
    delta, tau, eta, i_ext = 1.0, 1.0, -5.0, 0.0  # the parameters of qif_op
    n = weights.shape[0]
    n_steps = round(simulation_time / dt)
    n_samples = round(simulation_time / sampling)
    every = round(sampling / dt)
    r = np.full(n, 0.01)
    v = np.full(n, -2.0)
    r_in = np.empty(n)
    out = np.empty((n_samples, n))
    out[0] = r
    row = 1
    for k in range(1, n_steps + 1):
        np.matmul(weights, r, out=r_in)
        dr = (delta / (math.pi * tau) + 2.0 * r * v) / tau
        dv = (v**2 + eta + i_ext + tau * r_in - (math.pi * tau * r) ** 2) / tau
        r += dt * dr
        v += dt * dv
        if k % every == 0 and row < n_samples:
            out[row] = r
            row += 1
    return out


def run_library(
    impl: str, phase: str, weights: np.ndarray, results: dict, save: str | None, precision: str
):
    labels = [f"p{i}" for i in range(weights.shape[0])]
    with _common.stopwatch(results, "import"):
        if impl == "rates":
            from rates_core import CircuitTemplate, NodeTemplate
        else:
            from pyrates import CircuitTemplate, NodeTemplate
    solver_times = _common.time_rates_solver() if impl == "rates" else []

    def load(suffix: str = ""):
        with _common.stopwatch(results, "templates" + suffix):
            node = NodeTemplate.from_yaml(RATES_NODE if impl == "rates" else PYRATES_NODE)
            circuit = CircuitTemplate(name="qif_net", nodes={label: node for label in labels})
        with _common.stopwatch(results, "edges" + suffix):
            if impl == "rates":  # templates are values: a new circuit comes back
                circuit = circuit.add_edges_from_matrix(
                    "qif_op/r", "qif_op/r_in", labels, weight=weights
                )
            else:  # PyRates adds the edges to the circuit itself and returns None
                circuit.add_edges_from_matrix("qif_op/r", "qif_op/r_in", labels, weight=weights)
        results["load" + suffix] = results["templates" + suffix] + results["edges" + suffix]
        return circuit

    def build(suffix: str) -> None:
        circuit = load(suffix)
        with _common.captured_stdout(), _common.stopwatch(results, "compile" + suffix):
            if impl == "rates":
                circuit.get_run_func("rhs" + suffix, STEP, solver="euler")
            else:
                circuit.get_run_func(
                    "rhs" + suffix,
                    STEP,
                    backend="default",
                    solver="euler",
                    float_precision=precision,
                    verbose=False,
                )

    if phase == "build":
        _common.build_twice(impl, results, build)
        return

    circuit = load()
    sim = dict(simulation_time=SIMULATION_TIME, step_size=STEP, sampling_step_size=SAMPLING)
    outputs = {"r": "all/qif_op/r"}
    if impl == "rates":
        with _common.stopwatch(results, "run"):
            frame = circuit.run(**sim, solver="euler", outputs=outputs)
        results["sim"] = solver_times[-1]
        with _common.stopwatch(results, "run2"):
            circuit.run(**sim, solver="euler", outputs=outputs)  # compile cache warm
        results["sim2"] = solver_times[-1]
    else:
        with _common.captured_stdout() as printed, _common.stopwatch(results, "run"):
            frame = circuit.run(
                **sim,
                solver="euler",
                outputs=outputs,
                backend="default",
                float_precision=precision,
                verbose=True,  # PyRates then prints the duration of its integration loop
            )
        results["sim"] = _common.pyrates_simulation_seconds(printed.getvalue())
    _common.save_trajectory(save, frame.index, _common.frame_columns(frame, labels))


def main() -> None:
    p = _common.parser(__doc__.splitlines()[0], ("rates", "pyrates", "numpy"))
    p.add_argument("--weights", default=None, help=".npy file with W[target, source]")
    p.add_argument("--nodes", type=int, default=1000, help="N, when no --weights is given")
    p.add_argument("--seed", type=int, default=42)
    args = p.parse_args()
    if args.precision != "float64" and args.impl != "pyrates":
        p.error("rates and the NumPy loop run this case in float64 only")
    weights = np.load(args.weights) if args.weights else make_weights(args.nodes, args.seed)
    results: dict = {"n_nodes": int(weights.shape[0]), "n_edges": int(np.count_nonzero(weights))}
    if args.impl == "numpy":
        with _common.stopwatch(results, "sim"):
            samples = numpy_qif_network(weights, SIMULATION_TIME, STEP, SAMPLING)
        results["run"] = results["sim"]
        _common.save_trajectory(args.save, np.arange(len(samples)) * SAMPLING, samples)
    else:
        run_library(args.impl, args.phase, weights, results, args.save, args.precision)
    _common.report(args.impl, args.phase, results)


if __name__ == "__main__":
    main()
