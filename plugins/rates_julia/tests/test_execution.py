"""Execution tier: the conformance suite of rates_core.testing run through Julia.

Runs wherever ``julia`` is on PATH (with DifferentialEquations.jl installed for it and the
Python package juliacall); skipped elsewhere, with that reason. Where ``julia`` is on PATH but the
backend does not start, ``test_julia_starts`` fails instead of letting the suite skip silently.
"""

from __future__ import annotations

import shutil

import pytest

import rates_core.testing.conformance_tests as conformance
from rates_julia import SOLVERS, runtime

pytestmark = pytest.mark.skipif(
    shutil.which("julia") is None,
    reason=(
        "julia is not on PATH: the execution tier needs Julia with DifferentialEquations.jl "
        "and juliacall (see plugins/rates_julia/README.md)"
    ),
)


def test_julia_starts() -> None:
    """With julia on PATH the backend must be able to run (else the suite would only skip)."""
    status = runtime.julia_status()
    assert status.available, status.reason
    session = runtime.session()
    assert session.driver is not None


class TestJuliaConformance(conformance.TestConformance):
    backend = "julia"
    solvers = ["tsit5", "vern9"]
    source_language = "other"
    source_suffix = ".jl"
    solver_options = {name: {"reltol": "{rtol}", "abstol": "{atol}"} for name in SOLVERS}
    known_failures: dict[str, list[str]] = {}
