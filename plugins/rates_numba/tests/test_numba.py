"""rates-numba beyond the conformance suite: agreement with rates-numpy, whole runs compiled,
the on-disk numba cache next to rates's cached source, and PyRates's ``decorator=njit``.

Models are small and reused so that numba compiles few functions (a few seconds in all).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rates_core.errors import ArgumentError, SolverError
from rates_core.pyrates_compat import PyRatesWarning
from rates_core.testing import references as ref

JRC_OUT = {"v_e": "pc/syn_exc_ext/v", "v_i": "pc/syn_inh/v"}


def _jrc(backend: str, solver: str, **kwargs: object) -> np.ndarray:
    frame = ref.jansen_rit_circuit().run(
        0.2,
        1e-4,
        outputs=JRC_OUT,
        backend=backend,
        solver=solver,
        sampling_step_size=1e-3,
        **kwargs,
    )
    return frame.to_numpy()


@pytest.mark.parametrize("solver", ["euler", "rk4"])
def test_jansen_rit_matches_numpy(solver: str) -> None:
    """The compiled loop computes the numbers of rates-numpy's loop (to rounding: 1e-12
    relative to the largest value)."""
    got, want = _jrc("numba", solver), _jrc("numpy", solver)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12 * np.abs(want).max())


def test_dopri5_matches_rk4() -> None:
    """dopri5 (rtol 1e-8) agrees with rk4 at dt 1e-4 to 1e-6 of the largest value."""
    got = _jrc("numba", "dopri5", rtol=1e-8, atol=1e-12)
    want = _jrc("numba", "rk4")
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-6 * np.abs(want).max())


def test_dopri5_refuses_delays() -> None:
    with pytest.raises(SolverError, match="delayed reads"):
        ref.delay_circuit().run(1.0, 1e-3, backend="numba", solver="dopri5")


def test_delay_matches_numpy() -> None:
    """The delay history in the compiled rk4 loop reads what rates-numpy's ring reads."""
    kwargs = {"backend": "numba", "solver": "rk4", "sampling_step_size": 0.01}
    got = ref.delay_edge_circuit().run(2.0, 1e-3, **kwargs).to_numpy()
    want = ref.delay_edge_circuit().run(2.0, 1e-3, **{**kwargs, "backend": "numpy"}).to_numpy()
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12 * max(np.abs(want).max(), 1.0))


def test_unknown_option_is_an_error() -> None:
    with pytest.raises(SolverError, match="no option"):
        _jrc("numba", "dopri5", method="RK45")


def test_numba_cache_is_next_to_the_cached_source(tmp_path: Path) -> None:
    """A new process finds the compiled functions in numba's cache beside rates's cached
    module (the directory named by the content key), and compiles nothing again."""
    script = textwrap.dedent(
        """
        import json, os, time
        os.environ.pop("NUMBA_CACHE_DIR", None)
        from rates_core.simulate import get_run_func
        from rates_core.testing import references as ref
        t = time.perf_counter()
        ref.decay_circuit().run(0.1, 1e-3, backend="numba", solver="euler")
        print(json.dumps({"seconds": time.perf_counter() - t}))
        """
    )
    env = {**_env(), "RATES_CACHE_DIR": str(tmp_path / "cache")}
    env.pop("NUMBA_CACHE_DIR", None)
    for _ in range(2):
        subprocess.run([sys.executable, "-c", script], env=env, check=True, capture_output=True)
    pycache = list((tmp_path / "cache").rglob("__pycache__"))
    assert pycache, "numba wrote no cache next to the generated module"
    index = [p.name for p in pycache[0].iterdir() if p.suffix == ".nbi"]
    assert any(name.startswith("numba_") for name in index), index


def _env() -> dict[str, str]:
    import os

    return dict(os.environ)


def test_decorator_njit_chooses_the_numba_backend() -> None:
    """PyRates's run(..., decorator=njit) runs backend 'numba', with a warning saying so."""
    import numba

    circuit = ref.decay_circuit()
    with pytest.warns(PyRatesWarning, match="backend 'numba'"):
        frame = circuit.run(0.1, 1e-3, outputs={"x": "n/op/x"}, decorator=numba.njit)
    assert frame.attrs["solver"].startswith("numba_")


def test_decorator_njit_without_rates_numba(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without rates-numba installed, decorator=njit says which package to install."""
    import numba

    import rates_core.plugins as plugins

    class NoNumba:
        def backends(self) -> dict:
            return {}

    monkeypatch.setattr(plugins, "default_host", lambda: NoNumba())
    with pytest.raises(ArgumentError, match="pip install rates-numba"):
        from rates_core.pyrates_compat import driver_arguments

        driver_arguments("run", None, "float64", {"decorator": numba.njit})


def test_other_decorators_stay_ignored() -> None:
    from rates_core.pyrates_compat import driver_arguments

    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        backend, _ = driver_arguments("run", None, "float64", {"decorator": lambda f: f})
    assert backend == "numpy"
    assert any("is ignored" in str(w.message) for w in record)


def _emitted(circuit: Any) -> Any:
    from rates_numba.emit import emit_function

    from rates_core.system import build_system

    return emit_function(build_system(circuit, vectorize=False))


def test_scalar_models_run_on_local_scalars() -> None:
    """A model of single real values (Jansen-Rit) steps its state as local scalars through
    ``scalar_field_`` and samples with a countdown: no array per stage, no modulo per step."""
    source = _emitted(ref.jansen_rit_circuit()).source
    loop = source.split("def run_euler_(")[1].split("\n\n\n")[0]
    assert "scalar_field_(t_, y0_, y1_" in loop
    assert "%" not in loop.split("for k_ in range")[1]
    assert "numpy.zeros_like" not in loop


def test_delayed_models_keep_array_loops() -> None:
    """A model with a delay keeps the array loops (the ring history reads arrays)."""
    source = _emitted(ref.delay_edge_circuit()).source
    assert "scalar_field_" not in source
    assert "for i_ in range(N_STATES_):" in source


@pytest.mark.parametrize("method", ["euler", "rk4"])
def test_chunked_loop_samples_like_one_call(method: str) -> None:
    """Calling a loop in chunks (as a progress bar does; chunks not at sample boundaries)
    fills the same rows as one call: the sampling countdown starts from ``kstart_``."""
    from rates_numba.solvers import numba_argument

    function = _emitted(ref.jansen_rit_circuit())
    loop = getattr(function.extras["module"], f"run_{method}_")
    params = [numba_argument(p, p.value) for p in function.system.params]
    n = function.system.n_states
    whole, parts = np.zeros((31, n)), np.zeros((31, n))
    y = np.full(n, 1e-3)
    loop(0.0, 1e-4, 0, 300, 10, y.copy(), whole, 0, *params)
    y_parts = y.copy()
    for k0, k1 in [(0, 37), (37, 38), (38, 215), (215, 300)]:
        loop(0.0, 1e-4, k0, k1, 10, y_parts, parts, 0, *params)
    np.testing.assert_array_equal(parts[1:], whole[1:])
    assert np.abs(whole[1:]).min() > 0  # every row written
    # a block whose row 0 is sample 12 (row0_ = 12) gets samples 13 .. 20
    block = np.zeros((9, n))
    y_block = y.copy()
    loop(0.0, 1e-4, 0, 120, 10, y_block, np.zeros((31, n)), 0, *params)
    loop(0.0, 1e-4, 120, 200, 10, y_block, block, 12, *params)
    np.testing.assert_array_equal(block[1:], whole[13:21])


def test_only_random_models_seed(monkeypatch: pytest.MonkeyPatch) -> None:
    """A run seeds numba's generator (a compiled function to load in a new process) only
    when the model draws ``randn()``."""
    import rates_numba.solvers as solvers

    seeded: list[object] = []
    monkeypatch.setattr(solvers, "seed_random", seeded.append)
    ref.decay_circuit().run(0.01, 1e-3, backend="numba", solver="euler")
    assert seeded == []
    noisy = ref.one_node("noisy", ["x' = -x + randn()"], {"x": "output(0.0)"})
    noisy.run(0.01, 1e-3, backend="numba", solver="euler", seed=1)
    assert len(seeded) == 1


def test_delayed_loops_read_the_ring_once_per_step() -> None:
    """Heun's last stage (c = 1) leaves its read in ``vals_`` for the next step's first stage
    (which reads at the same times), under ``delays="grid"`` the second stage holds the first
    one's read, and derivatives go into the ring only where a read interpolates."""
    source = _emitted(ref.delay_edge_circuit()).source
    loop = source.split("def run_heun_(")[1].split("\n\n\n")[0]
    reads = [line for line in loop.splitlines() if "read_delayed_(" in line]
    assert len(reads) == 2
    assert reads[0].endswith("pos_, READ if grid_ else CARRY)")
    assert reads[1].endswith("pos_, HOLD if grid_ else READ)")
    assert "if hermite_:\n            store_derivative_(" in loop
    euler = source.split("def run_euler_(")[1].split("\n\n\n")[0]
    assert "pos_, READ)" in euler  # no stage at c = 1 after the first: nothing to carry


def test_read_modes() -> None:
    """``read_delayed_``: READ gathers the ring in memory order (Hermite weights on the 32-byte
    records, each value to its connection), CARRY keeps the values after step 0 (zero delays
    refreshed from the stage state), HOLD leaves them all."""
    from rates_numba.runtime import CARRY, HOLD, READ, read_delayed_

    rows, ncols = 3, 2
    ring = np.arange(2 * rows * ncols * 4, dtype=np.float64).reshape(2 * rows, ncols, 4)
    off = np.array([4 * (ncols * 1 + 1), 0], dtype=np.int64)  # record 1 + n % rows, col 1; 0
    weights = np.array([[1.0, 0.5, 0.25, 0.125], [1.0, 0.0, 0.0, 0.0]])
    pre, s = np.zeros((1, 2)), np.zeros(2)
    values = np.zeros(2)
    zero, pos = np.array([1], dtype=np.int64), np.array([0, 0], dtype=np.int64)

    def read(n: int, mode: int, zeros: bool = False) -> np.ndarray:
        order = np.array([1, 0], dtype=np.int64)  # connection 1's record comes first
        args = (ring, order, off[::-1].copy(), weights[::-1].copy(), s, False, 0, pre)
        z = zero if zeros else zero[:0]
        read_delayed_(values, n, np.array([-5.0]), *args, z, pos, mode)
        return values.copy()

    flat = ring.reshape(-1)
    base = (1 % rows + 1) * ncols * 4
    i = base + int(off[0])
    want = [flat[i] + 0.5 * flat[i + 1] + 0.25 * flat[i + 2] + 0.125 * flat[i + 3], flat[base]]
    np.testing.assert_allclose(read(1, READ), want, rtol=1e-15)
    values[:] = [7.0, 8.0]
    np.testing.assert_array_equal(read(2, CARRY, zeros=True), [7.0, -5.0])
    np.testing.assert_array_equal(read(2, HOLD, zeros=True), [7.0, -5.0])
    values[:] = [7.0, 8.0]
    assert read(0, CARRY)[0] != 7.0  # step 0 has no previous read: reads the ring


@pytest.mark.parametrize("solver", ["heun", "rk4"])
@pytest.mark.parametrize("delays", ["exact", "grid"])
def test_interpolated_delays_match_numpy(solver: str, delays: str) -> None:
    """Delays between grid points (0.5 / 0.003 steps: Hermite reads, carried at c = 1) and
    their grid rounding give rates-numpy's numbers to 1e-12 (of the largest value)."""
    kwargs = {"solver": solver, "sampling_step_size": 0.03, "delays": delays}
    got = ref.delay_edge_circuit().run(2.0, 3e-3, backend="numba", **kwargs).to_numpy()
    want = ref.delay_edge_circuit().run(2.0, 3e-3, backend="numpy", **kwargs).to_numpy()
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12 * max(np.abs(want).max(), 1.0))


def test_cache_key_follows_the_runtime_source() -> None:
    """A generated module's cache key holds a digest of ``rates_numba.runtime``: numba's cache
    of a loop has the runtime helpers compiled into it and would keep an old ring layout."""
    import hashlib

    import rates_numba
    from rates_numba import runtime
    from rates_numba.emit import code_version

    digest = hashlib.sha256(Path(runtime.__file__).read_bytes()).hexdigest()[:16]
    assert code_version() == f"{rates_numba.__version__}+{digest}"


def _noisy_circuit() -> Any:
    """Three nodes with a multiplicative-noise state ``x`` driven by an input ``u`` and a
    state ``z`` without noise: the noise sources are a subset of the state vector."""
    from rates_core import CircuitTemplate, NodeTemplate, OperatorTemplate

    op = OperatorTemplate(
        name="op",
        equations=["x' = -x + u + s*x*xi()", "z' = x - z*k"],
        variables={"x": "output(0.5)", "z": "variable(0.1)", "u": "input(0.0)", "s": 0.4, "k": 2},
    )
    node = NodeTemplate(name="noisy", operators=[op])
    return CircuitTemplate(name="noisy3", nodes={f"p{i}": node for i in range(3)})


NOISY_OUT = {f"{v}{i}": f"p{i}/op/{v}" for i in range(3) for v in "xz"}


def _noisy_run(backend: str, method: str, **kwargs: Any) -> np.ndarray:
    steps = np.arange(400)
    u = np.where(steps < 200, 0.0, 1.5)
    frame = _noisy_circuit().run(
        0.4,
        1e-3,
        outputs=NOISY_OUT,
        sampling_step_size=2e-3,
        solver=method,
        backend=backend,
        inputs={"p1/op/u": u},
        **kwargs,
    )
    return frame.to_numpy()


@pytest.mark.parametrize("method", ["euler_maruyama", "heun_stochastic"])
@pytest.mark.parametrize("vectorize", [True, False])
def test_sde_paths_equal_numpy_for_the_same_seed(method: str, vectorize: bool) -> None:
    """The Wiener increments are drawn as rates-numpy draws them (default_rng(seed), step
    order), so the same seed integrates the same paths: the two backends agree to rounding
    (an input step and states without noise included)."""
    want = _noisy_run("numpy", method, seed=11, vectorize=vectorize)
    got = _noisy_run("numba", method, seed=11, vectorize=vectorize)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-13 * np.abs(want).max())
    other = _noisy_run("numba", method, seed=12, vectorize=vectorize)
    assert np.abs(other - got).max() > 1e-3  # the seed matters


def test_sde_increments_drawn_in_blocks_keep_the_stream(monkeypatch: pytest.MonkeyPatch) -> None:
    """Blocks of one step (a tiny block budget) draw the same stream as one block."""
    from rates_core import noise

    whole = _noisy_run("numba", "heun_stochastic", seed=5)
    monkeypatch.setattr(noise, "INCREMENT_BLOCK", 2)
    np.testing.assert_array_equal(_noisy_run("numba", "heun_stochastic", seed=5), whole)


def test_sde_given_increments_equal_numpy() -> None:
    increments = ref.brownian_increments(400, 3, 0.4, seed=2)
    want = _noisy_run("numpy", "euler_maruyama", wiener_increments=increments)
    got = _noisy_run("numba", "euler_maruyama", wiener_increments=increments)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-13 * np.abs(want).max())
    with pytest.raises(SolverError, match=r"wiener_increments has shape \(400, 2\)"):
        _noisy_run("numba", "euler_maruyama", wiener_increments=increments[:, :2])


def _delayed_noisy_run(backend: str, method: str, **kwargs: Any) -> np.ndarray:
    """Delayed self-coupling (tau = 0.0255, between grid points: Hermite reads) with
    multiplicative noise and an input that steps at t = 0.1 (left-side slopes)."""
    from rates_core import CircuitTemplate, NodeTemplate, OperatorTemplate

    op = OperatorTemplate(
        name="op",
        equations=["x' = -x + a*past(x, tau) + u + s*x*xi()"],
        variables={"x": "output(0.5)", "u": "input(0.0)", "a": 0.6, "s": 0.3, "tau": 0.0255},
    )
    node = NodeTemplate(name="dnoisy", operators=[op])
    circuit = CircuitTemplate(name="dnoisy2", nodes={f"p{i}": node for i in range(2)})
    steps = np.arange(300)
    frame = circuit.run(
        0.3,
        1e-3,
        outputs={f"x{i}": f"p{i}/op/x" for i in range(2)},
        solver=method,
        backend=backend,
        inputs={"p0/op/u": np.where(steps < 100, 0.0, 1.0)},
        **kwargs,
    )
    return frame.to_numpy()


@pytest.mark.parametrize("method", ["euler_maruyama", "heun_stochastic"])
@pytest.mark.parametrize("delays", ["exact", "grid"])
def test_sde_with_delays_equals_numpy(method: str, delays: str) -> None:
    """With delays (read between grid points, an input step that a delayed variable feels;
    and under delays="grid"), the compiled SDE loop keeps rates-numpy's history: the same
    paths for the same seed."""
    want = _delayed_noisy_run("numpy", method, seed=4, delays=delays)
    got = _delayed_noisy_run("numba", method, seed=4, delays=delays)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12 * np.abs(want).max())


@pytest.mark.parametrize(
    ("solver", "noise"),
    [("numba_heun", 0.0), ("numba_rk4", 0.0), ("numba_heun_stochastic", 0.3)],
)
def test_monitors_of_a_delayed_network_stream(
    monkeypatch: pytest.MonkeyPatch, solver: str, noise: float
) -> None:
    """A monitored delayed run is one pass whose samples the compiled loop writes into blocks
    (here of 37 rows) handed to the monitors as they fill: the solver streams (it returned the
    whole fine trajectory before) and the monitors equal the recorded run's samples."""
    from rates_core import backend
    from rates_core.monitors import Subsample, TemporalAverage
    from rates_core.plugins.host import PluginHost

    n, dt, T = 6, 0.05, 20.0
    monkeypatch.setattr(backend, "SINK_BYTES", 8 * n * 37)
    infos = []
    solve = PluginHost.solve

    def recording(self: Any, *args: Any) -> Any:
        trajectory = solve(self, *args)
        infos.append(trajectory.info)
        return trajectory

    monkeypatch.setattr(PluginHost, "solve", recording)
    circuit = ref.delayed_connectome(n, noise)
    x = {"x": "regions/op/x"}
    full = circuit.run(T, dt, outputs=x, solver=solver, backend="numba", seed=4).to_numpy()
    frames = circuit.run(
        T,
        dt,
        solver=solver,
        backend="numba",
        seed=4,
        monitors={"sub": Subsample(x, period=0.5), "avg": TemporalAverage(x, period=1.0)},
    )
    assert infos[-1].get("streamed") is True
    steps = int(round(T / dt))
    np.testing.assert_allclose(frames["sub"].to_numpy(), full[::10], rtol=0, atol=1e-12)
    mean = full.reshape(steps // 20, 20, n).mean(axis=1)
    np.testing.assert_allclose(frames["avg"].to_numpy(), mean, rtol=0, atol=1e-12)
