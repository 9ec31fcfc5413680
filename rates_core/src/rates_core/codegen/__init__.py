"""The backend kit: what every backend shares to write generated source.

* the escaping helpers (:mod:`rates_core.codegen.escape`): every model-derived text (template
  and circuit names, variable names, file paths, equations) reaches generated code only
  through them;
* the printer mixin (:mod:`rates_core.codegen.printer`): the rates functions as tables, the
  subscripts of ``index`` / ``index_range`` / ``index_axis``, one error for expressions a
  backend cannot print, and ``float_literal``;
* the source writer, the file header, the unit / noise expansion, the symbolic Jacobian entries
  and the reads of recorded rates (:mod:`rates_core.codegen.source`);
* the cache-then-load sequence of generated modules and the ``EmittedFunction`` of a loaded
  Python module or of code generated for export only (:mod:`rates_core.codegen.modules`);
* the Butcher tableaux of euler / heun / rk4 / dopri5 (:mod:`rates_core.codegen.tableaux`).

The declarations and hooks of :mod:`rates_core.plugins` (``solver_family``, ``backend_hooks``,
``EmitContext``), the ``Problem`` helpers (:meth:`rates_core.backend.Problem.check`,
:func:`rates_core.backend.input_rows`, :meth:`rates_core.backend.Problem.sample_grid`) and the
delayed-read planning (:mod:`rates_core.delay_reads`) complete the kit.

This package imports only the escaping helpers and the printer mixin; ``source``, ``modules``
and ``tableaux`` are imported from their modules (they need :mod:`rates_core.system` and
:mod:`rates_core.cache`).
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
from rates_core.codegen.printer import RatesPrinter, float_literal

__all__ = [
    "LANGUAGES",
    "MAX_STEM",
    "comment",
    "comment_lines",
    "comment_text",
    "docstring",
    "docstring_text",
    "file_stem",
    "float_literal",
    "one_line",
    "RatesPrinter",
    "string_literal",
]
