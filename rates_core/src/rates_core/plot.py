"""Quick plots of result frames with matplotlib (``pip install rates-core[plot]``).

* :func:`timeseries` draws columns of a result frame against time;
* :func:`power_spectrum` draws their power spectral densities
  (:func:`rates_core.results.power_spectrum`).

Both draw into ``ax`` when given (else a new figure) and return the Axes, so they compose with
any matplotlib layout. matplotlib is imported when a function is called, never at import time,
and the pyplot backend is left as the user configured it.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from rates_core.errors import MissingDependencyError, RatesError
from rates_core.results import column_label
from rates_core.results import power_spectrum as _power_spectrum

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes

__all__ = ["power_spectrum", "save", "timeseries"]


def pyplot() -> Any:
    """``matplotlib.pyplot``, or a MissingDependencyError with the install hint."""
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise MissingDependencyError(
            "plots need the matplotlib package: `pip install matplotlib` "
            "(or `pip install rates-core[plot]`)"
        ) from exc
    return plt


def _select(df: pd.DataFrame, columns: Sequence[Any] | str | None) -> list[Any]:
    """The columns to draw: all, a list of columns, or output names (every node of a name)."""
    if columns is None:
        return list(df.columns)
    if isinstance(columns, (str, tuple)):
        columns = [columns]
    chosen: list[Any] = []
    for wanted in columns:
        if wanted in list(df.columns):
            chosen.append(wanted)
            continue
        matches = [c for c in df.columns if isinstance(c, tuple) and c[0] == wanted]
        if not matches:
            raise RatesError(
                f"no column {wanted!r} in the results (columns: "
                f"{', '.join(map(column_label, df.columns))})"
            )
        chosen += matches
    return chosen


def _title(df: pd.DataFrame, title: str | None) -> str | None:
    if title is not None:
        return title or None
    attrs = df.attrs
    if not attrs.get("model"):
        return None
    step = attrs.get("step_size")
    return f"{attrs['model']} ({attrs.get('backend')}, {attrs.get('solver')}, dt = {step})"


def timeseries(
    df: pd.DataFrame,
    columns: Sequence[Any] | str | None = None,
    *,
    ax: Axes | None = None,
    title: str | None = None,
    xlabel: str = "time",
    ylabel: str | None = None,
    scale: float = 1.0,
    legend: bool | None = None,
    **line_kwargs: Any,
) -> Axes:
    """Plot columns of a result frame against time; returns the Axes.

    ``columns``: all (default), or column names, or output names of MultiIndex frames (every
    node of the name). ``scale`` multiplies the values (for example 1e3 for volts to mV).
    ``title``: None makes one from ``df.attrs`` (model, backend, solver, step), ``""`` none.
    ``legend``: None shows one for 2 to 12 lines. Further keywords go to ``Axes.plot``.
    Complex columns are drawn as their real part.
    """
    plt = pyplot()
    chosen = _select(df, columns)
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 3))
    times = np.asarray(df.index, dtype=float)
    for column in chosen:
        values = np.asarray(df[column].to_numpy())
        if np.iscomplexobj(values):
            values = values.real
        ax.plot(times, values * scale, label=column_label(column), **line_kwargs)
    ax.set_xlabel(xlabel)
    if ylabel is None and len(chosen) == 1:
        ylabel = column_label(chosen[0])
    if ylabel:
        ax.set_ylabel(ylabel)
    text = _title(df, title)
    if text:
        ax.set_title(text)
    if legend or (legend is None and 1 < len(chosen) <= 12):
        ax.legend(loc="best", fontsize="small")
    return ax


def power_spectrum(
    df: pd.DataFrame,
    columns: Sequence[Any] | str | None = None,
    *,
    ax: Axes | None = None,
    method: str = "welch",
    nperseg: int | None = None,
    fmax: float | None = None,
    log: bool = True,
    title: str | None = None,
    legend: bool | None = None,
    **line_kwargs: Any,
) -> Axes:
    """Plot the power spectral density of columns of a result frame; returns the Axes.

    ``method`` and ``nperseg`` as in :func:`rates_core.results.power_spectrum` (Welch by
    default). ``fmax`` limits the frequency axis; ``log`` draws the power on a log scale.
    The zero frequency is left out of log plots (the mean is removed before the estimate).
    """
    plt = pyplot()
    chosen = _select(df, columns)
    spectrum = _power_spectrum(df, chosen, method=method, nperseg=nperseg)
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.5))
    freqs = np.asarray(spectrum.index, dtype=float)
    keep = freqs > 0 if log else np.ones_like(freqs, dtype=bool)
    if fmax is not None:
        keep &= freqs <= fmax
    for column in chosen:
        ax.plot(
            freqs[keep],
            spectrum[column].to_numpy()[keep],
            label=column_label(column),
            **line_kwargs,
        )
    if log:
        ax.set_yscale("log")
    ax.set_xlabel("frequency (1 / time unit)")
    ax.set_ylabel("power spectral density")
    text = _title(df, title)
    if text:
        ax.set_title(text)
    if legend or (legend is None and 1 < len(chosen) <= 12):
        ax.legend(loc="best", fontsize="small")
    return ax


def save(
    ax: Axes,
    path: str,
    dpi: int = 100,
    *,
    overwrite: bool = False,
    protect: Collection[str] = (),
) -> None:
    """Write the figure of ``ax`` to ``path`` (format from the suffix) and close it.

    An existing file is replaced only with ``overwrite=True``, a file of ``protect`` never, and
    a symbolic link is never written through (:func:`rates_core.outputs.write_file`).
    """
    import io
    from pathlib import Path

    from rates_core.outputs import check_file, write_file

    plt = pyplot()
    figure = ax.figure
    figure.tight_layout()
    buffer = io.BytesIO()
    try:
        check_file(path, overwrite=overwrite, protect=protect)  # before drawing
        figure.savefig(buffer, dpi=dpi, format=Path(path).suffix[1:].lower() or None)
    except ValueError as exc:
        raise RatesError(f"cannot write the plot to {path!r}: {exc}") from exc
    finally:
        plt.close(figure)
    write_file(path, buffer.getvalue(), overwrite=overwrite, protect=protect)
