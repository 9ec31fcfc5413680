"""The generated Julia file is checked against its recorded sha256 (and rewritten when swapped)
before Julia includes it; the cache keeps it private. No Julia needed: a stand-in session."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from rates_core.system import build_system
from rates_core.testing import references as ref
from rates_julia import runtime
from rates_julia.solvers import emit_function


class _Driver:
    """Records the text of each file Julia would include."""

    def __init__(self) -> None:
        self.included: list[str] = []

    def load_model(self, path: str) -> object:
        self.included.append(Path(path).read_text())
        return object()


def test_swapped_file_is_rewritten_before_julia_includes_it(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("RATES_CACHE_DIR", str(tmp_path / "cache"))
    old = os.umask(0)
    try:
        emitted = emit_function(build_system(ref.decay_circuit()))
    finally:
        os.umask(old)
    path = emitted.path
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700
    marker = tmp_path / "marker"
    path.write_text(f'touch("{marker}")\n')  # swapped behind rates' back
    driver = _Driver()
    fake = runtime._Session(None, driver)
    monkeypatch.setattr(runtime, "session", lambda: fake)
    emitted.extras["model"].julia()
    assert driver.included == [emitted.source]
