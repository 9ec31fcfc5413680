"""rates-torch against rates-numpy (run by hand: ``python benchmarks/torch_backend.py``).

Needs rates-core, rates-numpy and rates-torch (torch CPU build). Two cases, one run:

1. **QIF population, sparse coupling**: ``PopulationTemplate`` of N = 10,000 QIF units
   (Lorentzian ``eta``) with 1 % random sparse recurrent coupling (a scipy CSR matrix, a torch
   sparse CSR tensor in the torch backend), ``--qif-time`` time units at ``dt = 1e-3`` with
   Euler and RK4 through ``run()``: rates-numpy (``euler``/``rk4``) against rates-torch
   (``torch_euler``/``torch_rk4``, ``device="cpu"``). Both results are compared.
2. **Jansen-Rit, batched parameter sets**: 1,000 values of the excitatory input weight of
   ``rates_core.models.jansenrit.JRC``, 1 s at ``dt = 1e-4`` with RK4. rates-torch runs them as
   one batch (``rates_torch.simulate(..., batch=1000)``: one generated function, a leading
   batch axis); rates-numpy runs one ``run()`` per set (``--numpy-sets`` of them are timed, the
   time for 1,000 is extrapolated linearly). ``--compile`` adds the torch batch with
   ``torch.compile`` (off by default; needs a C++ compiler for the CPU inductor).

Timings are wall-clock seconds of one run after a short warm-up run of the same model (so code
generation and compilation caches are warm); the machine and thread count are printed.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import scipy.sparse as sp

from rates_core import (
    CircuitTemplate,
    Connectivity,
    NodeTemplate,
    OperatorTemplate,
    PopulationTemplate,
)

QIF_EQUATIONS = [
    "r' = (Delta/(pi*tau) + 2.0*r*v) / tau",
    "v' = (v^2 + eta + I_ext + tau*r_in - (pi*tau*r)^2) / tau",
]
QIF_VARIABLES = {
    "r": "output(0.01)",
    "v": "variable(-2.0)",
    "Delta": 1.0,
    "tau": 1.0,
    "eta": -5.0,
    "I_ext": "input(0.0)",
    "r_in": "input(0.0)",
}


def qif_circuit(n: int, density: float) -> CircuitTemplate:
    rng = np.random.default_rng(0)
    k = int(round(density * n * n))
    rows, cols = rng.integers(0, n, k), rng.integers(0, n, k)
    weights = rng.uniform(0.0, 2.0, k) * 15.0 / (density * n)
    w = sp.csr_matrix((weights, (rows, cols)), shape=(n, n))
    eta = -5.0 + np.tan(np.pi * (rng.random(n) - 0.5)).clip(-50, 50)
    node = NodeTemplate(
        "qif_pop",
        operators=[OperatorTemplate("qif_op", equations=QIF_EQUATIONS, variables=QIF_VARIABLES)],
    )
    pop = PopulationTemplate("exc", node, n, params={"qif_op/eta": eta})
    return CircuitTemplate(
        "qif_net",
        populations={"exc": pop},
        connectivity=[Connectivity("exc/qif_op/r", "exc/qif_op/r_in", w)],
    )


def timed(func):
    start = time.perf_counter()
    out = func()
    return time.perf_counter() - start, out


def qif_case(n: int, density: float, T: float) -> list[tuple[str, float]]:
    circuit = qif_circuit(n, density)
    rows = []
    print(f"\n1. QIF population: N = {n}, density {density:.0%}, T = {T}, dt = 1e-3")
    for np_solver, torch_solver in (("euler", "torch_euler"), ("rk4", "torch_rk4")):
        results = {}
        for backend, solver in (("numpy", np_solver), ("torch", torch_solver)):
            kw = dict(solver=solver, backend=backend)
            circuit.run(0.01, 1e-3, outputs={"r": "exc/qif_op/r"}, **kw)  # warm-up
            seconds, frame = timed(
                lambda kw=kw: circuit.run(
                    T, 1e-3, outputs={"r": "exc/qif_op/r"}, sampling_step_size=0.1, **kw
                )
            )
            results[backend] = frame.to_numpy()
            steps = int(round(T / 1e-3))
            per_step = seconds / steps * 1e3
            print(f"  {backend:6s} {solver:12s} {seconds:7.2f} s  ({per_step:.2f} ms/step)")
            rows.append((f"QIF N={n} {solver}", seconds))
        diff = np.max(np.abs(results["numpy"] - results["torch"]))
        print(f"  max |numpy - torch| = {diff:.2e}")
    return rows


def jansen_rit_case(n_sets: int, numpy_sets: int, T: float, use_compile: bool) -> None:
    import torch

    import rates_torch

    jrc = CircuitTemplate.from_yaml("rates_core.models.jansenrit.JRC")
    model = rates_torch.TorchModel(jrc)
    weight = next(p for p in model.system.params if p.role == "weight")
    path = weight.paths[0]
    base = float(weight.value)
    factors = np.linspace(0.5, 1.5, n_sets)
    dt = 1e-4
    print(
        f"\n2. Jansen-Rit: {n_sets} parameter sets ({path} x 0.5 .. 1.5), T = {T}, dt = {dt}, rk4"
    )

    values = torch.as_tensor(base * factors)
    model.simulate(0.01, dt, params={path: values}, batch=n_sets)  # warm-up
    t_batch, res = timed(
        lambda: model.simulate(T, dt, params={path: values}, batch=n_sets, sampling_step_size=1e-3)
    )
    print(f"  torch batch of {n_sets} (torch_rk4):         {t_batch:8.2f} s")
    t_one, _ = timed(
        lambda: model.simulate(T, dt, params={path: values[0]}, sampling_step_size=1e-3)
    )
    print(
        f"  torch one set at a time (torch_rk4):    {t_one:8.2f} s per set -> "
        f"{t_one * n_sets:8.1f} s for {n_sets} (extrapolated)"
    )
    if use_compile:
        try:
            model.simulate(0.01, dt, params={path: values}, batch=n_sets, compile=True)
            t_c, _ = timed(
                lambda: model.simulate(
                    T,
                    dt,
                    params={path: values},
                    batch=n_sets,
                    sampling_step_size=1e-3,
                    compile=True,
                )
            )
            print(f"  torch batch with torch.compile:         {t_c:8.2f} s")
        except Exception as exc:  # no C++ compiler, unsupported op, ...
            print(f"  torch.compile failed: {type(exc).__name__}: {str(exc)[:200]}")

    src, tgt = path[: -len("/weight")].split("->")
    seconds = []
    diffs = []
    for i in range(numpy_sets):
        circuit = jrc.update_var(edge_vars=[(src, tgt, {"weight": float(base * factors[i])})])
        s, frame = timed(
            lambda circuit=circuit: circuit.run(
                T, dt, solver="rk4", sampling_step_size=1e-3, outputs=None
            )
        )
        seconds.append(s)
        if i == 0:
            idx = [model._state_index(c) for c in frame.columns]
            diffs.append(float(np.max(np.abs(res.states[:, i, idx].numpy() - frame.to_numpy()))))
    per = float(np.median(seconds[1:] if len(seconds) > 1 else seconds))
    print(
        f"  numpy one run() per set (rk4):          {per:8.2f} s per set -> "
        f"{per * n_sets:8.1f} s for {n_sets} (extrapolated from {numpy_sets})"
    )
    if diffs:
        print(f"  max |numpy - torch batch| (set 0) = {diffs[0]:.2e}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n-qif", type=int, default=10_000)
    parser.add_argument("--density", type=float, default=0.01)
    parser.add_argument("--qif-time", type=float, default=2.0)
    parser.add_argument("--sets", type=int, default=1000)
    parser.add_argument("--numpy-sets", type=int, default=5)
    parser.add_argument("--jrc-time", type=float, default=1.0)
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--skip-qif", action="store_true")
    parser.add_argument("--skip-jrc", action="store_true")
    args = parser.parse_args()
    import torch

    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"{os.cpu_count()} CPUs, CUDA: {torch.cuda.is_available()}"
    )
    if not args.skip_qif:
        qif_case(args.n_qif, args.density, args.qif_time)
    if not args.skip_jrc:
        jansen_rit_case(args.sets, args.numpy_sets, args.jrc_time, args.compile)


if __name__ == "__main__":
    main()
