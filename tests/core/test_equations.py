"""Tests of the restricted equation parser and the builtins registry."""

from __future__ import annotations

import math
import os
import types

import pytest
import sympy

from rates_core.builtins import (
    CONSTANTS,
    CORE_FUNCTIONS,
    FUNCTION_ARITY,
    RATES_FUNCTION_CLASSES,
    RESERVED_NAMES,
    TIME,
    Equal,
    Greater,
    GreaterEqual,
    Less,
    LessEqual,
    Maxi,
    Mini,
    NotEqual,
    Past,
    RatesFunction,
    Round,
    function_table,
    make_function,
)
from rates_core.equations import (
    ParsedEquation,
    check_variable_name,
    parse_equation,
    parse_expression,
    symbol,
)
from rates_core.errors import EquationError, ModelError

VARS = {
    "x": "float64",
    "v": "float64",
    "r": "float64",
    "r_in": "float64",
    "a": "float64",
    "b": "float64",
    "tau": "float64",
    "z": "complex128",
    "n": "int64",
    "f32": "float32",
}

x = symbol("x", "float64")
v = symbol("v", "float64")
r = symbol("r", "float64")
a = symbol("a", "float64")
b = symbol("b", "float64")
tau = symbol("tau", "float64")
z = symbol("z", "complex128")


def rhs(text: str, variables: dict[str, str] | None = None) -> sympy.Expr:
    return parse_expression(text, VARS if variables is None else variables)


def error_of(text: str, variables: dict[str, str] | None = None, **kwargs) -> EquationError:
    """The EquationError that parsing the equation ``text`` raises."""
    with pytest.raises(EquationError) as info:
        parse_equation(text, VARS if variables is None else variables, **kwargs)
    return info.value


def expr_error(text: str, variables: dict[str, str] | None = None) -> EquationError:
    """The EquationError that parsing the bare expression ``text`` raises."""
    with pytest.raises(EquationError) as info:
        parse_expression(text, VARS if variables is None else variables)
    return info.value


# --------------------------------------------------------------------------- left-hand sides


@pytest.mark.parametrize(
    ("text", "differential"),
    [
        ("x' = -x", True),
        ("x'=-x", True),
        ("  x '  =  -x", True),
        ("d/dt * x = -x", True),
        ("d/dt*x = -x", True),
        ("d / dt  *  x = -x", True),
        ("dx/dt = -x", True),
        ("dx / dt = -x", True),
        ("x = -x", False),
        ("  x=-x", False),
    ],
)
def test_lhs_forms(text: str, differential: bool) -> None:
    eq = parse_equation(text, VARS)
    assert eq == ParsedEquation(lhs="x", differential=differential, rhs=-x, text=text)


def test_dx_dt_needs_declared_variable() -> None:
    err = error_of("dq/dt = 1", {"dq": "float64"})
    assert "unknown variable 'q'" in str(err)
    assert err.position == 1


def test_variable_named_like_derivative_is_algebraic() -> None:
    eq = parse_equation("dx = 2*x", {"dx": "float64", "x": "float64"})
    assert eq.lhs == "dx" and not eq.differential


def test_lhs_errors() -> None:
    err = error_of("q' = 1")
    assert "unknown variable 'q'" in str(err) and err.position == 0 and err.variable == "q"
    err = error_of("d/dt * q = 1")
    assert "unknown variable 'q'" in str(err) and err.position == 7
    err = error_of("2*x = 1")
    assert "invalid left-hand side" in str(err)
    err = error_of("= x")
    assert "left-hand side is empty" in str(err)
    err = error_of("x' = ")
    assert "right-hand side is empty" in str(err)


def test_reserved_lhs() -> None:
    err = error_of("t = 1", {"t": "float64"})
    assert "'t' is reserved" in str(err) and "time" in str(err)
    err = error_of("sin' = 1", {"sin": "float64"})
    assert "'sin' is reserved" in str(err)


@pytest.mark.parametrize("text", ["x' = 1 = 2", "x = a = b", "x' = (a) = 1"])
def test_more_than_one_assignment(text: str) -> None:
    err = error_of(text)
    assert "more than one assignment '='" in str(err)
    assert err.position == text.index("=", text.index("=") + 1)


def test_no_assignment() -> None:
    with pytest.raises(EquationError, match="needs one '='"):
        parse_equation("x == 1", VARS)


def test_comparison_operators_are_not_assignments() -> None:
    eq = parse_equation("x' = (a == b) + (a <= b) + (a >= b) + (a != b)", VARS)
    assert eq.rhs == Equal(a, b) + LessEqual(a, b) + GreaterEqual(a, b) + NotEqual(a, b)


def test_error_context() -> None:
    err = error_of("x' = q", file="m.yaml", template="op")
    assert (err.file, err.template, err.variable) == ("m.yaml", "op", "x")
    assert err.equation == "x' = q"
    assert "m.yaml" in str(err) and "'op'" in str(err)


# --------------------------------------------------------------------------- right-hand sides


def test_arithmetic() -> None:
    assert rhs("a + b - x * v / r") == a + b - x * v / r
    assert rhs("-x") == -x
    assert rhs("+x") == x
    assert rhs("(a + b) * 2") == 2 * (a + b)


@pytest.mark.parametrize("op", ["^", "**"])
def test_power(op: str) -> None:
    assert rhs(f"x{op}2") == x**2
    assert rhs(f"a + x{op}2") == a + x**2  # power binds tighter than +
    assert rhs(f"-x{op}2") == -(x**2)
    assert rhs(f"2{op}3{op}2") == 512  # right-associative
    assert rhs(f"x{op}-1") == 1 / x


def test_power_positions_after_caret() -> None:
    err = error_of("x' = a^2 + q")
    assert err.position == 11


def test_numbers() -> None:
    assert rhs("2") == sympy.Integer(2) and isinstance(rhs("2"), sympy.Integer)
    tenth = rhs("0.1")
    assert isinstance(tenth, sympy.Float) and float(tenth) == 0.1
    assert tenth._prec == 53
    assert rhs("1e-3") == sympy.Float(1e-3)
    assert rhs("1_000") == 1000


def test_complex_literal() -> None:
    assert rhs("2j") == 2 * sympy.I
    assert rhs("1 + 2j") == 1 + 2 * sympy.I
    assert rhs("0.5j") == sympy.Float(0.5) * sympy.I
    assert complex(rhs("2j * z").subs(z, 1)) == 2j


def test_constants_and_time() -> None:
    assert rhs("pi") is sympy.pi
    assert rhs("E") is sympy.E
    assert rhs("I") is sympy.I
    assert rhs("t") == TIME
    assert rhs("t") == sympy.Symbol("t", real=True)
    assert complex(rhs("E^(I*pi)")) == -1
    assert dict(CONSTANTS) == {"pi": sympy.pi, "E": sympy.E, "I": sympy.I}


def test_constants_cannot_be_variables() -> None:
    err = error_of("x' = pi", {"x": "float64", "pi": "float64"})
    assert "'pi' is reserved" in str(err)


def test_symbol_assumptions() -> None:
    assert rhs("x").is_real is True
    assert rhs("n").is_real is True
    assert rhs("f32").is_real is True
    assert rhs("z").is_real is None
    assert rhs("z") == sympy.Symbol("z")
    assert rhs("x") == sympy.Symbol("x", real=True)
    assert symbol("q", "complex64") == sympy.Symbol("q")
    assert symbol("q", "float64") != symbol("q", "complex128")
    assert symbol("q", "float32") == symbol("q", "float64")


@pytest.mark.parametrize(
    ("text", "cls", "truth"),
    [
        ("a > b", Greater, [0.0, 0.0, 1.0]),
        ("a >= b", GreaterEqual, [0.0, 1.0, 1.0]),
        ("a < b", Less, [1.0, 0.0, 0.0]),
        ("a <= b", LessEqual, [1.0, 1.0, 0.0]),
        ("a == b", Equal, [0.0, 1.0, 0.0]),
        ("a != b", NotEqual, [1.0, 0.0, 1.0]),
    ],
)
def test_comparisons(text: str, cls: type, truth: list[float]) -> None:
    expr = rhs(text)
    assert expr == cls(a, b)
    assert cls.rates_name in CORE_FUNCTIONS and CORE_FUNCTIONS[cls.rates_name] is cls
    got = [expr.subs({a: av, b: 1.0}) for av in (0.5, 1.0, 2.0)]
    assert got == truth
    assert all(isinstance(g, sympy.Float) for g in got)
    assert rhs(f"{cls.rates_name}(a, b)") == expr
    assert expr.diff(a) == 0 and expr.diff(b) == 0
    assert expr.is_real


def test_comparison_numeric_and_complex() -> None:
    assert rhs("x > 0.5").subs(x, 0.7) == 1.0
    assert rhs("pi > 3") == 1.0
    assert rhs("z == 1j").subs(z, sympy.I) == 1.0
    assert rhs("(x > 0) * 2").subs(x, 1) == 2.0


def test_numeric_comparisons_follow_float64() -> None:
    assert rhs("0.1 > 1/10") == 0.0  # float64: 0.1 and 1/10 are the same number
    assert rhs("0.1 == 1/10") == 1.0
    assert rhs("1/3 < 1/2") == 1.0
    assert rhs("maxi(0.1, 1/10)") == sympy.Float(0.1)
    assert rhs("2 == 2.0") == 1.0


def test_chained_comparison_rejected() -> None:
    err = expr_error("a < b < x")
    assert "chained comparisons" in str(err)


@pytest.mark.parametrize("text", ["a is b", "a in b", "a is not b", "a not in b"])
def test_identity_membership_rejected(text: str) -> None:
    assert "only the comparisons" in str(expr_error(text))


# --------------------------------------------------------------------------- functions


@pytest.mark.parametrize(
    ("name", "fn"),
    [
        ("sin", sympy.sin),
        ("cos", sympy.cos),
        ("tan", sympy.tan),
        ("sinh", sympy.sinh),
        ("cosh", sympy.cosh),
        ("tanh", sympy.tanh),
        ("arcsin", sympy.asin),
        ("arccos", sympy.acos),
        ("arctan", sympy.atan),
        ("exp", sympy.exp),
        ("log", sympy.log),
        ("sqrt", sympy.sqrt),
        ("abs", sympy.Abs),
        ("absv", sympy.Abs),
        ("sign", sympy.sign),
        ("real", sympy.re),
        ("imag", sympy.im),
        ("conj", sympy.conjugate),
    ],
)
def test_math_functions(name: str, fn) -> None:
    assert rhs(f"{name}(z)") == fn(z)
    err = expr_error(f"{name}(x, v)")
    assert f"{name}() takes 1 argument, got 2" in str(err)
    assert "got 0" in str(expr_error(f"{name}()"))


def test_real_imag_conj_of_real_symbol() -> None:
    assert rhs("real(x)") == x
    assert rhs("imag(x)") == 0
    assert rhs("conj(x)") == x


def test_sigmoid_expands() -> None:
    expr = rhs("sigmoid(x)")
    assert expr == 1 / (1 + sympy.exp(-x))
    for xv in (-2.0, 0.0, 3.5):
        assert math.isclose(float(expr.subs(x, xv)), 1 / (1 + math.exp(-xv)))


def test_maxi_mini() -> None:
    assert rhs("maxi(x, v)") == Maxi(x, v)
    assert rhs("mini(x, v)") == Mini(x, v)
    assert rhs("maxi(x)") == Maxi(x)
    assert rhs("mini(x)") == Mini(x)
    assert rhs("maxi(2, 3.5)") == 3.5
    assert rhs("mini(2, 3.5)") == 2
    assert rhs("maxi(x, v)").subs({x: 1, v: 4}) == 4
    assert rhs("mini(x, v)").subs({x: 1, v: 4}) == 1
    assert rhs("maxi(3)") == 3
    assert "1 to 2 arguments, got 3" in str(expr_error("maxi(x, v, r)"))
    assert "got 0" in str(expr_error("mini()"))


def test_real_assumptions_propagate() -> None:
    assert rhs("maxi(x, v)").is_real is True
    assert rhs("maxi(x, z)").is_real is None
    assert rhs("round(x)").is_real is True
    assert rhs("x(t - tau)").is_real is True
    assert rhs("z(t - tau)").is_real is None
    assert rhs("z > x").is_real is True


def test_maxi_mini_derivatives() -> None:
    assert Maxi(x, v).diff(x) == Greater(x, v)
    assert Maxi(x, v).diff(v) == 1 - Greater(x, v)
    assert Mini(x, v).diff(x) == Less(x, v)
    assert Mini(x, v).diff(v) == 1 - Less(x, v)
    d = rhs("maxi(x^2, 1)").diff(x)
    assert d == 2 * x * Greater(x**2, 1)
    assert float(d.subs(x, 2)) == 4.0 and float(d.subs(x, 0.5)) == 0.0


def test_round() -> None:
    assert rhs("round(x)") == Round(x)
    assert rhs("round(2.5)") == 2.0  # half to even, like numpy
    assert rhs("round(3.5)") == 4.0
    assert rhs("round(-1.2)") == -1.0
    assert Round(x).diff(x) == 0
    assert rhs("round(x^2)").diff(x) == 0


def test_vector_functions() -> None:
    for name, args in [
        ("vsum", "x"),
        ("mean", "x"),
        ("matmul", "a, b"),
        ("matvec", "a, x"),
        ("index", "x, 1"),
        ("index_range", "x, 0, 2"),
        ("index_axis", "x"),
        ("index_axis", "x, 1, 0"),
        ("interp", "x, a, b"),
        ("concatenate", "x, a, b"),
        ("randn", ""),
        ("randn", "2, 3"),
    ]:
        expr = rhs(f"{name}({args})")
        assert type(expr) is RATES_FUNCTION_CLASSES[name]
        assert type(expr).rates_name == name
    assert "takes 2 arguments, got 1" in str(expr_error("matvec(x)"))
    assert "at least 1 argument" in str(expr_error("concatenate()"))


def test_past_and_delay_shorthand() -> None:
    assert rhs("past(x, tau)") == Past(x, tau)
    assert rhs("x(t - tau)") == Past(x, tau)
    assert rhs("x(t-2.5)") == Past(x, sympy.Float(2.5))
    assert rhs("x(t)") == x
    assert rhs("x(t - 0)") == x
    assert rhs("past(x + v, 1)") == Past(x, 1) + Past(v, 1)
    assert rhs("past(x(t - 1), 2)") == Past(x, 3)
    assert rhs("past(sin(t), 1)") == sympy.sin(TIME - 1)
    assert rhs("past(x, tau)").diff(x) == 0
    assert "takes 2 arguments, got 1" in str(expr_error("past(x)"))
    assert "must not be negative" in str(expr_error("past(x, -1)"))


@pytest.mark.parametrize("text", ["x(t + 1)", "x(tau)", "x(1)", "x(t - 1, 2)", "x()", "x(1 - t)"])
def test_bad_delay_shorthand(text: str) -> None:
    err = expr_error(text)
    assert "can only be called as x(t) or x(t - tau)" in str(err)


def test_unknown_function_and_variable() -> None:
    err = error_of("x' = foo(x)")
    assert "unknown function 'foo'" in str(err) and err.position == 5
    err = error_of("x' = 2*q + 1")
    assert "unknown variable 'q'" in str(err) and err.position == 7
    assert "did you mean 'r_in'" in str(expr_error("r_inn"))
    assert "did you mean 'sin'" in str(expr_error("sinn(x)"))


def test_function_as_value_and_constant_as_function() -> None:
    assert "must be called" in str(expr_error("sin + 1"))
    assert "is not a function" in str(expr_error("pi(2)"))
    assert "is not a function" in str(expr_error("t(2)"))


def test_reserved_state_names_in_rhs() -> None:
    assert "'y' is reserved" in str(expr_error("y + 1"))
    assert "'dy' is reserved" in str(expr_error("dy + 1"))


def test_variable_shadowing_function_is_ambiguous() -> None:
    assert "both a variable and a function" in str(
        expr_error("sin(x)", {"sin": "float64", "x": ""})
    )


def test_plugin_functions() -> None:
    table = function_table(["heaviside2", "sin"])
    assert table["sin"] is sympy.sin
    expr = parse_expression("heaviside2(x, 1, 2)", VARS, functions=table)
    assert expr.func.rates_name == "heaviside2"
    assert expr.func == make_function("heaviside2")
    assert "unknown function 'heaviside2'" in str(expr_error("heaviside2(x)"))
    with pytest.raises(ValueError):
        make_function("__evil__")
    with pytest.raises(ValueError):
        make_function("not valid")
    with pytest.raises(ValueError):
        make_function("pi")


# --------------------------------------------------------------------------- rejections


PWNED = "/tmp/rates_pwned"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("__import__('os').system('touch /tmp/rates_pwned')", "apostrophe"),
        ('__import__("os").system("touch /tmp/rates_pwned")', "string literals"),
        ("__import__(x)", "dunder names are not allowed"),
        ("__builtins__", "dunder names are not allowed"),
        ("().__class__", "attribute access is not allowed"),
        ("x.__class__", "attribute access is not allowed"),
        ("open('x')", "apostrophe"),
        ("open(x)", "unknown function 'open'"),
        ("eval(x)", "unknown function 'eval'"),
        ("lambda: 1", "lambda expressions are not allowed"),
        ("x.real", "attribute access is not allowed"),
        ("sin.__call__(x)", "attribute access is not allowed"),
        ("a[0]", "subscripts"),
        ("'str'", "apostrophe"),
        ('"str"', "string literals are not allowed"),
        ("f(x=1)", "keyword arguments are not allowed"),
        ("sin(x=1)", "keyword arguments are not allowed"),
        ("sin(*x)", "starred expressions are not allowed"),
        ("(lambda: 1)()", "only named functions can be called"),
        ("x if a else b", "conditional expressions"),
        ("a and b", "boolean operators"),
        ("not a", "'not' is not allowed"),
        ("~a", "'~' is not allowed"),
        ("{1: 2}", "dict literals"),
        ("{1}", "set literals"),
        ("[1, 2]", "list literals"),
        ("(1, 2)", "tuples are not allowed"),
        ("[i for i in x]", "comprehensions"),
        ("(i for i in x)", "generator expressions"),
        ("(b := 1)", "assignment expressions"),
        ("a // b", "'//' is not allowed"),
        ("a % b", "'%' is not allowed"),
        ("a @ b", "'@' is not allowed"),
        ("a << b", "'<<' is not allowed"),
        ("a | b", "'|' is not allowed"),
        ("a & b", "'&' is not allowed"),
        ("True", "boolean literals"),
        ("None", "the literal None is not allowed"),
        ("...", "the literal Ellipsis is not allowed"),
        ("b'x'", "apostrophe"),
        ("x # comment", "comments"),
        ("1e999", "too large for float64"),
        ("9**9**9**9", "outside the float64 range"),
        ("2^-5000", "outside the float64 range"),
        ("1/0", "division by zero"),
        ("x/0", "division by zero"),
        ("τ + 1", "non-ASCII character"),
        ("x\x00", "control character"),
        ("x; import os", "syntax error"),
        ("import os", "syntax error"),
    ],
)
def test_rejections(text: str, message: str) -> None:
    with pytest.raises(EquationError) as info:
        parse_expression(text, VARS)
    assert message in str(info.value)
    with pytest.raises(EquationError) as info:
        parse_equation(f"x' = {text}", VARS)
    assert message in str(info.value)
    assert not os.path.exists(PWNED)


def test_rejection_positions() -> None:
    assert error_of("x' = ().__class__").position == 7  # the '.'
    assert error_of("x' = x.real").position == 6
    assert error_of("x' = a[0]").position == 6  # the '['
    assert error_of("x' = f(x=1)").position == 7  # the keyword
    assert error_of("x' = 1 + lambda: 1").position == 9
    assert error_of("x' = a  %  b").position == 8
    assert error_of("x' = __import__(x)").position == 5
    assert error_of("x' = 'a'").position == 5
    assert error_of("x' = a + τ").position == 9


def test_never_reaches_eval(monkeypatch: pytest.MonkeyPatch) -> None:
    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("user text reached a code-executing function")

    import builtins as py_builtins

    monkeypatch.setattr(py_builtins, "eval", forbidden)
    monkeypatch.setattr(py_builtins, "exec", forbidden)
    monkeypatch.setattr(sympy, "sympify", forbidden)
    monkeypatch.setattr(sympy, "parse_expr", forbidden)
    eq = parse_equation("x' = -x + sigmoid(a)^2 + maxi(x, v) * (x > 1) + x(t - tau)", VARS)
    assert eq.differential
    with pytest.raises(EquationError):
        parse_equation("x' = __import__(x).system(x)", VARS)


def test_parser_source_has_no_code_execution() -> None:
    """Static guard: the parser never calls anything that could run or parse user text as code."""
    import ast as py_ast
    import inspect

    from rates_core import builtins as builtins_module
    from rates_core import equations as equations_module

    banned = {"eval", "exec", "compile", "sympify", "parse_expr", "__import__", "S"}
    for module in (equations_module, builtins_module):
        tree = py_ast.parse(inspect.getsource(module))
        for node in py_ast.walk(tree):
            if not isinstance(node, py_ast.Call):
                continue
            func = node.func
            if isinstance(func, py_ast.Attribute) and isinstance(func.value, py_ast.Name):
                if func.value.id == "re":  # re.compile of the module's own patterns
                    continue
            name = func.id if isinstance(func, py_ast.Name) else getattr(func, "attr", "")
            assert name not in banned, f"{module.__name__} calls {name}"
            if name in {"getattr", "setattr", "hasattr"}:
                assert isinstance(node.args[1], py_ast.Constant), "getattr on a computed name"


@pytest.mark.parametrize(
    ("text", "position"),
    [
        ("x' = (a + b", 5),
        ("x' = sin(a", 8),
        ("x' = a + * b", 9),
        ("x' = a)", 6),
    ],
)
def test_syntax_errors(text: str, position: int) -> None:
    err = error_of(text)
    assert "syntax error" in str(err)
    assert err.position == position
    assert err.variable == "x"


def test_deep_nesting_is_an_error_not_a_crash() -> None:
    with pytest.raises(EquationError):
        parse_expression("(" * 300 + "x" + ")" * 300, VARS)
    with pytest.raises(EquationError):
        parse_expression("-" * 5000 + "x", VARS)


def test_long_sums_and_depth_limit() -> None:
    assert parse_expression("+".join(["x"] * 1500), VARS) == 1500 * x
    assert parse_expression("sin(" * 90 + "x" + ")" * 90, VARS).has(sympy.sin)
    assert "more than 100 levels" in str(expr_error("sin(" * 120 + "x" + ")" * 120))


def test_multiline_equation() -> None:
    assert parse_equation("x' = (a +\n     b)", VARS).rhs == a + b


def test_sympy_failure_becomes_equation_error() -> None:
    def broken(arg: sympy.Expr) -> sympy.Expr:
        raise TypeError("boom")

    table = {**CORE_FUNCTIONS, "broken": broken}
    err = error_of("x' = broken(x)", functions=table)
    assert "cannot build broken(...): boom" in str(err)
    err = error_of("x' = notexpr(x)", functions={"notexpr": lambda arg: "a string"})
    assert "does not give a number" in str(err)


# --------------------------------------------------------------------------- names and registry


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("t", "'t' is reserved (time)"),
        ("y", "'y' is reserved"),
        ("dy", "'dy' is reserved"),
        ("pi", "'pi' is reserved"),
        ("E", "'E' is reserved"),
        ("I", "'I' is reserved"),
        ("sin", "'sin' is reserved"),
        ("greater", "'greater' is reserved"),
        ("past", "'past' is reserved"),
        ("lambda", "Python keyword"),
        ("None", "Python keyword"),
        ("__x", "dunder names"),
        ("1x", "not a valid variable name"),
        ("a-b", "not a valid variable name"),
        ("", "not a valid variable name"),
        ("τ", "not a valid variable name"),
    ],
)
def test_check_variable_name(name: str, message: str) -> None:
    with pytest.raises(ModelError) as info:
        check_variable_name(name, file="f.yaml", template="op")
    err = info.value
    assert message in str(err)
    assert (err.file, err.template, err.variable) == ("f.yaml", "op", name)
    assert "template 'op'" in str(err)


def test_check_variable_name_accepts() -> None:
    for name in ("x", "r_in", "dx", "tau_2", "_private", "T", "e", "i"):
        check_variable_name(name)
    with pytest.raises(ModelError, match="reserved"):
        check_variable_name("heaviside2", extra_reserved=["heaviside2"])


def test_registry_shapes() -> None:
    assert isinstance(CORE_FUNCTIONS, types.MappingProxyType)
    assert isinstance(RATES_FUNCTION_CLASSES, types.MappingProxyType)
    documented = [
        "sin",
        "cos",
        "tan",
        "sinh",
        "cosh",
        "tanh",
        "arcsin",
        "arccos",
        "arctan",
        "exp",
        "log",
        "sqrt",
        "abs",
        "absv",
        "sign",
        "round",
        "real",
        "imag",
        "conj",
        "sigmoid",
        "maxi",
        "mini",
        "vsum",
        "mean",
        "matmul",
        "matvec",
        "index",
        "index_range",
        "index_axis",
        "interp",
        "concatenate",
        "randn",
        "xi",
        "past",
        "greater",
        "greater_equal",
        "less",
        "less_equal",
        "equal",
        "not_equal",
    ]
    assert set(CORE_FUNCTIONS) == set(documented)
    assert RESERVED_NAMES == frozenset({"y", "dy", "t", "pi", "E", "I", *documented})
    for name, cls in RATES_FUNCTION_CLASSES.items():
        assert cls.rates_name == name
        assert issubclass(cls, RatesFunction)
    assert set(FUNCTION_ARITY) == set(documented)
    assert function_table() == dict(CORE_FUNCTIONS)
    assert function_table() is not function_table()


def test_registered_builtin_names_the_backend_and_the_function():
    """The one rule the printers of every backend use for plugin-registered functions."""
    from rates_core.builtins import make_function, registered_builtin

    call = make_function("softplus")(sympy.Symbol("x"))
    assert registered_builtin(call, {"softplus": "sp"}, "fortran", "Fortran") == ("softplus", "sp")
    with pytest.raises(NotImplementedError, match="'softplus' has no Fortran .*fortran backend"):
        registered_builtin(call, {}, "fortran", "Fortran")
    with pytest.raises(NotImplementedError, match="Julia function .a string., not builtin"):
        registered_builtin(call, {"softplus": abs}, "julia", "Julia", strings_only=True)
    name, impl = registered_builtin(call, {"softplus": abs}, "numpy", "NumPy")
    assert impl is abs
