"""Careful writing of the files a user asks for (``rates run --csv``, ``rates export``, named
copies of generated code).

The rules, the same for the command line and the Python API:

- an existing file is replaced only with ``overwrite=True`` (``--force`` on the command line);
  otherwise :class:`~rates_core.errors.OutputExistsError` names it;
- a model file (``protect``) is never written, not even with ``overwrite=True``;
- symbolic links are never followed: an output that is a link (dangling or not) is refused, or
  with ``overwrite=True`` the link itself is replaced by a regular file; the link's target is
  never written;
- several files (an export) are all checked before the first is written, so a refused export
  leaves nothing half-written.

Each file is written to a new temporary file beside it (``O_CREAT | O_EXCL | O_NOFOLLOW``) and
moved into place, so a reader never sees half a file.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Collection, Iterator, Mapping
from pathlib import Path
from typing import Any

from rates_core.errors import OutputExistsError, OutputFileError

__all__ = ["check_file", "check_folder", "model_files", "write_file", "write_files"]

#: What every "it exists" message tells the user to do.
FORCE_HINT = "use --force (overwrite=True in Python) to replace it"

_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
_CREATE |= getattr(os, "O_BINARY", 0)


def model_files(template: Any) -> tuple[str, ...]:
    """The files ``template`` and every template it uses were loaded from (absolute paths)."""
    files: set[str] = set()
    for item in _templates(template, set()):
        path = getattr(item, "path", "")
        if isinstance(path, str) and path:
            files.add(os.path.realpath(path))
    return tuple(sorted(files))


def _templates(template: Any, seen: set[int]) -> Iterator[Any]:
    if template is None or id(template) in seen:
        return
    seen.add(id(template))
    yield template
    children: list[Any] = []
    for name in ("nodes", "circuits", "populations", "operators"):
        children += list(getattr(template, name, {}).values())
    children.append(getattr(template, "node", None))  # a population's node
    for link in (*getattr(template, "edges", ()), *getattr(template, "connections", ())):
        children.append(getattr(link, "template", None))
    children += [getattr(c, "edge", None) for c in getattr(template, "connectivity", ())]
    for child in children:
        yield from _templates(child, seen)


def _location(path: Path) -> Path:
    """Where ``path`` is, its folder resolved but not its last component (never a link's target)."""
    return Path(os.path.realpath(path.parent)) / path.name


def _refuse_protected(path: Path, protect: Collection[str | os.PathLike[str]]) -> None:
    location = _location(path)
    for model in protect:
        if location == Path(os.path.realpath(model)):
            raise OutputFileError(
                f"{path} is the model file {model}; rates never overwrites a model file, not "
                "even with --force: choose another output path",
                path=str(path),
            )


def check_file(
    path: str | os.PathLike[str],
    *,
    overwrite: bool = False,
    protect: Collection[str | os.PathLike[str]] = (),
) -> Path:
    """``path`` as a :class:`Path` when a file may be written there; an
    :class:`~rates_core.errors.OutputFileError` saying why not otherwise. Writes nothing."""
    path = Path(path)
    with _os_errors(path):
        _check_file(path, overwrite, protect)
    return path


def _check_file(path: Path, overwrite: bool, protect: Collection[str | os.PathLike[str]]) -> None:
    _refuse_protected(path, protect)
    if path.is_symlink():
        if not overwrite:
            raise OutputFileError(
                f"{path} is a symbolic link (to {_link(path)}); rates does not write "
                "through links: remove it, or use --force (overwrite=True in Python) to replace "
                "the link itself by a regular file",
                path=str(path),
            )
    elif path.is_dir():
        raise OutputFileError(f"{path} is a folder; give a file name", path=str(path))
    elif path.exists():
        if not path.is_file():
            raise OutputFileError(f"{path} exists and is not a regular file", path=str(path))
        if not overwrite:
            raise OutputExistsError(f"{path} exists; {FORCE_HINT}", path=str(path))
    _check_parents(path)


@contextlib.contextmanager
def _os_errors(path: Path) -> Iterator[None]:
    """Turn an OS error while looking at ``path`` (no permission, ...) into an OutputFileError."""
    try:
        yield
    except OSError as exc:
        raise OutputFileError(
            f"cannot write {path}: {exc.strerror or exc}", path=str(path)
        ) from exc


def _link(path: Path) -> str:
    """Where the symbolic link ``path`` points (for messages)."""
    try:
        return os.readlink(path)
    except OSError:
        return "?"


def _check_parents(path: Path) -> None:
    """Refuse a path below something that is not a folder (a file where a folder must be)."""
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise OutputFileError(
                    f"cannot write {path}: {parent} is a file, not a folder", path=str(path)
                )
            return


def check_folder(
    folder: str | os.PathLike[str],
    *,
    overwrite: bool = False,
    protect: Collection[str | os.PathLike[str]] = (),
) -> bool:
    """Check that files may be written into ``folder``; True when something that is not a
    folder (a file or a symbolic link, allowed with ``overwrite``) must first be replaced by one.
    """
    folder = Path(folder)
    with _os_errors(folder):
        return _check_folder(folder, overwrite, protect)


def _check_folder(
    folder: Path, overwrite: bool, protect: Collection[str | os.PathLike[str]]
) -> bool:
    _refuse_protected(folder, protect)
    if folder.is_symlink():
        if not overwrite:
            raise OutputFileError(
                f"{folder} is a symbolic link (to {_link(folder)}); rates does not write "
                "through links: give the folder it points to, or use --force (overwrite=True in "
                "Python) to replace the link itself by a folder",
                path=str(folder),
            )
        return True
    if folder.is_dir():
        return False
    if folder.exists():
        if not folder.is_file():
            raise OutputFileError(f"{folder} exists and is not a folder", path=str(folder))
        if not overwrite:
            raise OutputExistsError(
                f"{folder} is a file, but this export writes its files into a folder; "
                f"{FORCE_HINT} by a folder",
                path=str(folder),
            )
        return True
    _check_parents(folder)
    return False


def _raw(data: str | bytes) -> bytes:
    return data.encode("utf-8") if isinstance(data, str) else data


def _holds(path: Path, raw: bytes) -> bool:
    """Whether ``path`` is a regular file (not a link) holding exactly ``raw``."""
    if path.is_symlink() or not path.is_file():
        return False
    try:
        return path.stat().st_size == len(raw) and path.read_bytes() == raw
    except OSError:
        return False


def write_file(
    path: str | os.PathLike[str],
    data: str | bytes,
    *,
    overwrite: bool = False,
    protect: Collection[str | os.PathLike[str]] = (),
    same_ok: bool = False,
    mode: int = 0o666,
) -> Path:
    """Write ``data`` (text is written as UTF-8) to ``path`` under the rules of this module;
    missing parent folders are created. Returns the path.

    ``same_ok``: a file that already holds exactly ``data`` is left as it is (writing the same
    generated code again is not an overwrite). ``mode``: the new file's permissions (less the
    umask); ``0o600`` for files in the private cache.
    """
    raw = _raw(data)
    if same_ok and _holds(Path(path), raw):
        return check_file(path, overwrite=True, protect=protect)  # still never a model file
    path = check_file(path, overwrite=overwrite, protect=protect)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _write_new(path, raw, overwrite, mode)
    except OSError as exc:
        raise OutputFileError(
            f"cannot write {path}: {exc.strerror or exc}", path=str(path)
        ) from exc
    return path


def _write_new(path: Path, raw: bytes, overwrite: bool, mode: int) -> None:
    """Write a new temporary file beside ``path`` and move it there (never through a link)."""
    tmp = path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp"
    fd = os.open(tmp, _CREATE, mode)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(raw)
            fh.flush()
            os.fsync(fh.fileno())
        if overwrite:
            os.replace(tmp, path)  # replaces a link itself, never its target
        else:
            _place_new(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def _place_new(tmp: Path, path: Path) -> None:
    """Move ``tmp`` to ``path`` only if nothing is there (a hard link fails if it exists)."""
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise OutputExistsError(f"{path} exists; {FORCE_HINT}", path=str(path)) from None
    except OSError:  # no hard links on this file system
        if os.path.lexists(path):
            raise OutputExistsError(f"{path} exists; {FORCE_HINT}", path=str(path)) from None
        os.replace(tmp, path)


def write_files(
    folder: str | os.PathLike[str],
    files: Mapping[str, str | bytes],
    *,
    overwrite: bool = False,
    protect: Collection[str | os.PathLike[str]] = (),
    same_ok: bool = False,
) -> list[Path]:
    """Write ``files`` (``{relative name: data}``) into ``folder``; the paths written
    (``same_ok`` as in :func:`write_file`).

    Every path is checked before anything is written; with ``overwrite`` a file or link at
    ``folder`` is replaced by a folder and existing files are replaced.
    """
    folder = Path(folder)
    replace_folder = check_folder(folder, overwrite=overwrite, protect=protect)
    paths = {name: folder / _relative(folder, name) for name in files}
    if replace_folder:  # a link or file at folder: nothing below it is looked at
        try:
            os.unlink(folder)
        except OSError as exc:
            raise OutputFileError(
                f"cannot replace {folder}: {exc.strerror or exc}", path=str(folder)
            ) from exc
    else:
        for name, path in paths.items():
            same = same_ok and _holds(path, _raw(files[name]))
            check_file(path, overwrite=overwrite or same, protect=protect)
    return [
        write_file(path, files[name], overwrite=overwrite, protect=protect, same_ok=same_ok)
        for name, path in paths.items()
    ]


def _relative(folder: Path, name: str) -> Path:
    """``name`` as a path inside ``folder`` (a plugin's file name never leaves the folder)."""
    relative = Path(name)
    if relative.is_absolute() or ".." in relative.parts or not relative.parts:
        raise OutputFileError(f"file name {name!r} is not a plain name inside {folder}", path=name)
    return relative
