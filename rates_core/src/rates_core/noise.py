"""White noise in differential equations: ``xi()`` and the drift / diffusion split of a System.

A differential equation ``x' = f + g * xi()`` is the stochastic differential equation
``dx = f dt + g dW``, with one Wiener process ``W`` per unit and variable (every ``xi()`` of
one equation is the same process). The core checks the noise term when an equation is parsed
(:func:`noise_problem`: linear in ``xi()``, only in differential equations), and splits the
built :class:`~rates_core.system.System` into a drift System (``xi() -> 0``) and a diffusion
System (``d rhs / d xi``): two ordinary Systems every backend emits with its own
``emit_function``, so no printer needs to know about noise. An SDE solver (capability ``sde``,
methods :data:`SDE_METHODS`) finds the diffusion's generated code in the drift's
``EmittedFunction.extras["diffusion"]`` and the noisy positions of the state vector in
``extras["noise_sources"]`` (one standard normal sample per position and step).
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

import numpy as np
import sympy

from rates_core import builtins
from rates_core.errors import ModelError, SolverError

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from rates_core.backend import EmitOptions, EmittedFunction, Problem, Trajectory
    from rates_core.plugins import SolverInfo
    from rates_core.system import System

__all__ = [
    "SDE_CAPABILITY",
    "SDE_DELAYS_CAPABILITY",
    "SDE_METHODS",
    "SdeSplit",
    "WienerIncrements",
    "check_solver",
    "every_position_in_order",
    "emit",
    "has_noise",
    "noise_problem",
    "noise_sources",
    "pop_increments",
    "solve_without_noise",
    "split",
]

#: The capability of backends and solvers that integrate models with ``xi()``.
SDE_CAPABILITY = "sde"
#: The capability of backends whose SDE methods integrate models with delays as well.
SDE_DELAYS_CAPABILITY = "sde_delays"
#: The SDE methods a backend declaring ``sde`` provides: Euler-Maruyama (Ito) and stochastic
#: Heun (Stratonovich; the same as Ito for additive noise).
SDE_METHODS = ("euler_maruyama", "heun_stochastic")

_XI = builtins.Xi()


def noise_problem(rhs: sympy.Expr, differential: bool) -> str | None:
    """What is wrong with the ``xi()`` in an equation's right-hand side, or None.

    ``xi()`` belongs to differential equations only, and linearly: ``d rhs / d xi`` must not
    contain ``xi()`` (and must exist: functions without a derivative do not qualify).
    """
    if not rhs.has(builtins.Xi):
        return None
    if not differential:
        return (
            "white noise xi() may only appear in a differential equation (x' = ... + g*xi()), "
            "not in an algebraic one"
        )
    _drift, diffusion = _split_rhs(rhs)
    if diffusion is None:
        return (
            "white noise xi() must enter linearly (x' = f + g*xi(), g without xi()); "
            "write the noise as a separate term"
        )
    return None


def _split_rhs(rhs: sympy.Expr) -> tuple[sympy.Expr, sympy.Expr | None]:
    """``(f, g)`` with ``rhs = f + g * xi()``; g is None when ``rhs`` is not linear in xi."""
    w = sympy.Dummy("w", real=True)
    expr = rhs.xreplace({_XI: w})
    if expr.has(builtins.Xi):
        return rhs, None
    g = sympy.diff(expr, w)
    if g.has(w) or g.has(sympy.Derivative, sympy.Subs):
        return rhs, None
    return expr.subs(w, 0), g


def has_noise(system: System) -> bool:
    """Whether a derivative of ``system`` contains ``xi()``."""
    return any(expr.has(builtins.Xi) for _, expr in system.derivatives)


def _where(system: System, state: str) -> dict[str, str]:
    """``template`` / ``variable`` of a state, for error messages."""
    paths = system.state(state).paths
    return {"template": system.name, "variable": str(paths[0]) if len(paths) else state}


@dataclasses.dataclass(frozen=True)
class SdeSplit:
    """A noisy System split into ``drift`` (xi -> 0) and ``diffusion`` (d rhs / d xi); both
    keep the states, parameters and algebraic updates of the original. ``sources``: the
    positions of the state vector driven by noise (one Wiener process each), node by node in
    the circuit's order, whatever the layout (:func:`noise_sources` names them)."""

    drift: System
    diffusion: System
    sources: np.ndarray


def split(system: System) -> SdeSplit:
    """Split ``system`` into drift and diffusion (a :class:`~rates_core.errors.ModelError`
    naming the template and variable when ``xi()`` is not a linear term of a derivative)."""
    for a in system.algebraic:
        if a.expr.has(builtins.Xi):
            raise ModelError(
                "white noise xi() may only appear in a differential equation",
                template=system.name,
                variable=a.name,
            )
    drift: list[tuple[str, sympy.Expr]] = []
    diffusion: list[tuple[str, sympy.Expr]] = []
    noisy: list[str] = []
    for name, rhs in system.derivatives:
        f, g = _split_rhs(rhs)
        if g is None:
            raise ModelError(
                "white noise xi() must enter linearly (x' = f + g*xi(), g without xi())",
                **_where(system, name),
            )
        drift.append((name, f))
        diffusion.append((name, g))
        if g != 0:
            noisy.append(name)
    sources = _by_node(system, noisy)
    return SdeSplit(
        dataclasses.replace(system, derivatives=tuple(drift)),
        dataclasses.replace(
            system,
            name=f"{system.name}_diffusion",
            derivatives=tuple(diffusion),
            algebraic=_needed_algebraic(system.algebraic, [g for _, g in diffusion]),
        ),
        np.asarray(sources, dtype=np.int64),
    )


def _by_node(system: System, noisy: Sequence[str]) -> list[int]:
    """The state positions of the ``noisy`` states (in equation order), node by node in the
    order of the circuit's ``node_labels()``: the same order whether the System is vectorised
    or not, so a seed or given increments drive the same unit the same way in both layouts.
    Positions whose path names no node of the circuit (edge states) follow, by path. A
    System without a circuit keeps the equation order."""
    circuit = system.ir.circuit if system.ir is not None else None
    if circuit is None:
        return [
            p for name in noisy for p in range(system.state(name).start, system.state(name).stop)
        ]
    rank = {label: k for k, label in enumerate(circuit.node_labels())}
    keyed: list[tuple[tuple[int, int | str], int]] = []
    for name in noisy:
        state = system.state(name)
        for i, path in enumerate(_value_paths(state)):
            node = path.rsplit("/", 2)[0]
            keyed.append(((0, rank[node]) if node in rank else (1, path), state.start + i))
    keyed.sort(key=lambda item: item[0])  # stable: a node's states stay in equation order
    return [position for _, position in keyed]


def _needed_algebraic(algebraic: Sequence[Any], exprs: Sequence[sympy.Expr]) -> tuple[Any, ...]:
    """The algebraic updates (in their order) that ``exprs`` read, directly or through other
    updates: the diffusion's code computes only these (a whole-brain network's coupling sum,
    which the drift reads, is not computed a second time for the noise terms)."""
    needed = {s.name for e in exprs for s in e.free_symbols}
    keep = []
    for a in reversed(algebraic):  # each update comes after the ones it reads
        if a.name in needed:
            keep.append(a)
            needed |= {s.name for s in a.expr.free_symbols}
    return tuple(reversed(keep))


def every_position_in_order(sources: Any, n_states: int) -> bool:
    """Whether the noise ``sources`` are all ``n_states`` positions in state order, so a step's
    increments multiply the diffusion as it is; otherwise ``g[sources] *= dW`` (the sources
    go node by node, so a vectorised System with two noisy variables is not in state order)."""
    positions = np.asarray(sources)
    return positions.size == n_states and bool(np.array_equal(positions, np.arange(n_states)))


def noise_sources(system: System) -> list[str]:
    """The ``node/op/var`` path of each noise source of ``system``, in the order of the columns
    of ``run(..., wiener_increments=...)`` and of the seeded draws (the noisy entries of the
    state vector): node by node in the order of the circuit's ``node_labels()``, each node's
    noisy variables in the order of their equations, the same whether ``system`` is
    vectorised or not."""
    path_of = {s.start + i: path for s in system.states for i, path in enumerate(_value_paths(s))}
    return [path_of[position] for position in split(system).sources.tolist()]


def _value_paths(state: Any) -> list[str]:
    """The ``node/op/var`` path of each value of ``state`` (``name[i]`` where it has none)."""
    paths = list(state.paths)
    if len(paths) == state.size:
        return [str(path) for path in paths]
    return [f"{state.name}[{i}]" for i in range(state.size)]


def _noisy_states(system: System) -> str:
    names = [
        _where(system, name)["variable"] for name, rhs in system.derivatives if rhs.has(builtins.Xi)
    ]
    listed = ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")
    return f"the model has white noise (xi() in the equation of {listed})"


def check_solver(system: System, host: Any, backend: str, solver: SolverInfo) -> None:
    """A :class:`~rates_core.errors.SolverError` when ``system`` has noise and ``backend`` or
    ``solver`` cannot integrate it (naming the SDE methods and the backends that have them)."""
    if not has_noise(system):
        return
    methods = " or ".join(repr(m) for m in SDE_METHODS)
    if SDE_CAPABILITY not in host.backend_info(backend).capabilities:
        others = [n for n, (i, _) in host.backends().items() if SDE_CAPABILITY in i.capabilities]
        raise SolverError(
            f"{_noisy_states(system)}, which needs an SDE solver ({methods}); backend "
            f"{backend!r} has none (capability 'sde'; backends with it: "
            f"{', '.join(map(repr, sorted(others))) or 'none installed'})"
        )
    if SDE_CAPABILITY not in solver.capabilities:
        raise SolverError(
            f"{_noisy_states(system)}; solver {solver.method!r} integrates ODEs only: use "
            f"solver={methods} (Euler-Maruyama is Ito, stochastic Heun Stratonovich)"
        )
    if system.delayed and SDE_DELAYS_CAPABILITY not in host.backend_info(backend).capabilities:
        others = [
            n for n, (i, _) in host.backends().items() if SDE_DELAYS_CAPABILITY in i.capabilities
        ]
        raise SolverError(
            f"{_noisy_states(system)} and delayed reads; backend {backend!r} has no SDE methods "
            f"for delayed models (capability 'sde_delays'; backends with it: "
            f"{', '.join(map(repr, sorted(others))) or 'none installed'})"
        )


def pop_increments(solver: SolverInfo, options: dict[str, Any]) -> Any:
    """Remove ``wiener_increments`` from ``run``'s solver options and return it (None when not
    given); a :class:`~rates_core.errors.SolverError` when ``solver`` is no SDE method."""
    given = options.pop("wiener_increments", None)
    if given is not None and SDE_CAPABILITY not in solver.capabilities:
        methods = " or ".join(repr(m) for m in SDE_METHODS)
        raise SolverError(
            f"wiener_increments is an option of the SDE solvers ({methods}), not of "
            f"{solver.method!r}"
        )
    return given


def solve_without_noise(
    solver: str,
    function: EmittedFunction,
    problem: Problem,
    solve_ode: Callable[[str, EmittedFunction, Problem], Trajectory],
    ode_solver: str,
) -> Trajectory | None:
    """An SDE solver's run of a model without ``xi()`` (``function`` carries no diffusion): the
    run of its deterministic method ``ode_solver`` by the backend's ``solve_ode``, labelled
    with ``solver`` and no noise sources; None for a model with noise. Increments given for a
    model without noise are a :class:`~rates_core.errors.SolverError`."""
    if function.extras.get("diffusion") is not None:
        return None
    if problem.wiener_increments is not None:
        raise SolverError("wiener_increments were given, but the model has no noise xi()")
    traj = solve_ode(ode_solver, function, problem)
    traj.info.update(solver=solver, noise_sources=0)
    return traj


def given_increments(given: Any, n_steps: int, n_sources: int) -> np.ndarray | None:
    """The ``wiener_increments`` a run was given, as an ``(n_steps, n_sources)`` float64 array
    (None when none were given); a :class:`~rates_core.errors.SolverError` for anything else
    (not numbers, another shape, non-finite values). Every SDE solver checks them here."""
    if given is None:
        return None
    try:
        rows = np.asarray(given, dtype=np.float64)
    except (TypeError, ValueError):
        raise SolverError("wiener_increments must be an array of real numbers") from None
    if rows.ndim == 1 and n_sources == 1:
        rows = rows[:, None]
    if rows.shape != (n_steps, n_sources):
        raise SolverError(
            f"wiener_increments has shape {rows.shape}; the run needs {n_steps} "
            f"rows (steps) of {n_sources} columns (noise sources)"
        )
    if not np.all(np.isfinite(rows)):
        raise SolverError("wiener_increments must be finite numbers")
    return rows


#: Wiener increments are drawn in blocks of about this many numbers (memory stays bounded).
INCREMENT_BLOCK = 1 << 16


class WienerIncrements:
    """The Wiener increments of a fixed-step SDE run, in step order, one column per noise
    source: ``Problem.wiener_increments`` (checked by :func:`given_increments`), or
    ``sqrt(dt)`` times standard normal samples from ``numpy.random.default_rng(seed)``, drawn
    a block of ``block_rows`` steps at a time. The stream does not depend on how it is cut
    into blocks, so backends that draw here integrate the same paths for the same seed. Read
    it either step by step (``increments(k)``, k = 0, 1, ...) or in consecutive row ranges
    (:meth:`rows`), not both."""

    def __init__(self, problem: Problem, n_sources: int) -> None:
        self.given = given_increments(problem.wiener_increments, problem.n_steps, n_sources)
        self.sqrt_dt = float(np.sqrt(float(problem.step_size)))
        self.n = n_sources
        self.block_rows = max(INCREMENT_BLOCK // max(n_sources, 1), 1)
        self.rng = np.random.default_rng(problem.seed)
        self._block = np.empty((0, n_sources))
        self._first = 0

    def rows(self, k0: int, k1: int) -> np.ndarray:
        """The increments of steps ``k0 .. k1 - 1`` (the next rows of the stream)."""
        if self.given is not None:
            return np.ascontiguousarray(self.given[k0:k1])
        rows = self.rng.standard_normal((k1 - k0, self.n))
        rows *= self.sqrt_dt
        return rows

    def __call__(self, k: int) -> np.ndarray:
        """The increments of step ``k`` (steps in order)."""
        if self.given is not None:
            return self.given[k]
        i = k - self._first
        if i >= self._block.shape[0]:
            self._block = self.rows(k, k + self.block_rows)
            self._first, i = k, 0
        return self._block[i]


def emit(
    host: Any,
    backend: str,
    system: System,
    options: EmitOptions,
    solver: SolverInfo | None = None,
) -> EmittedFunction:
    """The backend's code for ``system``, to be integrated by ``solver`` (checked with
    :func:`check_solver`). With noise, the drift's code, carrying the diffusion's in
    ``extras["diffusion"]`` and the noisy state positions in ``extras["noise_sources"]``;
    without a solver (``get_run_func`` and others) the plain code, in which a ``xi()`` is an
    :class:`~rates_core.errors.UnsupportedExpressionError`."""
    if solver is not None:
        check_solver(system, host, backend, solver)
    if solver is None or not has_noise(system):
        return host.emit_function(backend, system, options)
    parts = split(system)
    drift = host.emit_function(backend, parts.drift, options)
    diffusion = host.emit_function(
        backend, parts.diffusion, dataclasses.replace(options, file_name=None, auto=False)
    )
    extras = {**drift.extras, "diffusion": diffusion, "noise_sources": parts.sources}
    return dataclasses.replace(drift, extras=extras)
