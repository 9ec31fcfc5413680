"""Hook specifications of the ``rates`` plugin contract.

A plugin implements any subset of these as plain functions marked with
``@rates_core.plugins.hookimpl`` and named exactly like the hooks below (a misspelled name makes
the plugin "broken"). Implementations take the listed parameters (or a subset of them), without
defaults and without keyword-only parameters. Heavy imports belong inside the hook bodies
that compute (``emit_function``, ``solve``), never in the module the entry point names nor in
the registration hooks: those run in every rates process, whichever backend it uses (the
conformance test ``test_registration_is_light`` checks it).

Dispatch: ``register_backends`` and ``register_solvers`` are called once per plugin when it is
loaded. ``emit_function`` and ``solve`` are called on the plugin that declared the backend or
solver only, so they never check "is this mine?". ``register_builtins`` and ``add_import`` are
broadcast to every plugin and the answers are merged (return None for nothing to add).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rates_core.plugins.contract import hookspec

if TYPE_CHECKING:
    from rates_core.backend import EmittedFunction, Problem, Trajectory
    from rates_core.plugins.contract import BackendInfo, EmitContext, SolverInfo
    from rates_core.system import System

#: The names of all hooks, in the order they are documented.
HOOK_NAMES = (
    "register_backends",
    "register_solvers",
    "register_builtins",
    "add_import",
    "emit_function",
    "solve",
)


@hookspec
def register_backends() -> list[BackendInfo]:
    """Describe the backends this plugin owns (name, capabilities, description, ``vjp``).

    Called once when the plugin is loaded, in every rates process: find the capabilities without
    importing the backend's runtime (``importlib.util.find_spec``, a file read as text). A
    backend name must be declared by one distribution only. Example::

        @hookimpl
        def register_backends():
            return [BackendInfo("foo", {"execute", "vectorised"}, "generated foo code")]
    """


@hookspec
def register_solvers() -> list[SolverInfo]:
    """Describe the solvers this plugin owns (name, backend, fixed/adaptive, method).

    Called once when the plugin is loaded. ``run(backend="foo", solver="rk4")`` picks foo's
    solver whose ``method`` is ``"rk4"`` (by default the name without the ``foo_`` prefix).
    Example::

        @hookimpl
        def register_solvers():
            return [SolverInfo("foo_rk4", "foo", adaptive=False, description="order 4")]
    """


@hookspec
def register_builtins(backend: str) -> dict[str, Any] | None:
    """Equation-level functions this plugin provides for ``backend``: name -> implementation.

    :param backend: the backend code is generated for.

    Broadcast: every plugin may add functions, also for other plugins' backends. Two plugins
    giving different implementations for the same name is a conflict. Example::

        @hookimpl
        def register_builtins(backend):
            return {"softplus": "foo_softplus"} if backend == "foo" else None
    """


@hookspec
def add_import(backend: str, system: System) -> list[str] | None:
    """Extra import / ``using`` lines the emitted file for ``backend`` needs.

    :param backend: the backend code is generated for.
    :param system: the System being emitted.

    Broadcast; the lines of all plugins are merged without duplicates and reach the owner's
    ``emit_function`` as ``context.imports``. Example::

        @hookimpl
        def add_import(backend, system):
            return ["import math"] if backend == "foo" else None
    """


@hookspec
def emit_function(backend: str, system: System, context: EmitContext) -> EmittedFunction:
    """Generate the vector field of ``system`` for ``backend``.

    :param backend: a backend this plugin declared.
    :param system: the System to generate code for.
    :param context: the merged builtins and imports and the emit options (:class:`EmitContext`).

    Called on the plugin that declared ``backend`` only; returns the generated source and
    callables as an :class:`~rates_core.backend.EmittedFunction`. Example::

        @hookimpl
        def emit_function(backend, system, context):
            return my_emit(system, context.options, context.builtins, context.imports)
    """


@hookspec
def solve(solver: str, function: EmittedFunction, problem: Problem) -> Trajectory:
    """Integrate ``problem`` with the emitted ``function`` using ``solver``.

    :param solver: the full name of a solver this plugin declared (never a bare method alias).
    :param function: what the backend's ``emit_function`` returned.
    :param problem: time grid, parameters, inputs, initial state and options.

    Called on the plugin that declared ``solver`` only; returns the sampled trajectory.
    Example::

        @hookimpl
        def solve(solver, function, problem):
            return my_loops.run(solver, function, problem)
    """
