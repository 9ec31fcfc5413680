"""Hook specifications of the ``rates`` plugin contract.

A plugin implements any subset of these as plain functions marked with
``@rates_core.plugins.hookimpl`` and named exactly like the hooks below (a misspelled name makes
the plugin "broken"). Implementations take the listed parameters (or a subset of them), without
defaults and without keyword-only parameters. Heavy imports belong inside the hook bodies.

The core dispatches by name: it calls every implementation and keeps the non-None answers, so a
plugin must return None for backends and solvers it does not own.
"""

from __future__ import annotations

from typing import Any

from rates_core.plugins.contract import BackendInfo, SolverInfo, hookspec

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
    """Describe the backends this plugin owns (name, capabilities, description).

    Called once when the plugin is loaded; a backend name must be declared by one distribution only.
    """


@hookspec
def register_solvers() -> list[SolverInfo]:
    """Describe the solvers this plugin owns (name, backend, fixed/adaptive, capabilities)."""


@hookspec
def register_builtins(backend: str) -> dict[str, Any] | None:
    """Equation-level functions this plugin provides for ``backend``: name -> implementation.

    Broadcast: every plugin may add functions, also for other plugins' backends. Two plugins giving
    different implementations for the same name is a conflict.
    """


@hookspec
def add_import(backend: str, system: Any) -> list[str] | None:
    """Extra import / ``using`` lines the emitted file for ``backend`` needs (broadcast, merged)."""


@hookspec
def emit_function(backend: str, system: Any, options: Any) -> Any | None:
    """Generate the vector field of ``system`` for ``backend``.

    The plugin owning ``backend`` returns the generated source and a callable (or build artefact);
    every other plugin returns None.
    """


@hookspec
def solve(solver: str, function: Any, problem: Any) -> Any | None:
    """Integrate ``problem`` with the emitted ``function`` using ``solver``.

    The plugin owning ``solver`` returns the sampled trajectory; every other plugin returns None.
    """
