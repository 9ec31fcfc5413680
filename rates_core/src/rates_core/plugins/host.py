"""The plugin host: discovers ``rates`` entry points and dispatches hooks by backend/solver name.

Each entry point is loaded and checked on its own; a plugin that cannot be imported, uses an
unknown hook name, has a bad hook signature, or whose registration hooks raise or return bad
descriptions is recorded in :attr:`PluginHost.broken`, reported with a
:class:`RatesPluginWarning`, and unregistered, while the other plugins keep working.
"""

from __future__ import annotations

import inspect
import threading
import traceback
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import pluggy

from rates_core.errors import (
    PluginConflictError,
    SolverFallbackWarning,
    UnknownBackendError,
    warn_user,
)
from rates_core.plugins import hookspecs
from rates_core.plugins.contract import (
    ENTRY_POINT_GROUP,
    PROJECT_NAME,
    BackendInfo,
    EmitContext,
    RatesPluginWarning,
    SolverInfo,
    unknown_capabilities,
)

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint

#: what a registration hook returns items of
_Info = TypeVar("_Info", BackendInfo, SolverInfo)

__all__ = [
    "BrokenPlugin",
    "Conflict",
    "PluginHost",
    "PluginRecord",
    "default_host",
    "method_listing",
]


def _label(name: str, distribution: str | None, version: str | None) -> str:
    if distribution is None:
        return f"entry point {name!r}"
    dist = f"{distribution} {version}" if version else distribution
    return f"{dist} (entry point {name!r})"


@dataclass(frozen=True)
class PluginRecord:
    """A plugin that loaded and registered: entry point name, distribution, what it declares."""

    name: str
    distribution: str | None
    version: str | None
    backends: tuple[BackendInfo, ...] = ()
    solvers: tuple[SolverInfo, ...] = ()

    @property
    def label(self) -> str:
        """``"<distribution> <version> (entry point '<name>')"``, for messages."""
        return _label(self.name, self.distribution, self.version)


@dataclass(frozen=True)
class BrokenPlugin:
    """A plugin that was skipped, and why. ``details`` holds the traceback, if there was one."""

    name: str
    distribution: str | None
    reason: str
    version: str | None = None
    details: str = field(default="", repr=False, compare=False)

    @property
    def label(self) -> str:
        """``"<distribution> <version> (entry point '<name>')"``, for messages."""
        return _label(self.name, self.distribution, self.version)


@dataclass(frozen=True)
class Conflict:
    """A backend or solver name declared by more than one plugin; ``kind`` is "backend"/"solver"."""

    kind: str
    name: str
    plugins: tuple[PluginRecord, ...]

    @property
    def distributions(self) -> tuple[str, ...]:
        """The distribution names (or entry point names) of the declaring plugins."""
        return tuple(p.distribution or p.name for p in self.plugins)

    def message(self) -> str:
        """The text of the :class:`PluginConflictError` raised when the name is used."""
        who = " and ".join(p.label for p in self.plugins)
        dists = sorted({p.distribution for p in self.plugins if p.distribution})
        hint = f" (pip uninstall {' or '.join(dists)})" if len(dists) > 1 else ""
        return (
            f"{self.kind} {self.name!r} is declared by more than one installed plugin: {who}. "
            f"Uninstall all but one of them{hint}."
        )


class _PluginProblem(Exception):
    """Internal: a plugin failed a check; the message is the reason shown to the user."""


def _exception_text(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _add_note(exc: BaseException, note: str) -> None:
    if hasattr(exc, "add_note"):  # Python >= 3.11
        exc.add_note(note)


class PluginHost:
    """Owns one pluggy manager with the ``rates`` hook specs and the plugins registered to it.

    Build one with :meth:`discover` (entry points of the ``rates`` group) or use
    :func:`default_host`; :meth:`register` adds an in-process plugin object.
    """

    def __init__(self) -> None:
        self._pm = pluggy.PluginManager(PROJECT_NAME)
        self._pm.add_hookspecs(hookspecs)
        self._plugins: dict[str, PluginRecord] = {}
        self._broken: list[BrokenPlugin] = []
        # tables derived from the registered plugins (declarations per kind, methods per
        # backend): asked for on every run, so kept until the next registration
        self._tables: dict[tuple[str, str], Any] = {}

    # ------------------------------------------------------------------ loading

    @classmethod
    def discover(cls, group: str = ENTRY_POINT_GROUP) -> PluginHost:
        """A fresh host with every entry point of ``group`` loaded (each in its own try/except).

        Entry points are loaded in a fixed order (distribution name, entry point name); dispatch
        never depends on that order.
        """
        from importlib.metadata import entry_points  # not at import time: it is slow to import

        host = cls()
        eps = sorted(entry_points(group=group), key=lambda ep: (_dist_of(ep)[0] or "", ep.name))
        for ep in eps:
            host._load_entry_point(ep)
        return host

    def _load_entry_point(self, ep: EntryPoint) -> None:
        distribution, version = _dist_of(ep)
        try:
            plugin = ep.load()
        except Exception as exc:
            self._mark_broken(
                ep.name,
                distribution,
                version,
                f"cannot be imported ({ep.value}): {_exception_text(exc)}",
                traceback.format_exc(),
            )
            return
        self.register(plugin, ep.name, distribution, version)

    def register(
        self,
        plugin: object,
        name: str,
        distribution: str | None = None,
        version: str | None = None,
    ) -> PluginRecord | None:
        """Register ``plugin`` (a module or object with hookimpls) under ``name`` and check it.

        Returns its record, or None when it is broken (then it is unregistered, added to
        :attr:`broken` and a :class:`RatesPluginWarning` is issued).
        """
        if name in self._plugins or self._pm.has_plugin(name):
            other = self._plugins.get(name)
            owner = other.label if other else f"another plugin named {name!r}"
            self._mark_broken(
                name, distribution, version, f"its entry point name is already used by {owner}"
            )
            return None
        try:
            self._pm.register(plugin, name=name)
        except Exception as exc:
            if self._pm.get_plugin(name) is plugin:  # pluggy may have added some hooks already
                self._pm.unregister(name=name)
            self._mark_broken(name, distribution, version, _exception_text(exc))
            return None
        try:
            self._check_hooks(name)
            backends = self._registration(name, "register_backends", BackendInfo)
            solvers = self._registration(name, "register_solvers", SolverInfo)
        except _PluginProblem as exc:
            self._pm.unregister(name=name)
            self._mark_broken(name, distribution, version, str(exc), _tb(exc))
            return None
        record = PluginRecord(name, distribution, version, backends, solvers)
        self._plugins[name] = record
        self._tables.clear()
        return record

    def _mark_broken(
        self,
        name: str,
        distribution: str | None,
        version: str | None,
        reason: str,
        details: str = "",
    ) -> None:
        broken = BrokenPlugin(name, distribution, reason, version, details)
        self._broken.append(broken)
        warnings.warn(
            f"rates plugin {broken.label} was not loaded: {reason}",
            RatesPluginWarning,
            stacklevel=3,
        )

    def _impls(self, name: str) -> list[pluggy.HookImpl]:
        plugin = self._pm.get_plugin(name)
        impls: list[pluggy.HookImpl] = []
        for caller in self._pm.get_hookcallers(plugin) or []:
            impls.extend(i for i in caller.get_hookimpls() if i.plugin_name == name)
        return impls

    def _check_hooks(self, name: str) -> None:
        impls = self._impls(name)
        if not impls:
            raise _PluginProblem(
                "it defines no hook implementations; mark hook functions with "
                "@hookimpl (from rates_core.plugins import hookimpl)"
            )
        for impl in impls:
            hook = _hook_name(impl)
            caller = getattr(self._pm.hook, hook, None)
            if caller is not None and not caller.has_spec() and not impl.optionalhook:
                import difflib

                close = difflib.get_close_matches(hook, hookspecs.HOOK_NAMES, n=1)
                hint = f"did you mean {close[0]!r}? " if close else ""
                raise _PluginProblem(
                    f"unknown hook {hook!r} ({hint}known hooks: {', '.join(hookspecs.HOOK_NAMES)})"
                )
            if getattr(impl, "wrapper", False) or getattr(impl, "hookwrapper", False):
                raise _PluginProblem(f"hook {hook!r} is a wrapper; rates hooks cannot be wrappers")
            for param in inspect.signature(impl.function).parameters.values():
                if param.kind not in (param.POSITIONAL_ONLY, param.POSITIONAL_OR_KEYWORD):
                    raise _PluginProblem(
                        f"hook {hook!r} has the {param.kind.description} parameter "
                        f"{param.name!r}; hook parameters must be plain positional names"
                    )
                if param.default is not param.empty:
                    raise _PluginProblem(
                        f"hook {hook!r} gives parameter {param.name!r} a default; pluggy never "
                        "passes parameters with defaults"
                    )
        try:
            self._pm.check_pending()
        except pluggy.PluginValidationError as exc:
            raise _PluginProblem(str(exc)) from exc

    def _registration(self, name: str, hook: str, cls: type[_Info]) -> tuple[_Info, ...]:
        impl = self._impl_of(name, hook)
        if impl is None:
            return ()
        try:
            result = impl.function()
        except Exception as exc:
            raise _PluginProblem(f"{hook}() raised {_exception_text(exc)}") from exc
        if result is None:
            return ()
        if isinstance(result, (str, bytes, Mapping)) or not isinstance(result, Iterable):
            raise _PluginProblem(
                f"{hook}() must return a list of {cls.__name__}, got {type(result).__name__}"
            )
        infos = tuple(result)
        seen: set[str] = set()
        kind = "backend" if cls is BackendInfo else "solver"
        for info in infos:
            if not isinstance(info, cls):
                raise _PluginProblem(f"{hook}() must return {cls.__name__} objects, got {info!r}")
            if info.name in seen:
                raise _PluginProblem(f"{hook}() declares {kind} {info.name!r} twice")
            seen.add(info.name)
            problems = unknown_capabilities(info.capabilities)
            if problems:
                raise _PluginProblem(f"{kind} {info.name!r}: {'; '.join(problems)}")
        return infos

    # ------------------------------------------------------------------ inspection

    @property
    def plugins(self) -> tuple[PluginRecord, ...]:
        """The plugins that loaded, in load order."""
        return tuple(self._plugins.values())

    @property
    def broken(self) -> tuple[BrokenPlugin, ...]:
        """The plugins that were skipped, with the reason."""
        return tuple(self._broken)

    @property
    def plugin_manager(self) -> pluggy.PluginManager:
        """The underlying pluggy manager (for inspection; dispatch through the host's methods)."""
        return self._pm

    def _declarations(self, kind: str) -> dict[str, list[tuple[Any, PluginRecord]]]:
        """Name -> every (description, plugin) declaring it; shared, not to be modified."""
        key = ("declarations", kind)
        if key not in self._tables:
            table: dict[str, list[tuple[Any, PluginRecord]]] = {}
            for record in self._plugins.values():
                for info in record.backends if kind == "backend" else record.solvers:
                    table.setdefault(info.name, []).append((info, record))
            self._tables[key] = table
        return self._tables[key]

    def backends(self) -> dict[str, tuple[BackendInfo, str | None]]:
        """Backend name -> (description, distribution), for names declared by exactly one plugin.

        Names declared by several plugins are left out and listed by :meth:`conflicts`.
        """
        table = self._declarations("backend")
        return {n: (d[0][0], d[0][1].distribution) for n, d in table.items() if len(d) == 1}

    def solvers(self) -> dict[str, tuple[SolverInfo, str | None]]:
        """Solver name -> (description, distribution), for names declared by exactly one plugin."""
        table = self._declarations("solver")
        return {n: (d[0][0], d[0][1].distribution) for n, d in table.items() if len(d) == 1}

    def conflicts(self) -> list[Conflict]:
        """Backend and solver names declared by more than one plugin."""
        found = []
        for kind in ("backend", "solver"):
            for name, decls in self._declarations(kind).items():
                if len(decls) > 1:
                    found.append(Conflict(kind, name, tuple(r for _, r in decls)))
        return found

    def _owner(self, kind: str, name: str) -> tuple[Any, PluginRecord]:
        decls = self._declarations(kind).get(name, [])
        if not decls:
            raise UnknownBackendError(self._unknown_message(kind, name))
        if len(decls) > 1:
            raise PluginConflictError(Conflict(kind, name, tuple(r for _, r in decls)).message())
        return decls[0]

    def _unknown_message(self, kind: str, name: str) -> str:
        declared = self._declarations(kind)
        if declared:
            listed = ", ".join(
                f"{n} ({' / '.join(r.distribution or r.name for _, r in decls)})"
                for n, decls in sorted(declared.items())
            )
            text = (
                f"No installed rates plugin provides {kind} {name!r}. Installed {kind}s: {listed}."
            )
        else:
            text = f"No installed rates plugin provides {kind} {name!r}; no {kind}s are installed."
        if kind == "backend":
            text += _backend_install_hint(name)
        else:
            text += (
                " Solvers come with backend plugins (e.g. `pip install rates-numpy`); "
                "run `rates plugins` to list what is installed."
            )
        if self._broken:
            labels = ", ".join(b.label for b in self._broken)
            text += f" Plugins that failed to load (see `rates plugins`): {labels}."
        return text

    def backend_info(self, name: str) -> BackendInfo:
        """The description of backend ``name``.

        Raises UnknownBackendError when no plugin declares it, PluginConflictError when several do.
        """
        return self._owner("backend", name)[0]

    def solver_info(self, name: str) -> SolverInfo:
        """The description of solver ``name`` (errors as in :meth:`backend_info`)."""
        return self._owner("solver", name)[0]

    # ------------------------------------------------------------------ dispatch

    def _impl_of(self, plugin_name: str, hook: str) -> pluggy.HookImpl | None:
        caller = getattr(self._pm.hook, hook)
        for impl in caller.get_hookimpls():
            if impl.plugin_name == plugin_name:
                return impl
        return None

    def _broadcast(self, hook: str, **kwargs: Any) -> list[tuple[PluginRecord, Any]]:
        """Call ``hook`` of each loaded plugin in load order; the non-None (plugin, answer)s."""
        impls = {impl.plugin_name: impl for impl in getattr(self._pm.hook, hook).get_hookimpls()}
        answers = []
        for name, record in self._plugins.items():
            impl = impls.get(name)
            if impl is None:
                continue
            try:
                result = impl.function(*(kwargs[arg] for arg in impl.argnames))
            except Exception as exc:
                _add_note(exc, f"(raised by rates plugin {record.label} in hook {hook})")
                raise
            if result is not None:
                answers.append((record, result))
        return answers

    def _call_owner(self, hook: str, kind: str, name: str, **kwargs: Any) -> Any:
        """Call ``hook`` on the plugin that declared ``kind`` ``name`` only; its answer."""
        _, owner = self._owner(kind, name)
        impl = self._impl_of(owner.name, hook)
        if impl is None:
            raise UnknownBackendError(
                f"rates plugin {owner.label} declares {kind} {name!r} but has no {hook} hook"
            )
        try:
            result = impl.function(*(kwargs[arg] for arg in impl.argnames))
        except Exception as exc:
            _add_note(exc, f"(raised by rates plugin {owner.label} in hook {hook})")
            raise
        if result is None:
            raise UnknownBackendError(
                f"rates plugin {owner.label} declares {kind} {name!r} but its {hook} hook "
                "returned None for it"
            )
        return result

    def emit_context(self, backend: str, system: Any, options: Any) -> EmitContext:
        """The :class:`EmitContext` the owner of ``backend`` gets: merged builtins and imports."""
        return EmitContext(
            builtins=self.builtins(backend),
            imports=tuple(self.imports(backend, system)),
            options=options,
        )

    def emit_function(self, backend: str, system: Any, options: Any) -> Any:
        """Generated source + callable of ``system`` from the plugin that owns ``backend``.

        Only the owner's ``emit_function`` hook is called, with this host's
        :meth:`emit_context` (so builtins registered on this host are the ones used).
        """
        self._owner("backend", backend)  # unknown / conflicting name first
        context = self.emit_context(backend, system, options)
        return self._call_owner(
            "emit_function", "backend", backend, backend=backend, system=system, context=context
        )

    def solve(self, solver: str, function: Any, problem: Any) -> Any:
        """The sampled trajectory computed by the plugin that owns ``solver`` (a full name;
        see :meth:`resolve_solver` for method names). Samples that cannot fit in memory are a
        :class:`~rates_core.errors.SolverError` saying how many and what to do, before the
        run where their size is known to exceed the machine's memory, else when it fails."""
        from rates_core.backend import check_sample_memory, sample_memory_error

        system = getattr(function, "system", None)
        if system is not None:
            check_sample_memory(problem, system, solver)
        try:
            return self._call_owner(
                "solve", "solver", solver, solver=solver, function=function, problem=problem
            )
        except MemoryError:
            if system is None:
                raise
            raise sample_memory_error(problem, system, solver) from None

    # ------------------------------------------------------------------ solver methods

    def _method_table(self, backend: str) -> dict[str, list[SolverInfo]]:
        """Method -> the solvers of ``backend`` claiming it; shared, not to be modified."""
        key = ("methods", backend)
        if key not in self._tables:
            table: dict[str, list[SolverInfo]] = {}
            for info, _ in self.solvers().values():
                if info.backend == backend:
                    table.setdefault(info.method, []).append(info)
            self._tables[key] = dict(sorted(table.items()))
        return self._tables[key]

    def methods(self, backend: str) -> dict[str, SolverInfo]:
        """Method name -> solver, for the solvers that drive ``backend`` (sorted by method).

        A method two solvers of the backend claim is left out (:meth:`resolve_solver` reports
        it as a conflict): dispatch never depends on load order.
        """
        return {m: infos[0] for m, infos in self._method_table(backend).items() if len(infos) == 1}

    def resolve_solver(self, backend: str, solver: str) -> SolverInfo:
        """The solver that runs method (or full name) ``solver`` on ``backend``.

        A method of the backend wins (``"rk4"`` on fortran is ``fortran_rk4``); a full name of
        one of its solvers is an alias. A solver of another backend declaring ``any_backend`` is
        used only when named and the backend lacks that method, with a
        :class:`~rates_core.errors.SolverFallbackWarning` about speed. Otherwise an
        :class:`~rates_core.errors.UnknownBackendError` lists the backend's methods.
        """
        self.backend_info(backend)
        claims = self._method_table(backend).get(solver, [])
        if len(claims) > 1:
            names = " and ".join(repr(i.name) for i in claims)
            raise PluginConflictError(
                f"solver method {solver!r} of backend {backend!r} is claimed by {names}; "
                "pass the full solver name, or uninstall one of the plugins"
            )
        methods = self.methods(backend)
        if solver in methods:
            return methods[solver]
        if solver in self._declarations("solver"):
            info = self.solver_info(solver)  # PluginConflictError for a name declared twice
            if info.backend == backend:
                return info
            if info.any_backend:
                listing = method_listing(methods)
                warn_user(
                    f"backend {backend!r} has no solver method {solver!r} (its methods: "
                    f"{listing}); running {info.backend}'s {info.name!r}, which calls "
                    f"{backend}'s vector field from Python at every step: expect it to be slow",
                    SolverFallbackWarning,
                )
                return info
        raise UnknownBackendError(self._no_method_message(backend, solver, methods))

    def _no_method_message(self, backend: str, solver: str, methods: dict[str, SolverInfo]) -> str:
        listing = method_listing(methods)
        return (
            f"backend {backend!r} has no solver {solver!r}; its methods: {listing}. "
            "Run `rates plugins` to list every backend's methods."
        )

    def builtins(self, backend: str) -> dict[str, Any]:
        """All equation-level functions the plugins provide for ``backend``, merged.

        The same name with different implementations from two plugins is a PluginConflictError.
        """
        merged: dict[str, Any] = {}
        origin: dict[str, PluginRecord] = {}
        for record, answer in self._broadcast("register_builtins", backend=backend):
            if not isinstance(answer, Mapping):
                raise TypeError(
                    f"rates plugin {record.label}: register_builtins must return a dict, "
                    f"got {type(answer).__name__}"
                )
            for fname, impl in answer.items():
                if fname in merged and not _same(merged[fname], impl):
                    raise PluginConflictError(
                        f"builtin function {fname!r} for backend {backend!r} is defined "
                        f"differently by {origin[fname].label} and {record.label}"
                    )
                merged.setdefault(fname, impl)
                origin.setdefault(fname, record)
        return merged

    def imports(self, backend: str, system: Any) -> list[str]:
        """All import lines the plugins add for ``backend``, de-duplicated in first-seen order."""
        lines: dict[str, None] = {}
        for record, answer in self._broadcast("add_import", backend=backend, system=system):
            if isinstance(answer, (str, bytes)) or not isinstance(answer, Iterable):
                raise TypeError(
                    f"rates plugin {record.label}: add_import must return a list of strings, "
                    f"got {answer!r}"
                )
            for line in answer:
                if not isinstance(line, str):
                    raise TypeError(
                        f"rates plugin {record.label}: add_import returned a non-string {line!r}"
                    )
                lines.setdefault(line, None)
        return list(lines)


def method_listing(methods: Mapping[str, SolverInfo]) -> str:
    """``"euler (numpy_euler), rk4"``: method names, with the full name where it differs."""
    if not methods:
        return "none"
    return ", ".join(m if i.name == m else f"{m} ({i.name})" for m, i in methods.items())


def _hook_name(impl: pluggy.HookImpl) -> str:
    return impl.opts.get("specname") or impl.function.__name__


def _same(a: Any, b: Any) -> bool:
    if a is b:
        return True
    try:
        return bool(a == b)
    except Exception:
        return False


def _tb(exc: BaseException) -> str:
    cause = exc.__cause__
    if cause is None:
        return ""
    return "".join(traceback.format_exception(type(cause), cause, cause.__traceback__))


def _dist_of(ep: EntryPoint) -> tuple[str | None, str | None]:
    dist = getattr(ep, "dist", None)
    if dist is None:
        return None, None
    try:
        name = dist.name
    except Exception:
        name = None
    try:
        version = dist.version
    except Exception:
        version = None
    return name, version


_default_lock = threading.Lock()
_default_host: PluginHost | None = None


def default_host(refresh: bool = False) -> PluginHost:
    """The process-wide host, discovered on first use (or again when ``refresh`` is true)."""
    global _default_host
    with _default_lock:
        if _default_host is None or refresh:
            _default_host = PluginHost.discover()
        return _default_host


#: The backends of the rates project and the distributions that provide them.
PROJECT_BACKENDS = {
    "numpy": "rates-numpy",
    "torch": "rates-torch",
    "fortran": "rates-fortran",
    "julia": "rates-julia",
    "matlab": "rates-matlab",
}
#: PyRates backend names without a rates plugin of that name, and what to use instead.
PYRATES_BACKENDS = {
    "default": "PyRates's 'default' backend is rates's 'numpy' (rates-numpy)",
    "tensorflow": "rates has no TensorFlow backend; 'torch' (rates-torch) is its autodiff backend",
}


def _backend_install_hint(name: str) -> str:
    """How to get backend ``name``: the real distribution for the project's backends, the
    rates counterpart of a PyRates name, else where third-party backends come from. Never
    an invented distribution name."""
    if name in PROJECT_BACKENDS:
        return f" To use it, install its plugin: `pip install {PROJECT_BACKENDS[name]}`."
    if name in PYRATES_BACKENDS:
        return f" {PYRATES_BACKENDS[name]}."
    known = ", ".join(f"{b} ({d})" for b, d in PROJECT_BACKENDS.items())
    return (
        f" The rates project's backends are {known}; other backends come from third-party "
        "plugins (see the plugin guide)."
    )
