"""rates_core.plot with real results, headless (matplotlib's Agg backend)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rates_core import CircuitTemplate
from rates_core.errors import RatesError

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")

from rates_core import plot  # noqa: E402


@pytest.fixture(scope="module")
def jrc_frame():
    jrc = CircuitTemplate.from_yaml("rates_core.models.jansenrit.JRC")
    T, dt = 1.0, 1e-4
    noise = np.random.default_rng(0).uniform(120.0, 320.0, size=int(round(T / dt)))
    return jrc.run(
        T,
        dt,
        sampling_step_size=1e-3,
        solver="heun",
        inputs={"pc/syn_exc_ext/u": noise},
        outputs={"psp": "pc/rate_out/v", "ein": "ein/rate_out/v"},
    )


def test_timeseries(jrc_frame, tmp_path: Path) -> None:
    import matplotlib.pyplot as plt

    ax = plot.timeseries(jrc_frame, scale=1e3, ylabel="PSP (mV)")
    assert len(ax.get_lines()) == 2
    x, y = ax.get_lines()[0].get_data()
    np.testing.assert_allclose(x, jrc_frame.index)
    np.testing.assert_allclose(y, jrc_frame["psp"] * 1e3)
    assert ax.get_ylabel() == "PSP (mV)"
    assert "JRC (numpy, heun" in ax.get_title()
    assert ax.get_legend() is not None
    plot.save(ax, str(tmp_path / "ts.png"))
    assert (tmp_path / "ts.png").stat().st_size > 1000
    assert not plt.get_fignums()  # save closes the figure


def test_timeseries_into_given_axes_and_columns(jrc_frame) -> None:
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(2)
    assert plot.timeseries(jrc_frame, "psp", ax=b, title="") is b
    assert len(b.get_lines()) == 1 and not a.get_lines()
    assert b.get_title() == "" and b.get_ylabel() == "psp" and b.get_legend() is None
    with pytest.raises(RatesError, match="no column 'nope'"):
        plot.timeseries(jrc_frame, ["nope"], ax=a)
    plt.close(fig)


def test_multiindex_names_select_every_node() -> None:
    import matplotlib.pyplot as plt

    kmo = CircuitTemplate.from_yaml("rates_core.models.kuramoto.kmo")
    df = kmo.run(0.2, 1e-3, outputs={"theta": "all/phase_op/theta"})
    ax = plot.timeseries(df, "theta")
    labels = [line.get_label() for line in ax.get_lines()]
    assert len(labels) == 2 and all(label.startswith("theta (") for label in labels)
    plt.close(ax.figure)


def test_power_spectrum_peak_in_alpha_band(jrc_frame) -> None:
    import matplotlib.pyplot as plt

    ax = plot.power_spectrum(jrc_frame.loc[0.2:], "psp", fmax=50.0, nperseg=512)
    (line,) = ax.get_lines()
    freqs, power = line.get_data()
    assert freqs.min() > 0 and freqs.max() <= 50.0
    assert ax.get_yscale() == "log"
    assert 5.0 <= freqs[np.argmax(power)] <= 14.0  # the Jansen-Rit alpha rhythm
    plt.close(ax.figure)


def test_missing_matplotlib(monkeypatch: pytest.MonkeyPatch, jrc_frame) -> None:
    import sys

    from rates_core.errors import MissingDependencyError

    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(MissingDependencyError, match="rates-core\\[plot\\]"):
        plot.timeseries(jrc_frame)
