"""Model-derived text made safe inside generated code: comments, string literals, docstrings.

Names obey the grammar of :mod:`rates_core.frontend.names`, but generated files also echo file
paths, descriptions and equations, and a backend must never depend on every caller having
checked its text. Every function here takes *any* text and returns something that cannot leave
the comment or literal it is written into, in each target language (``LANGUAGES``):

* everything outside printable ASCII (newline, carriage return, NUL, other control characters,
  non-ASCII) is written as a visible escape (``\\n``, ``\\x00``, ``\\u00e9``), so the result is
  one line: a line comment ends at the end of the line, and nothing can start a new code line;
* quotes, backslashes and interpolation (``$`` in Julia) are escaped in literals;
* language-specific traps are defused: Python's ``coding:`` declaration in the first two comment
  lines, Julia's ``#=`` / ``=#`` block comment marks, Fortran's ``!$`` / ``!GCC$`` directive
  sentinels, MATLAB/Octave's ``%{`` block opener.
"""

from __future__ import annotations

import re

LANGUAGES = ("python", "julia", "fortran", "matlab")
#: Longest stem :func:`file_stem` returns: file names stay far below the 255 bytes of most
#: file systems even with a prefix and a suffix.
MAX_STEM = 64
_COMMENT = {"python": "#", "julia": "#", "fortran": "!", "matlab": "%"}
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _check(lang: str) -> str:
    if lang not in LANGUAGES:
        raise ValueError(f"unknown language {lang!r} (one of {', '.join(LANGUAGES)})")
    return lang


def _escape_char(ch: str) -> str:
    """A visible ASCII escape for one character outside printable ASCII."""
    if ch in _NAMED:
        return _NAMED[ch]
    code = ord(ch)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def one_line(text: object) -> str:
    """``text`` as one line of printable ASCII: other characters become visible escapes."""
    return "".join(ch if " " <= ch <= "~" else _escape_char(ch) for ch in str(text))


def comment_text(text: object, lang: str) -> str:
    """The body of a line comment: one line, with the language's comment traps defused."""
    _check(lang)
    body = one_line(text)
    if lang == "python":
        # PEP 263: "coding[:=]" in a comment on line 1 or 2 would change the file's encoding
        body = body.replace("coding:", "coding :").replace("coding=", "coding =")
    elif lang == "julia":
        # "#=" / "=#" open and close block comments; some parsers see them inside line comments
        body = body.replace("#=", "# =").replace("=#", "= #")
    return body


def comment(text: object, lang: str) -> str:
    """A whole line comment holding ``text`` (``# ...``, ``! ...``, ``% ...``).

    The marker is always followed by a space, so the line can never read as a Fortran
    directive (``!$omp``, ``!GCC$``), an Octave block opener (``%{``) or a Julia block comment
    (``#=``).
    """
    body = comment_text(text, lang)
    return f"{_COMMENT[lang]} {body}".rstrip()


def comment_lines(text: object, lang: str) -> list[str]:
    """One line comment per line of ``text`` (for multi-line descriptions)."""
    return [comment(line, lang) for line in str(text).split("\n")]


def _backslash_escaped(text: str, specials: str) -> str:
    r"""``text`` with ``\``, the ``specials`` and non-printable characters backslash-escaped."""
    out = []
    for ch in text:
        if ch == "\\" or ch in specials:
            out.append("\\" + ch)
        elif " " <= ch <= "~":
            out.append(ch)
        else:
            out.append(_escape_char(ch))
    return "".join(out)


def string_literal(text: object, lang: str) -> str:
    """A string literal of the language whose value is ``text`` (made one line, for Fortran and
    MATLAB which have no escapes: there other characters appear as visible escapes)."""
    _check(lang)
    text = str(text)
    if lang == "python":
        return ascii(text)
    if lang == "julia":
        return '"' + _backslash_escaped(text, '"$') + '"'
    # Fortran and MATLAB single-quoted literals: a quote is doubled, nothing else is special
    return "'" + one_line(text).replace("'", "''") + "'"


def docstring_text(text: object, lang: str) -> str:
    """``text`` escaped for use inside a triple-quoted docstring (Python, Julia): quotes,
    backslashes, ``$`` (Julia) and non-printable characters are backslash escapes."""
    if _check(lang) not in ("python", "julia"):
        raise ValueError(f"{lang} has no docstrings; use comment()")
    return _backslash_escaped(str(text), '"$' if lang == "julia" else '"')


def docstring(text: object, lang: str) -> str:
    """A triple-quoted docstring (Python, Julia) holding ``text`` on one line."""
    return '"""' + docstring_text(text, lang) + '"""'


def file_stem(text: object, default: str = "model") -> str:
    """A file name stem from model text (a circuit name): letters, digits and ``_`` only, at
    most ``MAX_STEM`` characters, never empty, so it cannot hold a path separator, ``..`` or a
    name too long for the file system."""
    stem = re.sub(r"[^0-9A-Za-z_]+", "_", str(text)).strip("_")[:MAX_STEM].rstrip("_")
    return stem or default
