"""System-level checks of feature combinations that crashed (issue 18): what the System gives
the backends for one connection into a vectorised population, for connections with different
gamma-kernel orders, and the default outputs of edge templates with states."""

from __future__ import annotations

import numpy as np
import pytest
import sympy

from rates_core import CircuitTemplate, build_system, builtins
from rates_core.ir import build_ir
from rates_core.results import output_spec
from rates_core.testing import combinations as cb


def _matvec_operand_sizes(system) -> list[int]:
    """The sizes of the vectors that a coupling matrix multiplies, in every expression."""
    sizes = system.symbol_sizes()
    exprs = [a.expr for a in system.algebraic] + [e for _, e in system.derivatives]
    found = []
    for expr in exprs:
        for node in sympy.preorder_traversal(expr):
            if isinstance(node, builtins.Matvec):
                operand = node.args[1]
                found.append(sizes.get(operand.name, 1) if operand.is_Symbol else -1)
    return found


def _weights_into(system, target: str) -> np.ndarray:
    (w,) = [p for p in system.params if p.role == "weight" and p.name.startswith(f"w_{target}_")]
    return np.asarray(w.value)


def test_one_delayed_edge_in_a_population_is_a_weight_vector_times_a_scalar():
    """One delayed connection into a population of 40 was an (40 x 1) matrix times a size-1
    value, which every backend prints as a scalar (NumPy: 'Scalar operands are not allowed')."""
    system = build_system(cb.one_delayed_edge_network(40), vectorize=True)
    assert len(system.ir.populations) == 1
    assert all(size > 1 for size in _matvec_operand_sizes(system))
    (read,) = system.delayed
    assert read.size == 1
    w = _weights_into(system, "r_in")
    assert w.shape == (40,)
    np.testing.assert_array_equal(np.flatnonzero(w), [1])
    assert w[1] == 10.0


def test_long_gamma_kernel_into_a_population_is_a_weight_vector_times_a_scalar():
    """Order 36 between two identical nodes: 36 scalar kernel states, no (2 x 1) matrix."""
    system = build_system(cb.spread_edge_circuit(0.6, 0.1), vectorize=True)
    assert len(system.ir.populations) == 1
    kernels = [s for s in system.states if "kernel" in s.name]
    assert len(kernels) == 36 and all(s.size == 1 for s in kernels)
    assert all(size > 1 for size in _matvec_operand_sizes(system))
    np.testing.assert_array_equal(_weights_into(system, "r_in"), [0.0, 10.0])


@pytest.mark.parametrize("attrs", [{}, {"delay": 0.2}, {"delay": 0.2, "spread": 0.1}])
def test_one_unit_source_into_one_unit_of_a_population(attrs):
    """A source population of one unit into one unit of 40: a scalar times a weight vector
    too, plain, delayed or through a gamma kernel."""
    system = build_system(cb.driven_population(40, **attrs), vectorize=True)
    assert len(system.ir.populations) == 2
    assert all(size > 1 for size in _matvec_operand_sizes(system))
    w = _weights_into(system, "r_in")
    np.testing.assert_array_equal(np.flatnonzero(w), [1])


def _two_orders_circuit():
    """Four identical nodes, a -> b with order 6 (spread 0.2), c -> d with order 25 (0.1)."""
    node = cb.spread_edge_circuit().nodes["a"]
    circuit = CircuitTemplate(name="two_orders", nodes={lb: node for lb in "abcd"})
    return circuit.add_edges(
        [
            ("a/qif_op/r", "b/qif_op/r_in", None, {"weight": 1.0, "delay": 0.5, "spread": 0.2}),
            ("c/qif_op/r", "d/qif_op/r_in", None, {"weight": 2.0, "delay": 0.5, "spread": 0.1}),
        ]
    )


def test_connections_with_different_gamma_orders_become_one_chain_per_order():
    """One projection whose connections need orders 6 and 25 (what a sweep over ``spread``
    makes of a batch) was an error; the IR now splits it into one projection per order."""
    circuit = _two_orders_circuit()
    ir = build_ir(circuit, vectorize=True)
    assert len(ir.populations) == 1
    orders = sorted(int(np.rint((p.delay / p.spread) ** 2)[0]) for p in ir.projections)
    assert orders == [6, 25]
    assert all(len(p.src_idx) == 1 for p in ir.projections)
    system = build_system(circuit, vectorize=True)
    kernels = [s for s in system.states if "kernel" in s.name]
    assert len(kernels) == 6 + 25
    assert all(size > 1 for size in _matvec_operand_sizes(system))


def test_default_outputs_include_the_states_of_edge_templates():
    """``outputs=None`` records every state, those of edge units too; their paths are no node
    paths of the circuit ('no node has a variable matching ...')."""
    circuit = cb.qif_depression_circuit(2)
    for vectorize in (True, False):
        system = build_system(circuit, vectorize=vectorize)
        spec = output_spec(circuit, system, None)
        names = {name for name, *_ in spec}
        for lb in ("p0", "p1"):
            assert f"{lb}/qif_op/r" in names and f"{lb}/qif_op/v" in names
            edge = f"sd_edge[{lb}/qif_op/r->{lb}/qif_op/r_in]/sd_op/x"
            assert edge in names
        assert len(spec) == 6
        # an edge state asked for by its path, too
        (entry,) = output_spec(circuit, system, {"x": edge})
        assert entry[1] == "sd_edge[p1/qif_op/r->p1/qif_op/r_in]" and entry[2] == "sd_op/x"
