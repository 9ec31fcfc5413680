"""The content-addressed cache of generated sources, shared by all backends.

Generated files are named by the hash of (backend, backend version, source), written atomically
(temporary file in the same directory, then :func:`os.replace`), so many processes may emit the
same model at once. Nothing is written to the working directory: the cache lives in a per-user
directory (``RATES_CACHE_DIR`` overrides it); a named copy is written only where a caller asks
(:func:`write_copy`).
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
import tempfile
from collections.abc import Collection
from pathlib import Path
from types import ModuleType

__all__ = ["cache_dir", "load_module", "source_hash", "write_copy", "write_source"]

#: Environment variable naming the cache directory.
CACHE_ENV = "RATES_CACHE_DIR"


def cache_dir() -> Path:
    """The per-user cache directory (created if missing).

    ``$RATES_CACHE_DIR`` if set; else ``$XDG_CACHE_HOME/rates`` or ``~/.cache/rates`` on Linux,
    ``~/Library/Caches/rates`` on macOS and ``%LOCALAPPDATA%\\rates\\Cache`` on Windows.
    """
    override = os.environ.get(CACHE_ENV)
    if override:
        path = Path(override).expanduser()
    elif sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
        path = Path(base) / "rates" / "Cache"
    elif sys.platform == "darwin":
        path = Path.home() / "Library" / "Caches" / "rates"
    else:
        base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        path = Path(base) / "rates"
    path = path.absolute()
    path.mkdir(parents=True, exist_ok=True)
    return path


def source_hash(source: str, backend: str, backend_version: str) -> str:
    """The first 20 hex digits of sha256(backend, version, source) (the cache file's name)."""
    digest = hashlib.sha256()
    for part in (backend, backend_version, source):
        data = part.encode("utf-8")
        digest.update(len(data).to_bytes(8, "little"))
        digest.update(data)
    return digest.hexdigest()[:20]


def _atomic_write(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def write_source(source: str, backend: str, backend_version: str, suffix: str = ".py") -> Path:
    """Store ``source`` in the cache and return its path (re-used when already present).

    The name is ``<backend>_<hash><suffix>``; identical sources share one file. A file of the
    right name but different content (a torn write from a crashed process cannot happen with
    :func:`os.replace`, but a user may have edited it) is rewritten.
    """
    name = f"{_safe(backend)}_{source_hash(source, backend, backend_version)}{suffix}"
    path = cache_dir() / name
    try:
        if path.read_text(encoding="utf-8") == source:
            return path
    except (OSError, UnicodeDecodeError):
        pass
    _atomic_write(path, source)
    return path


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


def load_module(path: str | os.PathLike[str], name: str) -> ModuleType:
    """Import the Python file ``path`` as a fresh module called ``name``.

    The module is not left in :data:`sys.modules` (two models never share module state), and
    Python writes no ``__pycache__`` next to the file.
    """
    spec = importlib.util.spec_from_file_location(name, str(path))
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load generated module from {path}")
    module = importlib.util.module_from_spec(spec)
    previous = sys.modules.get(name)
    sys.modules[name] = module  # dataclasses and pickling look modules up while executing
    dont_write = sys.dont_write_bytecode
    sys.dont_write_bytecode = True
    try:
        spec.loader.exec_module(module)
    finally:
        sys.dont_write_bytecode = dont_write
        if previous is None:
            sys.modules.pop(name, None)
        else:
            sys.modules[name] = previous
    return module


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name) or "backend"
