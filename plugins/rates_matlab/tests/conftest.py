"""Test configuration of rates-matlab: a private cache for the generated files of every test,
and markers for tests that need a MATLAB / Octave runtime."""

from __future__ import annotations

import shutil

import pytest

from rates_matlab.runtime import available_runtime

#: Skip marker of tests that execute generated code.
needs_runtime = pytest.mark.skipif(
    available_runtime() is None, reason="no MATLAB or GNU Octave (with oct2py) installed"
)
#: Skip marker of tests that run miss_hit's linter.
needs_mh_lint = pytest.mark.skipif(shutil.which("mh_lint") is None, reason="miss_hit not installed")


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """Every test writes generated files into a private cache, never into ~/.cache."""
    monkeypatch.setenv("RATES_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "rates-cache"))
