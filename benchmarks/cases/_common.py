"""Helpers shared by the benchmark case scripts (stdlib and NumPy only).

The case scripts run under two different interpreters (the rates environment and the PyRates 1.2.3
environment), so this module imports neither library at module level.

Protocol with the driver: a case script prints exactly one line ``BENCH_JSON {...}`` on stdout
(everything else it or the library prints is ignored) and, with ``--save PATH``, writes the
recorded trajectory as ``.npz`` (``times``, ``values`` with one column per recorded variable).
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import io
import json
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

MARKER = "BENCH_JSON "


def parser(description: str, impls: tuple[str, ...]) -> argparse.ArgumentParser:
    """The command line every case script accepts (case scripts add their own options)."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--impl", choices=impls, required=True, help="which implementation to time")
    p.add_argument(
        "--phase",
        choices=("build", "run"),
        default="run",
        help="build: templates + get_run_func (first compile); run: circuit.run (twice for rates)",
    )
    p.add_argument("--save", default=None, help="write the recorded trajectory to this .npz file")
    p.add_argument(
        "--precision",
        default="float64",
        choices=("float64", "float32"),
        help="float precision of the simulation (PyRates defaults to float32; we use float64)",
    )
    return p


@contextlib.contextmanager
def stopwatch(results: dict[str, Any], key: str) -> Iterator[None]:
    """Store the wall-clock seconds of the ``with`` body in ``results[key]``."""
    start = time.perf_counter()
    try:
        yield
    finally:
        results[key] = time.perf_counter() - start


@contextlib.contextmanager
def captured_stdout() -> Iterator[io.StringIO]:
    """Collect what the body prints (PyRates's progress messages) instead of showing it."""
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        yield buffer


_PYRATES_SIM = re.compile(r"\.\.\.finished after ([0-9.eE+-]+)s\.")


def pyrates_simulation_seconds(verbose_output: str) -> float | None:
    """The integration time PyRates reports itself with ``verbose=True``.

    PyRates times its solver call (``graph.run``) with ``time.perf_counter`` and prints
    ``...finished after <seconds>s.``; everything else in ``run`` is its build.
    """
    found = _PYRATES_SIM.findall(verbose_output)
    return float(found[-1]) if found else None


def time_rates_solver() -> list[float]:
    """Wrap the rates plugin host's ``solve`` so each integration is timed.

    Returns the list the durations are appended to. Only the solver call (the integration loop of
    the backend plugin) is inside the timer; building the System, generating code and making the
    DataFrame are not. The library itself is not changed: the wrapper is an attribute of the one
    host object of this process.
    """
    from rates_core.plugins import default_host

    host = default_host()
    original: Callable[..., Any] = host.solve
    durations: list[float] = []

    def timed_solve(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            durations.append(time.perf_counter() - start)

    host.solve = timed_solve  # instance attribute shadows the method
    return durations


def frame_columns(frame: Any, names: list[str]) -> np.ndarray:
    """The columns of a rates / PyRates DataFrame as ``(n_samples, len(names))`` float64.

    ``names`` are node names for a MultiIndex frame (``(output, node, "op/var")`` columns), or
    plain column names.
    """
    if getattr(frame.columns, "nlevels", 1) > 1:
        by_node = {col[1]: col for col in frame.columns}
        cols = [by_node[n] for n in names]
    else:
        cols = names
    return np.column_stack([np.asarray(frame[c], dtype=np.float64) for c in cols])


def save_trajectory(path: str | None, times: Any, values: Any) -> None:
    if path:
        np.savez(path, times=np.asarray(times, dtype=np.float64), values=np.asarray(values))


def fresh_caches(impl: str) -> None:
    """Make the next build start from empty caches (imports stay warm).

    rates: a new, empty compile cache directory. PyRates: ``clear_frontend_caches()`` (its
    template and operator caches).
    """
    if impl == "rates":
        path = tempfile.mkdtemp(prefix="rates_cache_again_")
        atexit.register(shutil.rmtree, path, True)
        os.environ["RATES_CACHE_DIR"] = path
    else:
        from pyrates import clear_frontend_caches

        clear_frontend_caches()


def build_twice(impl: str, results: dict[str, Any], build: Callable[[str], None]) -> None:
    """Phase ``build``: ``build(suffix)`` stores ``load<suffix>`` and ``compile<suffix>``.

    The first build pays for the imports the library defers (rates imports sympy, pandas and
    scipy.sparse on first use); the second, in the same process after :func:`fresh_caches`,
    measures the build work alone.
    """
    build("")
    fresh_caches(impl)
    build("_again")
    for suffix in ("", "_again"):
        results["build" + suffix] = results["load" + suffix] + results["compile" + suffix]


def run_yaml_model(impl: str, phase: str, results: dict[str, Any], save: str | None, **case: Any):
    """Time one model file of rates or PyRates; ``case`` holds ``model``, ``outputs``,
    ``columns``, ``simulation_time``, ``step_size``, ``sampling_step_size`` and ``precision``.
    """
    runner = _rates_yaml_model if impl == "rates" else _pyrates_yaml_model
    runner(phase, results, save, **case)


def _rates_yaml_model(phase, results, save, *, model, outputs, columns, precision, **sim):
    with stopwatch(results, "import"):
        from rates_core import CircuitTemplate
    solver_times = time_rates_solver()

    def build(suffix: str) -> None:
        with stopwatch(results, "load" + suffix):
            circuit = CircuitTemplate.from_yaml(model)
        with stopwatch(results, "compile" + suffix):
            circuit.get_run_func(
                "rhs" + suffix, sim["step_size"], solver="euler", float_precision=precision
            )

    if phase == "build":
        build_twice("rates", results, build)
        return
    with stopwatch(results, "load"):
        circuit = CircuitTemplate.from_yaml(model)
    kwargs = dict(sim, solver="euler", outputs=outputs, float_precision=precision)
    with stopwatch(results, "run"):
        frame = circuit.run(**kwargs)
    results["sim"] = solver_times[-1]
    with stopwatch(results, "run2"):
        circuit.run(**kwargs)  # same template again: the generated code is in the compile cache
    results["sim2"] = solver_times[-1]
    save_trajectory(save, frame.index, frame_columns(frame, columns))


def _pyrates_yaml_model(phase, results, save, *, model, outputs, columns, precision, **sim):
    with stopwatch(results, "import"):
        from pyrates import CircuitTemplate

    def build(suffix: str) -> None:
        with stopwatch(results, "load" + suffix):
            circuit = CircuitTemplate.from_yaml(model)
        with captured_stdout(), stopwatch(results, "compile" + suffix):
            circuit.get_run_func(
                "rhs" + suffix,  # a new name: PyRates imports the generated file by name
                sim["step_size"],
                backend="default",
                solver="euler",
                float_precision=precision,
                verbose=False,
            )

    if phase == "build":
        build_twice("pyrates", results, build)
        return
    with stopwatch(results, "load"):
        circuit = CircuitTemplate.from_yaml(model)
    with captured_stdout() as printed, stopwatch(results, "run"):
        frame = circuit.run(
            **sim,
            solver="euler",
            outputs=outputs,
            backend="default",
            float_precision=precision,
            verbose=True,  # PyRates then prints the duration of its integration loop
        )
    results["sim"] = pyrates_simulation_seconds(printed.getvalue())
    save_trajectory(save, frame.index, frame_columns(frame, columns))


def run_plain_loop(
    results: dict[str, Any], save: str | None, sampling: float, loop: Callable[[], list]
) -> None:
    """Time ``loop()``, a hand-written baseline returning sample rows (the first: initial state)."""
    with stopwatch(results, "sim"):
        samples = loop()
    results["run"] = results["sim"]
    save_trajectory(save, [k * sampling for k in range(len(samples))], samples)


def report(impl: str, phase: str, results: dict[str, Any]) -> None:
    """Print the one line the driver reads."""
    payload = {"impl": impl, "phase": phase, "python": sys.executable, **results}
    sys.stdout.write(MARKER + json.dumps(payload) + "\n")
    sys.stdout.flush()
