"""Helpers of the rates-matlab tests: skip markers for tests that need a runtime or miss_hit."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from rates_matlab.runtime import available_runtime

#: Skip marker of tests that execute generated code.
needs_runtime = pytest.mark.skipif(
    available_runtime() is None, reason="no MATLAB or GNU Octave (with oct2py) installed"
)
#: miss_hit's linter: on the PATH or next to this Python (a virtual environment not activated)
MH_LINT = shutil.which("mh_lint") or shutil.which("mh_lint", path=str(Path(sys.executable).parent))
#: Skip marker of tests that run miss_hit's linter.
needs_mh_lint = pytest.mark.skipif(MH_LINT is None, reason="miss_hit (mh_lint) not installed")
