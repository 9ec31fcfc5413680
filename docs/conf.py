"""Sphinx configuration of the rates documentation (sphinx-gallery for the examples).

Build: ``python -m sphinx -W --keep-going -b html docs docs/_build/html`` (the ``docs`` nox
session). The gallery scripts in ``examples/gallery`` are executed during the build; tables of
backends, solvers and functions are generated from the installed rates (``_ext/rates_docs.py``).
"""

from __future__ import annotations

import importlib.util
import os
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent / "_ext"))
os.environ.setdefault("MPLBACKEND", "Agg")

project = "rates"
author = "the rates developers"
copyright = "the rates developers"  # noqa: A001 - the name Sphinx reads
try:
    from rates_core import __version__ as release
except ImportError:  # pragma: no cover - the build needs rates-core installed
    release = "unknown"
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "sphinx_gallery.gen_gallery",
    "rates_docs",
]
exclude_patterns = ["_build", "**.ipynb_checkpoints", "sg_execution_times.rst"]
html_theme = "alabaster"
html_theme_options = {"description": "neural-mass and oscillator models from equations"}
html_static_path: list[str] = []
autodoc_member_order = "bysource"
autodoc_typehints = "description"
nitpicky = False
suppress_warnings = ["config.cache"]  # sphinx-gallery's callables in the configuration

# Examples that need a plugin that is not installed are left out of the gallery (the docs nox
# session installs every one of them, so the published site has them all).
_NEEDS = {"plot_torch_fit.py": "rates_torch", "plot_qif_continuation.py": "rates_fortran"}
_missing = [name for name, module in _NEEDS.items() if importlib.util.find_spec(module) is None]


def _have_auto() -> bool:
    """gfortran and Auto-07p, which the continuation example needs besides rates-fortran."""
    import shutil

    try:
        from rates_fortran.auto import auto_dir

        auto_dir()
    except Exception:  # noqa: BLE001 - any failure means: leave the example out
        return False
    return shutil.which("gfortran") is not None


if "plot_qif_continuation.py" not in _missing and not _have_auto():
    _missing.append("plot_qif_continuation.py")
for name in _missing:
    print(f"rates docs: {name} left out of the gallery (needs {_NEEDS[name]} and its toolchain)")

sphinx_gallery_conf = {
    "examples_dirs": ["../examples/gallery"],
    "gallery_dirs": ["auto_examples"],
    "filename_pattern": r"/plot_",
    "ignore_pattern": "|".join([r"__init__\.py", *(re.escape(n) + "$" for n in _missing)]),
    "abort_on_example_error": True,
    "only_warn_on_example_error": False,
    "remove_config_comments": True,
    "download_all_examples": False,
    "show_memory": False,
    "plot_gallery": "True",
    "within_subsection_order": "FileNameSortKey",
    "reset_modules": ("matplotlib",),
}
