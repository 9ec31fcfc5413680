"""The backend kit a plugin is written with: hooks, solver families, the emit context, the
wrapping of generated modules, the shared printing rules (subscripts, float literals)."""

from __future__ import annotations

import math
import sys
import warnings
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import sympy
from sympy.printing.pycode import PythonCodePrinter

import rates_core.builtins as rb
from rates_core.backend import EmitOptions
from rates_core.codegen import RatesPrinter
from rates_core.codegen.modules import export_only, python_function
from rates_core.codegen.printer import float_literal
from rates_core.errors import BackendUnavailableError
from rates_core.frontend.templates import CircuitTemplate, NodeTemplate, OperatorTemplate
from rates_core.plugins import (
    BackendInfo,
    EmitContext,
    PluginHost,
    RatesPluginWarning,
    SolverInfo,
    backend_hooks,
    hookimpl,
    solver_family,
)
from rates_core.system import build_system

_PROBE = """
def emit(system, context):
    return ("emitted", system, context.options.func_name, dict(context.builtins))


def run(solver, function, problem):
    return ("solved", solver, function, problem)
"""


def _decay_system():
    op = OperatorTemplate(
        name="op", equations=["x' = -k*x"], variables={"x": "output(1.0)", "k": 2.0}
    )
    return build_system(
        CircuitTemplate(name="kit", nodes={"n": NodeTemplate(name="n", operators=[op])})
    )


def test_backend_hooks_import_the_plugin_modules_on_first_call(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "kit_probe_backend.py").write_text(_PROBE)
    monkeypatch.syspath_prepend(str(tmp_path))
    emit_function, solve = backend_hooks("kit_probe_backend:emit", "kit_probe_backend:run")
    plugin = SimpleNamespace(
        register_backends=hookimpl(lambda: [BackendInfo("probe", {"execute"})]),
        register_solvers=hookimpl(lambda: [SolverInfo("probe_euler", "probe", adaptive=False)]),
        register_builtins=hookimpl(lambda backend: {"twice": "2*"}),
        emit_function=emit_function,
        solve=solve,
    )
    host = PluginHost()
    with warnings.catch_warnings():
        warnings.simplefilter("error", RatesPluginWarning)
        assert host.register(plugin, "probe", "rates-probe", "1.0") is not None
    assert "kit_probe_backend" not in sys.modules  # loading the plugin imported nothing heavy
    emitted = host.emit_function("probe", "S", EmitOptions(func_name="f"))
    assert emitted == ("emitted", "S", "f", {"twice": "2*"})  # the host's context, passed on
    assert host.solve("probe_euler", "F", "P") == ("solved", "probe_euler", "F", "P")
    with pytest.raises(ValueError, match="package.module:function"):
        backend_hooks("no colon", "kit_probe_backend:run")


def test_solver_family_shares_step_kind_and_capabilities() -> None:
    family = solver_family(
        "foo", {"foo_euler": "order 1", "foo_rk4": "order 4"}, adaptive=False, capabilities={"dde"}
    )
    assert [(s.name, s.method, s.description) for s in family] == [
        ("foo_euler", "euler", "order 1"),
        ("foo_rk4", "rk4", "order 4"),
    ]
    assert all(s.capabilities == {"dde"} and not s.adaptive and not s.any_backend for s in family)
    with pytest.raises(TypeError, match="collection of names"):
        solver_family("foo", {"foo_rk4": ""}, adaptive=False, capabilities="dde")


def test_emit_context_defaults_for_direct_calls() -> None:
    context = EmitContext()
    assert context.builtins == {} and context.imports == () and context.options == EmitOptions()
    assert EmitContext(imports=("import math",)).imports == ("import math",)
    none: Any = None  # the host may be given None for the default options
    assert EmitContext(options=none).options == EmitOptions()


def test_python_function_wraps_the_generated_module() -> None:
    system = _decay_system()
    source = (
        "def f(t, y, dy, k):\n    dy[0] = -k * y[0]\n    return dy\n\n\n"
        "def f_functional(t, y, k):\n    return f(t, y, [0.0], k)\n"
    )
    options = EmitOptions(func_name="f")
    emitted = python_function(system, source, "kitprobe", "1.0", options)
    assert emitted.backend == "kitprobe" and emitted.source == source
    assert emitted.rhs(0.0, [3.0], [0.0], 2.0) == [-6.0]
    assert emitted.rhs_functional(0.0, [1.0], 2.0) == [-2.0]
    assert emitted.extras["options"] is options and emitted.extras["delayed"] == []
    assert emitted.extras["module"].f is emitted.rhs
    assert emitted.path is not None and emitted.path.is_file()


def test_export_only_function_is_a_clear_error_when_called() -> None:
    system = _decay_system()
    emitted = export_only(system, "source", "kitprobe", {"kit.f90": "source"}, layout=1)
    assert emitted.extras == {"files": {"kit.f90": "source"}, "layout": 1}
    for fn in (emitted.rhs, emitted.rhs_functional):
        with pytest.raises(BackendUnavailableError, match="'kit'.*generated for export"):
            fn(0.0, [1.0])


def test_float_literal_reads_back_and_names_the_special_values() -> None:
    texts = ("NaN", "Inf", "-Inf")
    assert [float_literal(v, *texts) for v in (math.nan, math.inf, -math.inf)] == list(texts)
    for value in (0.1, 1.0, -2.5e-300, 1 / 3):
        assert float(float_literal(value, *texts)) == value


class _OneBased(RatesPrinter, PythonCodePrinter):
    """A 1-based language subscripting with parentheses, written with the kit's hooks only."""

    backend = "onebased"
    language = "OneBased"
    brackets = "()"

    def __init__(self) -> None:
        super().__init__({"strict": True})
        self._init_rates(None)

    def _index(self, expr: sympy.Expr) -> str:
        return str(int(expr) + 1) if expr.is_Number else f"{self._print(expr)} + 1"

    def _range_stop(self, stop: sympy.Expr) -> str:
        return self._print(stop)


def test_subscripts_are_printed_once_for_every_language() -> None:
    x, m, i = sympy.symbols("x m i")
    p = _OneBased()
    assert p.doprint(rb.Index(x, 2)) == "x(3)"
    assert p.doprint(rb.Index(m, 0, i)) == "m(1, i + 1)"
    assert p.doprint(rb.IndexRange(x, 1, 3)) == "x(2:3)"
    assert p.doprint(rb.IndexAxis(m, 0, 1)) == "m(:, 1)"
    assert p.doprint(rb.IndexAxis(m, 0)) == "m(1)"
    assert p.doprint(rb.IndexAxis(m)) == "m"
    assert p.rates_builtins == {} and p.injected == {} and p.helpers == set()


def _loop(k0: int, k1: int, every: int, y: Any, out: Any, row0: int) -> None:
    """A stand-in for a compiled fixed-step loop: y += 1 per step; the state after step k
    goes to out[(k + 1) // every - row0] when every divides k + 1 and that row exists."""
    row = k0 // every - row0
    for k in range(k0, k1):
        y += 1.0
        if (k + 1) % every == 0:
            row += 1
            if row < len(out):
                out[row] = y


@pytest.mark.parametrize(
    ("n_steps", "every", "n_samples", "block_bytes"),
    [
        (100, 1, 100, 8 * 2 * 7),
        (100, 3, 34, 8 * 2 * 5),
        (101, 5, 20, 16),
        (7, 1, 1, 16),
        (60, 4, 15, 10**6),
    ],
)
def test_loop_samples_stream_the_rows_of_one_array(
    monkeypatch, n_steps, every, n_samples, block_bytes
):
    """With a sink, a chunked loop's samples reach it in consecutive blocks (row 0 y0 first;
    progress chunks cut inside blocks) that make up exactly the rows of the run without one,
    and the block held is at most ``SINK_BYTES`` (plus the row before it); the loop still
    runs every step."""
    import numpy as np

    from rates_core import backend

    monkeypatch.setattr(backend, "SINK_BYTES", block_bytes)
    y0 = np.array([0.0, 10.0])

    def run(sink: Any) -> tuple[Any, Any, dict, Any]:
        problem = SimpleNamespace(
            sink=sink,
            n_steps=n_steps,
            sample_every=every,
            n_samples=n_samples,
            t0=0.0,
            sampling_step=0.1 * every,
        )
        samples = backend.LoopSamples(problem, y0)
        y = y0.copy()
        for k0, k1, out, row0 in samples.chunks([13, 50, n_steps]):
            assert len(out) <= max(2, block_bytes // y0.nbytes + 1) or sink is None
            _loop(k0, k1, every, y, out, row0)
        return (*samples.finish(), y)

    times, states, info, final = run(None)
    assert info == {} and states.shape == (n_samples, 2) and final[0] == n_steps
    got_times, got_states = [], []

    def sink(t: Any, rows: Any) -> None:
        got_times.append(np.array(t))
        got_states.append(np.array(rows))

    none_times, none_states, streamed, final2 = run(sink)
    assert streamed == {"streamed": True} and len(none_times) == 0 and final2[0] == n_steps
    np.testing.assert_array_equal(np.concatenate(got_times), times)
    np.testing.assert_array_equal(np.concatenate(got_states), states)
