"""Random but valid circuits for the conformance suite (issue 18): the model generator.

:func:`models` is a Hypothesis strategy drawing a :class:`GeneratedModel`: a plain description
(node types, projections, inputs) that :meth:`GeneratedModel.circuit` turns into a
:class:`~rates_core.frontend.templates.CircuitTemplate`. It draws

- 1 to 60 nodes of 1 to 3 node types, each type as separate nodes or as one
  :class:`~rates_core.frontend.population.PopulationTemplate`, with per-node time constants;
- operators with differential variables (``x``, optionally ``v`` and a complex ``z``) and
  algebraic ones (``s``, optionally ``a``), bounded nonlinearities (``tanh``, ``sigmoid``),
  optionally a delayed self-term written ``past(x, d)`` or ``x(t - d)``;
- projections between node types: single edges (one or several), dense or sparse weight
  matrices (``add_edges_from_matrix``), ``Connectivity`` between populations (matrix or global
  coupling); without delay, with one delay for all or one per edge, with a ``spread`` of low
  (gamma kernel order 2-6) or high order (25-40); with no edge template, a linear (separable)
  or nonlinear one, with or without a state of its own;
- extrinsic inputs (a staircase per node), also together with delays;
- white noise on node types, additive (``+ sig*xi()``) or multiplicative (``+ sig*x*xi()``,
  with additive noise on ``v``), also together with delays.

Models are stable by construction (linear decay, bounded nonlinearities, weights scaled by the
in-degree), so comparisons mean something. :func:`check_model` runs one with every solver of
the backend under test, vectorised and not, and compares it with the reference: rates-numpy,
unvectorised, SciPy's DOP853 at rtol 1e-10. The tolerance follows the solver's order
(:data:`FIXED_TOLERANCE`), the step its order and the fastest rate of the model. A model with
delays also runs once under ``delays="grid"`` (:func:`check_grid`): the backend's fixed-step
solver of highest order against rates-numpy, unvectorised, with the same method, step and
convention (:data:`GRID_TOLERANCE`).

Every model also runs once with ``run(monitors=...)`` in small windows or streamed sample
blocks (:func:`check_monitors`), against the plain run.

A noisy model runs with every SDE method of the backend (:func:`check_noisy`), each run given
the same Wiener increments (one stream per noise source, matched by path, so vectorised and
unvectorised runs integrate the same paths), against rates-numpy, unvectorised, with the same
method, step and increments (:data:`SDE_TOLERANCE`).

Features the backend (or one of its solvers) does not declare are not drawn: ``dde`` (delays,
but not spreads, which are ODEs), ``complex``, ``sde`` (noise), ``sde_delays`` (noise together
with delays); ``vectorised`` decides whether ``vectorize=True`` runs.
"""

from __future__ import annotations

import contextlib
import math
import os
import tempfile
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "FIXED_TOLERANCE",
    "GeneratedModel",
    "NodeType",
    "Projection",
    "check_model",
    "models",
    "run_generated",
    "run_model",
]

#: Simulated time of every generated model and the distance of the compared rows.
T_END = 1.0
SAMPLING = 0.1
#: Delays are multiples of this (so they fall on every fixed step below); inputs jump at
#: INPUT_SHIFT + k INPUT_PERIOD, between the compared rows (there the ramp an adaptive solver
#: sees has not yet caught up with the step).
DELAY_GRID = 0.05
INPUT_PERIOD = 0.5
INPUT_SHIFT = 0.05
#: Fixed step sizes to choose from (each divides DELAY_GRID, SAMPLING and INPUT_PERIOD).
STEPS = (1e-2, 5e-3, 2e-3, 1e-3, 5e-4, 2.5e-4, 1e-4)
#: Step of the input rows given to adaptive solvers (and the reference). The inputs enter the
#: equations linearly, so the ramps of linear interpolation integrate like the steps.
ADAPTIVE_DT = 1e-3
#: Per order class (see checks.order_class): (largest step, largest ``rate * dt``, relative
#: tolerance). Errors are relative to the largest magnitude of all compared variables.
FIXED_TOLERANCE: Mapping[int, tuple[float, float, float]] = {
    1: (1e-3, 0.02, 5e-2),
    2: (2e-3, 0.05, 1e-3),
    4: (1e-2, 0.2, 1e-5),
}
#: Relative tolerance of adaptive solvers (asked for rtol 1e-10, atol 1e-12).
ADAPTIVE_TOLERANCE = 1e-6
#: Tolerances of the reference run.
REFERENCE_OPTIONS = {"method": "DOP853", "rtol": 1e-10, "atol": 1e-12}
#: ``delays="grid"`` runs take this fraction of the model's fixed step, so that the delays
#: (multiples of DELAY_GRID) are no whole number of steps and round (never to a tie: tau / dt
#: is 10 j N / 7 for whole j, N); their relative tolerance against rates-numpy.
GRID_STEP_FACTOR = 0.7
GRID_TOLERANCE = 1e-9
#: The fixed-step methods rates-numpy runs as the reference of a grid run.
GRID_METHODS = ("euler", "heun", "rk4")

EDGE_KINDS = ("none", "linear", "nonlinear", "filter", "depression")
#: White noise on a node type: none, ``+ sig*xi()`` on x, or ``+ sig*x*xi()`` on x (and
#: ``+ sig*xi()`` on v where the type has it), with ``sig`` = NOISE_SIGMA.
NOISE_KINDS = ("none", "additive", "multiplicative")
NOISE_SIGMA = 0.3
#: Noisy models: the seed of the Wiener increments every run of a model is given (one column
#: per noise source, matched by path), and the relative tolerance against rates-numpy with
#: the same method, step and increments.
NOISE_SEED = 20261206
SDE_TOLERANCE = 1e-9
#: A monitored run's Subsample against the plain run (same solver, step and increments).
MONITOR_TOLERANCE = 1e-12
COUPLINGS = ("edges", "matrix", "sparse", "connectivity", "global")


@dataclass(frozen=True)
class NodeType:
    """``count`` nodes of one kind (operator ``op<index>``), labelled ``n<index>_<k>`` or, as a
    population, ``P<index>`` with units ``P<index>/<k>``."""

    index: int
    count: int
    population: bool
    taus: tuple[float, ...]
    biases: tuple[float, ...]
    x0: tuple[float, ...]
    nonlinearity: str = "tanh"
    second_state: bool = False
    algebraic_out: bool = False
    complex_state: bool = False
    self_delay: str = "none"  # none | past | call
    self_delay_tau: float = 0.0
    extrinsic: bool = False
    noise: str = "none"  # one of NOISE_KINDS

    @property
    def op(self) -> str:
        return f"op{self.index}"

    def labels(self) -> list[str]:
        if self.population:
            return [f"P{self.index}/{k}" for k in range(self.count)]
        return [f"n{self.index}_{k}" for k in range(self.count)]

    def source_var(self) -> str:
        return "a" if self.algebraic_out else "x"

    def operator(self) -> Any:
        from rates_core.frontend.templates import OperatorTemplate

        g = "tanh(s)" if self.nonlinearity == "tanh" else "(sigmoid(s) - 0.5)"
        rhs = f"-x + {g}"
        equations = ["s = u + b"]
        variables: dict[str, Any] = {
            "x": f"output({self.x0[0]})",
            "tau": self.taus[0],
            "b": self.biases[0],
            "u": "input(0.0)",
            "ext": "input(0.0)",
            "s": "variable(0.0)",
        }
        if self.extrinsic:
            rhs += " + ext"
        if self.noise != "none":
            variables["sig"] = NOISE_SIGMA
        if self.second_state:
            rhs += " - 0.5*v"
            # with multiplicative noise on x, v gets additive noise of its own
            v_noise = " + sig*xi()" if self.noise == "multiplicative" else ""
            equations.append(f"v' = (x - v)/(2.0*tau){v_noise}")
            variables["v"] = "variable(0.1)"
        if self.complex_state:
            rhs += " + 0.2*real(z)"
            equations.append("z' = (-0.5 + 2.0*I)*z + x")
            variables["z"] = "variable(0.3+0.1j)"
        if self.self_delay == "past":
            rhs += f" - 0.4*past(x, {self.self_delay_tau:g})"
        elif self.self_delay == "call":
            rhs += f" - 0.4*x(t - {self.self_delay_tau:g})"
        if self.algebraic_out:
            equations.append("a = tanh(2.0*x)")
            variables["a"] = "variable(0.0)"
        x_noise = {"none": "", "additive": " + sig*xi()", "multiplicative": " + sig*x*xi()"}
        equations.insert(0, f"x' = ({rhs})/tau{x_noise[self.noise]}")
        return OperatorTemplate(name=self.op, equations=equations, variables=variables)


@dataclass(frozen=True)
class Projection:
    """Connections from ``source`` type's ``x`` (or ``a``) into ``target`` type's ``u``."""

    source: int
    target: int
    coupling: str  # one of COUPLINGS
    pairs: tuple[tuple[int, int], ...]  # (target unit, source unit)
    weights: tuple[float, ...]
    delays: tuple[float, ...] = ()  # () none, one value for all, or one per pair
    order: int = 0  # gamma-kernel order of the spread (0: none)
    edge: str = "none"  # one of EDGE_KINDS


@dataclass(frozen=True)
class GeneratedModel:
    """A drawn circuit: node types, projections and the extrinsic input levels."""

    types: tuple[NodeType, ...]
    projections: tuple[Projection, ...]
    input_levels: tuple[tuple[float, ...], ...] = ()  # per type with extrinsic: 3 levels

    # ------------------------------------------------------------------ what it needs

    def needs(self) -> frozenset[str]:
        """Capabilities a backend (or solver) needs to run this model."""
        out = set()
        if any(t.self_delay != "none" for t in self.types):
            out.add("dde")
        if any(p.delays and p.order == 0 for p in self.projections):
            out.add("dde")
        if any(t.complex_state for t in self.types):
            out.add("complex")
        if self.noisy:  # SDE methods declare delays as sde_delays
            out.add("sde")
            if "dde" in out:
                out.remove("dde")
                out.add("sde_delays")
        return frozenset(out)

    @property
    def noisy(self) -> bool:
        """Whether some node type has white noise (the model is an SDE)."""
        return any(t.noise != "none" for t in self.types)

    def fastest_rate(self) -> float:
        """The largest rate of the model (1 / smallest time constant, gamma-kernel rates)."""
        rate = max(1.0 / min(t.taus) for t in self.types)
        rate = max(rate, math.hypot(0.5, 2.0) if any(t.complex_state for t in self.types) else 0)
        for p in self.projections:
            if p.order:
                rate = max(rate, p.order / min(p.delays))
            if p.edge in ("filter", "depression"):
                rate = max(rate, 1.0 / 0.2)
        return rate

    # ------------------------------------------------------------------ the circuit

    def circuit(self) -> Any:
        from rates_core.frontend.population import PopulationTemplate
        from rates_core.frontend.templates import CircuitTemplate, NodeTemplate

        nodes: dict[str, Any] = {}
        populations: dict[str, Any] = {}
        node_vars: dict[str, Any] = {}
        for t in self.types:
            node = NodeTemplate(name=f"node{t.index}", operators=[t.operator()])
            params = {f"{t.op}/tau": np.array(t.taus), f"{t.op}/b": np.array(t.biases)}
            params[f"{t.op}/x"] = np.array(t.x0)
            if t.population:
                populations[f"P{t.index}"] = PopulationTemplate(
                    name=f"pop{t.index}", node=node, n=t.count, params=params
                )
                continue
            for k, label in enumerate(t.labels()):
                nodes[label] = node
                for key, values in params.items():
                    if values[k] != values[0]:
                        node_vars[f"{label}/{key}"] = float(values[k])
        circuit = CircuitTemplate(name="generated", nodes=nodes, populations=populations)
        if node_vars:
            circuit = circuit.update_var(node_vars=node_vars)
        for p in self.projections:
            circuit = self._connect(circuit, p)
        return circuit

    def _connect(self, circuit: Any, p: Projection) -> Any:
        from rates_core.frontend.population import Connectivity

        src, tgt = self.types[p.source], self.types[p.target]
        source_var = f"{src.op}/{src.source_var()}"
        target_var = f"{tgt.op}/u"
        template = edge_template(p.edge)
        if p.coupling in ("connectivity", "global", "matrix", "sparse"):
            shape = (tgt.count, src.count)
            weights, delays, spread = self._matrices(p, shape)
            if p.coupling in ("connectivity", "global"):
                conn = Connectivity(
                    f"P{src.index}/{source_var}",
                    f"P{tgt.index}/{target_var}",
                    weights,
                    edge=template,
                    delays=delays,
                    spread=spread,
                )
                return circuit.add_connectivity(conn)
            edge_attr: dict[str, Any] = {}
            if delays is not None:
                edge_attr["delay"] = delays
            if spread is not None:
                edge_attr["spread"] = spread
            return circuit.add_edges_from_matrix(
                source_var,
                target_var,
                src.labels(),
                tgt.labels(),
                weight=weights,
                template=template,
                edge_attr=edge_attr,
            )
        edges = []
        for i, ((row, col), w) in enumerate(zip(p.pairs, p.weights)):
            attrs: dict[str, Any] = {"weight": w}
            if p.delays:
                attrs["delay"] = p.delays[i] if len(p.delays) > 1 else p.delays[0]
                if p.order:
                    attrs["spread"] = attrs["delay"] / math.sqrt(p.order)
            source = f"{src.labels()[col]}/{source_var}"
            target = f"{tgt.labels()[row]}/{target_var}"
            edges.append((source, target, template, attrs))
        return circuit.add_edges(edges)

    @staticmethod
    def _matrices(p: Projection, shape: tuple[int, int]) -> tuple[Any, Any, Any]:
        """Weights (dense, sparse or a scalar), delays and spreads (matrices or scalars)."""
        if p.coupling == "global":
            delay = p.delays[0] if p.delays else None
            spread = delay / math.sqrt(p.order) if p.order and delay else None
            return p.weights[0], delay, spread
        weights = np.zeros(shape)
        delays = np.zeros(shape)
        for i, (row, col) in enumerate(p.pairs):
            weights[row, col] = p.weights[i]
            if p.delays:
                delays[row, col] = p.delays[i] if len(p.delays) > 1 else p.delays[0]
        if p.coupling == "sparse":
            import scipy.sparse as sp

            weights = sp.csr_matrix(weights)
        if not p.delays:
            return weights, None, None
        if len(p.delays) == 1:
            d = p.delays[0]
            return weights, d, (d / math.sqrt(p.order) if p.order else None)
        return weights, delays, (delays / math.sqrt(p.order) if p.order else None)

    # ------------------------------------------------------------------ inputs and outputs

    def outputs(self) -> dict[str, str]:
        """``x`` of every node, and ``z`` of complex nodes."""
        out = {}
        for t in self.types:
            for label in t.labels():
                out[f"{label}/{t.op}/x"] = f"{label}/{t.op}/x"
                if t.complex_state:
                    out[f"{label}/{t.op}/z"] = f"{label}/{t.op}/z"
        return out

    def inputs(self, dt: float, adaptive: bool) -> dict[str, np.ndarray]:
        """The staircase inputs with one row per step of ``dt``. Fixed-step solvers use row k
        for the step from ``k dt``; adaptive ones interpolate the rows linearly, so for them the
        row at a jump holds the mean of both levels (the ramp is symmetric about the jump and
        integrates like the step)."""
        steps = int(round(T_END / dt))
        times = np.arange(steps) * dt
        phase = (times - INPUT_SHIFT) / INPUT_PERIOD
        index = np.clip(np.floor(phase + 1e-9).astype(int) + 1, 0, 2)
        at_jump = (np.abs(phase - np.rint(phase)) < 1e-9) & (phase > -0.5)
        out: dict[str, np.ndarray] = {}
        with_input = [t for t in self.types if t.extrinsic]
        for t, levels in zip(with_input, self.input_levels):
            lv = np.asarray(levels)
            column = lv[index]
            if adaptive:
                before = lv[np.maximum(index - 1, 0)]
                column = np.where(at_jump & (index > 0), 0.5 * (column + before), column)
            if t.population:
                scale = np.linspace(0.5, 1.0, t.count)
                out[f"P{t.index}/{t.op}/ext"] = column[:, None] * scale[None, :]
                continue
            for k, label in enumerate(t.labels()):
                out[f"{label}/{t.op}/ext"] = column * (0.5 + 0.5 * k / max(t.count - 1, 1))
        return out

    def to_yaml(self) -> str:
        """The circuit as YAML text (``CircuitTemplate.to_yaml``)."""
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "generated.yaml")
            try:
                self.circuit().to_yaml(path)
            except Exception as exc:  # noqa: BLE001 - a report must not fail on the dump
                return f"(no YAML: {type(exc).__name__}: {exc})"
            with open(path, encoding="utf-8") as fh:
                return fh.read()


def edge_template(kind: str) -> Any:
    """The edge template of ``kind`` (None for ``none``): input ``r_e``, output ``r_out``."""
    from rates_core.frontend.templates import EdgeTemplate, OperatorTemplate

    if kind == "none":
        return None
    variables: dict[str, Any] = {"r_e": "input(0.0)", "r_out": "output(0.0)"}
    if kind == "linear":
        equations = ["r_out = c*r_e"]
        variables["c"] = 0.8
    elif kind == "nonlinear":
        equations = ["r_out = tanh(c*r_e)"]
        variables["c"] = 1.5
    elif kind == "filter":
        equations = ["q' = (r_e - q)/tau_q", "r_out = q"]
        variables.update({"q": "variable(0.0)", "tau_q": 0.2})
    elif kind == "depression":
        equations = ["q' = (1.0 - q)/tau_q - alpha*q*r_e", "r_out = q*r_e"]
        variables.update({"q": "variable(1.0)", "tau_q": 0.5, "alpha": 0.5})
    else:
        raise ValueError(f"unknown edge kind {kind!r}")
    op = OperatorTemplate(name=f"{kind}_op", equations=equations, variables=variables)
    return EdgeTemplate(name=f"{kind}_edge", operators=[op])


# --------------------------------------------------------------------------- the strategy


def models(
    capabilities: Collection[str] = ("dde", "complex", "sde", "sde_delays"), max_nodes: int = 60
) -> Any:
    """Hypothesis strategy of :class:`GeneratedModel`; features needing a capability missing
    from ``capabilities`` (``dde``, ``complex``, ``sde``, ``sde_delays``) are not drawn."""
    from hypothesis import strategies as st

    complex_ok = "complex" in capabilities
    sde = "sde" in capabilities

    @st.composite
    def draw_model(draw: Any) -> GeneratedModel:
        noisy = sde and draw(st.booleans())
        # delays with noise only where the backend integrates delayed SDEs
        dde = "dde" in capabilities and (not noisy or "sde_delays" in capabilities)
        n_types = draw(st.integers(1, 3))
        budget = max_nodes
        types = []
        for index in range(n_types):
            count = draw(st.integers(1, max(1, budget - (n_types - index - 1))))
            budget -= count
            types.append(draw(node_type(index, count, dde, noisy)))
        projections = []
        for _ in range(draw(st.integers(0, 3))):
            src = draw(st.integers(0, n_types - 1))
            tgt = draw(st.integers(0, n_types - 1))
            projections.append(draw(projection(types[src], types[tgt], dde)))
        levels = tuple(
            tuple(draw(st.lists(level, min_size=3, max_size=3))) for t in types if t.extrinsic
        )
        return GeneratedModel(tuple(types), tuple(projections), levels)

    level = st.sampled_from([-0.5, -0.2, 0.0, 0.3, 0.6])
    time_constant = st.sampled_from([0.5, 0.8, 1.0, 1.5])

    @st.composite
    def node_type(draw: Any, index: int, count: int, dde: bool, noisy: bool) -> NodeType:
        self_delay = draw(st.sampled_from(["none", "past", "call"])) if dde else "none"
        same = draw(st.booleans())
        size = 1 if same else count
        taus = draw(st.lists(time_constant, min_size=size, max_size=size))
        biases = draw(
            st.lists(st.sampled_from([-0.3, 0.0, 0.2, 0.5]), min_size=size, max_size=size)
        )
        x0 = draw(st.lists(st.sampled_from([-0.4, 0.0, 0.1, 0.5]), min_size=size, max_size=size))
        return NodeType(
            index=index,
            count=count,
            population=draw(st.booleans()),
            taus=tuple(taus * count if same else taus),
            biases=tuple(biases * count if same else biases),
            x0=tuple(x0 * count if same else x0),
            nonlinearity=draw(st.sampled_from(["tanh", "sigmoid"])),
            second_state=draw(st.booleans()),
            algebraic_out=draw(st.booleans()),
            complex_state=complex_ok and draw(st.booleans()),
            self_delay=self_delay,
            self_delay_tau=DELAY_GRID * draw(st.integers(2, 8)) if self_delay != "none" else 0.0,
            extrinsic=draw(st.booleans()),
            noise=draw(st.sampled_from(NOISE_KINDS)) if noisy else "none",
        )

    @st.composite
    def projection(draw: Any, src: NodeType, tgt: NodeType, dde: bool) -> Projection:
        both_populations = src.population and tgt.population
        kinds = ["edges", "matrix", "sparse"] + (
            ["connectivity", "global"] if both_populations else []
        )
        coupling = draw(st.sampled_from(kinds))
        edge = "none" if coupling == "global" else draw(st.sampled_from(EDGE_KINDS))
        if coupling == "global":
            pairs: list[tuple[int, int]] = []
            weights = [draw(st.sampled_from([-1.0, 0.5, 1.0])) / src.count]
        else:
            every = [(r, c) for r in range(tgt.count) for c in range(src.count)]
            most = 6 if coupling == "edges" else len(every)
            chosen = draw(
                st.lists(
                    st.sampled_from(every),
                    min_size=1,
                    max_size=min(most, len(every)),
                    unique=coupling != "edges",
                )
            )
            pairs = sorted(chosen) if coupling != "edges" else chosen
            indegree = max(sum(1 for r, _ in pairs if r == row) for row, _ in pairs)
            weights = [draw(st.sampled_from([-1.0, -0.5, 0.5, 1.0, 1.5])) / indegree for _ in pairs]
        delays: list[float] = []
        order = 0
        delay_kind = draw(st.sampled_from(["none", "scalar", "per_edge"]))
        spread = draw(st.sampled_from(["none", "low", "high"]))
        if delay_kind == "none" and spread != "none":
            delay_kind = "scalar"  # a spread needs a delay
        if delay_kind == "per_edge" and coupling == "global":
            delay_kind = "scalar"
        if spread == "high" and (len(pairs) > 4 or coupling == "global"):
            spread = "low"  # keep the unvectorised reference small
        if spread == "none" and not dde:
            delay_kind = "none"
        # delays of at least 0.3 with a spread (0.4 with a high order), so the kernel's rate
        # order / delay stays at most 20 (100) and the fixed steps not too small
        lowest = {"none": 2, "low": 6, "high": 8}[spread]
        grid = st.integers(lowest, 12)
        if delay_kind == "scalar":
            delays = [DELAY_GRID * draw(grid)]
        elif delay_kind == "per_edge":
            delays = [DELAY_GRID * draw(grid) for _ in pairs]
        if delays and spread != "none":
            order = draw(st.integers(2, 6) if spread == "low" else st.integers(25, 40))
        return Projection(
            source=src.index,
            target=tgt.index,
            coupling=coupling,
            pairs=tuple(pairs),
            weights=tuple(weights),
            delays=tuple(delays),
            order=order,
            edge=edge,
        )

    return draw_model()


# --------------------------------------------------------------------------- running and checking


@dataclass(frozen=True)
class Run:
    """One way of running a model: a solver of the backend, vectorised or not."""

    solver: Any  # SolverInfo
    vectorize: bool
    order: int | None


def fixed_step(order: int | None, rate: float) -> tuple[float, float]:
    """(step, tolerance) for a fixed-step solver of ``order`` on a model whose fastest rate is
    ``rate``: the largest of :data:`STEPS` within the order's limits."""
    from rates_core.testing.checks import order_class

    largest, product, tol = FIXED_TOLERANCE[order_class(order)]
    for dt in STEPS:
        if dt <= largest * (1 + 1e-9) and dt * rate <= product:
            return dt, tol
    return STEPS[-1], tol


def reference(model: GeneratedModel, circuit: Any) -> Any:
    """The model run by rates-numpy, unvectorised, with SciPy's DOP853 at rtol 1e-10."""
    return run_model(
        circuit, model, ADAPTIVE_DT, SAMPLING, "numpy", "scipy", False, True, **REFERENCE_OPTIONS
    )


def runs_for(target: Any, model: GeneratedModel) -> list[Run]:
    """Every solver of ``target`` that can run ``model``, vectorised (where the backend
    declares ``vectorised``) and not: its SDE methods for a noisy model, else its other
    solvers (on a model without noise the SDE methods are their Euler / Heun steps, which the
    suite's SDE tests check)."""
    needs = model.needs()
    layouts = [True, False] if "vectorised" in target.capabilities else [False]
    out = []
    for solver in target.solvers:
        if ("sde" in solver.capabilities) != model.noisy or target.missing(needs, solver):
            continue
        for vectorize in layouts:
            out.append(Run(solver, vectorize, target.order(solver)))
    return out


def check_model(
    target: Any,
    model: GeneratedModel,
    options: Mapping[str, Mapping[str, Any]] | None = None,
) -> int:
    """Run ``model`` with every solver of ``target`` (vectorised and not) and compare it with the
    reference; raises AssertionError naming the run (the YAML of the model is added by
    :func:`run_generated`). Returns the number of runs."""
    from rates_core.testing.checks import ADAPTIVE_ATOL, ADAPTIVE_RTOL, solver_options

    circuit = model.circuit()
    if model.noisy:
        return check_noisy(target, model, circuit, options)
    want_frame = reference(model, circuit)
    scale = _scale(want_frame)
    runs = runs_for(target, model)
    if runs:
        default_outputs(target, circuit, model, runs[0])
    for run in runs:
        solver = run.solver
        if solver.adaptive:
            dt, tol = ADAPTIVE_DT, ADAPTIVE_TOLERANCE
        else:
            dt, tol = fixed_step(run.order, model.fastest_rate())
        what = (
            f"backend {target.backend!r}, solver {solver.name!r}, vectorize={run.vectorize}, "
            f"dt={dt:g}"
        )
        extra = solver_options(solver, options, ADAPTIVE_RTOL, ADAPTIVE_ATOL)
        frame = _attempt(
            what,
            run_model,
            circuit,
            model,
            dt,
            SAMPLING,
            target.backend,
            solver.name,
            run.vectorize,
            solver.adaptive,
            **extra,
        )
        _assert_matches(frame, want_frame, tol, what, scale)
    monitored = check_monitors(target, model, circuit, options)
    return len(runs) + check_grid(target, model, circuit, scale, options) + monitored


def _scale(frame: Any) -> float:
    """The magnitude errors are relative to: the largest of ``frame``'s values (at least 1e-2)."""
    return max(float(np.max(np.abs(frame.to_numpy()))), 1e-2)


def _attempt(what: str, run: Any, *args: Any, **kwargs: Any) -> Any:
    """``run(*args, **kwargs)``; an exception from it is an AssertionError naming ``what``."""
    try:
        return run(*args, **kwargs)
    except Exception as exc:
        raise AssertionError(f"{what}: {type(exc).__name__}: {exc}") from exc


def _assert_matches(frame: Any, want_frame: Any, tol: float, what: str, scale: float) -> None:
    """``frame`` agrees with ``want_frame`` (same columns) to ``tol`` relative to ``scale``."""
    from rates_core.testing.checks import assert_close

    names = list(want_frame.columns)
    assert_close(
        frame[names].to_numpy(),
        want_frame.to_numpy(),
        tol,
        what,
        times=want_frame.index.to_numpy(),
        names=names,
        scale=scale,
    )


def run_model(
    circuit: Any,
    model: GeneratedModel,
    dt: float,
    sampling: float,
    backend: str,
    solver: str,
    vectorize: bool,
    adaptive: bool = False,
    **extra: Any,
) -> Any:
    """A run of ``model``'s outputs over ``T_END`` with its staircase inputs (their rows for
    an ``adaptive`` solver, see :meth:`GeneratedModel.inputs`)."""
    return circuit.run(
        T_END,
        dt,
        outputs=model.outputs(),
        inputs=model.inputs(dt, adaptive=adaptive) or None,
        sampling_step_size=sampling,
        solver=solver,
        backend=backend,
        vectorize=vectorize,
        **extra,
    )


def wiener_increments(circuit: Any, n_steps: int, dt: float) -> dict[bool, np.ndarray]:
    """The Wiener increments of a noisy model's runs, vectorised (True) or not (False): one
    stream per noise source from :data:`NOISE_SEED`, its column placed by the source's path
    (:func:`rates_core.noise.noise_sources`), so both layouts integrate the same paths."""
    from rates_core import build_system
    from rates_core.noise import noise_sources

    layouts = {v: noise_sources(build_system(circuit, vectorize=v)) for v in (False, True)}
    paths = layouts[False]
    if sorted(layouts[True]) != sorted(paths):
        raise AssertionError(
            f"the noise sources of the vectorised model {layouts[True]} are not those of the "
            f"unvectorised one {paths}"
        )
    draws = np.random.default_rng(NOISE_SEED).standard_normal((n_steps, len(paths)))
    draws *= math.sqrt(dt)
    column = {path: k for k, path in enumerate(paths)}
    return {v: draws[:, [column[p] for p in sources]] for v, sources in layouts.items()}


def check_noisy(
    target: Any,
    model: GeneratedModel,
    circuit: Any,
    options: Mapping[str, Mapping[str, Any]] | None = None,
) -> int:
    """Run a noisy ``model`` with every SDE method of ``target`` (vectorised and not), all
    given the same Wiener increments (:func:`wiener_increments`), and compare each with
    rates-numpy, unvectorised, same method and step, to :data:`SDE_TOLERANCE` relative to
    the largest value; the number of runs."""
    from rates_core.testing.checks import ADAPTIVE_ATOL, ADAPTIVE_RTOL, solver_options

    runs = runs_for(target, model)
    if not runs:
        return 0
    default_outputs(target, circuit, model, runs[0])
    dt = fixed_step(2, model.fastest_rate())[0]
    increments = wiener_increments(circuit, round(T_END / dt), dt)

    def simulate(backend: str, solver: str, vectorize: bool, **extra: Any) -> Any:
        dw = increments[vectorize]
        return run_model(
            circuit, model, dt, SAMPLING, backend, solver, vectorize, wiener_increments=dw, **extra
        )

    wanted: dict[str, Any] = {}
    for run in runs:
        method = run.solver.method
        if method not in wanted:
            wanted[method] = simulate("numpy", method, False)
        what = (
            f"backend {target.backend!r}, solver {run.solver.name!r}, "
            f"vectorize={run.vectorize}, dt={dt:g}, given Wiener increments (against "
            "rates-numpy)"
        )
        extra = solver_options(run.solver, options, ADAPTIVE_RTOL, ADAPTIVE_ATOL)
        frame = _attempt(what, simulate, target.backend, run.solver.name, run.vectorize, **extra)
        want_frame = wanted[method]
        _assert_matches(frame, want_frame, SDE_TOLERANCE, what, _scale(want_frame))
    return len(runs) + check_monitors(target, model, circuit, options)


def monitor_run(target: Any, model: GeneratedModel) -> Run | None:
    """The run of :func:`check_monitors`: the fixed-step solver of highest order (an SDE
    method for a noisy model), vectorised where the backend can; None without one."""
    runs = [r for r in runs_for(target, model) if not r.solver.adaptive]
    return max(runs, key=lambda r: (r.order or 0, r.vectorize)) if runs else None


def check_monitors(
    target: Any,
    model: GeneratedModel,
    circuit: Any,
    options: Mapping[str, Mapping[str, Any]] | None = None,
) -> int:
    """Run ``model`` once more with ``run(monitors=...)`` (:func:`monitor_run`), cut into
    about four windows (without delays) or sample blocks (with delays: one pass whose samples
    the solver streams, or returns whole): a ``Subsample`` at the sampling step must give the
    plain run's samples, same solver, step and (noisy) increments, to
    :data:`MONITOR_TOLERANCE`. The number of runs (0 or 1)."""
    from rates_core import build_system
    from rates_core.monitors import Subsample
    from rates_core.testing.checks import ADAPTIVE_ATOL, ADAPTIVE_RTOL, solver_options

    run = monitor_run(target, model)
    if run is None:
        return 0
    order = 2 if model.noisy else run.order
    dt = fixed_step(order, model.fastest_rate())[0]
    n_steps = round(T_END / dt)
    extra = solver_options(run.solver, options, ADAPTIVE_RTOL, ADAPTIVE_ATOL)
    if model.noisy:
        extra["wiener_increments"] = wiener_increments(circuit, n_steps, dt)[run.vectorize]
    plain = run_model(
        circuit, model, dt, SAMPLING, target.backend, run.solver.name, run.vectorize, **extra
    )
    what = (
        f"backend {target.backend!r}, solver {run.solver.name!r}, vectorize={run.vectorize}, "
        f"dt={dt:g}, monitors={{Subsample}} (against the plain run)"
    )
    row_bytes = 8 * build_system(circuit).n_states  # float64: twice that for complex states
    with _small_blocks(row_bytes * max(1, n_steps // 4)):
        frames = _attempt(
            what,
            circuit.run,
            T_END,
            dt,
            inputs=model.inputs(dt, adaptive=False) or None,
            solver=run.solver.name,
            backend=target.backend,
            vectorize=run.vectorize,
            monitors={"sub": Subsample(model.outputs(), period=SAMPLING)},
            **extra,
        )
    _assert_matches(frames["sub"], plain, MONITOR_TOLERANCE, what, _scale(plain))
    return 1


@contextlib.contextmanager
def _small_blocks(size: int) -> Iterator[None]:
    """Monitored runs in windows (``rates_core.monitors.CHUNK_BYTES``) and streamed sample
    blocks (``rates_core.backend.SINK_BYTES``) of about ``size`` bytes, while in the block."""
    from rates_core import backend, monitors

    saved = monitors.CHUNK_BYTES, backend.SINK_BYTES
    monitors.CHUNK_BYTES = backend.SINK_BYTES = size
    try:
        yield
    finally:
        monitors.CHUNK_BYTES, backend.SINK_BYTES = saved


def grid_run(target: Any, model: GeneratedModel) -> Run | None:
    """The one ``delays="grid"`` run of a model with delays: the fixed-step solver of highest
    order that declares ``grid_delays`` (and whose method rates-numpy has), vectorised where
    the backend can; None without delays or without such a solver."""
    needs = model.needs()
    if "dde" not in needs:
        return None
    candidates = [
        s
        for s in target.fixed
        if "sde" not in s.capabilities
        and s.method in GRID_METHODS
        and not target.missing(needs | {"grid_delays"}, s)
    ]
    if not candidates:
        return None
    solver = max(candidates, key=lambda s: target.order(s) or 0)
    return Run(solver, "vectorised" in target.capabilities, target.order(solver))


def check_grid(
    target: Any,
    model: GeneratedModel,
    circuit: Any,
    scale: float,
    options: Mapping[str, Mapping[str, Any]] | None = None,
) -> int:
    """Run ``model`` under ``delays="grid"`` (:func:`grid_run`) and compare it with
    rates-numpy, unvectorised, same method, step and convention, to :data:`GRID_TOLERANCE`
    relative to ``scale``; the number of runs (0 or 1)."""
    from rates_core.testing.checks import ADAPTIVE_ATOL, ADAPTIVE_RTOL, solver_options

    run = grid_run(target, model)
    if run is None:
        return 0
    dt = GRID_STEP_FACTOR * fixed_step(run.order, model.fastest_rate())[0]
    sampling = dt * max(1, round(SAMPLING / dt))

    def simulate(backend: str, solver: str, vectorize: bool, **extra: Any) -> Any:
        return run_model(
            circuit, model, dt, sampling, backend, solver, vectorize, delays="grid", **extra
        )

    want_frame = simulate("numpy", run.solver.method, False)
    what = (
        f"backend {target.backend!r}, solver {run.solver.name!r}, vectorize={run.vectorize}, "
        f"dt={dt:g}, delays='grid' (against rates-numpy)"
    )
    extra = solver_options(run.solver, options, ADAPTIVE_RTOL, ADAPTIVE_ATOL)
    frame = _attempt(what, simulate, target.backend, run.solver.name, run.vectorize, **extra)
    _assert_matches(frame, want_frame, GRID_TOLERANCE, what, scale)
    return 1


def default_outputs(target: Any, circuit: Any, model: GeneratedModel, run: Run) -> None:
    """A short run with ``outputs=None`` (the default: every variable it records) works."""
    try:
        circuit.run(
            2 * SAMPLING,
            SAMPLING / 10,
            solver=run.solver.name,
            backend=target.backend,
            vectorize=run.vectorize,
        )
    except Exception as exc:
        raise AssertionError(
            f"backend {target.backend!r}, solver {run.solver.name!r}, vectorize={run.vectorize}, "
            f"outputs=None: {type(exc).__name__}: {exc}"
        ) from exc


def run_generated(
    target: Any,
    examples: int,
    seed: int,
    options: Mapping[str, Mapping[str, Any]] | None = None,
    report: Any = None,
) -> None:
    """Check ``examples`` generated models (Hypothesis, seeded with ``seed``, no example
    database) on ``target``; a failure is shrunk and reported with the model as YAML."""
    from hypothesis import HealthCheck, Phase, given, note, settings
    from hypothesis import seed as with_seed

    capabilities = set(target.capabilities)
    for solver in target.solvers:
        capabilities |= solver.capabilities

    @with_seed(seed)
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=False,
        phases=(Phase.explicit, Phase.generate, Phase.shrink),
        suppress_health_check=list(HealthCheck),
        print_blob=False,
    )
    @given(models(capabilities))
    def check(model: GeneratedModel) -> None:
        try:
            check_model(target, model, options)
        except BaseException:
            note(f"the model as YAML:\n{model.to_yaml()}")
            raise

    check()


def describe(model: GeneratedModel) -> Iterable[str]:
    """Short lines describing ``model`` (for logs)."""
    for t in model.types:
        yield (
            f"type {t.index}: {t.count} {'units' if t.population else 'nodes'}, "
            f"delay={t.self_delay}, complex={t.complex_state}, input={t.extrinsic}"
        )
    for p in model.projections:
        yield (
            f"{p.source}->{p.target} {p.coupling} x{len(p.pairs) or 'all'} delays={p.delays} "
            f"order={p.order} edge={p.edge}"
        )
