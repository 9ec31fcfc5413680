"""The backend kit: what every backend shares to write generated source.

* the escaping helpers (:mod:`rates_core.codegen.escape`): every model-derived text (template
  and circuit names, variable names, file paths, equations) reaches generated code only
  through them;
* the printer mixin (:mod:`rates_core.codegen.printer`): the rates functions as tables, and one
  error for expressions a backend cannot print;
* the source writer and the unit / noise expansion (:mod:`rates_core.codegen.source`);
* the cache-then-load sequence of generated modules (:mod:`rates_core.codegen.modules`).

``source`` and ``modules`` import :mod:`rates_core.system` / :mod:`rates_core.cache`; import
them from their modules (this package stays light for the escaping helpers).
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
from rates_core.codegen.printer import RatesPrinter

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
    "RatesPrinter",
    "string_literal",
]
