"""Generated Fortran, the build, error messages, export, and agreement with rates-numpy."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from rates_core import CircuitTemplate
from rates_core.errors import BackendUnavailableError
from rates_core.testing import references as ref

pytestmark = pytest.mark.skipif(shutil.which("gfortran") is None, reason="needs gfortran")


def _has_numpy_backend() -> bool:
    try:
        import rates_numpy  # noqa: F401
    except ImportError:
        return False
    return True


needs_numpy = pytest.mark.skipif(not _has_numpy_backend(), reason="needs rates-numpy")


def test_missing_compiler_raises_with_hint(monkeypatch):
    monkeypatch.setenv("RATES_FORTRAN_COMPILER", "no-such-fortran-compiler")
    with pytest.raises(BackendUnavailableError, match="apt-get install gfortran"):
        ref.decay_circuit().run(0.1, 0.01, backend="fortran", solver="fortran_euler")


def test_compile_error_shows_generated_line():
    from rates_fortran.build import FortranCompileError, compile_library

    source = "module m\nimplicit none\ncontains\nsubroutine s()\n  x = = 1\n"
    source += "end subroutine\nend module\n"
    with pytest.raises(FortranCompileError, match=r"line 5: x = = 1"):
        compile_library(source, "broken")


def test_source_is_readable_fortran(tmp_path):
    path = tmp_path / "jrc.f90"
    ref.jansen_rit_circuit().get_run_func("f", 1e-4, backend="fortran", file_name=str(path))
    text = path.read_text()
    assert "module rates_model" in text and "subroutine field_(" in text
    assert 'bind(c, name="rates_solve")' in text and "subroutine rates_jacobian(" in text
    assert "parameter (pi" not in text
    assert max(len(line) for line in text.splitlines()) <= 110


def test_export_writes_module_and_auto_files(tmp_path):
    from rates_core.export import export

    written = export(CircuitTemplate.from_yaml("rates_core.models.qif.qif"), "fortran", tmp_path)
    names = sorted(p.name for p in written)
    assert names == ["c.qif.eq", "c.qif.ivp", "c.qif.lc", "qif.f90"] or "qif.f90" in names
    assert (tmp_path / "c.qif.eq").is_file()


@needs_numpy
@pytest.mark.parametrize("method", ["euler", "heun", "rk4"])
def test_fixed_step_equals_numpy(method):
    """Jansen-Rit (scalar code) and a vectorised 20-unit network: the same numbers as
    rates-numpy within 1e-10."""
    from rates_core.testing.suite import _dense_weights

    labels, _, net = ref.rate_network_nodes(20)
    net = net.add_edges_from_matrix("op/r", "op/r_in", labels, weight=_dense_weights(20))
    for circuit, dt in ((ref.jansen_rit_circuit(), 1e-4), (net, 1e-3)):
        a = circuit.run(0.5, dt, solver=method, backend="numpy")
        b = circuit.run(0.5, dt, solver=f"fortran_{method}", backend="fortran")
        scale = np.max(np.abs(a.to_numpy()))
        assert np.max(np.abs(a.to_numpy() - b.to_numpy())) <= 1e-10 * scale


@pytest.mark.parametrize("fused", [True, False], ids=["fused", "shared_field"])
@pytest.mark.parametrize("method", ["euler", "heun", "rk4"])
def test_plain_loop_equals_the_general_loop(method, fused, monkeypatch):
    """Models without inputs and delays run ``plain_`` (read-only parameters, one loop per
    method; Euler through ``euler_``, the field fused with the update, for small fields, else
    through the shared field); a constant input row of the same value takes the general loop
    ``fixed_``: the same numbers to rounding."""
    from rates_core.pipeline import build_run_system
    from rates_fortran import emit

    if not fused:
        monkeypatch.setattr(emit, "EULER_COPY_LINES", 0)
    source, _ = emit.emit_source(build_run_system(ref.jansen_rit_circuit(), vectorize=True))
    assert ("subroutine euler_(" in source) is fused
    circuit = ref.jansen_rit_circuit()
    n_steps = 2000
    plain = circuit.run(n_steps * 1e-4, 1e-4, solver=f"fortran_{method}", backend="fortran")
    rows = np.full(n_steps, 220.0)
    general = circuit.run(
        n_steps * 1e-4,
        1e-4,
        solver=f"fortran_{method}",
        backend="fortran",
        inputs={"pc/syn_exc_ext/u": rows},
    )
    a, b = plain.to_numpy(), general.to_numpy()
    assert np.ptp(a) > 0
    assert np.max(np.abs(a - b)) <= 1e-13 * np.max(np.abs(a))


@needs_numpy
def test_delays_equal_numpy():
    """A delayed edge: fixed-step Fortran history reads equal rates-numpy's ring reads."""
    circuit = ref.delay_edge_circuit()
    for method in ("euler", "rk4"):
        a = circuit.run(3.0, 1e-3, solver=method, backend="numpy")
        b = circuit.run(3.0, 1e-3, solver=f"fortran_{method}", backend="fortran")
        assert np.max(np.abs(a.to_numpy() - b.to_numpy())) <= 1e-10 * np.max(np.abs(a.to_numpy()))


def test_dopri5_options_and_errors():
    from rates_core.errors import SolverError

    with pytest.raises(SolverError, match="no option"):
        ref.decay_circuit().run(1.0, 0.1, backend="fortran", solver="fortran_dopri5", tol=1)
    frame = ref.decay_circuit().run(
        1.0, 0.1, backend="fortran", solver="fortran_dopri5", rtol=1e-10, atol=1e-12
    )
    assert len(frame) == 10
