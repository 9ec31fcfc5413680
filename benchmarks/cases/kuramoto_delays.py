"""Benchmark case: N Kuramoto phase oscillators coupled all-to-all through a dense random delay
matrix, 10 time units of explicit Euler at dt = 1e-3 (10 000 steps), sampled at 1e-2.

The model::

    theta_i' = omega_i + (K/N) * sum_j sin(theta_j(t - d_ij) - theta_i(t))

with ``omega_i`` seeded normal (mean 10, sd 1), ``d_ij`` seeded integers 1 .. 50 times dt (every
pair coupled, self-coupling included: N^2 delayed connections), K = 2, ``theta(0) = 0`` and the
pre-history ``theta(t < 0) = theta(0) = 0``. All phases start at 0 because the three libraries
agree on the pre-history only then: rates reads the initial state before t0, PyRates's delay
buffers start filled with zeros.

Implementations (``--impl``):

* ``rates``: the coupling through the identity
  ``sum_j sin(a_j - b) = cos(b) * sum_j sin(a_j) - sin(b) * sum_j cos(a_j)``: the operator
  ``s = sin(theta)``, ``c = cos(theta)``, ``theta' = omega + cos(theta)*s_in - sin(theta)*c_in``
  and two ``add_edges_from_matrix`` couplings ``s -> s_in`` and ``c -> c_in`` (weight K/N, delay
  matrix as ``edge_attr``). ``s`` and ``c`` are algebraic: rates rebuilds their past from the
  delayed phase, ``sin(theta_j(t - d_ij))``. (``add_edges_from_matrix`` takes no edge template
  yet, hence the identity.)
* ``rates_edges``: the model as PyRates writes it, an edge template ``sin_edge`` with
  ``s = sin(theta_s - theta_t)`` on every pair (``add_edges_from_matrix(..., template=sin_edge)``;
  ``theta_t`` fed by the target node); rates delays the edge's source ``theta_s``, i.e. the
  same model as above, and sums the separable edge output as products of sin/cos per node.
* ``pyrates``: PyRates 1.2.3 with its own Kuramoto templates
  (``model_templates.oscillators.kuramoto``: ``phase_pop`` nodes, ``sin_edge`` edge template)
  through ``add_edges_from_matrix(..., template=sin_edge, edge_attr={"delay": D, ...})``.
  PyRates applies an edge's delay to the edge template's *output*: it integrates
  ``sum_j sin(theta_j(t - d_ij) - theta_i(t - d_ij))``, a different model (compare it with
  ``numpy_edge``).
* ``pyrates_sincos``: PyRates with the identity above, the same model as ``rates``: operators
  ``sin_op`` (``s = sin(theta)``) and ``cos_op`` (``cm = cos(theta) - 1``; one delayed output per
  operator, PyRates's buffers collide otherwise) and ``theta' = omega + cos(theta)*s_in -
  sin(theta)*(c_in + K)``. ``cos - 1`` because PyRates's buffers start at zero: its pre-history
  is then ``cos(0) = 1`` like everybody else's (``sum_j K/N = K`` adds the 1 back).
* ``numpy``: a hand-written NumPy Euler loop with a ring buffer of the last 51 rows of
  ``sin(theta)`` and ``cos(theta)`` (``(2 * 51, N)`` each, every row stored twice so a read needs
  no modulo), per step one index add and one gather of N^2 values from each ring, and a weighted
  row sum (``einsum``) of each;
* ``numpy_theta``: the same loop over a ring of ``theta`` with the coupling written directly:
  gather ``theta_j(t - d_ij)``, ``sin(gathered - theta_i)`` (N^2 sines per step), weighted row sum;
* ``numpy_edge``: PyRates's semantics for ``pyrates`` (a ring of the N^2 edge outputs
  ``sin(theta_j - theta_i)``); only for the agreement check.

Timed separately (phase ``build``): templates, edges, ``get_run_func``; (phase ``run``) ``run``
with the integration inside it. rates's ``get_run_func`` builds the System and generates and
loads the code like ``run`` does, then refuses models with delays (their vector field takes the
delayed values from the solver's history, which ``get_run_func``'s callers do not have): the
build time of rates is the time until that ``ModelError``. Memory:
``resource.getrusage(RUSAGE_SELF).ru_maxrss`` (peak resident set of the process) after the inputs
are made and at the end. Recorded: theta of every node. Run by ``benchmarks/delays_kuramoto.py``;
standalone:
``python benchmarks/cases/kuramoto_delays.py --impl numpy --nodes 100``.
"""

from __future__ import annotations

import resource

import _common
import numpy as np

SIMULATION_TIME = 10.0
STEP = 1e-3
SAMPLING = 1e-2
MAX_DELAY_STEPS = 50  # delays are 1 .. 50 steps
COUPLING = 2.0  # K
OMEGA_MEAN, OMEGA_SD = 10.0, 1.0

PYRATES_NODE = "model_templates.oscillators.kuramoto.phase_pop"
PYRATES_EDGE = "model_templates.oscillators.kuramoto.sin_edge"

IMPLS = ("rates", "rates_edges", "pyrates", "pyrates_sincos", "numpy", "numpy_theta", "numpy_edge")


def make_inputs(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``(omega, delay_steps)``: omega_i ~ N(10, 1); ``delay_steps[target, source]`` in 1 .. 50."""
    rng = np.random.default_rng(seed)
    omega = rng.normal(OMEGA_MEAN, OMEGA_SD, n)
    steps = rng.integers(1, MAX_DELAY_STEPS + 1, (n, n))
    return omega, steps


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MB (Linux reports KB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


# --------------------------------------------------------------------------- NumPy baselines


def _grid(simulation_time: float, dt: float, sampling: float) -> tuple[int, int, int]:
    n_steps = round(simulation_time / dt)
    return n_steps, round(simulation_time / sampling), round(sampling / dt)


def numpy_sincos(omega, steps, weights, simulation_time, dt, sampling):
    """Euler with rings of sin(theta) and cos(theta); samples of theta ``(n_samples, N)``."""
    n = omega.size
    n_steps, n_samples, every = _grid(simulation_time, dt, sampling)
    rows = int(steps.max()) + 1  # rows n - max_delay .. n
    theta = np.zeros(n)
    ring_s = np.empty((2 * rows, n))
    ring_c = np.empty((2 * rows, n))
    ring_s[:] = np.sin(theta)  # pre-history: theta(t < 0) = theta(0)
    ring_c[:] = np.cos(theta)
    flat_s, flat_c = ring_s.reshape(-1), ring_c.reshape(-1)
    # row (k - d) mod rows is also stored at row (k mod rows) + rows - d
    offsets = ((rows - steps) * n + np.arange(n)[None, :]).reshape(-1)
    idx = np.empty_like(offsets)
    got_s, got_c = np.empty(n * n), np.empty(n * n)
    out = np.empty((n_samples, n))
    out[0] = theta
    sample = 1
    for k in range(n_steps):
        r = k % rows
        s, c = np.sin(theta), np.cos(theta)
        ring_s[r] = s
        ring_s[r + rows] = s
        ring_c[r] = c
        ring_c[r + rows] = c
        np.add(offsets, r * n, out=idx)
        np.take(flat_s, idx, out=got_s, mode="clip")
        np.take(flat_c, idx, out=got_c, mode="clip")
        s_in = np.einsum("ij,ij->i", weights, got_s.reshape(n, n))
        c_in = np.einsum("ij,ij->i", weights, got_c.reshape(n, n))
        theta += dt * (omega + c * s_in - s * c_in)
        if (k + 1) % every == 0 and sample < n_samples:
            out[sample] = theta
            sample += 1
    return out


def numpy_theta(omega, steps, weights, simulation_time, dt, sampling):
    """Euler with a ring of theta and ``sin(theta_j(t - d) - theta_i)`` per connection."""
    n = omega.size
    n_steps, n_samples, every = _grid(simulation_time, dt, sampling)
    rows = int(steps.max()) + 1
    theta = np.zeros(n)
    ring = np.empty((2 * rows, n))
    ring[:] = theta
    flat = ring.reshape(-1)
    offsets = ((rows - steps) * n + np.arange(n)[None, :]).reshape(-1)
    idx = np.empty_like(offsets)
    got = np.empty(n * n)
    out = np.empty((n_samples, n))
    out[0] = theta
    sample = 1
    for k in range(n_steps):
        r = k % rows
        ring[r] = theta
        ring[r + rows] = theta
        np.add(offsets, r * n, out=idx)
        np.take(flat, idx, out=got, mode="clip")
        diff = got.reshape(n, n)
        diff -= theta[:, None]
        np.sin(diff, out=diff)
        theta += dt * (omega + np.einsum("ij,ij->i", weights, diff))
        if (k + 1) % every == 0 and sample < n_samples:
            out[sample] = theta
            sample += 1
    return out


def numpy_edge(omega, steps, weights, simulation_time, dt, sampling):
    """PyRates's semantics: the N^2 edge outputs ``sin(theta_j - theta_i)`` delayed (ring of
    zeros at the start, as PyRates's buffer)."""
    n = omega.size
    n_steps, n_samples, every = _grid(simulation_time, dt, sampling)
    rows = int(steps.max()) + 1
    theta = np.zeros(n)
    ring = np.zeros((2 * rows, n * n))
    flat = ring.reshape(-1)
    offsets = (rows - steps).reshape(-1) * (n * n) + np.arange(n * n)
    idx = np.empty_like(offsets)
    got = np.empty(n * n)
    out = np.empty((n_samples, n))
    out[0] = theta
    sample = 1
    for k in range(n_steps):
        r = k % rows
        edge = np.sin(theta[None, :] - theta[:, None]).reshape(-1)
        ring[r] = edge
        ring[r + rows] = edge
        np.add(offsets, r * n * n, out=idx)
        np.take(flat, idx, out=got, mode="clip")
        theta += dt * (omega + np.einsum("ij,ij->i", weights, got.reshape(n, n)))
        if (k + 1) % every == 0 and sample < n_samples:
            out[sample] = theta
            sample += 1
    return out


BASELINES = {"numpy": numpy_sincos, "numpy_theta": numpy_theta, "numpy_edge": numpy_edge}


# --------------------------------------------------------------------------- the libraries


def rates_templates(omega: np.ndarray):
    """The rates circuit of ``rates`` (nodes only) and the node labels."""
    from rates_core import CircuitTemplate, NodeTemplate, OperatorTemplate

    op = OperatorTemplate(
        "phase_op",
        equations=[
            "s = sin(theta)",
            "c = cos(theta)",
            "theta' = omega + cos(theta)*s_in - sin(theta)*c_in",
        ],
        variables={
            "theta": "output(0.0)",
            "s": "variable(0.0)",
            "c": "variable(1.0)",
            "omega": OMEGA_MEAN,
            "s_in": "input(0.0)",
            "c_in": "input(0.0)",
        },
    )
    node = NodeTemplate("phase_pop", operators=[op])
    labels = [f"p{i}" for i in range(omega.size)]
    circuit = CircuitTemplate(name="kuramoto_delays", nodes={label: node for label in labels})
    return circuit.update_var(node_vars={"all/phase_op/omega": omega}), labels


def rates_edge_templates(omega: np.ndarray):
    """The rates circuit of ``rates_edges`` (nodes only), the edge template and the labels: the
    equations of PyRates's model_templates/oscillators/kuramoto.yaml (phase_op, coupling_op)."""
    from rates_core import CircuitTemplate, EdgeTemplate, NodeTemplate, OperatorTemplate

    phase = OperatorTemplate(
        "phase_op",
        equations=["theta' = omega + K*s_in"],
        variables={"theta": "output(0.0)", "omega": OMEGA_MEAN, "K": 1.0, "s_in": "input(0.0)"},
    )
    coupling = OperatorTemplate(
        "coupling_op",
        equations=["s = sin(theta_s - theta_t)"],
        variables={"s": "output(0.0)", "theta_s": "input(0.0)", "theta_t": "input(0.0)"},
    )
    node = NodeTemplate("phase_pop", operators=[phase])
    edge = EdgeTemplate("sin_edge", operators=[coupling])
    labels = [f"p{i}" for i in range(omega.size)]
    circuit = CircuitTemplate(name="kuramoto_edges", nodes={label: node for label in labels})
    return circuit.update_var(node_vars={"all/phase_op/omega": omega}), edge, labels


def pyrates_sincos_templates(omega: np.ndarray):
    from pyrates import CircuitTemplate, NodeTemplate, OperatorTemplate

    phase = OperatorTemplate(
        name="phase_op",
        path=None,
        equations=["d/dt * theta = omega + cos(theta)*s_in - sin(theta)*(c_in + K)"],
        variables={
            "theta": "output(0.0)",
            "omega": OMEGA_MEAN,
            "K": COUPLING,
            "s_in": "input(0.0)",
            "c_in": "input(0.0)",
        },
    )
    sin_op = OperatorTemplate(
        name="sin_op",
        path=None,
        equations=["s = sin(theta)"],
        variables={"s": "output(0.0)", "theta": "input(0.0)"},
    )
    cos_op = OperatorTemplate(
        name="cos_op",
        path=None,
        equations=["cm = cos(theta) - 1.0"],
        variables={"cm": "output(0.0)", "theta": "input(0.0)"},
    )
    node = NodeTemplate(name="phase_pop", path=None, operators=[phase, sin_op, cos_op])
    labels = [f"p{i}" for i in range(omega.size)]
    circuit = CircuitTemplate(name="kuramoto_sincos", nodes={label: node for label in labels})
    circuit.update_var(node_vars={"all/phase_op/omega": omega})  # in place
    return circuit, labels


def load(impl: str, omega, steps, results: dict, suffix: str = ""):
    """The circuit with its edges; times ``templates`` and ``edges`` (stored with ``suffix``)."""
    n = omega.size
    weights = np.full((n, n), COUPLING / n)
    delays = steps * STEP
    with _common.stopwatch(results, "templates" + suffix):
        if impl == "rates":
            circuit, labels = rates_templates(omega)
        elif impl == "rates_edges":
            circuit, edge, labels = rates_edge_templates(omega)
        elif impl == "pyrates":
            from pyrates import CircuitTemplate, EdgeTemplate, NodeTemplate

            node = NodeTemplate.from_yaml(PYRATES_NODE)
            edge = EdgeTemplate.from_yaml(PYRATES_EDGE)
            labels = [f"p{i}" for i in range(n)]
            circuit = CircuitTemplate(name="kuramoto", nodes={label: node for label in labels})
            circuit.update_var(node_vars={"all/phase_op/omega": omega})  # in place
        else:
            circuit, labels = pyrates_sincos_templates(omega)
    with _common.stopwatch(results, "edges" + suffix):
        if impl == "rates":  # templates are values: each call returns a new circuit
            for src, tgt in (("s", "s_in"), ("c", "c_in")):
                circuit = circuit.add_edges_from_matrix(
                    f"phase_op/{src}",
                    f"phase_op/{tgt}",
                    labels,
                    weight=weights,
                    edge_attr={"delay": delays},
                )
        elif impl == "rates_edges":  # PyRates's call; rates returns a new circuit
            theta_t = np.empty((n, n), dtype=object)
            for i, label in enumerate(labels):
                theta_t[i, :] = f"{label}/phase_op/theta"
            circuit = circuit.add_edges_from_matrix(
                "phase_op/theta",
                "phase_op/s_in",
                labels,
                weight=weights,
                template=edge,
                edge_attr={
                    "delay": delays,
                    "sin_edge/coupling_op/theta_s": "source",
                    "sin_edge/coupling_op/theta_t": theta_t,
                },
            )
        elif impl == "pyrates":  # in place; the target phase of edge [i, j] is node i's theta
            theta_t = np.empty((n, n), dtype=object)
            for i, label in enumerate(labels):
                theta_t[i, :] = f"{label}/phase_op/theta"
            circuit.add_edges_from_matrix(
                "phase_op/theta",
                "phase_op/s_in",
                labels,
                weight=weights,
                template=edge,
                edge_attr={
                    "delay": delays,
                    "sin_edge/coupling_op/theta_s": "source",
                    "sin_edge/coupling_op/theta_t": theta_t,
                },
            )
        else:
            for src, tgt in (("sin_op/s", "phase_op/s_in"), ("cos_op/cm", "phase_op/c_in")):
                circuit.add_edges_from_matrix(
                    src, tgt, labels, weight=weights, edge_attr={"delay": delays}
                )
    results["load" + suffix] = results["templates" + suffix] + results["edges" + suffix]
    return circuit, labels


def solver_info() -> list[dict]:
    """Record the ``info`` of every rates integration (history rows, connections, path)."""
    from rates_core.plugins import default_host

    host = default_host()
    inner = host.solve
    infos: list[dict] = []

    def recorded(*args, **kwargs):
        trajectory = inner(*args, **kwargs)
        infos.append(dict(trajectory.info))
        return trajectory

    host.solve = recorded
    return infos


def run_library(impl: str, phase: str, omega, steps, results: dict, args) -> None:
    is_rates = impl.startswith("rates")
    with _common.stopwatch(results, "import"):
        if is_rates:
            import rates_core  # noqa: F401
        else:
            import pyrates  # noqa: F401
    solver_times = _common.time_rates_solver() if is_rates else []
    infos = solver_info() if is_rates else []
    dt = STEP

    def build(suffix: str) -> None:
        circuit, _ = load(impl, omega, steps, results, suffix)
        with _common.captured_stdout(), _common.stopwatch(results, "compile" + suffix):
            if is_rates:
                from rates_core import ModelError

                try:  # builds the System and generates the code, then refuses: see the doc
                    circuit.get_run_func("rhs" + suffix, dt, solver="euler")
                except ModelError as exc:
                    if "delayed reads" not in str(exc):
                        raise
            else:
                circuit.get_run_func(
                    "rhs" + suffix,
                    dt,
                    backend="default",
                    solver="euler",
                    float_precision=args.precision,
                    verbose=False,
                )

    if phase == "build":
        if args.build_once:
            build("")
            results["build"] = results["load"] + results["compile"]
        else:
            _common.build_twice("rates" if is_rates else "pyrates", results, build)
        return

    circuit, labels = load(impl, omega, steps, results)
    sim = dict(simulation_time=args.simulation_time, step_size=dt, sampling_step_size=SAMPLING)
    outputs = {"theta": "all/phase_op/theta"}
    if is_rates:
        with _common.stopwatch(results, "run"):
            frame = circuit.run(**sim, solver="euler", outputs=outputs)
        results["sim"] = solver_times[-1]
        info = infos[-1]
        results["solver_path"] = info.get("path")
        results["history_rows"] = info.get("history_rows")
        results["n_delayed"] = info.get("n_delayed")
    else:
        with _common.captured_stdout() as printed, _common.stopwatch(results, "run"):
            frame = circuit.run(
                **sim,
                solver="euler",
                outputs=outputs,
                backend="default",
                float_precision=args.precision,
                verbose=True,  # PyRates then prints the duration of its integration loop
            )
        results["sim"] = _common.pyrates_simulation_seconds(printed.getvalue())
    _common.save_trajectory(args.save, frame.index, _common.frame_columns(frame, labels))


def main() -> None:
    p = _common.parser(__doc__.splitlines()[0], IMPLS)
    p.add_argument("--inputs", default=None, help=".npz with omega and delay_steps")
    p.add_argument("--nodes", type=int, default=1000, help="N, when no --inputs is given")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--simulation-time", type=float, default=SIMULATION_TIME)
    p.add_argument("--build-once", action="store_true", help="phase build: skip the second build")
    args = p.parse_args()
    if args.precision != "float64" and not args.impl.startswith("pyrates"):
        p.error("rates and the NumPy loops run this case in float64 only")
    if args.inputs:
        data = np.load(args.inputs)
        omega, steps = data["omega"], data["delay_steps"]
    else:
        omega, steps = make_inputs(args.nodes, args.seed)
    n = omega.size
    results: dict = {
        "n_nodes": n,
        "n_edges": n * n,
        "max_delay_steps": int(steps.max()),
        "rss_inputs_mb": peak_rss_mb(),
    }
    if args.impl in BASELINES:
        weights = np.full((n, n), COUPLING / n)
        loop = BASELINES[args.impl]
        with _common.stopwatch(results, "sim"):
            samples = loop(omega, steps, weights, args.simulation_time, STEP, SAMPLING)
        results["run"] = results["sim"]
        _common.save_trajectory(args.save, np.arange(len(samples)) * SAMPLING, samples)
    else:
        run_library(args.impl, args.phase, omega, steps, results, args)
    results["rss_peak_mb"] = peak_rss_mb()
    _common.report(args.impl, args.phase, results)


if __name__ == "__main__":
    main()
