"""Find the YAML file of a dotted reference ``package.sub.file.Template`` without importing.

Importing ``package.sub`` (as ``importlib.util.find_spec`` does for dotted names) runs the
``__init__.py`` of every parent package, and a reference comes from a model file, that is from
someone else (docs/security.rst). So only the top-level package is located,
the way the import system finds it (an already imported package's ``__path__``, the path
finder on ``sys.path``, then other import hooks such as setuptools' editable finders, which
locate and never execute); below it the reference is a path of sub-folders walked by name, and
only ``file.yaml`` / ``file.yml`` is ever opened.
"""

from __future__ import annotations

import importlib.machinery
import sys
import types
from pathlib import Path

YAML_SUFFIXES = (".yaml", ".yml")
_STANDARD_FINDERS = (
    importlib.machinery.BuiltinImporter,
    importlib.machinery.FrozenImporter,
    importlib.machinery.PathFinder,
)


def is_dotted_name(reference: str) -> bool:
    """Whether every part of ``a.b.c`` is a plain ASCII identifier (no ``..``, ``/`` or ``:``)."""
    parts = reference.split(".")
    return all(part.isidentifier() and part.isascii() for part in parts)


def package_dirs(top: str) -> list[Path]:
    """The folders of the top-level package ``top``, found without running any of its code."""
    if not (top.isidentifier() and top.isascii()) or top in sys.stdlib_module_names:
        return []  # the standard library holds no model files
    module = sys.modules.get(top)
    if isinstance(module, types.ModuleType):  # imported: its __path__, not a module __getattr__
        return [Path(p) for p in (module.__dict__.get("__path__") or ())]
    spec = importlib.machinery.PathFinder.find_spec(top, sys.path)
    if spec is None:
        spec = _spec_from_import_hooks(top)
    if spec is None or not spec.submodule_search_locations:
        return []
    return [Path(p) for p in spec.submodule_search_locations]


def _spec_from_import_hooks(top: str):
    """Ask the other finders on ``sys.meta_path`` (e.g. editable installs) about ``top``."""
    for finder in sys.meta_path:
        if finder in _STANDARD_FINDERS or isinstance(finder, _STANDARD_FINDERS):
            continue
        find_spec = getattr(finder, "find_spec", None)
        if find_spec is None:
            continue
        try:
            spec = find_spec(top, None)
        except Exception:  # a broken import hook: treat as "not found here"
            continue
        if spec is not None:
            return spec
    return None


def find_package_yaml(reference: str) -> tuple[Path, str] | None:
    """``package[.sub...].file.Template`` -> (path of ``file.yaml``, ``"Template"``), or None.

    None when the reference is not a dotted name of at least three identifiers or no such
    file exists in the package's folders.
    """
    parts = reference.split(".")
    if len(parts) < 3 or not is_dotted_name(reference):
        return None
    top, subs, filename, name = parts[0], parts[1:-2], parts[-2], parts[-1]
    for root in package_dirs(top):
        folder = root.joinpath(*subs)
        if not folder.is_dir():
            continue
        for suffix in YAML_SUFFIXES:
            candidate = folder / f"{filename}{suffix}"
            if candidate.is_file():
                return candidate, name
    return None
