"""rates-matlab beyond the conformance suite: generated files (readable, parameters as
arguments, miss_hit clean), ``rates export`` (standalone files, DDE-BIFTOOL and dde23 wrappers
checked in Octave), runs against rates-numpy (delays, networks, pre-history, ode15s), and the
behaviour without a runtime.

All Octave calls share the process's one session (rates_matlab.runtime.get_session).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
from rates_matlab_testlib import MH_LINT, needs_mh_lint, needs_runtime

from rates_core import CircuitTemplate, build_system
from rates_core.backend import EmitOptions
from rates_core.cli import main
from rates_core.errors import BackendUnavailableError, SolverError
from rates_core.plugins import EmitContext
from rates_core.testing import references as ref
from rates_matlab import plugin, runtime
from rates_matlab.emit import emit_code, emit_function

LIBRARY = (
    "rates_core.models.qif.qif",
    "rates_core.models.jansenrit.JRC",
    "rates_core.models.jansenrit.JRC_delay",
    "rates_core.models.kuramoto.kmo",
    "rates_core.models.stuartlandau.sl_complex",
    "rates_core.models.wilsoncowan.WC_stp",
)


def _delayed_network(n: int = 8) -> CircuitTemplate:
    labels, _, circuit = ref.rate_network_nodes(n)
    rng = np.random.default_rng(4)
    w = rng.uniform(-1.0, 1.0, (n, n)).round(3)
    w[rng.random((n, n)) < 0.5] = 0.0
    np.fill_diagonal(w, 0.0)
    delays = rng.choice([0.05, 0.1, 0.125, 0.2], (n, n))
    return circuit.add_edges_from_matrix(
        "op/r", "op/r_in", labels, weight=w, edge_attr={"delay": delays}
    )


def _lint(directory: Path) -> None:
    """miss_hit's linter (MATLAB mode, its default) finds nothing in ``directory``."""
    result = subprocess.run([MH_LINT, str(directory)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "everything seems fine" in result.stdout, result.stdout


# --------------------------------------------------------------------------- generated code


def test_vector_field_is_readable_and_takes_parameters_as_arguments():
    system = build_system(CircuitTemplate.from_yaml("rates_core.models.qif.qif"))
    code = emit_code(system)
    text = code.files["vector_field.m"]
    first = text.splitlines()[0]
    assert first == "function dy = vector_field(t, y, Delta, tau, eta, I_ext, w_r_in_from_r)"
    assert "  r = y(1);" in text and "  v = y(2);" in text
    assert "% d/dt r" in text and "% d/dt v" in text
    assert "15" not in text.split("% derivatives")[1], "a parameter value was baked into the code"
    assert {"vector_field_jacobian.m", "vector_field_fixed.m", "vector_field_adaptive.m"} <= set(
        code.files
    )


def test_printer_builtins():
    from rates_matlab.printer import MatlabPrinter

    circuit = ref.one_node(
        "builtins",
        ["x' = index(a, 2) + vsum(a) + maxi(a) + round(b) + (b > 0.5) + index_range(a, 1, 3)"],
        {"x": {"vtype": "state", "dtype": "float", "value": [0.0, 0.0]}, "a": [1.0, 2.0, 3.0, 4.0]}
        | {"b": 2.5},
    )
    system = build_system(circuit)
    printer = MatlabPrinter()
    code = printer.doprint(system.derivatives[0][1])
    assert "a(3)" in code and "sum(a(:))" in code and "max(a(:))" in code
    assert "rates_round_(b)" in code and "double(b > 0.5)" in code and "a(2:3)" in code
    assert printer.helpers == {"rates_round_"}


def test_func_name_must_be_a_matlab_identifier():
    system = build_system(ref.decay_circuit())
    with pytest.raises(ValueError, match="MATLAB identifier"):
        emit_code(system, EmitContext(options=EmitOptions(func_name="my field")))


def test_export_only_files_are_not_callable():
    """Code emitted for ``rates export`` is not loaded: calling it is a rates error naming the
    model (it was a bare RuntimeError)."""
    options = EmitOptions(standalone=True)
    emitted = emit_function(build_system(ref.decay_circuit()), EmitContext(options=options))
    assert emitted.source == emitted.extras["files"]["vector_field.m"]
    with pytest.raises(BackendUnavailableError, match="generated for export"):
        emitted.rhs_functional(0.0, np.ones(1), 1.0)


@needs_mh_lint
@pytest.mark.parametrize("model", LIBRARY)
def test_exported_files_pass_mh_lint(model: str, tmp_path: Path, capsys):
    assert main(["export", "--backend", "matlab", model, str(tmp_path)]) == 0
    written = capsys.readouterr().out.split()
    assert written and all(Path(p).suffix == ".m" for p in written)
    _lint(tmp_path)


@needs_mh_lint
def test_network_and_delay_files_pass_mh_lint(tmp_path: Path):
    from rates_core.export import export

    export(_delayed_network(), "matlab", tmp_path / "net")
    export(ref.delay_circuit(), "matlab", tmp_path / "delay")
    circuit = ref.FUNCTION_CASES[0].circuit()
    export(circuit, "matlab", tmp_path / "function")
    _lint(tmp_path)


def test_export_of_a_delay_system_has_dde_wrappers(tmp_path: Path):
    from rates_core.export import export

    written = {p.name for p in export(ref.delay_edge_circuit(), "matlab", tmp_path)}
    assert {"vector_field.m", "vector_field_delays.m", "vector_field_dde23.m"} <= written
    assert {"sys_rhs.m", "sys_tau.m", "sys_par.m"} <= written
    assert any(name.startswith("run_") for name in written)


# --------------------------------------------------------------------------- without a runtime


def test_without_runtime(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(runtime, "available_runtime", lambda: None)
    monkeypatch.setattr(runtime, "_SESSION", [])
    (info,) = plugin.register_backends()
    assert "execute" not in info.capabilities
    assert "dde23" not in {s.name for s in plugin.register_solvers()}
    system = build_system(ref.decay_circuit())
    emitted = emit_function(system)  # generating code needs no runtime
    assert "function dy = vector_field(t, y, k)" in emitted.source
    with pytest.raises(BackendUnavailableError, match="apt-get install octave"):
        emitted.rhs_functional(0.0, np.array([1.0]), 1.3)


# --------------------------------------------------------------------------- runs


def _both(circuit, T, dt, matlab_solver, numpy_solver, **kwargs):
    a = circuit.run(T, dt, backend="matlab", solver=matlab_solver, **kwargs)
    b = circuit.run(T, dt, backend="numpy", solver=numpy_solver, **kwargs)
    assert a.shape == b.shape
    np.testing.assert_allclose(a.index, b.index)
    return a.to_numpy(), b.to_numpy()


@needs_runtime
@pytest.mark.parametrize("method", ["euler", "heun", "rk4"])
def test_delayed_network_matches_numpy(method: str):
    """Per-connection delays (gathered by index) through the ring buffer, vectorised."""
    a, b = _both(_delayed_network(), 1.0, 1e-3, f"matlab_{method}", method, sampling_step_size=1e-2)
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-9 * max(1.0, np.abs(b).max()))
    assert np.ptp(a) > 1e-3


@needs_runtime
def test_delay_library_model_matches_numpy():
    circuit = CircuitTemplate.from_yaml("rates_core.models.jansenrit.JRC_delay")
    a, b = _both(circuit, 0.1, 1e-4, "matlab_rk4", "rk4", sampling_step_size=1e-3)
    np.testing.assert_allclose(a, b, rtol=1e-8, atol=1e-12)


@needs_runtime
def test_pre_history_function_matches_numpy():
    circuit = ref.delay_circuit()
    history = {"n/op/x": lambda t: np.cos(t)}
    a, b = _both(circuit, 2.0, 1e-2, "matlab_rk4", "rk4", history=history)
    # the table of the history is read by cubic Hermite interpolation (linear: about 1e-6 off)
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-9)


@needs_runtime
def test_adaptive_solvers_refuse_delays():
    with pytest.raises(SolverError, match="delay"):
        ref.delay_circuit().run(1.0, 1e-2, backend="matlab", solver="ode45")


@needs_runtime
def test_ode15s_matches_numpy():
    """ode15s (with the symbolic Jacobian) at rtol 1e-10 against SciPy's DOP853 at 1e-12.

    GNU Octave's ode15s is SUNDIALS IDA, which starts from the slope given as InitialSlope
    (zero by default) and then fails its first error test at such tolerances: the driver
    passes dy/dt at t0."""
    circuit = ref.van_der_pol_circuit()
    out = {"x": "n/op/x", "v": "n/op/v"}
    a = circuit.run(
        5.0, 0.05, backend="matlab", solver="ode15s", rtol=1e-10, atol=1e-12, outputs=out
    )
    b = circuit.run(
        5.0,
        0.05,
        backend="numpy",
        solver="scipy",
        method="DOP853",
        rtol=1e-12,
        atol=1e-14,
        outputs=out,
    )
    np.testing.assert_allclose(a.to_numpy(), b.to_numpy(), rtol=0, atol=2e-7)


@needs_runtime
def test_unknown_option_is_an_error():
    with pytest.raises(SolverError, match="no option"):
        ref.decay_circuit().run(1.0, 1e-2, backend="matlab", solver="ode45", method="RK45")


@needs_runtime
def test_biftool_and_dde23_wrappers_compute_the_field(tmp_path: Path):
    """sys_rhs(xx, sys_par()) and the dde23 wrapper, evaluated in Octave, equal the vector
    field with the delayed reads taken from the columns of xx / Z."""
    from rates_core.export import export
    from rates_core.plugins import default_host

    circuit = ref.delay_edge_circuit()
    export(circuit, "matlab", tmp_path)
    session = runtime.get_session()
    session.addpath(tmp_path)
    system = build_system(circuit)
    y = np.array([0.3, -0.7])[: system.n_states]
    past = np.array([0.9, 0.2])[: system.n_states]
    emitted = default_host().emit_function("matlab", system, EmitOptions())
    params = [p.value for p in system.params]
    conn = session.call("vector_field_delays", *[runtime.to_matlab(v) for v in params])
    pos = np.asarray(conn["pos"], dtype=int).reshape(-1) - 1
    delayed = [past[pos]]
    want = emitted.rhs_functional(0.0, y, *delayed, *params)
    xx = np.column_stack([y, past])
    got = session.call("sys_rhs", xx, session.call("sys_par"))
    np.testing.assert_allclose(np.ravel(got), want, rtol=1e-14)
    tau = np.ravel(session.call("sys_tau"))
    assert np.ravel(session.call("sys_par"))[int(tau[0]) - 1] == ref.DELAY_EDGE["delay"]
    got = session.call(
        "vector_field_dde23",
        0.0,
        runtime.to_matlab(y),
        past.reshape(-1, 1),
        conn,
        session.cell([runtime.to_matlab(v) for v in params]),
    )
    np.testing.assert_allclose(np.ravel(got), want, rtol=1e-14)


@needs_runtime
def test_run_script_of_an_export_runs_in_octave(tmp_path: Path):
    from rates_core.export import export

    export(ref.decay_circuit(), "matlab", tmp_path)
    session = runtime.get_session()
    session.addpath(tmp_path)
    # the vector field of the export is callable on its own
    dy = session.call("vector_field", 0.0, np.array([[2.0]]), 1.3)
    assert float(dy) == pytest.approx(-2.6)
    fixed = session.call(
        "vector_field_fixed",
        "rk4",
        0.0,
        np.array([[1.5]]),
        0.1,
        10.0,
        10.0,
        2.0,
        session.cell([1.3]),
        nout=2,
    )
    out = np.asarray(fixed[0]).reshape(-1)
    assert out[0] == 1.5 and out[1] == pytest.approx(1.5 * np.exp(-1.3), rel=1e-5)


# --------------------------------------------------------------------------- existing files


def test_export_onto_an_existing_file_is_a_clear_error(tmp_path: Path, capsys):
    out = tmp_path / "qif_m"
    out.write_text("keep", encoding="utf-8")
    argv = ["export", "--backend", "matlab", "rates_core.models.qif.qif", str(out)]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"rates: error: {out} is a file, but this export writes its files")
    assert "--force" in err and err.count("\n") == 1
    assert out.read_text(encoding="utf-8") == "keep"
    assert main([*argv, "--force"]) == 0
    assert (out / "vector_field.m").is_file()


def test_export_with_some_files_present_writes_nothing_without_force(tmp_path: Path, capsys):
    argv = ["export", "--backend", "matlab", "rates_core.models.qif.qif", str(tmp_path)]
    assert main(argv) == 0
    names = sorted(p.name for p in tmp_path.iterdir())
    (tmp_path / "run_qif.m").write_text("keep", encoding="utf-8")
    for name in names:
        if name != "run_qif.m":
            (tmp_path / name).unlink()
    capsys.readouterr()
    assert main(argv) == 1
    assert "run_qif.m exists; use --force" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run_qif.m"]  # nothing half-written
    assert main([*argv, "--force"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == names
    assert (tmp_path / "run_qif.m").read_text(encoding="utf-8") != "keep"


def test_export_into_a_symlinked_folder_is_refused(tmp_path: Path, capsys):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    link = tmp_path / "out"
    link.symlink_to(elsewhere, target_is_directory=True)
    argv = ["export", "--backend", "matlab", "rates_core.models.qif.qif", str(link)]
    assert main(argv) == 1
    assert "is a symbolic link" in capsys.readouterr().err
    assert list(elsewhere.iterdir()) == []


def test_runtime_modules_found_without_importing_them(tmp_path, monkeypatch):
    """``matlab.engine`` is looked up in the ``matlab`` package's folder without importing the
    package (``find_spec("matlab.engine")`` would run ``matlab/__init__.py`` in every rates
    process at plugin discovery)."""
    import sys

    package = tmp_path / "rates_probe_pkg"
    package.mkdir()
    (package / "__init__.py").write_text("raise RuntimeError('imported')\n")
    (package / "engine.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert runtime._has_module("rates_probe_pkg.engine")
    assert not runtime._has_module("rates_probe_pkg.other")
    assert not runtime._has_module("rates_probe_missing.engine")
    assert "rates_probe_pkg" not in sys.modules
