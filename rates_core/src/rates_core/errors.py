"""Exceptions a user can cause, each naming where the problem is.

Every error that bad input can trigger is one of these, so callers can catch
``RatesError`` and users never see a traceback from deep inside sympy or networkx.
"""

from __future__ import annotations


class RatesError(Exception):
    """Base class of every error rates raises on purpose."""


class ModelError(RatesError, ValueError):
    """A template is wrong: bad YAML, unknown base, missing reference, bad declaration.

    The message names the file, the template and the variable where they are known.
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        template: str | None = None,
        variable: str | None = None,
    ) -> None:
        self.file = file
        self.template = template
        self.variable = variable
        where = []
        if file:
            where.append(f"file {file!r}")
        if template:
            where.append(f"template {template!r}")
        if variable:
            where.append(f"variable {variable!r}")
        super().__init__(f"{message} ({', '.join(where)})" if where else message)


class EquationError(ModelError):
    """An equation does not parse, or uses something the grammar does not allow.

    ``equation`` is the equation text and ``position`` the 0-based column of the fault.
    """

    def __init__(
        self,
        message: str,
        *,
        equation: str,
        position: int | None = None,
        file: str | None = None,
        template: str | None = None,
        variable: str | None = None,
    ) -> None:
        self.equation = equation
        self.position = position
        text = f"{message} in equation {equation!r}"
        if position is not None:
            text += f" at column {position}\n    {equation}\n    {' ' * position}^"
        super().__init__(text, file=file, template=template, variable=variable)


class UnsupportedExpressionError(RatesError, NotImplementedError):
    """A backend cannot print an expression (a function it has no code for).

    The message names the function and the backend. It is a ``NotImplementedError`` too, so
    optional code (a Jacobian, a vector form) that falls back when printing fails keeps doing so.
    """

    def __init__(self, message: str, *, function: str, backend: str) -> None:
        self.function = function
        self.backend = backend
        super().__init__(message)


class UnknownBackendError(RatesError, LookupError):
    """No installed plugin provides the requested backend or solver."""


class PluginConflictError(RatesError):
    """Two installed distributions claim the same backend or solver name."""


class BackendUnavailableError(RatesError):
    """A backend is installed but its toolchain (compiler, runtime) is missing here."""


class SolverError(RatesError):
    """A solver was misused (unknown option, bad step size) or failed to integrate."""


class ArgumentError(RatesError, TypeError):
    """A function was called with an argument it does not take (a PyRates keyword without a
    rates meaning, a misspelling); the message names the rates way where there is one."""


class MissingDependencyError(RatesError, ImportError):
    """An optional Python package a requested feature needs is not installed (with the hint)."""


class StoreError(RatesError):
    """A sweep store cannot be used: it belongs to another sweep, another sweep is writing to
    it, or the directory is not a sweep store. The message names the store's path."""


class CacheError(RatesError):
    """The compile cache cannot be used safely: not a private directory of this user, read-only,
    full, or a path that is not a directory. ``path`` names the directory or file."""

    def __init__(self, message: str, path: object = None) -> None:
        self.path = path
        super().__init__(message)


class OutputFileError(RatesError):
    """An output file or folder cannot be written as asked: it is a model file, a symbolic
    link, a folder where a file is wanted (or the reverse), or the system refused. ``path``
    names it."""

    def __init__(self, message: str, *, path: str) -> None:
        self.path = path
        super().__init__(message)


class OutputExistsError(OutputFileError):
    """An output file exists and replacing it was not asked for (``--force`` on the command
    line, ``overwrite=True`` in Python)."""


class RatesWarning(UserWarning):
    """Base class of the warnings rates gives on purpose."""


class DiscardedEditWarning(RatesWarning):
    """A template edit (``update_var``, ``add_edges_from_matrix``, ...) returned an edited copy
    that the calling line threw away, and the unedited template is being simulated."""


class SolverFallbackWarning(RatesWarning):
    """A backend lacks the solver method asked for and another backend's loop drives its vector
    field from Python, once per step (slow)."""


class InitialStateWarning(RatesWarning):
    """``get_run_func`` / ``get_jacobian_func`` after ``run()`` start from the model's initial
    values, not from the state the run ended in (where PyRates started)."""


def warn_user(message: str, category: type[Warning]) -> None:
    """``warnings.warn`` pointing at the first caller outside rates_core (the user's line)."""
    import sys
    import warnings
    from pathlib import Path
    from types import FrameType

    package = str(Path(__file__).resolve().parent)
    level = 2  # stacklevel 2 is the caller of warn_user
    frame: FrameType | None = sys._getframe(1)
    while frame is not None and str(Path(frame.f_code.co_filename).resolve()).startswith(package):
        level, frame = level + 1, frame.f_back
    warnings.warn(message, category, stacklevel=level)
