"""The source writer, unit noise and cache-then-load pieces of the backend kit."""

from __future__ import annotations

import sympy

from rates_core import builtins as rb
from rates_core.backend import EmitOptions
from rates_core.codegen.modules import cache_source, load_python_module
from rates_core.codegen.source import SourceWriter, unit_noise


def test_writer_indents_and_wraps():
    w = SourceWriter("  ", wrap=lambda line: [line[:6] + " &", "  & " + line[6:]])
    w("x = 1 + 2", 1)
    w()
    assert w.lines == ["  x =  &", "  & 1 + 2", ""]
    plain = SourceWriter()
    plain("return y", 2)
    assert plain.text() == "        return y\n"


def test_unit_noise_draws_one_sample_per_unit():
    x = sympy.Symbol("x")
    expr = x + rb.Randn()
    assert unit_noise(expr, 4) == x + rb.Randn(4)
    assert unit_noise(expr, 1) == expr and unit_noise(expr, None) == expr
    assert unit_noise(x + rb.Randn(3), 4) == x + rb.Randn(3)  # explicit shapes stay


def test_load_python_module_caches_copies_and_injects(tmp_path, monkeypatch):
    monkeypatch.setenv("RATES_CACHE_DIR", str(tmp_path / "cache"))
    copy = tmp_path / "copy.py"
    source = "def f(x):\n    return g_(x) + 1\n"
    module, path = load_python_module(
        source, "kit_test", "1.0", EmitOptions(file_name=str(copy)), {"g_": lambda x: 2 * x}
    )
    assert module.f(3) == 7
    assert module.__name__.startswith("rates_kit_test_generated_")
    assert path.read_text() == source and copy.read_text() == source
    jl = cache_source("x = 1\n", "kit_test", "1.0", EmitOptions(), ".jl")
    assert jl.suffix == ".jl" and jl.read_text() == "x = 1\n"
