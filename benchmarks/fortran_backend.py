"""rates-fortran against rates-numpy, a hand-written Fortran loop and PyRates, in one run.

Cases: the Jansen-Rit circuit (``rates_core.models.jansenrit.JRC``), 10 s at dt = 1e-4 sampled at
1e-3, with euler and rk4; a 1000-unit rate network with a dense random coupling matrix
(``rates_core.testing.references.rate_network_nodes``), 1 s at dt = 1e-3 with euler.

Times are wall-clock seconds of ``circuit.run`` (best of ``--repeat``; the first, compiling
call is reported separately as ``first``). The hand-written loop is the Jansen-Rit Euler / RK4
of ``benchmarks/cases/jansenrit.py`` in Fortran, compiled with the same flags (-O2) and called
through ctypes. PyRates 1.2.3 (``--pyrates-python``) runs ``cases/jansenrit.py --impl pyrates``
(its NumPy backend) and, separately, its fortran backend; failures are reported, not fatal.

    python benchmarks/fortran_backend.py [--repeat 3] [--nodes 1000] [--json out.json]
"""

from __future__ import annotations

import argparse
import ctypes
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent

HAND_WRITTEN = """
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


def best(func, repeat: int) -> tuple[float, float]:
    t = time.perf_counter()
    func()
    first = time.perf_counter() - t
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        func()
        times.append(time.perf_counter() - t)
    return first, min(times)


def hand_written(repeat: int) -> dict[str, float]:
    tmp = Path(tempfile.mkdtemp(prefix="rates-bench-"))
    (tmp / "jrc.f90").write_text(HAND_WRITTEN)
    subprocess.run(
        ["gfortran", "-O2", "-shared", "-fPIC", "jrc.f90", "-o", "jrc.so"], cwd=tmp, check=True
    )
    lib = ctypes.CDLL(str(tmp / "jrc.so"))
    lib.jrc.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_int64,
                        ctypes.c_double, ctypes.c_void_p]  # fmt: skip
    out = np.zeros((10_000, 2))
    res = {}
    for m, name in ((1, "euler"), (2, "rk4")):
        res[name] = best(
            lambda m=m: lib.jrc(m, 100_000, 10, 10_000, 1e-4, out.ctypes.data), repeat
        )[1]
    return res


def pyrates(python: str, timeout: float) -> dict[str, str | float]:
    res: dict[str, str | float] = {}
    if not Path(python).exists():
        return {"error": f"{python} not found"}
    try:
        done = subprocess.run(
            [python, str(HERE / "cases" / "jansenrit.py"), "--impl", "pyrates"],
            capture_output=True, text=True, timeout=timeout, cwd=tempfile.mkdtemp(),
        )  # fmt: skip
        line = next(ln for ln in done.stdout.splitlines() if ln.startswith("BENCH_JSON"))
        res["numpy_euler"] = json.loads(line.split(" ", 1)[1]).get("seconds", line)
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


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--nodes", type=int, default=1000)
    p.add_argument("--pyrates-python", default="/tmp/pyrates_venv/bin/python")
    p.add_argument("--timeout", type=float, default=600)
    p.add_argument("--json", default=None)
    args = p.parse_args()

    from rates_core import CircuitTemplate
    from rates_core.testing import references as ref
    from rates_core.testing.suite import _dense_weights

    results: dict = {"jansen_rit": {}, "network": {}}
    jrc = CircuitTemplate.from_yaml("rates_core.models.jansenrit.JRC")
    outputs = {"v_e": "pc/syn_exc_ext/v", "v_i": "pc/syn_inh/v"}
    for method in ("euler", "rk4"):
        for backend, solver in (("fortran", f"fortran_{method}"), ("numpy", method)):
            first, t = best(
                lambda b=backend, s=solver: jrc.run(
                    10.0, 1e-4, sampling_step_size=1e-3, outputs=outputs, backend=b, solver=s
                ),
                args.repeat,
            )
            results["jansen_rit"][f"{backend}_{method}"] = {"first": first, "best": t}
            print(f"Jansen-Rit {method} rates-{backend}: first {first:.3f} s, best {t:.4f} s")
    hand = hand_written(args.repeat)
    for method, t in hand.items():
        results["jansen_rit"][f"hand_fortran_{method}"] = {"best": t}
        print(f"Jansen-Rit {method:5s} hand-written Fortran      best {t:8.4f} s")
    py = pyrates(args.pyrates_python, args.timeout)
    results["jansen_rit"]["pyrates"] = py
    print(f"Jansen-Rit PyRates 1.2.3: {py}")

    n = args.nodes
    labels, _, net = ref.rate_network_nodes(n)
    net = net.add_edges_from_matrix("op/r", "op/r_in", labels, weight=_dense_weights(n))
    for backend, solver in (("fortran", "fortran_euler"), ("numpy", "euler")):
        first, t = best(
            lambda b=backend, s=solver: net.run(
                1.0, 1e-3, outputs={"r": "all/op/r"}, backend=b, solver=s
            ),
            args.repeat,
        )
        results["network"][backend] = {"first": first, "best": t}
        print(f"{n}-unit network euler rates-{backend:8s} first {first:8.3f} s  best {t:8.4f} s")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2, default=str))


if __name__ == "__main__":
    sys.exit(main())
