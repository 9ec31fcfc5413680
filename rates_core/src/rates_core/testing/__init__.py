"""rates_core.testing: the conformance suite every rates backend proves itself against.

Two ways to run it (both need pytest):

* as a pytest plugin, for any installed backend::

      pytest -p rates_core.testing --rates-backend NAME [--rates-solver S ...]

  Without test paths this collects the suite itself (:mod:`rates_core.testing.conformance_tests`);
  ``rates conformance --backend NAME`` does the same and prints a table per capability.

* as a base class in a plugin's own tests::

      from rates_core.testing import ConformanceSuite

      class TestMyBackend(ConformanceSuite):
          backend = "mine"
          solvers = ["mine_euler"]  # default: every solver of the backend
          known_failures = {"sign of a complex 0-d array is wrong (issue 12)": [
              "test_function[sign-complex]"]}

A test that needs a capability (``@requires("dde")``) runs only when the backend (or the
solver it runs with) declares it and is skipped with the missing capability as the reason
otherwise. See README.md in this folder for the tests, tolerances and options.
"""

from __future__ import annotations

from typing import Any

from rates_core.testing.checks import nominal_order
from rates_core.testing.suite import ConformanceSuite, ConformanceWarning, requires, uses_solvers

__all__ = [
    "ConformanceSuite",
    "ConformanceWarning",
    "nominal_order",
    "pytest_addoption",
    "pytest_configure",
    "requires",
    "suite_path",
    "uses_solvers",
]


def suite_path() -> str:
    """The file of the suite's test class for ``--rates-backend`` runs."""
    from rates_core.testing import conformance_tests

    return str(conformance_tests.__file__)


# --------------------------------------------------------------------------- pytest plugin hooks


def pytest_addoption(parser: Any) -> None:
    group = parser.getgroup("rates", "rates conformance suite (rates_core.testing)")
    group.addoption(
        "--rates-backend",
        dest="rates_backend",
        default=None,
        metavar="NAME",
        help="run the conformance suite for this installed backend",
    )
    group.addoption(
        "--rates-solver",
        dest="rates_solver",
        action="append",
        default=None,
        metavar="NAME",
        help="only these solvers of the backend (repeat the option for several; default: all)",
    )
    group.addoption(
        "--rates-fuzz",
        dest="rates_fuzz",
        type=int,
        default=None,
        metavar="N",
        help="test_generated_models draws N random models (default: the suite's 10)",
    )
    group.addoption(
        "--rates-fuzz-seed",
        dest="rates_fuzz_seed",
        type=int,
        default=None,
        metavar="S",
        help="seed of the random models of test_generated_models (default 0)",
    )


def pytest_configure(config: Any) -> None:
    if config.getoption("rates_backend", None) and _default_args(config):
        # no test paths given: collect the suite itself
        config.args = [suite_path()]


def _default_args(config: Any) -> bool:
    source = getattr(config, "args_source", None)
    if source is None:
        return False
    return source.name in ("INVOCATION_DIR", "TESTPATHS")
