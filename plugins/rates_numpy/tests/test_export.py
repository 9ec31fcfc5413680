"""`rates export` / rates_core.export with the NumPy backend (one file, no extras["files"])."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np
import pytest

from rates_core.cli import main
from rates_core.errors import (
    OutputExistsError,
    OutputFileError,
    RatesError,
    UnknownBackendError,
)
from rates_core.export import export
from rates_core.frontend import CircuitTemplate


def test_cli_export_writes_a_module_that_computes_the_field(tmp_path, capsys):
    out = tmp_path / "qif_field.py"
    assert main(["export", "--backend", "numpy", "rates_core.models.qif.qif", str(out)]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    spec = importlib.util.spec_from_file_location("qif_field", out)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    # Montbrio et al. 2015 with Delta = 1, tau = 1, eta = -5, I_ext = 0, J = 15 at r = 1, v = -2
    dy = module.vector_field(0.0, np.array([1.0, -2.0]), np.zeros(2), 1.0, 1.0, -5.0, 0.0, 15.0)
    np.testing.assert_allclose(dy, [1 / np.pi + 2 * 1 * -2, 4 - 5 + 15 - np.pi**2], rtol=1e-14)


def test_export_to_a_directory_needs_a_file_name_for_single_file_backends(tmp_path):
    circuit = CircuitTemplate.from_yaml("rates_core.models.qif.qif")
    with pytest.raises(RatesError, match="give a file name"):
        export(circuit, "numpy", tmp_path)


def test_cli_export_unknown_backend_is_a_clear_error(tmp_path, capsys):
    assert (
        main(["export", "--backend", "nope", "rates_core.models.qif.qif", str(tmp_path / "x")]) == 1
    )
    err = capsys.readouterr().err
    assert "rates-nope" not in err and "numpy (rates-numpy)" in err
    with pytest.raises(UnknownBackendError):
        export(CircuitTemplate.from_yaml("rates_core.models.qif.qif"), "nope", tmp_path / "x")


# --------------------------------------------------------------------------- existing files


def test_cli_export_refuses_an_existing_file_and_force_replaces_it(tmp_path, capsys):
    out = tmp_path / "qif_field.py"
    out.write_text("old", encoding="utf-8")
    argv = ["export", "--backend", "numpy", "rates_core.models.qif.qif", str(out)]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert (
        err == f"rates: error: {out} exists; use --force (overwrite=True in Python) to replace it\n"
    )
    assert out.read_text(encoding="utf-8") == "old"
    assert main([*argv, "--force"]) == 0
    assert "def vector_field" in out.read_text(encoding="utf-8")
    with pytest.raises(OutputExistsError):
        export(CircuitTemplate.from_yaml("rates_core.models.qif.qif"), "numpy", out)
    assert export(
        CircuitTemplate.from_yaml("rates_core.models.qif.qif"), "numpy", out, overwrite=True
    )


def test_export_never_writes_the_model_file(tmp_path, capsys):
    model = tmp_path / "qif.yaml"
    model.write_bytes(
        Path(CircuitTemplate.from_yaml("rates_core.models.qif.qif").path).read_bytes()
    )
    before = model.read_bytes()
    argv = ["export", "--backend", "numpy", f"{model}:qif", str(model), "--force"]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "never overwrites a model file" in err and err.count("\n") == 1
    assert model.read_bytes() == before


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="no symbolic links")
def test_export_does_not_follow_a_symlink(tmp_path, capsys):
    target = tmp_path / "target.py"
    target.write_text("secret", encoding="utf-8")
    link = tmp_path / "link.py"
    link.symlink_to(target)
    argv = ["export", "--backend", "numpy", "rates_core.models.qif.qif", str(link)]
    assert main(argv) == 1
    assert "is a symbolic link" in capsys.readouterr().err
    assert main([*argv, "--force"]) == 0
    assert not link.is_symlink() and "def vector_field" in link.read_text(encoding="utf-8")
    assert target.read_text(encoding="utf-8") == "secret"


def test_get_run_func_file_name_is_not_overwritten(tmp_path):
    circuit = CircuitTemplate.from_yaml("rates_core.models.qif.qif")
    path = tmp_path / "qif_copy.py"
    circuit.get_run_func("f", 1e-3, file_name=str(path))
    source = path.read_text(encoding="utf-8")
    circuit.get_run_func("f", 1e-3, file_name=str(path))  # the same source again: fine
    path.write_text("edited", encoding="utf-8")
    with pytest.raises(OutputExistsError, match="qif_copy.py exists"):
        circuit.get_run_func("f", 1e-3, file_name=str(path))
    assert path.read_text(encoding="utf-8") == "edited"
    circuit.get_run_func("f", 1e-3, file_name=str(path), overwrite=True)
    assert path.read_text(encoding="utf-8") == source


def test_get_run_func_never_writes_the_model_file(tmp_path):
    model = tmp_path / "qif.yaml"
    model.write_bytes(
        Path(CircuitTemplate.from_yaml("rates_core.models.qif.qif").path).read_bytes()
    )
    before = model.read_bytes()
    circuit = CircuitTemplate.from_yaml(f"{model}:qif")
    with pytest.raises(OutputFileError, match="never overwrites a model file"):
        circuit.get_run_func("f", 1e-3, file_name=str(model), overwrite=True)
    assert model.read_bytes() == before
