"""The plugin contract of rates and its host.

Plugins are distributions with an entry point in the ``rates`` group whose target (a module or an
object) carries hook implementations::

    # pyproject.toml of rates-foo
    [project.entry-points.rates]
    foo = "rates_foo.plugin"

    # rates_foo/plugin.py
    from rates_core.plugins import BackendInfo, hookimpl

    @hookimpl
    def register_backends():
        return [BackendInfo("foo", frozenset({"execute"}))]

The hooks are specified in :mod:`rates_core.plugins.hookspecs`. Importing this package loads no
plugin; discovery happens on the first call of :func:`default_host` or :meth:`PluginHost.discover`.
"""

from rates_core.plugins.contract import (
    CAPABILITIES,
    ENTRY_POINT_GROUP,
    PROJECT_NAME,
    BackendInfo,
    EmitContext,
    RatesPluginWarning,
    SolverInfo,
    backend_hooks,
    hookimpl,
    hookspec,
    solver_family,
    unknown_capabilities,
)
from rates_core.plugins.host import (
    BrokenPlugin,
    Conflict,
    PluginHost,
    PluginRecord,
    default_host,
)

__all__ = [
    "CAPABILITIES",
    "ENTRY_POINT_GROUP",
    "PROJECT_NAME",
    "BackendInfo",
    "BrokenPlugin",
    "Conflict",
    "EmitContext",
    "PluginHost",
    "PluginRecord",
    "RatesPluginWarning",
    "SolverInfo",
    "backend_hooks",
    "default_host",
    "hookimpl",
    "hookspec",
    "solver_family",
    "unknown_capabilities",
]
