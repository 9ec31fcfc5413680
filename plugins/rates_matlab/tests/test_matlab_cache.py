"""The generated MATLAB files run from Python sit in a private cache directory and are checked
against their recorded sha256 (rewritten when swapped) before MATLAB / Octave runs them."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import numpy as np
import pytest
from rates_matlab_testlib import needs_runtime

from rates_core import build_system
from rates_core.testing import references as ref
from rates_matlab import runtime
from rates_matlab.emit import emit_function


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "cache"
    monkeypatch.setenv("RATES_CACHE_DIR", str(path))
    return path


def _swap(emitted, marker: Path) -> Path:
    """Replace the vector field file by code that leaves ``marker`` when it runs."""
    path = emitted.path
    name = path.stem
    path.write_text(
        f"function dy = {name}(t, y, k)\n"
        f"  fid = fopen('{marker}', 'w'); fclose(fid);\n"
        "  dy = 666;\nend\n"
    )
    return path


@pytest.mark.parametrize("umask", [0, 0o022])
def test_files_run_from_python_are_private(cache: Path, umask: int) -> None:
    old = os.umask(umask)
    try:
        emitted = emit_function(build_system(ref.decay_circuit()))
    finally:
        os.umask(old)
    directory = emitted.extras["directory"]
    assert directory.parent == cache
    for path in (cache, directory):
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o700
    names = sorted(p.name for p in directory.iterdir())
    assert names and all(f"{n}.sha256" in names for n in names if n.endswith(".m"))
    for path in directory.iterdir():
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600, path


class _FakeSession:
    """Records the text of the function file MATLAB would read at each call."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        self.paths: list[str] = []

    def addpath(self, directory) -> None:
        self.paths.append(str(directory))

    def call(self, name, *args, nout=1):
        self.seen.append((Path(self.paths[-1]) / f"{name}.m").read_text())
        return np.array([-1.3])


def test_swapped_file_is_rewritten_before_matlab_reads_it(cache, tmp_path, monkeypatch):
    emitted = emit_function(build_system(ref.decay_circuit()))
    original = emitted.path.read_text()
    _swap(emitted, tmp_path / "marker")
    fake = _FakeSession()
    monkeypatch.setattr(runtime, "get_session", lambda: fake)
    emitted.rhs_functional(0.0, np.array([1.0]), 1.3)
    assert fake.seen == [original]


@needs_runtime
def test_swapped_file_is_not_run_by_octave(cache: Path, tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    emitted = emit_function(build_system(ref.decay_circuit()))
    _swap(emitted, marker)
    dy = emitted.rhs_functional(0.0, np.array([1.0]), 1.3)
    np.testing.assert_allclose(dy, [-1.3], rtol=1e-12)
    assert not marker.exists()
