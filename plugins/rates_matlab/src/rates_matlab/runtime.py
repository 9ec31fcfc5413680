"""The MATLAB / Octave runtime: which one is here, one session per process, value conversion.

``matlab.engine`` is used when it imports (a MATLAB installation with its engine for Python),
otherwise GNU Octave through ``oct2py`` when ``octave`` (or ``$OCTAVE_EXECUTABLE``) is on the
PATH. ``$RATES_MATLAB_RUNTIME`` (``matlab`` or ``octave``) picks one when both are present.
Both packages are imported only here, inside the functions that start a session, never when
the plugin is loaded.

The session is started on first use and reused by every model of the process (generated
function names carry a content hash, so models never shadow each other); it ends with the
process.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import shutil
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rates_core.errors import BackendUnavailableError, SolverError
from rates_matlab import INSTALL_HINT

if TYPE_CHECKING:  # the plugin's registration imports this module: no sympy there
    from rates_core.system import System

__all__ = [
    "MatlabFunction",
    "Session",
    "available_runtime",
    "close_session",
    "get_session",
    "to_matlab",
]

RUNTIME_ENV = "RATES_MATLAB_RUNTIME"

_LOCK = threading.Lock()
_SESSION: list[Session] = []  # the process's session (at most one)


def _has_module(name: str) -> bool:
    """Whether ``name`` can be imported, found without importing it or its parent package
    (``find_spec("a.b")`` imports ``a``; registration runs in every rates process)."""
    parent, _, child = name.rpartition(".")
    try:
        if not parent:
            return importlib.util.find_spec(name) is not None
        loaded = sys.modules.get(parent)
        spec = loaded.__spec__ if loaded is not None else None
        if spec is None and not _has_module(parent):
            return False
        spec = spec or importlib.util.find_spec(parent)
        places = spec.submodule_search_locations if spec is not None else None
        if not places:
            return False
        return importlib.machinery.PathFinder.find_spec(child, list(places)) is not None
    except (ImportError, ValueError):
        return False


def _octave_executable() -> str | None:
    given = os.environ.get("OCTAVE_EXECUTABLE")
    if given:
        return given if shutil.which(given) or Path(given).is_file() else None
    return shutil.which("octave-cli") or shutil.which("octave")


def _have_matlab() -> bool:
    return _has_module("matlab") and _has_module("matlab.engine")


def _have_octave() -> bool:
    return _octave_executable() is not None and _has_module("oct2py")


def available_runtime() -> str | None:
    """``"matlab"``, ``"octave"`` or None: the runtime a session would use (starts nothing)."""
    wanted = os.environ.get(RUNTIME_ENV, "").strip().lower()
    if wanted == "matlab":
        return "matlab" if _have_matlab() else None
    if wanted == "octave":
        return "octave" if _have_octave() else None
    if _have_matlab():
        return "matlab"
    if _have_octave():
        return "octave"
    return None


class Session:
    """One running MATLAB or Octave: call functions by name, add directories to the path."""

    kind = ""

    def __init__(self) -> None:
        self._paths: set[str] = set()
        self._exists: dict[str, bool] = {}

    def call(self, name: str, *args: Any, nout: int = 1) -> Any:
        raise NotImplementedError

    def _addpath(self, directory: str) -> None:
        raise NotImplementedError

    def close(self) -> None:
        pass

    def addpath(self, directory: str | Path) -> None:
        key = str(directory)
        if key not in self._paths:
            self._addpath(key)
            self._paths.add(key)

    def cell(self, items: list) -> Any:
        """``items`` as a MATLAB cell array (a 1 x n cell, also for n = 0 or 1)."""
        return list(items)

    def exists(self, name: str) -> bool:
        """Whether ``name`` is a function of the runtime (``exist(name) > 0``)."""
        if name not in self._exists:
            self._exists[name] = float(self.call("exist", name)) > 0
        return self._exists[name]


class OctaveSession(Session):
    kind = "octave"

    def __init__(self) -> None:
        super().__init__()
        from oct2py import Oct2Py

        executable = _octave_executable()
        try:
            self._octave = Oct2Py(executable=executable)
        except Exception as exc:  # noqa: BLE001 - oct2py raises several types
            raise BackendUnavailableError(
                f"GNU Octave could not be started ({exc}); {INSTALL_HINT}"
            ) from exc

    def call(self, name: str, *args: Any, nout: int = 1) -> Any:
        from oct2py import Oct2PyError

        try:
            return self._octave.feval(name, *args, nout=nout)
        except Oct2PyError as exc:
            raise SolverError(f"GNU Octave: {name}: {exc}") from exc

    def _addpath(self, directory: str) -> None:
        self.call("addpath", directory, nout=0)

    def cell(self, items: list) -> Any:
        # oct2py sends lists of numbers as numeric arrays and empty lists as []: an object
        # array always becomes a cell
        out = np.empty((1, len(items)), dtype=object)
        for k, item in enumerate(items):
            out[0, k] = item
        return out

    def close(self) -> None:
        try:
            self._octave.exit()
        except Exception:  # noqa: BLE001 - the process may be gone already
            pass


class MatlabEngineSession(Session):
    kind = "matlab"

    def __init__(self) -> None:
        super().__init__()
        import matlab.engine

        try:
            self._engine = matlab.engine.start_matlab()
        except Exception as exc:  # noqa: BLE001 - the engine raises several types
            raise BackendUnavailableError(
                f"MATLAB could not be started ({exc}); {INSTALL_HINT}"
            ) from exc

    def call(self, name: str, *args: Any, nout: int = 1) -> Any:
        converted = [_engine_value(a) for a in args]
        try:
            result = getattr(self._engine, name)(*converted, nargout=nout)
        except Exception as exc:  # noqa: BLE001 - MatlabExecutionError and friends
            raise SolverError(f"MATLAB: {name}: {exc}") from exc
        if nout > 1:
            return [_from_engine(r) for r in result]
        return _from_engine(result)

    def _addpath(self, directory: str) -> None:
        self.call("addpath", directory, nout=0)

    def close(self) -> None:
        try:
            self._engine.quit()
        except Exception:  # noqa: BLE001
            pass


def _engine_value(value: Any) -> Any:
    """A value as matlab.engine takes it (numeric arrays as matlab.double)."""
    import matlab

    if isinstance(value, dict):
        return {k: _engine_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_engine_value(v) for v in value]
    if isinstance(value, np.ndarray):
        arr = np.asarray(value)
        is_complex = np.iscomplexobj(arr)
        return matlab.double(
            arr.tolist() if arr.ndim > 1 else arr.reshape(-1, 1).tolist(), is_complex=is_complex
        )
    if hasattr(value, "toarray"):
        return _engine_value(value.toarray())
    return value


def _from_engine(value: Any) -> Any:
    if hasattr(value, "size") and hasattr(value, "_data"):
        return np.array(value)
    return value


def get_session() -> Session:
    """The process's MATLAB / Octave session, started on first use."""
    with _LOCK:
        if _SESSION:
            return _SESSION[0]
        kind = available_runtime()
        if kind is None:
            raise BackendUnavailableError(f"no MATLAB or GNU Octave runtime found: {INSTALL_HINT}")
        session: Session = MatlabEngineSession() if kind == "matlab" else OctaveSession()
        _SESSION.append(session)
        return session


def close_session() -> None:
    """End the process's session (a later call starts a new one)."""
    with _LOCK:
        while _SESSION:
            _SESSION.pop().close()


# --------------------------------------------------------------------------- values


def to_matlab(value: Any, role: str = "constant") -> Any:
    """A parameter or state value as the generated code expects it.

    Numbers stay numbers; vectors become float64 (or complex) columns; integer index arrays
    become float64 columns (0-based: the generated code adds 1); matrices stay matrices
    (sparse ones CSC); integers become floats (Octave's integer types would round).
    """
    if hasattr(value, "tocsc"):
        return value.tocsc().astype(np.result_type(value.dtype, np.float64))
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, np.integer)):
        return float(value)
    if isinstance(value, (float, complex)):
        return value
    arr = np.asarray(value)
    if arr.dtype.kind not in "fc":
        arr = arr.astype(np.float64)
    if arr.ndim == 0:
        return arr.item()
    if arr.ndim == 1:
        return arr.reshape(-1, 1)
    return arr


def as_vector(result: Any, n: int, dtype: Any) -> np.ndarray:
    """A MATLAB result as a 1-D array of ``n`` values."""
    arr = np.asarray(result)
    if arr.size != n:
        raise SolverError(f"the generated function returned {arr.size} values, expected {n}")
    return arr.reshape(-1).astype(np.result_type(arr.dtype, dtype), copy=False)


class MatlabFunction:
    """A generated MATLAB function called from Python (vector field or Jacobian).

    ``f(t, y, *delayed, *params)`` returns the derivative (or the dense Jacobian);
    :meth:`in_place` is ``f(t, y, dy, *delayed, *params)`` writing into ``dy``. Every call is
    one round trip to MATLAB / Octave (milliseconds): meant for ``get_run_func`` users and
    tests; ``run`` integrates inside MATLAB / Octave in one call instead.
    """

    def __init__(
        self,
        directory: Path,
        name: str,
        system: System,
        jacobian: bool = False,
        code: Any = None,
    ):
        self.directory = directory
        self.code = code  # the MatlabCode in ``directory``, verified before every call
        self.name = name
        self.n = system.n_states
        self.jacobian = jacobian
        self.dtype = np.dtype(system.dtype)
        self.roles = ["delayed"] * len(system.delayed) + [p.role for p in system.params]

    def _call(self, t: float, y: Any, args: tuple) -> Any:
        if len(args) != len(self.roles):
            raise TypeError(
                f"{self.name} takes {len(self.roles)} arguments after y, got {len(args)}"
            )
        session = get_session()
        if self.code is not None:
            from rates_matlab.emit import install_code

            install_code(self.code)  # the files MATLAB reads are the ones rates wrote
        session.addpath(self.directory)
        values = [to_matlab(a, role) for a, role in zip(args, self.roles)]
        return session.call(self.name, float(t), to_matlab(np.asarray(y).reshape(-1)), *values)

    def __call__(self, t: float, y: Any, *args: Any) -> np.ndarray:
        result = self._call(t, y, args)
        if self.jacobian:
            return np.asarray(result, dtype=np.result_type(np.asarray(result), self.dtype)).reshape(
                self.n, self.n
            )
        return as_vector(result, self.n, self.dtype)

    def in_place(self, t: float, y: Any, dy: np.ndarray, *args: Any) -> np.ndarray:
        dy[...] = as_vector(self._call(t, y, args), self.n, self.dtype)
        return dy
