"""The restricted equation parser: equation text -> sympy expressions, never executing anything.

An equation's right-hand side is parsed with ``ast.parse(..., mode="eval")`` and converted node by
node against a whitelist (numbers, declared variable names, ``t``, ``pi``/``E``/``I``, arithmetic,
single comparisons, calls of registered functions and the delay shorthand ``x(t - tau)``). Every
other construct is an :class:`~rates_core.errors.EquationError` that names it and points at its
column. No user text ever reaches ``eval``, ``exec``, ``compile``, ``sympify`` or ``getattr``.
"""

from __future__ import annotations

import ast
import difflib
import keyword
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import sympy

from . import builtins
from .errors import EquationError, ModelError
from .frontend.names import MAX_NAME_LENGTH, is_valid_name
from .noise import noise_problem

__all__ = [
    "ParsedEquation",
    "check_variable_name",
    "parse_equation",
    "parse_expression",
    "symbol",
]

# Largest |log2| of a numeric power the parser will compute exactly (float64 covers ~ +-1075).
_MAX_POWER_BITS = 1100
# Deepest expression tree accepted: sympy's printers recurse a few frames per level.
MAX_DEPTH = 100

_ARITHMETIC = (ast.Add, ast.Sub, ast.Mult, ast.Div)

_IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
_LHS_PRIME = re.compile(rf"({_IDENT})\s*'", re.ASCII)
_LHS_DDT = re.compile(rf"d\s*/\s*dt\s*\*\s*({_IDENT})", re.ASCII)
_LHS_DXDT = re.compile(rf"d({_IDENT})\s*/\s*dt", re.ASCII)
_LHS_PLAIN = re.compile(_IDENT, re.ASCII)

_RESERVED_MEANING = {
    "y": "the state vector",
    "dy": "the state derivative vector",
    "t": "time",
    "pi": "the constant pi",
    "E": "Euler's number",
    "I": "the imaginary unit",
}

# Constructs outside the grammar, with the message naming them.
_FORBIDDEN_NODES: dict[type, str] = {
    ast.Attribute: "attribute access is not allowed",
    ast.Subscript: "subscripts (indexing with [...]) are not allowed; use index(x, i)",
    ast.Slice: "slices are not allowed; use index_range(x, start, stop)",
    ast.Lambda: "lambda expressions are not allowed",
    ast.IfExp: "conditional expressions (a if c else b) are not allowed",
    ast.BoolOp: "boolean operators 'and' / 'or' are not allowed",
    ast.Dict: "dict literals are not allowed",
    ast.Set: "set literals are not allowed",
    ast.List: "list literals are not allowed",
    ast.Tuple: "tuples are not allowed",
    ast.Starred: "starred expressions are not allowed",
    ast.JoinedStr: "f-strings are not allowed",
    ast.FormattedValue: "f-strings are not allowed",
    ast.NamedExpr: "assignment expressions (:=) are not allowed",
    ast.ListComp: "comprehensions are not allowed",
    ast.SetComp: "comprehensions are not allowed",
    ast.DictComp: "comprehensions are not allowed",
    ast.GeneratorExp: "generator expressions are not allowed",
    ast.Await: "'await' is not allowed",
    ast.Yield: "'yield' is not allowed",
    ast.YieldFrom: "'yield' is not allowed",
}

_BINARY_NAMES: dict[type, str] = {
    ast.FloorDiv: "//",
    ast.Mod: "%",
    ast.MatMult: "@",
    ast.LShift: "<<",
    ast.RShift: ">>",
    ast.BitOr: "|",
    ast.BitAnd: "&",
}

_COMPARISONS: dict[type, type[builtins.RatesFunction]] = {
    ast.Gt: builtins.Greater,
    ast.GtE: builtins.GreaterEqual,
    ast.Lt: builtins.Less,
    ast.LtE: builtins.LessEqual,
    ast.Eq: builtins.Equal,
    ast.NotEq: builtins.NotEqual,
}


@dataclass(frozen=True)
class ParsedEquation:
    """One parsed equation: ``lhs`` is defined by ``rhs``, as a derivative if ``differential``."""

    lhs: str
    differential: bool
    rhs: sympy.Expr
    text: str


def symbol(name: str, dtype: str) -> sympy.Symbol:
    """The sympy symbol of a variable: real unless its dtype is complex.

    Always build variable symbols here, so one name and dtype give equal symbols everywhere.
    """
    if str(dtype).startswith("complex"):
        return sympy.Symbol(name)
    return sympy.Symbol(name, real=True)


def check_variable_name(
    name: str,
    *,
    file: str | None = None,
    template: str | None = None,
    extra_reserved: Iterable[str] = (),
) -> None:
    """Raise ModelError unless ``name`` may name a variable.

    A variable name must be an ASCII identifier, not a Python keyword, not a dunder name and not
    reserved (``y``, ``dy``, ``t``, ``pi``, ``E``, ``I``, the function names, ``extra_reserved``,
    e.g. plugin-registered functions), so every equation and every backend can refer to it.
    """

    def fail(message: str) -> ModelError:
        return ModelError(message, file=file, template=template, variable=str(name))

    if not is_valid_name(name):
        raise fail(
            f"{name!r} is not a valid variable name (letters, digits and _ only, "
            f"at most {MAX_NAME_LENGTH} characters)"
        )
    if keyword.iskeyword(name):
        raise fail(f"{name!r} is a Python keyword and cannot name a variable")
    if name.startswith("__"):
        raise fail(f"dunder names are not allowed: {name!r}")
    if name in builtins.RESERVED_NAMES or name in set(extra_reserved):
        raise fail(f"{name!r} is reserved ({_meaning(name)}) and cannot name a variable")


def _meaning(name: str) -> str:
    return _RESERVED_MEANING.get(name, "a built-in function")


def parse_equation(
    text: str,
    variables: Mapping[str, str],
    *,
    functions: Mapping[str, Callable[..., sympy.Expr]] | None = None,
    file: str | None = None,
    template: str | None = None,
) -> ParsedEquation:
    """Parse ``x' = f``, ``d/dt * x = f``, ``dx/dt = f`` (differential) or ``a = g`` (algebraic).

    ``variables`` maps each declared variable to its dtype string; ``functions`` is the function
    table (default: the core functions). Raises EquationError on anything outside the grammar.
    """
    source = _Source(text, file=file, template=template)
    assignments = _assignment_positions(text)
    if not assignments:
        raise source.error("an equation needs one '=' (for example x' = -x)", None)
    if len(assignments) > 1:
        raise source.error("more than one assignment '='", assignments[1])
    eq = assignments[0]
    lhs_text = text[:eq].strip()
    if not lhs_text:
        raise source.error("the left-hand side is empty", 0)
    lhs_pos = len(text) - len(text.lstrip())
    name, differential = _parse_lhs(source, lhs_text, lhs_pos, variables)
    source.variable = name
    rhs = _parse_rhs(source, eq + 1, variables, functions)
    problem = noise_problem(rhs, differential)
    if problem:
        raise source.error(problem, _xi_position(text, eq + 1))
    return ParsedEquation(lhs=name, differential=differential, rhs=rhs, text=text)


def parse_expression(
    text: str,
    variables: Mapping[str, str],
    *,
    functions: Mapping[str, Callable[..., sympy.Expr]] | None = None,
    file: str | None = None,
    template: str | None = None,
) -> sympy.Expr:
    """Parse a bare expression (a right-hand side without ``lhs =``) into a sympy expression."""
    source = _Source(text, file=file, template=template)
    assignments = _assignment_positions(text)
    if assignments:
        raise source.error("'=' is not allowed in an expression", assignments[0])
    return _parse_rhs(source, 0, variables, functions)


# --------------------------------------------------------------------------- helpers


def _xi_position(text: str, start: int) -> int | None:
    """The column of the first ``xi(`` call in ``text`` after ``start``."""
    match = re.compile(r"\bxi\s*\(").search(text, start)
    return match.start() if match else None


class _Source:
    """The equation text and where its errors happened (file, template, variable)."""

    def __init__(self, text: str, *, file: str | None, template: str | None) -> None:
        if not isinstance(text, str):
            raise EquationError(
                f"an equation must be a string, got {type(text).__name__}",
                equation=repr(text),
                file=file,
                template=template,
            )
        self.text = text
        self.file = file
        self.template = template
        self.variable: str | None = None

    def error(self, message: str, position: int | None) -> EquationError:
        return EquationError(
            message,
            equation=self.text,
            position=position,
            file=self.file,
            template=self.template,
            variable=self.variable,
        )


def _assignment_positions(text: str) -> list[int]:
    """Columns of every assignment ``=`` outside brackets.

    An ``=`` that is part of ``==``, ``<=``, ``>=``, ``!=`` or ``:=`` is not an assignment, and
    one inside brackets (a keyword argument) is left for the parser to reject with a clear message.
    """
    positions = []
    depth = 0
    i = 0
    while i < len(text):
        ch = text[i]
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth = max(depth - 1, 0)
        elif ch == "=":
            if i + 1 < len(text) and text[i + 1] == "=":
                i += 2
                continue
            if depth == 0 and (i == 0 or text[i - 1] not in "<>!=:"):
                positions.append(i)
        i += 1
    return positions


def _parse_lhs(
    source: _Source, lhs: str, pos: int, variables: Mapping[str, str]
) -> tuple[str, bool]:
    """The defined variable and whether the equation is differential."""
    match = _LHS_PRIME.fullmatch(lhs) or _LHS_DDT.fullmatch(lhs)
    differential = match is not None
    if match is None:
        match = _LHS_DXDT.fullmatch(lhs)
        if match is not None:
            # dx/dt: the derivative of x (a variable named dx is not a derivative of anything).
            differential = True
        else:
            match = _LHS_PLAIN.fullmatch(lhs)
    if match is None:
        raise source.error(
            f"invalid left-hand side {lhs!r}; expected x', d/dt * x, dx/dt or a plain variable",
            pos,
        )
    name = match.group(1) if match.groups() else match.group(0)
    name_pos = pos + match.start(1 if match.groups() else 0)
    if name.startswith("__"):
        raise source.error(f"dunder names are not allowed: {name!r}", name_pos)
    if name in builtins.RESERVED_NAMES:
        raise source.error(
            f"{name!r} is reserved ({_meaning(name)}) and cannot be defined by an equation",
            name_pos,
        )
    if name not in variables:
        source.variable = name
        raise source.error(
            f"unknown variable {name!r} on the left-hand side{_suggest(name, variables)}",
            name_pos,
        )
    return name, differential


def _suggest(name: str, candidates: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(candidates), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _parse_rhs(
    source: _Source,
    start: int,
    variables: Mapping[str, str],
    functions: Mapping[str, Callable[..., sympy.Expr]] | None,
) -> sympy.Expr:
    """Parse ``source.text[start:]`` as an expression; positions refer to the full text."""
    text = source.text
    while start < len(text) and text[start].isspace():
        start += 1
    if start >= len(text):
        raise source.error("the right-hand side is empty", len(text))
    # Build the text handed to ast.parse, with a map from its columns back to the equation's.
    chars: list[str] = []
    columns: list[int] = []
    for i in range(start, len(text)):
        ch = text[i]
        if not ch.isascii():
            raise source.error(f"non-ASCII character {ch!r} (U+{ord(ch):04X}) is not allowed", i)
        if ch in "\t\n\r\f\v":
            ch = " "
        elif ord(ch) < 32 or ord(ch) == 127:
            raise source.error(f"control character {ch!r} is not allowed", i)
        elif ch == "'":
            raise source.error("an apostrophe (') is only allowed on the left-hand side", i)
        elif ch == '"':
            raise source.error("string literals are not allowed", i)
        elif ch == "#":
            raise source.error("comments (#) are not allowed in equations", i)
        elif ch == "^":
            # '^' is power, with the precedence of '**' (x^2 + 1 is x**2 + 1, -x^2 is -(x**2)).
            chars.append("**")
            columns.extend((i, i))
            continue
        chars.append(ch)
        columns.append(i)
    columns.append(len(text))
    converter = _Converter(
        source,
        columns,
        variables,
        builtins.CORE_FUNCTIONS if functions is None else functions,
    )
    src = "".join(chars)
    try:
        tree = ast.parse(src, mode="eval")
    except SyntaxError as exc:
        offset = (exc.offset or 1) - 1 if exc.lineno in (None, 1) else None
        raise converter.error(f"syntax error: {exc.msg}", offset) from None
    except (ValueError, RecursionError, MemoryError):
        raise source.error("the expression is too deeply nested or malformed", start) from None
    try:
        expr = converter.convert(tree)
    except RecursionError:
        raise source.error("the expression is too deeply nested", start) from None
    if expr.has(sympy.zoo, sympy.nan, sympy.oo, -sympy.oo):
        raise source.error("the expression is infinite or undefined (division by zero?)", start)
    if _depth(expr) > MAX_DEPTH:
        raise source.error(f"the expression is nested more than {MAX_DEPTH} levels deep", start)
    return expr


def _depth(expr: sympy.Basic) -> int:
    """Depth of an expression tree, computed without recursion."""
    deepest = 0
    stack = [(expr, 1)]
    while stack:
        node, level = stack.pop()
        deepest = max(deepest, level)
        stack.extend((arg, level + 1) for arg in node.args)
    return deepest


class _Converter:
    """Turns whitelisted ``ast`` nodes into sympy expressions; everything else is an error."""

    def __init__(
        self,
        source: _Source,
        columns: list[int],
        variables: Mapping[str, str],
        functions: Mapping[str, Callable[..., sympy.Expr]],
    ) -> None:
        self.source = source
        self.columns = columns
        self.variables = variables
        self.functions = functions
        # Dispatch on the node type itself: no getattr on anything derived from user text.
        # (each handler takes the node type it is keyed by, which a dict type cannot say)
        self.handlers: dict[type[ast.AST], Callable[[Any], sympy.Expr]] = {
            ast.Expression: self._expression,
            ast.Constant: self._constant,
            ast.Name: self._name,
            ast.UnaryOp: self._unary,
            ast.BinOp: self._binary,
            ast.Compare: self._compare,
            ast.Call: self._call,
        }

    # ------------------------------------------------------------------ errors and positions

    def error(self, message: str, src_col: int | None) -> EquationError:
        """An EquationError at column ``src_col`` of the parsed text (mapped to the equation)."""
        if src_col is None:
            return self.source.error(message, None)
        src_col = min(max(src_col, 0), len(self.columns) - 1)
        return self.source.error(message, self.columns[src_col])

    def node_error(self, message: str, node: ast.AST) -> EquationError:
        return self.error(message, getattr(node, "col_offset", None))

    def build(self, node: ast.AST, what: str, make: Callable[[], sympy.Expr]) -> sympy.Expr:
        """Run a sympy constructor, turning any sympy failure into an EquationError."""
        try:
            result = make()
        except EquationError:
            raise
        except RecursionError:
            raise
        except Exception as exc:  # noqa: BLE001 - sympy raises many types; none may leak
            raise self.node_error(f"cannot build {what}: {exc}", node) from None
        if not isinstance(result, sympy.Expr):
            raise self.node_error(f"{what} does not give a number", node)
        return result

    # ------------------------------------------------------------------ nodes

    def convert(self, node: ast.AST) -> sympy.Expr:
        handler = self.handlers.get(type(node))
        if handler is not None:
            return handler(node)
        if isinstance(node, ast.Attribute):
            raise self.error(_FORBIDDEN_NODES[ast.Attribute], node.value.end_col_offset)
        if isinstance(node, ast.Subscript):
            raise self.error(_FORBIDDEN_NODES[ast.Subscript], node.value.end_col_offset)
        message = _FORBIDDEN_NODES.get(type(node), f"{type(node).__name__} is not allowed")
        raise self.node_error(message, node)

    def _expression(self, node: ast.Expression) -> sympy.Expr:
        return self.convert(node.body)

    def _constant(self, node: ast.Constant) -> sympy.Expr:
        value = node.value
        if isinstance(value, bool):
            raise self.node_error("boolean literals (True/False) are not allowed", node)
        if isinstance(value, int):
            return sympy.Integer(value)
        if isinstance(value, float):
            if not math.isfinite(value):
                raise self.node_error("the number is too large for float64", node)
            return sympy.Float(value)
        if isinstance(value, complex):
            imag = value.imag
            if not math.isfinite(imag):
                raise self.node_error("the number is too large for float64", node)
            coefficient = sympy.Integer(int(imag)) if imag.is_integer() else sympy.Float(imag)
            return coefficient * sympy.I
        if isinstance(value, (str, bytes)):
            raise self.node_error("string literals are not allowed", node)
        raise self.node_error(f"the literal {value!r} is not allowed", node)

    def _name(self, node: ast.Name) -> sympy.Expr:
        name = node.id
        if name.startswith("__"):
            raise self.node_error(f"dunder names are not allowed: {name!r}", node)
        if name == builtins.TIME.name or name in builtins.CONSTANTS:
            if name in self.variables:
                raise self.node_error(
                    f"{name!r} is reserved ({_meaning(name)}) and cannot be a variable", node
                )
            if name == builtins.TIME.name:
                return builtins.TIME
            return builtins.CONSTANTS[name]
        if name in self.variables:
            if name in self.functions:
                raise self.node_error(f"{name!r} is both a variable and a function", node)
            return symbol(name, self.variables[name])
        if name in self.functions:
            raise self.node_error(
                f"the function {name!r} must be called, for example {name}(x)", node
            )
        if name in builtins.RESERVED_NAMES:
            raise self.node_error(
                f"{name!r} is reserved ({_meaning(name)}) and cannot be used in an equation",
                node,
            )
        raise self.node_error(f"unknown variable {name!r}{_suggest(name, self.variables)}", node)

    def _unary(self, node: ast.UnaryOp) -> sympy.Expr:
        if isinstance(node.op, ast.USub):
            operand = self.convert(node.operand)
            return self.build(node, "-x", lambda: -operand)
        if isinstance(node.op, ast.UAdd):
            return self.convert(node.operand)
        if isinstance(node.op, ast.Not):
            raise self.node_error("'not' is not allowed; use comparisons such as x == 0", node)
        raise self.node_error("the bitwise operator '~' is not allowed", node)

    def _binary(self, node: ast.BinOp) -> sympy.Expr:
        # Long sums and products are left-deep trees (a + b + c is (a + b) + c): walk the left
        # spine in a loop, so their length is not limited by the recursion depth.
        spine: list[ast.BinOp] = []
        current: ast.expr = node
        while isinstance(current, ast.BinOp) and isinstance(current.op, _ARITHMETIC):
            spine.append(current)
            current = current.left
        if not spine:
            return self._binary_one(node, self.convert(node.left))
        result = self.convert(current)
        for step in reversed(spine):
            result = self._binary_one(step, result)
        return result

    def _binary_one(self, node: ast.BinOp, left: sympy.Expr) -> sympy.Expr:
        """``left op right`` for one BinOp whose left operand is already converted."""
        op = node.op
        if type(op) in _BINARY_NAMES:
            symbol_text = _BINARY_NAMES[type(op)]
            raise self.error(
                f"the operator '{symbol_text}' is not allowed", self._operator_col(node)
            )
        right = self.convert(node.right)
        if isinstance(op, ast.Add):
            return self.build(node, "a sum", lambda: left + right)
        if isinstance(op, ast.Sub):
            return self.build(node, "a difference", lambda: left - right)
        if isinstance(op, ast.Mult):
            return self.build(node, "a product", lambda: left * right)
        if isinstance(op, ast.Div):
            return self.build(node, "a quotient", lambda: left / right)
        if isinstance(op, (ast.Pow, ast.BitXor)):
            self._check_power(node, left, right)
            return self.build(node, "a power", lambda: left**right)
        raise self.node_error(f"the operator {type(op).__name__} is not allowed", node)

    def _operator_col(self, node: ast.BinOp) -> int:
        """Column of a binary operator: the first non-blank after the left operand."""
        col = node.left.end_col_offset or node.col_offset
        src_end = node.right.col_offset
        text = self.source.text
        while col < src_end and text[self.columns[col]] in " ()":
            col += 1
        return col

    def _check_power(self, node: ast.AST, base: sympy.Expr, exponent: sympy.Expr) -> None:
        """Refuse exact numeric powers beyond float64 (9**9**9 would hang sympy)."""
        if not (base.is_Rational and exponent.is_Rational) or base.is_zero:
            return
        if abs(base) == 1:
            return
        size = abs(math.log2(abs(base.p)) - math.log2(base.q))
        if abs(float(exponent)) * size > _MAX_POWER_BITS:
            raise self.node_error("the numeric power is outside the float64 range", node)

    def _compare(self, node: ast.Compare) -> sympy.Expr:
        if len(node.ops) > 1:
            raise self.node_error(
                "chained comparisons (a < b < c) are not allowed; multiply two comparisons", node
            )
        op = node.ops[0]
        function = _COMPARISONS.get(type(op))
        if function is None:
            raise self.node_error(
                "only the comparisons >, >=, <, <=, ==, != are allowed ('is', 'in' are not)",
                node,
            )
        left = self.convert(node.left)
        right = self.convert(node.comparators[0])
        return self.build(
            node, f"the comparison {function.rates_name}", lambda: function(left, right)
        )

    def _call(self, node: ast.Call) -> sympy.Expr:
        callee = node.func
        if isinstance(callee, ast.Attribute):
            raise self.error(_FORBIDDEN_NODES[ast.Attribute], callee.value.end_col_offset)
        if not isinstance(callee, ast.Name):
            raise self.node_error("only named functions can be called", callee)
        name = callee.id
        if name.startswith("__"):
            raise self.node_error(f"dunder names are not allowed: {name!r}", callee)
        if node.keywords:
            raise self.node_error(
                "keyword arguments are not allowed (write f(x, y), not f(x=...))",
                node.keywords[0],
            )
        for arg in node.args:
            if isinstance(arg, ast.Starred):
                raise self.node_error(_FORBIDDEN_NODES[ast.Starred], arg)
        in_variables = name in self.variables
        in_functions = name in self.functions
        if in_variables and in_functions:
            raise self.node_error(f"{name!r} is both a variable and a function", callee)
        if in_variables:
            return self._delayed(node, name)
        if not in_functions:
            if name == builtins.TIME.name or name in builtins.CONSTANTS:
                raise self.node_error(f"{name!r} ({_meaning(name)}) is not a function", callee)
            if name in builtins.RESERVED_NAMES:
                raise self.node_error(f"{name!r} is reserved ({_meaning(name)})", callee)
            raise self.node_error(
                f"unknown function {name!r}{_suggest(name, self.functions)}", callee
            )
        arity = builtins.FUNCTION_ARITY.get(name) if name in builtins.CORE_FUNCTIONS else None
        count = len(node.args)
        if arity is not None:
            low, high = arity
            if count < low or (high is not None and count > high):
                raise self.node_error(
                    f"{name}() takes {_count_text(low, high)}, got {count}", callee
                )
        args = [self.convert(arg) for arg in node.args]
        function = self.functions[name]
        return self.build(node, f"{name}(...)", lambda: function(*args))

    def _delayed(self, node: ast.Call, name: str) -> sympy.Expr:
        """The delay shorthand: ``x(t)`` is x, ``x(t - tau)`` is past(x, tau)."""
        usage = f"a variable can only be called as {name}(t) or {name}(t - tau)"
        if len(node.args) != 1:
            raise self.node_error(usage, node)
        arg = node.args[0]
        variable = symbol(name, self.variables[name])
        if isinstance(arg, ast.Name) and arg.id == builtins.TIME.name:
            return variable
        if (
            isinstance(arg, ast.BinOp)
            and isinstance(arg.op, ast.Sub)
            and isinstance(arg.left, ast.Name)
            and arg.left.id == builtins.TIME.name
        ):
            tau = self.convert(arg.right)
            return self.build(node, "a delayed read", lambda: builtins.Past(variable, tau))
        raise self.node_error(usage, arg)


def _count_text(low: int, high: int | None) -> str:
    if high is None:
        return f"at least {low} argument{'s' if low != 1 else ''}"
    if low == high:
        return f"{low} argument{'s' if low != 1 else ''}"
    return f"{low} to {high} arguments"
