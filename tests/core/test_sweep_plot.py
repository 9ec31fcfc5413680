"""rates_core.sweep_plot: the heatmap and its click-through, headless (matplotlib Agg)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rates_core.errors import ModelError
from rates_core.sweep import linearize_grid

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")

from rates_core.sweep_plot import Interactive2DParamPlot, summary_map  # noqa: E402


def _sweep():
    grid = linearize_grid({"a": [1.0, 2.0, 3.0], "b": [10.0, 20.0]}, permute=True)
    grid.index = [f"m_{i}" for i in grid.index]
    t = np.arange(0, 1, 0.1)
    cols, data = [], []
    for label in grid.index:
        cols.append(("r", label, "p", "op/r"))
        data.append(grid.at[label, "a"] * grid.at[label, "b"] * np.ones_like(t) + t)
    results = pd.DataFrame(
        np.column_stack(data),
        index=pd.Index(t, name="time"),
        columns=pd.MultiIndex.from_tuples(cols),
    )
    return results, grid


def test_summary_map_values():
    results, grid = _sweep()
    values, xs, ys, labels = summary_map(results, grid, "a", "b", summary="last")
    assert xs.tolist() == [1.0, 2.0, 3.0] and ys.tolist() == [10.0, 20.0]
    np.testing.assert_allclose(values, np.outer(ys, xs) + 0.9)
    assert labels[1, 2] == "m_5"
    values, *_ = summary_map(results, grid, "a", "b", summary=lambda s: s.iloc[0], tmin=0.5)
    np.testing.assert_allclose(values, np.outer(ys, xs) + 0.5)
    with pytest.raises(ModelError, match="not a column"):
        summary_map(results, grid, "a", "c")
    with pytest.raises(ModelError, match="summary must be"):
        summary_map(results, grid, "a", "b", summary="median-ish")


def test_click_shows_time_series():
    from matplotlib.backend_bases import MouseEvent

    results, grid = _sweep()
    plot = Interactive2DParamPlot(results, grid, "a", "b", summary="mean")
    assert plot.image.get_array().shape == (2, 3)
    plot.fig.canvas.draw()
    x_px, y_px = plot.ax.transData.transform((2.0, 20.0))
    event = MouseEvent("button_press_event", plot.fig.canvas, x_px, y_px, button=1)
    plot.fig.canvas.callbacks.process("button_press_event", event)
    assert plot.selected == "m_4"
    (line,) = plot.ax_series.get_lines()
    np.testing.assert_allclose(line.get_ydata(), results[("r", "m_4", "p", "op/r")].to_numpy())
    assert "a=2" in plot.ax_series.get_title()
    # a click outside the heatmap changes nothing
    x_px, y_px = plot.ax_series.transData.transform((0.5, 1.0))
    other = MouseEvent("button_press_event", plot.fig.canvas, x_px, y_px, button=1)
    plot.fig.canvas.callbacks.process("button_press_event", other)
    assert plot.selected == "m_4"
    import matplotlib.pyplot as plt

    plt.close(plot.fig)
