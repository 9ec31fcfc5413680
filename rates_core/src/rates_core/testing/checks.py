"""Support of the conformance suite: the backend under test, solver orders, tolerance tiers,
comparisons, and the inspection of emitted code for other backends' libraries."""

from __future__ import annotations

import ast
import re
import sys
import warnings
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import numpy as np

from rates_core.plugins import BackendInfo, SolverInfo

__all__ = [
    "ADAPTIVE_ATOL",
    "ADAPTIVE_RTOL",
    "BACKEND_LIBRARIES",
    "DEFAULT_SOLVER_OPTIONS",
    "FLOAT32",
    "KNOWN_ORDERS",
    "ROUNDOFF",
    "STRICT",
    "Step",
    "Target",
    "assert_close",
    "fixed_step",
    "nominal_order",
    "resolve_target",
]

# --------------------------------------------------------------------------- tolerance tiers

#: Results that equal a closed form up to rounding (function values, the one-step map of a
#: linear problem, fixed-step inputs integrated exactly): relative error at most this.
ROUNDOFF = 1e-12
#: The same numbers computed two ways (vectorised and unvectorised, split and whole runs,
#: re-imported source): relative difference at most this.
STRICT = 1e-8
#: Single precision: relative error at most this (on top of the solver's own error).
FLOAT32 = 1e-4
#: Tolerances the suite asks adaptive solvers for ...
ADAPTIVE_RTOL = 1e-10
ADAPTIVE_ATOL = 1e-12


@dataclass(frozen=True)
class Step:
    """A fixed step size and the relative error allowed with it."""

    dt: float
    tol: float


#: Per reference problem: the fixed step and the allowed error per nominal order class
#: (1: first order or unknown, 2: second and third order, 4: fourth order and higher), and the
#: error allowed for adaptive solvers (asked for ADAPTIVE_RTOL / ADAPTIVE_ATOL). Errors are
#: relative to the largest magnitude of each compared variable. The tolerances are about ten
#: times the errors of correct solvers of that order.
TIERS: dict[str, dict[Any, Any]] = {
    "decay": {1: Step(1e-3, 2e-3), 2: Step(1e-3, 2e-6), 4: Step(1e-2, 1e-9), "adaptive": 1e-8},
    "harmonic": {1: Step(1e-4, 5e-3), 2: Step(1e-3, 3e-5), 4: Step(1e-2, 1e-7), "adaptive": 1e-8},
    "logistic": {1: Step(1e-3, 5e-3), 2: Step(1e-3, 5e-6), 4: Step(1e-2, 1e-8), "adaptive": 1e-8},
    "van_der_pol": {
        1: Step(1e-4, 3e-3),
        2: Step(1e-3, 1e-5),
        4: Step(5e-3, 5e-9),
        "adaptive": 1e-7,
    },
    "lorenz": {1: Step(1e-4, 3e-2), 2: Step(1e-4, 1e-5), 4: Step(1e-3, 3e-8), "adaptive": 1e-7},
    "jansen_rit": {
        1: Step(1e-5, 2e-2),
        2: Step(1e-4, 3e-4),
        4: Step(1e-4, 5e-9),
        "adaptive": 1e-7,
    },
    "stuart_landau": {
        1: Step(1e-4, 5e-3),
        2: Step(1e-3, 1e-4),
        4: Step(1e-2, 5e-7),
        "adaptive": 1e-7,
    },
    # a unit step at t1: adaptive solvers see it as a ramp over one input row (dt = 1e-3)
    "step_input": {
        1: Step(1e-3, 5e-3),
        2: Step(1e-3, 3e-6),
        4: Step(1e-3, 1e-11),
        "adaptive": 5e-3,
    },
    "edge_template": {
        1: Step(1e-3, 5e-3),
        2: Step(1e-3, 1e-5),
        4: Step(1e-2, 1e-7),
        "adaptive": 1e-8,
    },
    "linear_network": {
        1: Step(1e-3, 5e-3),
        2: Step(1e-3, 1e-5),
        4: Step(1e-2, 1e-7),
        "adaptive": 1e-8,
    },
    "hostile_names": {
        1: Step(1e-3, 5e-3),
        2: Step(1e-3, 1e-5),
        4: Step(1e-2, 1e-7),
        "adaptive": 1e-8,
    },
    "delay": {1: Step(1e-3, 2e-3), 2: Step(1e-3, 1e-5), 4: Step(1e-2, 1e-7), "adaptive": 1e-7},
    "delay_edge": {1: Step(1e-3, 5e-3), 2: Step(1e-3, 1e-5), 4: Step(1e-2, 1e-7), "adaptive": 1e-7},
    # a smooth pre-history read between step points: sampling it linearly on the step grid
    # costs about 7e-5 at dt = 1e-2 (adaptive: a cubic Hermite history of Dormand-Prince steps
    # at rtol 1e-10 is off by about 1.3e-7)
    "smooth_history": {
        1: Step(1e-3, 1e-2),
        2: Step(1e-3, 2e-5),
        4: Step(1e-2, 2e-8),
        "adaptive": 1e-6,
    },
    "gamma_kernel": {
        1: Step(1e-3, 5e-3),
        2: Step(1e-3, 1e-6),
        4: Step(1e-2, 1e-8),
        "adaptive": 1e-8,
    },
    # the harmonic oscillator in single precision: solver error plus float32 rounding
    "float32": {
        1: Step(1e-3, 2e-2),
        2: Step(1e-2, 3e-3),
        4: Step(1e-2, FLOAT32),
        "adaptive": FLOAT32,
    },
}


def order_class(order: int | None) -> int:
    """1 for first order or unknown, 2 for second and third order, 4 for fourth and higher."""
    if order is None or order <= 1:
        return 1
    return 2 if order < 4 else 4


def fixed_step(problem: str, order: int | None) -> Step:
    """The step size and tolerance of ``problem`` for a fixed-step solver of ``order``."""
    return TIERS[problem][order_class(order)]


def adaptive_tolerance(problem: str) -> float:
    return TIERS[problem]["adaptive"]


def assert_close(
    actual: Any,
    expected: Any,
    tol: float,
    what: str,
    times: Any = None,
    names: Iterable[str] | None = None,
    scale: Any = None,
) -> None:
    """Fail unless ``|actual - expected| <= tol * scale`` everywhere.

    ``scale`` defaults to the largest magnitude of each column of ``expected`` (at least
    1e-300); columns are variables, rows times. The message gives the worst error, where.
    """
    a = np.asarray(actual)
    e = np.asarray(expected)
    if a.shape != e.shape:
        raise AssertionError(f"{what}: shape {a.shape} where {e.shape} was expected")
    if not np.all(np.isfinite(a)):
        raise AssertionError(f"{what}: non-finite values {a[~np.isfinite(a)][:5]}")
    a2 = a.reshape(a.shape[0], -1) if a.ndim > 1 else a.reshape(-1, 1)
    e2 = e.reshape(e.shape[0], -1) if e.ndim > 1 else e.reshape(-1, 1)
    if scale is None:
        sc = np.maximum(np.max(np.abs(e2), axis=0), 1e-300)
    else:
        sc = np.broadcast_to(np.asarray(scale, dtype=float), (e2.shape[1],))
    err = np.abs(a2 - e2) / sc
    worst = np.unravel_index(int(np.argmax(err)), err.shape)
    if err[worst] <= tol:
        return
    labels = list(names) if names is not None else None
    where = f" at row {worst[0]}"
    if times is not None and e.ndim > 0 and len(np.asarray(times)) == a2.shape[0]:
        where = f" at t = {np.asarray(times)[worst[0]]:.6g}"
    col = f" of {labels[worst[1]]}" if labels and worst[1] < len(labels) else ""
    if a2.shape[1] > 1 and not col:
        col = f" in column {worst[1]}"
    raise AssertionError(
        f"{what}: relative error {err[worst]:.3g}{col}{where} exceeds the tolerance {tol:g} "
        f"(got {a2[worst]!r}, expected {e2[worst]!r}, scale {sc[worst[1]]:.3g})"
    )


# --------------------------------------------------------------------------- solver orders

#: Nominal orders of well-known fixed-step methods, matched against the solver name or its
#: last ``_`` / ``-`` separated part (``fixture_rk4`` -> ``rk4``); ``rk<n>`` means order n.
KNOWN_ORDERS: Mapping[str, int] = {
    "euler": 1,
    "heun": 2,
    "midpoint": 2,
    "ralston": 2,
    "rk2": 2,
    "rk3": 3,
    "ssprk3": 3,
    "rk4": 4,
    "rk45": 4,
}


def nominal_order(info: SolverInfo, overrides: Mapping[str, int] | None = None) -> int | None:
    """The nominal order of a fixed-step solver, or None when it cannot be told.

    In this order: ``overrides[name]`` (the suite's ``solver_orders``), an integer attribute
    ``order`` of the :class:`SolverInfo` (for contracts that grow one), the name (see
    :data:`KNOWN_ORDERS`), the words ``order <n>`` in its description.
    """
    if overrides and info.name in overrides:
        return int(overrides[info.name])
    order = getattr(info, "order", None)
    if isinstance(order, int) and order > 0:
        return order
    name = info.name.lower()
    for candidate in (name, re.split(r"[_\-]", name)[-1]):
        if candidate in KNOWN_ORDERS:
            return KNOWN_ORDERS[candidate]
        match = re.fullmatch(r"rk(\d)", candidate)
        if match:
            return int(match.group(1))
    match = re.search(r"\border\s*[=:]?\s*(\d+)", info.description or "", re.IGNORECASE)
    if match:
        return int(match.group(1))
    return None


# --------------------------------------------------------------------------- the backend under test

#: The libraries each known backend's generated code and runtime are built on. A backend must
#: not call into the libraries of the *other* backends listed here (the "no silent fallback"
#: rule); a backend not listed here is only checked against the other installed plugins'
#: packages and the suite's ``forbidden_modules``.
BACKEND_LIBRARIES: Mapping[str, frozenset[str]] = {
    "numpy": frozenset({"numpy", "scipy"}),
    "torch": frozenset({"torch"}),
    "jax": frozenset({"jax", "jaxlib"}),
    "julia": frozenset({"juliacall", "julia"}),
    # numpy and scipy.io are the data bridge of oct2py and matlab.engine (values in and out)
    "matlab": frozenset({"matlab", "oct2py", "numpy", "scipy"}),
    "tensorflow": frozenset({"tensorflow"}),
}

#: Solver options the suite passes per solver name; the strings ``"{rtol}"`` and ``"{atol}"``
#: are replaced by the tolerances a test asks for. An adaptive solver not listed here (nor in the
#: suite's ``solver_options``) gets ``{"rtol": "{rtol}", "atol": "{atol}"}``, scipy's names.
DEFAULT_SOLVER_OPTIONS: Mapping[str, Mapping[str, Any]] = {
    "scipy": {"method": "DOP853", "rtol": "{rtol}", "atol": "{atol}"},
}


@dataclass(frozen=True)
class Target:
    """The backend under test and the solvers the suite runs it with.

    ``problem`` says why the backend cannot be tested (not installed, conflict, unknown
    solver); then every test but ``test_backend_declared`` is skipped.
    """

    backend: str | None
    problem: str | None = None
    info: BackendInfo | None = None
    distribution: str | None = None
    solvers: tuple[SolverInfo, ...] = ()
    orders: Mapping[str, int | None] = field(default_factory=dict)
    forbidden: frozenset[str] = frozenset()
    package: str | None = None

    @property
    def capabilities(self) -> frozenset[str]:
        return self.info.capabilities if self.info is not None else frozenset()

    @property
    def fixed(self) -> tuple[SolverInfo, ...]:
        return tuple(s for s in self.solvers if not s.adaptive)

    @property
    def adaptive(self) -> tuple[SolverInfo, ...]:
        return tuple(s for s in self.solvers if s.adaptive)

    def order(self, solver: SolverInfo) -> int | None:
        return self.orders.get(solver.name)

    def best(self) -> SolverInfo | None:
        """The fixed-step solver of the highest known order (else any), else an adaptive one."""
        if self.fixed:
            return max(self.fixed, key=lambda s: self.order(s) or 0)
        return self.adaptive[0] if self.adaptive else None

    def missing(self, needs: Iterable[str], solver: SolverInfo | None = None) -> list[str]:
        """The capabilities of ``needs`` that neither the backend nor ``solver`` declares."""
        have = set(self.capabilities)
        if solver is not None:
            have |= solver.capabilities
            if solver.adaptive:
                have.add("adaptive")
        return sorted(set(needs) - have)


def _package_of(plugin: object) -> str | None:
    name = plugin.__name__ if isinstance(plugin, ModuleType) else type(plugin).__module__
    return name.split(".")[0] if name else None


def resolve_target(
    backend: str | None,
    solvers: Collection[str] | None = None,
    solver_orders: Mapping[str, int] | None = None,
    forbidden_modules: Collection[str] = (),
) -> Target:
    """Look ``backend`` and its solvers up in the installed plugins (never raises)."""
    if not backend:
        return Target(
            None,
            "no backend selected: pass --rates-backend NAME (with -p rates_core.testing) or "
            "set `backend` on your ConformanceSuite subclass",
        )
    from rates_core.plugins import default_host

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # broken plugins are reported by `rates plugins`
        host = default_host()
    try:
        info = host.backend_info(backend)
    except Exception as exc:  # UnknownBackendError, PluginConflictError
        return Target(backend, f"{type(exc).__name__}: {exc}")
    owner = next(r for r in host.plugins if any(b.name == backend for b in r.backends))
    declared = [s for s, _ in host.solvers().values() if s.backend == backend]
    if solvers:
        by_name = {s.method: s for s in declared} | {s.name: s for s in declared}  # methods too
        unknown = [name for name in solvers if name not in by_name]
        if unknown:
            names = ", ".join(sorted(by_name)) or "none"
            return Target(
                backend,
                f"solver(s) {', '.join(map(repr, unknown))} are not solvers of backend "
                f"{backend!r} (its solvers: {names})",
                info,
                owner.distribution,
            )
        chosen = tuple(by_name[name] for name in solvers)
    else:
        chosen = tuple(declared)
    packages = {}
    for record in host.plugins:
        package = _package_of(host.plugin_manager.get_plugin(record.name))
        if package:
            packages[record.name] = package
    own = packages.get(owner.name)
    forbidden = {p for name, p in packages.items() if name != owner.name and p != own}
    forbidden.discard("rates_core")
    if backend in BACKEND_LIBRARIES:
        others = set().union(*(v for k, v in BACKEND_LIBRARIES.items() if k != backend))
        forbidden |= others - BACKEND_LIBRARIES[backend]
    forbidden |= set(forbidden_modules)
    orders = {s.name: (None if s.adaptive else nominal_order(s, solver_orders)) for s in chosen}
    return Target(
        backend,
        None,
        info,
        owner.distribution,
        chosen,
        orders,
        frozenset(forbidden),
        own,
    )


def solver_options(
    solver: SolverInfo,
    overrides: Mapping[str, Mapping[str, Any]] | None,
    rtol: float = ADAPTIVE_RTOL,
    atol: float = ADAPTIVE_ATOL,
) -> dict[str, Any]:
    """The options the suite passes to ``solver`` (placeholders filled in)."""
    table = dict(DEFAULT_SOLVER_OPTIONS)
    table.update(overrides or {})
    if solver.name in table:
        template = dict(table[solver.name])
    elif solver.adaptive:
        template = {"rtol": "{rtol}", "atol": "{atol}"}
    else:
        template = {}
    out = {}
    for key, value in template.items():
        if value == "{rtol}":
            value = rtol
        elif value == "{atol}":
            value = atol
        out[key] = value
    return out


# --------------------------------------------------------------------------- no silent fallback


def _top(name: str | None) -> str:
    return (name or "").split(".")[0]


def imported_modules(source: str, python: bool) -> set[str]:
    """Modules a generated source imports or refers to (``numpy.exp`` without an import counts).

    Python sources are parsed; other languages are scanned for ``import`` / ``using`` / ``use``
    / ``require`` / ``from ... import`` lines.
    """
    found: set[str] = set()
    if python:
        tree = ast.parse(source)
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                found.add(node.module)
            elif isinstance(node, ast.Attribute):
                root: ast.AST = node
                while isinstance(root, ast.Attribute):
                    root = root.value
                if isinstance(root, ast.Name):
                    found.add(root.id)
        return found
    pattern = re.compile(r"^\s*(?:import|using|use|require|from)\s+([A-Za-z_][\w.]*)", re.M)
    found.update(pattern.findall(source))
    return found


def namespace_modules(module: ModuleType) -> set[str]:
    """Modules that the globals of an executed generated module come from."""
    found = set()
    for name, value in vars(module).items():
        if name.startswith("__"):
            continue
        if isinstance(value, ModuleType):
            found.add(value.__name__)
            continue
        owner = getattr(value, "__module__", None)
        if not isinstance(owner, str):
            owner = type(value).__module__
        if owner and owner != module.__name__ and owner != "builtins":
            found.add(owner)
    return found


_CORE_CALLERS = ("rates_core", "_pytest", "pluggy", "importlib", "pytest", "threading")


def _profiled(call: Callable[[], Any], profiler: Callable[..., Any]) -> None:
    """Run ``call`` with ``profiler`` as :func:`sys.setprofile` hook, restoring the previous one."""
    previous = sys.getprofile()
    sys.setprofile(profiler)
    try:
        call()
    finally:
        sys.setprofile(previous)


def traced_modules(call: Callable[[], Any]) -> set[str]:
    """Run ``call`` under :func:`sys.setprofile` and return the modules of the Python functions
    and builtins called from code outside rates-core (the generated code and the plugin).

    NumPy ufuncs and other callable objects that are not functions do not show up here; the
    source and namespace checks cover those.
    """
    found: set[str] = set()

    def module_of_frame(frame: Any) -> str:
        return frame.f_globals.get("__name__", "") if frame is not None else ""

    def outside_core(frame: Any) -> bool:
        return not module_of_frame(frame).startswith(_CORE_CALLERS)

    def profiler(frame: Any, event: str, arg: Any) -> None:
        if event == "call":
            if outside_core(frame.f_back):
                found.add(module_of_frame(frame))
        elif event == "c_call" and outside_core(frame):
            owner = getattr(arg, "__module__", None)
            if not owner:
                bound = getattr(arg, "__self__", None)
                if isinstance(bound, ModuleType):
                    owner = bound.__name__
                elif bound is not None:
                    owner = type(bound).__module__
            if owner:
                found.add(owner)

    _profiled(call, profiler)
    return found


def forbidden_found(modules: Iterable[str], forbidden: Collection[str]) -> list[str]:
    """The module names in ``modules`` that belong to a forbidden package."""
    bad = {str(m) for m in modules if m and (_top(m) in forbidden or m in forbidden)}
    return sorted(bad)


# --------------------------------------------------------------------------- runtime used


def backend_roots(package: str | None) -> tuple[str, ...]:
    """The folders of the backend's own code: its plugin package and the compile cache (where
    generated code is written and loaded from)."""
    import importlib.util
    import os

    from rates_core.cache import cache_dir

    roots = [os.path.realpath(str(cache_dir()))]
    spec = importlib.util.find_spec(package) if package else None
    for location in (spec.submodule_search_locations or []) if spec else []:
        roots.append(os.path.realpath(location))
    return tuple(roots)


def _owner(arg: Any) -> str | None:
    owner = getattr(arg, "__module__", None)
    if owner:
        return owner
    bound = getattr(arg, "__self__", None)
    if isinstance(bound, ModuleType):
        return bound.__name__
    return type(bound).__module__ if bound is not None else None


def backend_calls(call: Callable[[], Any], roots: Collection[str]) -> set[str]:
    """Run ``call`` under :func:`sys.setprofile` and return the modules of the functions that
    code in ``roots`` (the backend's package and its generated code) calls: Python functions
    and builtins (NumPy ufuncs and ctypes foreign functions do not show up here; see
    :func:`field_references`)."""
    import os

    found: set[str] = set()
    files: dict[str, bool] = {}

    def ours(frame: Any) -> bool:
        if frame is None:
            return False
        name = frame.f_code.co_filename
        if name not in files:
            path = os.path.realpath(name)
            files[name] = any(path.startswith(root + os.sep) for root in roots)
        return files[name]

    def profiler(frame: Any, event: str, arg: Any) -> None:
        if event == "call" and ours(frame.f_back):
            found.add(frame.f_globals.get("__name__", ""))
        elif event == "c_call" and ours(frame):
            owner = _owner(arg)
            if owner:
                found.add(owner)

    _profiled(call, profiler)
    return found


def field_references(func: Any) -> set[str]:
    """Modules the vector field that ``get_run_func`` returned computes with, read from the
    callable the backend emitted (found through rates-core's wrapper): for a Python function
    the modules of the global names its code uses, for a bound method also the modules of the
    objects it is bound to (a loaded library, a session), else the module of its type (a
    compiled dispatcher)."""
    import types

    seen: set[int] = set()
    found: set[str] = set()

    def module_of(value: Any) -> str | None:
        if isinstance(value, ModuleType):
            return value.__name__
        owner = getattr(value, "__module__", None)
        return owner if isinstance(owner, str) else type(value).__module__

    def visit(value: Any, depth: int) -> None:
        if depth > 3 or id(value) in seen:
            return
        seen.add(id(value))
        if isinstance(value, types.MethodType):
            visit(value.__func__, depth)
            owner = value.__self__
            found.add(type(owner).__module__)
            for attr in getattr(owner, "__dict__", {}).values():
                found.add(str(module_of(attr)))
            return
        if not isinstance(value, types.FunctionType):
            found.add(str(module_of(value)))
            # a compiled dispatcher (numba's) takes the __module__ of the function it compiled:
            # the library is the module of its type
            found.add(type(value).__module__)
            return
        if value.__module__.startswith("rates_core"):  # the wrapper: look at what it calls
            for cell in value.__closure__ or ():
                try:
                    inner = cell.cell_contents
                except ValueError:
                    continue
                if callable(inner):
                    visit(inner, depth + 1)
            return
        names: set[str] = set()
        codes = [value.__code__]
        while codes:
            code = codes.pop()
            names.update(code.co_names)
            codes += [c for c in code.co_consts if isinstance(c, types.CodeType)]
        for name in names:
            if name in value.__globals__:
                found.add(str(module_of(value.__globals__[name])))
        for cell in value.__closure__ or ():
            try:
                found.add(str(module_of(cell.cell_contents)))
            except ValueError:
                continue

    visit(func, 0)
    return {m for m in found if m and m != "None"}


def runtime_found(modules: Iterable[str], runtime: Collection[str]) -> list[str]:
    """The declared runtime modules that ``modules`` holds (a module or a submodule of it)."""
    names = {str(m) for m in modules}
    return sorted(r for r in runtime if any(m == r or m.startswith(r + ".") for m in names))
