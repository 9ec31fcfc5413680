"""rates-fortran against the conformance suite of rates_core.testing (every declared
capability), including the model-library test."""

from __future__ import annotations

import shutil

import pytest

import rates_core.testing.conformance_tests as conformance

pytestmark = pytest.mark.skipif(shutil.which("gfortran") is None, reason="needs gfortran")


class TestFortranConformance(conformance.TestConformance):
    backend = "fortran"
    source_language = "other"
    source_suffix = ".f90"
    solver_options = {"fortran_dopri5": {"rtol": "{rtol}", "atol": "{atol}"}}
    known_failures: dict[str, list[str]] = {}
    # every generated model is compiled 2 x 4 times (about 20 s a model): a few in CI, more in
    # `nox -s fuzz`
    generated_examples = 4
