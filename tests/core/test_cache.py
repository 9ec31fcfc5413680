"""The compile cache trusts nothing it did not write: a private directory (0700) of this user,
private files (0600) with a recorded sha256 checked before anything is loaded, names that stay
inside the cache, and one CacheError (with the path) for a cache that cannot be used."""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from pathlib import Path

import pytest

from rates_core import cache
from rates_core.cache import cache_dir, cache_file, load_module, read_verified, store, write_source
from rates_core.errors import CacheError, RatesError


@pytest.fixture
def private(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An explicit RATES_CACHE_DIR that does not exist yet."""
    path = tmp_path / "cache"
    monkeypatch.setenv("RATES_CACHE_DIR", str(path))
    return path


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


@pytest.mark.parametrize("umask", [0, 0o022])
def test_directories_0700_and_files_0600_whatever_the_umask(private: Path, umask: int) -> None:
    old = os.umask(umask)
    try:
        path = write_source("X = 1\n", "numpy", "0.1.0")
        sub = cache_file("matlab_r1", "f.m")
        store(sub, "function y = f()\n")
    finally:
        os.umask(old)
    assert path.parent == private
    assert _mode(private) == 0o700 and _mode(sub.parent) == 0o700
    for file in (path, Path(f"{path}.sha256"), sub, Path(f"{sub}.sha256")):
        assert _mode(file) == 0o600, file


def test_own_readable_directory_is_tightened(private: Path) -> None:
    private.mkdir(mode=0o755)
    os.chmod(private, 0o755)  # an older cache: ours, readable by others
    assert cache_dir() == private
    assert _mode(private) == 0o700


def test_directory_of_another_user_is_refused(private: Path, monkeypatch) -> None:
    private.mkdir()
    if os.geteuid() == 0:
        os.chown(private, 12345, -1)
    else:
        monkeypatch.setattr(os, "geteuid", lambda: os.stat(private).st_uid + 1)
    with pytest.raises(CacheError, match="owned by uid") as info:
        write_source("X = 1\n", "numpy", "0.1.0")
    assert info.value.path == private and str(private) in str(info.value)


@pytest.mark.parametrize("mode", [0o770, 0o707, 0o777])
def test_directory_others_can_write_is_refused(private: Path, mode: int) -> None:
    private.mkdir()
    os.chmod(private, mode)
    with pytest.raises(CacheError, match="writable by group or others"):
        cache_dir()


def test_unsafe_default_directory_falls_back_to_a_private_temporary_one(
    tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.delenv("RATES_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("LOCALAPPDATA", str(tmp_path / "xdg"))
    monkeypatch.setattr(Path, "home", lambda: tmp_path / "home")
    monkeypatch.setattr(cache, "_FALLBACK", {})
    default = cache._default_dir()
    default.mkdir(parents=True)
    os.chmod(default, 0o777)
    with pytest.warns(RuntimeWarning, match="private temporary cache"):
        path = cache_dir()
    assert path != default and _mode(path) == 0o700
    assert Path(tempfile.gettempdir()) in path.parents
    assert cache_dir() == path  # one per process, warned once
    assert write_source("X = 1\n", "numpy", "0.1.0").parent == path
    assert list(default.iterdir()) == []


def test_cache_path_that_is_a_file(private: Path, monkeypatch) -> None:
    private.write_text("not a directory")
    with pytest.raises(CacheError, match="is not a directory") as info:
        write_source("X = 1\n", "numpy", "0.1.0")
    assert info.value.path == private
    private.unlink()
    private.parent.joinpath("file").write_text("")
    monkeypatch.setenv("RATES_CACHE_DIR", str(private.parent / "file" / "cache"))
    with pytest.raises(CacheError, match="not a directory"):
        cache_dir()


@pytest.mark.parametrize(
    ("code", "text"), [(errno.EROFS, "read-only"), (errno.ENOSPC, "no space left")]
)
def test_read_only_or_full_cache_is_one_cache_error(private: Path, monkeypatch, code, text):
    cache_dir()

    def fail(*args, **kwargs):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(os, "fsync", fail)  # the write fails after the temporary file exists
    with pytest.raises(CacheError, match=text) as info:
        write_source("X = 1\n", "numpy", "0.1.0")
    assert isinstance(info.value, RatesError) and "numpy_" in str(info.value.path)
    assert os.listdir(private) == []  # no temporary file left behind
    monkeypatch.setattr(tempfile, "mkstemp", fail)
    with pytest.raises(CacheError, match=text):
        write_source("X = 2\n", "numpy", "0.1.0")


def _marker_code(marker: Path) -> str:
    return f"open({str(marker)!r}, 'w').write('executed')\nX = 666\n"


def test_swapped_module_is_not_executed_and_is_rewritten(private: Path, tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    path = write_source("X = 1\n", "numpy", "0.1.0")
    path.write_text(_marker_code(marker))  # swapped behind rates' back
    with pytest.raises(CacheError, match="does not match the sha256"):
        load_module(path, "rates_test_swapped")
    assert not marker.exists()
    again = write_source("X = 1\n", "numpy", "0.1.0")
    assert again == path and load_module(again, "rates_test_swapped").X == 1
    assert not marker.exists()


def test_swapped_module_with_a_forged_name_but_no_record(private: Path, tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    path = write_source("X = 1\n", "numpy", "0.1.0")
    Path(f"{path}.sha256").unlink()  # missing record: damaged
    with pytest.raises(CacheError):
        load_module(path, "rates_test_unrecorded")
    planted = private / "numpy_00000000000000000000.py"
    planted.write_text(_marker_code(marker))  # never written by rates
    with pytest.raises(CacheError):
        load_module(planted, "rates_test_planted")
    assert not marker.exists()


def test_symbolic_link_in_the_cache_is_not_followed(private: Path, tmp_path: Path) -> None:
    path = write_source("X = 1\n", "numpy", "0.1.0")
    outside = tmp_path / "outside.py"
    outside.write_text("X = 1\n")
    path.unlink()
    path.symlink_to(outside)  # the record still matches the target's bytes
    assert read_verified(path) is None
    assert write_source("X = 1\n", "numpy", "0.1.0") == path
    assert not path.is_symlink() and outside.read_text() == "X = 1\n"


@pytest.mark.parametrize("name", ["/etc/passwd", "../x", "..", "a/b", "", ".hidden", "a\\b"])
def test_names_outside_the_cache_are_refused(private: Path, name: str) -> None:
    with pytest.raises(CacheError):
        cache_file(name)


def test_store_refuses_paths_outside_the_cache(private: Path, tmp_path: Path) -> None:
    cache_dir()
    for path in (tmp_path / "x.py", private / ".." / "x.py", Path("/etc/passwd")):
        with pytest.raises(CacheError, match="not inside"):
            store(path, "X = 1\n")
    assert not (tmp_path / "x.py").exists()
