"""Test configuration of rates-matlab: a private cache for the generated files of every test."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """Every test writes generated files into a private cache, never into ~/.cache."""
    monkeypatch.setenv("RATES_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "rates-cache"))
