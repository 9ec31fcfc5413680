"""A test stand-in for MathWorks' ``matlab`` package (the MATLAB Engine API for Python).

Only what rates-matlab touches: :class:`double` and ``matlab.engine.start_matlab``, whose
engine runs GNU Octave through oct2py and converts values by the engine's documented rules
(see ``matlab/engine/__init__.py``). ``STANDIN`` tells tests they are not talking to MATLAB.
"""

from __future__ import annotations

import numpy as np

STANDIN = True


class double:  # noqa: N801 - the engine's class name
    """``matlab.double``: a 2-D double array built from nested sequences (a flat sequence is
    one row), with the engine's ``size`` tuple; numpy reads it through ``__array__``."""

    def __init__(self, initializer=None, size=None, is_complex: bool = False):
        dtype = np.complex128 if is_complex else np.float64
        data = np.asarray([] if initializer is None else initializer, dtype=dtype)
        if data.ndim == 1:
            data = data.reshape(1, -1)
        if data.ndim != 2:
            raise ValueError("the stand-in matlab.double holds 2-D arrays only")
        if size is not None:
            data = data.reshape(size)
        self._array = data
        self._data = data.reshape(-1, order="F")  # the engine stores column-major
        self.size = data.shape

    def __array__(self, dtype=None, copy=None):
        return self._array if dtype is None else self._array.astype(dtype)

    def __len__(self) -> int:
        return self.size[0]

    def __repr__(self) -> str:
        return f"matlab.double({self._array.tolist()!r})"
