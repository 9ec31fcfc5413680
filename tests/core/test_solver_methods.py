"""``run(backend=B, solver=method)`` runs B's own implementation of the method, for every
installed built-in backend that can execute here (the others are skipped)."""

from __future__ import annotations

import pytest

from rates_core.plugins import default_host
from rates_core.testing import references as ref

BUILT_IN = ("numpy", "fortran", "torch", "matlab", "julia", "fixture")


def _cases() -> list[tuple[str, str]]:
    host = default_host()
    cases = []
    for backend in BUILT_IN:
        installed = backend in host.backends()
        runs = installed and "execute" in host.backend_info(backend).capabilities
        methods = list(host.methods(backend)) if installed else ["-"]
        for method in methods:
            marks = () if runs else pytest.mark.skip(reason=f"{backend} cannot execute here")
            cases.append(pytest.param(backend, method, marks=marks, id=f"{backend}-{method}"))
    return cases


@pytest.mark.parametrize(("backend", "method"), _cases())
def test_method_runs_the_backends_own_solver(backend: str, method: str) -> None:
    info = default_host().resolve_solver(backend, method)
    assert info.backend == backend and info.method == method
    options = {"rtol": 1e-6, "atol": 1e-9} if info.adaptive else {}
    frame = ref.decay_circuit().run(0.2, 0.01, backend=backend, solver=method, **options)
    assert frame.attrs["solver"] == info.name  # the solver that ran
    assert frame.attrs["solver_method"] == method
    # x' = -x from x(0) = 1; tolerance 1e-2 covers first-order Euler at dt = 0.01
    assert frame.iloc[-1, 0] == pytest.approx(ref.decay_exact(frame.index[-1]), rel=1e-2)
