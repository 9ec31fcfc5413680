"""Test sessions: `python -m nox` runs them all (lint, core, one per plugin, thirdparty).

Each session gets its own virtual environment with only the distributions it tests, so a
plugin's tests prove that `pip install rates-core rates-<plugin>` is enough.

Sessions of plugins that need a toolchain (a compiler, Julia, Octave, ...) call
:func:`require_toolchain`: without the toolchain they are skipped with the reason locally, but
under CI (``CI=true``) a toolchain that ``.ci/run`` can install must be there, so its absence
fails the run instead of passing it silently.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import nox

nox.options.sessions = [
    "lint",
    "core",
    "numpy",
    "thirdparty",
    "torch",
    "numba",
    "julia",
    "matlab",
    "fortran",
    "sweep",
    "docs",
]
nox.options.reuse_existing_virtualenvs = False

PYTEST = ["python", "-m", "pytest", "-q", "-p", "no:cacheprovider"]


def in_ci() -> bool:
    """Whether this runs under CI (the ``CI`` environment variable is true)."""
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes", "on")


def require_toolchain(
    session: nox.Session,
    name: str,
    available: bool | None = None,
    *,
    executable: str | None = None,
    install_hint: str = "",
    ci_installs: bool = True,
) -> None:
    """Skip ``session`` when the toolchain ``name`` is missing; under CI fail instead.

    ``available`` says whether it is there; by default, whether ``executable`` (or ``name``) is
    on PATH. ``install_hint`` tells how to get it. ``ci_installs=False`` for toolchains that
    ``.ci/run`` cannot install (a licensed MATLAB): those are skipped under CI too.
    """
    if available is None:
        available = shutil.which(executable or name) is not None
    if available:
        return
    message = f"{name} is not available" + (f" ({install_hint})" if install_hint else "")
    if in_ci() and ci_installs:
        session.error(f"{message}; CI=true and .ci/run can install it, so this is an error")
    session.skip(message)


#: What mypy needs to resolve the typed imports of rates_core and the plugins (pinned, like
#: ruff, so a new release cannot turn lint red). Untyped and heavy packages (sympy, scipy,
#: pandas, torch, ...) are not installed: pyproject.toml's [tool.mypy] treats them as Any.
MYPY_DEPS = (
    "mypy==2.4.1",
    "numpy==2.4.6",
    "pluggy==1.7.0",
    "pytest==9.2.0",
    "hypothesis==6.170.27",
    "types-PyYAML==6.0.12.20261122",
)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff lint and format check over the whole repository, then mypy over rates_core, the
    plugins and the fixture plugin (the files and settings are in pyproject.toml)."""
    session.install("ruff==0.17.6", *MYPY_DEPS)
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("mypy")


@nox.session
def core(session: nox.Session) -> None:
    """rates_core alone, no plugin installed."""
    session.install("./rates_core", "pytest", "setuptools>=70.1", "wheel")
    session.run(*PYTEST, "tests/core", *session.posargs)


@nox.session
def numpy(session: nox.Session) -> None:
    """rates-numpy with rates-core: the plugin's tests, the simulation API tests and the
    conformance suite (plugins/rates_numpy/tests/test_conformance.py subclasses
    rates_core.testing.ConformanceSuite)."""
    session.install("./rates_core[progress,testing]", "./plugins/rates_numpy")
    session.run(*PYTEST, "plugins/rates_numpy/tests", *session.posargs)


@nox.session
def thirdparty(session: nox.Session) -> None:
    """The conformance suite against the fixture plugin, installed as an outside user would
    install a third-party backend, then the tests of the suite itself (tests/conformance)."""
    # rates-numpy is the reference of test_generated_models
    session.install(
        "./rates_core[testing]", "./plugins/rates_numpy", "./tests/fixtures/rates_fixture_plugin"
    )
    session.run(*PYTEST, "-p", "rates_core.testing", "--rates-backend", "fixture")
    session.run("rates", "conformance", "--backend", "fixture", "-k", "test_backend_declared")
    session.run(*PYTEST, "tests/conformance", *session.posargs)


@nox.session
def torch(session: nox.Session) -> None:
    """rates-torch with the CPU build of torch (pinned: this machine's pip takes torch 2.13.0, a
    CPU build, from its local wheel store, so no multi-GB CUDA build is downloaded): the
    plugin's tests, its conformance suite and the comparison with rates-numpy."""
    session.install(
        "torch==2.13.0",
        "./rates_core[progress,testing]",
        "./plugins/rates_numpy",
        "./plugins/rates_torch",
    )
    session.run(*PYTEST, "plugins/rates_torch/tests", *session.posargs)


@nox.session
def numba(session: nox.Session) -> None:
    """rates-numba with numba from PyPI (pinned: the version this machine's wheel store has):
    the plugin's tests and its conformance suite (rates-numpy is the reference of the
    generated models); the tests' conftest keeps one numba cache for the session."""
    session.install(
        "numba==0.68.1",
        "./rates_core[testing]",
        "./plugins/rates_numpy",
        "./plugins/rates_numba",
    )
    session.run(*PYTEST, "plugins/rates_numba/tests", *session.posargs)


@nox.session
def julia(session: nox.Session) -> None:
    """rates-julia: generated Julia parsed with tree-sitter-julia (no Julia needed); the
    execution tier (the conformance suite through juliacall) skips unless `julia` is on PATH."""
    session.install("./rates_core", "./plugins/rates_julia[test]")
    session.run(*PYTEST, "plugins/rates_julia/tests", *session.posargs)


@nox.session
def matlab(session: nox.Session) -> None:
    """rates-matlab on GNU Octave (oct2py): the plugin's tests, the conformance suite for every
    declared capability, mh_lint (miss_hit) on generated files, runs against rates-numpy; then
    all of it again through the matlab.engine path (tests/engine_standin)."""
    require_toolchain(
        session,
        "GNU Octave",
        executable="octave-cli",
        install_hint="apt-get install --no-install-recommends octave",
    )
    session.install(
        "./rates_core[testing]",
        "./plugins/rates_numpy",
        "./plugins/rates_matlab[octave]",
        "miss_hit",
    )
    session.run(*PYTEST, "plugins/rates_matlab/tests", *session.posargs)
    # again through matlab.engine: a stand-in `matlab` package whose engine is Octave behind
    # the engine's conversion rules, with stand-ins for MATLAB's dde23 / ddeset / deval
    standin = str(Path("plugins/rates_matlab/tests/engine_standin").resolve())
    # The suite's model generator is deselected in this second pass: it would run the
    # stand-in's dde23 (a fixed-grid RK4 without error control, not MATLAB's solver) against
    # the 1e-6 reference; test_engine_standin.py runs the generator with every other solver.
    session.run(
        *PYTEST,
        "plugins/rates_matlab/tests",
        "-k",
        "not test_generated_models",
        *session.posargs,
        env={"PYTHONPATH": standin, "RATES_MATLAB_RUNTIME": "matlab"},
    )


@nox.session
def fortran(session: nox.Session) -> None:
    """rates-fortran: the gfortran-compiled backend, its conformance suite, agreement with
    rates-numpy and Auto-07p continuations of the generated files (.ci/run installs gfortran
    and auto-07p; the Auto-07p tests skip where it is missing outside CI)."""
    require_toolchain(
        session, "gfortran", install_hint="apt-get install --no-install-recommends gfortran"
    )
    require_toolchain(
        session,
        "auto-07p",
        available=os.path.isdir(os.environ.get("AUTO_DIR", "/usr/lib/auto-07p")),
        install_hint="apt-get install --no-install-recommends auto-07p",
    )
    session.install(
        "./rates_core[testing]", "./plugins/rates_numpy", "./plugins/rates_fortran", "matplotlib"
    )
    session.run(*PYTEST, "plugins/rates_fortran/tests", *session.posargs)


@nox.session
def docs(session: nox.Session) -> None:
    """Docs site: the CLI / results / plot / gallery tests, then Sphinx + sphinx-gallery with
    warnings as errors (every gallery script runs; the continuation example needs gfortran and
    Auto-07p, which .ci/run installs)."""
    session.install(
        "torch==2.13.0",
        "./rates_core[progress,plot,xarray]",
        "./plugins/rates_numpy",
        "./plugins/rates_torch",
        "./plugins/rates_numba",
        "./plugins/rates_julia",
        "./plugins/rates_matlab",
        "./plugins/rates_fortran",
        "pytest",
        "sphinx",
        "sphinx-gallery",
    )
    session.run(
        *PYTEST,
        "tests/core/test_results.py",
        "tests/core/test_cli_run_validate.py",
        "plugins/rates_numpy/tests/test_cli_run.py",
        "plugins/rates_numpy/tests/test_plot.py",
        "plugins/rates_numpy/tests/test_gallery.py",
        *session.posargs,
    )
    session.run(
        "python",
        "-m",
        "sphinx",
        "-W",
        "--keep-going",
        "-q",
        "-E",
        "-b",
        "html",
        "docs",
        "docs/_build/html",
        env={"RATES_JULIA": "off", "RATES_CACHE_DIR": session.create_tmp()},
    )


@nox.session
def sweep(session: nox.Session) -> None:
    """Parameter sweeps, fitting and the sweep heatmap with rates-numpy, Dask (a real
    LocalCluster with a killed worker), the Parquet store (resumed after a kill) and matplotlib."""
    session.install("./rates_core[progress,dask,store,plot]", "./plugins/rates_numpy", "pytest")
    session.run(
        *PYTEST,
        "plugins/rates_numpy/tests/test_sweep.py",
        "plugins/rates_numpy/tests/test_sweep_executors.py",
        "plugins/rates_numpy/tests/test_sweep_store.py",
        "plugins/rates_numpy/tests/test_sweep_fit.py",
        "tests/core/test_sweep_grid.py",
        "tests/core/test_sweep_plot.py",
        *session.posargs,
        env={"MPLBACKEND": "Agg"},
    )


#: Backends the ``fuzz`` session runs the model generator on when no posargs name them.
FUZZ_BACKENDS = ("numpy", "fixture", "torch", "numba", "fortran", "matlab")


@nox.session
def fuzz(session: nox.Session) -> None:
    """The model generator with many random models (not in the default sessions: by hand or
    nightly): ``nox -s fuzz -- [N [SEED [BACKEND ...]]]`` runs ``rates conformance --backend B
    --fuzz N --seed SEED`` for each backend (default 500 models, seed from the date)."""
    import datetime

    args = list(session.posargs)
    examples = args.pop(0) if args else "500"
    seed = args.pop(0) if args else datetime.date.today().strftime("%Y%m%d")
    backends = args or list(FUZZ_BACKENDS)
    session.install(
        "torch==2.13.0",
        "./rates_core[testing]",
        "./plugins/rates_numpy",
        "./plugins/rates_torch",
        "./plugins/rates_numba",
        "./plugins/rates_fortran",
        "./plugins/rates_matlab[octave]",
        "./tests/fixtures/rates_fixture_plugin",
    )
    for backend in backends:
        session.log(f"rates conformance --backend {backend} --fuzz {examples} --seed {seed}")
        session.run(
            "rates", "conformance", "--backend", backend, "--fuzz", examples, "--seed", seed
        )
