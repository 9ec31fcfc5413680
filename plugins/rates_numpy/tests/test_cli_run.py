"""``rates run`` and ``rates validate --backend numpy`` with the NumPy backend, and the metadata
of result frames (``df.attrs``, ``rates_core.results.to_xarray``)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rates_core import CircuitTemplate
from rates_core.cli import main
from rates_core.results import METADATA_KEYS, to_xarray

QIF = "rates_core.models.qif.qif"
JRC = "rates_core.models.jansenrit.JRC"


def _csv(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, index_col=0)


def test_run_writes_the_same_numbers_as_run_api(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "qif.csv"
    argv = ["run", QIF, "--time", "2", "--step", "1e-3", "--sampling", "0.01", "--csv", str(out)]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "model qif: backend numpy" in text and "solver euler" in text
    assert f"wrote {out}" in text
    expected = CircuitTemplate.from_yaml(QIF).run(2.0, 1e-3, sampling_step_size=0.01)
    got = _csv(out)
    assert list(got.columns) == list(expected.columns)
    np.testing.assert_allclose(got.to_numpy(), expected.to_numpy(), rtol=1e-12)
    np.testing.assert_allclose(got.index, expected.index)


def test_outputs_solver_options_and_parameters(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "qif.csv"
    argv = [
        "run", QIF, "-T", "2", "--dt", "1e-3", "--sampling", "0.01",
        "--solver", "scipy", "--option", "method=DOP853", "--option", "rtol=1e-8",
        "--set", "p/qif_op/eta=-3", "-o", "rate=p/qif_op/r", "--csv", str(out), "-q",
    ]  # fmt: skip
    assert main(argv) == 0
    assert capsys.readouterr().out == ""
    qif = CircuitTemplate.from_yaml(QIF).update_var(node_vars={"p/qif_op/eta": -3.0})
    expected = qif.run(
        2.0, 1e-3, sampling_step_size=0.01, solver="scipy", method="DOP853", rtol=1e-8,
        outputs={"rate": "p/qif_op/r"},
    )  # fmt: skip
    got = _csv(out)
    assert list(got.columns) == ["rate"]
    np.testing.assert_allclose(got["rate"], expected["rate"], rtol=1e-10)


def test_input_file_drives_the_model(tmp_path: Path) -> None:
    T, dt = 0.2, 1e-4
    n = int(round(T / dt))
    noise = np.random.default_rng(1).uniform(120.0, 320.0, size=n)
    inp = tmp_path / "noise.csv"
    np.savetxt(inp, noise)
    out = tmp_path / "jrc.csv"
    argv = [
        "run", JRC, "--time", str(T), "--step", str(dt), "--solver", "heun", "--sampling",
        "1e-3", "--input", f"pc/syn_exc_ext/u={inp}", "--output", "psp=pc/rate_out/v",
        "--csv", str(out), "--no-progress", "-q",
    ]  # fmt: skip
    assert main(argv) == 0
    expected = CircuitTemplate.from_yaml(JRC).run(
        T, dt, sampling_step_size=1e-3, solver="heun",
        inputs={"pc/syn_exc_ext/u": noise}, outputs={"psp": "pc/rate_out/v"},
    )  # fmt: skip
    np.testing.assert_allclose(_csv(out)["psp"], expected["psp"], rtol=1e-9, atol=1e-15)


def test_input_file_with_times(tmp_path: Path) -> None:
    inp = tmp_path / "ramp.csv"
    inp.write_text("time,I\n0,0\n1,2\n", encoding="utf-8")
    out = tmp_path / "qif.csv"
    argv = [
        "run", QIF, "-T", "1", "--dt", "1e-3", "--input", f"p/qif_op/I_ext={inp}",
        "--csv", str(out), "-q",
    ]  # fmt: skip
    assert main(argv) == 0
    ramp = np.arange(1000) * 1e-3 * 2.0
    expected = CircuitTemplate.from_yaml(QIF).run(1.0, 1e-3, inputs={"p/qif_op/I_ext": ramp})
    np.testing.assert_allclose(_csv(out).to_numpy(), expected.to_numpy(), rtol=1e-10)


def test_input_file_with_wrong_rows(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    inp = tmp_path / "short.csv"
    np.savetxt(inp, np.ones(10))
    argv = ["run", QIF, "-T", "1", "--dt", "1e-3", "--input", f"p/qif_op/I_ext={inp}"]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "10 rows, but the run has 1000 steps" in err
    assert str(inp) in err and "variable 'p/qif_op/I_ext'" in err


def test_unknown_input_path_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    inp = tmp_path / "u.csv"
    np.savetxt(inp, np.ones(10))
    argv = ["run", QIF, "-T", "1", "--dt", "0.1", "--input", f"p/qif_op/nothing={inp}"]
    assert main(argv) == 1
    assert "nothing" in capsys.readouterr().err


def test_csv_to_stdout_and_multiindex_columns(capsys: pytest.CaptureFixture) -> None:
    kmo = "rates_core.models.kuramoto.kmo"
    argv = ["run", kmo, "-T", "0.05", "--dt", "1e-3", "-o", "theta=all/phase_op/theta"]
    assert main([*argv, "--csv", "-"]) == 0
    captured = capsys.readouterr()
    header = captured.out.splitlines()[0].split(",")
    assert header[0] == "time" and all(h.startswith("theta@") for h in header[1:])
    assert len(header) == 3
    assert "model kmo" in captured.err  # the summary goes to stderr when the CSV is on stdout


def test_plot_file(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    out = tmp_path / "qif.png"
    assert main(["run", QIF, "-T", "1", "--dt", "1e-2", "--plot", str(out), "-q"]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_progress_bar_on_request(capsys: pytest.CaptureFixture) -> None:
    pytest.importorskip("tqdm")
    assert main(["run", QIF, "-T", "1", "--dt", "1e-3", "--progress", "-q"]) == 0
    assert "qif (euler)" in capsys.readouterr().err


def test_unknown_solver_exits_1(capsys: pytest.CaptureFixture) -> None:
    assert main(["run", QIF, "-T", "1", "--dt", "1e-3", "--solver", "nope"]) == 1
    err = capsys.readouterr().err
    assert "nope" in err and "euler" in err


def test_validate_with_backend(capsys: pytest.CaptureFixture) -> None:
    assert main(["validate", "--backend", "numpy", JRC, QIF]) == 0
    out = capsys.readouterr().out
    assert out.count("backend 'numpy': code generated") == 2


def test_console_script(tmp_path: Path) -> None:
    out = tmp_path / "qif.csv"
    argv = ["-m", "rates_core", "run", QIF, "-T", "0.1", "--dt", "1e-2", "--csv", str(out)]
    proc = subprocess.run([sys.executable, *argv], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert len(_csv(out)) == 10


# --------------------------------------------------------------------------- metadata


def test_frame_metadata() -> None:
    df = CircuitTemplate.from_yaml(QIF).run(
        1.0, 1e-3, sampling_step_size=1e-2, solver="rk4", cutoff=0.5
    )
    assert set(METADATA_KEYS) <= set(df.attrs)
    assert df.attrs["model"] == "qif" and df.attrs["backend"] == "numpy"
    assert df.attrs["backend_distribution"] == "rates-numpy"
    assert df.attrs["solver"] == "rk4"
    assert df.attrs["step_size"] == 1e-3 and df.attrs["sampling_step_size"] == 1e-2
    assert df.attrs["cutoff"] == 0.5 and df.attrs["float_precision"] == "float64"
    assert df.attrs["rates_core_version"] and df.attrs["backend_version"]


def test_to_xarray_of_a_run() -> None:
    xr = pytest.importorskip("xarray")
    kmo = CircuitTemplate.from_yaml("rates_core.models.kuramoto.kmo")
    df = kmo.run(0.1, 1e-3, outputs={"theta": "all/phase_op/theta"})
    ds = to_xarray(df)
    assert isinstance(ds, xr.Dataset)
    assert ds["theta"].dims == ("time", "node") and ds.sizes["node"] == 2
    assert ds.attrs["backend"] == "numpy" and ds.attrs["step_size"] == 1e-3
    ds2 = to_xarray(kmo.run(0.1, 1e-3))
    assert ds2["phase_op/theta"].dims == ("time", "node")


# --------------------------------------------------------------------------- output files


def test_force_replaces_an_existing_csv_and_plot(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    pytest.importorskip("matplotlib")
    csv, png = tmp_path / "qif.csv", tmp_path / "qif.png"
    csv.write_text("old", encoding="utf-8")
    png.write_text("old", encoding="utf-8")
    argv = ["run", QIF, "-T", "0.1", "--dt", "1e-2", "--csv", str(csv), "--plot", str(png), "-q"]
    assert main(argv) == 1
    assert "exists; use --force" in capsys.readouterr().err
    assert csv.read_text(encoding="utf-8") == "old" and png.read_text(encoding="utf-8") == "old"
    assert main([*argv, "--force"]) == 0
    assert len(_csv(csv)) == 10 and png.read_bytes().startswith(b"\x89PNG")


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="no symbolic links")
def test_force_replaces_a_symlinked_csv_never_its_target(tmp_path: Path) -> None:
    target = tmp_path / "target.txt"
    target.write_text("secret", encoding="utf-8")
    link = tmp_path / "link.csv"
    link.symlink_to(target)
    argv = ["run", QIF, "-T", "0.1", "--dt", "1e-2", "--csv", str(link), "-q", "--force"]
    assert main(argv) == 0
    assert not link.is_symlink() and len(_csv(link)) == 10
    assert target.read_text(encoding="utf-8") == "secret"


def test_model_file_is_protected_even_with_force(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    model = tmp_path / "qif.yaml"
    model.write_bytes(Path(CircuitTemplate.from_yaml(QIF).path).read_bytes())
    before = model.read_bytes()
    argv = ["run", f"{model}:qif", "-T", "0.1", "--dt", "1e-2", "--csv", str(model), "--force"]
    assert main(argv) == 1
    assert "never overwrites a model file" in capsys.readouterr().err
    assert model.read_bytes() == before
