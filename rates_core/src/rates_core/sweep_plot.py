"""A heatmap of a sweep over two parameters with a click-through time series (PyRates's
``Interactive2DParamPlot``), for the results of :func:`rates_core.sweep.grid_search`::

    results, grid = grid_search(circuit, {"eta": etas, "J": js}, param_map, ..., permute_grid=True)
    plot = Interactive2DParamPlot(results, grid, x="eta", y="J", output="r", summary="mean")
    plt.show()      # click a cell: its time series appears on the right

``summary`` reduces one parameter set's recorded values (after ``tmin``) to one number: a name
(``mean``, ``max``, ``min``, ``std``, ``last``, ``ptp``) or a function of the set's data (a
Series when the output is one variable, else a DataFrame). Needs matplotlib (``pip install
rates-core[plot]``); works with any backend, headless ones (Agg) included.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from rates_core.errors import ModelError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Interactive2DParamPlot", "summary_map"]

_SUMMARIES: dict[str, Callable[[np.ndarray], float]] = {
    "mean": lambda v: float(np.mean(v)),
    "max": lambda v: float(np.max(v)),
    "min": lambda v: float(np.min(v)),
    "std": lambda v: float(np.std(v)),
    "ptp": lambda v: float(np.ptp(v)),
    "last": lambda v: float(np.mean(np.asarray(v)[-1])),
}


def _set_data(results: pd.DataFrame, output: str, label: str, tmin: float) -> Any:
    data = results.loc[results.index >= tmin - 1e-12, (output, label)]
    if getattr(data, "ndim", 1) == 2 and data.shape[1] == 1:
        data = data.iloc[:, 0]
    return data


def summary_map(
    results: pd.DataFrame,
    param_grid: pd.DataFrame,
    x: str,
    y: str,
    output: str | None = None,
    summary: str | Callable[[Any], float] = "mean",
    tmin: float = 0.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(values, x_values, y_values, labels)``: ``values[i, j]`` summarises the set with
    ``y_values[i]`` and ``x_values[j]`` (NaN where the grid has no such set), ``labels[i, j]``
    its label (``""`` where none)."""
    for key in (x, y):
        if key not in param_grid.columns:
            raise ModelError(
                f"{key!r} is not a column of the parameter grid ({list(param_grid.columns)})"
            )
    outputs = list(dict.fromkeys(results.columns.get_level_values(0)))
    if output is None:
        if len(outputs) != 1:
            raise ModelError(f"several outputs ({outputs}): choose one with output=")
        output = outputs[0]
    if output not in outputs:
        raise ModelError(f"no output {output!r} in the results (outputs: {outputs})")
    if isinstance(summary, str):
        if summary not in _SUMMARIES:
            raise ModelError(f"summary must be one of {sorted(_SUMMARIES)} or a function")
        reduce = _SUMMARIES[summary]

        def summarise(data: Any) -> float:
            return reduce(np.asarray(data))

        func: Callable[[Any], float] = summarise
    else:
        func = summary
    x_values = np.unique(param_grid[x].to_numpy(dtype=float))
    y_values = np.unique(param_grid[y].to_numpy(dtype=float))
    values = np.full((y_values.size, x_values.size), np.nan)
    labels = np.full((y_values.size, x_values.size), "", dtype=object)
    for label in param_grid.index:
        j = int(np.argmin(np.abs(x_values - float(param_grid.at[label, x]))))
        i = int(np.argmin(np.abs(y_values - float(param_grid.at[label, y]))))
        values[i, j] = float(func(_set_data(results, output, label, tmin)))
        labels[i, j] = label
    return values, x_values, y_values, labels


class Interactive2DParamPlot:
    """A heatmap of ``summary`` over parameters ``x`` and ``y`` (left) and the time series of
    the clicked set (right). ``fig``, ``ax`` (heatmap), ``ax_series``, ``values``,
    ``x_values``, ``y_values`` and ``labels`` are attributes; :meth:`show_set` plots one set
    by label; subclasses may override :meth:`get_data` (as with PyRates)."""

    def __init__(
        self,
        results: pd.DataFrame,
        param_grid: pd.DataFrame,
        x: str,
        y: str,
        output: str | None = None,
        summary: str | Callable[[Any], float] = "mean",
        tmin: float = 0.0,
        title: str | None = None,
        cmap: str = "viridis",
        figsize: tuple[float, float] = (10.0, 4.0),
    ) -> None:
        try:
            import matplotlib.pyplot as plt
        except ImportError as exc:
            from rates_core.backend import MissingDependencyError

            raise MissingDependencyError(
                "Interactive2DParamPlot needs matplotlib: `pip install rates-core[plot]`"
            ) from exc
        self.results = results
        self.param_grid = param_grid
        self.x, self.y, self.tmin = x, y, tmin
        self.values, self.x_values, self.y_values, self.labels = summary_map(
            results, param_grid, x, y, output, summary, tmin
        )
        self.output = output or results.columns.get_level_values(0)[0]
        self.fig, (self.ax, self.ax_series) = plt.subplots(1, 2, figsize=figsize)
        extent = self._extent()
        self.image = self.ax.imshow(
            self.values, origin="lower", aspect="auto", extent=extent, cmap=cmap,
            interpolation="nearest",
        )  # fmt: skip
        self.fig.colorbar(self.image, ax=self.ax, label=summary if isinstance(summary, str) else "")
        self.ax.set_xlabel(x)
        self.ax.set_ylabel(y)
        self.ax.set_title(title or f"{self.output}")
        self.ax_series.set_xlabel("time")
        self.ax_series.set_ylabel(self.output)
        self.selected: str | None = None
        self._cid = self.fig.canvas.mpl_connect("button_press_event", self.on_click)

    def _extent(self) -> list[float]:
        def edges(v: np.ndarray) -> tuple[float, float]:
            if v.size == 1:
                return v[0] - 0.5, v[0] + 0.5
            step = (v[-1] - v[0]) / (v.size - 1)
            return v[0] - step / 2, v[-1] + step / 2

        return [*edges(self.x_values), *edges(self.y_values)]

    def get_data(self, label: str) -> Any:
        """The time series shown for set ``label``."""
        return _set_data(self.results, self.output, label, self.tmin)

    def label_at(self, xdata: float, ydata: float) -> str | None:
        """The label of the set nearest to the point (``None`` where the grid has none)."""
        j = int(np.argmin(np.abs(self.x_values - xdata)))
        i = int(np.argmin(np.abs(self.y_values - ydata)))
        return self.labels[i, j] or None

    def show_set(self, label: str) -> None:
        data = self.get_data(label)
        self.ax_series.clear()
        data.plot(ax=self.ax_series, legend=getattr(data, "ndim", 1) == 2)
        point = ", ".join(
            f"{k}={self.param_grid.at[label, k]:.4g}" for k in (self.x, self.y)
        )  # fmt: skip
        self.ax_series.set_title(f"{label}: {point}")
        self.ax_series.set_xlabel("time")
        self.selected = label
        self.fig.canvas.draw_idle()

    def on_click(self, event: Any) -> None:
        if event.inaxes is not self.ax or event.xdata is None or event.ydata is None:
            return
        label = self.label_at(event.xdata, event.ydata)
        if label is not None:
            self.show_set(label)
