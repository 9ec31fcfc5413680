"""Auto-07p equation and constants files from a rates model, and a small continuation driver.

:func:`write` writes, for an ODE model with real states (delays must be approximated by
``delay_approximation=n``, complex states split into real and imaginary parts by hand):

* ``<name>.f90``: the Auto-07p user routines. ``FUNC`` evaluates the vector field (the
  System's expressions, scalarised by :mod:`rates_core.jacobian`) and, for ``IJAC >= 1`` /
  ``IJAC >= 2``, the analytic ``DFDU`` / ``DFDP``; ``STPNT`` sets the initial state and the
  parameter values; ``BCND``, ``ICND``, ``FOPT`` are empty stubs (no boundary conditions,
  integral constraints or objective); ``PVLS`` is empty (Auto then stores the L2 norm).
* ``c.<name>.<scenario>``: one constants file per scenario with ``parnames`` and ``unames`` in
  declaration order:

  ``ivp``   time integration (``IPS=-2``, ``ICP=[14]``, PAR(14) is the time);
  ``eq``    equilibria continued in the first parameter (``IPS=1``, ``ISP=2``: LP, HB, BP);
  ``lc``    limit cycles from a Hopf point (``IPS=2``, ``ICP=[p, 11]``, period in PAR(11),
            ``IRS='HB1'``: the first Hopf point of the ``eq`` run).

Parameter slots: Auto-07p uses PAR(11) for the period, PAR(12) ... PAR(20) in HomCont (and
PAR(14) as the time of ``IPS=-2``), and PAR(21) ... PAR(36) for HomCont's test functions. The
model's parameters therefore take PAR(1) ... PAR(10) and then PAR(51), PAR(52), ... (``NPAR``
is set to the largest slot used); the mapping is the ``parnames`` dict of every constants file
and the comment block at the top of the equation file.

Boundary-value (``bvp``) and homoclinic (``hom``) scenarios are not implemented yet.

:class:`Continuation` compiles the equation file against Auto-07p's library
(``$AUTO_DIR/lib/*.o``, else Debian's ``/usr/lib/auto-07p``), runs it in a private directory
and returns each branch as a pandas DataFrame (parameter, state values, L2 norm, period,
stability, the label and type of special points LP / HB / PD / BP / UZ / EP).
"""

from __future__ import annotations

import math
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rates_core.errors import BackendUnavailableError, ModelError, SolverError
from rates_core.system import System

__all__ = [
    "AUTO_HINT",
    "SCENARIOS",
    "Continuation",
    "auto_dir",
    "auto_files",
    "parameter_slots",
    "write",
]

#: Scenarios :func:`write` knows.
SCENARIOS = ("ivp", "eq", "lc")
#: Where Debian's auto-07p package installs Auto-07p.
DEBIAN_AUTO_DIR = "/usr/lib/auto-07p"
AUTO_HINT = (
    "Auto-07p not found: set AUTO_DIR to an Auto-07p installation (with lib/*.o), or install "
    "Debian's package: `sudo apt-get install auto-07p gfortran`"
)
#: PAR slots Auto-07p uses itself (period, HomCont, time integration, HomCont test functions).
RESERVED_SLOTS = frozenset(range(11, 51))
#: Auto-07p special-point type numbers -> labels.
POINT_TYPES = {1: "BP", 2: "LP", 3: "HB", 4: "", -4: "UZ", 5: "LP", 6: "BP", 7: "PD", 8: "TR",
               9: "EP", -9: "MX", 0: ""}  # fmt: skip


def parameter_slots(n: int) -> list[int]:
    """The PAR indices of ``n`` model parameters: 1 .. 10, then 51, 52, ..."""
    slots, k = [], 1
    while len(slots) < n:
        if k not in RESERVED_SLOTS:
            slots.append(k)
        k += 1
    return slots


def _dlit(value: float) -> str:
    """A double-precision literal (``0.5d0``, ``1.0d-05``) that reads back as ``value``."""
    text = repr(float(value))
    return text.replace("e", "d") if "e" in text else text + "d0"


def _safe(name: str) -> str:
    return re.sub(r"\W", "_", name)


@dataclass
class _AutoModel:
    name: str
    system: System
    unames: list[str]
    parnames: list[str]  # scalar parameter entries
    slots: list[int]
    values: list[float]
    source: str


def _scalar_params(system: System, jac: Any) -> tuple[list[str], list[float]]:
    names, values = [], []
    for p in system.params:
        syms = jac.scalars.get(p.name, ())
        flat = np.asarray(p.value).reshape(-1) if p.role != "matrix" else np.zeros(0)
        for k, s in enumerate(syms):
            names.append(s.name)
            values.append(float(np.real(flat[k] if flat.size > k else flat[0])))
    return names, values


def _model(system: System, y0: Sequence[float] | None = None, **values: float) -> _AutoModel:
    from rates_core.jacobian import system_jacobian
    from rates_fortran.printer import FortranPrinter, fortran_names

    where = {"template": system.name}
    if system.delayed:
        raise ModelError(
            "Auto-07p files need an ODE system: build the model with delay_approximation=n",
            **where,
        )
    if system.is_complex:
        raise ModelError(
            "Auto-07p works on real states: write complex variables as real and imaginary parts",
            **where,
        )
    jac = system_jacobian(system, with_params=True)
    if any(p.role == "input" for p in system.params):
        pass  # inputs are ordinary parameters for Auto (their constant value)
    unames = [s.name for s in jac.y]
    parnames, pvalues = _scalar_params(system, jac)
    diff_names = [s.name for s in jac.params]
    for key, value in values.items():
        if key not in parnames:
            raise ModelError(f"no scalar parameter {key!r} (have {', '.join(parnames)})", **where)
        pvalues[parnames.index(key)] = float(value)
    slots = parameter_slots(len(parnames))
    local = fortran_names([_safe(n) for n in unames + parnames])
    names = {n: local[_safe(n)] for n in unames + parnames}
    printer = FortranPrinter(names, {n: 1 for n in names})
    init = np.real(np.asarray(system.initial_state() if y0 is None else y0, dtype=float))
    lines = []
    w = lines.append
    w(f"! Auto-07p equation file of model {system.name!r}, generated by rates-fortran.")
    w("! States (U) and parameters (PAR slots; PAR(11)-PAR(50) are left to Auto-07p):")
    for i, n in enumerate(unames):
        w(f"!   U({i + 1}) = {n}")
    for s, n in zip(slots, parnames):
        w(f"!   PAR({s}) = {n}")
    w("")

    def unpack(indent: str = "  ") -> None:
        w(f"{indent}DOUBLE PRECISION :: {', '.join(names[n] for n in unames + parnames)}")
        w(f"{indent}DOUBLE PRECISION, PARAMETER :: t = 0.0d0")
        for i, n in enumerate(unames):
            w(f"{indent}{names[n]} = U({i + 1})")
        for s, n in zip(slots, parnames):
            w(f"{indent}{names[n]} = PAR({s})")

    from rates_fortran.emit import wrap

    def assign(target: str, expr: Any) -> None:
        lines.extend(wrap(f"  {target} = {printer.doprint(expr)}"))

    w("SUBROUTINE FUNC(NDIM, U, ICP, PAR, IJAC, F, DFDU, DFDP)")
    w("  IMPLICIT NONE")
    w("  INTEGER, PARAMETER :: dp = KIND(1.0d0)")
    w("  INTEGER, INTENT(IN) :: NDIM, ICP(*), IJAC")
    w("  DOUBLE PRECISION, INTENT(IN) :: U(NDIM), PAR(*)")
    w("  DOUBLE PRECISION, INTENT(OUT) :: F(NDIM)")
    w("  DOUBLE PRECISION, INTENT(INOUT) :: DFDU(NDIM, NDIM), DFDP(NDIM, *)")
    unpack()
    w("  ! the vector field")
    for i, f in enumerate(jac.f):
        assign(f"F({i + 1})", f)
    w("  IF (IJAC == 0) RETURN")
    w("  ! analytic Jacobian d F / d U")
    w("  DFDU = 0.0d0")
    for (i, j), v in sorted(jac.dfdy.todok().items()):
        assign(f"DFDU({i + 1}, {j + 1})", v)
    w("  IF (IJAC == 1) RETURN")
    w("  ! analytic parameter derivatives d F / d PAR")
    slot_of = dict(zip(parnames, slots))
    for (i, k), v in sorted(jac.dfdp.todok().items()):
        assign(f"DFDP({i + 1}, {slot_of[diff_names[k]]})", v)
    w("END SUBROUTINE FUNC")
    w("")
    w("SUBROUTINE STPNT(NDIM, U, PAR, T)")
    w("  IMPLICIT NONE")
    w("  INTEGER, INTENT(IN) :: NDIM")
    w("  DOUBLE PRECISION, INTENT(INOUT) :: U(NDIM), PAR(*)")
    w("  DOUBLE PRECISION, INTENT(IN) :: T")
    for s, n, v in zip(slots, parnames, pvalues):
        w(f"  PAR({s}) = {_dlit(v)}  ! {n}")
    for i, (n, v) in enumerate(zip(unames, init)):
        w(f"  U({i + 1}) = {_dlit(v)}  ! {n}")
    w("END SUBROUTINE STPNT")
    w("")
    w("SUBROUTINE BCND(NDIM, PAR, ICP, NBC, U0, U1, FB, IJAC, DBC)")
    w("  ! no boundary conditions (bvp / hom scenarios are not generated yet)")
    w("END SUBROUTINE BCND")
    w("")
    w("SUBROUTINE ICND(NDIM, PAR, ICP, NINT, U, UOLD, UDOT, UPOLD, FI, IJAC, DINT)")
    w("  ! no integral constraints")
    w("END SUBROUTINE ICND")
    w("")
    w("SUBROUTINE FOPT(NDIM, U, ICP, PAR, IJAC, FS, DFDU, DFDP)")
    w("  ! no objective function")
    w("END SUBROUTINE FOPT")
    w("")
    w("SUBROUTINE PVLS(NDIM, U, PAR)")
    w("  ! no extra output values (Auto stores the L2 norm)")
    w("END SUBROUTINE PVLS")
    source = "\n".join(lines) + "\n"
    return _AutoModel(_safe(system.name).lower(), system, unames, parnames, slots, pvalues, source)


def _constants(model: _AutoModel, scenario: str, **constants: Any) -> str:
    slot_of = dict(zip(model.parnames, model.slots))
    icp = constants.pop("ICP", None)
    icp_list = [icp] if isinstance(icp, (str, int)) else list(icp or [])
    icp_slots = [slot_of[p] if isinstance(p, str) else int(p) for p in icp_list]
    if scenario == "ivp":
        base: dict[str, Any] = {"IPS": -2, "ICP": [14], "NMX": 1000, "DS": 0.01, "DSMAX": 0.01,
                                "ILP": 0, "ISP": 0, "NPR": 1000, "IRS": 0}  # fmt: skip
    elif scenario == "eq":
        if not icp_slots:
            icp_slots = [model.slots[0]]
        base = {"IPS": 1, "ICP": icp_slots[:1], "ILP": 1, "ISP": 2, "ISW": 1, "IRS": 0,
                "NMX": 2000, "NPR": 5000, "DS": 0.01, "DSMIN": 1e-6, "DSMAX": 0.05}  # fmt: skip
    elif scenario == "lc":
        if not icp_slots:
            icp_slots = [model.slots[0]]
        base = {"IPS": 2, "ICP": [icp_slots[0], 11], "ILP": 1, "ISP": 2, "ISW": 1, "IRS": 0,
                "NMX": 200, "NPR": 5000, "DS": 0.01, "DSMIN": 1e-6, "DSMAX": 0.1}  # fmt: skip
    else:
        raise ModelError(f"unknown Auto-07p scenario {scenario!r} (known: {', '.join(SCENARIOS)})")
    settings = {
        "NDIM": len(model.unames), "NTST": 50, "NCOL": 4, "IAD": 3, "IPLT": 0, "NBC": 0,
        "NINT": 0, "MXBF": 10, "IID": 2, "ITMX": 8, "ITNW": 7, "NWTN": 3, "JAC": 1,
        "EPSL": 1e-7, "EPSU": 1e-7, "EPSS": 1e-5, "IADS": 1, "DSMIN": 1e-6,
        "NPAR": max([*model.slots, 14, 11]), "THL": {11: 0.0, 14: 0.0}, "THU": {},
        "UZR": {}, "UZSTOP": {},
    }  # fmt: skip
    settings.update(base)
    for key, value in constants.items():
        if key in ("UZR", "UZSTOP") and isinstance(value, Mapping):
            value = {slot_of.get(k, k): v for k, v in value.items()}
        settings[key] = value
    parnames = {s: n for n, s in zip(model.parnames, model.slots)}
    parnames.update({11: "period", 14: "time"})
    out = [
        f"# Auto-07p constants of model {model.system.name!r}, scenario {scenario!r} "
        "(generated by rates-fortran)",
        f"parnames = {parnames!r}",
        f"unames = { {i + 1: n for i, n in enumerate(model.unames)}!r}",
    ]
    for key, value in settings.items():
        out.append(f"{key} = {value!r}")
    return "\n".join(out) + "\n"


def auto_files(
    system: System,
    scenarios: Iterable[str] = SCENARIOS,
    y0: Sequence[float] | None = None,
    values: Mapping[str, float] | None = None,
    **constants: Any,
) -> dict[str, str]:
    """``{file name: text}``: the equation file and one constants file per scenario."""
    model = _model(system, y0, **dict(values or {}))
    files = {f"{model.name}.f90": model.source}
    for scenario in scenarios:
        files[f"c.{model.name}.{scenario}"] = _constants(model, scenario, **dict(constants))
    return files


def _system(template: Any, delay_approximation: int | None = None) -> System:
    from rates_core import CircuitTemplate, NodeTemplate, OperatorTemplate, build_system

    if isinstance(template, System):
        return template
    if isinstance(template, OperatorTemplate):
        template = NodeTemplate(name=template.name, operators=[template])
    if isinstance(template, NodeTemplate):
        template = CircuitTemplate(name=template.name, nodes={"n": template})
    return build_system(template, vectorize=False, delay_approximation=delay_approximation)


def write(
    template: Any,
    directory: str | os.PathLike[str],
    scenarios: Iterable[str] = SCENARIOS,
    **constants: Any,
) -> list[Path]:
    """Write the Auto-07p equation file and the constants files of ``template`` (a circuit,
    node, operator or System) into ``directory``; the paths written.

    ``constants`` override Auto-07p constants in every file (``ICP="eta"`` names a parameter,
    ``NMX=500``, ``UZR={"eta": [-5.0]}``, ...).
    """
    system = _system(template)
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, text in auto_files(system, scenarios, **constants).items():
        path = out / name
        path.write_text(text, encoding="utf-8")
        paths.append(path)
    return paths


# --------------------------------------------------------------------------- driver


def auto_dir() -> Path:
    """Auto-07p's installation (``$AUTO_DIR``, else Debian's); BackendUnavailableError if none."""
    for candidate in (os.environ.get("AUTO_DIR"), DEBIAN_AUTO_DIR):
        if candidate and list(Path(candidate).glob("lib/*.o")):
            return Path(candidate)
    raise BackendUnavailableError(AUTO_HINT)


def _parse_fort7(text: str, unames: Sequence[str], parnames: Mapping[int, str]) -> Any:
    """The branches of an Auto-07p ``fort.7`` (b-file) as DataFrames, one per branch."""
    import pandas as pd

    branches: list[Any] = []
    header: list[str] | None = None
    rows: list[list[Any]] = []

    def flush() -> None:
        if header and rows:
            branches.append(pd.DataFrame(rows, columns=["BR", "PT", "TY", "LAB", *header]))

    for line in text.splitlines():
        if line.startswith("   0"):
            if "PT" in line and "TY" in line:
                flush()
                rows = []
                after = line[line.index("LAB") + 3 :]
                header = re.split(r"\s{2,}", after.strip())
            continue
        parts = line.split()
        if len(parts) < 4 or header is None:
            continue
        values = [float(v.replace("D", "E")) for v in parts[4:]]
        rows.append([int(parts[0]), int(parts[1]), int(parts[2]), int(parts[3]), *values])
    flush()
    out = []
    for frame in branches:
        frame["stable"] = frame["PT"] < 0
        frame["type"] = frame["TY"].map(lambda k: POINT_TYPES.get(int(k), str(k)))
        out.append(frame)
    return out


class Continuation:
    """Run Auto-07p on a rates model: equilibria in a parameter, limit cycles from Hopf points.

    ``template``: a circuit, node, operator or System (ODE, real states). Every run writes the
    generated files into a private directory (``workdir`` to keep them), compiles them against
    Auto-07p's library (once per starting point) and returns the branches as DataFrames with
    columns: the continuation parameter, ``L2-NORM``, the state values ``U(i)`` renamed to the
    state names (Auto stores the first states' values), ``PAR(11)`` as ``period`` for cycles,
    ``stable`` (Auto's sign convention of PT), ``type`` (LP / HB / PD / BP / UZ / EP) and
    ``LAB`` (labels of special points).
    """

    def __init__(self, template: Any, workdir: str | os.PathLike[str] | None = None) -> None:
        self.template = template
        self.system = _system(template)
        self.dir = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="rates-auto-"))
        self.dir.mkdir(parents=True, exist_ok=True)
        self.auto = auto_dir()
        self.runs: dict[str, Path] = {}

    # ------------------------------------------------------------------ building

    def _build(self, y0: Any, values: Mapping[str, float]) -> tuple[_AutoModel, Path]:
        from rates_fortran.build import compiler

        model = _model(self.system, y0, **dict(values))
        src = self.dir / f"{model.name}.f90"
        src.write_text(model.source, encoding="utf-8")
        exe = self.dir / f"{model.name}.exe"
        libs = sorted(str(p) for p in (self.auto / "lib").glob("*.o"))
        cmd = [compiler(), "-O2", "-fopenmp", "-std=legacy", str(src), *libs, "-o", str(exe)]
        done = subprocess.run(cmd, capture_output=True, text=True, cwd=self.dir, check=False)
        if done.returncode != 0:
            raise SolverError(f"compiling the Auto-07p equation file failed:\n{done.stderr}")
        return model, exe

    def run(
        self,
        scenario: str,
        *,
        name: str | None = None,
        start: str | None = None,
        y0: Any = None,
        values: Mapping[str, float] | None = None,
        **constants: Any,
    ) -> list[Any]:
        """Run one scenario; the branches (DataFrames). ``start``: the name of an earlier run
        whose solutions file is the starting point (with ``IRS`` naming the label)."""
        model, exe = self._build(y0, values or {})
        name = name or scenario
        work = self.dir / name
        if work.exists():
            shutil.rmtree(work)
        work.mkdir()
        (work / "fort.2").write_text(_constants(model, scenario, **constants), encoding="utf-8")
        if start is not None:
            shutil.copy(self.runs[start] / "fort.8", work / "fort.3")
        env = dict(os.environ, OMP_NUM_THREADS="1")
        done = subprocess.run(
            [str(exe)], capture_output=True, text=True, cwd=work, env=env, timeout=600, check=False
        )
        if done.returncode != 0 or not (work / "fort.7").is_file():
            raise SolverError(f"Auto-07p run {name!r} failed:\n{done.stdout[-2000:]}{done.stderr}")
        self.runs[name] = work
        parnames = dict(zip(model.slots, model.parnames))
        frames = _parse_fort7((work / "fort.7").read_text(), model.unames, parnames)
        return [self._rename(f, model) for f in frames]

    @staticmethod
    def _rename(frame: Any, model: _AutoModel) -> Any:
        mapping = {}
        for col in frame.columns:
            m = re.fullmatch(r"U\((\d+)\)", col)
            if m and int(m[1]) <= len(model.unames):
                mapping[col] = model.unames[int(m[1]) - 1]
            m = re.fullmatch(r"PAR\((\d+)\)", col)
            if m:
                slot = int(m[1])
                if slot == 11:
                    mapping[col] = "period"
                elif slot in model.slots:
                    mapping[col] = model.parnames[model.slots.index(slot)]
            if col.upper().startswith("MAX ") or col.upper().startswith("MAX"):
                pass
        frame = frame.rename(columns=mapping)
        # the first column after LAB is the continuation parameter (Auto names it by slot)
        return frame

    # ------------------------------------------------------------------ conveniences

    def equilibria(
        self, parameter: str, *, y0: Any = None, values: Mapping[str, float] | None = None,
        settle: float | None = None, **constants: Any,
    ) -> Any:  # fmt: skip
        """Continue equilibria in ``parameter`` (both directions); one DataFrame.

        ``settle``: first simulate the model this long (rates-fortran dopri5) and start from
        the final state (Auto needs an equilibrium to start from)."""
        import pandas as pd

        if settle:
            y0 = self.settle(settle, values or {})
        frames = []
        for sign, run in ((1, "eq"), (-1, "eq_back")):
            ds = sign * abs(constants.get("DS", 0.01))
            opts = {**constants, "DS": ds, "ICP": parameter}
            frames += self.run("eq", name=run, y0=y0, values=values, **opts)
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    def limit_cycles(self, parameter: str, *, start: str = "eq", label: int | None = None,
                     **constants: Any) -> Any:  # fmt: skip
        """Continue the limit cycles born at the first Hopf point of the run ``start``."""
        import pandas as pd

        b = self.runs[start] / "fort.7"
        frames = _parse_fort7(b.read_text(), [], {})
        hopf = pd.concat(frames)
        hopf = hopf[hopf["TY"] == 3]
        if hopf.empty and label is None:
            raise SolverError(f"no Hopf point in the run {start!r}")
        lab = int(label if label is not None else hopf["LAB"].iloc[0])
        opts = {"ICP": parameter, "IRS": lab, **constants}
        frames = self.run("lc", name="lc", start=start, **opts)
        return pd.concat(frames, ignore_index=True)

    def settle(self, time: float, values: Mapping[str, float]) -> np.ndarray:
        """The state after simulating ``time`` (for a starting equilibrium)."""
        from rates_core.backend import EmitOptions, Problem
        from rates_fortran.emit import emit_function
        from rates_fortran.solvers import solve

        emitted = emit_function(self.system, EmitOptions())
        params = [
            float(values[p.name]) if p.name in values else p.value for p in self.system.params
        ]
        problem = Problem(
            y0=self.system.initial_state(), params=params, t0=0.0, simulation_time=time,
            step_size=time / 10, sampling_step=time / 10, n_samples=10,
            options={"rtol": 1e-10, "atol": 1e-12},
        )  # fmt: skip
        return solve("fortran_dopri5", emitted, problem).final

    @staticmethod
    def plot(frame: Any, parameter: str, variable: str, ax: Any = None) -> Any:
        """Plot a branch: stable solid, unstable dashed, special points labelled."""
        import matplotlib.pyplot as plt

        ax = ax or plt.gca()
        x, y = frame[parameter].to_numpy(), frame[variable].to_numpy()
        stable = frame["stable"].to_numpy()
        for flag, style in ((True, "-"), (False, "--")):
            yy = np.where(stable == flag, y, np.nan)
            ax.plot(x, yy, style, color="k")
        special = frame[frame["type"].isin(["LP", "HB", "PD", "BP"])]
        for _, row in special.iterrows():
            ax.plot(row[parameter], row[variable], "o", color="r")
            ax.annotate(row["type"], (row[parameter], row[variable]))
        ax.set_xlabel(parameter)
        ax.set_ylabel(variable)
        return ax


def fold_points_qif(delta: float, j: float, tau: float = 1.0) -> list[tuple[float, float]]:
    """Analytic saddle-node points (eta, r) of the QIF mean field (Montbrio et al. 2015) with
    tau = 1: the equilibria satisfy eta = pi^2 r^2 - J r - Delta^2 / (4 pi^2 r^2), whose
    extrema in r are the folds."""
    if tau != 1.0:
        raise ValueError("only tau = 1")
    coeffs = [2 * math.pi**2, -j, 0.0, 0.0, delta**2 / (2 * math.pi**2)]
    roots = [float(r.real) for r in np.roots(coeffs) if abs(r.imag) < 1e-9 and r.real > 0]
    return sorted(
        (math.pi**2 * r**2 - j * r - delta**2 / (4 * math.pi**2 * r**2), r) for r in roots
    )
