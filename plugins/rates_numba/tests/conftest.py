"""One numba cache for the whole test session: compiled functions are reused across tests."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest


@pytest.fixture(scope="session", autouse=True)
def _numba_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    os.environ.setdefault("NUMBA_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "numba-cache"))
    yield
