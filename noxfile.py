"""Test sessions: `python -m nox` runs them all (lint, core, and one per plugin).

Each session gets its own virtual environment with only the distributions it tests, so a
plugin's tests prove that `pip install rates-core rates-<plugin>` is enough.
"""

from __future__ import annotations

import nox

nox.options.sessions = ["lint", "core", "numpy"]
nox.options.reuse_existing_virtualenvs = False

PYTEST = ["python", "-m", "pytest", "-q", "-p", "no:cacheprovider"]


@nox.session
def lint(session: nox.Session) -> None:
    """ruff lint and format check over the whole repository."""
    session.install("ruff==0.17.6")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def core(session: nox.Session) -> None:
    """rates_core alone, no plugin installed."""
    session.install("./rates_core", "pytest", "setuptools>=70.1", "wheel")
    session.run(*PYTEST, "tests/core", *session.posargs)


@nox.session
def numpy(session: nox.Session) -> None:
    """rates-numpy with rates-core: the plugin's tests and the simulation API tests."""
    session.install("./rates_core", "./plugins/rates_numpy", "pytest")
    session.run(*PYTEST, "plugins/rates_numpy/tests", *session.posargs)
