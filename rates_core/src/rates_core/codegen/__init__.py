"""The backend kit: what every backend shares to write generated source.

For now the escaping helpers (:mod:`rates_core.codegen.escape`): every model-derived text
(template and circuit names, variable names, file paths, equations) reaches generated code only
through them.
"""

from rates_core.codegen.escape import (
    LANGUAGES,
    MAX_STEM,
    comment,
    comment_lines,
    comment_text,
    docstring,
    docstring_text,
    file_stem,
    one_line,
    string_literal,
)

__all__ = [
    "LANGUAGES",
    "MAX_STEM",
    "comment",
    "comment_lines",
    "comment_text",
    "docstring",
    "docstring_text",
    "file_stem",
    "one_line",
    "string_literal",
]
