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


def test_export_of_a_model_without_parameters_notes_why_auto_is_missing():
    """``rates export --backend fortran`` of a model with no parameter: the Fortran module and
    a note that Auto-07p has nothing to continue in (it was a bare IndexError)."""
    from rates_core.backend import EmitOptions
    from rates_core.plugins import EmitContext
    from rates_core.system import build_system
    from rates_core.testing import references as ref
    from rates_fortran.emit import emit_function

    system = build_system(ref.convergence_circuit())
    assert not system.params
    options = EmitOptions(standalone=True)
    files = emit_function(system, EmitContext(options=options)).extras["files"]
    (note,) = [text for name, text in files.items() if name.endswith(".auto.txt")]
    assert "no scalar parameter for Auto-07p to continue in" in note
    assert any(name.endswith(".f90") for name in files)


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
    # simulated just before / past each fold: it settles on one side and leaves on the other
    checked = cont.recheck(branch, "eta")
    assert list(checked["type"]) == ["LP", "LP"] and checked["agrees"].all()


@needs_auto
def test_stuart_landau_hopf_and_period_against_simulation(tmp_path):
    """Stuart-Landau: a Hopf point at mu = 0; the period of the continued cycle equals the
    period of the simulated oscillation (rates-fortran dopri5) at the same mu."""
    op = load_template("rates_core.models.stuartlandau.sl_op")
    cont = auto.Continuation(op, workdir=tmp_path)
    branch = cont.equilibria("mu", values={"mu": -1.0}, y0=[0.0, 0.0], NMX=100, DSMAX=0.05)
    hopf = branch[branch["type"] == "HB"]
    assert len(hopf) == 1 and abs(float(hopf["mu"].iloc[0])) < 1e-6
    # simulated near the Hopf point: a perturbation decays for mu < 0 and grows into an
    # oscillation for mu > 0, as the branch's stability says
    checked = cont.recheck(branch, "mu")
    assert len(checked) == 1 and bool(checked["agrees"].iloc[0])
    assert checked["stable_side"].iloc[0] < 0 < checked["other_side"].iloc[0]
    assert checked["oscillates"].iloc[0] and checked["other_measure"].iloc[0] > 10
    # a branch whose stability were wrong is caught
    wrong = branch.assign(stable=~branch["stable"])
    assert not bool(cont.recheck(wrong, "mu")["agrees"].iloc[0])
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


@pytest.mark.skipif(not has_gfortran, reason="needs gfortran")
def test_get_run_func_auto_writes_auto_files(tmp_path, monkeypatch):
    """get_run_func(..., backend="fortran", auto=True): the vector field as usual, plus the
    Auto-07p files next to file_name (the equation file never overwrites the module) or, without
    a file name, in the working directory."""
    circuit = CircuitTemplate.from_yaml("rates_core.models.qif.qif")
    func, args, keys, _ = circuit.get_run_func(
        "f", 1e-3, backend="fortran", auto=True, file_name=str(tmp_path / "out" / "qif.f90")
    )
    assert np.all(np.isfinite(func(*args)))
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == ["c.qif_auto.eq", "c.qif_auto.ivp", "c.qif_auto.lc", "qif.f90", "qif_auto.f90"]
    assert "module rates_model" in (tmp_path / "out" / "qif.f90").read_text()
    assert "SUBROUTINE FUNC(" in (tmp_path / "out" / "qif_auto.f90").read_text()
    # PyRates's parameter order (get_run_func's arguments): PAR(4) is eta as in PyRates
    parnames = "parnames = {1: 'tau', 2: 'Delta', 3: 'I_ext', 4: 'eta', 5: 'w_r_in_from_r'"
    assert parnames in (tmp_path / "out" / "c.qif_auto.eq").read_text()
    assert keys[3:7] == ["p/qif_op/tau", "p/qif_op/Delta", "p/qif_op/I_ext", "p/qif_op/eta"]
    monkeypatch.chdir(tmp_path)
    circuit.get_run_func("f", 1e-3, backend="fortran", auto=True)
    assert (tmp_path / "qif.f90").is_file() and (tmp_path / "c.qif.lc").is_file()


@pytest.mark.skipif(not has_gfortran, reason="needs gfortran")
def test_get_run_func_auto_starts_from_the_last_run(tmp_path):
    """initial_state="last" (PyRates's start after run()): the Auto-07p starting point U is the
    final state of the previous run, as in the returned args."""
    circuit = CircuitTemplate.from_yaml("rates_core.models.qif.qif")
    circuit.run(5.0, 1e-3)
    _, args, _, _ = circuit.get_run_func(
        "f",
        1e-3,
        backend="fortran",
        auto=True,
        file_name=str(tmp_path / "qif.f90"),
        initial_state="last",
    )
    r, v = circuit.state["p/qif_op/r"], circuit.state["p/qif_op/v"]
    assert list(args[1]) == [r, v]
    text = (tmp_path / "qif_auto.f90").read_text()
    assert f"U(1) = {float(r)!r}d0" in text and f"U(2) = {float(v)!r}d0" in text


def test_write_refuses_existing_files_before_writing_any(tmp_path):
    from rates_core.errors import OutputExistsError

    circuit = CircuitTemplate.from_yaml("rates_core.models.qif.qif")
    (tmp_path / "c.qif.lc").write_text("keep", encoding="utf-8")
    with pytest.raises(OutputExistsError, match=r"c\.qif\.lc exists; use --force"):
        auto.write(circuit, tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["c.qif.lc"]  # nothing half-written
    auto.write(circuit, tmp_path, overwrite=True)
    assert "parnames" in (tmp_path / "c.qif.lc").read_text(encoding="utf-8")


@pytest.mark.skipif(not has_gfortran, reason="needs gfortran")
def test_get_run_func_auto_files_are_not_overwritten(tmp_path):
    from rates_core.errors import OutputExistsError

    circuit = CircuitTemplate.from_yaml("rates_core.models.qif.qif")
    kwargs = {"backend": "fortran", "auto": True, "file_name": str(tmp_path / "qif.f90")}
    circuit.get_run_func("f", 1e-3, **kwargs)
    circuit.get_run_func("f", 1e-3, **kwargs)  # the same files again: fine
    (tmp_path / "c.qif_auto.eq").write_text("edited", encoding="utf-8")
    with pytest.raises(OutputExistsError, match=r"c\.qif_auto\.eq exists"):
        circuit.get_run_func("f", 1e-3, **kwargs)
    assert (tmp_path / "c.qif_auto.eq").read_text(encoding="utf-8") == "edited"
    circuit.get_run_func("f", 1e-3, overwrite=True, **kwargs)
    assert "parnames" in (tmp_path / "c.qif_auto.eq").read_text(encoding="utf-8")


def test_auto_needs_a_continuation_backend():
    from rates_core.errors import ModelError

    pytest.importorskip("rates_numpy")
    circuit = CircuitTemplate.from_yaml("rates_core.models.qif.qif")
    with pytest.raises(ModelError, match="continuation"):
        circuit.get_run_func("f", 1e-3, backend="numpy", auto=True)


def _bratu():
    from rates_core import OperatorTemplate

    return OperatorTemplate(
        name="bratu",
        equations=["u' = v", "v' = -lam*exp(u)"],
        variables={"u": "output(0.0)", "v": "variable(0.0)", "lam": 0.0},
    )


def test_bvp_and_hom_files_from_equations(tmp_path):
    """Boundary conditions and integral constraints written as equations become BCND / ICND
    with analytic DBC / DINT in Auto's column layout; bvp / hom constants files."""
    from rates_core.errors import EquationError

    paths = auto.write(
        _bratu(), tmp_path, scenarios=("bvp", "hom"), ICP="lam",
        boundary=["start(u) = 0", "end(u) = lam*end(v)"],
        integral=["u*old_dt(u) + v*old_dt(v) = 0.5*lam"],
    )  # fmt: skip
    assert sorted(p.name for p in paths) == ["bratu.f90", "c.bratu.bvp", "c.bratu.hom"]
    src = (tmp_path / "bratu.f90").read_text()
    assert "FB(1) = U0(1)" in src and "FB(2) = U1(1) - U1(2)*PAR(1)" in src
    assert "DBC(2, 3) = 1.0_dp" in src and "DBC(2, 4) = -PAR(1)" in src
    assert "DBC(2, 2*NDIM + 1) = -U1(2)" in src
    assert "FI(1) = UPOLD(1)*U(1) + UPOLD(2)*U(2) - 0.5_dp*PAR(1)" in src
    assert "DINT(1, 1) = UPOLD(1)" in src and "DINT(1, NDIM + 1) = -0.5_dp" in src
    if has_gfortran:  # the whole equation file is valid Fortran
        import subprocess

        done = subprocess.run(
            ["gfortran", "-fsyntax-only", "-std=legacy", "bratu.f90"],
            cwd=tmp_path, capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
    bvp = (tmp_path / "c.bratu.bvp").read_text()
    assert "IPS = 4" in bvp and "NBC = 2" in bvp and "NINT = 1" in bvp and "ICP = [1]" in bvp
    hom = (tmp_path / "c.bratu.hom").read_text()
    assert "IPS = 9" in hom and "IEQUIB = 1" in hom and "PAR = {12: 0.0, 13: 0.0}" in hom
    assert "NUNSTAB = " in hom and "NSTAB = " in hom
    with pytest.raises(EquationError, match=r"start\(u\) or end\(u\)"):
        auto.write(_bratu(), tmp_path, scenarios=("bvp",), boundary=["u = 0"])
    with pytest.raises(EquationError, match="unknown variable"):
        auto.write(_bratu(), tmp_path, scenarios=("bvp",), boundary=["start(w) = 0"])
    with pytest.raises(EquationError, match="time t"):
        auto.write(_bratu(), tmp_path, scenarios=("bvp",), integral=["u - t"])


@needs_auto
def test_bvp_bratu_fold_by_auto(tmp_path):
    """Auto-07p runs the generated bvp files: Bratu's problem u'' + lam exp(u) = 0,
    u(0) = u(1) = 0, has its fold at lam = 3.51383071912516."""
    cont = auto.Continuation(_bratu(), workdir=tmp_path, boundary=["start(u) = 0", "end(u) = 0"])
    branch = cont.run("bvp", ICP="lam", NMX=60, NTST=20, DSMAX=0.2)[0]
    folds = branch[branch["type"] == "LP"]
    assert len(folds) == 1
    assert abs(float(folds["lam"].iloc[0]) - 3.51383071912516) < 1e-6
