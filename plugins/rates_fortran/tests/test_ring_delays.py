"""The fixed-step ring history of delayed reads (issue 22): rows reused many times over
(delays far longer than the step, runs many times longer than the delays) give rates-numpy's
numbers."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from rates_core.testing import references as ref

pytest.importorskip("rates_numpy")
pytestmark = pytest.mark.skipif(shutil.which("gfortran") is None, reason="needs gfortran")

#: relative agreement with rates-numpy (both read the same cubic Hermite interpolants)
RTOL = 1e-12


def _network(n: int = 8, seed: int = 5, zero: bool = True):
    """``n`` rate units, 40 % random weights, delays 0.05-0.31 s off the step grid (50 to 310
    steps of 1 ms) and (``zero``) one delay 0 (the current stage state)."""
    labels, _, net = ref.rate_network_nodes(n)
    rng = np.random.default_rng(seed)
    weights = (rng.random((n, n)) < 0.4) * rng.normal(0.0, 2.0, (n, n))
    weights[0, 1] = 1.5
    delays = rng.uniform(0.05, 0.31, (n, n)) + 1e-4 * np.pi
    if zero:
        delays[0, 1] = 0.0
    return net.add_edges_from_matrix(
        "op/r", "op/r_in", labels, weight=weights, edge_attr={"delay": delays}
    )


def _close(a, b) -> float:
    a, b = a.to_numpy(), b.to_numpy()
    return float(np.max(np.abs(a - b)) / np.max(np.abs(a)))


@pytest.mark.parametrize("method", ["euler", "heun", "rk4"])
def test_ring_wraps_many_times_like_numpy(method: str) -> None:
    """3 s at dt = 1 ms: the ring of about 313 rows wraps almost ten times; every sample
    (every step) equals rates-numpy's within 1e-12 (relative)."""
    net = _network()
    kw = {"outputs": {"r": "all/op/r"}, "sampling_step_size": 1e-3}
    a = net.run(3.0, 1e-3, backend="numpy", solver=method, **kw)
    b = net.run(3.0, 1e-3, backend="fortran", solver=f"fortran_{method}", **kw)
    assert _close(a, b) <= RTOL


@pytest.mark.parametrize("method", ["heun", "rk4"])
def test_ring_with_input_jumps_like_numpy(method: str) -> None:
    """A stepped input driving the delayed variable (left-side slopes in the ring) with a step
    that puts the delay between rows, read over about 40 wraps of the ring."""
    dt = 0.007
    circuit = ref.delay_input_circuit().update_var(
        edge_vars=[("a/op/a", "b/op/v", {"delay": 0.04})]
    )
    kw = {
        "outputs": {"a": "a/op/a", "b": "b/op/b"},
        "inputs": {"a/op/u": ref.delay_input_rows(dt)},
    }
    a = circuit.run(2.4, dt, backend="numpy", solver=method, **kw)
    b = circuit.run(2.4, dt, backend="fortran", solver=f"fortran_{method}", **kw)
    assert _close(a, b) <= RTOL


@pytest.mark.parametrize("method", ["euler", "heun", "rk4"])
def test_grid_delays_wrap_like_numpy(method: str) -> None:
    """``delays="grid"``: the same network read at rows n - round(tau / dt) (the delay 0 at
    row n, not the stage state), held over the step, over about ten wraps: rates-numpy's
    numbers within 1e-12."""
    net = _network()
    kw = {"outputs": {"r": "all/op/r"}, "sampling_step_size": 1e-3, "delays": "grid"}
    a = net.run(3.0, 1e-3, backend="numpy", solver=method, **kw)
    b = net.run(3.0, 1e-3, backend="fortran", solver=f"fortran_{method}", **kw)
    assert _close(a, b) <= RTOL


@pytest.mark.parametrize("delays", ["exact", "grid"])
@pytest.mark.parametrize("method", ["heun", "rk4"])
def test_held_coupling_reused_like_numpy(method: str, delays: str) -> None:
    """The coupling sum depends on delayed values and weights alone (kit.held_algebraic): a
    stage whose read repeats the previous one (grid: every later stage; exact rk4: the second
    read at t + dt/2) reuses it. rates-numpy's numbers within 1e-12."""
    from rates_core.codegen.source import held_algebraic
    from rates_core.pipeline import build_run_system
    from rates_fortran.emit import emit_source

    net = _network(zero=False)
    system = build_run_system(net, vectorize=True)
    assert held_algebraic(system)
    assert "if (reuse) then" in emit_source(system)[0]
    kw = {"outputs": {"r": "all/op/r"}, "sampling_step_size": 1e-3, "delays": delays}
    a = net.run(3.0, 1e-3, backend="numpy", solver=method, **kw)
    b = net.run(3.0, 1e-3, backend="fortran", solver=f"fortran_{method}", **kw)
    assert _close(a, b) <= RTOL


def test_ring_too_large_is_a_solver_error() -> None:
    """A delay of 3000 at a step of 1e-6 (3e9 rows) is a SolverError naming the delay and the
    step, before anything is allocated."""
    from rates_core.errors import SolverError

    circuit = ref.delay_edge_circuit().update_var(
        edge_vars=[("a/op/a", "b/op/u", {"delay": 3000.0})]
    )
    with pytest.raises(SolverError, match=r"history of the delayed reads.*3000\.0 at step 1e-06"):
        circuit.run(1e-5, 1e-6, backend="fortran", solver="fortran_euler")
