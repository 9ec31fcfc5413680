"""The Julia text of every equation-level builtin, printed on its own (exact strings)."""

from __future__ import annotations

import pytest
import sympy

from rates_core import builtins as rb
from rates_julia.printer import JuliaPrinter, julia_name

x, y, k = (sympy.Symbol(n, real=True) for n in ("x", "yv", "k"))
a, b = sympy.Symbol("a", real=True), sympy.Symbol("b", real=True)  # vectors of 5
W = sympy.Symbol("W", real=True)  # a 3 x 4 matrix
idx = sympy.Symbol("idx", real=True)  # an index parameter of 3 entries
z = sympy.Symbol("z")  # complex scalar

SHAPES = {"a": (5,), "b": (5,), "W": (3, 4), "idx": (3,)}

CASES = [
    # arithmetic: plain operators on scalars, broadcasting only where a vector is involved
    ("scalar-arithmetic", k * x * (1 - x / k), "k * x * (1 - x / k)"),
    ("scalar-power", x**2 * y - x**3, "-x^3 + x^2 * yv"),
    ("negative-power", x ** (-2), "x^(-2)"),
    ("reciprocal", 1 / (1 + sympy.exp(-x)), "1 / (1 + exp(-x))"),
    ("sqrt", sympy.sqrt(x), "sqrt(x)"),
    ("vector-arithmetic", a * b - a / k + 1, "a .* b .- a ./ k .+ 1"),
    ("vector-power", a**3 - a**2, "a .^ 3 .- a .^ 2"),
    ("vector-reciprocal", 1 / a, "1 ./ a"),
    ("vector-function", sympy.exp(-a), "exp.(-a)"),
    ("vector-sqrt", sympy.sqrt(a), "sqrt.(a)"),
    ("rational", sympy.Rational(1, 3) * x, "x / 3"),
    ("float-exact", sympy.Float(0.1) * x, "0.1 * x"),
    ("float-tiny", sympy.Float(1.5e-10) * x, "1.5e-10 * x"),
    ("constants", sympy.pi * x + sympy.E, "pi * x + MathConstants.e"),
    ("imaginary-unit", sympy.I * x + 2 * sympy.I, "im * x + 2 * im"),
    ("complex", sympy.Abs(z) ** 2 * z, "z * abs(z)^2"),
    # functions of MODEL_FORMAT.md
    ("sin", sympy.sin(x), "sin(x)"),
    ("arcsin", sympy.asin(x), "asin(x)"),
    ("arctan", sympy.atan(a), "atan.(a)"),
    ("abs", sympy.Abs(x), "abs(x)"),
    ("sign", sympy.sign(a), "sign.(a)"),
    ("real", sympy.re(z), "real(z)"),
    ("imag", sympy.im(z), "imag(z)"),
    ("conj", sympy.conjugate(z), "conj(z)"),
    ("round", rb.Round(x), "round(x)"),
    ("round-vector", rb.Round(a), "round.(a)"),
    # maxi / mini: two arguments elementwise (max / max.), one argument a reduction
    ("maxi-scalar", rb.Maxi(x, y), "max(x, yv)"),
    ("maxi-vector", rb.Maxi(a, b), "max.(a, b)"),
    ("maxi-vector-scalar", rb.Maxi(a, x), "max.(a, x)"),
    ("mini-vector", rb.Mini(a, b), "min.(a, b)"),
    ("maxi-reduce", rb.Maxi(a), "maximum(a)"),
    ("mini-reduce", rb.Mini(a), "minimum(a)"),
    # comparisons are 1.0 / 0.0
    ("greater", rb.Greater(x, y), "ifelse(x > yv, 1.0, 0.0)"),
    ("less-equal-vector", rb.LessEqual(a, b), "ifelse.(a .<= b, 1.0, 0.0)"),
    ("equal", rb.Equal(x, y), "ifelse(x == yv, 1.0, 0.0)"),
    ("not-equal-vector", rb.NotEqual(a, x), "ifelse.(a .!= x, 1.0, 0.0)"),
    # Piecewise: ifelse, never the ternary (which fails on vectors)
    ("piecewise", sympy.Piecewise((x, x > 0), (0, True)), "ifelse(x > 0, x, 0)"),
    ("piecewise-vector", sympy.Piecewise((a, a > 0), (0, True)), "ifelse.(a .> 0, a, 0)"),
    ("max", sympy.Max(x, y), "max(x, yv)"),
    # reductions and linear algebra
    ("vsum", rb.VSum(a), "sum(a)"),
    ("vsum-axis0", rb.VSum(W, 0), "vec(sum(W; dims = 1))"),
    ("mean", rb.Mean(a), "sum(a) / length(a)"),
    ("mean-axis1", rb.Mean(W, 1), "vec(sum(W; dims = 2)) ./ size(W, 2)"),
    ("matvec", rb.Matvec(W, a) + 1, "(W * a) .+ 1"),
    ("matmul", rb.Matmul(W, a), "(W * a)"),
    # indexing: 1-based
    ("index", rb.Index(a, 3), "a[4]"),
    ("index-first", rb.Index(a, 0), "a[1]"),
    ("index-last", rb.Index(a, -1), "a[end]"),
    ("index-from-end", rb.Index(a, -2), "a[end - 1]"),
    ("index-param", rb.Index(a, idx), "a[idx]"),
    ("index-matrix", rb.Index(W, 2, 1), "W[3, 2]"),
    ("index-range", rb.IndexRange(a, 1, 4), "a[2:4]"),
    ("index-axis-row", rb.IndexAxis(W, 1), "W[2, :]"),
    ("index-axis-column", rb.IndexAxis(W, 2, 1), "W[:, 3]"),
    ("index-axis-vector", rb.IndexAxis(a, 2), "a[3]"),
    # the rest
    ("interp-scalar", rb.Interp(x, a, b), "interp_linear(x, a, b)"),
    ("interp-vector", rb.Interp(a, b, b), "interp_linear.(a, Ref(b), Ref(b))"),
    ("concatenate", rb.Concatenate(a, b), "vcat(a, b)"),
    ("randn", rb.Randn(), "randn()"),
    ("randn-shape", rb.Randn(5), "randn(5)"),
    ("time", x * rb.TIME, "t * x"),
]


@pytest.mark.parametrize(("expr", "text"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_builtin_text(expr: sympy.Expr, text: str) -> None:
    assert JuliaPrinter(SHAPES).doprint(expr) == text


def test_shapes() -> None:
    p = JuliaPrinter(SHAPES)
    assert p.shape(x * a) == (5,)
    assert p.shape(rb.VSum(a)) == ()
    assert p.shape(rb.Matvec(W, a)) == (3,)
    assert p.shape(rb.Index(a, idx)) == (3,)
    assert p.shape(rb.Index(a, 2)) == ()
    assert p.shape(rb.IndexAxis(W, 1)) == (4,)
    assert p.shape(rb.Concatenate(a, b)) == (10,)


def test_statement_drops_outer_parentheses() -> None:
    assert JuliaPrinter(SHAPES).statement(rb.Matvec(W, a)) == "W * a"


def test_names() -> None:
    """Names that would shadow the arguments, keywords or functions the code uses get ``_``;
    entries of scalarised vectors become 1-based."""
    assert julia_name("h") == "h_"
    assert julia_name("J") == "J_"
    assert julia_name("end") == "end_"
    assert julia_name("im") == "im_"
    assert julia_name("tau") == "tau"
    assert julia_name("r[0]") == "r[1]"
    assert julia_name("p[3]") == "p_[4]"


def test_plugin_builtin_by_name() -> None:
    f = rb.make_function("erfx")
    p = JuliaPrinter(SHAPES, {"erfx": "SpecialFunctions.erfcx"})
    assert p.doprint(f(x)) == "SpecialFunctions.erfcx(x)"
    assert p.doprint(f(a)) == "SpecialFunctions.erfcx.(a)"


def test_plugin_builtin_missing_or_callable() -> None:
    f = rb.make_function("erfx")
    with pytest.raises(NotImplementedError, match="no Julia implementation"):
        JuliaPrinter(SHAPES).doprint(f(x))
    with pytest.raises(NotImplementedError, match="name of a Julia function"):
        JuliaPrinter(SHAPES, {"erfx": abs}).doprint(f(x))
