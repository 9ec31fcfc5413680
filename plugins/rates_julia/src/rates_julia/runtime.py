"""Starting Julia: the probe behind the ``execute`` capability and the juliacall session.

:func:`julia_status` tells cheaply whether models can run here: juliacall is installed, a
``julia`` executable is there and it finds DifferentialEquations.jl (a short ``julia``
subprocess that does not load the package). It is computed once per process. Set
``RATES_JULIA=off`` to declare Julia unavailable without probing.

:func:`session` imports juliacall (which starts Julia inside this process), loads the driver
(``driver.jl`` next to this file, which loads DifferentialEquations.jl) and returns it; every
failure is a :class:`~rates_core.errors.BackendUnavailableError` with the install hint. Nothing
here runs at plugin import: only the hooks that execute code call it.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rates_core.errors import BackendUnavailableError

__all__ = [
    "DIFFEQ_UUID",
    "INSTALL_HINT",
    "JuliaStatus",
    "julia_executable",
    "julia_status",
    "require_julia",
    "session",
]

#: The UUID of DifferentialEquations.jl in Julia's General registry.
DIFFEQ_UUID = "0c46a032-eb83-5123-abaf-570d42b7fbaa"

#: How to get what running the julia backend needs.
INSTALL_HINT = (
    "The julia backend runs models through juliacall with a Julia that has "
    "DifferentialEquations.jl:\n"
    "  1. install Julia (https://julialang.org/downloads/, e.g. with juliaup) so that `julia` "
    "is on PATH;\n"
    '  2. add the package: `julia -e "using Pkg; Pkg.add(\\"DifferentialEquations\\")"` '
    "(or `] add DifferentialEquations` in the Julia REPL);\n"
    "  3. `pip install juliacall` (or `pip install rates-julia[run]`).\n"
    "Without them the julia backend still generates code: `rates export --backend julia "
    "MODEL out.jl` writes a file to use from Julia directly."
)

_PROBE = 'exit(Base.find_package("DifferentialEquations") === nothing ? 3 : 0)'
_PROBE_TIMEOUT = 120.0


@dataclass(frozen=True)
class JuliaStatus:
    """Whether models can run here, and why not."""

    available: bool
    reason: str = ""
    executable: str | None = None


def julia_executable() -> str | None:
    """The Julia juliacall would use: ``PYTHON_JULIACALL_EXE`` / ``PYTHON_JULIAPKG_EXE`` if set,
    else ``julia`` on PATH."""
    for var in ("PYTHON_JULIACALL_EXE", "PYTHON_JULIAPKG_EXE"):
        exe = os.environ.get(var)
        if exe and Path(exe).is_file():
            return exe
    return shutil.which("julia")


@functools.lru_cache(maxsize=1)
def julia_status() -> JuliaStatus:
    """Probe once per process (see the module doc)."""
    if os.environ.get("RATES_JULIA", "").strip().lower() in ("0", "off", "no", "false"):
        return JuliaStatus(False, "disabled by RATES_JULIA=off")
    if importlib.util.find_spec("juliacall") is None:
        return JuliaStatus(False, "juliacall is not installed (pip install juliacall)")
    exe = julia_executable()
    if exe is None:
        return JuliaStatus(False, "no julia executable on PATH")
    env = dict(os.environ)
    project = os.environ.get("PYTHON_JULIAPKG_PROJECT")
    if project:
        env["JULIA_PROJECT"] = project
    try:
        done = subprocess.run(
            [exe, "--startup-file=no", "-e", _PROBE],
            env=env,
            capture_output=True,
            timeout=_PROBE_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return JuliaStatus(False, f"{exe} did not start: {exc}", exe)
    if done.returncode == 3:
        return JuliaStatus(False, f"DifferentialEquations.jl is not installed for {exe}", exe)
    if done.returncode != 0:
        err = done.stderr.decode(errors="replace").strip()[-300:]
        return JuliaStatus(False, f"{exe} failed ({done.returncode}): {err}", exe)
    return JuliaStatus(True, "", exe)


def require_julia() -> None:
    """Raise :class:`BackendUnavailableError` (with the install hint) unless Julia can run."""
    status = julia_status()
    if not status.available:
        raise BackendUnavailableError(
            f"the julia backend cannot run models here: {status.reason}.\n{INSTALL_HINT}"
        )


class _Session:
    """The started Julia: juliacall's ``Main`` and the driver module, plus loaded models."""

    def __init__(self, main: Any, driver: Any) -> None:
        self.main = main
        self.driver = driver
        self.models: dict[str, Any] = {}  # generated file path -> Julia module

    def model(self, path: str | os.PathLike[str]) -> Any:
        """The Julia module of a generated file (included once per path and process)."""
        key = str(path)
        mod = self.models.get(key)
        if mod is None:
            mod = self.driver.load_model(key)
            self.models[key] = mod
        return mod


@functools.lru_cache(maxsize=1)
def session() -> _Session:
    """Start Julia in this process (once) and load the driver; see the module doc."""
    require_julia()
    try:
        from juliacall import Main  # imported only when a model runs
    except Exception as exc:  # juliacall raises many kinds of errors when Julia is unusable
        raise BackendUnavailableError(
            f"the julia backend cannot start Julia through juliacall: {exc}\n{INSTALL_HINT}"
        ) from exc
    driver_path = Path(__file__).with_name("driver.jl")
    try:
        driver = Main.include(str(driver_path))
    except Exception as exc:
        raise BackendUnavailableError(
            f"Julia started but the rates driver did not load (is DifferentialEquations.jl "
            f"installed for this Julia?): {exc}\n{INSTALL_HINT}"
        ) from exc
    return _Session(Main, driver)
