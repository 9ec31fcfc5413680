"""The one grammar every model name obeys (template, node, operator, variable, population labels).

Names come from model files written by other people and end up in generated source code, file
headers and error messages, so they are restricted to what is safe everywhere: an ASCII
identifier (a letter or ``_``, then letters, digits and ``_``) of at most ``MAX_NAME_LENGTH``
characters. That rules out quotes, newlines, control characters, ``$``, ``/`` and spaces. Circuit
labels may also be unit numbers (``0``, ``1``, ...), as the units of a population are. The
backends still embed names only through :mod:`rates_core.codegen` (defence in depth).
"""

from __future__ import annotations

import re
from typing import Any

from rates_core.errors import ModelError

MAX_NAME_LENGTH = 128
NAME_PATTERN = re.compile(rf"[A-Za-z_][A-Za-z0-9_]{{0,{MAX_NAME_LENGTH - 1}}}")
_UNIT = re.compile(r"[0-9]{1,18}")


def is_valid_name(name: Any) -> bool:
    """Whether ``name`` obeys the name grammar."""
    return isinstance(name, str) and NAME_PATTERN.fullmatch(name) is not None


def check_name(
    name: Any,
    kind: str,
    *,
    file: str | None = None,
    template: str | None = None,
    variable: str | None = None,
) -> str:
    """Return ``name``, or raise a ModelError naming ``kind`` (``"node label"``) and where."""
    if is_valid_name(name):
        return name
    if not isinstance(name, str):
        problem = f"is a {type(name).__name__}, not text"
    elif len(name) > MAX_NAME_LENGTH:
        problem = f"is {len(name)} characters long (at most {MAX_NAME_LENGTH})"
    else:
        problem = "is not a name"
    shown = repr(name) if not isinstance(name, str) else repr(name[: MAX_NAME_LENGTH + 2])
    raise ModelError(
        f"{kind} {shown} {problem}: names are a letter or _, then letters, digits or _",
        file=file,
        template=template,
        variable=variable,
    )


def check_label(label: Any, kind: str, **where: Any) -> str:
    """Return a circuit label: a name, or a unit number like the units of a population (``3``)."""
    if isinstance(label, str) and _UNIT.fullmatch(label):
        return label
    return check_name(label, kind, **where)


def check_path(
    path: Any, kind: str, *, file: str | None = None, template: str | None = None
) -> str:
    """Return ``path`` when every ``/``-separated part is a name or a unit number (``e/3/op/v``)."""
    if not isinstance(path, str) or not path.strip("/"):
        raise ModelError(f"{kind} {path!r} is not a path node/op/var", file=file, template=template)
    for part in path.strip("/").split("/"):
        check_label(part, f"{kind} {path[:300]!r}: part", file=file, template=template)
    return path
