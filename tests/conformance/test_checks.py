"""The helpers of the conformance suite (rates_core.testing.checks / report), in-process."""

from __future__ import annotations

import math
import types
from types import SimpleNamespace

import numpy as np
import pytest

from rates_core.plugins import SolverInfo
from rates_core.testing import checks, references
from rates_core.testing.report import ConformanceReport, capability_of
from rates_core.testing.suite import _known_patterns, _pattern_matches, requires, uses_solvers


@pytest.mark.parametrize(
    ("name", "description", "order"),
    [
        ("euler", "", 1),
        ("heun", "", 2),
        ("rk4", "", 4),
        ("fixture_rk4", "", 4),
        ("torch-midpoint", "", 2),
        ("my_rk3", "", 3),
        ("leapfrog", "a symplectic method of order 2", 2),
        ("mystery", "fixed step", None),
    ],
)
def test_nominal_order_from_name_and_description(name: str, description: str, order) -> None:
    assert checks.nominal_order(SolverInfo(name, "b", False, description=description)) == order


def test_nominal_order_overrides_and_attribute() -> None:
    info = SolverInfo("mystery", "b", False)
    assert checks.nominal_order(info, {"mystery": 3}) == 3
    assert checks.nominal_order(SimpleNamespace(name="x", description="", order=5)) == 5


def test_solver_options_fill_the_tolerance_placeholders() -> None:
    scipy = SolverInfo("scipy", "numpy", True)
    assert checks.solver_options(scipy, None, 1e-9, 1e-11) == {
        "method": "DOP853",
        "rtol": 1e-9,
        "atol": 1e-11,
    }
    other = SolverInfo("tsit5", "julia", True)
    assert checks.solver_options(other, None, 1e-9, 1e-11) == {"rtol": 1e-9, "atol": 1e-11}
    custom = {"tsit5": {"reltol": "{rtol}", "abstol": "{atol}", "dense": False}}
    assert checks.solver_options(other, custom, 1e-9, 1e-11) == {
        "reltol": 1e-9,
        "abstol": 1e-11,
        "dense": False,
    }
    assert checks.solver_options(SolverInfo("euler", "numpy", False), None) == {}


def test_imported_modules_of_python_and_other_sources() -> None:
    python = (
        "import numpy as np\nfrom scipy import special\n\ndef f(x):\n    return torch.tanh(x)\n"
    )
    assert {"numpy", "scipy", "torch"} <= checks.imported_modules(python, True)
    julia = "using DifferentialEquations\nimport LinearAlgebra\nfunction f!(dy, y, p, t)\nend\n"
    assert checks.imported_modules(julia, False) == {"DifferentialEquations", "LinearAlgebra"}
    assert checks.forbidden_found(["numpy.linalg", "math", "numpy"], {"numpy"}) == [
        "numpy",
        "numpy.linalg",
    ]


def test_namespace_and_traced_modules() -> None:
    module = types.ModuleType("rates_fake_generated")
    source = "import json\nfrom math import exp\n\n\ndef field(x):\n"
    source += "    return exp(x) + len(json.dumps(x))\n"
    exec(source, module.__dict__)
    assert {"json", "math"} <= checks.namespace_modules(module)
    found = checks.traced_modules(lambda: module.field(1.0))
    assert "math" in found and any(m.startswith("json") for m in found)


def test_assert_close_names_the_worst_error() -> None:
    times = np.array([0.0, 0.5, 1.0])
    want = np.array([[1.0, 2.0], [1.0, 2.0], [1.0, 2.0]])
    got = want.copy()
    checks.assert_close(got, want, 1e-12, "same")
    got[1, 1] = 2.1
    with pytest.raises(AssertionError, match=r"relative error 0\.05 of v at t = 0\.5") as info:
        checks.assert_close(got, want, 1e-3, "demo", times, ["x", "v"])
    assert "exceeds the tolerance 0.001" in str(info.value)
    with pytest.raises(AssertionError, match="non-finite"):
        checks.assert_close([np.nan], [1.0], 1.0, "nan")
    with pytest.raises(AssertionError, match="shape"):
        checks.assert_close([1.0, 2.0], [1.0], 1.0, "shape")


def test_targets_that_cannot_be_tested_say_why() -> None:
    assert "no backend selected" in checks.resolve_target(None).problem
    target = checks.resolve_target("no_such_backend_of_the_suite")
    assert "UnknownBackendError" in target.problem
    assert target.missing({"execute"}) == ["execute"]


def test_target_gating_by_backend_and_solver_capabilities() -> None:
    from rates_core.plugins import BackendInfo

    target = checks.Target(
        "b",
        info=BackendInfo("b", {"execute", "complex"}),
        solvers=(
            SolverInfo("euler", "b", False),
            SolverInfo("ode45", "b", True, {"dde"}),
        ),
        orders={"euler": 1, "ode45": None},
    )
    euler, ode45 = target.solvers
    assert target.missing({"execute", "complex"}, euler) == []
    assert target.missing({"dde"}, euler) == ["dde"]
    assert target.missing({"dde", "adaptive"}, ode45) == []
    assert target.best() is euler
    assert target.fixed == (euler,) and target.adaptive == (ode45,)


def test_known_failure_ids() -> None:
    assert _pattern_matches("test_decay[euler]", "test_decay[euler]", "test_decay")
    assert _pattern_matches("test_decay", "test_decay[rk4]", "test_decay")
    assert _pattern_matches("test_function[tanh-*]", "test_function[tanh-vector]", "test_function")
    assert not _pattern_matches("test_function[tanh-*]", "test_function[sinh-vector]", "x")
    assert not _pattern_matches("test_decay[e]", "test_decay[euler]", "test_decay")
    assert _known_patterns({"a": "t1", "b": ["t2", "t3"]}) == [
        ("a", "t1"),
        ("b", "t2"),
        ("b", "t3"),
    ]


def test_markers_and_the_capability_table() -> None:
    @requires("dde")
    @uses_solvers("fixed")
    def test_x() -> None: ...

    assert test_x.rates_requires == {"dde"} and test_x.rates_solvers == "fixed"
    with pytest.raises(ValueError):
        uses_solvers("some")
    case = next(c for c in references.FUNCTION_CASES if c.id == "sin-complex")
    items = [
        SimpleNamespace(nodeid="a", function=test_x, callspec=None),
        SimpleNamespace(
            nodeid="b", function=lambda: None, callspec=SimpleNamespace(params={"case": case})
        ),
        SimpleNamespace(nodeid="c", function=lambda: None, callspec=None),
    ]
    assert [capability_of(i) for i in items] == ["dde", "complex", "core"]
    report = ConformanceReport()
    report.pytest_collection_finish(SimpleNamespace(items=items))
    for nodeid, when, outcome, extra in [
        ("a", "setup", "skipped", {"longrepr": ("f", 1, "Skipped: capability 'dde' missing")}),
        ("b", "call", "failed", {}),
        ("c", "call", "passed", {}),
    ]:
        report.pytest_runtest_logreport(
            SimpleNamespace(
                nodeid=nodeid,
                when=when,
                failed=outcome == "failed",
                skipped=outcome == "skipped",
                longrepr=extra.get("longrepr"),
            )
        )
    assert report.counts() == {
        "dde": {"passed": 0, "failed": 0, "skipped": 1, "xfailed": 0},
        "complex": {"passed": 0, "failed": 1, "skipped": 0, "xfailed": 0},
        "core": {"passed": 1, "failed": 0, "skipped": 0, "xfailed": 0},
    }
    text = report.table()
    assert text.splitlines()[1].split() == ["core", "1", "0", "0", "0"]
    assert "1 x capability 'dde' missing" in text
    assert report.failed == 1


def test_reference_solutions_are_self_consistent() -> None:
    """The closed forms satisfy their equations (finite differences in time)."""
    t = np.linspace(0.1, 3.9, 50)
    h = 1e-6
    x = references.delay_exact
    lhs = (x(t + h) - x(t - h)) / (2 * h)
    np.testing.assert_allclose(lhs, -x(t - 1.0), atol=1e-6)
    u, b = references.gamma_kernel_exact(t)
    u_hi, b_hi = references.gamma_kernel_exact(t + h)
    u_lo, b_lo = references.gamma_kernel_exact(t - h)
    np.testing.assert_allclose((b_hi - b_lo) / (2 * h), u, atol=1e-6)
    mu = references.STUART_LANDAU["mu"]
    z = references.stuart_landau_exact(np.array([30.0]))
    assert abs(abs(z[0]) - math.sqrt(mu)) < 1e-12
    step = references.explicit_rk_factor(-0.1, 4)
    assert step == pytest.approx(math.exp(-0.1), rel=1e-7)


def test_smooth_history_closed_form_satisfies_its_equation() -> None:
    """b' = w a(t - tau) with a = sin(omega t) at every time (the pre-history included)."""
    d = references.SMOOTH_HISTORY
    t = np.linspace(0.01, d["T"], 40)
    h = 1e-6
    b = references.smooth_history_exact
    lhs = (b(t + h) - b(t - h)) / (2 * h)
    a = references.smooth_history()["a/op/a"]
    np.testing.assert_allclose(lhs, [d["weight"] * a(x - d["delay"]) for x in t], atol=1e-8)
    assert b(np.array([0.0]))[0] == pytest.approx(0.0, abs=1e-15)


def test_runtime_modules_are_declared_as_module_names() -> None:
    from rates_core.plugins import BackendInfo

    info = BackendInfo("b", {"execute"}, runtime_modules=["numpy", "matlab.engine"])
    assert info.runtime_modules == ("numpy", "matlab.engine")
    assert BackendInfo("b", {"execute"}).runtime_modules == ()
    with pytest.raises(TypeError, match="not the string 'numpy'"):
        BackendInfo("b", {"execute"}, runtime_modules="numpy")
    with pytest.raises(TypeError, match="module names"):
        BackendInfo("b", {"execute"}, runtime_modules=["numpy; rm"])


def test_runtime_found_in_calls_and_field_references() -> None:
    assert checks.runtime_found(["numpy._core.numeric", "math"], ("numpy",)) == ["numpy"]
    assert checks.runtime_found(["numpyx"], ("numpy",)) == []
    assert checks.runtime_found(["oct2py.core"], ("matlab", "oct2py")) == ["oct2py"]
    module = types.ModuleType("rates_fake_generated")
    exec("import math\nimport numpy\n\ndef f(x):\n    return numpy.exp(x)\n", module.__dict__)
    exec("def g(x):\n    return math.exp(x)\n", module.__dict__)
    assert "numpy" in checks.field_references(module.f)
    refs = checks.field_references(module.g)
    assert "math" in refs and not checks.runtime_found(refs, ("numpy",))

    class Library:  # a loaded library: the field is a method bound to it
        def __init__(self) -> None:
            self.lib = np.zeros(1)

        def field(self, x: float) -> float:
            return x

    assert "numpy" in checks.field_references(Library().field)

    class Dispatcher:  # numba's: it takes the __module__ of the function it compiled
        def __call__(self, x: float) -> float:
            return x

    Dispatcher.__module__ = "numba.core.registry"
    compiled = Dispatcher()
    compiled.__module__ = "rates_numba_generated_0"  # type: ignore[misc]
    assert checks.runtime_found(checks.field_references(compiled), ("numba",)) == ["numba"]
    calls = checks.backend_calls(lambda: module.f(np.ones(2)), [])
    assert calls == set()  # no code of the backend's folders ran
