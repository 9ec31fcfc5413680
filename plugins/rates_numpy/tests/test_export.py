"""`rates export` / rates_core.export with the NumPy backend (one file, no extras["files"])."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from rates_core.cli import main
from rates_core.errors import RatesError, UnknownBackendError
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
    assert "pip install rates-nope" in capsys.readouterr().err
    with pytest.raises(UnknownBackendError):
        export(CircuitTemplate.from_yaml("rates_core.models.qif.qif"), "nope", tmp_path / "x")
