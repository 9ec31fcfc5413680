"""The cache-then-load sequence for generated modules.

Every backend stores its generated source in the private, verified cache of
:mod:`rates_core.cache`, writes the copy the user asked for (``EmitOptions.file_name``) and, for
Python modules, loads the verified cached file under a name unique to its content
(:func:`load_python_module`) and wraps its functions as the ``EmittedFunction``
(:func:`python_function`). Code generated for export only (``EmitOptions.standalone``) is
neither compiled nor loaded (:func:`export_only`).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

from rates_core.backend import EmitOptions, EmittedFunction
from rates_core.cache import load_module, source_hash, write_requested_copy, write_source
from rates_core.system import System

__all__ = ["cache_source", "export_only", "load_python_module", "python_function"]


def cache_source(
    source: str, backend: str, version: str, options: Any, suffix: str = ".py"
) -> Path:
    """Store ``source`` in the cache (and at ``options.file_name`` when set); its cache path."""
    path = write_source(source, backend, version, suffix=suffix)
    write_requested_copy(source, options, suffix)
    return path


def load_python_module(
    source: str,
    backend: str,
    version: str,
    options: Any,
    injected: Mapping[str, Any] | None = None,
) -> tuple[ModuleType, Path]:
    """Cache ``source``, load it as ``rates_<backend>_generated_<hash>`` and place the
    ``injected`` callables (plugin builtins given as Python objects) into it."""
    path = cache_source(source, backend, version, options)
    module = load_module(path, f"rates_{backend}_generated_{source_hash(source, backend, version)}")
    for name, impl in (injected or {}).items():
        setattr(module, name, impl)
    return module, path


def python_function(
    system: System,
    source: str,
    backend: str,
    version: str,
    options: EmitOptions,
    injected: Mapping[str, Any] | None = None,
) -> EmittedFunction:
    """The :class:`~rates_core.backend.EmittedFunction` of the generated Python module
    ``source`` (cached and loaded by :func:`load_python_module`).

    The module defines ``<f>(t, y, dy, *args)`` (in place) and ``<f>_functional(t, y, *args)``,
    ``<f>`` being ``options.func_name``, and ``record_`` when ``system`` records rates.
    ``extras`` holds the ``module``, the ``options``, the names of the delayed reads
    (``delayed``) and ``record`` (the module's ``record_``, when there is one); the backend adds
    its own extras and its ``jacobian``.
    """
    module, path = load_python_module(source, backend, version, options, injected)
    func_name = options.func_name
    extras: dict[str, Any] = {
        "module": module,
        "options": options,
        "delayed": [d.name for d in system.delayed],
    }
    if system.recorded:
        extras["record"] = module.record_
    return EmittedFunction(
        backend=backend,
        system=system,
        source=source,
        rhs=getattr(module, func_name),
        rhs_functional=getattr(module, f"{func_name}_functional"),
        path=path,
        extras=extras,
    )


def export_only(
    system: System, source: str, backend: str, files: Mapping[str, str], **extras: Any
) -> EmittedFunction:
    """The :class:`~rates_core.backend.EmittedFunction` of code generated for export
    (``EmitOptions.standalone``, ``rates export``): ``extras["files"]`` are the ``files`` to
    write (name -> text), and nothing was compiled or loaded, so calling ``rhs`` or
    ``rhs_functional`` raises a :class:`~rates_core.errors.BackendUnavailableError`."""

    def not_loaded(*args: Any) -> Any:
        from rates_core.errors import BackendUnavailableError

        raise BackendUnavailableError(
            f"the {backend} code of model {system.name!r} was generated for export "
            "(EmitOptions.standalone) and is not loaded: run the exported files, or emit "
            "without standalone"
        )

    return EmittedFunction(
        backend=backend,
        system=system,
        source=source,
        rhs=not_loaded,
        rhs_functional=not_loaded,
        extras={"files": dict(files), **extras},
    )
