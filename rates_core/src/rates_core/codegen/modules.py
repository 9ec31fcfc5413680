"""The cache-then-load sequence for generated modules.

Every backend stores its generated source in the private, verified cache of
:mod:`rates_core.cache`, writes the copy the user asked for (``EmitOptions.file_name``) and, for
Python modules, loads the verified cached file under a name unique to its content.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

from rates_core.cache import load_module, source_hash, write_requested_copy, write_source

__all__ = ["cache_source", "load_python_module"]


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
