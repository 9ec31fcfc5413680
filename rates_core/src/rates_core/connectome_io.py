"""Reading connectome files (TVB's zip and text layout) as untrusted data, with bounded sizes.

A connectome file comes from someone else, so nothing in it is trusted: a zip archive is read
in memory (never extracted to disk), its number of members and the bytes read from each member
are capped before anything is allocated (no zip bombs, whatever the headers claim), members with
absolute paths or ``..`` parts make the whole archive refused, and every number and label is
checked row by row. Each failure is a :class:`~rates_core.errors.ModelError` naming the file and
the member (and row) at fault.

The layout is The Virtual Brain's: one whitespace-separated text file per quantity,

- ``weights.txt``: the N x N connection strengths, row i = target region, column j = source;
- ``tract_lengths.txt`` (or ``tract.txt`` / ``tracts.txt``): N x N fibre lengths in mm;
- ``centres.txt`` (or ``centers.txt``): N rows ``label x y z`` (mm; further fields ignored);
- optional ``hemispheres.txt`` and ``cortical.txt`` (N values 0/1 or true/false; hemisphere
  1 = right) and ``areas.txt`` (N values).

Members are matched by file name (``weights``, ``weights.txt``, or bzip2-compressed
``weights.txt.bz2``), in any one folder of the zip; other members (``info.txt``,
``average_orientations.txt``) are not read.
"""

from __future__ import annotations

import bz2
import os
import zipfile
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from rates_core.errors import ModelError

#: At most this many members in a connectome zip (TVB's have about ten).
MAX_MEMBERS = 256
#: At most this many bytes read from one member or one text file (about 2,500 regions of
#: weights written with full precision).
MAX_MEMBER_BYTES = 128 * 2**20
#: At most this many bytes read from all members of one zip together.
MAX_TOTAL_BYTES = 512 * 2**20
#: At most this many bytes of a zip file itself (its central directory is read whole).
MAX_ZIP_BYTES = 1024 * 2**20

#: File name stems of each quantity (TVB's names and their common variants).
ROLES: Mapping[str, tuple[str, ...]] = {
    "weights": ("weights",),
    "tract_lengths": ("tract_lengths", "tract", "tracts"),
    "centres": ("centres", "centers"),
    "hemispheres": ("hemispheres",),
    "cortical": ("cortical",),
    "areas": ("areas",),
}
_SUFFIXES = ("", ".txt", ".bz2", ".txt.bz2")


def read_connectome_files(path: str | os.PathLike) -> dict[str, Any]:
    """The parsed contents of a TVB connectome zip or folder of text files: ``weights``,
    ``tract_lengths``, ``centres`` (N x 3), ``region_labels`` and the optional ``hemispheres``,
    ``cortical`` and ``areas`` (absent keys for absent files). Shapes between files are checked
    by :class:`rates_core.connectome.Connectome`."""
    where = Path(path)
    if where.is_dir():
        texts = _folder_texts(where)
    elif where.is_file():
        texts = _zip_texts(where)
    else:
        raise ModelError(f"no connectome zip or folder at {str(where)!r}", file=str(where))
    for required in ("weights", "centres"):
        if required not in texts:
            names = " or ".join(f"{stem}.txt" for stem in ROLES[required])
            raise ModelError(f"the connectome has no {names}", file=str(where))
    return _parse(texts, str(where))


# --------------------------------------------------------------------------- reading bytes


def _role(name: str) -> str | None:
    """The quantity a member or file name holds, or None for other files."""
    base = PurePosixPath(name).name.lower()
    for role, stems in ROLES.items():
        if any(base == stem + suffix for stem in stems for suffix in _SUFFIXES):
            return role
    return None


def _claim(found: dict[str, tuple[str, str]], role: str, member: str, text: str, file: str) -> None:
    if role in found:
        raise ModelError(
            f"two members hold the {role}: {found[role][0]!r} and {member!r}", file=file
        )
    found[role] = (member, text)


def _decode(data: bytes, file: str, member: str) -> str:
    if member.endswith(".bz2") and len(data) <= MAX_MEMBER_BYTES:
        data = _bunzip(data, file, member)
    if len(data) > MAX_MEMBER_BYTES:
        raise ModelError(
            f"member {member!r} is larger than {MAX_MEMBER_BYTES} bytes (a connectome of a few "
            "thousand regions at most)",
            file=file,
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ModelError(
            f"member {member!r} is not UTF-8 text (byte {exc.start})", file=file
        ) from None


def _bunzip(data: bytes, file: str, member: str) -> bytes:
    """Decompressed bzip2 data, at most MAX_MEMBER_BYTES + 1 bytes of it (no bombs)."""
    decompressor = bz2.BZ2Decompressor()
    try:
        out = decompressor.decompress(data, max_length=MAX_MEMBER_BYTES + 1)
    except (OSError, EOFError, ValueError) as exc:
        raise ModelError(f"member {member!r} is not bzip2 data: {exc}", file=file) from None
    if len(out) <= MAX_MEMBER_BYTES and not decompressor.eof:
        raise ModelError(f"member {member!r} is truncated bzip2 data", file=file)
    return out


def _zip_texts(path: Path) -> dict[str, tuple[str, str]]:
    """``role -> (member name, text)`` of a zip, read in memory within the size caps."""
    file = str(path)
    if path.stat().st_size > MAX_ZIP_BYTES:
        raise ModelError(f"the zip is larger than {MAX_ZIP_BYTES} bytes", file=file)
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise ModelError(f"not a readable zip archive: {exc}", file=file) from None
    with archive:
        infos = archive.infolist()
        if len(infos) > MAX_MEMBERS:
            raise ModelError(f"the zip has {len(infos)} members (at most {MAX_MEMBERS})", file=file)
        for info in infos:
            _check_member_name(info.filename, file)
        found: dict[str, tuple[str, str]] = {}
        total = 0
        for info in infos:
            role = None if info.is_dir() else _role(info.filename)
            if role is None:
                continue
            data = _read_member(archive, info, file)
            total += len(data)
            if total > MAX_TOTAL_BYTES:
                raise ModelError(
                    f"the members hold more than {MAX_TOTAL_BYTES} bytes together", file=file
                )
            _claim(found, role, info.filename, _decode(data, file, info.filename), file)
    return found


def _check_member_name(name: str, file: str) -> None:
    """Refuse archives made to escape a folder when extracted (absolute, ``..``, drives)."""
    parts = name.replace("\\", "/").split("/")
    if name.startswith(("/", "\\")) or ".." in parts or (len(name) > 1 and name[1] == ":"):
        raise ModelError(f"member {name[:200]!r} has an absolute path or '..': refused", file=file)


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, file: str) -> bytes:
    """At most MAX_MEMBER_BYTES + 1 bytes of a member, whatever its header says."""
    if info.file_size > MAX_MEMBER_BYTES:
        raise ModelError(
            f"member {info.filename!r} is larger than {MAX_MEMBER_BYTES} bytes", file=file
        )
    try:
        with archive.open(info) as stream:
            return stream.read(MAX_MEMBER_BYTES + 1)
    except (zipfile.BadZipFile, NotImplementedError, RuntimeError, OSError, EOFError) as exc:
        raise ModelError(f"member {info.filename!r} cannot be read: {exc}", file=file) from None
    except Exception as exc:  # zlib.error, bz2/lzma errors of damaged data
        raise ModelError(f"member {info.filename!r} is damaged: {exc}", file=file) from None


def _folder_texts(path: Path) -> dict[str, tuple[str, str]]:
    """``role -> (file name, text)`` of the files directly in a folder."""
    found: dict[str, tuple[str, str]] = {}
    for entry in sorted(path.iterdir()):
        role = _role(entry.name)
        if role is None or not entry.is_file():
            continue
        try:
            with open(entry, "rb") as stream:
                data = stream.read(MAX_MEMBER_BYTES + 1)
        except OSError as exc:
            raise ModelError(f"{entry.name!r} cannot be read: {exc}", file=str(path)) from None
        _claim(found, role, entry.name, _decode(data, str(path), entry.name), str(path))
    return found


# --------------------------------------------------------------------------- parsing text


def _rows(text: str) -> list[tuple[int, list[str]]]:
    """``(line number, fields)`` of the non-empty lines (``#`` starts a comment)."""
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        fields = line.split("#", 1)[0].split()
        if fields:
            rows.append((number, fields))
    return rows


def _number(field: str, file: str, member: str, line: int) -> float:
    try:
        value = float(field)
    except ValueError:
        raise ModelError(
            f"member {member!r} line {line}: {field[:40]!r} is not a number", file=file
        ) from None
    if not np.isfinite(value):
        raise ModelError(
            f"member {member!r} line {line}: {field[:40]!r} is not a finite number", file=file
        )
    return value


def _matrix(member: str, text: str, file: str) -> np.ndarray:
    rows = _rows(text)
    if not rows:
        raise ModelError(f"member {member!r} is empty", file=file)
    width = len(rows[0][1])
    values = []
    for line, fields in rows:
        if len(fields) != width:
            raise ModelError(
                f"member {member!r} line {line} has {len(fields)} values, the first row {width}",
                file=file,
            )
        values.append([_number(f, file, member, line) for f in fields])
    return np.array(values, dtype=float)


def _centres(member: str, text: str, file: str) -> tuple[list[str], np.ndarray]:
    labels, xyz = [], []
    for line, fields in _rows(text):
        if len(fields) < 4:
            raise ModelError(
                f"member {member!r} line {line}: a centre is 'label x y z', got "
                f"{len(fields)} fields",
                file=file,
            )
        labels.append(fields[0])
        xyz.append([_number(f, file, member, line) for f in fields[1:4]])
    if not labels:
        raise ModelError(f"member {member!r} is empty", file=file)
    return labels, np.array(xyz, dtype=float)


def _vector(member: str, text: str, file: str, boolean: bool) -> np.ndarray:
    values: list[Any] = []
    for line, fields in _rows(text):
        for field in fields:
            if boolean:
                values.append(_flag(field, file, member, line))
            else:
                values.append(_number(field, file, member, line))
    return np.array(values, dtype=bool if boolean else float)


def _flag(field: str, file: str, member: str, line: int) -> bool:
    word = field.lower()
    if word in ("1", "1.0", "true"):
        return True
    if word in ("0", "0.0", "false"):
        return False
    raise ModelError(
        f"member {member!r} line {line}: {field[:40]!r} is not 0/1 or true/false", file=file
    )


def _parse(texts: Mapping[str, tuple[str, str]], file: str) -> dict[str, Any]:
    out: dict[str, Any] = {"file": file, "members": {k: v[0] for k, v in texts.items()}}
    out["weights"] = _matrix(*texts["weights"], file)
    if "tract_lengths" in texts:
        out["tract_lengths"] = _matrix(*texts["tract_lengths"], file)
    out["region_labels"], out["centres"] = _centres(*texts["centres"], file)
    for role, boolean in (("hemispheres", True), ("cortical", True), ("areas", False)):
        if role in texts:
            out[role] = _vector(*texts[role], file, boolean)
    return out
