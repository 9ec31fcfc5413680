"""``rates conformance --backend torch`` runs the autodiff test with the ``vjp`` the plugin
registers (``BackendInfo.vjp``), not one that only the plugin's own test subclass knows."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np

from rates_core.plugins import default_host


def test_backend_info_declares_vjp() -> None:
    info = default_host().backend_info("torch")
    assert "autodiff" in info.capabilities and info.vjp is not None


def test_vjp_of_an_argument_the_output_ignores_is_zero() -> None:
    """torch gives no gradient (None) for a leaf the output does not depend on: zeros, not an
    AttributeError."""
    vjp = default_host().backend_info("torch").vjp
    grads = vjp(lambda a, b: a * 2.0, (np.ones(2), np.ones(3)), [0, 1], np.ones(2))
    np.testing.assert_array_equal(grads[0], [2.0, 2.0])
    np.testing.assert_array_equal(grads[1], np.zeros(3))


def test_conformance_command_runs_autodiff_and_passes(tmp_path) -> None:
    env = dict(os.environ, RATES_CACHE_DIR=str(tmp_path / "cache"))
    proc = subprocess.run(
        [sys.executable, "-m", "rates_core", "conformance", "--backend", "torch", "-k", "autodiff"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    summary = proc.stdout
    assert "1 passed," in summary and " skipped," not in summary  # ran, not skipped
