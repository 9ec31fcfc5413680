"""The compiled library in the cache is private, verified before every load and rebuilt when
damaged; index entries stay inside the cache; a full disk is a CacheError, not a compile error."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from rates_core.backend import EmitOptions
from rates_core.errors import CacheError
from rates_core.plugins import default_host
from rates_core.system import build_system
from rates_core.testing import references as ref

pytestmark = pytest.mark.skipif(shutil.which("gfortran") is None, reason="needs gfortran")

#: Euler with dt = 1e-4 against the exact exponential decay.
TOLERANCE = 1e-3


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh cache per test, so every test compiles its own library."""
    path = tmp_path / "cache"
    monkeypatch.setenv("RATES_CACHE_DIR", str(path))
    return path


def _emit(circuit):
    return default_host().emit_function(
        "fortran", build_system(circuit, vectorize=False), EmitOptions()
    )


def _decay_error(circuit=None) -> float:
    frame = (circuit or ref.decay_circuit()).run(0.5, 1e-4, backend="fortran", solver="euler")
    t = np.asarray(frame.index, dtype=float)
    return float(np.max(np.abs(frame.to_numpy()[:, 0] - ref.decay_exact(t))))


def _growth_circuit():
    """Same name and layout as the decay circuit, the opposite sign: a different library."""
    return ref.one_node("decay", ["x' = k*x"], {"x": "output(1.0)", "k": ref.DECAY["k"]})


def _replace(path: Path, data: bytes) -> None:
    """Swap ``path`` for new bytes (a new inode: a library already loaded stays intact)."""
    tmp = path.with_name(path.name + ".swap")
    tmp.write_bytes(data)
    os.replace(tmp, path)


@pytest.mark.parametrize("umask", [0, 0o022])
def test_library_and_index_are_private(cache: Path, umask: int) -> None:
    old = os.umask(umask)
    try:
        lib = _emit(ref.decay_circuit()).extras["library"]
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(cache).st_mode) == 0o700
    files = [p for p in cache.iterdir() if not p.name.endswith(".sha256")]
    assert lib in files and any(p.name.startswith("fortran_key_") for p in files)
    for path in cache.iterdir():
        assert stat.S_IMODE(os.lstat(path).st_mode) == 0o600, path
    for path in files:
        assert Path(f"{path}.sha256").is_file(), path


def test_swapped_library_is_rebuilt_not_loaded(cache: Path) -> None:
    growth = _emit(_growth_circuit()).extras["library"]
    decay = _emit(ref.decay_circuit()).extras["library"]
    assert growth != decay
    original = decay.read_bytes()
    _replace(decay, growth.read_bytes())  # right name, wrong model
    assert _decay_error() < TOLERANCE
    assert decay.read_bytes() == original


def test_truncated_library_is_rebuilt(cache: Path) -> None:
    """A truncated library (a full disk, a crash) used to crash every later run with SIGBUS."""
    lib = _emit(ref.decay_circuit()).extras["library"]
    data = lib.read_bytes()
    _replace(lib, data[: len(data) // 2])
    script = textwrap.dedent(
        """
        import numpy as np
        from rates_core.testing import references as ref
        frame = ref.decay_circuit().run(0.5, 1e-4, backend="fortran", solver="euler")
        t = np.asarray(frame.index, dtype=float)
        print(float(np.max(np.abs(frame.to_numpy()[:, 0] - ref.decay_exact(t)))))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, (done.returncode, done.stderr[-2000:])
    assert float(done.stdout.split()[-1]) < TOLERANCE
    assert lib.read_bytes() == data


def test_index_entries_outside_the_cache_are_ignored(cache: Path, tmp_path: Path) -> None:
    from rates_core.cache import store
    from rates_fortran.build import find_indexed, write_index

    emitted = _emit(ref.decay_circuit())
    src, lib = emitted.path, emitted.extras["library"]
    (tmp_path / "x").write_bytes(lib.read_bytes())
    write_index("k1", src, lib, False)
    assert find_indexed("k1") is not None
    index = cache / "fortran_key_k1.json"
    for name in ("/etc/passwd", "../x", str(tmp_path / "x")):
        for entry in ({"source": src.name, "library": name}, {"source": name, "library": lib.name}):
            store(index, json.dumps(entry))  # recorded as if rates had written it
            assert find_indexed("k1") is None, entry


def test_symlinked_library_leading_out_is_not_loaded(cache: Path, tmp_path: Path) -> None:
    lib = _emit(ref.decay_circuit()).extras["library"]
    outside = tmp_path / "evil.so"
    outside.write_bytes(lib.read_bytes())  # the record would even match
    lib.unlink()
    lib.symlink_to(outside)
    assert _decay_error() < TOLERANCE
    assert not lib.is_symlink()


def test_full_disk_while_compiling_is_a_cache_error(cache: Path, tmp_path: Path, monkeypatch):
    fake = tmp_path / "fake-gfortran"
    fake.write_text(
        "#!/bin/sh\n"
        'case "$1" in -dump*) echo 12.2.0; exit 0;; esac\n'
        'echo "f951: Fatal Error: cannot write module file: No space left on device" >&2\n'
        "exit 1\n"
    )
    fake.chmod(0o755)
    monkeypatch.setenv("RATES_FORTRAN_COMPILER", str(fake))
    from rates_fortran.build import FortranCompileError, compile_library

    with pytest.raises(CacheError, match="no space left") as info:
        compile_library("module m\nend module\n", "decay")
    assert not isinstance(info.value, FortranCompileError)
    assert str(cache) in str(info.value)
