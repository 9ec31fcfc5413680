"""The plugin host: discovery of real installed distributions, dispatch by name, broken plugins.

The fixture distributions in ``tests/fixtures`` are built and pip-installed once per session (see
``tests/fixtures/plugin_dists.py``); each scenario runs in a subprocess whose ``PYTHONPATH`` lists
the installed sites, and reports what the host saw as JSON. The checks of single rules (bad
capability, bad signature, ...) register in-process plugin objects through the public
:meth:`PluginHost.register`.
"""

from __future__ import annotations

import json
import sys
import warnings
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import plugin_dists as dists  # tests/conftest.py puts tests/fixtures on the path
import pytest

from rates_core.errors import PluginConflictError, UnknownBackendError
from rates_core.plugins import (
    CAPABILITIES,
    BackendInfo,
    PluginHost,
    RatesPluginWarning,
    SolverInfo,
    default_host,
    hookimpl,
)

PROBE = r"""
import json, sys, warnings

import rates_core.plugins as rp
import rates_core.cli  # noqa: F401

FIXTURE_MODULES = ("rates_fixture_plugin", "rates_conflict_plugin", "rates_broken_plugin",
                   "rates_misspelled_plugin")
loaded_by_import = sorted(m for m in sys.modules if m.startswith(FIXTURE_MODULES))

with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    host = rp.default_host()

# a real System and Problem for the emit / solve hooks (x' = -x, ten Euler steps of 0.1)
from rates_core import CircuitTemplate, NodeTemplate, OperatorTemplate, build_system
from rates_core.backend import EmitOptions, Problem

op = OperatorTemplate(name="op", equations=["x' = -x"], variables={"x": "output(1.0)"})
SYSTEM = build_system(
    CircuitTemplate(name="probe", nodes={"n": NodeTemplate(name="node", operators=[op])})
)
PROBLEM = Problem(
    y0=SYSTEM.initial_state(), params=[], t0=0.0, simulation_time=1.0, step_size=0.1,
    sampling_step=0.1, n_samples=10,
)


def emitted(value):
    return value if isinstance(value, dict) else {"backend": value.backend, "source": value.source}


def solved():
    # emitted by the fixture plugin itself: with a conflicting claim on 'fixture', the host
    # refuses to emit, but the solver 'fixture_euler' still dispatches
    from rates_fixture_plugin.plugin import emit_function

    context = rp.EmitContext({}, (), EmitOptions())
    traj = host.solve("fixture_euler", emit_function("fixture", SYSTEM, context), PROBLEM)
    return {"solver": traj.info["solver"], "final": traj.final.tolist()}


def call(fn, *args):
    try:
        return {"value": fn(*args)}
    except Exception as exc:
        return {"error": type(exc).__name__, "message": str(exc)}


def info(i):
    out = {k: getattr(i, k) for k in i.__dataclass_fields__ if k != "vjp"}
    out["capabilities"] = sorted(i.capabilities)
    return out


print(json.dumps({
    "loaded_by_import": loaded_by_import,
    "same_default_host": rp.default_host() is host,
    "warnings": [[w.category.__name__, str(w.message)] for w in caught],
    "plugins": [
        {"name": p.name, "distribution": p.distribution, "version": p.version,
         "backends": [info(b) for b in p.backends], "solvers": [info(s) for s in p.solvers]}
        for p in host.plugins
    ],
    "broken": [[b.name, b.distribution, b.reason] for b in host.broken],
    "backends": {n: dist for n, (_, dist) in host.backends().items()},
    "solvers": {n: dist for n, (_, dist) in host.solvers().items()},
    "conflicts": [[c.kind, c.name, list(c.distributions)] for c in host.conflicts()],
    "backend_info": call(lambda: info(host.backend_info("fixture"))),
    "solver_info": call(lambda: info(host.solver_info("fixture_euler"))),
    "emit": call(lambda: emitted(host.emit_function("fixture", SYSTEM, EmitOptions()))),
    "solve": call(solved),
    "builtins": call(host.builtins, "fixture"),
    "imports": call(host.imports, "fixture", "SYSTEM"),
    "unknown_backend": call(host.backend_info, "no_such"),
    "unknown_emit": call(host.emit_function, "no_such", "SYSTEM", {}),
    "unknown_solver": call(host.solver_info, "no_such_solver"),
    "misspelled_backend": call(host.backend_info, "misspelled"),
}))
"""


@pytest.fixture(scope="session")
def probe(sites: dict, tmp_path_factory: pytest.TempPathFactory) -> Callable[..., dict]:
    """``probe(*keys)``: what a host discovers with those fixture sites installed (cached)."""
    reports: dict[tuple[str, ...], dict[str, Any]] = {}

    def run(*keys: str) -> dict[str, Any]:
        if keys not in reports:
            cwd = tmp_path_factory.mktemp("probe")
            proc = dists.run_python([sites[k] for k in keys], ["-c", PROBE], cwd=cwd)
            assert proc.returncode == 0, proc.stderr
            reports[keys] = json.loads(proc.stdout)
        return reports[keys]

    return run


def fixture_plugin(report: dict) -> dict:
    (plugin,) = [p for p in report["plugins"] if p["name"] == "fixture"]
    return plugin


# ----------------------------------------------------------------------------- real distributions


def test_discovery_and_dispatch_by_name(probe: Callable[..., dict]) -> None:
    report = probe("fixture")

    assert report["loaded_by_import"] == [], "importing rates_core.plugins must load no plugin"
    assert report["same_default_host"]
    assert not [w for w in report["warnings"] if "fixture" in w[1]]
    plugin = fixture_plugin(report)
    assert plugin["distribution"] == "rates-fixture-plugin"
    assert plugin["version"] == "0.1.0"
    assert [b["name"] for b in plugin["backends"]] == ["fixture"]
    assert plugin["backends"][0]["capabilities"] == [
        "complex",
        "dde",
        "execute",
        "grid_delays",
        "jacobian",
        "vectorised",
    ]
    assert [(s["name"], s["backend"], s["adaptive"]) for s in plugin["solvers"]] == [
        ("fixture_euler", "fixture", False),
        ("fixture_rk4", "fixture", False),
    ]
    assert report["backends"]["fixture"] == "rates-fixture-plugin"
    assert report["solvers"]["fixture_euler"] == "rates-fixture-plugin"

    assert report["backend_info"]["value"]["name"] == "fixture"
    assert report["solver_info"]["value"]["backend"] == "fixture"
    assert report["emit"]["value"]["backend"] == "fixture"
    assert "'probe'" in report["emit"]["value"]["source"]
    assert report["solve"]["value"]["solver"] == "fixture_euler"
    assert report["solve"]["value"]["final"] == pytest.approx([0.9**10], rel=1e-12)
    assert report["builtins"]["value"] == {"fixture_double": "2*"}
    assert report["imports"]["value"] == ["import math"]


def test_unknown_backend_and_solver_messages(probe: Callable[..., dict]) -> None:
    report = probe("fixture")

    for key in ("unknown_backend", "unknown_emit"):
        err = report[key]
        assert err["error"] == "UnknownBackendError"
        assert "'no_such'" in err["message"]
        assert "fixture (rates-fixture-plugin)" in err["message"]
        assert "rates-no-such" not in err["message"]
        assert "numpy (rates-numpy)" in err["message"]
    err = report["unknown_solver"]
    assert err["error"] == "UnknownBackendError"
    assert "solver 'no_such_solver'" in err["message"]
    assert "fixture_euler" in err["message"]


def test_two_distributions_claiming_a_backend_conflict(probe: Callable[..., dict]) -> None:
    report = probe("fixture", "conflict")

    assert {p["distribution"] for p in report["plugins"]} >= {
        "rates-fixture-plugin",
        "rates-conflict-plugin",
    }
    assert "fixture" not in report["backends"]
    assert ["backend", "fixture", ["rates-conflict-plugin", "rates-fixture-plugin"]] in report[
        "conflicts"
    ]
    for key in ("backend_info", "emit"):
        err = report[key]
        assert err["error"] == "PluginConflictError"
        assert "rates-fixture-plugin" in err["message"]
        assert "rates-conflict-plugin" in err["message"]
    # names only one distribution declares still dispatch
    assert report["solve"]["value"]["solver"] == "fixture_euler"
    # broadcast hooks merge: identical builtin definitions are fine, imports are de-duplicated
    assert report["builtins"]["value"] == {"fixture_double": "2*", "conflict_half": "0.5*"}
    assert report["imports"]["value"] == ["import math", "import cmath"]


def test_broken_and_misspelled_plugins_are_reported_and_skipped(
    probe: Callable[..., dict],
) -> None:
    report = probe("fixture", "broken", "misspelled")

    broken = {name: (dist, reason) for name, dist, reason in report["broken"]}
    assert set(broken) >= {"broken", "misspelled"}
    dist, reason = broken["broken"]
    assert dist == "rates-broken-plugin"
    assert "ImportError" in reason and "no_such_toolchain" in reason
    dist, reason = broken["misspelled"]
    assert dist == "rates-misspelled-plugin"
    assert "emit_functoin" in reason and "did you mean 'emit_function'" in reason

    messages = [m for cat, m in report["warnings"] if cat == "RatesPluginWarning"]
    assert any("rates-broken-plugin" in m and "ImportError" in m for m in messages)
    assert any("rates-misspelled-plugin" in m and "emit_functoin" in m for m in messages)

    assert "misspelled" not in {p["name"] for p in report["plugins"]}
    assert "misspelled" not in report["backends"]
    err = report["misspelled_backend"]
    assert err["error"] == "UnknownBackendError"
    assert "rates-broken-plugin" in err["message"]  # points at the plugins that failed to load
    # the good plugin still works
    assert report["emit"]["value"]["backend"] == "fixture"
    assert report["solve"]["value"]["solver"] == "fixture_euler"


# ----------------------------------------------------------------------------- in-process rules


class _Good:
    """A well-formed plugin object owning backend ``good`` and solver ``good_rk``."""

    @hookimpl
    def register_backends(self):
        return [BackendInfo("good", {"execute", "vectorised"})]

    @hookimpl
    def register_solvers(self):
        return [SolverInfo("good_rk", "good", adaptive=True, capabilities={"adaptive"})]

    @hookimpl
    def register_builtins(self, backend):
        return {"sigmoid": "good_sigmoid"} if backend == "good" else None

    @hookimpl
    def emit_function(self, backend, system, context):
        return ("good-source", system, context.builtins["sigmoid"])

    @hookimpl
    def solve(self, solver, function, problem):
        return ("trajectory", problem)


def _plugin(**hooks: Any) -> SimpleNamespace:
    """A plugin object whose attributes are the given functions, marked as hookimpls."""
    return SimpleNamespace(**{name: hookimpl(fn) for name, fn in hooks.items()})


def _register(host: PluginHost, plugin: object, name: str, dist: str | None = None) -> Any:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        record = host.register(plugin, name, dist, "1.0" if dist else None)
    return record, [w for w in caught if issubclass(w.category, RatesPluginWarning)]


def test_vocabulary_and_descriptions() -> None:
    assert {"execute", "adaptive", "dde", "gpu", "jacobian", "continuation"} <= CAPABILITIES
    # the documented list (docs/backends.rst): dde_algebraic, dde_outputs, sde, sde_delays,
    # grid_delays
    assert len(CAPABILITIES) == 16
    info = BackendInfo("x", ["execute"])
    assert info.capabilities == frozenset({"execute"})
    assert SolverInfo("s", "x", False).capabilities == frozenset()
    with pytest.raises(TypeError):
        BackendInfo("x", "execute")  # a string is not a collection of names
    with pytest.raises(TypeError):
        SolverInfo("s", "x", adaptive="yes")
    with pytest.raises(TypeError):
        BackendInfo("", frozenset())


def test_in_process_dispatch() -> None:
    host = PluginHost()
    record, caught = _register(host, _Good(), "good", "rates-good")
    assert record is not None and not caught
    assert host.backend_info("good").capabilities == {"execute", "vectorised"}
    assert host.emit_function("good", "S", None) == ("good-source", "S", "good_sigmoid")
    assert host.solve("good_rk", None, "P") == ("trajectory", "P")
    assert host.builtins("good") == {"sigmoid": "good_sigmoid"}
    assert host.builtins("other") == {}
    assert host.imports("good", None) == []
    with pytest.raises(UnknownBackendError, match="no_such"):
        host.solve("no_such", None, None)


@pytest.mark.parametrize(
    ("plugin", "reason"),
    [
        (_plugin(register_backends=lambda: [BackendInfo("b", {"vectorized"})]), "vectorised"),
        (
            _plugin(register_solvers=lambda: [SolverInfo("s", "b", True, {"warp"})]),
            "unknown capability 'warp'",
        ),
        (_plugin(register_backends=lambda: 1 / 0), "ZeroDivisionError"),
        (_plugin(register_backends=lambda: ["b"]), "BackendInfo"),
        (_plugin(register_backends=lambda: BackendInfo("b", set())), "list of BackendInfo"),
        (
            _plugin(register_backends=lambda: [BackendInfo("b", set()), BackendInfo("b", set())]),
            "twice",
        ),
        (_plugin(emit_function=lambda backend, system, context=None: None), "default"),
        (_plugin(emit_function=lambda backend, *, system, context: None), "keyword-only"),
        (_plugin(emit_function=lambda backend, system, context, extra: None), "extra"),
        (_plugin(emit_function=lambda backend, system, options: None), "options"),
        (_plugin(emit_functoin=lambda backend, system, context: None), "emit_functoin"),
        (SimpleNamespace(register_backends=lambda: []), "no hook implementations"),
    ],
)
def test_bad_plugins_are_broken_not_fatal(plugin: object, reason: str) -> None:
    host = PluginHost()
    assert _register(host, _Good(), "good")[0] is not None
    record, caught = _register(host, plugin, "bad", "rates-bad")
    assert record is None
    (broken,) = host.broken
    assert (broken.name, broken.distribution) == ("bad", "rates-bad")
    assert reason in broken.reason
    assert len(caught) == 1 and "rates-bad" in str(caught[0].message)
    assert [p.name for p in host.plugins] == ["good"]
    assert not [impls for impls in host.plugin_manager.get_hookcallers(plugin) or []]
    assert host.emit_function("good", "S", None) == ("good-source", "S", "good_sigmoid")


def test_duplicate_entry_point_name_is_broken() -> None:
    host = PluginHost()
    _register(host, _Good(), "good", "rates-good")
    record, caught = _register(host, _Good(), "good", "rates-other")
    assert record is None and caught
    assert "already used by rates-good" in host.broken[0].reason


def test_owner_emitting_nothing_is_an_error_and_others_are_never_asked() -> None:
    host = PluginHost()
    _register(host, _plugin(register_backends=lambda: [BackendInfo("mute", set())]), "mute", "m")
    with pytest.raises(UnknownBackendError, match="declares backend 'mute' but has no emit"):
        host.emit_function("mute", None, None)
    asked = []
    greedy = _plugin(
        emit_function=lambda backend, system, context: asked.append(backend) or "x",
        solve=lambda solver, function, problem: asked.append(solver) or "x",
    )
    _register(host, greedy, "greedy", "g")
    _register(host, _Good(), "good", "rates-good")
    with pytest.raises(UnknownBackendError, match="declares backend 'mute' but has no emit"):
        host.emit_function("mute", None, None)
    assert host.emit_function("good", "S", None)[0] == "good-source"
    assert host.solve("good_rk", None, "P") == ("trajectory", "P")
    assert asked == []  # dispatch goes to the owner only, never "is this yours?"


def test_emit_context_carries_the_explicit_hosts_builtins_and_imports() -> None:
    """A builtin registered on an explicit PluginHost (not the default one) reaches the code
    the owner generates and runs: the host passes an EmitContext, no plugin uses a global
    host."""
    fixture = pytest.importorskip("rates_fixture_plugin.plugin")  # not in the core session

    from rates_core import CircuitTemplate, NodeTemplate, OperatorTemplate, build_system
    from rates_core import builtins as core_builtins
    from rates_core.backend import EmitOptions, Problem

    host = PluginHost()
    _register(host, fixture, "fixture", "rates-fixture-plugin")
    extra = _plugin(
        register_builtins=lambda backend: {"only_here_triple": "3*"},
        add_import=lambda backend, system: ["import cmath"],
    )
    _register(host, extra, "extra", "rates-extra")
    op = OperatorTemplate(
        name="op", equations=["x' = -only_here_triple(x)"], variables={"x": "output(1.0)"}
    )
    circuit = CircuitTemplate(name="c", nodes={"n": NodeTemplate(name="node", operators=[op])})
    functions = core_builtins.function_table(host.builtins("fixture"))
    system = build_system(circuit, functions=functions)
    emitted = host.emit_function("fixture", system, EmitOptions())
    assert "import cmath" in emitted.source
    problem = Problem(
        y0=system.initial_state(),
        params=[],
        t0=0.0,
        simulation_time=1.0,
        step_size=0.1,
        sampling_step=0.1,
        n_samples=10,
    )
    final = host.solve("fixture_euler", emitted, problem).final
    assert final[0] == pytest.approx(0.7**10, rel=1e-12)  # x' = -3x, ten Euler steps of 0.1


def test_conflicting_builtins_name_both_distributions() -> None:
    host = PluginHost()
    _register(host, _Good(), "good", "rates-good")
    _register(host, _plugin(register_builtins=lambda backend: {"sigmoid": "other"}), "x", "rates-x")
    with pytest.raises(PluginConflictError, match="rates-good.*rates-x"):
        host.builtins("good")


def test_imports_must_be_lists_of_strings() -> None:
    host = PluginHost()
    _register(host, _plugin(add_import=lambda backend, system: "import os"), "p", "rates-p")
    with pytest.raises(TypeError, match="rates-p"):
        host.imports("any", None)


def test_errors_from_plugins_propagate_with_the_plugin_named() -> None:
    def emit(backend, system, context):
        raise ValueError("boom")

    host = PluginHost()
    _register(host, _Good(), "good", "rates-good")
    bad = _plugin(register_backends=lambda: [BackendInfo("bad", set())], emit_function=emit)
    _register(host, bad, "bad", "rates-bad")
    assert host.emit_function("good", "S", None)[0] == "good-source"
    with pytest.raises(ValueError, match="boom") as info:
        host.emit_function("bad", None, None)
    if sys.version_info >= (3, 11):
        assert any("rates-bad" in note for note in info.value.__notes__)


def test_default_host_is_cached_and_refreshable() -> None:
    host = default_host()
    assert default_host() is host
    assert default_host(refresh=True) is not host


def _solvers_plugin(*infos: SolverInfo) -> SimpleNamespace:
    return _plugin(register_solvers=lambda: list(infos))


def test_solver_methods_resolve_to_the_backends_own_solver() -> None:
    """``resolve_solver(backend, method)``: the backend's own solver of that method; full names
    are aliases; another backend's ``any_backend`` solver is a warned fallback; else an error
    listing the backend's methods."""
    from rates_core.errors import SolverFallbackWarning

    assert SolverInfo("fast_rk4", "fast", False).method == "rk4"
    assert SolverInfo("ode45", "fast", True).method == "ode45"
    assert SolverInfo("go", "fast", False, method="euler").method == "euler"
    host = PluginHost()
    backends = _plugin(
        register_backends=lambda: [BackendInfo("py", set()), BackendInfo("fast", set())]
    )
    _register(host, backends, "backends", "rates-backends")
    py = (
        SolverInfo("euler", "py", False, any_backend=True),
        SolverInfo("scipy", "py", True, any_backend=True),
    )
    _register(host, _solvers_plugin(*py), "py", "rates-py")
    fast = (SolverInfo("fast_euler", "fast", False), SolverInfo("fast_rk4", "fast", False))
    _register(host, _solvers_plugin(*fast), "fast", "rates-fast")
    assert list(host.methods("fast")) == ["euler", "rk4"]
    assert host.resolve_solver("fast", "euler").name == "fast_euler"
    assert host.resolve_solver("fast", "fast_rk4").name == "fast_rk4"
    assert host.resolve_solver("py", "euler").name == "euler"
    with pytest.warns(SolverFallbackWarning, match="backend 'fast' has no solver method 'scipy'"):
        assert host.resolve_solver("fast", "scipy").name == "scipy"
    with pytest.raises(UnknownBackendError, match=r"its methods: euler \(fast_euler\), rk4"):
        host.resolve_solver("fast", "dopri5")
    with pytest.raises(UnknownBackendError, match="its methods: euler, scipy"):
        host.resolve_solver("py", "fast_rk4")  # not any_backend: no fallback
    with pytest.raises(UnknownBackendError, match="no_such"):
        host.resolve_solver("no_such", "euler")
    # a second plugin claiming fast's "rk4": a conflict, never decided by load order
    _register(host, _solvers_plugin(SolverInfo("rk4_too", "fast", False, method="rk4")), "x", "x")
    with pytest.raises(PluginConflictError, match="'fast_rk4' and 'rk4_too'|'rk4_too' and"):
        host.resolve_solver("fast", "rk4")
    assert host.resolve_solver("fast", "rk4_too").name == "rk4_too"  # full names still work
    assert list(host.methods("fast")) == ["euler"]
