"""rates-fortran against rates-numpy, hand-written Fortran loops and PyRates, in one run.

Cases: the Jansen-Rit circuit (``rates_core.models.jansenrit.JRC``), 10 s at dt = 1e-4 sampled at
1e-3, with euler and rk4; a 1000-unit rate network with a dense random coupling matrix
(``rates_core.testing.references.rate_network_nodes`` + ``_dense_weights``), 1 s at dt = 1e-3
with euler, every step sampled.

For rates-fortran two times are reported (best of ``--repeat``, after one compiling call):

* ``whole``: wall-clock seconds of ``circuit.run`` (System build, code lookup, packing, the
  integration, the DataFrame);
* ``loop``: the one ctypes call of the compiled ``rates_solve`` inside that run (the integration
  alone), measured by wrapping the call.

The hand-written loops are plain Fortran (for Jansen-Rit with the constants as compile-time
``parameter`` values, the reference, and read from an array at run time as rates passes
them; for the network
three couplings: the intrinsic ``matmul``, a loop over columns, the system BLAS ``dgemv``; the
fastest is the reference), compiled with the plugin's own flags (``-O3`` unless
``RATES_FORTRAN_FLAGS`` says otherwise), called once through ctypes; their samples are checked
against rates-fortran's (relative difference printed). PyRates 1.2.3 (``--pyrates-python``) runs
``cases/jansenrit.py --impl pyrates`` (its NumPy backend) and, separately, its fortran backend;
failures are reported, not fatal (``--no-pyrates`` skips them).

``--case delayed`` (issue 22, TVB's whole-brain benchmark): ``--regions`` rate units
(:func:`rates_core.testing.references.rate_node`) with 10 % random weights and delays uniform
in 1-50 ms (:func:`delayed_network`), Heun at dt = 0.1 ms for 1 s, every 10th step sampled:
rates-fortran with exact delays and, where the core offers ``delays="grid"``, with delays
rounded to the step, against rates-numpy in the same run (:func:`run_delayed`, usable on its
own).

    python benchmarks/fortran_backend.py [--repeat 10] [--nodes 1000] [--json out.json]
    python benchmarks/fortran_backend.py --case delayed [--regions 1000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import json
import subprocess
import tempfile
import time
from collections.abc import Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent

HAND_JRC = """
subroutine jrc(method, n_steps, every, n_samples, dt, out) bind(c, name="jrc")
  use, intrinsic :: iso_c_binding
  implicit none
  integer(c_int), value :: method
  integer(c_int64_t), value :: n_steps, every, n_samples
  real(c_double), value :: dt
  real(c_double), intent(out) :: out(2, n_samples)
  real(c_double) :: y(8), k1(8), k2(8), k3(8), k4(8)
  integer(c_int64_t) :: k, row
  y = 0.0d0
  out(:, 1) = [y(1), y(3)]
  row = 1
  do k = 1, n_steps
    call f(y, k1)
    if (method == 1) then
      y = y + dt*k1
    else
      call f(y + 0.5d0*dt*k1, k2)
      call f(y + 0.5d0*dt*k2, k3)
      call f(y + dt*k3, k4)
      y = y + dt/6.0d0*((k1 + k4) + 2.0d0*(k2 + k3))
    end if
    if (mod(k, every) == 0 .and. row < n_samples) then
      row = row + 1
      out(:, row) = [y(1), y(3)]
    end if
  end do
contains
  subroutine f(y, dy)
    real(c_double), intent(in) :: y(8)
    real(c_double), intent(out) :: dy(8)
    real(c_double), parameter :: h_e = 3.25d-3, tau_e = 10d-3, h_i = -22d-3, tau_i = 20d-3
    real(c_double), parameter :: m_max = 5.0d0, s = 560.0d0, v_thr = 6d-3, u = 220.0d0
    real(c_double) :: m_pc, m_ein, m_iin
    m_pc = m_max/(1.0d0 + exp(s*(v_thr - (y(1) + y(3)))))
    m_ein = m_max/(1.0d0 + exp(s*(v_thr - y(5))))
    m_iin = m_max/(1.0d0 + exp(s*(v_thr - y(7))))
    dy(1) = y(2)
    dy(2) = h_e*(108.0d0*m_ein + u)/tau_e - 2.0d0*y(2)/tau_e - y(1)/tau_e**2
    dy(3) = y(4)
    dy(4) = h_i*(33.75d0*m_iin)/tau_i - 2.0d0*y(4)/tau_i - y(3)/tau_i**2
    dy(5) = y(6)
    dy(6) = h_e*(135.0d0*m_pc)/tau_e - 2.0d0*y(6)/tau_e - y(5)/tau_e**2
    dy(7) = y(8)
    dy(8) = h_e*(33.75d0*m_pc)/tau_e - 2.0d0*y(8)/tau_e - y(7)/tau_e**2
  end subroutine f
end subroutine jrc
"""

#: The same loop with the constants read from an array at run time (as rates passes them).
HAND_JRC_RUNTIME = (
    HAND_JRC.replace("jrc(method", "jrc_rt(method")
    .replace("end subroutine jrc", "end subroutine jrc_rt")
    .replace('name="jrc"', 'name="jrc_rt"')
    .replace(
        "real(c_double), value :: dt\n",
        "real(c_double), value :: dt\n  real(c_double), intent(in) :: p(8)\n",
    )
    .replace("n_samples, dt, out)", "n_samples, dt, p, out)")
    .replace(
        "    real(c_double), parameter :: h_e = 3.25d-3, tau_e = 10d-3, "
        "h_i = -22d-3, tau_i = 20d-3\n"
        "    real(c_double), parameter :: m_max = 5.0d0, s = 560.0d0, v_thr = 6d-3, u = 220.0d0\n",
        "    real(c_double) :: h_e, tau_e, h_i, tau_i, m_max, s, v_thr, u\n",
    )
    .replace(
        "    m_pc = m_max",
        "    h_e = p(1); tau_e = p(2); h_i = p(3); tau_i = p(4)\n"
        "    m_max = p(5); s = p(6); v_thr = p(7); u = p(8)\n    m_pc = m_max",
    )
)
JRC_CONSTANTS = np.array([3.25e-3, 10e-3, -22e-3, 20e-3, 5.0, 560.0, 6e-3, 220.0])

#: Euler for the rate network r' = (-r + 1/(1 + exp(-(W r - a + eta))))/tau, a' = (r - a)/tau_a;
#: MATVEC is replaced by the coupling line of each variant.
HAND_NETWORK = """
subroutine net(n, n_steps, every, n_samples, dt, tau, tau_a, eta, w, r0, a0, out) &
    bind(c, name="net")
  use, intrinsic :: iso_c_binding
  implicit none
  integer(c_int64_t), value :: n, n_steps, every, n_samples
  real(c_double), value :: dt, tau, tau_a
  real(c_double), intent(in) :: eta(n), w(n, n), r0(n), a0(n)
  real(c_double), intent(out) :: out(n, n_samples)
  real(c_double) :: r(n), a(n), r_in(n), dr(n)
  integer(c_int64_t) :: k, row, j
  external :: dgemv
  r = r0
  a = a0
  out(:, 1) = r
  row = 1
  do k = 1, n_steps
    MATVEC
    dr = (-r + 1.0d0/(1.0d0 + exp(-(r_in - a + eta))))/tau
    a = a + dt*((r - a)/tau_a)
    r = r + dt*dr
    if (mod(k, every) == 0 .and. row < n_samples) then
      row = row + 1
      out(:, row) = r
    end if
  end do
end subroutine net
"""
NETWORK_VARIANTS = {
    "matmul": "r_in = matmul(w, r)",
    "columns": "r_in = 0.0d0\n    do j = 1, n\n      r_in = r_in + w(:, j)*r(j)\n    end do",
    "dgemv": "call dgemv('N', int(n), int(n), 1.0d0, w, int(n), r, 1, 0.0d0, r_in, 1)",
}

PYRATES_FORTRAN = """
import time, tempfile, os
os.chdir(tempfile.mkdtemp())
from pyrates import CircuitTemplate
c = CircuitTemplate.from_yaml("model_templates.neural_mass_models.jansenrit.JRC")
t = time.perf_counter()
c.run(simulation_time=10.0, step_size=1e-4, sampling_step_size=1e-3, solver="{solver}",
      outputs={{"v_e": "pc/rpo_e_in/v"}}, backend="fortran", vectorize=False, clear=True)
print("SECONDS", time.perf_counter() - t)
"""


def best(func, repeat: int) -> tuple[float, list[float]]:
    """(first call, the later calls) in seconds."""
    t = time.perf_counter()
    func()
    first = time.perf_counter() - t
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        func()
        times.append(time.perf_counter() - t)
    return first, times


@contextmanager
def loop_timer():
    """Record the seconds of every ``rates_solve`` call made by rates-fortran meanwhile."""
    from rates_fortran import emit

    seconds: list[float] = []
    init = emit.CompiledModel.__init__

    def timed_init(self, *args, **kwargs):
        init(self, *args, **kwargs)
        call = self.solve_c

        def timed(*a):
            t = time.perf_counter()
            call(*a)
            seconds.append(time.perf_counter() - t)

        self.solve_c = timed

    emit.CompiledModel.__init__ = timed_init
    try:
        yield seconds
    finally:
        emit.CompiledModel.__init__ = init


def compile_hand(source: str, name: str, libs: Sequence[str] = ()) -> ctypes.CDLL:
    from rates_fortran.build import _flags, compiler

    tmp = Path(tempfile.mkdtemp(prefix="rates-bench-"))
    (tmp / f"{name}.f90").write_text(source)
    cmd = [compiler(), *_flags(), f"{name}.f90", "-o", f"{name}.so", *libs]
    subprocess.run(cmd, cwd=tmp, check=True)
    return ctypes.CDLL(str(tmp / f"{name}.so"))


def hand_jrc() -> dict[str, dict[str, tuple]]:
    """method -> variant -> (call, output array) of the hand-written Jansen-Rit loops:
    ``constants`` (compile-time parameters) and ``runtime`` (read from an array)."""
    lib = compile_hand(HAND_JRC, "jrc")
    lib.jrc.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_int64,
                        ctypes.c_double, ctypes.c_void_p]  # fmt: skip
    rt = compile_hand(HAND_JRC_RUNTIME, "jrc_rt")
    rt.jrc_rt.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_int64,
                          ctypes.c_double, ctypes.c_void_p, ctypes.c_void_p]  # fmt: skip
    res: dict[str, dict[str, tuple]] = {}
    for m, name in ((1, "euler"), (2, "rk4")):
        out, out_rt = np.zeros((10_000, 2)), np.zeros((10_000, 2))
        res[name] = {
            "constants": (
                lambda m=m, out=out: lib.jrc(m, 100_000, 10, 10_000, 1e-4, out.ctypes.data),
                out,
            ),
            "runtime": (
                lambda m=m, out=out_rt: rt.jrc_rt(
                    m, 100_000, 10, 10_000, 1e-4, JRC_CONSTANTS.ctypes.data, out.ctypes.data
                ),
                out_rt,
            ),
        }
    return res


def hand_network(etas, w, r0, a0, n_steps) -> dict[str, tuple]:
    """variant -> (call, output array) of the hand-written network loops."""
    n = len(etas)
    wf = np.asfortranarray(w)
    res = {}
    blas = ctypes.util.find_library("blas")
    for name, line in NETWORK_VARIANTS.items():
        libs = []
        if name == "dgemv":
            if blas is None:
                print("no system BLAS found: the dgemv loop is skipped")
                continue
            libs = [f"-l:{blas}"]
        lib = compile_hand(HAND_NETWORK.replace("MATVEC", line), f"net_{name}", libs)
        lib.net.argtypes = [ctypes.c_int64] * 4 + [ctypes.c_double] * 3 + [ctypes.c_void_p] * 5
        out = np.zeros((n_steps, n), order="C")  # Fortran (n, n_samples)

        def call(lib=lib, out=out):
            lib.net(n, n_steps, 1, n_steps, 1e-3, 0.1, 0.4, etas.ctypes.data, wf.ctypes.data,
                    r0.ctypes.data, a0.ctypes.data, out.ctypes.data)  # fmt: skip

        res[name] = (call, out)
    return res


def interleaved(run, hands: dict, repeat: int) -> tuple[dict, dict[str, list[float]]]:
    """Time ``run`` (whole calls and their rates_solve loops) and every hand-written call
    alternately, so that both see the same load of a shared machine."""
    hand_times: dict[str, list[float]] = {k: [] for k in hands}
    whole: list[float] = []
    with loop_timer() as loops:
        t = time.perf_counter()
        run()
        first = time.perf_counter() - t
        for call, _ in hands.values():
            call()
        for _ in range(repeat):
            t = time.perf_counter()
            run()
            whole.append(time.perf_counter() - t)
            for k, (call, _) in hands.items():
                t = time.perf_counter()
                call()
                hand_times[k].append(time.perf_counter() - t)
    entry = {"first": first, "best": min(whole), "median": float(np.median(whole)),
             "loop": min(loops[1:]), "loop_median": float(np.median(loops[1:]))}  # fmt: skip
    return entry, hand_times


def pyrates(python: str, timeout: float) -> dict[str, str | float]:
    res: dict[str, Any] = {}
    if not Path(python).exists():
        return {"error": f"{python} not found"}
    try:
        done = subprocess.run(
            [python, str(HERE / "cases" / "jansenrit.py"), "--impl", "pyrates"],
            capture_output=True, text=True, timeout=timeout, cwd=tempfile.mkdtemp(),
        )  # fmt: skip
        line = next(ln for ln in done.stdout.splitlines() if ln.startswith("BENCH_JSON"))
        record = json.loads(line.split(" ", 1)[1])
        res["numpy_euler"] = {k: record[k] for k in ("run", "sim") if k in record} or line
    except Exception as exc:  # reported, not fatal
        res["numpy_euler"] = f"failed: {exc!r}"
    for solver in ("euler",):
        try:
            done = subprocess.run(
                [python, "-c", PYRATES_FORTRAN.format(solver=solver)],
                capture_output=True, text=True, timeout=timeout,
            )  # fmt: skip
            secs = [ln for ln in done.stdout.splitlines() if ln.startswith("SECONDS")]
            res[f"fortran_{solver}"] = (
                float(secs[0].split()[1]) if secs else f"failed: {done.stderr.strip()[-300:]}"
            )
        except Exception as exc:
            res[f"fortran_{solver}"] = f"failed: {exc!r}"
    return res


def _rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(a)), 1e-300))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=10)
    p.add_argument("--nodes", type=int, default=1000)
    p.add_argument("--pyrates-python", default="/tmp/pyrates_venv/bin/python")
    p.add_argument("--no-pyrates", action="store_true")
    p.add_argument("--timeout", type=float, default=600)
    p.add_argument("--json", default=None)
    p.add_argument("--case", choices=["all", "backend", "delayed"], default="all")
    p.add_argument("--regions", type=int, default=1000)
    p.add_argument("--no-numpy", action="store_true", help="delayed case: rates-fortran only")
    args = p.parse_args()
    if args.case == "delayed":
        out = {"delayed": run_delayed(args.regions, args.repeat, not args.no_numpy)}
        if args.json:
            Path(args.json).write_text(json.dumps(out, indent=2, default=str))
        return

    from rates_core import CircuitTemplate
    from rates_core.testing import references as ref
    from rates_core.testing.suite import _dense_weights
    from rates_fortran.build import _flags

    print(f"compiler flags: {' '.join(_flags())}")
    results: dict = {"flags": _flags(), "jansen_rit": {}, "network": {}}
    outputs = {"v_e": "pc/syn_exc_ext/v", "v_i": "pc/syn_inh/v"}
    hand = hand_jrc()
    for method in ("euler", "rk4"):
        frame: Any = None
        # a template of its own per method: a template reuses its built System and compiled
        # model from run to run, and the loop timer sees compiled models made inside it
        jrc = CircuitTemplate.from_yaml("rates_core.models.jansenrit.JRC")

        def once(s=f"fortran_{method}", jrc=jrc):
            nonlocal frame
            frame = jrc.run(
                10.0, 1e-4, sampling_step_size=1e-3, outputs=outputs, backend="fortran", solver=s
            )

        entry, hand_times = interleaved(once, hand[method], args.repeat)
        entry["hand"] = min(hand_times["constants"])
        entry["hand_median"] = float(np.median(hand_times["constants"]))
        entry["hand_all"] = {k: min(v) for k, v in hand_times.items()}
        entry["hand_rel_diff"] = _rel(frame.to_numpy(), hand[method]["constants"][1])
        results["jansen_rit"][f"fortran_{method}"] = entry
        print(f"Jansen-Rit {method:5s} rates-fortran  " + _line(entry))
        first, times = best(
            lambda m=method, jrc=jrc: jrc.run(
                10.0, 1e-4, sampling_step_size=1e-3, outputs=outputs, backend="numpy", solver=m
            ),
            min(args.repeat, 5),
        )
        entry = {"first": first, "best": min(times), "median": float(np.median(times))}
        results["jansen_rit"][f"numpy_{method}"] = entry
        print(f"Jansen-Rit {method:5s} rates-numpy    " + _line(entry))
    if not args.no_pyrates:
        py = pyrates(args.pyrates_python, args.timeout)
        results["jansen_rit"]["pyrates"] = py
        print(f"Jansen-Rit PyRates 1.2.3: {py}")

    n = args.nodes
    labels, etas, net = ref.rate_network_nodes(n)
    w = _dense_weights(n)
    net = net.add_edges_from_matrix("op/r", "op/r_in", labels, weight=w)
    n_steps = 1000
    hand_net = hand_network(np.asarray(etas, float), w, np.full(n, 0.1), np.full(n, 0.05), n_steps)
    frame = None

    def once_net():
        nonlocal frame
        frame = net.run(1.0, 1e-3, outputs={"r": "all/op/r"}, backend="fortran",
                        solver="fortran_euler")  # fmt: skip

    entry, hand_times = interleaved(once_net, hand_net, args.repeat)
    fastest = min(hand_times, key=lambda k: min(hand_times[k]))
    entry["hand"] = min(hand_times[fastest])
    entry["hand_median"] = float(np.median(hand_times[fastest]))
    entry["hand_variant"] = fastest
    entry["hand_all"] = {k: min(v) for k, v in hand_times.items()}
    entry["hand_rel_diff"] = _rel(frame.to_numpy(), hand_net[fastest][1])
    results["network"]["fortran"] = entry
    print(f"{n}-unit network euler rates-fortran  " + _line(entry))
    first, times = best(
        lambda: net.run(1.0, 1e-3, outputs={"r": "all/op/r"}, backend="numpy", solver="euler"),
        min(args.repeat, 5),
    )
    entry = {"first": first, "best": min(times), "median": float(np.median(times))}
    results["network"]["numpy"] = entry
    print(f"{n}-unit network euler rates-numpy    " + _line(entry))
    if args.case == "all":
        results["delayed"] = run_delayed(args.regions, min(args.repeat, 3))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2, default=str))


def delayed_network(n: int = 1000, density: float = 0.1, seed: int = 7) -> Any:
    """``n`` rate units coupled through ``r -> r_in`` with a fraction ``density`` of random
    weights (normal, scaled by 1/sqrt(n density)) and delays uniform in [1, 50] ms."""
    from rates_core.testing import references as ref

    labels, _, net = ref.rate_network_nodes(n)
    rng = np.random.default_rng(seed)
    mask = rng.random((n, n)) < density
    weights = np.where(mask, rng.normal(0.0, 1.0 / np.sqrt(n * density), (n, n)), 0.0)
    delays = rng.uniform(1e-3, 50e-3, (n, n))
    return net.add_edges_from_matrix(
        "op/r", "op/r_in", labels, weight=weights, edge_attr={"delay": delays}
    )


def run_delayed(n: int = 1000, repeat: int = 3, numpy: bool = True) -> dict[str, dict]:
    """Seconds of 1 s of :func:`delayed_network` with Heun at dt = 1e-4: rates-fortran exact
    (and grid where available), rates-numpy exact (and grid). Per run: the first call
    (compiling), then the best of ``repeat`` later calls, in wall-clock seconds (``wall``) and
    CPU seconds of this process (``cpu``, the fair number on a loaded machine; NumPy may use
    several threads); for rates-fortran also its ``rates_solve`` loop (``loop``, wall). The
    largest relative difference of each result to fortran exact."""
    import inspect

    from rates_core import simulate

    net = delayed_network(n)
    conns = len(net.connections[-1].rows)
    print(f"delayed network: {n} regions, {conns} delayed connections, heun, dt 1e-4, 1 s")
    grid = "delays" in inspect.signature(simulate.run).parameters  # rates-core with grid
    runs: dict[str, tuple[str, str, dict[str, Any]]] = {
        "fortran_exact": ("fortran", "fortran_heun", {})
    }
    if grid:
        runs["fortran_grid"] = ("fortran", "fortran_heun", {"delays": "grid"})
    if numpy:
        runs["numpy_exact"] = ("numpy", "heun", {})
        if grid:
            runs["numpy_grid"] = ("numpy", "heun", {"delays": "grid"})
    results: dict[str, dict] = {}
    frames: dict[str, np.ndarray] = {}
    with loop_timer() as all_loops:  # the compiled model is made once, in the first run
        for name, (backend, solver, extra) in runs.items():
            wall: list[float] = []
            cpu: list[float] = []
            seen = len(all_loops)
            for _ in range(1 + max(repeat if backend == "fortran" else min(repeat, 2), 0)):
                t, c = time.perf_counter(), time.process_time()
                frame = net.run(1.0, 1e-4, sampling_step_size=1e-3, outputs={"r": "all/op/r"},
                                backend=backend, solver=solver, **extra)  # fmt: skip
                wall.append(time.perf_counter() - t)
                cpu.append(time.process_time() - c)
            frames[name] = frame.to_numpy()
            results[name] = _delayed_entry(wall, cpu, all_loops[seen:])
    for name, entry in results.items():
        entry["rel_diff_to_fortran_exact"] = _rel(frames["fortran_exact"], frames[name])
        print(
            f"  {name:14s} first {entry['first']:8.3f} s  wall {entry['wall']:8.3f} s  "
            f"cpu {entry['cpu']:8.3f} s"
            + (f"  loop {entry['loop']:8.3f} s" if "loop" in entry else "")
            + f"  rel. diff to fortran exact {entry['rel_diff_to_fortran_exact']:.1e}"
        )
    return results


def _delayed_entry(wall: list[float], cpu: list[float], loops: list[float]) -> dict[str, float]:
    """First call, then the best of the later calls (the first alone without any)."""
    later = slice(1, None) if len(wall) > 1 else slice(None)
    entry = {"first": wall[0], "wall": min(wall[later]), "cpu": min(cpu[later])}
    if loops:
        entry["loop"] = min(loops[later])
    return entry


def _line(e: dict) -> str:
    text = f"first {e['first']:7.3f} s  best {e['best']:8.4f} s  median {e['median']:8.4f} s"
    if "loop" in e:
        text += (
            f"\n    loop (rates_solve) {e['loop']:8.4f} s (median {e['loop_median']:.4f}); "
            f"hand-written {e['hand']:8.4f} s (median {e['hand_median']:.4f})"
            f"{' (' + e['hand_variant'] + ')' if 'hand_variant' in e else ''}; "
            f"loop/hand {e['loop'] / e['hand']:5.2f}x, whole/hand {e['best'] / e['hand']:5.2f}x; "
            f"max rel. difference to hand-written {e['hand_rel_diff']:.1e}"
        )
        if "hand_all" in e:
            text += "\n    hand-written variants: " + ", ".join(
                f"{k} {v:.4f} s" for k, v in e["hand_all"].items()
            )
    return text


if __name__ == "__main__":
    main()
