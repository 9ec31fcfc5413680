"""A test stand-in for ``matlab.engine``: an engine that runs GNU Octave (oct2py).

Values cross by the documented rules of the MATLAB Engine API for Python, so code that works
here makes the same assumptions it would make with MATLAB:

* Python to MATLAB: float -> double, complex -> complex double, **int -> int64**, bool ->
  logical, str -> char, dict -> struct, list / tuple -> **cell array**, ``matlab.double`` ->
  double array; anything else (a numpy array, a scipy matrix) is a TypeError.
* MATLAB to Python: a 1 x 1 double -> float, arrays -> ``matlab.double``, struct -> dict,
  cell -> list, char -> str; ``nargout=0`` returns None and ``nargout > 1`` a tuple.

The engine puts ``../octave`` on Octave's path: a test stand-in for MATLAB's ``dde23``,
``ddeset`` and ``deval``, which GNU Octave lacks.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

import matlab

STANDIN_FUNCTIONS = Path(__file__).resolve().parents[2] / "octave"


class MatlabExecutionError(Exception):
    """An error raised by the code run in the engine."""


def start_matlab(option: str = "-nodesktop") -> Engine:
    return Engine()


class Engine:
    def __init__(self) -> None:
        from oct2py import Oct2Py

        self._octave = Oct2Py()
        self._octave.feval("addpath", str(STANDIN_FUNCTIONS), nout=0)

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)

        def call(*args: Any, nargout: int = 1) -> Any:
            from oct2py import Oct2PyError

            converted = [_to_octave(a) for a in args]
            try:
                result = self._octave.feval(name, *converted, nout=nargout)
            except Oct2PyError as exc:
                raise MatlabExecutionError(str(exc)) from exc
            if nargout == 0:
                return None
            if nargout > 1:
                return tuple(_from_octave(r) for r in result)
            return _from_octave(result)

        return call

    def quit(self) -> None:
        self._octave.exit()


def _to_octave(value: Any) -> Any:
    if isinstance(value, matlab.double):
        return np.array(value)
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return np.int64(value)
    if isinstance(value, (float, complex, str)):
        return value
    if isinstance(value, dict):
        return {str(k): _to_octave(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        cell = np.empty((1, len(value)), dtype=object)
        for k, item in enumerate(value):
            cell[0, k] = _to_octave(item)
        return cell
    raise TypeError(
        f"unsupported Python data type: {type(value).__module__}.{type(value).__name__}"
    )


def _from_octave(value: Any) -> Any:
    from oct2py import Cell, Struct

    if isinstance(value, Cell):
        return [_from_octave(v) for v in np.asarray(value).reshape(-1, order="F")]
    if isinstance(value, (Struct, dict)):
        return {k: _from_octave(v) for k, v in value.items()}
    if isinstance(value, str):
        return value
    if isinstance(value, np.ndarray):
        if value.dtype.kind == "b":
            return bool(value.item()) if value.size == 1 else value
        if value.size == 1:
            return _from_octave(value.item())
        arr = np.atleast_2d(value)
        return matlab.double(arr.tolist(), is_complex=np.iscomplexobj(arr))
    if isinstance(value, (np.floating, np.integer)):
        return float(value) if isinstance(value, np.floating) else int(value)
    if isinstance(value, np.complexfloating):
        return complex(value)
    return value
