"""Write a model's generated code to files for use outside Python (``rates export``).

The backend plugin generates the code through ``emit_function`` with
``EmitOptions(standalone=True)`` and lists the files in ``EmittedFunction.extras["files"]``
(``{relative name: text}``); a plugin that lists none has its ``source`` written to one file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rates_core.backend import EmitOptions
from rates_core.errors import RatesError
from rates_core.outputs import model_files, write_file, write_files
from rates_core.pipeline import prepare_system
from rates_core.plugins import default_host


def export(
    circuit: Any,
    backend: str,
    out: str | Path,
    *,
    vectorize: bool = True,
    float_precision: str = "float64",
    func_name: str = "vector_field",
    delay_approximation: int | None = None,
    overwrite: bool = False,
) -> list[Path]:
    """Generate ``circuit``'s code for ``backend`` and write it under ``out``; the paths written.

    ``out`` is a directory when the backend produces several files (created if missing) or when
    it already is one; otherwise the one file to write. Existing files are replaced only with
    ``overwrite=True``, the files the model was loaded from never, and symbolic links are never
    written through (:mod:`rates_core.outputs`); every path is checked before the first write.
    """
    system = prepare_system(
        circuit,
        backend,
        vectorize=vectorize,
        float_precision=float_precision,
        delay_approximation=delay_approximation,
        as_run=False,
    )
    options = EmitOptions(float_precision=float_precision, func_name=func_name, standalone=True)
    emitted = default_host().emit_function(backend, system, options)
    files: dict[str, str] | None = emitted.extras.get("files")
    out = Path(out)
    protect = model_files(circuit)
    if not files:
        if out.is_dir() and not out.is_symlink():
            raise RatesError(
                f"backend {backend!r} writes one file; give a file name, not the directory {out}"
            )
        return [write_file(out, emitted.source, overwrite=overwrite, protect=protect)]
    if len(files) == 1 and not out.is_dir() and out.suffix:
        ((_, text),) = files.items()
        return [write_file(out, text, overwrite=overwrite, protect=protect)]
    return write_files(out, files, overwrite=overwrite, protect=protect)
