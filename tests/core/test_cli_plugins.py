"""``rates plugins`` (run as ``python -m rates_core plugins``) with real installed distributions.

The fixture distributions of ``tests/fixtures`` are built and pip-installed once per session; each
listing runs in a subprocess whose ``PYTHONPATH`` holds the wanted sites.
"""

from __future__ import annotations

import warnings
from importlib.metadata import entry_points
from pathlib import Path
from types import SimpleNamespace

import plugin_dists as dists  # tests/conftest.py puts tests/fixtures on the path
import pytest

from rates_core.cli import build_parser, format_plugin_report, main
from rates_core.plugins import BackendInfo, PluginHost, SolverInfo, hookimpl


def rates_plugins(sites: dict, keys: list[str], cwd: Path, *args: str):
    return dists.run_python(
        [sites[k] for k in keys], ["-m", "rates_core", "plugins", *args], cwd=cwd
    )


def test_lists_an_installed_plugin(sites: dict, tmp_path: Path) -> None:
    proc = rates_plugins(sites, ["fixture"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "rates-fixture-plugin 0.1.0" in out
    assert "entry point: fixture" in out
    (backend_line,) = [line for line in out.splitlines() if line.strip().startswith("fixture ")]
    assert "capabilities: complex, dde, execute, grid_delays, jacobian, vectorised" in backend_line
    lines = out.splitlines()
    methods_line = lines[lines.index(backend_line) + 1]
    assert "solver methods: euler (fixture_euler), rk4 (fixture_rk4)" in methods_line
    (solver_line,) = [line for line in out.splitlines() if "fixture_euler " in line]
    assert "backend: fixture" in solver_line and "fixed step" in solver_line
    assert "Broken" not in out and "Conflicts" not in out
    assert "No rates plugins are installed" not in out


def test_lists_conflicts_and_broken_plugins_with_reasons(sites: dict, tmp_path: Path) -> None:
    proc = rates_plugins(sites, ["fixture", "conflict", "broken", "misspelled"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "rates-fixture-plugin 0.1.0" in out and "rates-conflict-plugin 0.1.0" in out
    conflicts = out[out.index("Conflicts") : out.index("Broken plugins")]
    assert "backend 'fixture'" in conflicts
    assert "rates-conflict-plugin" in conflicts and "rates-fixture-plugin" in conflicts
    broken = out[out.index("Broken plugins") :]
    assert "rates-broken-plugin 0.1.0" in broken and "entry point: broken" in broken
    assert "ImportError" in broken and "no_such_toolchain" in broken
    assert "rates-misspelled-plugin 0.1.0" in broken and "emit_functoin" in broken
    assert "RatesPluginWarning" not in proc.stderr  # listed once, in the report


def test_says_how_to_install_a_plugin_when_there_is_none(tmp_path: Path) -> None:
    if entry_points(group="rates"):
        pytest.skip("this environment has rates plugins installed")
    proc = dists.run_python([], ["-m", "rates_core", "plugins"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "No rates plugins are installed" in proc.stdout
    assert "pip install rates-numpy" in proc.stdout


# ----------------------------------------------------------------------------- in-process


class _Plugin:
    @hookimpl
    def register_backends(self):
        return [BackendInfo("demo", {"vectorised", "execute"}, "A demo backend.")]

    @hookimpl
    def register_solvers(self):
        return [
            SolverInfo("demo_rk45", "demo", adaptive=True, capabilities={"adaptive"}),
            SolverInfo("other_euler", "elsewhere", adaptive=False),
        ]


def test_report_format_verbose_and_missing_backends() -> None:
    host = PluginHost()
    host.register(_Plugin(), "demo", "rates-demo", "2.0")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bad = SimpleNamespace(register_backends=hookimpl(lambda: 1 / 0))
        host.register(bad, "bad", "rates-bad", "0.1")
    text = format_plugin_report(host, verbose=True)
    assert "rates-demo 2.0" in text
    assert "capabilities: execute, vectorised" in text
    assert "A demo backend." in text
    assert "demo_rk45" in text and "adaptive" in text
    assert "other_euler      backend: elsewhere (backend not installed)" in text
    assert "rates-bad 0.1" in text and "ZeroDivisionError" in text
    assert "Traceback" in text  # --verbose shows where a broken plugin failed
    assert "Traceback" not in format_plugin_report(host)


def test_help_documents_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plugins", "--help"]) == 0
    out = capsys.readouterr().out
    assert "exit codes" in out and "rates plugins" in out
    assert main(["--help"]) == 0
    assert "plugins" in capsys.readouterr().out
    assert "exit codes" in build_parser().format_help()


def test_usage_errors_exit_with_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert main(["no-such-command"]) == 2
    assert main(["plugins", "--no-such-option"]) == 2
    capsys.readouterr()


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("rates-core ")
