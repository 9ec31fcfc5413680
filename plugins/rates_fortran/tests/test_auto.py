"""Auto-07p files and continuations run by Auto-07p (Debian's auto-07p package)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from rates_core import CircuitTemplate, load_template
from rates_fortran import auto

has_gfortran = shutil.which("gfortran") is not None


def _has_auto() -> bool:
    try:
        auto.auto_dir()
    except Exception:
        return False
    return has_gfortran


needs_auto = pytest.mark.skipif(not _has_auto(), reason="needs Auto-07p (AUTO_DIR) and gfortran")


def test_write_files_and_slots(tmp_path):
    """The equation file has FUNC (with DFDU / DFDP), STPNT, BCND, ICND, FOPT, PVLS; one
    constants file per scenario with parnames / unames; no parameter in PAR(11)-PAR(50)."""
    circuit = CircuitTemplate.from_yaml("rates_core.models.qif.qif")
    paths = auto.write(circuit, tmp_path, ICP="eta")
    names = sorted(p.name for p in paths)
    assert names == ["c.qif.eq", "c.qif.ivp", "c.qif.lc", "qif.f90"]
    source = (tmp_path / "qif.f90").read_text()
    for routine in ("FUNC", "STPNT", "BCND", "ICND", "FOPT", "PVLS"):
        assert f"SUBROUTINE {routine}(" in source
    assert "DFDU(1, 1) =" in source and "DFDP(2, 3) =" in source
    text = (tmp_path / "c.qif.eq").read_text()
    assert "parnames = {1: 'Delta', 2: 'tau', 3: 'eta', 4: 'I_ext', 5: 'w_r_in_from_r'" in text
    assert "unames = {1: 'r', 2: 'v'}" in text
    assert "ICP = [3]" in text
    assert auto.parameter_slots(12) == [*range(1, 11), 51, 52]


@needs_auto
def test_qif_saddle_nodes_against_analytic(tmp_path):
    """The two folds of the QIF mean field (J = 15, Delta = 1) in eta equal the analytic ones."""
    circuit = CircuitTemplate.from_yaml("rates_core.models.qif.qif")
    cont = auto.Continuation(circuit, workdir=tmp_path)
    branch = cont.equilibria("eta", settle=50.0, NMX=400, DSMAX=0.05)
    folds = branch[branch["type"] == "LP"].sort_values("eta")
    want = auto.fold_points_qif(1.0, 15.0)
    assert len(folds) == 2
    np.testing.assert_allclose(folds["eta"].to_numpy(), [e for e, _ in want], atol=1e-6)
    np.testing.assert_allclose(folds["r"].to_numpy(), [r for _, r in want], atol=1e-5)


@needs_auto
def test_stuart_landau_hopf_and_period_against_simulation(tmp_path):
    """Stuart-Landau: a Hopf point at mu = 0; the period of the continued cycle equals the
    period of the simulated oscillation (rates-fortran dopri5) at the same mu."""
    op = load_template("rates_core.models.stuartlandau.sl_op")
    cont = auto.Continuation(op, workdir=tmp_path)
    branch = cont.equilibria("mu", values={"mu": -1.0}, y0=[0.0, 0.0], NMX=100, DSMAX=0.05)
    hopf = branch[branch["type"] == "HB"]
    assert len(hopf) == 1 and abs(float(hopf["mu"].iloc[0])) < 1e-6
    cycles = cont.limit_cycles("mu", NMX=40, DSMAX=0.05)
    row = cycles.iloc[-1]
    mu, period = float(row["mu"]), float(row["period"])
    assert mu > 0.05
    # the radius sqrt(mu), up to the max over the mesh points
    np.testing.assert_allclose(float(row["MAX x"]), np.sqrt(mu), rtol=1e-3)
    # simulate at that mu and measure the period from upward zero crossings of x
    from rates_core import NodeTemplate

    circuit = CircuitTemplate(name="sl", nodes={"n": NodeTemplate(name="sl", operators=[op])})
    circuit = circuit.update_var(node_vars={"n/sl_op/mu": mu})
    frame = circuit.run(
        10.0, 1e-3, outputs={"x": "n/sl_op/x"}, solver="fortran_dopri5", backend="fortran",
        rtol=1e-10, atol=1e-12,
    )  # fmt: skip
    x, t = frame["x"].to_numpy(), frame.index.to_numpy()
    up = np.flatnonzero((x[:-1] < 0) & (x[1:] >= 0))
    crossings = t[up] - x[up] * (t[up + 1] - t[up]) / (x[up + 1] - x[up])
    simulated = float(np.mean(np.diff(crossings[2:])))
    assert abs(simulated - period) < 1e-4 * period
