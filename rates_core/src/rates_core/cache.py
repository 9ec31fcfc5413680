"""The content-addressed cache of generated sources, shared by all backends.

Generated files are named by the hash of (backend, backend version, source), written atomically
(temporary file in the same directory, then :func:`os.replace`), so many processes may emit the
same model at once. Nothing is written to the working directory: the cache lives in a per-user
directory (``RATES_CACHE_DIR`` overrides it); a named copy is written only where a caller asks
(:func:`write_copy`).

The cache trusts nothing it did not write (the compiled and imported files in it run as the user):

- The directory is private: created 0700 whatever the umask, owned by this user (effective uid)
  and writable by nobody else. An unsafe ``RATES_CACHE_DIR`` (owned by another user, group- or
  world-writable, not a directory, not creatable) raises :class:`~rates_core.errors.CacheError`;
  an unsafe or unusable *default* directory (say ``~/.cache/rates`` of another user under
  ``sudo``, or a read-only home) is replaced, with a warning, by a private temporary directory
  for this process (:func:`tempfile.mkdtemp`, removed at exit): the run goes on.
  A directory of ours that others may only read (0755, an older cache) is tightened to 0700.
- Files are written 0600 (:func:`store`), and the sha256 of each is recorded next to it
  (``<name>.sha256``, also 0600) after the file is in place. :func:`read_verified` returns a
  file's bytes only when they match that record; a missing record, a mismatch or a symbolic link
  counts as damaged, and callers rebuild it instead of loading it. :func:`load_module` executes
  the bytes it verified, never a second read of the file. Names taken from an index must be
  plain file names (:func:`cache_file`), so an entry never points outside the cache.
- Writing into a cache that turns out read-only or full raises one CacheError naming the file.
- Not covered: a parent directory that others can write (they could swap the whole cache
  directory between the check and its use); keep the cache under your home directory.
"""

from __future__ import annotations

import atexit
import errno
import hashlib
import hmac
import importlib.util
import os
import shutil
import stat
import sys
import tempfile
import warnings
from collections.abc import Collection
from pathlib import Path
from types import ModuleType
from typing import Any

from rates_core.errors import CacheError

__all__ = [
    "cache_dir",
    "cache_file",
    "load_module",
    "read_verified",
    "source_hash",
    "store",
    "write_copy",
    "write_requested_copy",
    "write_source",
]

#: Environment variable naming the cache directory.
CACHE_ENV = "RATES_CACHE_DIR"
#: Suffix of the file holding the sha256 of a cache file.
RECORD_SUFFIX = ".sha256"
#: The private temporary cache used when the default one is unsafe (one per process).
_FALLBACK: dict[str, Path] = {}


def cache_dir() -> Path:
    """The per-user cache directory, created private (0700) if missing and checked to be safe.

    ``$RATES_CACHE_DIR`` if set; else ``$XDG_CACHE_HOME/rates`` or ``~/.cache/rates`` on Linux,
    ``~/Library/Caches/rates`` on macOS and ``%LOCALAPPDATA%\\rates\\Cache`` on Windows.
    CacheError for an unsafe ``$RATES_CACHE_DIR``; an unsafe default falls back to a private
    temporary directory with a warning (see the module doc).
    """
    override = os.environ.get(CACHE_ENV)
    if override:
        path = Path(override).expanduser().absolute()
        _ensure_private_dir(path, f"${CACHE_ENV}")
        return path
    path = _default_dir().absolute()
    try:
        _ensure_private_dir(path, "the default cache directory")
    except CacheError as exc:
        return _fallback_dir(exc)
    return path


def _default_dir() -> Path:
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
        return Path(base) / "rates" / "Cache"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "rates"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "rates"


def _ensure_private_dir(path: Path, what: str) -> None:
    """Create ``path`` 0700 if missing; CacheError unless it is a directory only we can write."""
    try:
        try:
            st = os.stat(path)
        except FileNotFoundError:
            path.parent.mkdir(parents=True, exist_ok=True)  # parents (~/.cache) keep the umask
            try:
                os.mkdir(path, 0o700)
                os.chmod(path, 0o700)  # exactly 0700, whatever the umask
            except FileExistsError:  # another process was quicker
                pass
            st = os.stat(path)
    except OSError as exc:
        raise CacheError(
            f"cannot use {path} as the rates compile cache ({what}): {_reason(exc)}", path
        ) from exc
    _check_private(path, st, what)


def _check_private(path: Path, st: os.stat_result, what: str) -> None:
    """CacheError unless ``st`` is a directory owned by us that nobody else can write."""
    hint = f"; set ${CACHE_ENV} to a private directory (mode 0700) of yours"
    if not stat.S_ISDIR(st.st_mode):
        raise CacheError(f"the rates compile cache {path} ({what}) is not a directory{hint}", path)
    if not hasattr(os, "geteuid"):  # Windows: per-user profile directories, no POSIX modes
        return
    if st.st_uid != os.geteuid():
        raise CacheError(
            f"the rates compile cache {path} ({what}) is owned by uid {st.st_uid}, not by you "
            f"(uid {os.geteuid()}): its files would run as you{hint}",
            path,
        )
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise CacheError(
            f"the rates compile cache {path} ({what}) is writable by group or others "
            f"(mode {stat.S_IMODE(st.st_mode):04o}): others could plant code that runs as you"
            f"{hint}",
            path,
        )
    if st.st_mode & 0o077:
        try:
            os.chmod(path, 0o700)  # ours, only readable by others (an older cache): tighten it
        except OSError:
            pass


def _fallback_dir(reason: CacheError) -> Path:
    """A private temporary cache for this process (created once, removed at exit)."""
    path = _FALLBACK.get("dir")
    if path is not None and path.is_dir():
        return path
    try:
        path = Path(tempfile.mkdtemp(prefix="rates-cache-"))  # 0700, ours
    except OSError as exc:
        raise CacheError(f"{reason}; no private temporary cache either: {_reason(exc)}") from exc
    _FALLBACK["dir"] = path
    atexit.register(shutil.rmtree, path, True)
    warnings.warn(
        f"{reason}. Using the private temporary cache {path} for this process instead.",
        RuntimeWarning,
        stacklevel=3,
    )
    return path


def _reason(exc: OSError) -> str:
    names: dict[int | None, str] = {
        errno.ENOSPC: "no space left on the device",
        errno.EROFS: "read-only file system",
        errno.EDQUOT: "disk quota exceeded",
        errno.ENOTDIR: "a part of the path is a file, not a directory",
    }
    return names.get(exc.errno, exc.strerror or str(exc))


def source_hash(source: str, backend: str, backend_version: str) -> str:
    """The first 20 hex digits of sha256(backend, version, source) (the cache file's name)."""
    digest = hashlib.sha256()
    for part in (backend, backend_version, source):
        data = part.encode("utf-8")
        digest.update(len(data).to_bytes(8, "little"))
        digest.update(data)
    return digest.hexdigest()[:20]


def write_source(source: str, backend: str, backend_version: str, suffix: str = ".py") -> Path:
    """Store ``source`` in the cache and return its path (re-used when already present).

    The name is ``<backend>_<hash><suffix>``; identical sources share one file. A file of the
    right name whose bytes or sha256 record do not match ``source`` (edited, swapped, damaged)
    is rewritten.
    """
    name = f"{_safe(backend)}_{source_hash(source, backend, backend_version)}{suffix}"
    path = cache_dir() / name
    data = source.encode("utf-8")
    if read_verified(path) == data:
        return path
    return store(path, data)


def cache_file(*parts: str) -> Path:
    """The path of the cache entry ``parts`` (sub directories created private and checked).

    Every part must be a plain file name (no separator, not ``.``/``..``, not hidden), so an
    entry read from an index can never point outside the cache; CacheError otherwise.
    """
    path = cache_dir()
    for i, part in enumerate(parts):
        if not _plain_name(part):
            raise CacheError(f"{part!r} is not a file name inside the rates compile cache", part)
        path = path / part
        if i < len(parts) - 1:
            _ensure_private_dir(path, "a cache sub directory")
    return path


def _plain_name(name: object) -> bool:
    return (
        isinstance(name, str)
        and bool(name)
        and not name.startswith(".")
        and "/" not in name
        and "\\" not in name
        and "\0" not in name
        and Path(name).name == name
        and not Path(name).is_absolute()
    )


def store(path: str | os.PathLike[str], data: str | bytes) -> Path:
    """Write ``data`` (text as UTF-8) to the cache file ``path`` (0600, atomic), then its sha256
    record; CacheError if the cache cannot be written (read-only, full) or ``path`` lies outside.
    """
    path = Path(path)
    root = cache_dir()
    if not _inside(root, path):
        raise CacheError(f"{path} is not inside the rates compile cache {root}", path)
    raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    _write_private(path, raw)
    _write_private(_record_path(path), hashlib.sha256(raw).hexdigest().encode("ascii"))
    return path


def read_verified(path: str | os.PathLike[str]) -> bytes | None:
    """The bytes of the cache file ``path`` if they match the sha256 recorded when rates wrote
    them; None when the file or its record is missing, a symbolic link or does not match."""
    path = Path(path)
    data = _read_regular(path)
    record = _read_regular(_record_path(path))
    if data is None or record is None:
        return None
    digest = hashlib.sha256(data).hexdigest().encode("ascii")
    return data if hmac.compare_digest(digest, record.strip()) else None


def _record_path(path: Path) -> Path:
    return path.with_name(path.name + RECORD_SUFFIX)


def _inside(root: Path, path: Path) -> bool:
    """Whether ``path``'s directory is ``root`` or below it (symbolic links resolved)."""
    if not _plain_name(path.name):
        return False
    parent = Path(os.path.realpath(path.parent))
    real_root = Path(os.path.realpath(root))
    return parent == real_root or real_root in parent.parents


def _read_regular(path: Path) -> bytes | None:
    """The bytes of ``path`` if it is a regular file (a symbolic link is not followed)."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except OSError:
        return None
    try:
        with os.fdopen(fd, "rb") as fh:
            if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
                return None
            return fh.read()
    except OSError:
        return None


def _write_private(path: Path, data: bytes) -> None:
    """Atomically replace ``path`` by ``data``, mode 0600 whatever the umask; CacheError on
    failure (read-only, full), the temporary file removed."""
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as fh:
            if hasattr(os, "fchmod"):
                os.fchmod(fh.fileno(), 0o600)
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass
        raise CacheError(
            f"cannot write {path} in the rates compile cache: {_reason(exc)}", path
        ) from exc


def write_copy(
    source: str,
    file_name: str | os.PathLike[str],
    suffix: str = ".py",
    *,
    overwrite: bool = False,
    protect: Collection[str | os.PathLike[str]] = (),
) -> Path:
    """Write ``source`` to ``file_name`` (absolute or relative to the working directory).

    Missing parent directories are created; ``suffix`` is appended when the name has none. A
    file that already holds exactly ``source`` is left as it is (emitting a model again is not
    an overwrite); another existing file is replaced only with ``overwrite=True``, a file of
    ``protect`` (the model's files) never, and a symbolic link is never written through
    (:func:`rates_core.outputs.write_file`).
    """
    from rates_core.outputs import write_file

    path = Path(file_name).expanduser()
    if not path.suffix:
        path = path.with_suffix(suffix)
    return write_file(path, source, overwrite=overwrite, protect=protect, same_ok=True)


def write_requested_copy(source: str, options: Any, suffix: str = ".py") -> Path | None:
    """The named copy of generated code that ``options`` (an EmitOptions) asks for with
    ``file_name``, written with the user's ``overwrite`` and ``protect`` settings; None when no
    copy was asked for. Every backend's emit_function calls this for its ``file_name``."""
    if not options.file_name:
        return None
    return write_copy(
        source,
        options.file_name,
        suffix,
        overwrite=options.overwrite,
        protect=options.protect,
    )


def load_module(path: str | os.PathLike[str], name: str) -> ModuleType:
    """Import the cache file ``path`` (from :func:`write_source`) as a fresh module ``name``.

    The bytes are checked against the sha256 recorded when they were written and those very
    bytes are executed (CacheError, nothing executed, when they do not match: damaged or
    swapped). The module is not left in :data:`sys.modules` (two models never share module
    state), and Python writes no ``__pycache__`` next to the file.
    """
    data = read_verified(path)
    if data is None:
        raise CacheError(
            f"the generated module {path} does not match the sha256 recorded when rates wrote it "
            "(damaged or replaced); it was not loaded. Run again to regenerate it.",
            path,
        )
    spec = importlib.util.spec_from_file_location(name, str(path))
    if spec is None:
        raise CacheError(f"cannot load generated module from {path}", path)
    module = importlib.util.module_from_spec(spec)
    code = compile(data, str(path), "exec", dont_inherit=True)
    previous = sys.modules.get(name)
    sys.modules[name] = module  # dataclasses and pickling look modules up while executing
    try:
        exec(code, module.__dict__)  # noqa: S102 - the verified bytes rates generated itself
    finally:
        if previous is None:
            sys.modules.pop(name, None)
        else:
            sys.modules[name] = previous
    return module


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name) or "backend"
