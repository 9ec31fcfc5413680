"""Progress bars: ``run(progress=...)`` and ``Problem.progress`` in every solver path.

The bar must never change the numbers, must be updated a bounded number of times (chunks, not
steps), and tqdm stays optional: a missing tqdm is an error only when a bar was asked for.
"""

from __future__ import annotations

import io
import sys
import types

import numpy as np
import pytest
from rates_numpy_testlib import emit, problem, qif_network, system_of

import rates_core.pipeline as pipeline
import rates_core.simulate as simulate
from rates_core import CircuitTemplate, build_system
from rates_core.backend import PROGRESS_CHUNKS, Problem
from rates_core.errors import MissingDependencyError, RatesError
from rates_numpy.solvers import solve

QIF = "rates_core.models.qif.qif"
W3 = np.array([[0.0, 1.5, -2.0], [3.0, 0.0, 0.5], [-1.0, 2.5, 0.0]])


class FakeBar:
    """Records what a solver does with its bar (stands in for tqdm.tqdm)."""

    made: list[FakeBar] = []

    def __init__(self, total=None, file=None, **kwargs):
        self.total = total
        self.file = file
        self.kwargs = kwargs
        self.n = 0.0
        self.updates: list[float] = []
        self.resets = 0
        self.closed = False
        FakeBar.made.append(self)

    def update(self, n):
        assert n > 0
        self.n += n
        self.updates.append(self.n)

    def reset(self, total=None):
        self.n = 0.0
        self.resets += 1

    def close(self):
        self.closed = True


@pytest.fixture
def fake_tqdm(monkeypatch: pytest.MonkeyPatch) -> type[FakeBar]:
    FakeBar.made = []
    monkeypatch.setitem(sys.modules, "tqdm", types.SimpleNamespace(tqdm=FakeBar))
    return FakeBar


@pytest.fixture
def no_tqdm(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "tqdm", None)  # import tqdm raises ImportError


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def forced():
    return system_of(
        "forced", ["x' = -x + cos(t)", "w' = x - w"], {"x": "output(0.0)", "w": "variable(1.0)"}
    )


@pytest.mark.parametrize("solver", ["euler", "rk4", "scipy"])
@pytest.mark.parametrize("scalar", [True, False], ids=["scalar-loop", "vector"])
def test_bar_is_updated_in_chunks_and_results_do_not_change(fake_tqdm, solver, scalar) -> None:
    s = forced()
    fn = emit(s, scalar=scalar)
    opts = {"rtol": 1e-9} if solver == "scipy" else {}
    plain = solve(solver, fn, problem(s, 3.0, 1e-3, every=7, options=opts))
    assert fake_tqdm.made == []
    p = problem(s, 3.0, 1e-3, every=7, options=opts)
    p.progress = True
    shown = solve(solver, fn, p)
    (bar,) = fake_tqdm.made
    np.testing.assert_array_equal(shown.states, plain.states)
    np.testing.assert_array_equal(shown.final, plain.final)
    assert bar.total == 3.0 and bar.closed and bar.n == pytest.approx(3.0)
    assert bar.file is sys.stderr
    assert 2 <= len(bar.updates) <= PROGRESS_CHUNKS + 1  # per chunk, never per step
    assert np.all(np.diff(bar.updates) > 0)
    if solver != "scipy":
        assert shown.info["path"] == ("scalar-loop" if scalar else "vector")


def test_chunks_keep_sampling_and_inputs_aligned(fake_tqdm) -> None:
    """Chunk boundaries fall between samples and inside input series: same numbers."""
    s = system_of(
        "drive", ["x' = u - x"], {"x": "output(0.0)", "u": "input(0.0)"}, inputs=["n/op/u"]
    )
    name = s.inputs[0].name
    n_steps = 1013  # not a multiple of the chunk count or of the sampling
    drive = np.sin(np.arange(n_steps) * 0.05)
    for scalar in (True, False):
        fn = emit(s, scalar=scalar)
        for solver in ("euler", "heun", "rk4"):
            a = solve(solver, fn, problem(s, n_steps * 0.01, 0.01, every=3, inputs={name: drive}))
            p = problem(s, n_steps * 0.01, 0.01, every=3, inputs={name: drive})
            p.progress = True
            b = solve(solver, fn, p)
            np.testing.assert_array_equal(a.states, b.states)
            np.testing.assert_array_equal(a.final, b.final)


def test_fallback_restarts_the_bar(fake_tqdm) -> None:
    s = system_of("blowup", ["x' = x^2"], {"x": "output(1.0)"})
    p = problem(s, 2.0, 0.01)
    p.progress = True
    traj = solve("euler", emit(s), p)
    assert traj.info["fallback"] == "vector"
    (bar,) = fake_tqdm.made
    assert bar.resets == 1 and bar.closed


def test_progress_bar_goes_to_the_given_file() -> None:
    pytest.importorskip("tqdm")
    s = forced()
    out = io.StringIO()
    p = problem(s, 1.0, 1e-3)
    p.progress, p.progress_file = True, out
    solve("rk4", emit(s), p)
    text = out.getvalue()
    assert "100%" in text and "forced (rk4)" in text


@pytest.mark.parametrize("solver", ["euler", "scipy"])
def test_run_progress_true_shows_a_tqdm_bar_on_stderr(capsys, solver) -> None:
    pytest.importorskip("tqdm")
    qif = CircuitTemplate.from_yaml(QIF)
    out = {"r": "p/qif_op/r"}
    quiet = qif.run(1.0, 1e-3, outputs=out, solver=solver, progress=False)
    assert capsys.readouterr().err == ""
    shown = qif.run(1.0, 1e-3, outputs=out, solver=solver, progress=True)
    err = capsys.readouterr().err
    assert "100%" in err and "qif" in err
    np.testing.assert_array_equal(shown.to_numpy(), quiet.to_numpy())


def test_run_progress_on_a_vectorised_network(capsys, monkeypatch) -> None:
    pytest.importorskip("tqdm")
    monkeypatch.setattr(pipeline, "SMALL_SYSTEM", 0)
    net = qif_network(W3)
    a = net.run(0.5, 1e-3, solver="heun", progress=True)
    assert "100%" in capsys.readouterr().err
    b = net.run(0.5, 1e-3, solver="heun", progress=False)
    assert a.attrs["vectorized"]
    np.testing.assert_array_equal(a.to_numpy(), b.to_numpy())


def test_progress_true_without_tqdm_is_a_clear_error(no_tqdm) -> None:
    qif = CircuitTemplate.from_yaml(QIF)
    with pytest.raises(MissingDependencyError, match="pip install tqdm") as info:
        qif.run(0.1, 1e-3, progress=True)
    assert isinstance(info.value, RatesError) and isinstance(info.value, ImportError)
    s = forced()
    p = problem(s, 0.1, 1e-3)
    p.progress = True
    with pytest.raises(MissingDependencyError, match="pip install tqdm"):
        solve("euler", emit(s), p)


def test_automatic_progress(fake_tqdm, monkeypatch) -> None:
    """progress=None: a bar only for long runs on a terminal, and never an error."""
    qif = CircuitTemplate.from_yaml(QIF)
    monkeypatch.setattr(sys, "stderr", Terminal())
    qif.run(0.1, 1e-3)  # short: no bar
    assert fake_tqdm.made == []
    monkeypatch.setattr(simulate, "PROGRESS_MIN_STEPS", 50)
    qif.run(0.1, 1e-3)  # "long" on a terminal: a bar
    assert len(fake_tqdm.made) == 1
    monkeypatch.setattr(sys, "stderr", io.StringIO())  # not a terminal: no bar
    qif.run(0.1, 1e-3)
    assert len(fake_tqdm.made) == 1
    qif.run(0.1, 1e-3, progress=False)
    assert len(fake_tqdm.made) == 1
    # the expected run time counts too
    s = qif_network(W3)
    system = build_system(s, vectorize=False)
    assert simulate._expected_seconds(system, "rk4", 10**7) > simulate.PROGRESS_MIN_SECONDS
    assert simulate._expected_seconds(system, "euler", 1000) < simulate.PROGRESS_MIN_SECONDS


def test_automatic_progress_without_tqdm_is_silent(no_tqdm, monkeypatch) -> None:
    qif = CircuitTemplate.from_yaml(QIF)
    monkeypatch.setattr(sys, "stderr", Terminal())
    monkeypatch.setattr(simulate, "PROGRESS_MIN_STEPS", 50)
    df = qif.run(0.1, 1e-3)
    assert len(df) == 100 and sys.stderr.getvalue() == ""


def test_problem_default_is_no_bar() -> None:
    p = Problem(np.zeros(1), [], 0.0, 1.0, 0.1, 0.1, 10)
    assert p.progress is False
    bar = p.progress_bar()
    assert not bar.enabled
    bar(0.5)
    bar.restart()
    bar.close()
