"""The plugin without Julia: discovery, capabilities, the probe, clear errors when a model
would run, and ``rates export --backend julia``."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from julia_syntax import assert_parses, function_signatures

from rates_core.cli import main as rates_main
from rates_core.errors import BackendUnavailableError, SolverError
from rates_core.plugins import default_host
from rates_core.testing import references as ref
from rates_julia import BACKEND, SOLVERS, runtime
from rates_julia.plugin import CODE_CAPABILITIES, RUN_CAPABILITIES
from rates_julia.solvers import solver_kwargs

NO_JULIA = not runtime.julia_status().available


@pytest.fixture
def fresh_probe():
    runtime.julia_status.cache_clear()
    yield
    runtime.julia_status.cache_clear()


def test_backend_and_solvers_registered() -> None:
    host = default_host()
    info = host.backend_info(BACKEND)
    assert CODE_CAPABILITIES <= info.capabilities
    for name in SOLVERS:
        solver = host.solver_info(name)
        assert solver.backend == BACKEND and solver.adaptive


@pytest.mark.skipif(not NO_JULIA, reason="Julia is available here")
def test_no_execute_without_julia() -> None:
    caps = default_host().backend_info(BACKEND).capabilities
    assert not (caps & RUN_CAPABILITIES), caps


@pytest.mark.skipif(not NO_JULIA, reason="Julia is available here")
def test_run_raises_backend_unavailable_with_install_hint() -> None:
    with pytest.raises(BackendUnavailableError) as err:
        ref.decay_circuit().run(1.0, 0.1, solver="tsit5", backend="julia")
    text = str(err.value)
    assert "DifferentialEquations" in text and "juliacall" in text and "julia" in text.lower()
    assert "add DifferentialEquations" in text


@pytest.mark.skipif(not NO_JULIA, reason="Julia is available here")
def test_callables_raise_backend_unavailable() -> None:
    from rates_core.system import build_system
    from rates_julia.solvers import emit_function

    system = build_system(ref.van_der_pol_circuit())
    emitted = emit_function(system)
    assert emitted.path is not None and emitted.path.suffix == ".jl"
    assert emitted.path.read_text() == emitted.source
    y0 = system.initial_state()
    params = [p.value for p in system.params]
    with pytest.raises(BackendUnavailableError):
        emitted.rhs(0.0, y0, y0.copy(), *params)
    with pytest.raises(BackendUnavailableError):
        emitted.jacobian(0.0, y0, *params)


def test_probe_disabled(monkeypatch: pytest.MonkeyPatch, fresh_probe: None) -> None:
    monkeypatch.setenv("RATES_JULIA", "off")
    status = runtime.julia_status()
    assert not status.available and "RATES_JULIA" in status.reason
    with pytest.raises(BackendUnavailableError, match="RATES_JULIA"):
        runtime.require_julia()


def _fake_julia(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, exit_code: int) -> None:
    """A fake ``juliacall`` package and a fake ``julia`` that exits with ``exit_code``."""
    pkg = tmp_path / "site" / "juliacall"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    bindir = tmp_path / "bin"
    bindir.mkdir()
    exe = bindir / "julia"
    exe.write_text(f"#!/bin/sh\nexit {exit_code}\n")
    exe.chmod(exe.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.delenv("PYTHON_JULIACALL_EXE", raising=False)
    monkeypatch.delenv("PYTHON_JULIAPKG_EXE", raising=False)
    monkeypatch.delenv("RATES_JULIA", raising=False)


@pytest.mark.skipif(os.name != "posix", reason="uses a shell script as fake julia")
def test_probe_finds_julia_with_diffeq(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_probe: None
) -> None:
    _fake_julia(tmp_path, monkeypatch, 0)
    status = runtime.julia_status()
    assert status.available and status.executable == str(tmp_path / "bin" / "julia")


@pytest.mark.skipif(os.name != "posix", reason="uses a shell script as fake julia")
def test_probe_reports_missing_diffeq(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_probe: None
) -> None:
    _fake_julia(tmp_path, monkeypatch, 3)
    status = runtime.julia_status()
    assert not status.available and "DifferentialEquations.jl is not installed" in status.reason


def test_probe_without_juliacall(monkeypatch: pytest.MonkeyPatch, fresh_probe: None) -> None:
    import importlib.util

    monkeypatch.delenv("RATES_JULIA", raising=False)
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "juliacall" else real(name)
    )
    status = runtime.julia_status()
    assert not status.available and "juliacall" in status.reason


def test_solver_options() -> None:
    assert solver_kwargs("tsit5", {"rtol": 1e-9, "atol": 1e-11}) == {
        "reltol": 1e-9,
        "abstol": 1e-11,
    }
    assert solver_kwargs("vern9", {"reltol": 1e-9, "maxiters": 10}) == {
        "reltol": 1e-9,
        "abstol": 1e-9,  # the default, tighter than DifferentialEquations.jl's 1e-6
        "maxiters": 10,
    }
    assert solver_kwargs("tsit5", {}) == {"reltol": 1e-6, "abstol": 1e-9}
    with pytest.raises(SolverError, match="does not take 'method'"):
        solver_kwargs("tsit5", {"method": "RK45"})
    with pytest.raises(SolverError, match="not both"):
        solver_kwargs("tsit5", {"rtol": 1e-9, "reltol": 1e-9})


def test_export_cli_writes_standalone_file(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "jrc.jl"
    assert (
        rates_main(["export", "--backend", "julia", "rates_core.models.jansenrit.JRC", str(out)])
        == 0
    )
    assert str(out) in capsys.readouterr().out
    text = out.read_text()
    assert_parses(text, "exported JRC")
    assert function_signatures(text)["f!"] == "f!(dy, y, p, t)"
    assert "module JRC" in text and "default_params() = (" in text
    assert "initial_state() = [" in text
    assert "using .JRC, DifferentialEquations" in text  # the usage comment


def test_export_delay_model(tmp_path: Path) -> None:
    from rates_core.export import export

    (path,) = export(ref.delay_edge_circuit(), "julia", tmp_path / "pair.jl")
    text = path.read_text()
    assert_parses(text, "exported delay model")
    assert "lags(p) = " in text and "constant_history(y0)" in text
    assert "DDEProblem(" in text and "MethodOfSteps(Tsit5())" in text


def test_export_refuses_existing_files_and_symlinks(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "jrc.jl"
    out.write_text("keep", encoding="utf-8")
    argv = ["export", "--backend", "julia", "rates_core.models.jansenrit.JRC", str(out)]
    assert rates_main(argv) == 1
    err = capsys.readouterr().err
    assert (
        err == f"rates: error: {out} exists; use --force (overwrite=True in Python) to replace it\n"
    )
    assert out.read_text(encoding="utf-8") == "keep"
    assert rates_main([*argv, "--force"]) == 0
    assert "module JRC" in out.read_text(encoding="utf-8")
    if not hasattr(os, "symlink"):
        return
    target = tmp_path / "target.jl"
    target.write_text("secret", encoding="utf-8")
    link = tmp_path / "link.jl"
    link.symlink_to(target)
    argv[-1] = str(link)
    assert rates_main(argv) == 1
    assert "is a symbolic link" in capsys.readouterr().err
    assert rates_main([*argv, "--force"]) == 0
    assert not link.is_symlink() and "module JRC" in link.read_text(encoding="utf-8")
    assert target.read_text(encoding="utf-8") == "secret"


def test_export_into_a_folder_onto_an_existing_file(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "jrc_out"  # no suffix: a folder for the module file
    out.write_text("keep", encoding="utf-8")
    argv = ["export", "--backend", "julia", "rates_core.models.jansenrit.JRC", str(out)]
    assert rates_main(argv) == 1
    assert "is a file, but this export writes its files" in capsys.readouterr().err
    assert out.read_text(encoding="utf-8") == "keep"
    assert rates_main([*argv, "--force"]) == 0
    assert [p.suffix for p in out.iterdir()] == [".jl"]


def test_driver_parses() -> None:
    driver = Path(runtime.__file__).with_name("driver.jl").read_text()
    assert_parses(driver, "driver.jl")
    for name in ("load_model", "make_params", "call_rhs", "call_jac", "solve_model"):
        assert f"function {name}(" in driver


@pytest.mark.parametrize("solver", SOLVERS)
def test_grid_delays_need_a_fixed_step(solver):
    """rates-julia's solvers are all adaptive (DelayDiffEq's MethodOfSteps), so
    ``delays="grid"`` is refused before any code is generated or run, with or without Julia."""
    with pytest.raises(SolverError, match=rf"delays='grid'.*'{solver}' is adaptive"):
        ref.delay_circuit().run(0.1, 0.01, backend=BACKEND, solver=solver, delays="grid")
