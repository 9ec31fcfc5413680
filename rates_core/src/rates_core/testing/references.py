"""Reference problems of the conformance suite: models built with the public template API and
their answers computed without rates (closed forms, or plain NumPy/SciPy integrations of the same
equations written by hand).

Every circuit here has one node ``n`` with one operator ``op`` unless said otherwise, so the path
of a variable ``x`` is ``n/op/x``.
"""

from __future__ import annotations

import functools
import math
import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypedDict

import numpy as np
from numpy.typing import ArrayLike

from rates_core.frontend.templates import (
    CircuitTemplate,
    EdgeTemplate,
    NodeTemplate,
    OperatorTemplate,
)

__all__ = [
    "FUNCTION_CASES",
    "FunctionCase",
    "jansen_rit_reference",
    "one_node",
]


def one_node(name: str, equations: Sequence[str], variables: Mapping[str, Any]) -> CircuitTemplate:
    """A circuit with one node ``n`` holding one operator ``op``."""
    op = OperatorTemplate(name="op", equations=list(equations), variables=dict(variables))
    return CircuitTemplate(name=name, nodes={"n": NodeTemplate(name="node", operators=[op])})


def _ivp(rhs: Callable, y0: ArrayLike, times: np.ndarray, rtol: float = 1e-12) -> np.ndarray:
    """``rhs`` integrated by SciPy's DOP853 at ``times`` (rows), tight tolerances."""
    from scipy.integrate import solve_ivp

    times = np.asarray(times, dtype=float)
    sol = solve_ivp(
        rhs,
        (0.0, float(times[-1])),
        np.asarray(y0, dtype=float),
        method="DOP853",
        t_eval=times,
        rtol=rtol,
        atol=1e-12 * max(1.0, float(np.max(np.abs(y0)))),
    )
    if not sol.success:  # pragma: no cover - the references are well-posed
        raise RuntimeError(f"reference integration failed: {sol.message}")
    return sol.y.T


# --------------------------------------------------------------------------- ODE references

DECAY = {"k": 1.3, "x0": 1.5, "T": 2.0}


def decay_circuit() -> CircuitTemplate:
    return one_node("decay", ["x' = -k*x"], {"x": f"output({DECAY['x0']})", "k": DECAY["k"]})


def blow_up_circuit() -> CircuitTemplate:
    """x' = x^2 from x0 = 1: x = 1 / (1 - t) is infinite at t = 1 (every fixed-step method
    overflows soon after)."""
    return one_node("blow_up", ["x' = x*x"], {"x": "output(1.0)"})


def nonfinite_field_circuit() -> CircuitTemplate:
    """x' = (x^2 - 1) / (x - 1) from x0 = 1: 0 / 0, a NaN derivative at the start."""
    return one_node("nonfinite_field", ["x' = (x*x - 1.0)/(x - 1.0)"], {"x": "output(1.0)"})


def decay_exact(t: np.ndarray) -> np.ndarray:
    return DECAY["x0"] * np.exp(-DECAY["k"] * np.asarray(t))


#: Names the name grammar allows that collide with keywords, builtins or the generated code's own
#: names in some target language (Python, Julia, Fortran, MATLAB/Octave, C), and the longest
#: allowed name. They name parameters of value 0 in :func:`hostile_names_circuit`.
HOSTILE_NAMES = (
    "end", "function", "self", "begin", "program", "subroutine", "contains", "implicit",
    "integer", "double", "let", "do", "local", "quote", "using", "struct", "type", "mutable",
    "elseif", "nothing", "Main", "Base", "Core", "Inf", "NaN", "nan", "inf", "i", "j", "e",
    "ans", "disp", "zeros", "size", "length", "sum", "isa", "math", "numpy", "torch", "np",
    "y0", "params", "p", "h", "J", "N_STATES_", "DTYPE_", "rng_", "dy_", "out_", "t0_",
    "L" * 128,
)  # fmt: skip
#: The hostile-names model: x(t) of node ``end`` and ``begin`` (exact solution below).
HOSTILE = {"rate": 0.5, "weight": 0.25, "T": 2.0}
#: The longest name the grammar allows, for the circuit, its node template and operator.
LONGEST_NAME = "module_" + "n" * 121


def hostile_names_circuit() -> CircuitTemplate:
    """Two nodes ``end`` -> ``begin`` of a node ``function`` with an operator ``__init__``:
    ``module' = -(program + <every HOSTILE_NAMES parameter, 0>) + begin`` with the algebraic
    ``program = self * module`` (self = 0.5) and the edge ``end -> begin`` of weight 0.25. Every
    name is one the grammar allows, the circuit's the longest.
    """
    names = [n for n in HOSTILE_NAMES if n not in ("self", "begin", "program")]
    variables: dict[str, Any] = {
        "module": "output(1.0)",
        "begin": "input(0.0)",
        "self": HOSTILE["rate"],
        "program": "variable(0.0)",
    }
    variables.update({n: 0.0 for n in names})
    equations = [
        "program = self*module",
        f"module' = -program - ({' + '.join(names)})*module + begin",
    ]
    op = OperatorTemplate(name="__init__", equations=equations, variables=variables)
    node = NodeTemplate(name="function", operators=[op])
    return CircuitTemplate(
        name=LONGEST_NAME,
        nodes={"end": node, "begin": node},
        edges=[
            ("end/__init__/module", "begin/__init__/begin", None, {"weight": HOSTILE["weight"]})
        ],
    )


def hostile_names_exact(t: np.ndarray) -> np.ndarray:
    """Columns ``end/__init__/module`` = exp(-r t) and ``begin/__init__/module`` =
    (1 + w t) exp(-r t)."""
    t = np.asarray(t, dtype=float)
    decay = np.exp(-HOSTILE["rate"] * t)
    return np.stack([decay, (1.0 + HOSTILE["weight"] * t) * decay], axis=-1)


#: A file that the commands in :data:`SMUGGLED_NAME` would create (absolute: an external
#: runtime such as Octave may work in another directory; one per process).
SMUGGLED_MARKER = os.path.join(tempfile.gettempdir(), f"rates_conformance_pwned_{os.getpid()}")
#: A circuit name the grammar rejects: it closes Python / Julia docstrings and string literals,
#: starts new lines of Python, MATLAB, Fortran and Julia code, and interpolates in Julia.
SMUGGLED_NAME = "\n".join(
    [
        f'x"""+str(__import__("os").system("touch {SMUGGLED_MARKER}"))+"""',
        f"import os; os.system('touch {SMUGGLED_MARKER}')",
        f"system('touch {SMUGGLED_MARKER}')",
        f"call execute_command_line('touch {SMUGGLED_MARKER}')",
        '"""',
        f"$(run(`touch {SMUGGLED_MARKER}`))",
        '"""',
        "%}",
        f"system('touch {SMUGGLED_MARKER}'); x = '\"; ('",
        "%{",
    ]
)
#: How each line of SMUGGLED_NAME starts: none of these may start a line of generated code.
SMUGGLED_HEADS = ("import os", "system(", "call execute_command_line", "$(run", "%}", "%{")


def smuggled_name_circuit() -> CircuitTemplate:
    """:func:`decay_circuit` renamed :data:`SMUGGLED_NAME` after the name grammar checked it
    (as a template built by code that bypasses the checks would be): the backends' escaping
    is all that keeps the name text."""
    circuit = decay_circuit()
    object.__setattr__(circuit, "name", SMUGGLED_NAME)
    return circuit


HARMONIC = {"omega": 2.0, "x0": 1.0, "v0": 0.5, "T": math.pi}


def harmonic_circuit() -> CircuitTemplate:
    h = HARMONIC
    return one_node(
        "harmonic",
        ["x' = v", "v' = -omega^2*x"],
        {"x": f"output({h['x0']})", "v": f"variable({h['v0']})", "omega": h["omega"]},
    )


def harmonic_exact(t: np.ndarray) -> np.ndarray:
    h, t = HARMONIC, np.asarray(t)
    w = h["omega"]
    x = h["x0"] * np.cos(w * t) + h["v0"] / w * np.sin(w * t)
    v = -h["x0"] * w * np.sin(w * t) + h["v0"] * np.cos(w * t)
    return np.column_stack([x, v])


LOGISTIC = {"r": 2.0, "K": 3.0, "x0": 0.1, "T": 5.0}


def logistic_circuit() -> CircuitTemplate:
    g = LOGISTIC
    return one_node(
        "logistic", ["x' = r*x*(1 - x/K)"], {"x": f"output({g['x0']})", "r": g["r"], "K": g["K"]}
    )


def logistic_exact(t: np.ndarray) -> np.ndarray:
    g = LOGISTIC
    return g["K"] / (1.0 + (g["K"] / g["x0"] - 1.0) * np.exp(-g["r"] * np.asarray(t)))


VAN_DER_POL = {"mu": 1.0, "x0": 2.0, "v0": 0.0, "T": 5.0}


def van_der_pol_circuit() -> CircuitTemplate:
    p = VAN_DER_POL
    return one_node(
        "van_der_pol",
        ["x' = v", "v' = mu*(1 - x^2)*v - x"],
        {"x": f"output({p['x0']})", "v": f"variable({p['v0']})", "mu": p["mu"]},
    )


@functools.lru_cache(maxsize=8)
def _van_der_pol_cached(times: tuple[float, ...]) -> np.ndarray:
    mu = VAN_DER_POL["mu"]

    def rhs(t: float, y: np.ndarray) -> list[float]:
        return [y[1], mu * (1.0 - y[0] ** 2) * y[1] - y[0]]

    return _ivp(rhs, [VAN_DER_POL["x0"], VAN_DER_POL["v0"]], np.array(times))


def van_der_pol_reference(t: np.ndarray) -> np.ndarray:
    """(x, v) by SciPy DOP853 with rtol 1e-12."""
    return _van_der_pol_cached(tuple(float(v) for v in t))


class _Lorenz(TypedDict):
    sigma: float
    rho: float
    beta: float
    y0: tuple[float, float, float]
    T: float


LORENZ: _Lorenz = {"sigma": 10.0, "rho": 28.0, "beta": 8.0 / 3.0, "y0": (1.0, 1.0, 1.0), "T": 0.5}


def lorenz_circuit() -> CircuitTemplate:
    p = LORENZ
    x0, y0, z0 = p["y0"]
    return one_node(
        "lorenz",
        ["x' = sigma*(yv - x)", "yv' = x*(rho - z) - yv", "z' = x*yv - beta*z"],
        {
            "x": f"output({x0})",
            "yv": f"variable({y0})",
            "z": f"variable({z0})",
            "sigma": p["sigma"],
            "rho": p["rho"],
            "beta": p["beta"],
        },
    )


@functools.lru_cache(maxsize=8)
def _lorenz_cached(times: tuple[float, ...]) -> np.ndarray:
    s, r, b = LORENZ["sigma"], LORENZ["rho"], LORENZ["beta"]

    def rhs(t: float, y: np.ndarray) -> list[float]:
        return [s * (y[1] - y[0]), y[0] * (r - y[2]) - y[1], y[0] * y[1] - b * y[2]]

    return _ivp(rhs, LORENZ["y0"], np.array(times))


def lorenz_reference(t: np.ndarray) -> np.ndarray:
    """(x, y, z) by SciPy DOP853 with rtol 1e-12."""
    return _lorenz_cached(tuple(float(v) for v in t))


#: Paths of the eight Jansen-Rit states, in the order of :func:`jansen_rit_rhs`.
JANSEN_RIT_PATHS = (
    "pc/syn_exc_ext/v",
    "pc/syn_exc_ext/x",
    "pc/syn_inh/v",
    "pc/syn_inh/x",
    "ein/syn_exc/v",
    "ein/syn_exc/x",
    "iin/syn_exc/v",
    "iin/syn_exc/x",
)
JANSEN_RIT_T = 0.2


def jansen_rit_circuit() -> CircuitTemplate:
    """``rates_core.models.jansenrit.JRC`` (the YAML model shipped with rates-core)."""
    return CircuitTemplate.from_yaml("rates_core.models.jansenrit.JRC")


def jansen_rit_rhs(t: float, y: np.ndarray) -> np.ndarray:
    """The JRC equations written by hand (Jansen & Rit 1995, the constants of jansenrit.yaml)."""
    he, te, hi, ti = 3.25e-3, 10e-3, -22e-3, 20e-3
    u = 220.0

    def rate(v: float) -> float:
        return 5.0 / (1.0 + math.exp(560.0 * (6e-3 - v)))

    pe_v, pe_x, pi_v, pi_x, e_v, e_x, i_v, i_x = y
    m_pc, m_e, m_i = rate(pe_v + pi_v), rate(e_v), rate(i_v)

    def synapse(v: float, x: float, h: float, tau: float, m_in: float) -> tuple[float, float]:
        return x, h * m_in / tau - 2.0 * x / tau - v / tau**2

    return np.array(
        [
            *synapse(pe_v, pe_x, he, te, 108.0 * m_e + u),
            *synapse(pi_v, pi_x, hi, ti, 33.75 * m_i),
            *synapse(e_v, e_x, he, te, 135.0 * m_pc),
            *synapse(i_v, i_x, he, te, 33.75 * m_pc),
        ]
    )


@functools.lru_cache(maxsize=8)
def _jansen_rit_cached(times: tuple[float, ...]) -> np.ndarray:
    return _ivp(jansen_rit_rhs, np.zeros(8), np.array(times))


def jansen_rit_reference(t: np.ndarray) -> np.ndarray:
    """The eight states (order of :data:`JANSEN_RIT_PATHS`) by SciPy DOP853 with rtol 1e-12."""
    return _jansen_rit_cached(tuple(float(v) for v in t))


class _StuartLandau(TypedDict):
    mu: float
    omega: float
    z0: complex
    T: float


STUART_LANDAU: _StuartLandau = {"mu": 2.25, "omega": 3.0, "z0": 0.1 + 0.05j, "T": 4.0}


def stuart_landau_circuit() -> CircuitTemplate:
    p = STUART_LANDAU
    return one_node(
        "stuart_landau",
        ["z' = (mu + I*omega)*z - abs(z)^2*z"],
        {
            "z": {"vtype": "output", "dtype": "complex", "value": p["z0"]},
            "mu": p["mu"],
            "omega": p["omega"],
        },
    )


def stuart_landau_exact(t: np.ndarray) -> np.ndarray:
    """r' = mu r - r^3 and theta' = omega: r(t) = sqrt(mu) / sqrt(1 + (mu/r0^2 - 1) e^(-2 mu t))."""
    p, t = STUART_LANDAU, np.asarray(t)
    mu, z0 = p["mu"], p["z0"]
    r0 = abs(z0)
    r = math.sqrt(mu) / np.sqrt(1.0 + (mu / r0**2 - 1.0) * np.exp(-2.0 * mu * t))
    return r * np.exp(1j * (np.angle(z0) + p["omega"] * t))


#: x' = x*cos(t): x = x0*exp(sin(t)); non-autonomous, so wrong stage times show up in the order.
CONVERGENCE = {"x0": 0.8, "T": 2.0}


def convergence_circuit() -> CircuitTemplate:
    return one_node("convergence", ["x' = x*cos(t)"], {"x": f"output({CONVERGENCE['x0']})"})


def convergence_exact(t: np.ndarray) -> np.ndarray:
    return CONVERGENCE["x0"] * np.exp(np.sin(np.asarray(t)))


def explicit_rk_factor(z: float, order: int) -> float:
    """One step of an explicit Runge-Kutta method with ``order`` stages (order <= 4) on x' = a x,
    z = a*dt: the truncated exponential series ``sum_{j <= order} z^j / j!``."""
    return sum(z**j / math.factorial(j) for j in range(order + 1))


# --------------------------------------------------------------------------- inputs


def leaky_integrator_circuit(tau: float = 0.5) -> CircuitTemplate:
    """x' = -x/tau + u with the extrinsic input u."""
    return one_node("leaky", ["x' = -x/tau + u"], {"x": "output(0.0)", "tau": tau, "u": "input"})


def step_response(t: np.ndarray, t1: float, tau: float = 0.5) -> np.ndarray:
    """x of :func:`leaky_integrator_circuit` for u = 1 from t1 on (0 before)."""
    t = np.asarray(t)
    return np.where(t < t1, 0.0, tau * (1.0 - np.exp(-(t - t1) / tau)))


def integrator_network(n: int) -> CircuitTemplate:
    """``n`` nodes ``p0 ..`` with x' = u each (u an extrinsic input)."""
    op = OperatorTemplate(
        name="op", equations=["x' = u"], variables={"x": "output(0.0)", "u": "input"}
    )
    node = NodeTemplate(name="integrator", operators=[op])
    return CircuitTemplate(name=f"integrators{n}", nodes={f"p{i}": node for i in range(n)})


# --------------------------------------------------------------------------- networks


def rate_node(eta: float) -> NodeTemplate:
    """r' = (-r + sigmoid(r_in - a + eta))/tau, a' = (r - a)/tau_a (a rate unit with adaptation)."""
    op = OperatorTemplate(
        name="op",
        equations=["r' = (-r + 1/(1 + exp(-(r_in - a + eta))))/tau", "a' = (r - a)/tau_a"],
        variables={
            "r": "output(0.1)",
            "a": "variable(0.05)",
            "eta": eta,
            "tau": 0.1,
            "tau_a": 0.4,
            "r_in": "input(0.0)",
        },
    )
    return NodeTemplate(name="rate", operators=[op])


def rate_network_nodes(n: int, seed: int = 1) -> tuple[list[str], np.ndarray, CircuitTemplate]:
    """(labels, eta per node, circuit without edges) of ``n`` heterogeneous rate nodes."""
    rng = np.random.default_rng(seed)
    etas = rng.uniform(-1.0, 1.0, n).round(6)
    labels = [f"p{i}" for i in range(n)]
    circuit = CircuitTemplate(
        name=f"rates{n}", nodes={lb: rate_node(float(e)) for lb, e in zip(labels, etas)}
    )
    return labels, etas, circuit


def rate_network_field(y: np.ndarray, etas: np.ndarray, r_in: np.ndarray, n: int) -> np.ndarray:
    """The field of :func:`rate_node` units; ``y`` holds all r then all a."""
    r, a = y[:n], y[n:]
    dr = (-r + 1.0 / (1.0 + np.exp(-(r_in - a + etas)))) / 0.1
    da = (r - a) / 0.4
    return np.concatenate([dr, da])


def linear_node() -> NodeTemplate:
    op = OperatorTemplate(
        name="op",
        equations=["x' = -x/tau + u"],
        variables={"x": "output(0.0)", "tau": 0.5, "u": "input(0.0)"},
    )
    return NodeTemplate(name="linear", operators=[op])


#: (source, target, weight) of :func:`summed_edges_circuit`; a -> c twice (summed), b -> c once.
SUMMED_EDGES = (
    ("a", "c", 0.5),
    ("a", "c", 0.7),
    ("b", "c", -1.5),
    ("a", "b", 2.0),
    ("c", "a", 0.25),
)


def summed_edges_circuit() -> CircuitTemplate:
    """Three linear nodes x' = -x/tau + u; the edges of :data:`SUMMED_EDGES` into u."""
    node = linear_node()
    nodes = {"a": node, "b": node, "c": node}
    circuit = CircuitTemplate(name="summed", nodes=nodes)
    x0 = {"a": 1.0, "b": -0.5, "c": 0.25}
    circuit = circuit.update_var(node_vars={f"{k}/op/x": v for k, v in x0.items()})
    edges = [[f"{s}/op/x", f"{t}/op/u", None, {"weight": w}] for s, t, w in SUMMED_EDGES]
    return circuit.add_edges(edges)


def summed_edges_matrix() -> tuple[np.ndarray, np.ndarray]:
    """(A, x0) with x' = A x for the states (a, b, c) of :func:`summed_edges_circuit`."""
    order = {"a": 0, "b": 1, "c": 2}
    a = -np.eye(3) / 0.5
    for s, t, w in SUMMED_EDGES:
        a[order[t], order[s]] += w
    return a, np.array([1.0, -0.5, 0.25])


def edge_template() -> EdgeTemplate:
    """A low-pass edge: s' = (v - s)/tau_e, s the output fed to the target."""
    op = OperatorTemplate(
        name="lp",
        equations=["s' = (v - s)/tau_e"],
        variables={"s": "output(0.0)", "v": "input(0.0)", "tau_e": 0.5},
    )
    return EdgeTemplate(name="lowpass", operators={"lp": op})


def edge_template_circuit() -> CircuitTemplate:
    """Source x' = -x (x0 = 1) -> low-pass edge (tau_e = 0.25 set on the edge, weight 2) ->
    target w' = u - w."""
    src = OperatorTemplate(name="op", equations=["x' = -x"], variables={"x": "output(1.0)"})
    tgt = OperatorTemplate(
        name="op", equations=["w' = u - w"], variables={"w": "output(0.0)", "u": "input(0.0)"}
    )
    circuit = CircuitTemplate(
        name="edge_template",
        nodes={
            "src": NodeTemplate(name="source", operators=[src]),
            "tgt": NodeTemplate(name="target", operators=[tgt]),
        },
    )
    return circuit.add_edges(
        [["src/op/x", "tgt/op/u", edge_template(), {"weight": 2.0, "lp/tau_e": 0.25}]]
    )


@functools.lru_cache(maxsize=8)
def _edge_template_cached(times: tuple[float, ...]) -> np.ndarray:
    def rhs(t: float, y: np.ndarray) -> list[float]:
        x, s, w = y
        return [-x, (x - s) / 0.25, 2.0 * s - w]

    return _ivp(rhs, [1.0, 0.0, 0.0], np.array(times))


def edge_template_reference(t: np.ndarray) -> np.ndarray:
    """(x, w) of :func:`edge_template_circuit`, by DOP853 on the hand-written 3-state system."""
    return _edge_template_cached(tuple(float(v) for v in t))[:, [0, 2]]


# --------------------------------------------------------------------------- delays


def delay_circuit() -> CircuitTemplate:
    """x' = -x(t - 1), x = 1 before t = 0."""
    return one_node("delayed_decay", ["x' = -x(t-1.0)"], {"x": "output(1.0)"})


def delay_exact(t: np.ndarray) -> np.ndarray:
    """The method-of-steps solution of x' = -x(t-1), x = 1 on [-1, 0]:
    x(t) = sum_{k=0}^{floor(t)+1} (-1)^k (t - k + 1)^k / k!."""
    out = []
    for tt in np.asarray(t, dtype=float):
        n = int(math.floor(tt)) + 1
        out.append(sum((-1) ** k * (tt - k + 1) ** k / math.factorial(k) for k in range(n + 1)))
    return np.array(out)


def two_nodes(src_eqs: Sequence[str], src_vars: Mapping, tgt_eqs: Sequence[str], tgt_vars: Mapping):
    src = OperatorTemplate(name="op", equations=list(src_eqs), variables=dict(src_vars))
    tgt = OperatorTemplate(name="op", equations=list(tgt_eqs), variables=dict(tgt_vars))
    return CircuitTemplate(
        name="pair",
        nodes={
            "a": NodeTemplate(name="source", operators=[src]),
            "b": NodeTemplate(name="target", operators=[tgt]),
        },
    )


DELAY_EDGE = {"delay": 0.5, "weight": 2.0, "T": 3.0}


def delay_edge_circuit() -> CircuitTemplate:
    """Source a' = cos(t) (a = sin t, 0 before t = 0) -> edge with delay 0.5, weight 2 ->
    target b' = u."""
    c = two_nodes(
        ["a' = cos(t)"], {"a": "output(0.0)"}, ["b' = u"], {"b": "output(0.0)", "u": "input(0.0)"}
    )
    d = DELAY_EDGE
    return c.add_edges([["a/op/a", "b/op/u", None, {"weight": d["weight"], "delay": d["delay"]}]])


def delay_edge_exact(t: np.ndarray) -> np.ndarray:
    """b = 2 (1 - cos(t - 0.5)) from t = 0.5 on, 0 before."""
    d, t = DELAY_EDGE, np.asarray(t)
    return np.where(t < d["delay"], 0.0, d["weight"] * (1.0 - np.cos(t - d["delay"])))


def delay_algebraic_circuit() -> CircuitTemplate:
    """As :func:`delay_edge_circuit`, but the edge carries the algebraic ``s = a*a`` (``sin^2``
    of t): a backend declaring ``dde_algebraic`` keeps ``s`` in its history, the others rebuild
    it from the delayed ``a``."""
    c = two_nodes(
        ["a' = cos(t)", "s = a*a"],
        {"a": "output(0.0)", "s": "variable(0.0)"},
        ["b' = u"],
        {"b": "output(0.0)", "u": "input(0.0)"},
    )
    d = DELAY_EDGE
    return c.add_edges([["a/op/s", "b/op/u", None, {"weight": d["weight"], "delay": d["delay"]}]])


def delay_algebraic_exact(t: np.ndarray) -> np.ndarray:
    """b = 2 int_0^x sin^2 = x - sin(2x)/2 with x = t - 0.5, from t = 0.5 on, 0 before."""
    d, t = DELAY_EDGE, np.asarray(t)
    x = np.maximum(t - d["delay"], 0.0)
    return d["weight"] * 0.5 * (x - 0.5 * np.sin(2.0 * x))


#: A smooth pre-history: a = sin(omega t) before 0 too (a' = omega cos(omega t) from a(0) = 0).
#: The delay is no multiple of the steps, so reads fall between the points of any step grid.
SMOOTH_HISTORY = {"omega": 3.0, "delay": 0.4637, "weight": 2.0, "T": 1.5}


def smooth_history_circuit() -> CircuitTemplate:
    """Source a' = omega cos(omega t) -> edge with delay 0.4637, weight 2 -> target b' = u; run
    with ``history=smooth_history()`` so that a = sin(omega t) at every time."""
    d = SMOOTH_HISTORY
    c = two_nodes(
        ["a' = omega*cos(omega*t)"],
        {"a": "output(0.0)", "omega": d["omega"]},
        ["b' = u"],
        {"b": "output(0.0)", "u": "input(0.0)"},
    )
    return c.add_edges([["a/op/a", "b/op/u", None, {"weight": d["weight"], "delay": d["delay"]}]])


def smooth_history() -> dict[str, Callable[[float], float]]:
    """The ``history=`` of :func:`smooth_history_circuit`: a = sin(omega t) for t < 0."""
    omega = SMOOTH_HISTORY["omega"]
    return {"a/op/a": lambda t: math.sin(omega * t)}


def smooth_history_exact(t: np.ndarray) -> np.ndarray:
    """b = w / omega (cos(omega tau) - cos(omega (t - tau))) (u = w sin(omega (t - tau)))."""
    d, t = SMOOTH_HISTORY, np.asarray(t)
    w, omega, tau = d["weight"], d["omega"], d["delay"]
    return w / omega * (np.cos(omega * tau) - np.cos(omega * (t - tau)))


#: A stepped input read through a delay: a' = -k a + u(t) (u: ``levels[i]`` from
#: ``jumps[i]`` on, 0 before), a = a0 before 0, edge with delay ``delay`` and weight ``weight``
#: into b' = v. Jumps, delay and sampling are multiples of every step the order test takes.
DELAY_INPUT: dict[str, Any] = {
    "k": 2.0,
    "a0": 0.5,
    "delay": 0.4,
    "weight": 1.5,
    "jumps": (0.6, 1.4),
    "levels": (1.0, -0.5),
    "T": 2.4,
}


def delay_input_circuit() -> CircuitTemplate:
    """Source a' = -k a + u (u the extrinsic input) -> edge with delay 0.4, weight 1.5 ->
    target b' = v: b integrates a(t - 0.4), whose slope jumps where u does."""
    d = DELAY_INPUT
    c = two_nodes(
        ["a' = -k*a + u"],
        {"a": f"output({d['a0']})", "k": d["k"], "u": "input(0.0)"},
        ["b' = v"],
        {"b": "output(0.0)", "v": "input(0.0)"},
    )
    return c.add_edges([["a/op/a", "b/op/v", None, {"weight": d["weight"], "delay": d["delay"]}]])


def delay_input_rows(dt: float) -> np.ndarray:
    """The input u of :func:`delay_input_circuit`, one row per step of ``dt`` (row n holds
    from n dt on)."""
    d = DELAY_INPUT
    times = np.arange(int(round(d["T"] / dt))) * dt
    out = np.zeros(times.size)
    for jump, level in zip(d["jumps"], d["levels"]):
        out[times >= jump - 1e-9 * dt] = level
    return out


def delay_input_exact(t: np.ndarray) -> np.ndarray:
    """``(a, b)`` per time: a relaxes towards u / k piece by piece; b = w (a0 min(t, tau) +
    int_0^(t - tau) a)."""
    d = DELAY_INPUT
    k, w, tau = d["k"], d["weight"], d["delay"]
    starts = (0.0, *d["jumps"])
    levels = (0.0, *d["levels"])

    def a_and_integral(x: float) -> tuple[float, float]:
        a, total = d["a0"], 0.0
        for i, (s, level) in enumerate(zip(starts, levels)):
            end = min(x, starts[i + 1]) if i + 1 < len(starts) else x
            if end <= s:
                break
            h, rest = end - s, a - level / k
            total += level / k * h + rest * (1.0 - math.exp(-k * h)) / k
            a = level / k + rest * math.exp(-k * h)
        return a, total

    rows = []
    for x in np.asarray(t, dtype=float):
        a = a_and_integral(x)[0]
        b = w * (d["a0"] * min(x, tau) + a_and_integral(max(x - tau, 0.0))[1])
        rows.append((a, b))
    return np.array(rows)


def noise_population(n: int) -> CircuitTemplate:
    """``n`` identical nodes ``p0 ..`` with x' = sigma randn() (one vectorised population)."""
    op = OperatorTemplate(
        name="op", equations=["x' = sigma*randn()"], variables={"x": "output(0.0)", "sigma": 1.0}
    )
    node = NodeTemplate(name="noisy", operators=[op])
    return CircuitTemplate(name=f"noisy{n}", nodes={f"p{i}": node for i in range(n)})


def sde_population(n: int, equation: str, **values: float) -> CircuitTemplate:
    """``n`` identical nodes ``p0 ..`` with one SDE for ``x`` (x(0) = ``x0``, default 1) and
    constants ``values``: one vectorised population, one Wiener process per node."""
    variables: dict[str, Any] = {"x": f"output({values.pop('x0', 1.0)})", **values}
    op = OperatorTemplate(name="op", equations=[equation], variables=variables)
    node = NodeTemplate(name="sde", operators=[op])
    return CircuitTemplate(name=f"sde{n}", nodes={f"p{i}": node for i in range(n)})


def brownian_increments(n_steps: int, n_paths: int, T: float, seed: int) -> np.ndarray:
    """Wiener increments over ``n_steps`` equal steps of ``[0, T]`` (rows) for ``n_paths``
    independent paths (columns), from ``numpy.random.default_rng(seed)``."""
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n_steps, n_paths)) * math.sqrt(T / n_steps)


def coarse_increments(fine: np.ndarray, factor: int) -> np.ndarray:
    """The increments of the same Wiener paths over steps ``factor`` times longer."""
    return fine.reshape(fine.shape[0] // factor, factor, fine.shape[1]).sum(axis=1)


def delayed_connectome(n: int = 4, noise: float = 0.0, density: float = 1.0) -> CircuitTemplate:
    """``n`` leaky units ``x' = -x/tau + tanh(c) + sin(t/3) + sigma*xi()`` (``sigma`` =
    ``noise``) on a random connectome (seed 3) with delays of 0.2 .. 2.35 (tract lengths /
    speed 2), most between the grid points of steps such as 0.1; an algebraic ``r = x^2`` of
    the state only. ``density``: the fraction of non-zero weights. Regions ``regions/0 ..``."""
    from rates_core import Connectome, LinearCoupling

    rng = np.random.default_rng(3)
    weights = rng.uniform(size=(n, n)) * (rng.uniform(size=(n, n)) < density)
    lengths = rng.uniform(0.4, 4.7, size=(n, n))
    noisy = " + sigma*xi()" if noise else ""
    op = OperatorTemplate(
        "op",
        ["x' = -x/tau + tanh(c) + sin(t/3)" + noisy, "r = x^2"],
        {"x": "output(0.0)", "r": "variable(0.0)", "c": "input(0.0)", "tau": 5.0, "sigma": noise},
    )
    return Connectome(weights, tract_lengths=lengths).circuit(
        NodeTemplate("unit", operators=[op]),
        "op/x",
        "op/c",
        speed=2.0,
        params={"op/x": np.linspace(-1.0, 1.0, n)},
        coupling=LinearCoupling(a=-1.5),
    )


def delayed_sde_loop(
    method: str, x0: float, a: float, s: float, lag: int, dt: float, increments: np.ndarray
) -> np.ndarray:
    """A hand-written loop of ``dx = (-x + a x(t - lag dt)) dt + s dW`` (the pre-history is
    ``x0``): the state at every step (rows, the first ``x0``), one column per Wiener path of
    ``increments`` (one row per step). ``method``: euler_maruyama, or heun_stochastic (the
    predictor's delayed value is the state ``lag - 1`` steps back)."""
    n_steps, n = increments.shape
    x = np.full((n_steps + 1, n), float(x0))
    for k in range(n_steps):
        past = x[k - lag] if k >= lag else x[0]
        drift = -x[k] + a * past
        noise = s * increments[k]
        if method == "heun_stochastic":
            p = x[k] + drift * dt + noise
            later = x[k + 1 - lag] if k + 1 >= lag else x[0]
            drift = 0.5 * (drift + (-p + a * later))
        x[k + 1] = x[k] + drift * dt + noise
    return x


def delayed_ring(n: int = 2, delay: float = 0.3) -> CircuitTemplate:
    """``n`` nodes ``x' = -x + tanh(u)`` with ``s = x^2`` and ``q = x + u``, in a delayed
    ring: ``x`` of node i drives ``u`` of node i+1 (weight 2, ``delay``), and ``s`` of the last
    node drives ``u`` of the first (weight -0.5, delay 0.2, an algebraic variable kept in the
    history); ``x(0) = 0.5``, also the pre-history."""
    op = OperatorTemplate(
        name="op",
        equations=["x' = -x + tanh(u)", "s = x^2", "q = x + u"],
        variables={
            "x": "output(0.5)",
            "s": "variable(0.0)",
            "q": "variable(0.0)",
            "u": "input(0.0)",
        },
    )
    node = NodeTemplate(name="n", operators=[op])
    labels = [f"p{i}" for i in range(n)]
    circuit = CircuitTemplate(name="ring", nodes={lb: node for lb in labels})
    edges = [
        (f"{a}/op/x", f"{b}/op/u", None, {"weight": 2.0, "delay": delay})
        for a, b in zip(labels[:-1], labels[1:])
    ]
    edges.append((f"{labels[-1]}/op/s", "p0/op/u", None, {"weight": -0.5, "delay": 0.2}))
    return circuit.add_edges(edges)


def delayed_ou_variance(a: float, b: float, tau: float, sigma: float) -> float:
    """The stationary variance of ``dx = (a x + b x(t - tau)) dt + sigma dW`` for
    ``|b| < -a`` (Kuechler and Mensch 1992), ``sigma^2 (b sinh(w tau) - w) / (2 w (a + b
    cosh(w tau)))`` with ``w = sqrt(a^2 - b^2)``: ``sigma^2 int_0^inf G(t)^2 dt`` of the
    fundamental solution G (checked against that integral to 1e-4)."""
    w = math.sqrt(a * a - b * b)
    return sigma**2 * (b * math.sinh(w * tau) - w) / (2 * w * (a + b * math.cosh(w * tau)))


GAMMA = {"delay": 1.0, "spread": 0.5, "T": 3.0}


def gamma_kernel_circuit() -> CircuitTemplate:
    """Source a' = 1 (a = t, 0 before t = 0) -> edge with delay 1, spread 0.5 (a gamma kernel
    of order round((1/0.5)^2) = 4, rate 4) -> target b' = u."""
    c = two_nodes(
        ["a' = 1.0"], {"a": "output(0.0)"}, ["b' = u"], {"b": "output(0.0)", "u": "input(0.0)"}
    )
    g = GAMMA
    return c.add_edges([["a/op/a", "b/op/u", None, {"delay": g["delay"], "spread": g["spread"]}]])


def gamma_kernel_exact(t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(u, b): the ramp a = t through the kernel, u(t) = int_0^t (t - s) g(s) ds with g the gamma
    density of shape n and rate r, and its integral b(t) = int_0^t (t - s)^2 / 2 g(s) ds:

    u = t P(n, r t) - (n / r) P(n + 1, r t),
    b = t^2 / 2 P(n, r t) - t (n / r) P(n + 1, r t) + n (n + 1) / (2 r^2) P(n + 2, r t),

    P the regularised lower incomplete gamma function (the gamma distribution function)."""
    from scipy.special import gammainc

    g = GAMMA
    n = max(round((g["delay"] / g["spread"]) ** 2), 1)
    r = n / g["delay"]
    t = np.asarray(t, dtype=float)
    p0, p1, p2 = gammainc(n, r * t), gammainc(n + 1, r * t), gammainc(n + 2, r * t)
    u = t * p0 - (n / r) * p1
    b = t**2 / 2 * p0 - t * (n / r) * p1 + n * (n + 1) / (2 * r**2) * p2
    return u, b


# --------------------------------------------------------------------------- functions


@dataclass(frozen=True)
class FunctionCase:
    """One equation-level function on one kind of argument: ``x' = <expression>``.

    ``values`` are the arguments (constants of the model, never literals: sympy would evaluate
    ``sin(0.5)`` itself); ``reference(values, t)`` computes the expected derivative with NumPy.
    """

    id: str
    expression: str
    values: Mapping[str, Any]
    reference: Callable[..., Any]
    size: int
    complex: bool = False
    t: float = 0.7
    requires: frozenset[str] = field(default_factory=frozenset)

    @property
    def rates_requires(self) -> frozenset[str]:
        return self.requires

    def circuit(self) -> CircuitTemplate:
        dtype = "complex" if self.complex else "float"
        value: Any = 0.0 if self.size == 1 else [0.0] * self.size
        variables: dict[str, Any] = {"x": {"vtype": "state", "dtype": dtype, "value": value}}
        for name, v in self.values.items():
            variables[name] = v.tolist() if isinstance(v, np.ndarray) else v
        return one_node(
            f"function_{self.id.replace('-', '_')}", [f"x' = {self.expression}"], variables
        )

    def expected(self) -> np.ndarray:
        values = {k: np.asarray(v) for k, v in self.values.items()}
        out = np.asarray(self.reference(self.t, **values))
        return np.broadcast_to(out, (self.size,)) if out.ndim == 0 else out.reshape(-1)


def _sign(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x)
    if np.iscomplexobj(x):
        size = np.abs(x)
        return np.where(size == 0, 0, x / np.where(size == 0, 1, size))
    return np.sign(x)


_GENERIC = [-1.3, -0.4, 0.0, 0.45, 1.7]
_UNIT = [-0.9, -0.3, 0.0, 0.45, 0.8]
_POSITIVE = [0.05, 0.5, 1.0, 2.5, 7.0]
_ROUNDING = [-2.5, -0.5, 1.5, 2.5, 3.7]
_COMPLEX = [0.3 + 0.4j, -1.2 + 0.5j, 0.7 - 0.9j]

#: name -> (NumPy reference, scalar value, vector values, defined for complex numbers)
_UNARY: dict[str, tuple[Callable, float, list[float], bool]] = {
    "sin": (np.sin, 0.37, _GENERIC, True),
    "cos": (np.cos, 0.37, _GENERIC, True),
    "tan": (np.tan, 0.37, _GENERIC, True),
    "sinh": (np.sinh, 0.37, _GENERIC, True),
    "cosh": (np.cosh, 0.37, _GENERIC, True),
    "tanh": (np.tanh, 0.37, _GENERIC, True),
    "arcsin": (np.arcsin, 0.37, _UNIT, True),
    "arccos": (np.arccos, 0.37, _UNIT, True),
    "arctan": (np.arctan, 0.37, _GENERIC, True),
    "exp": (np.exp, 0.37, _GENERIC, True),
    "log": (np.log, 2.7, _POSITIVE, True),
    "sqrt": (np.sqrt, 2.7, _POSITIVE, True),
    "abs": (np.abs, -0.37, _GENERIC, True),
    "absv": (np.abs, -0.37, _GENERIC, True),
    "sign": (_sign, -0.37, _GENERIC, True),
    "round": (np.round, 2.5, _ROUNDING, False),
    "real": (np.real, 0.37, _GENERIC, True),
    "imag": (np.imag, 0.37, _GENERIC, True),
    "conj": (np.conj, 0.37, _GENERIC, True),
    "sigmoid": (lambda x: 1.0 / (1.0 + np.exp(-x)), 0.37, _GENERIC, True),
}

_A = np.array([-1.0, 0.5, 2.0, 3.0, 0.0])
_B = np.array([0.5, 0.5, 1.0, 3.0, -1.0])
_APOS = np.array([0.5, 1.5, 2.0, 0.25, 3.0])
_W = np.array([[1.0, -2.0, 0.5, 3.0], [0.0, 1.5, -1.0, 2.0], [4.0, 0.25, 1.0, -0.5]])
_V4 = np.array([0.5, -1.0, 2.0, 0.25])

#: name -> (expression, NumPy reference of a and b, complex allowed)
_BINARY: dict[str, tuple[str, Callable, bool]] = {
    "maxi": ("maxi(a, b)", lambda a, b: np.maximum(a, b), False),
    "mini": ("mini(a, b)", lambda a, b: np.minimum(a, b), False),
    "greater": ("(a > b)", lambda a, b: (a > b).astype(float), False),
    "greater_equal": ("(a >= b)", lambda a, b: (a >= b).astype(float), False),
    "less": ("(a < b)", lambda a, b: (a < b).astype(float), False),
    "less_equal": ("(a <= b)", lambda a, b: (a <= b).astype(float), False),
    "equal": ("(a == b)", lambda a, b: (a == b).astype(float), True),
    "not_equal": ("(a != b)", lambda a, b: (a != b).astype(float), True),
    "arithmetic": ("a*b - a/b + a - b - (-a)/3", lambda a, b: a * b - a / b + a - b + a / 3, True),
}


def _function_cases() -> list[FunctionCase]:
    cases: list[FunctionCase] = []
    complex_req = frozenset({"complex"})

    def unary_ref(fn: Callable) -> Callable:
        return lambda t, a: fn(a)

    for name, (fn, scalar, vector, complex_ok) in _UNARY.items():
        ref = unary_ref(fn)
        cases.append(FunctionCase(f"{name}-scalar", f"{name}(a)", {"a": scalar}, ref, 1))
        cases.append(FunctionCase(f"{name}-vector", f"{name}(a)", {"a": vector}, ref, len(vector)))
        if complex_ok:
            cases.append(
                FunctionCase(
                    f"{name}-complex",
                    f"{name}(a)",
                    {"a": _COMPLEX[0]},
                    ref,
                    1,
                    True,
                    requires=complex_req,
                )
            )
            cases.append(
                FunctionCase(
                    f"{name}-complex_vector",
                    f"{name}(a)",
                    {"a": _COMPLEX},
                    ref,
                    3,
                    True,
                    requires=complex_req,
                )
            )
    for name, (expr, fn, complex_ok) in _BINARY.items():
        ref = lambda t, a, b, fn=fn: fn(a, b)  # noqa: E731
        cases.append(FunctionCase(f"{name}-scalar", expr, {"a": 0.75, "b": 0.75}, ref, 1))
        cases.append(FunctionCase(f"{name}-scalar_differ", expr, {"a": 1.25, "b": -0.5}, ref, 1))
        cases.append(FunctionCase(f"{name}-vector", expr, {"a": _A, "b": _B}, ref, 5))
        if complex_ok:
            ca = np.array(_COMPLEX)
            cb = np.array([0.3 + 0.4j, 1.0 - 0.5j, 0.7 - 0.9j])
            cases.append(
                FunctionCase(
                    f"{name}-complex_vector",
                    expr,
                    {"a": ca, "b": cb},
                    ref,
                    3,
                    True,
                    requires=complex_req,
                )
            )
    power = [
        ("power_caret", "a^b"),
        ("power_stars", "a**b"),
    ]
    for name, expr in power:
        ref = lambda t, a, b: a**b  # noqa: E731
        cases.append(FunctionCase(f"{name}-scalar", expr, {"a": 1.7, "b": -0.6}, ref, 1))
        cases.append(FunctionCase(f"{name}-vector", expr, {"a": _APOS, "b": _B}, ref, 5))
        cases.append(
            FunctionCase(
                f"{name}-complex",
                expr,
                {"a": 0.3 + 0.4j, "b": 1.5 - 0.5j},
                ref,
                1,
                True,
                requires=complex_req,
            )
        )
    cases.append(
        FunctionCase("power_integer-vector", "a^3 - a^2", {"a": _A}, lambda t, a: a**3 - a**2, 5)
    )
    # reductions, linear algebra, indexing
    vec = np.array(_GENERIC)
    more: list[tuple[str, str, Mapping[str, Any], Callable[..., Any], int]] = [
        ("maxi-reduce", "maxi(a)", {"a": vec}, lambda t, a: np.max(a), 1),
        ("mini-reduce", "mini(a)", {"a": vec}, lambda t, a: np.min(a), 1),
        ("vsum-vector", "vsum(a)", {"a": vec}, lambda t, a: np.sum(a), 1),
        ("mean-vector", "mean(a)", {"a": vec}, lambda t, a: np.mean(a), 1),
        ("vsum-axis0", "vsum(W, 0)", {"W": _W}, lambda t, W: np.sum(W, axis=0), 4),
        ("mean-axis1", "mean(W, 1)", {"W": _W}, lambda t, W: np.mean(W, axis=1), 3),
        ("matvec-matrix", "matvec(W, b)", {"W": _W, "b": _V4}, lambda t, W, b: W @ b, 3),
        ("matmul-matrix", "matmul(W, b)", {"W": _W, "b": _V4}, lambda t, W, b: W @ b, 3),
        ("index-vector", "index(a, 3)", {"a": vec}, lambda t, a: a[3], 1),
        ("index-matrix", "index(W, 2, 1)", {"W": _W}, lambda t, W: W[2, 1], 1),
        ("index_range-vector", "index_range(a, 1, 4)", {"a": vec}, lambda t, a: a[1:4], 3),
        ("index_axis-row", "index_axis(W, 1)", {"W": _W}, lambda t, W: W[1], 4),
        ("index_axis-column", "index_axis(W, 2, 1)", {"W": _W}, lambda t, W: W[:, 2], 3),
        (
            "interp-vector",
            "interp(q, xs, ys)",
            {
                "q": np.array([-0.5, 0.25, 1.5, 2.9, 4.0]),
                "xs": np.array([0.0, 1.0, 2.0, 3.0]),
                "ys": np.array([1.0, -1.0, 0.5, 2.0]),
            },
            lambda t, q, xs, ys: np.interp(q, xs, ys),
            5,
        ),
        (
            "interp-time",
            "interp(t, xs, ys)",
            {"xs": np.array([0.0, 0.5, 1.0, 3.0]), "ys": np.array([1.0, -1.0, 0.5, 2.0])},
            lambda t, xs, ys: np.interp(t, xs, ys),
            1,
        ),
        (
            "concatenate-vector",
            "concatenate(a, b)",
            {"a": np.array(_GENERIC), "b": _V4},
            lambda t, a, b: np.concatenate([a, b]),
            9,
        ),
        (
            "constants-scalar",
            "pi*a + E - a/E",
            {"a": 0.37},
            lambda t, a: np.pi * a + np.e - a / np.e,
            1,
        ),
        ("time-scalar", "t*a + t^2", {"a": 0.37}, lambda t, a: t * a + t**2, 1),
        ("time-vector", "t*a", {"a": vec}, lambda t, a: t * a, 5),
    ]
    for cid, expr, values, ref, size in more:
        cases.append(FunctionCase(cid, expr, values, ref, size))
    cases.append(
        FunctionCase(
            "imaginary_unit-complex",
            "I*a + a*2j",
            {"a": 0.37},
            lambda t, a: 1j * a + 2j * a,
            1,
            True,
            requires=complex_req,
        )
    )
    return cases


#: Every function case of ``test_function``, with ids ``<function>-<kind of argument>``.
FUNCTION_CASES: tuple[FunctionCase, ...] = tuple(_function_cases())


# --------------------------------------------------------------------------- delays="grid"

#: A three-node network for ``run(..., delays="grid")``: x_i' = -x_i + sin(u_i) + c_i with
#: u_i the weighted sum of delayed x_j. Delays are no multiples of ``dt`` (they round to 1, 3,
#: 0 (below dt / 2), 4 and 2 steps) and n0 has a pre-history that changes with time.
GRID_NET: dict[str, Any] = {
    "dt": 0.01,
    "T": 0.3,
    "x0": (0.4, -0.3, 0.1),
    "c": (0.2, -0.1, 0.3),
    # (source, target, weight, delay)
    "edges": (
        (0, 1, 1.5, 0.0137),
        (1, 2, -2.0, 0.0263),
        (2, 0, 1.2, 0.0041),
        (0, 0, 0.8, 0.0355),
        (1, 0, 0.5, 0.0182),
    ),
}


def grid_network_circuit() -> CircuitTemplate:
    """The :data:`GRID_NET` circuit (nodes ``n0 .. n2``, operator ``op``, state ``x``)."""
    nodes = {}
    for i, (x0, c) in enumerate(zip(GRID_NET["x0"], GRID_NET["c"])):
        op = OperatorTemplate(
            name="op",
            equations=["x' = -x + sin(u) + c"],
            variables={"x": f"output({x0})", "u": "input(0.0)", "c": c},
        )
        nodes[f"n{i}"] = NodeTemplate(name="unit", operators=[op])
    circuit = CircuitTemplate(name="grid_net", nodes=nodes)
    edges = [
        [f"n{s}/op/x", f"n{t}/op/u", None, {"weight": w, "delay": d}]
        for s, t, w, d in GRID_NET["edges"]
    ]
    return circuit.add_edges(edges)


def grid_network_history() -> dict[str, Callable[[float], float]]:
    """The ``history=`` of :func:`grid_network_circuit`: x of n0 is 0.4 + 3 t before 0."""
    return {"n0/op/x": lambda t: 0.4 + 3.0 * t}


def grid_network_reference(method: str) -> np.ndarray:
    """The states of :func:`grid_network_circuit` at every step (``n_steps + 1`` rows) under
    ``delays="grid"``, by a plain loop of the definition: k = round(tau / dt) and every stage
    of step n uses the stored state of step n - k (the pre-history before 0), held over the
    step; ``method`` is ``"euler"``, ``"heun"`` or ``"rk4"``."""
    dt, edges = GRID_NET["dt"], GRID_NET["edges"]
    n_steps = int(round(GRID_NET["T"] / dt))
    c = np.array(GRID_NET["c"])
    history = grid_network_history()["n0/op/x"]
    rows = np.zeros((n_steps + 1, 3))
    rows[0] = GRID_NET["x0"]

    def stored(step: int) -> np.ndarray:
        if step >= 0:
            return rows[step]
        return np.array([history(step * dt), *GRID_NET["x0"][1:]])

    def f(x: np.ndarray, u: np.ndarray) -> np.ndarray:
        return -x + np.sin(u) + c

    for n in range(n_steps):
        u = np.zeros(3)
        for s, t, w, d in edges:
            u[t] += w * stored(n - int(np.rint(d / dt)))[s]
        x = rows[n]
        k1 = f(x, u)
        if method == "euler":
            step = k1
        elif method == "heun":
            step = 0.5 * (k1 + f(x + dt * k1, u))
        elif method == "rk4":
            k2 = f(x + 0.5 * dt * k1, u)
            k3 = f(x + 0.5 * dt * k2, u)
            k4 = f(x + dt * k3, u)
            step = (k1 + 2.0 * k2 + 2.0 * k3 + k4) / 6.0
        else:
            raise ValueError(f"no grid reference for method {method!r}")
        rows[n + 1] = x + dt * step
    return rows
