"""The vocabulary of the plugin contract: hook markers, capability names, descriptions.

Plugins import from here (through ``rates_core.plugins``); nothing in this module imports a plugin.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from rates_core.backend import EmitOptions, EmittedFunction, Problem, Trajectory
    from rates_core.system import System

#: pluggy project name; hook implementations must use the :data:`hookimpl` marker of this project.
PROJECT_NAME = "rates"
#: Entry-point group scanned for plugins (``[project.entry-points.rates]`` in a plugin's pyproject).
ENTRY_POINT_GROUP = "rates"

#: Marker of the hook specifications in :mod:`rates_core.plugins.hookspecs`.
hookspec = pluggy.HookspecMarker(PROJECT_NAME)
#: Marker plugins put on their hook implementations: ``from rates_core.plugins import hookimpl``.
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)

#: Every capability name a backend or solver may declare.
CAPABILITIES: frozenset[str] = frozenset(
    {
        "execute",  # the runtime/toolchain is available here, so generated code can run
        "adaptive",  # adaptive step-size integration
        "dde",  # delay differential equations
        "dde_algebraic",  # solvers keep delayed algebraic variables in their history
        "dde_outputs",  # solvers return the delayed reads at the samples (Problem.delayed_samples)
        "complex",  # complex-valued state variables
        "float32",  # single precision
        "vectorised",  # many nodes as arrays rather than scalars
        "autodiff",  # gradients through the vector field / solver
        "gpu",  # runs on a GPU
        "batched",  # many parameter sets in one call
        "jacobian",  # emits the symbolic Jacobian
        "continuation",  # numerical continuation / bifurcation analysis
        "sde",  # white noise xi(): the SDE methods euler_maruyama and heun_stochastic
        "sde_delays",  # the SDE methods integrate models with delays too
        "grid_delays",  # run(delays="grid"): delays rounded to whole steps (fixed-step solvers)
    }
)


#: A dotted Python module name (``BackendInfo.runtime_modules``).
_MODULE_NAME = re.compile(r"[A-Za-z_]\w{0,99}(\.[A-Za-z_]\w{0,99}){0,9}")


class RatesPluginWarning(UserWarning):
    """A plugin could not be loaded or registered; it is skipped and the others still work."""


def _capability_set(value: Iterable[str], owner: str) -> frozenset[str]:
    if isinstance(value, (str, bytes)):
        raise TypeError(
            f"{owner}: capabilities must be a collection of names, not the string {value!r}"
        )
    caps = frozenset(value)
    for cap in caps:
        if not isinstance(cap, str):
            raise TypeError(f"{owner}: capability names must be strings, got {cap!r}")
    return caps


def _check_name(value: object, what: str) -> None:
    if not isinstance(value, str) or not value:
        raise TypeError(f"{what} must be a non-empty string, got {value!r}")


def unknown_capabilities(capabilities: Iterable[str]) -> list[str]:
    """Describe each name in ``capabilities`` that is not in :data:`CAPABILITIES`.

    Returns one text per unknown name (with a suggestion when a known name is close); empty when
    all names are known.
    """
    import difflib

    problems = []
    for cap in sorted(set(capabilities) - CAPABILITIES):
        close = difflib.get_close_matches(cap, sorted(CAPABILITIES), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        problems.append(f"unknown capability {cap!r}{hint}")
    return problems


@dataclass(frozen=True)
class BackendInfo:
    """What ``register_backends`` returns for one backend.

    ``capabilities`` may be given as any collection of names; it is stored as a frozenset.
    ``vjp``: for backends declaring ``autodiff``, ``vjp(func, args, which, cotangent)`` returns,
    for each position ``i`` in ``which``, the gradient of ``sum(cotangent * func(*args))`` with
    respect to ``args[i]`` as a NumPy array, by the backend's own automatic differentiation
    (``func`` is the functional field of ``get_run_func``). The conformance suite uses it.

    ``runtime_modules``: the Python modules the backend computes with (its numerical library,
    the module that loads its compiled code, the bridge to its external runtime), alternatives
    of which a run must use at least one; the conformance suite checks that it does (no silent
    fallback to another library or to pure Python).
    """

    name: str
    capabilities: frozenset[str]
    description: str = ""
    vjp: Callable[..., Sequence[Any]] | None = field(default=None, compare=False, repr=False)
    runtime_modules: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _check_name(self.name, "BackendInfo.name")
        caps = _capability_set(self.capabilities, f"backend {self.name!r}")
        object.__setattr__(self, "capabilities", caps)
        modules = self.runtime_modules
        if isinstance(modules, (str, bytes)):
            raise TypeError(
                f"backend {self.name!r}: runtime_modules must be a collection of module names, "
                f"not the string {modules!r}"
            )
        modules = tuple(modules)
        for module in modules:
            if not isinstance(module, str) or not _MODULE_NAME.fullmatch(module):
                raise TypeError(
                    f"backend {self.name!r}: runtime_modules entries must be module names "
                    f"(like 'numpy' or 'matlab.engine'), got {module!r}"
                )
        object.__setattr__(self, "runtime_modules", modules)


@dataclass(frozen=True)
class SolverInfo:
    """What ``register_solvers`` returns for one solver: which backend it drives, step kind.

    ``method`` is the name users pass as ``run(backend=..., solver=method)`` (``euler``, ``rk4``,
    ``dopri5``, ...); by default the solver's name without a ``"<backend>_"`` prefix, so
    ``fortran_rk4`` is fortran's ``rk4`` (the full name stays an alias). ``any_backend``: the
    solver can also drive other backends' vector fields (through ``EmittedFunction.rhs``); it is
    then the explicit, warned-about fallback where a backend lacks a method.
    """

    name: str
    backend: str
    adaptive: bool
    capabilities: frozenset[str] = frozenset()
    description: str = ""
    method: str = ""
    any_backend: bool = False

    def __post_init__(self) -> None:
        _check_name(self.name, "SolverInfo.name")
        _check_name(self.backend, f"SolverInfo.backend of solver {self.name!r}")
        if not self.method:
            prefix = f"{self.backend}_"
            method = self.name[len(prefix) :] if self.name.startswith(prefix) else self.name
            object.__setattr__(self, "method", method or self.name)
        _check_name(self.method, f"SolverInfo.method of solver {self.name!r}")
        if not isinstance(self.any_backend, bool):
            raise TypeError(f"solver {self.name!r}: any_backend must be True or False")
        if not isinstance(self.adaptive, bool):
            raise TypeError(f"solver {self.name!r}: adaptive must be True or False")
        caps = _capability_set(self.capabilities, f"solver {self.name!r}")
        object.__setattr__(self, "capabilities", caps)


def solver_family(
    backend: str,
    descriptions: Mapping[str, str],
    *,
    adaptive: bool,
    capabilities: Iterable[str] = (),
    any_backend: bool = False,
) -> list[SolverInfo]:
    """One :class:`SolverInfo` per ``name: description`` of ``descriptions``, in that order: a
    family of solvers of ``backend`` that share the step kind (``adaptive``), the
    ``capabilities`` and ``any_backend`` (a backend's fixed-step loops, its adaptive methods)::

        solver_family("foo", {"foo_euler": "explicit Euler", "foo_rk4": "order 4"}, adaptive=False)
    """
    caps = _capability_set(capabilities, f"solvers of backend {backend!r}")
    return [
        SolverInfo(
            name,
            backend,
            adaptive=adaptive,
            capabilities=caps,
            description=text,
            any_backend=any_backend,
        )
        for name, text in descriptions.items()
    ]


def _default_options() -> EmitOptions:
    from rates_core.backend import EmitOptions  # not at import time: it imports sympy

    return EmitOptions()


@dataclass(frozen=True)
class EmitContext:
    """What the host passes the ``emit_function`` hook besides the backend and the System.

    ``builtins``: the equation-level functions every plugin registered for the backend (merged);
    ``imports``: the extra import lines of every plugin (de-duplicated, in order); ``options``:
    the :class:`~rates_core.backend.EmitOptions` of this call (None: the defaults). A plugin
    needs no global host. ``EmitContext()`` is the context of a plain call (no plugin builtins,
    no extra imports, default options), for calling a backend's generator directly.
    """

    builtins: Mapping[str, Any] = field(default_factory=dict)
    imports: tuple[str, ...] = ()
    options: EmitOptions = field(default_factory=_default_options)

    def __post_init__(self) -> None:
        if self.options is None:  # callers of the host may pass None for the defaults
            object.__setattr__(self, "options", _default_options())
        object.__setattr__(self, "imports", tuple(self.imports))


def backend_hooks(
    generator: str, solvers: str, routes: Mapping[str, str] | None = None
) -> tuple[Callable[..., Any], Callable[..., Any]]:
    """The ``emit_function`` and ``solve`` hook implementations of a backend whose code
    generator and solvers live in other modules of the plugin, imported on their first call (a
    plugin module is loaded for every ``rates`` command, so it must stay cheap to import).

    ``generator`` and ``solvers`` name functions as ``"package.module:function"``, called as
    ``generator(system, context)`` (an :class:`EmitContext`; returns the
    :class:`~rates_core.backend.EmittedFunction`) and ``solvers(solver, function, problem)``
    (returns the :class:`~rates_core.backend.Trajectory`). The host calls both hooks on the
    owning plugin only. In the plugin module (the target of the entry point)::

        emit_function, solve = backend_hooks("rates_foo.emit:emit_function",
                                             "rates_foo.solvers:solve")

    ``routes`` sends some solver names to another solver function of the same signature (a
    family kept in its own module, such as the SDE methods): ``{"foo_em": "rates_foo.sde:solve"}``.
    """
    generate, integrate = _target(generator), _target(solvers)
    routed = {name: _target(spec) for name, spec in (routes or {}).items()}

    @hookimpl
    def emit_function(backend: str, system: System, context: EmitContext) -> EmittedFunction:
        return generate()(system, context)

    @hookimpl
    def solve(solver: str, function: EmittedFunction, problem: Problem) -> Trajectory:
        return routed.get(solver, integrate)()(solver, function, problem)

    return emit_function, solve


def _target(spec: str) -> Callable[[], Callable[..., Any]]:
    """A loader of the function ``"package.module:function"`` (imported when first asked)."""
    module_name, _, name = spec.partition(":")
    if not _MODULE_NAME.fullmatch(module_name) or not name.isidentifier():
        raise ValueError(f"expected 'package.module:function', got {spec!r}")

    def load() -> Callable[..., Any]:
        import importlib

        return getattr(importlib.import_module(module_name), name)

    return load
