"""rates_core.results on hand-made result frames (no backend needed)."""

from __future__ import annotations

import json
import sys

import numpy as np
import pandas as pd
import pytest

from rates_core import results
from rates_core.errors import MissingDependencyError, RatesError


def _times(n: int = 200, dt: float = 0.01) -> pd.Index:
    return pd.Index(np.arange(n) * dt, name="time")


def _multi_frame() -> pd.DataFrame:
    t = np.asarray(_times())
    columns = pd.MultiIndex.from_tuples(
        [("r", "a", "op/r"), ("r", "b", "op/r"), ("v", "a", "op/v")]
    )
    df = pd.DataFrame(np.column_stack([t, 2 * t, -t]), index=_times(), columns=columns)
    df.attrs.update(
        model="net",
        backend="numpy",
        solver="euler",
        solver_options={"a": 1},
        seed=None,
        step_size=0.01,
        sampling_step_size=0.01,
        vectorized=True,
    )
    return df


def test_to_xarray_multiindex_has_time_and_node() -> None:
    pytest.importorskip("xarray")
    ds = results.to_xarray(_multi_frame())
    assert ds["r"].dims == ("time", "node")
    assert list(ds["node"].values) == ["a", "b"]
    np.testing.assert_allclose(ds["r"].sel(node="b").values, 2 * ds["time"].values)
    assert np.isnan(ds["v"].sel(node="b").values).all()  # v is only recorded at node a
    assert ds.attrs["model"] == "net" and ds.attrs["vectorized"] == 1
    assert json.loads(ds.attrs["solver_options"]) == {"a": 1}
    assert "seed" not in ds.attrs  # None is not storable in netCDF


def test_to_xarray_path_columns_are_grouped_by_variable() -> None:
    pytest.importorskip("xarray")
    df = pd.DataFrame(
        {"a/op/x": np.ones(3), "b/op/x": np.zeros(3), "sub/c/op/y": np.ones(3), "psp": 1.0},
        index=_times(3),
    )
    ds = results.to_xarray(df)
    assert ds["op/x"].dims == ("time", "node")
    assert list(ds["node"].values) == ["a", "b", "sub/c"]
    assert ds["psp"].dims == ("time",)
    np.testing.assert_array_equal(ds["op/y"].sel(node="sub/c").values, np.ones(3))


def test_to_xarray_without_xarray(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "xarray", None)
    with pytest.raises(MissingDependencyError, match="rates-core\\[xarray\\]"):
        results.to_xarray(_multi_frame())


def test_power_spectrum_finds_the_frequency() -> None:
    dt = 1e-3
    t = np.arange(4000) * dt
    df = pd.DataFrame(
        {"x": np.sin(2 * np.pi * 40.0 * t), "y": np.sin(2 * np.pi * 120.0 * t)},
        index=pd.Index(t, name="time"),
    )
    spec = results.power_spectrum(df)
    assert spec.index.name == "frequency"
    assert spec["x"].idxmax() == pytest.approx(40.0, abs=1.0)
    assert spec["y"].idxmax() == pytest.approx(120.0, abs=1.0)
    periodogram = results.power_spectrum(df, ["x"], method="periodogram")
    assert list(periodogram.columns) == ["x"]
    assert periodogram["x"].idxmax() == pytest.approx(40.0, abs=0.5)
    with pytest.raises(RatesError, match="no column 'z'"):
        results.power_spectrum(df, ["z"])
    with pytest.raises(RatesError, match="method"):
        results.power_spectrum(df, method="fft")


def test_power_spectrum_of_multiindex_columns() -> None:
    df = _multi_frame()
    spec = results.power_spectrum(df, [("r", "a", "op/r")], nperseg=64)
    assert isinstance(spec.columns, pd.MultiIndex)
    assert spec.index[1] == pytest.approx(1 / (64 * 0.01))


def test_sampling_step() -> None:
    df = pd.DataFrame({"x": [0.0, 1.0, 2.0]}, index=[0.0, 0.5, 1.0])
    assert results.sampling_step(df) == 0.5
    df.attrs["sampling_step_size"] = 0.25
    assert results.sampling_step(df) == 0.25
    with pytest.raises(RatesError, match="equally spaced"):
        results.sampling_step(pd.DataFrame({"x": [0, 1, 2]}, index=[0.0, 0.5, 2.0]))
    with pytest.raises(RatesError, match="two rows"):
        results.sampling_step(pd.DataFrame({"x": [0]}, index=[0.0]))


def test_summary_and_flat_columns() -> None:
    df = _multi_frame()
    text = results.summary(df)
    assert "model net: backend numpy" in text and "solver euler" in text
    assert "200 rows from t = 0 to 1.99, 3 column(s)" in text
    assert "r (b)" in text
    flat = results.flat_columns(df)
    assert list(flat.columns) == ["r@a", "r@b", "v@a"]
    assert results.flat_columns(flat) is flat
    assert results.metadata(df)["solver"] == "euler"
    assert results.column_label("x") == "x"
