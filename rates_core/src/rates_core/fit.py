"""Population-based fitting on the sweep machinery: :func:`evolve` (issue 11).

``evolve`` drives :func:`scipy.optimize.differential_evolution` with ``vectorized=True``: each
generation (``popsize * n_parameters`` candidates) is one parameter sweep, so the vector field is
generated and compiled once for the whole fit and every generation runs as one batch (fixed-step
solvers: all candidates integrated together; adaptive solvers: one solve per candidate, one
compiled function)::

    from rates_core.fit import evolve

    def loss(sim):                      # the simulated outputs of one candidate
        return float(((sim["r"].to_numpy() - target) ** 2).mean())

    fitted = evolve(qif, loss, bounds={"eta": (-8.0, -2.0)},
                    param_map={"eta": {"vars": ["qif_op/eta"], "nodes": ["p"]}},
                    simulation_time=10.0, step_size=1e-3, outputs={"r": "p/qif_op/r"}, seed=1)
    fitted.params                       # {"eta": -5.0...}

The loss receives one candidate's results: a DataFrame indexed by time whose columns are the
output names (or ``(output, node, op/var)`` when an output matches several variables); it returns
a number (NaN and errors of the loss count as ``inf``, so a diverging candidate loses).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from rates_core.errors import ModelError
from rates_core.sweep import Sweep

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["EvolveResult", "evolve"]


@dataclass
class EvolveResult:
    """The best parameters found, their loss, generations run, and scipy's result."""

    params: dict[str, float]
    loss: float
    n_generations: int
    n_evaluations: int
    success: bool
    message: str
    history: list[float] = field(default_factory=list)  # best loss after each generation
    n_compiled: int = 0  # functions generated for the whole fit (1 unless layouts differ)
    scipy_result: Any = None


def _candidate_frame(results: pd.DataFrame, label: str) -> pd.DataFrame:
    sub = results.xs(label, axis=1, level=1)
    first = sub.columns.get_level_values(0)
    if first.is_unique:
        sub = sub.copy()
        sub.columns = list(first)
    return sub


def evolve(
    circuit: Any,
    loss: Callable[[pd.DataFrame], float],
    bounds: Mapping[str, tuple[float, float]],
    param_map: Mapping[str, Any],
    simulation_time: float,
    step_size: float,
    outputs: Mapping[str, str] | Sequence[str],
    *,
    inputs: Mapping[str, Any] | None = None,
    sampling_step_size: float | None = None,
    backend: str = "numpy",
    solver: str = "euler",
    popsize: int = 15,
    maxiter: int = 100,
    tol: float = 0.01,
    atol: float = 0.0,
    mutation: float | tuple[float, float] = (0.5, 1.0),
    recombination: float = 0.7,
    init: str = "latinhypercube",
    seed: int | None = None,
    polish: bool = False,
    executor: Any = None,
    batch_size: int | None = None,
    callback: Callable[[int, float, dict[str, float]], Any] | None = None,
    **run_options: Any,
) -> EvolveResult:
    """Minimise ``loss`` over ``bounds`` (key -> (low, high), keys as in ``param_map``) by
    differential evolution, one batched sweep per generation (see the module doc).

    ``popsize``, ``maxiter``, ``tol``, ``atol``, ``mutation``, ``recombination``, ``init``,
    ``seed`` and ``polish`` are those of :func:`scipy.optimize.differential_evolution`
    (``polish=True`` refines the best candidate with L-BFGS-B, one set per call).
    ``batch_size`` defaults to the size of a generation. ``callback(generation, best_loss,
    best_params)`` is called after each generation; returning True stops the fit.
    Further keyword arguments are those of :func:`rates_core.sweep.grid_search`.
    """
    import pandas as pd
    from scipy.optimize import differential_evolution

    keys = list(bounds)
    if not keys:
        raise ModelError("evolve needs at least one parameter in bounds")
    for key in keys:
        lo, hi = bounds[key]
        if not lo < hi:
            raise ModelError(f"evolve: bounds of {key!r} must be (low, high) with low < high")
    generation_size = popsize * len(keys)
    sweep = Sweep(
        circuit,
        {k: param_map[k] for k in keys if k in param_map} or dict(param_map),
        simulation_time,
        step_size,
        outputs,
        inputs=inputs,
        sampling_step_size=sampling_step_size,
        backend=backend,
        solver=solver,
        batch_size=batch_size or generation_size,
        **run_options,
    )
    counts = {"evaluations": 0, "generations": 0}
    history: list[float] = []
    best: dict[str, Any] = {"loss": np.inf, "params": {}}

    def evaluate(x: np.ndarray) -> np.ndarray:
        x = np.atleast_2d(np.asarray(x, dtype=float).T).T  # (n_params, S)
        grid = pd.DataFrame({k: x[i] for i, k in enumerate(keys)})
        results, labelled = sweep.run(grid, executor=executor, progress=False)
        values = np.empty(x.shape[1])
        for j, label in enumerate(labelled.index):
            try:
                value = float(loss(_candidate_frame(results, label)))
            except (ArithmeticError, ValueError):
                value = np.inf
            values[j] = value if np.isfinite(value) else np.inf
        counts["evaluations"] += x.shape[1]
        j = int(np.argmin(values))
        if values[j] < best["loss"]:
            best["loss"] = float(values[j])
            best["params"] = {k: float(x[i, j]) for i, k in enumerate(keys)}
        return values

    def on_generation(intermediate_result: Any) -> bool:
        counts["generations"] += 1
        history.append(float(intermediate_result.fun))
        if callback is not None:
            params = {k: float(v) for k, v in zip(keys, intermediate_result.x)}
            return bool(callback(counts["generations"], float(intermediate_result.fun), params))
        return False

    import inspect

    # scipy >= 1.15 names the seed ``rng``, older versions ``seed``
    seeding = "rng" if "rng" in inspect.signature(differential_evolution).parameters else "seed"
    result = differential_evolution(
        evaluate,
        [tuple(map(float, bounds[k])) for k in keys],
        popsize=popsize,
        maxiter=maxiter,
        tol=tol,
        atol=atol,
        mutation=mutation,
        recombination=recombination,
        init=init,
        **{seeding: seed},
        polish=polish,
        vectorized=True,
        updating="deferred",
        callback=on_generation,
    )
    params = {k: float(v) for k, v in zip(keys, np.atleast_1d(result.x))}
    return EvolveResult(
        params=params,
        loss=float(result.fun),
        n_generations=counts["generations"],
        n_evaluations=counts["evaluations"],
        success=bool(result.success),
        message=str(result.message),
        history=history,
        n_compiled=len(sweep.compiled),
        scipy_result=result,
    )
