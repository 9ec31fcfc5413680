"""The conformance suite: :class:`ConformanceSuite`, the tests every rates backend must pass.

Subclass it in a plugin's tests (``class TestMyBackend(ConformanceSuite): backend = "mine"``)
or run it for any installed backend with ``pytest -p rates_core.testing --rates-backend NAME``.
See ``README.md`` next to this module for the rules (capabilities, tolerances, known failures).

The suite drives a backend only through the public API: ``CircuitTemplate.run(...,
backend=..., solver=...)``, ``get_run_func`` and ``get_jacobian_func``.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import importlib.machinery
import importlib.util
import math
import os
import re
import subprocess
import sys
import warnings
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

from rates_core.errors import SolverError
from rates_core.noise import SDE_METHODS
from rates_core.plugins import SolverInfo
from rates_core.testing import library as lib
from rates_core.testing import references as ref
from rates_core.testing.checks import (
    ADAPTIVE_ATOL,
    ADAPTIVE_RTOL,
    FLOAT32,
    ROUNDOFF,
    STRICT,
    Target,
    adaptive_tolerance,
    assert_close,
    backend_calls,
    backend_roots,
    field_references,
    fixed_step,
    forbidden_found,
    imported_modules,
    namespace_modules,
    order_class,
    resolve_target,
    runtime_found,
    solver_options,
    traced_modules,
)

__all__ = ["ConformanceSuite", "ConformanceWarning", "requires", "uses_solvers"]

#: Kinds of solver parametrisation (see :func:`uses_solvers`).
SOLVER_KINDS = ("all", "fixed", "adaptive", "one", "each_fixed")


class ConformanceWarning(UserWarning):
    """A problem with the configuration of a conformance run (e.g. a ``known_failures`` id that
    matches no test)."""


def requires(*capabilities: str) -> Callable[[Callable], Callable]:
    """Marker: the test runs only when the backend (or the solver it runs with) declares every
    one of ``capabilities``; otherwise it is skipped with the missing names as the reason.

    Every test also requires ``execute`` (the backend's runtime is available here).
    """

    def mark(func: Callable) -> Callable:
        func.rates_requires = frozenset(capabilities) | getattr(  # type: ignore[attr-defined]
            func, "rates_requires", frozenset()
        )
        return func

    return mark


def uses_solvers(kind: str) -> Callable[[Callable], Callable]:
    """Marker: parametrise the test's ``solver`` argument over the backend's solvers.

    ``all``: every selected solver; ``fixed``: the fixed-step ones; ``adaptive``: the adaptive
    ones; ``one``: a single solver, the fixed-step one of highest nominal order (else an
    adaptive one); ``each_fixed``: every fixed-step solver (else one adaptive one). When there
    is none of the kind, the test is skipped with that reason.
    """
    if kind not in SOLVER_KINDS:
        raise ValueError(f"solver kind must be one of {SOLVER_KINDS}, not {kind!r}")

    def mark(func: Callable) -> Callable:
        func.rates_solvers = kind  # type: ignore[attr-defined]
        return func

    return mark


def _always(func: Callable) -> Callable:
    func.rates_always = True  # type: ignore[attr-defined]
    return func


@dataclass(frozen=True)
class ModelCase:
    """A model for the Jacobian tests."""

    id: str
    build: Callable[[], Any]
    vectorize: bool = False
    requires: frozenset[str] = field(default_factory=frozenset)

    @property
    def rates_requires(self) -> frozenset[str]:
        return self.requires


def _rate_network_dense() -> Any:
    labels, _, circuit = ref.rate_network_nodes(20)
    return circuit.add_edges_from_matrix("op/r", "op/r_in", labels, weight=_dense_weights(20))


JACOBIAN_MODELS = (
    ModelCase("van_der_pol", ref.van_der_pol_circuit),
    ModelCase("jansen_rit", ref.jansen_rit_circuit),
    ModelCase("summed_edges", ref.summed_edges_circuit),
    ModelCase("rate_network", _rate_network_dense, True, frozenset({"vectorised"})),
)


def _dense_weights(n: int, seed: int = 2) -> np.ndarray:
    rng = np.random.default_rng(seed)
    w = rng.uniform(-1.0, 1.0, (n, n)).round(6)
    w[rng.random((n, n)) < 0.5] = 0.0
    np.fill_diagonal(w, 0.0)
    return w


def _sparse_weights(n: int, k: int, seed: int = 3) -> Any:
    import scipy.sparse as sp

    rng = np.random.default_rng(seed)
    pairs: set[tuple[int, int]] = set()
    while len(pairs) < k:
        t, s = (int(v) for v in rng.integers(0, n, 2))
        if t != s:
            pairs.add((t, s))
    rows, cols = zip(*sorted(pairs))
    values = rng.uniform(0.2, 1.5, k).round(6) * rng.choice([-1.0, 1.0], k)
    return sp.csr_matrix((values, (rows, cols)), shape=(n, n))


def _pattern_matches(pattern: str, name: str, function: str) -> bool:
    """An id of ``known_failures``: a test name (``test_decay[euler]``), a test function name
    (``test_decay``, all its parameters) or a glob with ``*`` / ``?`` (``[`` is literal)."""
    if pattern in (name, function):
        return True
    if "*" in pattern or "?" in pattern:
        return fnmatch.fnmatchcase(name, pattern.replace("[", "[[]"))
    return False


def _known_patterns(known: Mapping[str, Any]) -> list[tuple[str, str]]:
    out = []
    for reason, ids in (known or {}).items():
        for pattern in [ids] if isinstance(ids, str) else list(ids):
            out.append((reason, pattern))
    return out


_TARGETS: dict[tuple, Target] = {}
_KNOWN_CHECKED = pytest.StashKey[set]()


class ConformanceSuite:
    """The tests every rates backend must pass; subclass it with the backend's name.

    Class attributes (all optional but ``backend`` outside ``--rates-backend`` runs):

    ``backend``
        The backend under test. Default: the ``--rates-backend`` option.
    ``solvers``
        Names of the solvers to run (default: ``--rates-solver``, else every solver the plugins
        declare for the backend).
    ``known_failures``
        ``{reason: [test ids]}``: each listed test is a strict xfail (it must fail; if it passes,
        the run fails so the entry gets removed). An id is a test name as pytest shows it inside
        the class (``test_decay[euler]``), a test function name (all its parameters) or a glob
        (``test_function[sign-*]``). An id that matches no test gives a ConformanceWarning.
    ``solver_options``
        ``{solver: {option: value}}``, passed to ``run``; the strings ``"{rtol}"`` / ``"{atol}"``
        are replaced by the tolerances a test asks of an adaptive solver. Default: see
        :data:`rates_core.testing.checks.DEFAULT_SOLVER_OPTIONS`; an adaptive solver not listed
        gets ``rtol`` / ``atol`` (scipy's names).
    ``solver_orders``
        ``{solver: order}`` for fixed-step solvers whose nominal order the suite cannot tell
        from the name (see :func:`rates_core.testing.checks.nominal_order`).
    ``forbidden_modules``
        More modules the backend's generated code and runtime must not use (added to the other
        installed plugins' packages and the other known backends' libraries).
    ``source_language``
        ``"python"``, ``"other"`` or ``"auto"`` (default: Python if the written source parses as
        Python); decides whether the source is re-imported and parsed for imports.
    ``source_suffix``
        Suffix of the file the suite asks ``get_run_func(file_name=...)`` to write.
    ``reimport_function``
        The in-place vector field ``f(t, y, dy, *params)`` a Python source defines: the suite
        passes it to ``get_run_func`` as ``func_name`` (default ``"vector_field"``).
    ``generated_examples`` / ``generated_seed``
        How many random models ``test_generated_models`` draws (default 10) and the seed
        (default 0); the options ``--rates-fuzz N`` and ``--rates-fuzz-seed S`` override them.
    ``vjp``
        Overrides the ``vjp`` of the backend's :class:`~rates_core.plugins.BackendInfo` (which
        is what ``rates conformance`` uses). For backends declaring ``autodiff``:
        ``vjp(func, args, which, cotangent)`` returns,
        for each position ``i`` in ``which``, the gradient of ``sum(cotangent * func(*args))``
        with respect to ``args[i]`` as a NumPy array, computed by the backend's own automatic
        differentiation (``args`` are NumPy values as ``get_run_func`` returns them).
    """

    backend: ClassVar[str | None] = None
    solvers: ClassVar[Sequence[str] | None] = None
    known_failures: ClassVar[Mapping[str, Sequence[str] | str]] = {}
    solver_options: ClassVar[Mapping[str, Mapping[str, Any]]] = {}
    solver_orders: ClassVar[Mapping[str, int]] = {}
    forbidden_modules: ClassVar[Collection[str]] = ()
    source_language: ClassVar[str] = "auto"
    source_suffix: ClassVar[str] = ".py"
    reimport_function: ClassVar[str] = "vector_field"
    vjp: ClassVar[Callable[..., Sequence[Any]] | None] = None
    generated_examples: ClassVar[int] = 10
    generated_seed: ClassVar[int] = 0

    target: Target  # set for every test by the gate fixture

    # ------------------------------------------------------------------ pytest machinery

    @classmethod
    def rates_target(cls, config: Any) -> Target:
        """The backend under test (from the class attributes, else the command line)."""
        backend = cls.backend or _option(config, "rates_backend")
        solvers = cls.solvers or _option(config, "rates_solver") or None
        key = (
            cls,
            backend,
            tuple(solvers or ()),
            tuple(sorted(cls.solver_orders.items())),
            tuple(sorted(cls.forbidden_modules)),
        )
        if key not in _TARGETS:
            _TARGETS[key] = resolve_target(
                backend, solvers, cls.solver_orders, tuple(cls.forbidden_modules)
            )
        return _TARGETS[key]

    def pytest_generate_tests(self, metafunc: Any) -> None:
        if "case" in metafunc.fixturenames:
            metafunc.parametrize("case", ref.FUNCTION_CASES, ids=[c.id for c in ref.FUNCTION_CASES])
        if "model" in metafunc.fixturenames:
            metafunc.parametrize("model", JACOBIAN_MODELS, ids=[m.id for m in JACOBIAN_MODELS])
        if "entry" in metafunc.fixturenames:
            ids = [f"{e.file}.{e.template}" for e in lib.LIBRARY]
            metafunc.parametrize("entry", lib.LIBRARY, ids=ids)
        if "solver" not in metafunc.fixturenames:
            return
        target = metafunc.cls.rates_target(metafunc.config)
        kind = getattr(metafunc.function, "rates_solvers", "all")
        if kind == "fixed":
            chosen: tuple[SolverInfo, ...] = target.fixed
        elif kind == "adaptive":
            chosen = target.adaptive
        elif kind == "one" or (kind == "each_fixed" and not target.fixed):
            best = target.best()
            chosen = (best,) if best is not None else ()
        elif kind == "each_fixed":
            chosen = target.fixed
        else:
            chosen = target.solvers
        if chosen:
            metafunc.parametrize("solver", chosen, ids=[s.name for s in chosen])
            return
        if target.problem:
            reason = f"backend {target.backend!r} cannot be tested: {target.problem}"
        else:
            what = {"one": "", "all": "", "each_fixed": ""}.get(kind, f"{kind} ")
            reason = f"backend {target.backend!r} has no {what}solver"
        metafunc.parametrize(
            "solver",
            [pytest.param(None, marks=pytest.mark.skip(reason=reason))],
            ids=[f"no_{kind}_solver" if kind not in ("one", "all", "each_fixed") else "no_solver"],
        )

    @pytest.fixture(autouse=True)
    def _rates_gate(
        self,
        request: pytest.FixtureRequest,
        monkeypatch: pytest.MonkeyPatch,
        tmp_path_factory: pytest.TempPathFactory,
    ) -> None:
        """Private compile cache, known failures (strict xfail), capability gating (skip)."""
        cls = type(self)
        monkeypatch.setenv("RATES_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "rates-cache"))
        self.target = cls.rates_target(request.config)
        node = request.node
        self._check_known_failures(request)
        function = getattr(node, "originalname", node.name)
        for reason, pattern in _known_patterns(cls.known_failures):
            if _pattern_matches(pattern, node.name, function):
                request.applymarker(
                    pytest.mark.xfail(reason=f"known failure: {reason}", strict=True)
                )
                break
        if getattr(node.function, "rates_always", False):
            return
        target = self.target
        if target.problem:
            pytest.skip(f"backend {target.backend!r} cannot be tested: {target.problem}")
        params = dict(getattr(getattr(node, "callspec", None), "params", {}) or {})
        solver = params.get("solver")
        needs = {"execute"} | set(getattr(node.function, "rates_requires", ()))
        for value in params.values():
            needs |= set(getattr(value, "rates_requires", ()))
        missing = target.missing(needs, solver)
        if missing:
            where = f"backend {target.backend!r}" + (
                f" or solver {solver.name!r}" if solver is not None else ""
            )
            names = ", ".join(repr(m) for m in missing)
            pytest.skip(f"capability {names} not declared by {where}")

    def _check_known_failures(self, request: pytest.FixtureRequest) -> None:
        """Warn (once per class and session) about known_failures ids that match no test."""
        cls = type(self)
        checked = request.config.stash.setdefault(_KNOWN_CHECKED, set())
        if cls in checked or not cls.known_failures:
            return
        checked.add(cls)
        option = request.config.option
        narrowed = (
            getattr(option, "keyword", "")
            or getattr(option, "markexpr", "")
            or getattr(option, "deselect", None)
            or any("::" in str(a) for a in request.config.args)
        )
        if narrowed:  # only part of the suite was collected: cannot tell
            return
        names = [
            (item.name, getattr(item, "originalname", item.name))
            for item in request.session.items
            if getattr(item, "cls", None) is cls
        ]
        for reason, pattern in _known_patterns(cls.known_failures):
            if not any(_pattern_matches(pattern, n, f) for n, f in names):
                warnings.warn(
                    ConformanceWarning(
                        f"{cls.__name__}.known_failures: {pattern!r} ({reason}) matches no test "
                        "of the suite; remove it or fix the id"
                    ),
                    stacklevel=2,
                )

    # ------------------------------------------------------------------ helpers

    @property
    def _backend(self) -> str:
        assert self.target.backend is not None
        return self.target.backend

    def _options(self, solver: SolverInfo, rtol: float = ADAPTIVE_RTOL) -> dict[str, Any]:
        return solver_options(solver, type(self).solver_options, rtol, ADAPTIVE_ATOL)

    def _step(self, problem: str, solver: SolverInfo, adaptive_dt: float) -> tuple[float, float]:
        """(step size, tolerance) of ``problem`` for ``solver``."""
        if solver.adaptive:
            return adaptive_dt, adaptive_tolerance(problem)
        s = fixed_step(problem, self.target.order(solver))
        return s.dt, s.tol

    def _run(
        self,
        circuit: Any,
        T: float,
        dt: float,
        solver: SolverInfo,
        outputs: Mapping[str, str],
        rows: int = 50,
        **kwargs: Any,
    ) -> Any:
        """``circuit.run`` with about ``rows`` output rows (a whole multiple of ``dt`` apart)."""
        every = max(1, round(T / rows / dt))
        kwargs.setdefault("sampling_step_size", every * dt)
        return circuit.run(
            T,
            dt,
            outputs=dict(outputs),
            solver=solver.name,
            backend=self._backend,
            **kwargs,
            **self._options(solver),
        )

    def _reference_problem(
        self,
        problem: str,
        circuit: Any,
        outputs: Mapping[str, str],
        expected: Callable[[np.ndarray], np.ndarray],
        T: float,
        solver: SolverInfo,
        adaptive_dt: float = 0.01,
        **kwargs: Any,
    ) -> Any:
        dt, tol = self._step(problem, solver, adaptive_dt)
        frame = self._run(circuit, T, dt, solver, outputs, **kwargs)
        times = frame.index.to_numpy()
        want = np.asarray(expected(times))
        got = frame[list(outputs)].to_numpy()
        assert_close(
            got,
            want.reshape(got.shape),
            tol,
            f"{problem} with {solver.name} (dt={dt:g})",
            times,
            list(outputs),
        )
        return frame

    def _python_source(self, source: str) -> bool:
        language = type(self).source_language
        if language != "auto":
            return language == "python"
        try:
            compile(source, "<emitted>", "exec", dont_inherit=True)
        except (SyntaxError, ValueError):
            return False
        return True

    def _run_func(self, circuit: Any, **kwargs: Any) -> tuple[Any, tuple, list[str], dict]:
        """get_run_func of the backend under test; its generated field is named
        ``reimport_function`` (get_run_func's ``func_name``)."""
        name = type(self).reimport_function
        return circuit.get_run_func(name, 1e-3, backend=self._backend, **kwargs)

    @staticmethod
    def _call(func: Any, args: tuple, t: float, y: np.ndarray) -> np.ndarray:
        """The in-place field of ``get_run_func`` at (t, y) with its own parameters."""
        dy = np.zeros_like(np.asarray(args[2]))
        return np.asarray(func(t, y, dy, *args[3:]))

    # ------------------------------------------------------------------ the backend

    @_always
    def test_backend_declared(self) -> None:
        """The backend is installed once, its capabilities and solvers make sense."""
        target = self.target
        assert target.problem is None, target.problem
        assert target.solvers, f"backend {target.backend!r} has no solvers (register_solvers)"
        if "adaptive" in target.capabilities:
            assert target.adaptive, (
                f"backend {target.backend!r} declares 'adaptive' but none of its solvers is "
                "adaptive (SolverInfo.adaptive)"
            )

    def test_registration_is_light(self) -> None:
        """Discovering the plugins imports neither the backend's runtime nor sympy, scipy or
        pandas: registration runs in every rates process, whichever backend it uses (torch
        alone cost rates-numpy's users 1.7 s and 220 MiB per process)."""
        info = self.target.info
        heavy = {module.split(".")[0] for module in (info.runtime_modules if info else ())}
        heavy = (heavy - {"numpy", "ctypes"}) | {"sympy", "scipy", "pandas"}
        code = (
            "import sys; from rates_core.plugins import default_host; default_host(); "
            "print(' '.join(sorted(sys.modules)))"
        )
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr[-2000:]
        loaded = {name.split(".")[0] for name in done.stdout.split()}
        assert not heavy & loaded, (
            f"discovering the plugins imports {sorted(heavy & loaded)}: import them inside the "
            "hook bodies that compute, and find capabilities without them"
        )

    # ------------------------------------------------------------------ reference problems

    @uses_solvers("all")
    def test_decay(self, solver: SolverInfo) -> None:
        """x' = -k x against x0 exp(-k t)."""
        d = ref.DECAY
        self._reference_problem(
            "decay", ref.decay_circuit(), {"x": "n/op/x"}, ref.decay_exact, d["T"], solver
        )

    @uses_solvers("fixed")
    def test_decay_one_step_map(self, solver: SolverInfo) -> None:
        """x' = -k x with dt = 0.1: an explicit Runge-Kutta method with as many stages as its
        order p <= 4 multiplies x by sum_{j<=p} (-k dt)^j / j! per step, up to rounding."""
        order = self.target.order(solver)
        if order is None or order > 4:
            pytest.skip(
                f"the one-step map of {solver.name!r} is not known (nominal order "
                f"{order or 'unknown'}; it is known for orders 1-4 by name or solver_orders)"
            )
        d, dt = ref.DECAY, 0.1
        frame = self._run(ref.decay_circuit(), d["T"], dt, solver, {"x": "n/op/x"}, rows=20)
        n = np.rint(frame.index.to_numpy() / dt)
        want = d["x0"] * ref.explicit_rk_factor(-d["k"] * dt, order) ** n
        assert_close(frame["x"].to_numpy(), want, ROUNDOFF * 100, f"one-step map of {solver.name}")

    @uses_solvers("all")
    def test_sampling_convention(self, solver: SolverInfo) -> None:
        """Rows at k * sampling_step for k = 0 .. round(T / sampling_step) - 1; row 0 is the
        initial state; T itself is not a row."""
        dt = 1e-2
        frame = ref.decay_circuit().run(
            1.0,
            dt,
            outputs={"x": "n/op/x"},
            sampling_step_size=5 * dt,
            solver=solver.name,
            backend=self._backend,
            **self._options(solver),
        )
        times = frame.index.to_numpy()
        assert len(times) == 20, f"{len(times)} rows instead of 20 (T = 1, sampling 0.05)"
        np.testing.assert_allclose(times, np.arange(20) * 5 * dt, rtol=0, atol=1e-12)
        assert frame["x"].iloc[0] == ref.DECAY["x0"], "row 0 must be the initial state"

    @uses_solvers("all")
    def test_harmonic_oscillator(self, solver: SolverInfo) -> None:
        """x' = v, v' = -omega^2 x over one period against cos / sin."""
        self._reference_problem(
            "harmonic",
            ref.harmonic_circuit(),
            {"x": "n/op/x", "v": "n/op/v"},
            ref.harmonic_exact,
            ref.HARMONIC["T"],
            solver,
        )

    @uses_solvers("all")
    def test_logistic(self, solver: SolverInfo) -> None:
        """x' = r x (1 - x / K) against K / (1 + (K / x0 - 1) exp(-r t))."""
        self._reference_problem(
            "logistic",
            ref.logistic_circuit(),
            {"x": "n/op/x"},
            ref.logistic_exact,
            ref.LOGISTIC["T"],
            solver,
        )

    @uses_solvers("all")
    def test_van_der_pol(self, solver: SolverInfo) -> None:
        """Van der Pol (mu = 1) against SciPy DOP853 at rtol 1e-12."""
        self._reference_problem(
            "van_der_pol",
            ref.van_der_pol_circuit(),
            {"x": "n/op/x", "v": "n/op/v"},
            ref.van_der_pol_reference,
            ref.VAN_DER_POL["T"],
            solver,
        )

    @uses_solvers("all")
    def test_lorenz_short_time(self, solver: SolverInfo) -> None:
        """Lorenz (sigma 10, rho 28, beta 8/3) for 0.5 time units against SciPy DOP853."""
        self._reference_problem(
            "lorenz",
            ref.lorenz_circuit(),
            {"x": "n/op/x", "y": "n/op/yv", "z": "n/op/z"},
            ref.lorenz_reference,
            ref.LORENZ["T"],
            solver,
            adaptive_dt=0.005,
        )

    @uses_solvers("all")
    def test_jansen_rit(self, solver: SolverInfo) -> None:
        """rates_core.models.jansenrit.JRC against the same equations hand-written for
        SciPy's solve_ivp (DOP853, rtol 1e-12)."""
        outputs = {p.replace("/", "_"): p for p in ref.JANSEN_RIT_PATHS}
        self._reference_problem(
            "jansen_rit",
            ref.jansen_rit_circuit(),
            outputs,
            ref.jansen_rit_reference,
            ref.JANSEN_RIT_T,
            solver,
            adaptive_dt=1e-3,
        )

    @uses_solvers("fixed")
    def test_convergence_order(self, solver: SolverInfo) -> None:
        """x' = x cos(t) with dt, dt/2, dt/4: the error falls like dt^p, p the nominal order
        (from the solver's name, SolverInfo.order, its description or solver_orders)."""
        order, dts = self._order_steps(solver)
        T, errors = ref.CONVERGENCE["T"], []
        for dt in dts:
            frame = self._run(
                ref.convergence_circuit(), T, dt, solver, {"x": "n/op/x"}, sampling_step_size=0.4
            )
            x = frame["x"].to_numpy()
            errors.append(float(np.max(np.abs(x - ref.convergence_exact(frame.index.to_numpy())))))
        self._assert_order(solver, order, dts, errors)

    def _order_steps(self, solver: SolverInfo) -> tuple[int, list[float]]:
        """The nominal order of a fixed-step solver (skip when unknown) and the three steps
        an order test runs (each divides 0.4 a whole number of times)."""
        order = self.target.order(solver)
        if order is None:
            pytest.skip(
                f"nominal order of {solver.name!r} unknown: name it after its method (euler, "
                "heun, rk4, ...), say 'order <p>' in its description or set solver_orders"
            )
        base = {1: 0.02, 2: 0.1, 3: 0.1}.get(order, 0.2)
        return order, [base, base / 2, base / 4]

    @staticmethod
    def _assert_order(
        solver: SolverInfo, order: int, dts: Sequence[float], errors: Sequence[float]
    ) -> None:
        """The slope of log(error) over log(dt) is within 0.35 of ``order``."""
        if errors[-1] < 1e-13:
            pytest.skip(f"errors at rounding level ({errors}): the order cannot be measured")
        observed = float(np.polyfit(np.log(dts), np.log(errors), 1)[0])
        assert abs(observed - order) <= 0.35, (
            f"{solver.name}: observed order {observed:.2f}, nominal {order} "
            f"(errors {', '.join(f'{e:.3g}' for e in errors)} at dt {list(dts)})"
        )

    # ------------------------------------------------------------------ finite numbers

    @uses_solvers("fixed")
    def test_blow_up_is_an_error(self, solver: SolverInfo) -> None:
        """x' = x^2 blows up at t = 1: run() raises a SolverError naming the time and the
        variable (n/op/x) where the state stopped being finite, unless
        on_nonfinite="continue", which returns the non-finite rows."""
        from rates_core.errors import SolverError

        circuit, outputs = ref.blow_up_circuit(), {"x": "n/op/x"}
        with pytest.raises(SolverError, match=r"stopped being finite at t=[0-9.]+.*n/op/x"):
            self._run(circuit, 2.0, 0.01, solver, outputs, rows=200)
        frame = self._run(circuit, 2.0, 0.01, solver, outputs, rows=200, on_nonfinite="continue")
        x = frame["x"].to_numpy()
        assert np.isfinite(x[0]) and not np.isfinite(x[-1]), x[[0, -1]]
        with pytest.raises(SolverError, match="on_nonfinite must be one of"):
            self._run(circuit, 2.0, 0.01, solver, outputs, on_nonfinite="contineu")

    @uses_solvers("adaptive")
    def test_nonfinite_derivative_is_an_error(self, solver: SolverInfo) -> None:
        """x' = (x^2 - 1) / (x - 1) at x0 = 1 is NaN: an adaptive solver raises a SolverError
        naming n/op/x (instead of shrinking its step forever or failing obscurely)."""
        from rates_core.errors import SolverError

        with pytest.raises(SolverError, match="n/op/x"):
            self._run(ref.nonfinite_field_circuit(), 1.0, 0.01, solver, {"x": "n/op/x"})

    # ------------------------------------------------------------------ state and inputs

    @uses_solvers("all")
    def test_initial_state_last(self, solver: SolverInfo) -> None:
        """run(T1) then run(T2, initial_state="last") continues where the first run ended; a
        run without it starts again from the template's initial state."""
        dt, tol = self._step("van_der_pol", solver, 0.01)
        tol = STRICT if not solver.adaptive else tol
        outputs = {"x": "n/op/x", "v": "n/op/v"}
        whole = self._run(ref.van_der_pol_circuit(), 2.0, dt, solver, outputs, rows=40)
        circuit = ref.van_der_pol_circuit()
        first = self._run(circuit, 1.0, dt, solver, outputs, rows=20)
        assert circuit.state, "run() did not record the final state of the template"
        second = self._run(circuit, 1.0, dt, solver, outputs, rows=20, initial_state="last")
        again = self._run(circuit, 1.0, dt, solver, outputs, rows=20)
        n = len(first)
        assert_close(first.to_numpy(), whole.to_numpy()[:n], tol, "first half", names=outputs)
        assert_close(second.to_numpy(), whole.to_numpy()[n:], tol, "continued run", names=outputs)
        assert_close(again.to_numpy(), first.to_numpy(), STRICT, "a fresh run", names=outputs)

    @uses_solvers("all")
    def test_step_input(self, solver: SolverInfo) -> None:
        """x' = -x / tau + u with a unit step of u at t1 against tau (1 - exp(-(t - t1) / tau))
        (one input row per step; adaptive solvers interpolate the rows linearly)."""
        dt, tol = self._step("step_input", solver, 1e-3)
        T, t1 = 2.0, 0.5
        k = np.arange(round(T / dt))
        u = (k >= round(t1 / dt)).astype(float)
        frame = self._run(
            ref.leaky_integrator_circuit(), T, dt, solver, {"x": "n/op/x"}, inputs={"n/op/u": u}
        )
        times = frame.index.to_numpy()
        assert_close(
            frame["x"].to_numpy(), ref.step_response(times, t1), tol, "step response", times
        )

    @uses_solvers("fixed")
    def test_input_rows_per_step(self, solver: SolverInfo) -> None:
        """x' = u: every stage of step k sees input row k, so a fixed-step solver integrates the
        rows exactly: x(k dt) = dt * (u_0 + ... + u_{k-1})."""
        dt, T = 0.01, 1.0
        k = np.arange(round(T / dt))
        u = np.sin(3.0 * k * dt) + 0.5
        frame = self._run(
            ref.integrator_network(1),
            T,
            dt,
            solver,
            {"x": "p0/op/x"},
            sampling_step_size=dt,
            inputs={"p0/op/u": u},
        )
        want = np.concatenate([[0.0], dt * np.cumsum(u)[:-1]])
        assert_close(frame["x"].to_numpy(), want, ROUNDOFF * 100, "integrated input rows")

    @uses_solvers("adaptive")
    def test_input_interpolated(self, solver: SolverInfo) -> None:
        """x' = u with rows of u = 2t every 0.1: adaptive solvers interpolate the rows linearly,
        so x = t^2."""
        dt, T = 0.1, 2.0
        u = 2.0 * np.arange(round(T / dt)) * dt
        frame = self._run(
            ref.integrator_network(1), T, dt, solver, {"x": "p0/op/x"}, inputs={"p0/op/u": u}
        )
        times = frame.index.to_numpy()
        assert_close(frame["x"].to_numpy(), times**2, 1e-8, "integral of 2t", times)

    def _columns(self, n: int, solver: SolverInfo) -> Any:
        dt, T = (0.01, 1.0) if not solver.adaptive else (0.05, 1.0)
        steps = round(T / dt)
        t = np.arange(steps) * dt
        a = np.linspace(-1.0, 2.0, n)
        b = np.linspace(3.0, -1.0, n)
        u = a[None, :] + b[None, :] * t[:, None]
        circuit = ref.integrator_network(n)
        outputs = {f"x{i}": f"p{i}/op/x" for i in range(n)}
        frame = self._run(
            circuit, T, dt, solver, outputs, sampling_step_size=dt * 5, inputs={"all/op/u": u}
        )
        times = frame.index.to_numpy()
        if solver.adaptive:
            want = a[None, :] * times[:, None] + b[None, :] * times[:, None] ** 2 / 2
            tol = 1e-8
        else:
            cums = np.vstack([np.zeros(n), dt * np.cumsum(u, axis=0)])
            want = cums[np.rint(times / dt).astype(int)]
            tol = ROUNDOFF * 100
        assert_close(frame[list(outputs)].to_numpy(), want, tol, "per-node input columns", times)
        return frame

    @uses_solvers("one")
    def test_input_per_node_columns(self, solver: SolverInfo) -> None:
        """``inputs={"all/op/u": array(steps, nodes)}``: column i drives node i."""
        self._columns(2, solver)

    @requires("vectorised")
    @uses_solvers("each_fixed")
    def test_input_per_node_columns_vectorised(self, solver: SolverInfo) -> None:
        """Per-node input columns into a vectorised population of 40 nodes."""
        frame = self._columns(40, solver)
        assert frame.attrs.get("vectorized"), "the network was not simulated vectorised"

    # ------------------------------------------------------------------ networks

    def _network_field(self, circuit: Any, etas: np.ndarray, r_in: Callable, n: int) -> None:
        func, args, keys, idx = self._run_func(circuit, vectorize=True)
        rng = np.random.default_rng(7)
        y = rng.uniform(-0.5, 1.0, np.asarray(args[1]).size)
        order = [idx[f"p{i}/op/r"] for i in range(n)] + [idx[f"p{i}/op/a"] for i in range(n)]
        dy = self._call(func, args, 0.0, y)
        ours = y[order]
        want = ref.rate_network_field(ours, etas, r_in(ours[:n]), n)
        assert_close(dy[order], want, STRICT, "network vector field")

    def _vectorised_vs_flat(self, circuit: Any, n: int, solver: SolverInfo) -> None:
        # the same solver on the same equations: fixed-step runs agree to rounding
        dt, tol = (0.01, adaptive_tolerance("van_der_pol")) if solver.adaptive else (1e-3, STRICT)
        outputs = {f"r{i}": f"p{i}/op/r" for i in range(n)}
        outputs.update({f"a{i}": f"p{i}/op/a" for i in range(n)})
        vec = self._run(circuit, 0.5, dt, solver, outputs, rows=10, vectorize=True)
        flat = self._run(circuit, 0.5, dt, solver, outputs, rows=10, vectorize=False)
        assert vec.attrs.get("vectorized"), "the network was not simulated vectorised"
        assert not flat.attrs.get("vectorized"), "vectorize=False still vectorised the network"
        assert_close(
            vec.to_numpy(),
            flat.to_numpy(),
            tol,
            "vectorised vs unvectorised",
            vec.index.to_numpy(),
            list(outputs),
        )
        assert np.ptp(vec.to_numpy()[:, 0]) > 1e-3, "the network does not move"

    @requires("vectorised")
    @uses_solvers("each_fixed")
    def test_vectorised_matches_unvectorised(self, solver: SolverInfo) -> None:
        """20 rate units, dense coupling: vectorize=True and False give the same numbers."""
        self._vectorised_vs_flat(_rate_network_dense(), 20, solver)

    @requires("vectorised")
    def test_dense_coupling(self) -> None:
        """The vectorised field of 20 units with a dense weight matrix equals W @ r by hand."""
        labels, etas, circuit = ref.rate_network_nodes(20)
        w = _dense_weights(20)
        circuit = circuit.add_edges_from_matrix("op/r", "op/r_in", labels, weight=w)
        self._network_field(circuit, etas, lambda r: w @ r, 20)

    @requires("vectorised")
    @uses_solvers("each_fixed")
    def test_sparse_coupling(self, solver: SolverInfo) -> None:
        """20 units, 30 connections (a sparse matrix): field equals W @ r, runs agree with the
        unvectorised network."""
        labels, etas, circuit = ref.rate_network_nodes(20)
        w = _sparse_weights(20, 30)
        circuit = circuit.add_edges_from_matrix("op/r", "op/r_in", labels, weight=w)
        self._network_field(circuit, etas, lambda r: w @ r, 20)
        self._vectorised_vs_flat(circuit, 20, solver)

    @requires("vectorised")
    @uses_solvers("each_fixed")
    def test_index_coupling(self, solver: SolverInfo) -> None:
        """20 units, unit i fed by unit perm[i] with weight w_i (an index gather): field equals
        w * r[perm], runs agree with the unvectorised network."""
        labels, etas, circuit = ref.rate_network_nodes(20)
        rng = np.random.default_rng(5)
        perm = rng.permutation(20)
        w = rng.uniform(0.5, 1.5, 20).round(6)
        edges = [
            [f"p{perm[i]}/op/r", f"p{i}/op/r_in", None, {"weight": float(w[i])}] for i in range(20)
        ]
        circuit = circuit.add_edges(edges)
        self._network_field(circuit, etas, lambda r: w * r[perm], 20)
        self._vectorised_vs_flat(circuit, 20, solver)

    @uses_solvers("one")
    def test_summed_edges(self, solver: SolverInfo) -> None:
        """Edges into one input variable are summed (two parallel edges too): the field is A y,
        the solution expm(A t) y0."""
        from scipy.linalg import expm

        circuit = ref.summed_edges_circuit()
        a, x0 = ref.summed_edges_matrix()
        func, args, keys, idx = self._run_func(circuit)
        order = [idx[f"{n}/op/x"] for n in "abc"]
        y = np.zeros(np.asarray(args[1]).size)
        y[order] = [0.3, -1.1, 0.7]
        assert_close(self._call(func, args, 0.0, y)[order], a @ y[order], STRICT, "field A y")
        dt, tol = self._step("linear_network", solver, 0.01)
        outputs = {n: f"{n}/op/x" for n in "abc"}
        frame = self._run(circuit, 2.0, dt, solver, outputs)
        times = frame.index.to_numpy()
        want = np.array([expm(a * t) @ x0 for t in times])
        assert_close(frame[list(outputs)].to_numpy(), want, tol, "expm(A t) y0", times, "abc")

    @uses_solvers("all")
    def test_edge_template(self, solver: SolverInfo) -> None:
        """A low-pass EdgeTemplate on an edge (its tau set by an edge attribute, weight 2)
        against the hand-written three-state system."""
        self._reference_problem(
            "edge_template",
            ref.edge_template_circuit(),
            {"x": "src/op/x", "w": "tgt/op/w"},
            ref.edge_template_reference,
            3.0,
            solver,
        )

    # ------------------------------------------------------------------ the model library

    @uses_solvers("each_fixed")
    def test_model_library(self, entry: Any, solver: SolverInfo) -> None:
        """Every template of rates_core.models (operators and nodes in a one-node circuit) runs
        100 steps of 1e-3 and meets the reference: rates-numpy unvectorised with SciPy DOP853
        at rtol 1e-12. A fixed-step solver may be ERROR_FACTOR (10) times less accurate than
        rates-numpy's method of its order class (euler, heun, rk4) on the same model, at least
        1e-9; adaptive solvers 1e-7 (relative to each variable's largest magnitude). Complex
        and delayed models need the capability."""
        needs = lib.library_needs(lib.library_circuit(entry))
        missing = self.target.missing(needs, solver)
        if missing:
            pytest.skip(f"{entry.reference} needs {', '.join(missing)}")
        frame = lib.library_run(entry, self._backend, solver.name, self._options(solver))
        assert len(frame) == lib.LIBRARY_STEPS, f"{len(frame)} rows instead of {lib.LIBRARY_STEPS}"
        try:
            reference = lib.library_reference(entry)
        except Exception as exc:  # the reference backend is not installed here
            pytest.skip(f"no reference run of {entry.reference} on rates-numpy: {exc}")
        assert list(frame.columns) == list(reference.columns), (
            f"{entry.reference}: columns {list(frame.columns)}, expected {list(reference.columns)}"
        )
        kind = None if solver.adaptive else order_class(self.target.order(solver))
        tol = lib.library_tolerance(entry, kind)
        assert_close(
            frame.to_numpy(),
            reference.to_numpy(),
            tol,
            f"{entry.reference} with {solver.name}",
            frame.index.to_numpy(),
            [str(c) for c in frame.columns],
            scale=lib.library_scale(reference),
        )

    # ------------------------------------------------------------------ white noise (SDEs)

    def _sde_final(
        self, circuit: Any, T: float, n_steps: int, method: str, increments: Any = None, **kw: Any
    ) -> np.ndarray:
        """``x`` of every node ``p<i>`` of ``circuit`` at ``T``, after ``n_steps`` steps of
        the SDE method ``method`` (driven by ``increments``, one column per node, if given)."""
        if increments is not None:
            kw["wiener_increments"] = increments
        circuit.run(
            T,
            T / n_steps,
            outputs={"x": "p0/op/x"},
            sampling_step_size=T,
            solver=method,
            backend=self._backend,
            **kw,
        )
        return np.array([circuit.state[f"p{i}/op/x"] for i in range(len(circuit.nodes))])

    @staticmethod
    def _observed_order(steps: Sequence[int], errors: Sequence[float]) -> float:
        """The slope of log(error) against log(dt) (least squares over the levels)."""
        return float(-np.polyfit(np.log(steps), np.log(errors), 1)[0])

    @requires("sde", "vectorised")
    @pytest.mark.parametrize("method", SDE_METHODS)
    def test_sde_ou_variance(self, method: str) -> None:
        """x' = -x/tau + sigma xi() (Ornstein-Uhlenbeck) in 1000 units: the variance over units
        and times after 6 tau is sigma^2 tau / 2, within 8 % (the estimate's standard error is
        about 2 %, the bias of dt / tau = 0.004 about 0.2 %); seed 3, and the same seed gives
        the same numbers."""
        n, tau, sigma, T, dt = 1000, 0.25, 1.0, 5.0, 1e-3
        circuit = ref.sde_population(n, "x' = -x/tau + sigma*xi()", x0=0.0, tau=tau, sigma=sigma)
        frame = circuit.run(
            T,
            dt,
            outputs={f"x{i}": f"p{i}/op/x" for i in range(n)},
            sampling_step_size=0.05,
            solver=method,
            backend=self._backend,
            seed=3,
        )
        again = circuit.run(
            T,
            dt,
            outputs={"x7": "p7/op/x"},
            sampling_step_size=0.05,
            solver=method,
            backend=self._backend,
            seed=3,
        )
        np.testing.assert_array_equal(
            again["x7"].to_numpy(), frame["x7"].to_numpy(), err_msg="the same seed differs"
        )
        x = frame.loc[frame.index >= 6 * tau].to_numpy().real
        want = sigma**2 * tau / 2
        got = float(np.var(x))
        assert abs(got / want - 1) < 0.08, (
            f"{method}: stationary variance {got:.4f}, expected sigma^2 tau / 2 = {want:.4f}"
        )

    @requires("sde", "vectorised")
    def test_sde_strong_order_euler_maruyama(self) -> None:
        """Geometric Brownian motion x' = mu x + s x xi() (Ito) over 1000 paths, Wiener paths
        given (wiener_increments, seed 7): the mean error at T = 1 against the exact
        x0 exp((mu - s^2/2) T + s W_T) falls with order 0.5 (0.35 .. 0.7) for 16 .. 128 steps."""
        n, mu, s, T = 1000, 1.5, 1.0, 1.0
        circuit = ref.sde_population(n, "x' = mu*x + s*x*xi()", mu=mu, s=s)
        fine = ref.brownian_increments(256, n, T, seed=7)
        exact = np.exp((mu - s**2 / 2) * T + s * fine.sum(axis=0))
        steps = [16, 32, 64, 128]
        errors = []
        for k in steps:
            x = self._sde_final(
                circuit, T, k, "euler_maruyama", ref.coarse_increments(fine, 256 // k)
            )
            errors.append(float(np.mean(np.abs(x.real - exact))))
        order = self._observed_order(steps, errors)
        assert 0.35 < order < 0.7, f"euler_maruyama: strong order {order:.2f} (errors {errors})"

    @requires("sde", "vectorised")
    def test_sde_weak_order_euler_maruyama(self) -> None:
        """E[x_T] of geometric Brownian motion (mu = 1, s = 0.2, 20000 paths, the same Wiener
        paths at every step size, seed 8) approaches x0 exp(mu T) with order 1 (0.8 .. 1.25)
        for 4 .. 32 steps (the Monte Carlo error of the mean, about 0.004, is a tenth of the
        smallest bias)."""
        n, mu, s, T = 20000, 1.0, 0.2, 1.0
        circuit = ref.sde_population(n, "x' = mu*x + s*x*xi()", mu=mu, s=s)
        fine = ref.brownian_increments(32, n, T, seed=8)
        steps = [4, 8, 16, 32]
        errors = []
        for k in steps:
            x = self._sde_final(
                circuit, T, k, "euler_maruyama", ref.coarse_increments(fine, 32 // k)
            )
            errors.append(abs(float(np.mean(x.real)) - math.exp(mu * T)))
        order = self._observed_order(steps, errors)
        assert 0.8 < order < 1.25, f"euler_maruyama: weak order {order:.2f} (errors {errors})"

    @requires("sde", "vectorised")
    def test_sde_heun_stratonovich(self) -> None:
        """heun_stochastic on x' = mu x + s x xi() converges to the Stratonovich solution
        x0 exp(mu T + s W_T) with strong order 1 (0.8 .. 1.3; 1000 paths, 16 .. 128 steps,
        given Wiener paths, seed 9)."""
        n, mu, s, T = 1000, 1.5, 1.0, 1.0
        circuit = ref.sde_population(n, "x' = mu*x + s*x*xi()", mu=mu, s=s)
        fine = ref.brownian_increments(256, n, T, seed=9)
        exact = np.exp(mu * T + s * fine.sum(axis=0))
        steps = [16, 32, 64, 128]
        errors = []
        for k in steps:
            x = self._sde_final(
                circuit, T, k, "heun_stochastic", ref.coarse_increments(fine, 256 // k)
            )
            errors.append(float(np.mean(np.abs(x.real - exact))))
        order = self._observed_order(steps, errors)
        assert 0.8 < order < 1.3, f"heun_stochastic: strong order {order:.2f} (errors {errors})"

    @requires("sde", "vectorised")
    def test_sde_heun_additive(self) -> None:
        """heun_stochastic on additive noise, x' = -lam x + sigma xi() (1000 paths, seed 10):
        strong order 1 (0.8 .. 1.3) for 8 .. 64 steps against the exact
        x0 e^(-lam T) + sigma int e^(-lam (T - u)) dW(u), the integral summed over 4096
        sub-steps of the same paths (its error is about 2 % of the smallest one measured)."""
        n, lam, sigma, T = 1000, 2.0, 1.0, 1.0
        circuit = ref.sde_population(n, "x' = -lam*x + sigma*xi()", lam=lam, sigma=sigma)
        fine = ref.brownian_increments(4096, n, T, seed=10)
        h = T / 4096
        weights = np.exp(-lam * (T - (np.arange(4096) + 0.5) * h))
        exact = math.exp(-lam * T) + sigma * weights @ fine
        steps = [8, 16, 32, 64]
        errors = []
        for k in steps:
            x = self._sde_final(
                circuit, T, k, "heun_stochastic", ref.coarse_increments(fine, 4096 // k)
            )
            errors.append(float(np.mean(np.abs(x.real - exact))))
        order = self._observed_order(steps, errors)
        assert 0.8 < order < 1.3, f"heun_stochastic: strong order {order:.2f} (errors {errors})"

    @requires("sde", "sde_delays", "vectorised")
    @pytest.mark.parametrize("method", SDE_METHODS)
    def test_sde_delays_hand_loop(self, method: str) -> None:
        """dx = (-x + a x(t - tau)) dt + s dW with tau = 20 steps, given Wiener increments
        (5 paths, seed 4, vectorised and not): every sample equals a hand-written loop of the
        method (the pre-history is x0) to 1e-12."""
        n, T, dt, a, s, tau = 5, 1.0, 0.01, 0.5, 0.7, 0.2
        circuit = ref.sde_population(n, "x' = -x + a*past(x, tau) + s*xi()", a=a, s=s, tau=tau)
        increments = ref.brownian_increments(100, n, T, seed=4)
        want = ref.delayed_sde_loop(method, 1.0, a, s, 20, dt, increments)[:100]
        for vectorize in (True, False):
            frame = circuit.run(
                T,
                dt,
                outputs={f"x{i}": f"p{i}/op/x" for i in range(n)},
                solver=method,
                backend=self._backend,
                wiener_increments=increments,
                vectorize=vectorize,
            )
            assert_close(frame.to_numpy().real, want, ROUNDOFF, f"{method} with a delay", scale=1.0)

    @requires("sde", "sde_delays", "vectorised")
    @pytest.mark.parametrize("method", SDE_METHODS)
    def test_sde_delays_ou_variance(self, method: str) -> None:
        """dx = (-x + b x(t - tau)) dt + sigma dW (b = 0.5, tau = 0.5) in 1000 units: the
        variance over units and times after t = 3 is the stationary variance of the delayed
        Ornstein-Uhlenbeck process, 0.820 (:func:`~rates_core.testing.references.
        delayed_ou_variance`; 0.5 without the delay), within 8 % (standard error about 3 %);
        seed 5."""
        n, b, tau, sigma, T, dt = 1000, 0.5, 0.5, 1.0, 8.0, 1e-3
        circuit = ref.sde_population(
            n, "x' = -x + b*past(x, tau) + sigma*xi()", x0=0.0, b=b, tau=tau, sigma=sigma
        )
        frame = circuit.run(
            T,
            dt,
            outputs={f"x{i}": f"p{i}/op/x" for i in range(n)},
            sampling_step_size=0.05,
            solver=method,
            backend=self._backend,
            seed=5,
        )
        got = float(np.var(frame.loc[frame.index >= 3.0].to_numpy().real))
        want = ref.delayed_ou_variance(-1.0, b, tau, sigma)
        assert abs(got / want - 1) < 0.08, (
            f"{method}: stationary variance {got:.4f}, expected {want:.4f}"
        )

    # ------------------------------------------------------------------ functions

    def test_function(self, case: ref.FunctionCase) -> None:
        """Each equation-level function against NumPy on scalars, vectors and complex numbers
        (the derivative of x' = f(a) from get_run_func)."""
        func, args, keys, idx = self._run_func(case.circuit())
        y = np.zeros_like(np.asarray(args[1]))
        dy = self._call(func, args, case.t, y)
        got = np.atleast_1d(dy[idx["n/op/x"]])
        want = case.expected()
        if case.complex:
            assert np.iscomplexobj(dy), "a complex state has a real derivative"
        scale = max(float(np.max(np.abs(want))), 1.0)
        assert_close(got, want, ROUNDOFF, f"x' = {case.expression}", scale=scale)

    @uses_solvers("fixed")
    def test_randn(self, solver: SolverInfo) -> None:
        """x' = randn(): the same seed gives the same numbers, another seed others; the
        increments are centred and uncorrelated."""
        circuit = ref.one_node("noise", ["x' = sigma*randn()"], {"x": "output(0.0)", "sigma": 1.0})
        dt, T = 0.01, 20.0

        def run(seed: int) -> np.ndarray:
            return self._run(
                circuit, T, dt, solver, {"x": "n/op/x"}, sampling_step_size=dt, seed=seed
            )["x"].to_numpy()

        a, b, c = run(11), run(11), run(12)
        np.testing.assert_array_equal(a, b, err_msg="the same seed gave different numbers")
        assert not np.allclose(a, c), "another seed gave the same numbers"
        d = np.diff(a)
        n = d.size
        assert np.std(d) > 0, "x does not move"
        assert abs(np.mean(d)) < 5 * np.std(d) / math.sqrt(n), "increments are not centred"
        rho = np.corrcoef(d[:-1], d[1:])[0, 1]
        assert abs(rho) < 5 / math.sqrt(n), f"successive increments are correlated ({rho:.3f})"

    @requires("vectorised")
    @uses_solvers("each_fixed")
    def test_randn_population(self, solver: SolverInfo) -> None:
        """x' = sigma randn() in a vectorised population of 40 units: each unit draws its own
        sample (the increments of two units are uncorrelated, |rho| < 5 / sqrt(steps)), and
        their variance equals that of the same nodes unvectorised (within 10 %)."""
        n, dt, T = 40, 0.01, 10.0
        outputs = {f"x{i}": f"p{i}/op/x" for i in range(n)}

        def increments(vectorize: bool) -> np.ndarray:
            frame = self._run(
                ref.noise_population(n),
                T,
                dt,
                solver,
                outputs,
                sampling_step_size=dt,
                seed=5,
                vectorize=vectorize,
            )
            assert bool(frame.attrs.get("vectorized")) == vectorize, "vectorize was not obeyed"
            return np.diff(frame.to_numpy().real, axis=0)

        d, flat = increments(True), increments(False)
        steps = d.shape[0]
        assert np.all(np.std(d, axis=0) > 0), "a unit does not move"
        rho = np.corrcoef(d, rowvar=False)[np.triu_indices(n, 1)]
        worst = float(np.max(np.abs(rho)))
        assert worst < 5 / math.sqrt(steps), (
            f"units of a population share their noise (largest correlation {worst:.3f}): "
            "each unit needs its own randn() sample"
        )
        ratio = float(np.var(d) / np.var(flat))
        assert abs(ratio - 1.0) < 0.1, (
            f"the increments of the population have {ratio:.3f} times the variance of the "
            "unvectorised nodes"
        )

    # ------------------------------------------------------------------ complex

    @requires("complex")
    @uses_solvers("all")
    def test_stuart_landau(self, solver: SolverInfo) -> None:
        """The complex Stuart-Landau oscillator against its closed form; the radius of the
        limit cycle is sqrt(mu)."""
        p = ref.STUART_LANDAU
        frame = self._reference_problem(
            "stuart_landau",
            ref.stuart_landau_circuit(),
            {"z": "n/op/z"},
            ref.stuart_landau_exact,
            p["T"],
            solver,
        )
        z = frame["z"].to_numpy()
        assert np.iscomplexobj(z), "the complex state came back real"
        assert abs(abs(z[-1]) - math.sqrt(p["mu"])) < 1e-2 * math.sqrt(p["mu"])

    # ------------------------------------------------------------------ precision

    @requires("float32")
    @uses_solvers("all")
    def test_float32(self, solver: SolverInfo) -> None:
        """float_precision="float32": single-precision results within the float32 tier."""
        dt, tol = self._step("float32", solver, 0.01)
        frame = self._run(
            ref.harmonic_circuit(),
            ref.HARMONIC["T"],
            dt,
            solver,
            {"x": "n/op/x", "v": "n/op/v"},
            float_precision="float32",
        )
        assert all(frame[c].dtype == np.float32 for c in frame.columns), (
            f"float32 run returned {dict(frame.dtypes)}"
        )
        times = frame.index.to_numpy()
        assert_close(
            frame.to_numpy(),
            ref.harmonic_exact(times),
            max(tol, FLOAT32),
            "float32 harmonic oscillator",
            times,
            ["x", "v"],
        )

    # ------------------------------------------------------------------ delays

    @requires("dde")
    @uses_solvers("all")
    def test_delay_method_of_steps(self, solver: SolverInfo) -> None:
        """x' = -x(t - 1), x = 1 before 0, on [0, 4] against the method-of-steps polynomials."""
        self._reference_problem(
            "delay", ref.delay_circuit(), {"x": "n/op/x"}, ref.delay_exact, 4.0, solver
        )

    @requires("dde", "dde_outputs")
    @uses_solvers("all")
    def test_delay_outputs(self, solver: SolverInfo) -> None:
        """Algebraic variables that read a delayed value are recorded (dde_outputs):
        ``q = x_1 + 2 x_0(t - 0.3)`` and ``u_0 = -0.5 s_1(t - 0.2)`` (``s = x^2``, a delayed
        algebraic variable) equal the recorded states 30 and 20 samples back (pre-history
        0.5), sampled every 10 steps of 1e-3, to 1e-12 (scaled by the largest value; adaptive
        solvers read their dense output there)."""
        frame = self._run(
            ref.delayed_ring(),
            2.0,
            1e-3,
            solver,
            {"q": "p1/op/q", "x0": "p0/op/x", "x1": "p1/op/x", "u0": "p0/op/u"},
            sampling_step_size=1e-2,
        )
        x0, x1, q, u0 = (frame[k].to_numpy().real for k in ("x0", "x1", "q", "u0"))
        past0 = np.concatenate([np.full(30, 0.5), x0[:-30]])
        past1 = np.concatenate([np.full(20, 0.5), x1[:-20]])
        assert_close(q, x1 + 2.0 * past0, ROUNDOFF, f"q with {solver.name}")
        assert_close(u0, -0.5 * past1**2, ROUNDOFF, f"u0 with {solver.name}")

    @requires("dde")
    @uses_solvers("all")
    def test_delay_edge(self, solver: SolverInfo) -> None:
        """An edge with delay 0.5 and weight 2 from a = sin(t) (0 before 0) into b' = u:
        b = 2 (1 - cos(t - 0.5)) after 0.5."""
        self._delay_edge(solver)

    def _delay_edge(self, solver: SolverInfo, **kwargs: Any) -> None:
        self._reference_problem(
            "delay_edge",
            ref.delay_edge_circuit(),
            {"b": "b/op/b"},
            ref.delay_edge_exact,
            ref.DELAY_EDGE["T"],
            solver,
            **kwargs,
        )

    @requires("dde")
    @uses_solvers("all")
    def test_delay_smooth_history(self, solver: SolverInfo) -> None:
        """``run(history={"a/op/a": sin(omega t)})``, a function of time, read through an edge
        with delay 0.4637 (between the points of any step grid) and weight 2 into b' = u:
        b = 2 / omega (cos(omega tau) - cos(omega (t - tau))). The pre-history is read at the
        times the solver asks for, not sampled linearly on the step grid."""
        self._reference_problem(
            "smooth_history",
            ref.smooth_history_circuit(),
            {"b": "b/op/b"},
            ref.smooth_history_exact,
            ref.SMOOTH_HISTORY["T"],
            solver,
            history=ref.smooth_history(),
        )

    @requires("dde")
    @uses_solvers("all")
    def test_delay_edge_from_algebraic(self, solver: SolverInfo) -> None:
        """The same edge carrying the algebraic s = a^2 = sin^2(t): b = x - sin(2x)/2 with
        x = t - 0.5 (kept in the history under ``dde_algebraic``, else rebuilt per edge)."""
        self._reference_problem(
            "delay_edge",
            ref.delay_algebraic_circuit(),
            {"b": "b/op/b"},
            ref.delay_algebraic_exact,
            ref.DELAY_EDGE["T"],
            solver,
        )

    @requires("dde")
    @uses_solvers("fixed")
    def test_delay_input_order(self, solver: SolverInfo) -> None:
        """A stepped extrinsic input read through a delay keeps the solver's order: a' = -k a + u
        with u jumping at 0.6 and 1.4, an edge with delay 0.4 into b' = v, at dt, dt/2, dt/4
        against the closed form. Where the input jumps the slope of a jumps: a history must
        interpolate the step before the jump with the slope of that step's own input row (its
        left side), not the next one's, or rk4 falls to second order."""
        order, dts = self._order_steps(solver)
        errors = []
        for dt in dts:
            frame = self._run(
                ref.delay_input_circuit(),
                ref.DELAY_INPUT["T"],
                dt,
                solver,
                {"a": "a/op/a", "b": "b/op/b"},
                sampling_step_size=0.4,
                inputs={"a/op/u": ref.delay_input_rows(dt)},
            )
            want = ref.delay_input_exact(frame.index.to_numpy())
            errors.append(float(np.max(np.abs(frame[["a", "b"]].to_numpy() - want))))
        self._assert_order(solver, order, dts, errors)

    @requires("dde", "grid_delays")
    @uses_solvers("fixed")
    def test_delay_grid(self, solver: SolverInfo) -> None:
        """``delays="grid"`` (TVB's convention) on a three-node network whose delays are no
        multiples of dt (one rounds to 0) and with a pre-history that changes in time, against a
        hand-written NumPy loop of the definition: every stage of step n reads the stored
        state of step n - round(tau / dt), held over the step (1e-10 relative)."""
        method = _grid_method(solver)
        net = ref.GRID_NET
        frame = self._run(
            ref.grid_network_circuit(),
            net["T"],
            net["dt"],
            solver,
            {f"x{i}": f"n{i}/op/x" for i in range(3)},
            sampling_step_size=net["dt"],
            history=ref.grid_network_history(),
            delays="grid",
        )
        got = frame.to_numpy()
        want = ref.grid_network_reference(method)[: len(got)]
        np.testing.assert_allclose(
            got, want, rtol=1e-10, atol=1e-13, err_msg=f"delays='grid' with {solver.name}"
        )

    @uses_solvers("adaptive")
    def test_delay_grid_refused_by_adaptive_solvers(self, solver: SolverInfo) -> None:
        """``delays="grid"`` rounds delays to whole steps: an adaptive solver is a SolverError
        naming the option and the solver, before anything runs."""
        with pytest.raises(SolverError, match=rf"delays='grid'.*{re.escape(solver.name)}"):
            self._run(
                ref.grid_network_circuit(), 0.1, 0.01, solver, {"x": "n0/op/x"}, delays="grid"
            )

    @uses_solvers("all")
    def test_gamma_kernel(self, solver: SolverInfo) -> None:
        """An edge with delay 1 and spread 0.5 is a linear chain of 4 ODEs (no dde needed): a
        ramp through it is the ramp convolved with the gamma density (closed form with the
        incomplete gamma function); the target integrates it."""
        dt, tol = self._step("gamma_kernel", solver, 0.01)
        frame = self._run(
            ref.gamma_kernel_circuit(),
            ref.GAMMA["T"],
            dt,
            solver,
            {"b": "b/op/b", "u": "b/op/u"},
        )
        times = frame.index.to_numpy()
        u, b = ref.gamma_kernel_exact(times)
        assert_close(
            frame[["u", "b"]].to_numpy(),
            np.column_stack([u, b]),
            tol,
            "gamma kernel response",
            times,
            ["u", "b"],
        )

    # ------------------------------------------------------------------ Jacobian

    @requires("jacobian")
    def test_jacobian(self, model: ModelCase) -> None:
        """get_jacobian_func against central finite differences of get_run_func's field."""
        circuit = model.build()
        jac, jargs, jkeys, jidx = circuit.get_jacobian_func(
            "rates_conformance_jacobian", backend=self._backend, vectorize=model.vectorize
        )
        func, args, keys, idx = self._run_func(circuit, vectorize=model.vectorize)
        assert [k for k in keys if k != "dy"] == list(jkeys), "Jacobian and field arguments differ"
        assert jidx == idx, "Jacobian and field state layouts differ"
        params = args[3:]
        y0 = np.asarray(args[1], dtype=float)
        rng = np.random.default_rng(13)
        scale = np.maximum(np.abs(y0), 0.01 if model.id == "jansen_rit" else 0.5)
        for point in range(3):
            y = y0 + scale * rng.uniform(-1.0, 1.0, y0.size)
            t = 0.1 * point
            got = np.asarray(jac(t, y, *params))
            n = y.size
            fd = np.empty((n, n))
            for j in range(n):
                h = 1e-6 * max(1.0, abs(y[j])) if model.id != "jansen_rit" else 1e-7
                e = np.zeros(n)
                e[j] = h
                hi = self._call(func, args, t, y + e)
                lo = self._call(func, args, t, y - e)
                fd[:, j] = (hi - lo) / (2 * h)
            assert_close(
                got,
                fd,
                1e-6,
                f"Jacobian of {model.id} at point {point}",
                scale=float(np.max(np.abs(fd))),
            )

    # ------------------------------------------------------------------ autodiff and batches

    @staticmethod
    def _scalar_params(params: Sequence[Any]) -> list[int]:
        return [
            i
            for i, p in enumerate(params)
            if np.ndim(p) == 0 and np.isrealobj(p) and float(p) != 0.0
        ]

    # ------------------------------------------------------------------ GPU

    @requires("gpu")
    @uses_solvers("all")
    def test_gpu(self, solver: SolverInfo) -> None:
        """``run(..., device="cuda")``, the run option of the ``gpu`` capability: Jansen-Rit
        computed on the GPU meets the CPU's reference and tolerance (float64) and equals the
        CPU run (strict); a delay model too where the solver declares ``dde``."""
        outputs = {p.replace("/", "_"): p for p in ref.JANSEN_RIT_PATHS}
        args = ("jansen_rit", ref.jansen_rit_circuit(), outputs, ref.jansen_rit_reference)
        gpu = self._reference_problem(*args, ref.JANSEN_RIT_T, solver, 1e-3, device="cuda")
        cpu = self._reference_problem(*args, ref.JANSEN_RIT_T, solver, 1e-3)
        times = cpu.index.to_numpy()
        assert_close(gpu.to_numpy(), cpu.to_numpy(), STRICT, "GPU against CPU", times)
        if not self.target.missing(["dde"], solver):
            self._delay_edge(solver, device="cuda")

    @requires("batched")
    def test_batched_field(self) -> None:
        """The functional field of ``get_run_func(functional=True)`` takes a leading batch axis:
        ``y`` of shape (B, n) and scalar parameters given as B values (one per parameter set)
        give the B fields of the sets, one per row (strict)."""
        func, args, keys, idx = self._run_func(ref.jansen_rit_circuit(), functional=True)
        params = list(args[2:])
        chosen = self._scalar_params(params)[:4]
        assert chosen, "the Jansen-Rit circuit has no scalar parameters"
        n_sets = 4
        rng = np.random.default_rng(21)
        y0 = np.asarray(args[1], dtype=float)
        ys = y0 + rng.uniform(-0.01, 0.01, (n_sets, y0.size))
        factors = np.linspace(0.8, 1.2, n_sets)
        batched = list(params)
        for i in chosen:
            batched[i] = float(params[i]) * factors
        out = np.asarray(func(0.2, ys, *batched))
        assert out.shape == ys.shape, f"batched field has shape {out.shape}, expected {ys.shape}"
        for b in range(n_sets):
            single = list(params)
            for i in chosen:
                single[i] = float(params[i]) * factors[b]
            want = np.asarray(func(0.2, ys[b], *single)).reshape(-1)
            assert_close(out[b], want, STRICT, f"parameter set {b} of a batch of {n_sets}")

    @requires("autodiff")
    def test_autodiff_field(self) -> None:
        """Gradients of the functional field by the backend's automatic differentiation (the
        suite's ``vjp``) equal central finite differences, with respect to the state and to
        scalar parameters (Jansen-Rit, relative 1e-6)."""
        info = self.target.info
        vjp = type(self).vjp or (info.vjp if info is not None else None)
        assert vjp is not None, (
            f"backend {self._backend!r} declares 'autodiff': give its BackendInfo a `vjp` "
            "(register_backends), or set `vjp` on its ConformanceSuite subclass"
        )
        func, args, keys, idx = self._run_func(ref.jansen_rit_circuit(), functional=True)
        params = list(args[2:])
        rng = np.random.default_rng(17)
        y = np.asarray(args[1], dtype=float) + rng.uniform(-0.01, 0.02, np.size(args[1]))
        full = [0.2, y, *params]
        cotangent = rng.normal(size=y.size)
        which = [1] + [2 + i for i in self._scalar_params(params)[:5]]
        grads = vjp(func, tuple(full), which, cotangent)
        assert len(grads) == len(which), "vjp must return one gradient per requested argument"

        def loss(values: list[Any]) -> float:
            return float(np.sum(cotangent * np.asarray(func(*values)).reshape(-1)))

        for pos, got in zip(which, grads):
            x = np.asarray(full[pos], dtype=float)
            fd = np.empty(x.shape)
            for j in np.ndindex(x.shape):
                h = 1e-6 * max(abs(float(x[j])), 1e-3)
                hi, lo = x.copy(), x.copy()
                hi[j] += h
                lo[j] -= h
                up, down = list(full), list(full)
                up[pos] = hi if x.ndim else float(hi)
                down[pos] = lo if x.ndim else float(lo)
                fd[j] = (loss(up) - loss(down)) / (2 * h)
            got = np.asarray(got, dtype=float).reshape(fd.shape)
            name = keys[pos]
            scale = max(float(np.max(np.abs(fd))), 1e-12)
            assert_close(got, fd, 1e-6, f"gradient with respect to {name}", scale=scale)

    # ------------------------------------------------------------------ hostile names

    @uses_solvers("one")
    def test_hostile_names(self, solver: SolverInfo) -> None:
        """A model whose names are the most hostile the name grammar allows (keywords and
        builtins of the target languages, the generated code's own names, the longest name)
        runs with the right numbers."""
        self._reference_problem(
            "hostile_names",
            ref.hostile_names_circuit(),
            HOSTILE_OUTPUTS,
            ref.hostile_names_exact,
            ref.HOSTILE["T"],
            solver,
        )

    @uses_solvers("one")
    def test_hostile_smuggled_name(
        self, solver: SolverInfo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A circuit name that got past the grammar (quotes, newlines, code for every target
        language) stays text in the generated code: the model runs with the right numbers and
        none of the name's commands runs."""
        monkeypatch.chdir(tmp_path)
        marker = Path(ref.SMUGGLED_MARKER)
        marker.unlink(missing_ok=True)
        d = ref.DECAY
        circuit = ref.smuggled_name_circuit()
        self._reference_problem("decay", circuit, {"x": "n/op/x"}, ref.decay_exact, d["T"], solver)
        assert not marker.exists(), "the model name ran a command"
        assert not list(tmp_path.iterdir()), "files written to the working directory"

    @_always
    def test_hostile_names_export(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """``rates export`` of the hostile-names model and of a smuggled circuit name writes
        files in which no line starts with the name's code (it stays in comments and literals;
        Python files compile), runs nothing and writes nothing to the working directory."""
        from rates_core.export import export

        if self.target.problem:
            pytest.skip(f"backend {self._backend!r} cannot be tested: {self.target.problem}")
        work = tmp_path / "cwd"
        work.mkdir()
        monkeypatch.chdir(work)
        models = {"hostile": ref.hostile_names_circuit(), "smuggled": ref.smuggled_name_circuit()}
        for label, circuit in models.items():
            out = tmp_path / label
            out.mkdir()
            paths = export(circuit, self._backend, out / f"model{type(self).source_suffix}")
            assert paths and all(p.is_file() and p.stat().st_size for p in paths), paths
            for path in paths:
                _check_exported(path, self._python_source(path.read_text(encoding="utf-8")))
        assert not list(work.iterdir()), f"written to the working directory: {list(work.iterdir())}"
        assert not Path(ref.SMUGGLED_MARKER).exists(), "the model name ran a command"

    # ------------------------------------------------------------------ generated models

    def test_generated_models(self, request: pytest.FixtureRequest) -> None:
        """Random circuits (:mod:`rates_core.testing.generator`) with every solver, vectorised
        and not, against unvectorised rates-numpy with SciPy's DOP853 at rtol 1e-10; a failure
        is shrunk to a small model printed as YAML."""
        from rates_core.testing.generator import run_generated

        try:
            import hypothesis  # noqa: F401
        except ImportError:
            pytest.fail("test_generated_models needs hypothesis: pip install 'rates-core[testing]'")
        reference = resolve_target("numpy", None, {}, ())
        if reference.problem:
            pytest.skip(f"the reference needs rates-numpy: {reference.problem}")
        cls = type(self)
        examples = _option(request.config, "rates_fuzz") or cls.generated_examples
        seed = _option(request.config, "rates_fuzz_seed")
        seed = cls.generated_seed if seed is None else seed
        run_generated(self.target, int(examples), int(seed), cls.solver_options)

    # ------------------------------------------------------------------ emitted source

    def _emit(self, tmp_path: Path, circuit: Any) -> tuple[Path, tuple]:
        out = tmp_path / "emitted"
        out.mkdir(exist_ok=True)
        path = out / f"{circuit.name}{type(self).source_suffix}"
        result = self._run_func(circuit, file_name=str(path))
        assert path.is_file(), f"get_run_func(file_name={str(path)!r}) wrote no file"
        assert path.stat().st_size > 0, "the written source is empty"
        return path, result

    def test_source_written_to_file(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """get_run_func(file_name=...) writes the generated source there, and nothing lands in
        the working directory."""
        work = tmp_path / "cwd"
        work.mkdir()
        monkeypatch.chdir(work)
        self._emit(tmp_path, ref.van_der_pol_circuit())
        assert not list(work.iterdir()), (
            f"files written to the working directory: {list(work.iterdir())}"
        )

    def test_source_reimported(self, tmp_path: Path) -> None:
        """A Python source written by get_run_func, imported on its own, computes the same
        field as the function get_run_func returned."""
        path, (func, args, keys, idx) = self._emit(tmp_path, ref.jansen_rit_circuit())
        source = path.read_text(encoding="utf-8")
        if not self._python_source(source):
            pytest.skip("the backend's source is not Python (source_language)")
        module = _import_file(path)
        name = type(self).reimport_function
        field = getattr(module, name, None)
        assert callable(field), f"the written source defines no function {name!r}"
        rng = np.random.default_rng(3)
        y = rng.uniform(-0.01, 0.02, np.asarray(args[1]).size)
        want = self._call(func, args, 0.3, y)
        dy = np.zeros_like(np.asarray(args[2]))
        got = np.asarray(field(0.3, y, dy, *args[3:]))
        assert_close(got, want, STRICT, "re-imported vector field")

    def test_source_file_is_written_carefully(self, tmp_path: Path) -> None:
        """get_run_func(file_name=...) replaces another file only with overwrite=True, never
        writes through a symbolic link, and never writes the model file
        (``rates_core.cache.write_copy`` with ``options.overwrite`` / ``options.protect``)."""
        from rates_core.errors import OutputExistsError, OutputFileError

        circuit = ref.van_der_pol_circuit()
        path = tmp_path / f"field{type(self).source_suffix}"
        path.write_text("keep", encoding="utf-8")
        with pytest.raises(OutputExistsError):
            self._run_func(circuit, file_name=str(path))
        assert path.read_text(encoding="utf-8") == "keep", "file_name overwrote a file"
        self._run_func(circuit, file_name=str(path), overwrite=True)
        assert path.read_text(encoding="utf-8") != "keep", "overwrite=True did not replace it"
        if hasattr(os, "symlink"):
            target = tmp_path / "target.txt"
            target.write_text("keep", encoding="utf-8")
            link = tmp_path / f"link{type(self).source_suffix}"
            link.symlink_to(target)
            with pytest.raises(OutputFileError):
                self._run_func(circuit, file_name=str(link))
            self._run_func(circuit, file_name=str(link), overwrite=True)
            assert not link.is_symlink(), "overwrite=True did not replace the link by a file"
            assert target.read_text(encoding="utf-8") == "keep", "wrote through a symlink"
        model = tmp_path / "model.yaml"
        model.write_text("keep", encoding="utf-8")
        protected = dataclasses.replace(circuit, path=str(model))
        with pytest.raises(OutputFileError, match="model file"):
            self._run_func(protected, file_name=str(model), overwrite=True)
        assert model.read_text(encoding="utf-8") == "keep", "file_name overwrote the model"

    def test_no_silent_fallback(self, tmp_path: Path) -> None:
        """The generated source and the code it runs use no other backend's library: not in
        its imports, not in the names it refers to, not in the functions called while the
        vector field is evaluated."""
        target = self.target
        before = set(sys.modules)
        path, (func, args, keys, idx) = self._emit(tmp_path, ref.jansen_rit_circuit())
        source = path.read_text(encoding="utf-8")
        python = self._python_source(source)
        used = set(imported_modules(source, python))
        found = {f"source refers to {m}" for m in forbidden_found(used, target.forbidden)}
        y = np.asarray(args[1], dtype=float) + 1e-3
        dy = np.zeros_like(np.asarray(args[2]))  # made outside the trace: only the field counts
        called = traced_modules(lambda: func(0.1, y, dy, *args[3:]))
        found |= {f"calls into {m}" for m in forbidden_found(called, target.forbidden)}
        if python:
            names = namespace_modules(_import_file(path))
            found |= {
                f"module namespace holds {m}" for m in forbidden_found(names, target.forbidden)
            }
        loaded = {m.split(".")[0] for m in set(sys.modules) - before}
        found |= {f"imported {m}" for m in forbidden_found(loaded, target.forbidden)}
        assert not found, (
            f"backend {target.backend!r} uses other backends' libraries "
            f"(forbidden: {', '.join(sorted(target.forbidden))}): {'; '.join(sorted(found))}"
        )

    @uses_solvers("one")
    def test_runtime_used(self, solver: SolverInfo) -> None:
        """The backend runs on the library it declares (``BackendInfo.runtime_modules``, one of
        them): a run of 40 vectorised rate units calls into it from the backend's code (its
        package or its generated code), and the vector field of ``get_run_func`` computes with
        it (its code refers to it, it is bound to an object of it, or it calls it). A backend
        whose library was switched off (pure Python, another library) fails. The field is
        that of Jansen-Rit (scalar code)."""
        target = self.target
        runtime = tuple(getattr(target.info, "runtime_modules", ()) or ())
        if not runtime:
            pytest.skip(
                f"backend {target.backend!r} declares no runtime_modules (BackendInfo): the "
                "library it must run on cannot be checked"
            )
        names = " or ".join(runtime)
        roots = backend_roots(target.package)
        labels, _, circuit = ref.rate_network_nodes(40)
        circuit = circuit.add_edges_from_matrix(
            "op/r", "op/r_in", labels, weight=_dense_weights(40)
        )
        outputs = {"r0": "p0/op/r"}
        dt = 1e-3 if not solver.adaptive else 1e-2
        ran = backend_calls(
            lambda: self._run(circuit, 20 * dt, dt, solver, outputs, rows=5, vectorize=True), roots
        )
        func, args, keys, idx = self._run_func(ref.jansen_rit_circuit())
        y = np.asarray(args[1], dtype=float) + 1e-3
        field = backend_calls(lambda: self._call(func, args, 0.1, y), roots)
        field |= field_references(func)
        problems = []
        if not runtime_found(ran, runtime):
            used = ", ".join(sorted({_top(m) for m in ran})) or "nothing"
            problems.append(f"a run with {solver.name} called into none of them (only: {used})")
        if not runtime_found(field, runtime):
            used = ", ".join(sorted({_top(m) for m in field})) or "nothing"
            problems.append(f"the vector field computes with none of them (only: {used})")
        if not runtime_found(sys.modules, runtime):
            problems.append("none of them is imported")
        assert not problems, (
            f"backend {target.backend!r} declares that it runs on {names}, but "
            + "; ".join(problems)
            + " (a silent fallback?)"
        )


#: The reference loop (:func:`rates_core.testing.references.grid_network_reference`) of
#: each fixed-step method: the SDE methods integrate a model without noise as their ODE method.
_GRID_METHODS = {
    "euler": "euler",
    "euler_maruyama": "euler",
    "heun": "heun",
    "heun_stochastic": "heun",
    "rk4": "rk4",
}


def _grid_method(solver: SolverInfo) -> str:
    """The method of the grid reference loop for ``solver`` (a skip for other methods)."""
    method = _GRID_METHODS.get(solver.method)
    if method is None:
        pytest.skip(f"no reference loop of delays='grid' for method {solver.method!r}")
    return method


def _top(name: str) -> str:
    return name.split(".")[0]


#: Outputs of :func:`rates_core.testing.references.hostile_names_circuit`.
HOSTILE_OUTPUTS = {"a": "end/__init__/module", "b": "begin/__init__/module"}


def _check_exported(path: Path, python: bool) -> None:
    """No line of an exported file starts with a line of the smuggled name (it stays inside
    comments and literals) and a Python file compiles."""
    text = path.read_text(encoding="utf-8")
    for number, line in enumerate(text.splitlines(), 1):
        head = line.strip()
        assert not head.startswith(ref.SMUGGLED_HEADS), (
            f"{path.name}:{number}: the model name became code: {line[:200]!r}"
        )
    if python:
        compile(text, str(path), "exec", dont_inherit=True)


def _option(config: Any, name: str) -> Any:
    try:
        return config.getoption(name, None)
    except (ValueError, AttributeError):
        return None


_imports = 0


def _import_file(path: Path) -> Any:
    """Import ``path`` as a fresh module (left out of sys.modules)."""
    global _imports
    _imports += 1
    stem = re.sub(r"\W", "_", path.stem)
    name = f"rates_conformance_reimport_{_imports}_{stem}"
    loader = importlib.machinery.SourceFileLoader(name, str(path))
    spec = importlib.util.spec_from_loader(name, loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        loader.exec_module(module)
    finally:
        sys.modules.pop(name, None)
    return module
