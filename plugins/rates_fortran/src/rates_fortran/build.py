"""Compiling generated Fortran with gfortran into the content-addressed cache.

The source goes to :func:`rates_core.cache.write_source` (``fortran_<hash>.f90``, the hash
covering the source, the plugin version, the compiler version and the flags); the shared
library is built next to it (``fortran_<hash>.so``) in a private temporary directory (module
files included) and moved into place with :func:`os.replace`, so many processes may build the
same model at once and a library is either complete or absent.

``RATES_FORTRAN_COMPILER`` names another compiler executable, ``RATES_FORTRAN_FLAGS`` replaces
the optimisation flags (default ``-O3 -freciprocal-math``; ``-O3 -freciprocal-math
-march=native`` is faster still, for libraries used on this machine only).

A small index (``fortran_key_<key>.json``, :func:`find_indexed` / :func:`write_index`) maps the
structural key of a System (:mod:`rates_fortran.key`) to the source and library it produced, so
a repeated run neither prints the module nor asks the compiler for its version.

Nothing in the cache is trusted (:mod:`rates_core.cache`): the library is stored 0600 with its
sha256 recorded, and verified before every load; a library that does not match (truncated,
swapped, unrecorded) is compiled again, never loaded. Index entries are plain file names in the
cache (an entry naming ``/etc/passwd`` or ``../x`` is ignored). A full disk while compiling is a
:class:`~rates_core.errors.CacheError`, not a compile error.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from rates_core.errors import BackendUnavailableError, CacheError, RatesError
from rates_fortran import BACKEND, __version__

__all__ = [
    "INSTALL_HINT",
    "FortranCompileError",
    "compile_library",
    "compiler",
    "compiler_identity",
    "compiler_version",
    "find_indexed",
    "have_compiler",
    "write_index",
]

#: How to get gfortran, shown when it is missing.
INSTALL_HINT = (
    "rates-fortran needs a Fortran compiler (gfortran) on PATH: `sudo apt-get install gfortran` "
    "(Debian/Ubuntu), `brew install gcc` (macOS), `conda install -c conda-forge gfortran`; or "
    "set RATES_FORTRAN_COMPILER to the compiler's path"
)
#: Flags always given (position-independent shared library, long lines allowed).
BASE_FLAGS = ("-shared", "-fPIC", "-ffree-line-length-none")
#: -O3 (not -O2): gfortran 12 vectorises the dense coupling loops only at -O3, 2-4x faster on
#: a 1000-unit network (benchmarks/README.md, "rates-fortran"); portable (no -march=native).
#: -freciprocal-math: a division by a parameter may become a multiplication by its reciprocal
#: (computed once per run), as rates-numba's ``fastmath={"arcp", ...}``: Jansen-Rit's Euler
#: loop 10-15 % faster, results equal to rates-numpy to rounding instead of bit for bit;
#: NaN and infinity are handled as without it (no -ffinite-math-only).
DEFAULT_OPT_FLAGS = ("-O3", "-freciprocal-math")


class FortranCompileError(RatesError):
    """gfortran rejected a generated module; the message shows the offending generated lines."""


def compiler() -> str:
    """The compiler executable's path; BackendUnavailableError with the install hint if none."""
    name = os.environ.get("RATES_FORTRAN_COMPILER", "gfortran")
    path = shutil.which(name)
    if path is None:
        raise BackendUnavailableError(f"Fortran compiler {name!r} not found. {INSTALL_HINT}")
    return path


def have_compiler() -> bool:
    try:
        compiler()
    except BackendUnavailableError:
        return False
    return True


def compiler_version(path: str | None = None) -> str:
    path = path or compiler()
    try:
        done = subprocess.run(
            [path, "-dumpfullversion", "-dumpversion"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except OSError as exc:
        raise BackendUnavailableError(f"cannot run {path}: {exc}. {INSTALL_HINT}") from exc
    return done.stdout.strip() or "unknown"


def compiler_identity(path: str | None = None) -> str:
    """A cheap identity of the compiler (resolved path, size, modification time) and the flags:
    no subprocess, for the structural key of :mod:`rates_fortran.key`."""
    path = path or compiler()
    real = os.path.realpath(path)
    try:
        st = os.stat(real)
        stamp = f"{st.st_size}:{st.st_mtime_ns}"
    except OSError:
        stamp = "?"
    return f"{real}|{stamp}|{' '.join(_flags())}"


def _flags() -> list[str]:
    extra = os.environ.get("RATES_FORTRAN_FLAGS")
    return [*BASE_FLAGS, *(extra.split() if extra is not None else DEFAULT_OPT_FLAGS)]


def _suffix() -> str:
    return ".dll" if sys.platform == "win32" else (".dylib" if sys.platform == "darwin" else ".so")


def compile_library(source: str, name: str = "model") -> tuple[Path, Path]:
    """``(source path, library path)`` of ``source`` in the cache, compiled if not there yet
    (or if the library there does not match its recorded sha256).

    Raises BackendUnavailableError without a compiler, FortranCompileError (with the offending
    generated lines) when the compiler rejects the source, CacheError when the cache is full
    or read-only.
    """
    from rates_core.cache import read_verified, write_source

    fc = compiler()
    flags = _flags()
    tag = f"{__version__}|{Path(fc).name} {compiler_version(fc)}|{' '.join(flags)}"
    src = write_source(source, BACKEND, tag, suffix=".f90")
    lib = src.with_suffix(_suffix())
    if read_verified(lib) is None:
        _build(fc, flags, source, src, lib, name)
    return src, lib


def _build(fc: str, flags: list[str], source: str, src: Path, lib: Path, name: str) -> None:
    """Compile ``src`` in a private temporary directory and store the library as ``lib``."""
    from rates_core.cache import store

    try:
        tmp_dir = tempfile.TemporaryDirectory(prefix="rates-fortran-", dir=src.parent)
    except OSError as exc:
        raise CacheError(f"cannot compile in the rates compile cache {src.parent}: {exc}") from exc
    with tmp_dir as tmp:
        out = Path(tmp) / lib.name
        cmd = [fc, *flags, "-J", tmp, str(src), "-o", str(out)]
        done = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp, check=False)
        log = done.stderr or done.stdout
        if done.returncode != 0 or not out.is_file():
            if _out_of_space(log, Path(tmp)):
                raise CacheError(
                    f"no space left in the rates compile cache {src.parent} while compiling "
                    f"model {name!r}: free some space or set RATES_CACHE_DIR elsewhere\n"
                    + log.strip()[-500:],
                    src.parent,
                )
            raise FortranCompileError(_explain(log, source, src, name))
        store(lib, out.read_bytes())


#: What the compiler and linker print when the disk or the quota is full (C locale).
_NO_SPACE = ("No space left on device", "Disk quota exceeded")


def _out_of_space(log: str, directory: Path) -> bool:
    """Whether a failed compilation ran out of disk space (message, or under 1 MiB free)."""
    if any(text in log for text in _NO_SPACE):
        return True
    try:
        st = os.statvfs(directory)
    except (OSError, AttributeError):  # no statvfs on Windows
        return False
    return st.f_bavail * st.f_frsize < 2**20


_LOCATION = re.compile(r"^(?P<file>[^:\n]+\.f90):(?P<line>\d+):(?P<col>\d+):", re.MULTILINE)


def _explain(log: str, source: str, path: Path, name: str) -> str:
    """The compiler's message with the generated lines it points at."""
    lines = source.splitlines()
    shown: list[str] = []
    seen: set[int] = set()
    for match in _LOCATION.finditer(log):
        number = int(match["line"])
        if number in seen or not 1 <= number <= len(lines):
            continue
        seen.add(number)
        shown.append(f"  line {number}: {lines[number - 1].strip()}")
        if len(shown) >= 5:
            break
    errors = [ln for ln in log.splitlines() if "Error" in ln or "error" in ln][:5]
    text = f"gfortran could not compile the generated code of model {name!r} ({path})"
    if shown:
        text += ":\n" + "\n".join(shown)
    if errors:
        text += "\n" + "\n".join(errors)
    else:
        text += "\n" + log.strip()[-2000:]
    return text


# --------------------------------------------------------------------------- key index


def _index_path(key: str) -> Path:
    from rates_core.cache import cache_file

    return cache_file(f"{BACKEND}_key_{key}.json")


def find_indexed(key: str) -> dict[str, Any] | None:
    """What a structural key produced before (``source``, ``library`` paths, the source ``text``,
    ``jacobian``) if the index and both files are in the cache and match their recorded
    sha256; None otherwise (then print and compile). Entries must be plain file names in the
    cache: absolute paths, ``..`` and links out of the cache are ignored."""
    import json

    from rates_core.cache import cache_file, read_verified

    try:
        raw = read_verified(_index_path(key))
        if raw is None:
            return None
        entry = json.loads(raw)
        src = cache_file(entry["source"])
        lib = cache_file(entry["library"])
    except (CacheError, ValueError, KeyError, TypeError):
        return None
    text = read_verified(src)
    if text is None or read_verified(lib) is None:
        return None
    try:
        source = text.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return {"source": src, "library": lib, "text": source, "jacobian": bool(entry.get("jacobian"))}


def write_index(key: str, source: Path, library: Path, jacobian: bool) -> None:
    """Record that ``key`` produced ``source`` / ``library`` (atomic write in the cache)."""
    import json

    from rates_core.cache import store

    entry = {"source": source.name, "library": library.name, "jacobian": bool(jacobian)}
    try:
        store(_index_path(key), json.dumps(entry))
    except CacheError:  # a read-only cache still works, only without the shortcut
        pass
