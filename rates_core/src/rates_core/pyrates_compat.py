"""PyRates 1.x call conventions that rates accepts, or refuses with the rates way.

PyRates scripts pass keyword arguments that mean nothing in rates (``clear``, ``in_place``,
``verbose``, ``decorator``, ...), name the default backend ``"default"`` or ``None``, and ask for
complex precision by name. The drivers (``run``, ``get_run_func``, ``get_jacobian_func``,
``grid_search``) hand their arguments to :func:`driver_arguments` first, so that such a script
runs unchanged (with a :class:`PyRatesWarning` saying what was ignored) or fails with an
:class:`~rates_core.errors.ArgumentError` that names what to write instead. Nothing a PyRates
keyword asks for is ever passed on as a solver option (docs/migration.rst).

Warnings go through :mod:`warnings` with the caller's line as location, so Python's default
filter shows each one once per line of the script; this module keeps no state.
"""

from __future__ import annotations

import os
import types
import warnings
from collections.abc import Mapping
from typing import Any

from rates_core.errors import ArgumentError

#: PyRates keywords that change nothing in rates, with why (shown in the warning).
IGNORED = {
    "clear": "rates leaves no generated files or caches to clear",
    "in_place": "templates are values: a run never changes the template it is called on",
    "verbose": "rates prints nothing while building (progress=True shows a progress bar)",
    "decorator": (
        "generated functions are not decorated (small models are emitted as plain-float "
        "code; use backend='fortran' or 'julia' for compiled code)"
    ),
    "adaptive": (
        "get_run_func interpolates inputs linearly in time, as PyRates's adaptive=True did "
        "(the same values as adaptive=False at the step times)"
    ),
}
#: ``adaptive`` where a solver is chosen (run, grid_search): the solver decides.
ADAPTIVE_BY_SOLVER = (
    "the solver decides: euler, heun and rk4 take fixed steps, solver='scipy' (method='RK45', "
    "'DOP853', 'LSODA', ...) adaptive ones"
)
#: ``file_name`` is a real argument of get_run_func / get_jacobian_func; elsewhere it is ignored.
FILE_NAME_IGNORED = (
    "generated code lives in rates's private cache; get_run_func(..., file_name=...) writes a copy"
)
#: PyRates's names of the default backend.
DEFAULT_BACKENDS = (None, "default")
#: PyRates precision names that rates reads as the real precision (complex is detected).
COMPLEX_PRECISIONS = {"complex128": "float64", "complex64": "float32"}


class PyRatesWarning(UserWarning):
    """A PyRates argument was accepted and ignored because it changes nothing in rates."""


def _package_dir() -> str:
    return os.path.dirname(os.path.abspath(__file__)) + os.sep


def warn(message: str) -> None:
    """Warn at the first frame outside rates_core (the user's script)."""
    import sys

    level, package = 2, _package_dir()  # 2: warn's caller
    frame: types.FrameType | None = sys._getframe(1)
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(package):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, PyRatesWarning, stacklevel=level)


def backend_name(backend: Any) -> str:
    """``None`` and ``"default"`` (PyRates's default backend) mean ``"numpy"``."""
    if backend in DEFAULT_BACKENDS:
        return "numpy"
    if not isinstance(backend, str):
        raise ArgumentError(f"backend must be a name such as 'numpy', not {backend!r}")
    return backend


def precision_name(float_precision: Any) -> str:
    """``"complex128"`` / ``"complex64"`` mean ``"float64"`` / ``"float32"``: states and
    parameters declared complex are complex anyway, in the matching precision."""
    return COMPLEX_PRECISIONS.get(float_precision, float_precision)


def driver_arguments(
    call: str,
    backend: Any,
    float_precision: Any,
    options: dict[str, Any],
    solver: str | None = None,
    file_name_is_argument: bool = False,
) -> tuple[str, str]:
    """``(backend, float_precision)`` in rates's names; removes the PyRates keywords that
    change nothing from ``options`` (warning once per keyword and calling line).

    ``call`` names the function in messages; ``solver`` is the solver of a simulation (run,
    grid_search), whose kind ``adaptive=`` must agree with.
    """
    backend = backend_name(backend)
    if _numba_decorator(options.get("decorator")):
        backend = _numba_backend(call, backend, options.pop("decorator"))
    for key in [k for k in options if k in IGNORED]:
        value = options.pop(key)
        if key == "adaptive" and solver is not None:
            _check_adaptive(call, bool(value), backend, solver)
            warn(f"{call}(adaptive=...) is ignored: {ADAPTIVE_BY_SOLVER}")
            continue
        warn(f"{call}({key}=...) is ignored: {IGNORED[key]}")
    if "file_name" in options and not file_name_is_argument:
        options.pop("file_name")
        warn(f"{call}(file_name=...) is ignored: {FILE_NAME_IGNORED}")
    return backend, precision_name(float_precision)


def _numba_decorator(decorator: Any) -> bool:
    """Whether ``decorator`` is one of numba's (PyRates's ``decorator=njit``)."""
    return str(getattr(decorator, "__module__", "") or "").split(".")[0] == "numba"


def _numba_backend(call: str, backend: str, decorator: Any) -> str:
    """PyRates's ``decorator=njit`` asked for numba-compiled NumPy code: in rates that is the
    backend ``numba`` (rates-numba), chosen with a warning; an ArgumentError naming the
    package when it is not installed. Other backends compile their own code (ignored)."""
    if backend != "numpy":
        warn(f"{call}(decorator=...) is ignored: backend {backend!r} compiles its own code")
        return backend
    from rates_core.plugins import default_host

    if "numba" not in default_host().backends():
        raise ArgumentError(
            f"{call}(decorator={getattr(decorator, '__name__', decorator)}) asks for "
            "numba-compiled code, which rates runs as backend='numba': `pip install rates-numba`"
        )
    warn(
        f"{call}(decorator=...): numba-compiled code is rates's backend 'numba' (rates-numba); "
        "running with backend='numba' (pass backend='numba' to say so)"
    )
    return "numba"


def _check_adaptive(call: str, adaptive: bool, backend: str, solver: str) -> None:
    from rates_core.plugins import default_host

    if default_host().resolve_solver(backend, solver).adaptive != adaptive:
        kind = "an adaptive" if adaptive else "a fixed-step"
        raise ArgumentError(
            f"{call}(adaptive={adaptive}) asks for {kind} solver but solver={solver!r} is "
            f"not one; {ADAPTIVE_BY_SOLVER}"
        )


def refuse_unknown(call: str, options: Mapping[str, Any], hint: str = "") -> None:
    """An :class:`ArgumentError` for keyword arguments ``call`` does not take."""
    if options:
        names = ", ".join(repr(k) for k in options)
        raise ArgumentError(f"{call}() got unexpected keyword argument(s) {names}{hint}")


def is_auto_constant(key: str) -> bool:
    """Auto-07p constants are upper-case names (``NMX``, ``DSMAX``, ``ICP``, ``UZR``, ...)."""
    return key.isidentifier() and key.isupper()


def auto_constants(call: str, auto: bool, options: dict[str, Any]) -> tuple[tuple[str, Any], ...]:
    """Remove Auto-07p constants (``NMX=...``, as PyRates 0.17 took them) from ``options``;
    they are valid only with ``auto=True``."""
    found = {k: options.pop(k) for k in [k for k in options if is_auto_constant(k)]}
    if found and not auto:
        raise ArgumentError(
            f"{call}(): {', '.join(found)} are Auto-07p constants, which apply with auto=True "
            "(Auto-07p files from a backend with the 'continuation' capability, e.g. "
            "backend='fortran')"
        )
    return tuple(found.items())


def grid_search_circuit(circuit: Any, options: dict[str, Any]) -> Any:
    """``grid_search(circuit_template=...)`` (PyRates's name) is the ``circuit`` argument."""
    if "circuit_template" not in options:
        return circuit
    given = options.pop("circuit_template")
    if circuit is not None:
        raise ArgumentError("grid_search(): give either circuit or circuit_template, not both")
    return given


def require(call: str, **arguments: Any) -> None:
    """An :class:`ArgumentError` naming the required arguments that are missing (None)."""
    missing = [name for name, value in arguments.items() if value is None]
    if missing:
        raise ArgumentError(f"{call}() needs the argument(s) {', '.join(missing)}")


def variable_positions(
    circuit: Any,
    outputs: str | Mapping[str, str],
    backend: Any = "numpy",
    vectorize: bool = True,
    delay_approximation: int | None = None,
    float_precision: str = "float64",
) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(positions, names)`` of variables in the state vector ``y`` that
    :func:`~rates_core.simulate.get_run_func` hands out with the same options (PyRates's
    ``get_variable_positions``).

    ``outputs`` is a path (``"all/qif_op/r"``: one entry per matching node, keyed by its full
    path) or a mapping key -> path (one entry per key: the position when one node matches,
    else ``range(start, stop)`` when the matches sit next to each other, as the units of a
    vectorised population do, else a dict full path -> position). A position is an index of
    ``y``, or a ``slice`` for a vector variable of one node. ``names`` gives the System's
    name of the state each entry lives in.
    """
    from rates_core.errors import ModelError
    from rates_core.pipeline import prepare_system
    from rates_core.simulate import state_indices

    system = prepare_system(
        circuit,
        backend_name(backend),
        vectorize=vectorize,
        float_precision=precision_name(float_precision),
        delay_approximation=delay_approximation,
    )
    indices = state_indices(system)

    def found(path: str) -> dict[str, Any]:
        matches = {}
        for node, op, var in circuit.resolve_path(path):
            full = f"{node}/{op}/{var}"
            if full not in indices:
                raise ModelError(f"{full!r} is not a state variable", variable=path)
            matches[full] = indices[full]
        return matches

    positions: dict[str, Any] = {}
    names: dict[str, Any] = {}
    if isinstance(outputs, str):
        for full, where in found(outputs).items():
            positions[full], names[full] = where, system.label_map[full][0]
        return positions, names
    for key, path in outputs.items():
        matches = found(path)
        names[key] = sorted({system.label_map[full][0] for full in matches})
        names[key] = names[key][0] if len(names[key]) == 1 else names[key]
        where = list(matches.values())
        if len(where) == 1:
            positions[key] = where[0]
        elif all(isinstance(w, int) for w in where) and where == list(
            range(where[0], where[0] + len(where))
        ):
            positions[key] = range(where[0], where[0] + len(where))
        else:
            positions[key] = matches
    return positions, names
