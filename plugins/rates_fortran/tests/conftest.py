"""Test configuration of rates-fortran: a private compile cache for the test session."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """Generated sources and libraries go into a private cache, never into ~/.cache."""
    monkeypatch.setenv("RATES_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "rates-cache"))
