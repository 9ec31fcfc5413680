"""Variable declarations of operator templates (docs/model_format.rst, "Operators").

A declaration is turned into a :class:`Variable` value once, when a template is built, so that
every later stage reads one normalised form instead of re-parsing strings.
"""

from __future__ import annotations

import ast
import math
import re
import reprlib
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from rates_core.errors import ModelError

MAX_ELEMENTS = 10**7
"""The most elements one variable may have (a declared shape such as ``output(0.0, 300000000)``
would otherwise allocate gigabytes); also the most units of a population and rows or columns
of a connectivity matrix."""
KINDS = ("constant", "input", "output", "state")
DTYPES = ("float", "complex", "int")
_CALL = re.compile(r"^\s*(input|output|variable)\s*(?:\((.*)\))?\s*$", re.DOTALL)
_LONG_VTYPES = {
    "constant": "constant",
    "input": "input",
    "output": "output",
    "state": "state",
    "state_var": "state",
    "variable": "state",
}


@dataclass(frozen=True)
class Variable:
    """One declared variable: its kind, element type, shape and (initial or constant) value.

    ``value`` is a Python scalar for scalar variables and a nested tuple for vectors, so the
    declaration stays hashable and immutable.
    """

    kind: str
    dtype: str = "float"
    shape: tuple[int, ...] = ()
    value: Any = 0.0

    def with_value(self, value: Any) -> Variable:
        """Return this declaration with a new value; the shape must stay the same."""
        arr = np.asarray(value)
        dtype = self.dtype
        if np.iscomplexobj(arr) and dtype != "complex":
            dtype = "complex"
        if arr.shape != self.shape:
            raise ValueError(f"shape {arr.shape} does not match the declared shape {self.shape}")
        check_finite(arr)
        return replace(self, dtype=dtype, value=_freeze(arr, dtype))

    @property
    def array(self) -> np.ndarray:
        """The value as a NumPy array of the declared type (float64 / complex128 / int64)."""
        return np.asarray(self.value, dtype=_NUMPY_DTYPES[self.dtype]).reshape(self.shape)

    def to_declaration(self) -> Any:
        """The long-form declaration that :func:`parse_declaration` reads back unchanged."""
        value = self.value
        if isinstance(value, complex) or self.dtype == "complex":
            value = _complex_text(value)
        vtype = "variable" if self.kind == "state" else self.kind
        return {"vtype": vtype, "dtype": self.dtype, "shape": list(self.shape), "value": value}


_NUMPY_DTYPES = {"float": np.float64, "complex": np.complex128, "int": np.int64}


def _complex_text(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_complex_text(v) for v in value]
    return repr(complex(value))


def _freeze(arr: np.ndarray, dtype: str) -> Any:
    """A hashable Python value (scalar or nested tuple) of the given element type."""
    cast = {"float": float, "complex": complex, "int": int}[dtype]
    if arr.ndim == 0:
        return cast(arr.item())

    def walk(a: Any) -> Any:
        return tuple(walk(x) for x in a) if isinstance(a, list) else cast(a)

    return walk(arr.tolist())


def _literal(text: str) -> Any:
    """A number (or list of numbers) written as text, read without evaluating code."""
    try:
        value = ast.literal_eval(text.strip())
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError) as exc:
        raise ValueError(f"{text!r} is not a number") from exc
    _check_numeric(value, text)
    return value


def _check_numeric(value: Any, text: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float, complex, list, tuple)):
        raise ValueError(f"{text!r} is not a number")
    if isinstance(value, (list, tuple)):
        for v in value:
            _check_numeric(v, text)


def _dtype_of(value: Any, declared: str | None = None) -> str:
    if declared is not None:
        return declared
    return "complex" if np.iscomplexobj(np.asarray(value)) else "float"


def check_finite(arr: np.ndarray) -> None:
    """ValueError unless every element is a finite number: ``1e999`` reads as inf, and inf or
    nan as an initial value or a parameter only makes a simulation produce nan."""
    if arr.dtype.kind in "fc" and not np.isfinite(arr).all():
        raise ValueError("values must be finite numbers (not inf or nan, e.g. from 1e999)")


def _dimension(size: Any, shape: Any) -> int:
    if isinstance(size, str):
        size = _literal(size)
    if isinstance(size, bool) or not isinstance(size, (int, float, np.integer, np.floating)):
        raise ValueError(f"shape {shape!r} is not a list of sizes")
    if not 0 <= size <= MAX_ELEMENTS or int(size) != size:  # also inf and nan
        raise ValueError(f"shape {shape!r}: sizes are whole numbers from 0 to {MAX_ELEMENTS}")
    return int(size)


def _shape(shape: Any) -> tuple[int, ...]:
    """A declared shape (a size or a list of sizes) of at most :data:`MAX_ELEMENTS` elements."""
    sizes = [shape] if np.ndim(shape) == 0 else list(shape)
    dims = tuple(_dimension(size, shape) for size in sizes)
    if math.prod(dims) > MAX_ELEMENTS:
        raise ValueError(f"shape {dims} has more than {MAX_ELEMENTS} elements")
    return dims


def _make(kind: str, value: Any, dtype: str | None, shape: Any) -> Variable:
    if isinstance(value, str):
        value = _literal(value)
    arr = np.asarray(value)
    if arr.dtype.kind not in "biufc":
        raise ValueError(f"value {_short(value)} is not numeric")
    if arr.size > MAX_ELEMENTS:
        raise ValueError(f"a value of more than {MAX_ELEMENTS} elements")
    check_finite(arr)
    dt = _dtype_of(arr, dtype)
    if shape is not None:
        shape = _shape(shape)
        if arr.shape != shape:
            if arr.ndim != 0:
                raise ValueError(f"value of shape {arr.shape} does not fit shape {shape}")
            arr = np.full(shape, arr.item())
    return Variable(kind=kind, dtype=dt, shape=arr.shape, value=_freeze(arr, dt))


def _parse_call(kind_word: str, args_text: str | None) -> Variable:
    kind = "state" if kind_word == "variable" else kind_word
    if args_text is None or not args_text.strip():
        return _make(kind, 0.0, None, None)
    try:
        tree = ast.parse(f"f({args_text})", mode="eval").body
    except SyntaxError as exc:
        raise ValueError(f"cannot read {kind_word}({args_text})") from exc
    assert isinstance(tree, ast.Call)
    parts = [ast.get_source_segment(f"f({args_text})", a) or "" for a in tree.args]
    if tree.keywords or not parts or len(parts) > 2:
        raise ValueError(f"{kind_word}(...) takes a value and an optional shape")
    first = parts[0].strip()
    if first in ("complex", "float", "int"):
        value, dtype = 0, first
    else:
        value, dtype = _literal(first), None
    shape = _literal(parts[1]) if len(parts) == 2 else None
    return _make(kind, value, dtype, shape)


def parse_declaration(
    decl: Any, *, file: str | None = None, template: str | None = None, variable: str | None = None
) -> Variable:
    """Turn one declaration of docs/model_format.rst into a :class:`Variable`.

    Accepts numbers, numeric strings, lists, ``input``/``output``/``variable`` calls, the long form
    ``{vtype, dtype, shape, value}`` and the legacy ``{default: ...}`` form.
    """
    try:
        if isinstance(decl, Variable):
            return decl
        if isinstance(decl, dict):
            return _parse_long(decl, file=file, template=template, variable=variable)
        if isinstance(decl, str):
            match = _CALL.match(decl)
            if match:
                return _parse_call(match.group(1), match.group(2))
            return _make("constant", _literal(decl), None, None)
        if isinstance(decl, bool) or decl is None:
            raise ValueError(f"{decl!r} is not a declaration")
        return _make("constant", decl, None, None)
    except ModelError:
        raise
    except (ValueError, TypeError) as exc:
        raise ModelError(
            f"invalid declaration {_short(decl)}: {exc}",
            file=file,
            template=template,
            variable=variable,
        ) from None


def _parse_long(decl: dict, **where: Any) -> Variable:
    if "default" in decl and "value" not in decl and "vtype" not in decl:
        base = parse_declaration(decl["default"], **where)
        if "dtype" in decl or "shape" in decl:
            return _make(base.kind, base.array, decl.get("dtype", base.dtype), decl.get("shape"))
        return base
    vtype = decl.get("vtype", "constant")
    if vtype not in _LONG_VTYPES:
        raise ValueError(f"unknown vtype {vtype!r} (use one of {sorted(_LONG_VTYPES)})")
    dtype = decl.get("dtype")
    if dtype is not None:
        dtype = _normalise_dtype(str(dtype))
    value = decl.get("value", 0.0)
    if isinstance(value, list):
        value = [_literal(v) if isinstance(v, str) else v for v in value]
    return _make(_LONG_VTYPES[vtype], value, dtype, decl.get("shape"))


def _short(value: Any) -> str:
    """``repr`` of a value cut to a line, for error messages about huge declarations."""
    return _REPR.repr(value)


_REPR = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = 120
_REPR.maxlist = _REPR.maxtuple = _REPR.maxdict = 8


def _normalise_dtype(name: str) -> str:
    if name.startswith("complex"):
        return "complex"
    if name.startswith("float") or name == "double":
        return "float"
    if name.startswith("int"):
        return "int"
    raise ValueError(f"unknown dtype {name!r} (use float, complex or int)")
