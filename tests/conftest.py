"""Shared test set-up: the fixture plugin distributions of tests/fixtures as installed sites."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# appended, not prepended: an installed distribution always wins over the source folders
sys.path.append(str(Path(__file__).resolve().parent / "fixtures"))

import plugin_dists  # noqa: E402


@pytest.fixture(scope="session")
def sites(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Site folders, one per fixture distribution, each installed once per test session."""
    return plugin_dists.session_sites(request.config, tmp_path_factory)
