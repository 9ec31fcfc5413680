"""Every script of the documentation gallery (examples/gallery) and examples/demo.py runs.

The scripts are executed in this process (matplotlib's Agg backend, a temporary working
directory), as sphinx-gallery executes them when the documentation is built; each is a short
simulation. Scripts that need another backend are skipped when it is not installed.
"""

from __future__ import annotations

import importlib.util
import runpy
import sys
from pathlib import Path

import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
GALLERY = sorted((EXAMPLES / "gallery").glob("plot_*.py"))
#: scripts that need more than rates-numpy: script name -> module it imports
NEEDS = {"plot_torch_fit.py": "rates_torch", "plot_qif_continuation.py": "rates_fortran"}
#: what each script must compute (a name in its namespace and a check of its value)
CHECKS = {
    "plot_qif_bistability.py": lambda ns: ns["low"] < 0.2 < 0.8 < ns["high"],
    "plot_kuramoto_sync.py": lambda ns: ns["order"][-200:].mean() > 0.7,
    "plot_delay_coupled.py": lambda ns: abs(ns["best"]) <= 5,
    "plot_jansen_rit_input.py": lambda ns: len(ns["df"]) == 1500,
    "plot_sweep_heatmap.py": lambda ns: (
        ns["image"].shape == (12, 12) and ns["image"].to_numpy().max() > 1.0
    ),
    "plot_qif_continuation.py": lambda ns: (
        len(ns["folds"]) == 2
        and -6.5 < ns["folds"]["eta"].min() < -5.0 < -3.5 < ns["folds"]["eta"].max() < -2.5
    ),
    "plot_torch_fit.py": lambda ns: abs(ns["fitted"].params["p/qif_op/eta"] + 5.0) < 0.05,
    "plot_whole_brain_76.py": lambda ns: (
        ns["bold"].shape == (40, 76)
        and ns["psp"].shape == (2500, 76)
        and ns["steady"].to_numpy().std(axis=0).min() > 0  # every region's BOLD varies
    ),
}


def _require_auto() -> None:
    """Skip unless gfortran and Auto-07p are installed (rates-fortran's continuation)."""
    import shutil

    from rates_core.errors import BackendUnavailableError
    from rates_fortran.auto import auto_dir

    try:
        auto_dir()
    except BackendUnavailableError as exc:
        pytest.skip(f"Auto-07p is not installed: {exc}")
    if shutil.which("gfortran") is None:
        pytest.skip("gfortran is not installed")


def test_gallery_is_complete() -> None:
    names = {p.name for p in GALLERY}
    assert names == set(CHECKS), "add a check for every gallery script"
    assert (EXAMPLES / "gallery" / "README.rst").is_file()
    for path in GALLERY:
        text = path.read_text(encoding="utf-8")
        assert text.startswith('"""'), f"{path.name}: sphinx-gallery needs a docstring title"


@pytest.mark.parametrize("path", GALLERY, ids=lambda p: p.stem)
def test_gallery_script_runs(path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import matplotlib.pyplot as plt

    module = NEEDS.get(path.name)
    if module and importlib.util.find_spec(module) is None:
        pytest.skip(f"{path.name} needs {module}")
    if path.name == "plot_qif_continuation.py":
        _require_auto()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", [str(path)])
    try:
        namespace = runpy.run_path(str(path), run_name="__main__")
        assert plt.get_fignums(), f"{path.name} draws no figure"
    finally:
        plt.close("all")
    assert CHECKS[path.name](namespace)


def test_demo_script(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import matplotlib.pyplot as plt

    monkeypatch.setattr(sys, "argv", [str(EXAMPLES / "demo.py"), str(tmp_path)])
    try:
        runpy.run_path(str(EXAMPLES / "demo.py"), run_name="__main__")
    finally:
        plt.close("all")
    assert (tmp_path / "jansenrit.csv").stat().st_size > 1000
    assert (tmp_path / "jansenrit.png").read_bytes()[:4] == b"\x89PNG"
