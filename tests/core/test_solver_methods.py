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


def _runs(backend: str) -> bool:
    host = default_host()
    return backend in host.backends() and "execute" in host.backend_info(backend).capabilities


@pytest.mark.skipif(not (_runs("fortran") and _runs("numpy")), reason="needs fortran and numpy")
def test_fallback_is_warned_and_a_missing_method_lists_the_backends_methods() -> None:
    from rates_core.errors import SolverFallbackWarning, UnknownBackendError

    circuit = ref.decay_circuit()
    with pytest.warns(
        SolverFallbackWarning, match="backend 'fortran' has no solver method 'scipy'"
    ):
        frame = circuit.run(0.2, 0.01, backend="fortran", solver="scipy")
    assert frame.attrs["solver"] == "scipy"
    with pytest.raises(UnknownBackendError, match=r"its methods: dopri5 \(fortran_dopri5\), euler"):
        circuit.run(0.2, 0.01, backend="fortran", solver="ode45")
