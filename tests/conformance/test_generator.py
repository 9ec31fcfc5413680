"""The model generator of the conformance suite (rates_core.testing.generator, issue 18)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("hypothesis")

from hypothesis import HealthCheck, given, settings  # noqa: E402

from rates_core import CircuitTemplate  # noqa: E402
from rates_core.testing import generator as gen  # noqa: E402

FAST = settings(
    max_examples=15, deadline=None, database=None, suppress_health_check=list(HealthCheck)
)


@FAST
@given(model=gen.models())
def test_drawn_models_build_and_dump(model: gen.GeneratedModel, tmp_path_factory) -> None:
    """Every drawn model is a valid circuit with 1 to 60 nodes that round-trips through YAML."""
    circuit = model.circuit()
    labels = circuit.node_labels()
    assert 1 <= len(labels) <= 60
    assert set(model.outputs()) == {p for p in model.outputs().values()}
    path = tmp_path_factory.mktemp("yaml") / "model.yaml"
    name = circuit.to_yaml(str(path)) or "generated"
    back = CircuitTemplate.from_yaml(f"{path}/{name}")
    assert back.node_labels() == labels


@FAST
@given(gen.models(capabilities=()))
def test_undeclared_features_are_not_drawn(model: gen.GeneratedModel) -> None:
    """Without ``dde`` and ``complex`` no discrete delay and no complex state is drawn (spreads,
    which are ODEs, still are)."""
    assert model.needs() == frozenset()


@FAST
@given(gen.models(capabilities=("dde", "complex")))
def test_noise_not_drawn_without_sde(model: gen.GeneratedModel) -> None:
    assert not model.noisy and "sde" not in model.needs()


@FAST
@given(gen.models(capabilities=("dde", "sde")))
def test_noise_without_sde_delays_comes_without_delays(model: gen.GeneratedModel) -> None:
    """A backend with SDE methods for models without delays only gets those."""
    assert not (model.noisy and {"dde", "sde_delays"} & model.needs())


def test_noise_drawn_with_delays() -> None:
    from hypothesis import find

    model = find(
        gen.models(),
        lambda m: m.needs() >= {"sde", "sde_delays"},
        settings=settings(database=None, max_examples=500),
    )
    assert "dde" not in model.needs()  # SDE methods declare delays as sde_delays


def _noisy_model() -> gen.GeneratedModel:
    population = gen.NodeType(
        0,
        3,
        True,
        (1.0, 0.5, 0.8),
        (0.2, 0.0, -0.3),
        (0.1, 0.0, 0.5),
        second_state=True,
        self_delay="call",
        self_delay_tau=0.2,
        extrinsic=True,
        noise="multiplicative",
    )
    nodes = gen.NodeType(1, 2, False, (1.0, 0.5), (0.2, 0.0), (0.1, 0.0), noise="additive")
    projections = (
        gen.Projection(0, 0, "connectivity", ((0, 1), (1, 2), (2, 0)), (0.5, -1.0, 1.0), (0.3,)),
        gen.Projection(1, 0, "edges", ((0, 1), (1, 0)), (0.5, -1.0), (0.15, 0.25)),
    )
    return gen.GeneratedModel((population, nodes), projections, ((0.0, 0.5, -0.5),))


def test_check_noisy_numpy_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    """A noisy model with delays and inputs: both SDE methods, vectorised or not, given the
    same increments, agree with rates-numpy; increments that drive other units in one layout
    (columns in another order) fail the check."""
    pytest.importorskip("rates_numpy")
    from rates_core.testing.checks import resolve_target

    model = _noisy_model()
    assert model.needs() == {"sde", "sde_delays"}
    target = resolve_target("numpy", None, {}, ())
    assert gen.check_model(target, model) == 5  # 2 SDE methods x 2 layouts, one monitored

    original = CircuitTemplate.run

    def shuffled_when_vectorised(self, *args, **kwargs):
        if kwargs.get("vectorize") and "wiener_increments" in kwargs:
            kwargs["wiener_increments"] = kwargs["wiener_increments"][:, ::-1]
        return original(self, *args, **kwargs)

    monkeypatch.setattr(CircuitTemplate, "run", shuffled_when_vectorised)
    with pytest.raises(AssertionError, match="given Wiener increments"):
        gen.check_model(target, model)


@pytest.mark.parametrize("delayed", [False, True])
def test_check_monitors_cuts_the_run_and_compares(monkeypatch: pytest.MonkeyPatch, delayed) -> None:
    """The monitored run goes in several windows (no delays) or streamed blocks (delays), and
    a monitor that changes a value fails the check."""
    pytest.importorskip("rates_numpy")
    from rates_core import monitors
    from rates_core.testing.checks import resolve_target

    model = _delayed_model() if delayed else gen.GeneratedModel(_delayed_model().types, ())
    target = resolve_target("numpy", None, {}, ())
    blocks = []
    update = monitors._Feed.update

    def counting(self, times, *args):
        blocks.append(len(times))
        return update(self, times, *args)

    monkeypatch.setattr(monitors._Feed, "update", counting)
    assert gen.check_monitors(target, model, model.circuit()) == 1
    assert len(blocks) >= 3 and sum(blocks) == round(gen.T_END / gen.fixed_step(4, 2.0)[0])
    original = monitors.Subsample.update

    def off_by_a_little(self, times, values):
        return original(self, times, values + 1e-9)

    monkeypatch.setattr(monitors.Subsample, "update", off_by_a_little)
    with pytest.raises(AssertionError, match="monitors="):
        gen.check_monitors(target, model, model.circuit())


def test_inputs_drawn_with_discrete_delays() -> None:
    """Extrinsic inputs and discrete delays are drawn together (left out until the fixed-step
    histories took the left-side slope where an input jumps, finding G2)."""
    from hypothesis import find

    model = find(
        gen.models(),
        lambda m: "dde" in m.needs() and any(t.extrinsic for t in m.types),
        settings=settings(database=None, max_examples=500),
    )
    assert model.input_levels


def _one_node(**kw) -> gen.GeneratedModel:
    node = gen.NodeType(0, 2, False, (1.0, 1.0), (0.0, 0.0), (0.0, 0.0), extrinsic=True, **kw)
    return gen.GeneratedModel((node,), (), ((0.0, 0.5, -0.5),))


def test_inputs_fixed_step_and_adaptive_rows() -> None:
    """Fixed-step rows hold each level over whole steps; adaptive rows put the mean of both
    levels at a jump, so the linear ramp integrates like the step."""
    model = _one_node()
    dt = 0.01
    fixed = model.inputs(dt, adaptive=False)["n0_0/op0/ext"]
    smooth = model.inputs(dt, adaptive=True)["n0_0/op0/ext"]
    assert fixed.shape == (round(gen.T_END / dt),)
    k = round(0.55 / dt)
    assert fixed[k - 1] == 0.25 and fixed[k] == -0.25  # node 0 scales the levels by 0.5
    assert smooth[k] == pytest.approx(0.0) and smooth[k + 1] == -0.25
    np.testing.assert_array_equal(np.delete(fixed, [5, k]), np.delete(smooth, [5, k]))


def test_fixed_step_follows_order_and_rate() -> None:
    """The step shrinks with the model's fastest rate; the tolerance follows the order."""
    dt4, tol4 = gen.fixed_step(4, 1.0)
    dt1, tol1 = gen.fixed_step(1, 1.0)
    fast, _ = gen.fixed_step(4, 100.0)
    assert (dt4, tol4) == (1e-2, 1e-5)
    assert dt1 <= 1e-3 and tol1 == 5e-2
    assert fast * 100.0 <= 0.2


def test_check_model_numpy_itself() -> None:
    """A model with every feature runs on rates-numpy with every solver and agrees."""
    pytest.importorskip("rates_numpy")
    from rates_core.testing.checks import resolve_target

    node = gen.NodeType(
        0,
        3,
        True,
        (1.0, 0.5, 0.8),
        (0.2, 0.0, -0.3),
        (0.1, 0.0, 0.5),
        "sigmoid",
        True,
        True,
        True,
        "call",
        0.2,
    )
    proj = gen.Projection(
        0, 0, "connectivity", ((0, 1), (1, 2), (2, 0)), (0.5, -1.0, 1.0), (0.3,), 4, "depression"
    )
    model = gen.GeneratedModel((node,), (proj,))
    target = resolve_target("numpy", None, {}, ())
    # 4 solvers x vectorised or not, one delays="grid" run (the model has a delay), one
    # monitored run
    assert gen.check_model(target, model) == 10


def _delayed_model() -> gen.GeneratedModel:
    node = gen.NodeType(0, 3, False, (1.0, 0.5, 0.8), (0.2, 0.0, -0.3), (0.1, 0.0, 0.5))
    proj = gen.Projection(
        0, 0, "edges", ((0, 1), (1, 2), (2, 0)), (0.5, -1.0, 1.0), (0.3, 0.15, 0.25)
    )
    return gen.GeneratedModel((node,), (proj,))


def test_grid_run_of_a_delayed_model(monkeypatch: pytest.MonkeyPatch) -> None:
    """A model with delays runs once under delays="grid" (rk4, vectorised) against rates-numpy
    with the same method and step; a backend that ignored the option would fail it."""
    pytest.importorskip("rates_numpy")
    from rates_core.testing.checks import resolve_target

    model = _delayed_model()
    target = resolve_target("numpy", None, {}, ())
    run = gen.grid_run(target, model)
    assert run is not None and run.solver.method == "rk4" and run.vectorize
    circuit = model.circuit()
    assert gen.check_grid(target, model, circuit, 1.0) == 1
    plain = gen.GeneratedModel(model.types, ())
    assert gen.grid_run(target, plain) is None  # no delays, no grid run

    original = CircuitTemplate.run

    def exact_on_vectorised(self, *args, **kwargs):  # a backend running "grid" as "exact"
        if kwargs.get("vectorize"):
            kwargs["delays"] = "exact"
        return original(self, *args, **kwargs)

    monkeypatch.setattr(CircuitTemplate, "run", exact_on_vectorised)
    with pytest.raises(AssertionError, match="delays='grid'"):
        gen.check_grid(target, model, circuit, 1.0)


def test_failures_report_the_model_as_yaml(monkeypatch: pytest.MonkeyPatch) -> None:
    """A failing check is shrunk and its report holds the model as YAML."""
    pytest.importorskip("rates_numpy")
    from rates_core.testing.checks import resolve_target

    def broken(target, model, options=None):
        if len(model.circuit().node_labels()) > 1:
            raise AssertionError("too many nodes")
        return 1

    monkeypatch.setattr(gen, "check_model", broken)
    target = resolve_target("numpy", None, {}, ())
    with pytest.raises(AssertionError) as info:
        gen.run_generated(target, 20, 0)
    notes = "\n".join(getattr(info.value, "__notes__", []))
    assert "the model as YAML" in notes and "CircuitTemplate" in notes


def test_cli_fuzz_runs_only_the_generator(monkeypatch: pytest.MonkeyPatch) -> None:
    """``rates conformance --backend X --fuzz N --seed S`` passes N and S to the suite and
    selects test_generated_models."""
    from rates_core import cli
    from rates_core.testing import report

    seen = {}

    def fake(backend, solvers, pytest_args):
        seen.update(backend=backend, args=pytest_args)
        return 0

    monkeypatch.setattr(report, "run_conformance", fake)
    assert cli.main(["conformance", "--backend", "numpy", "--fuzz", "7", "--seed", "3"]) == 0
    args = seen["args"]
    assert args[args.index("--rates-fuzz") + 1] == "7"
    assert args[args.index("--rates-fuzz-seed") + 1] == "3"
    assert args[args.index("-k") + 1] == "test_generated_models"
    assert cli.main(["conformance", "--backend", "numpy", "--fuzz", "0"]) != 0
