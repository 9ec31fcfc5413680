"""Real variables get real values: a complex-valued equation for a real state or algebraic
variable is a ModelError naming it (backends would drop the imaginary part or crash)."""

from __future__ import annotations

import pytest
import sympy

from rates_core import CircuitTemplate, ModelError, NodeTemplate, OperatorTemplate, build_system
from rates_core.system.real_values import may_be_complex


def _circuit(equations: list[str], **variables: str) -> CircuitTemplate:
    op = OperatorTemplate("op", equations=equations, variables=variables)
    return CircuitTemplate("c", nodes={"n": NodeTemplate("node", operators=[op])})


@pytest.mark.parametrize(
    ("equations", "variables", "bad"),
    [
        (["x' = -x*(1 + 1j)"], {"x": "output(1.0)"}, "n/op/x"),
        (["x' = -x + z", "z' = 1j*z"], {"x": "output(1.0)", "z": "variable(1j)"}, "n/op/x"),
        (["x' = a", "a = exp(1j*x)"], {"x": "output(0.0)", "a": "variable(0.0)"}, "a"),
    ],
)
def test_complex_value_for_a_real_variable_is_named(
    equations: list[str], variables: dict[str, str], bad: str
) -> None:
    with pytest.raises(ModelError, match="a real variable gets a complex value") as info:
        build_system(_circuit(equations, **variables))
    assert bad in str(info.value)


@pytest.mark.parametrize(
    "equations",
    [
        ["x' = -x + abs(z)**2 + real(z*conj(z)) + imag(z)", "z' = 1j*z"],
        ["x' = -x*(1 + 1j)", "z' = 1j*z"],  # x complex here (initial value below)
        ["x' = -sqrt(x) + log(1 + x**2)", "z' = 1j*z"],  # real but sympy cannot prove it
    ],
)
def test_real_parts_complex_variables_and_unproven_real_values_build(equations: list[str]) -> None:
    x0 = "output(0j)" if "1 + 1j" in equations[0] else "output(1.0)"
    build_system(_circuit(equations, x=x0, z="variable(1j)"))


def test_may_be_complex() -> None:
    x = sympy.Symbol("x", real=True)
    z = sympy.Symbol("z")
    assert may_be_complex(sympy.exp(sympy.I * x)) and may_be_complex(x + z)
    assert not may_be_complex(sympy.Abs(z) ** 2 + x) and not may_be_complex(sympy.re(z * x))
    assert not may_be_complex(sympy.cos(x)) and not may_be_complex(sympy.sqrt(x))
    assert not may_be_complex(sympy.re(sympy.exp(sympy.I * x)))
