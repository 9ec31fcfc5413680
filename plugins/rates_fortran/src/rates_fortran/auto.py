"""Auto-07p equation and constants files from a rates model, and a small continuation driver.

:func:`write` writes, for an ODE model with real states (delays must be approximated by
``delay_approximation=n``, complex states split into real and imaginary parts by hand):

* ``<name>.f90``: the Auto-07p user routines. ``FUNC`` evaluates the vector field (the
  System's expressions, scalarised by :mod:`rates_core.jacobian`) and, for ``IJAC >= 1`` /
  ``IJAC >= 2``, the analytic ``DFDU`` / ``DFDP``; ``STPNT`` sets the initial state and the
  parameter values; ``BCND`` / ``ICND`` hold the boundary conditions and integral constraints
  given as equations (below) with their analytic derivatives ``DBC`` / ``DINT``, else they are
  empty; ``FOPT`` is an empty stub; ``PVLS`` is empty (Auto then stores the L2 norm).
* ``c.<name>.<scenario>``: one constants file per scenario with ``parnames`` and ``unames`` in
  declaration order:

  ``ivp``   time integration (``IPS=-2``, ``ICP=[14]``, PAR(14) is the time);
  ``eq``    equilibria continued in the first parameter (``IPS=1``, ``ISP=2``: LP, HB, BP);
  ``lc``    limit cycles from a Hopf point (``IPS=2``, ``ICP=[p, 11]``, period in PAR(11),
            ``IRS='HB1'``: the first Hopf point of the ``eq`` run);
  ``bvp``   a boundary-value problem on Auto's unit interval ``0 <= t <= 1`` (``IPS=4``,
            ``NBC`` / ``NINT`` = the number of boundary conditions / integral constraints,
            ``ICP`` the first parameter; a problem on ``[0, T]`` is the model with its
            right-hand sides multiplied by T);
  ``hom``   homoclinic orbits with HomCont (``IPS=9``, ``ICP`` two parameters, PAR(11) the
            truncation interval, ``IEQUIB=1`` with the equilibrium guess in PAR(12) ...
            PAR(11 + NDIM) from the starting state, ``NUNSTAB`` / ``NSTAB`` counted from the
            Jacobian's eigenvalues at the starting state, ``ISTART=1``: restart (``IRS``) from
            a periodic orbit of large period of an ``lc`` run); extra boundary conditions and
            integral constraints only when ``NBC`` / ``NINT`` are given.

Boundary conditions and integral constraints are equations in the names of ``unames`` and
``parnames`` (the scalar state and parameter names), parsed by the restricted parser of
:mod:`rates_core.equations` (``lhs = rhs`` means ``lhs - rhs = 0``; a bare expression means
``expr = 0``):

* boundary conditions (``BCND``): ``start(x)`` is x at t = 0 (Auto's ``U0``), ``end(x)`` x at
  t = 1 (``U1``), e.g. ``["start(u) = 0", "end(u) = 0"]``; a state name alone is an error;
* integral constraints (``ICND``, ``int_0^1 (lhs - rhs) dt = 0``): a state name is its value
  on the current solution (``U``), ``old(x)`` on the previous one (``UOLD``), ``old_dt(x)``
  the time derivative of the previous one (``UPOLD``), ``ds(x)`` the derivative along the
  branch (``UDOT``), e.g. the phase condition ``"x*old_dt(x) + y*old_dt(y) = 0"``.

The time ``t`` may not appear in either.

Parameter slots: Auto-07p uses PAR(11) for the period, PAR(12) ... PAR(20) in HomCont (and
PAR(14) as the time of ``IPS=-2``), and PAR(21) ... PAR(36) for HomCont's test functions. The
model's parameters therefore take PAR(1) ... PAR(10) and then PAR(51), PAR(52), ... (``NPAR``
is set to the largest slot used); the mapping is the ``parnames`` dict of every constants file
and the comment block at the top of the equation file.

:class:`Continuation` compiles the equation file against Auto-07p's library
(``$AUTO_DIR/lib/*.o``, else Debian's ``/usr/lib/auto-07p``), runs it in a private directory
and returns each branch as a pandas DataFrame (parameter, state values, L2 norm, period,
stability, the label and type of special points LP / HB / PD / BP / UZ / EP, the run's name);
:meth:`Continuation.solution` reads a labelled solution from ``fort.8`` and
:meth:`Continuation.recheck` simulates the model just before and past every fold and Hopf point
of an equilibrium branch to confirm the predicted change of stability / the oscillation.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rates_core.codegen import comment, file_stem
from rates_core.errors import BackendUnavailableError, ModelError, SolverError
from rates_core.system import System

__all__ = [
    "ALL_SCENARIOS",
    "AUTO_HINT",
    "SCENARIOS",
    "Continuation",
    "auto_dir",
    "auto_files",
    "parameter_slots",
    "write",
]

#: Scenarios :func:`write` writes by default.
SCENARIOS = ("ivp", "eq", "lc")
#: Every scenario :func:`write` knows.
ALL_SCENARIOS = ("ivp", "eq", "lc", "bvp", "hom")
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
    slots: list[int] = []
    k = 1
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
    init: list[float] = field(default_factory=list)  # the starting state (STPNT)
    n_bc: int = 0  # boundary conditions in BCND
    n_int: int = 0  # integral constraints in ICND
    jacobian_at_start: Any = None  # () -> d f / d u at the starting state and values


#: A single '=' (not part of ==, <=, >=, !=).
_LONE_EQUALS = re.compile(r"(?<![<>=!])=(?!=)")
#: Functions of state variables in boundary conditions / integral constraints -> Auto arrays.
_CONDITION_FUNCTIONS = {
    "boundary": {"start": "U0", "end": "U1"},
    "integral": {"old": "UOLD", "old_dt": "UPOLD", "ds": "UDOT"},
}


def _conditions(
    texts: Sequence[str], kind: str, unames: Sequence[str], parnames: Sequence[str], where: dict
) -> list[Any]:
    """Boundary conditions (``kind="boundary"``) or integral constraints (``"integral"``),
    each ``lhs = rhs`` as the sympy expression ``lhs - rhs`` (module documentation)."""
    import sympy

    from rates_core import builtins as rb
    from rates_core.equations import parse_expression
    from rates_core.errors import EquationError

    if isinstance(texts, str):
        texts = [texts]
    index = {n: i for i, n in enumerate(unames)}
    what = "boundary condition" if kind == "boundary" else "integral constraint"

    def make(fn: str, array: str) -> Any:
        def at(*args: Any) -> Any:
            if len(args) != 1 or not isinstance(args[0], sympy.Symbol) or args[0].name not in index:
                raise ValueError(f"{fn}() takes one state variable ({', '.join(unames)})")
            return sympy.Symbol(f"{array}({index[args[0].name] + 1})", real=True)

        return at

    functions = dict(rb.CORE_FUNCTIONS)
    for fn, array in _CONDITION_FUNCTIONS[kind].items():
        functions[fn] = make(fn, array)
    variables = {n: "float64" for n in [*unames, *parnames] if n.isidentifier()}
    out = []
    for text in texts:
        if not isinstance(text, str):
            raise ModelError(f"a {what} must be a string, got {text!r}", **where)
        parts = _LONE_EQUALS.split(text)
        if len(parts) > 2:
            raise EquationError(
                f"a {what} has at most one '='", equation=text, template=where.get("template")
            )
        sides = [
            parse_expression(part, variables, functions=functions, template=where.get("template"))
            for part in parts
        ]
        expr = sides[0] - sides[1] if len(sides) == 2 else sides[0]
        if expr.has(rb.TIME):
            raise EquationError(
                f"the time t cannot appear in a {what}", equation=text,
                template=where.get("template"),
            )  # fmt: skip
        bare = sorted(s.name for s in expr.free_symbols if s.name in index)
        if kind == "boundary" and bare:
            raise EquationError(
                f"boundary condition: write start({bare[0]}) or end({bare[0]}) for the value of "
                f"{bare[0]!r} at t = 0 or t = 1",
                equation=text,
                template=where.get("template"),
            )
        out.append(expr)
    return out


def _condition_routines(
    w: Any,
    assign: Any,
    boundary: list[Any],
    integral: list[Any],
    unames: Sequence[str],
    parnames: Sequence[str],
    slots: Sequence[int],
) -> None:
    """BCND and ICND with their analytic derivatives (DBC / DINT, Auto-07p's column layout:
    U0 then U1 then PAR for DBC, U then PAR for DINT)."""
    import sympy

    n = len(unames)
    top = max(slots, default=0)
    par_syms = [(sympy.Symbol(p, real=True), s) for p, s in zip(parnames, slots)]
    w("SUBROUTINE BCND(NDIM, PAR, ICP, NBC, U0, U1, FB, IJAC, DBC)")
    if not boundary:
        w("  ! no boundary conditions")
    else:
        w("  IMPLICIT NONE")
        w("  INTEGER, PARAMETER :: dp = KIND(1.0d0)")
        w("  INTEGER, INTENT(IN) :: NDIM, ICP(*), NBC, IJAC")
        w("  DOUBLE PRECISION, INTENT(IN) :: PAR(*), U0(NDIM), U1(NDIM)")
        w("  DOUBLE PRECISION, INTENT(OUT) :: FB(NBC)")
        w("  DOUBLE PRECISION, INTENT(INOUT) :: DBC(NBC, *)")
        for k, e in enumerate(boundary):
            assign(f"FB({k + 1})", e)
        w("  IF (IJAC == 0) RETURN")
        w("  DBC(1:NBC, 1:2*NDIM) = 0.0d0")
        for k, e in enumerate(boundary):
            for i in range(n):
                for col, array in ((i + 1, "U0"), (n + i + 1, "U1")):
                    d = sympy.diff(e, sympy.Symbol(f"{array}({i + 1})", real=True))
                    if d != 0:
                        assign(f"DBC({k + 1}, {col})", d)
        w("  IF (IJAC == 1) RETURN")
        w(f"  DBC(1:NBC, 2*NDIM + 1:2*NDIM + {top}) = 0.0d0")
        for k, e in enumerate(boundary):
            for sym, slot in par_syms:
                d = sympy.diff(e, sym)
                if d != 0:
                    assign(f"DBC({k + 1}, 2*NDIM + {slot})", d)
    w("END SUBROUTINE BCND")
    w("")
    w("SUBROUTINE ICND(NDIM, PAR, ICP, NINT, U, UOLD, UDOT, UPOLD, FI, IJAC, DINT)")
    if not integral:
        w("  ! no integral constraints")
    else:
        w("  IMPLICIT NONE")
        w("  INTEGER, PARAMETER :: dp = KIND(1.0d0)")
        w("  INTEGER, INTENT(IN) :: NDIM, ICP(*), NINT, IJAC")
        w("  DOUBLE PRECISION, INTENT(IN) :: PAR(*), U(NDIM), UOLD(NDIM), UDOT(NDIM), UPOLD(NDIM)")
        w("  DOUBLE PRECISION, INTENT(OUT) :: FI(NINT)")
        w("  DOUBLE PRECISION, INTENT(INOUT) :: DINT(NINT, *)")
        for k, e in enumerate(integral):
            assign(f"FI({k + 1})", e)
        w("  IF (IJAC == 0) RETURN")
        w("  DINT(1:NINT, 1:NDIM) = 0.0d0")
        for k, e in enumerate(integral):
            for i, name in enumerate(unames):
                d = sympy.diff(e, sympy.Symbol(name, real=True))
                if d != 0:
                    assign(f"DINT({k + 1}, {i + 1})", d)
        w("  IF (IJAC == 1) RETURN")
        w(f"  DINT(1:NINT, NDIM + 1:NDIM + {top}) = 0.0d0")
        for k, e in enumerate(integral):
            for sym, slot in par_syms:
                d = sympy.diff(e, sym)
                if d != 0:
                    assign(f"DINT({k + 1}, NDIM + {slot})", d)
    w("END SUBROUTINE ICND")


def _scalar_params(system: System, jac: Any) -> tuple[list[str], list[float]]:
    names, values = [], []
    for p in system.params:
        syms = jac.scalars.get(p.name, ())
        flat = np.asarray(p.value).reshape(-1) if p.role != "matrix" else np.zeros(0)
        for k, s in enumerate(syms):
            names.append(s.name)
            values.append(float(np.real(flat[k] if flat.size > k else flat[0])))
    return names, values


def _model(
    system: System,
    y0: Sequence[float] | None = None,
    boundary: Sequence[str] = (),
    integral: Sequence[str] = (),
    **values: float,
) -> _AutoModel:
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
    # Auto's dummy arguments come first: a state called u must not become the array U
    taken = ["U", "PAR", "F", "DFDU", "DFDP", "NDIM", "ICP", "IJAC", "T", "FB", "FI", "DBC"]
    local = fortran_names([*taken, *(_safe(n) for n in unames + parnames)])
    names = {n: local[_safe(n)] for n in unames + parnames}
    printer = FortranPrinter(names, {n: 1 for n in names})
    init = np.real(np.asarray(system.initial_state() if y0 is None else y0, dtype=float))
    lines: list[str] = []
    w = lines.append
    w(
        comment(
            f"Auto-07p equation file of model {system.name!r}, generated by rates-fortran.",
            "fortran",
        )
    )
    w("! States (U) and parameters (PAR slots; PAR(11)-PAR(50) are left to Auto-07p):")
    for i, n in enumerate(unames):
        w(comment(f"  U({i + 1}) = {n}", "fortran"))
    for s, n in zip(slots, parnames):
        w(comment(f"  PAR({s}) = {n}", "fortran"))
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
        w(f"  PAR({s}) = {_dlit(v)}  {comment(n, 'fortran')}")
    for i, (n, v) in enumerate(zip(unames, init)):
        w(f"  U({i + 1}) = {_dlit(v)}  {comment(n, 'fortran')}")
    w("END SUBROUTINE STPNT")
    w("")
    bcs = _conditions(boundary, "boundary", unames, parnames, where)
    ics = _conditions(integral, "integral", unames, parnames, where)
    # in BCND / ICND states and parameters are read from Auto's arrays directly
    direct = {n: f"U({i + 1})" for i, n in enumerate(unames)}
    direct.update({n: f"PAR({s})" for n, s in zip(parnames, slots)})
    direct_printer = FortranPrinter(direct, {n: 1 for n in direct})

    def assign_direct(target: str, expr: Any) -> None:
        lines.extend(wrap(f"  {target} = {direct_printer.doprint(expr)}"))

    _condition_routines(w, assign_direct, bcs, ics, unames, parnames, slots)
    w("")
    w("SUBROUTINE FOPT(NDIM, U, ICP, PAR, IJAC, FS, DFDU, DFDP)")
    w("  ! no objective function")
    w("END SUBROUTINE FOPT")
    w("")
    w("SUBROUTINE PVLS(NDIM, U, PAR)")
    w("  ! no extra output values (Auto stores the L2 norm)")
    w("END SUBROUTINE PVLS")
    source = "\n".join(lines) + "\n"

    def jacobian_at_start() -> np.ndarray:
        from rates_core.jacobian import jacobian_function

        by_name = dict(zip(parnames, pvalues))
        args = []
        for p in system.params:
            syms = jac.scalars.get(p.name, ())
            args.append(np.array([by_name[s.name] for s in syms]) if syms else p.value)
        return jacobian_function(system, jacobian=jac)(0.0, init, *args)

    return _AutoModel(
        file_stem(system.name).lower(), system, unames, parnames, slots, pvalues, source,
        [float(v) for v in init], len(bcs), len(ics), jacobian_at_start,
    )  # fmt: skip


def _first_slot(model: _AutoModel) -> int:
    """The slot of the default continuation parameter: the model's first scalar parameter."""
    if not model.slots:
        raise ModelError(
            f"model {model.system.name!r} has no scalar parameter for Auto-07p to continue in",
            template=model.system.name,
        )
    return model.slots[0]


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
            icp_slots = [_first_slot(model)]
        base = {"IPS": 1, "ICP": icp_slots[:1], "ILP": 1, "ISP": 2, "ISW": 1, "IRS": 0,
                "NMX": 2000, "NPR": 5000, "DS": 0.01, "DSMIN": 1e-6, "DSMAX": 0.05}  # fmt: skip
    elif scenario == "lc":
        if not icp_slots:
            icp_slots = [_first_slot(model)]
        base = {"IPS": 2, "ICP": [icp_slots[0], 11], "ILP": 1, "ISP": 2, "ISW": 1, "IRS": 0,
                "NMX": 200, "NPR": 5000, "DS": 0.01, "DSMIN": 1e-6, "DSMAX": 0.1}  # fmt: skip
    elif scenario == "bvp":
        if not icp_slots:
            icp_slots = [_first_slot(model)]
        base = {"IPS": 4, "ICP": icp_slots, "ILP": 1, "ISP": 1, "ISW": 1, "IRS": 0,
                "NBC": model.n_bc, "NINT": model.n_int, "NTST": 10, "NMX": 200, "NPR": 5000,
                "DS": 0.01, "DSMIN": 1e-6, "DSMAX": 0.2}  # fmt: skip
    elif scenario == "hom":
        icp_slots = icp_slots or model.slots[:2]
        n = len(model.unames)
        unstable, stable = _eigen_counts(model)
        base = {"IPS": 9, "ICP": icp_slots, "ILP": 0, "ISP": 0, "ISW": 1, "IRS": 0,
                "NTST": 50, "NMX": 200, "NPR": 5000, "DS": 0.01, "DSMIN": 1e-6, "DSMAX": 0.1,
                "NBC": 0, "NINT": 0, "IEQUIB": 1, "ITWIST": 0, "ISTART": 1,
                "NUNSTAB": unstable, "NSTAB": stable,
                "PAR": {11 + i + 1: v for i, v in enumerate(model.init)},
                "NPAR": max([*model.slots, 11 + n, 36])}  # fmt: skip
    else:
        raise ModelError(
            f"unknown Auto-07p scenario {scenario!r} (known: {', '.join(ALL_SCENARIOS)})"
        )
    settings: dict[str, Any] = {
        "NDIM": len(model.unames), "NTST": 50, "NCOL": 4, "IAD": 3, "IPLT": 0, "NBC": 0,
        "NINT": 0, "MXBF": 10, "IID": 2, "ITMX": 8, "ITNW": 7, "NWTN": 3, "JAC": 1,
        "EPSL": 1e-7, "EPSU": 1e-7, "EPSS": 1e-5, "IADS": 1, "DSMIN": 1e-6,
        "NPAR": max([*model.slots, 14, 11]), "THL": {11: 0.0, 14: 0.0}, "THU": {},
        "UZR": {}, "UZSTOP": {},
    }  # fmt: skip
    settings.update(base)
    for key, value in constants.items():
        if key in ("UZR", "UZSTOP", "PAR") and isinstance(value, Mapping):
            value = {slot_of.get(k, k): v for k, v in value.items()}
            if key == "PAR" and isinstance(settings.get("PAR"), Mapping):
                value = {**settings["PAR"], **value}
        settings[key] = value
    parnames = {s: n for n, s in zip(model.parnames, model.slots)}
    parnames.update({11: "period", 14: "time"})
    out = [
        comment(
            f"Auto-07p constants of model {model.system.name!r}, scenario {scenario!r} "
            "(generated by rates-fortran)",
            "python",
        ),
        f"parnames = {parnames!r}",
        f"unames = { {i + 1: n for i, n in enumerate(model.unames)}!r}",
    ]
    for key, value in settings.items():
        out.append(f"{key} = {value!r}")
    return "\n".join(out) + "\n"


def _eigen_counts(model: _AutoModel) -> tuple[int, int]:
    """(unstable, stable) eigenvalue counts of d f / d u at the starting state (HomCont's
    NUNSTAB / NSTAB); an eigenvalue with zero real part counts as neither."""
    try:
        eig = np.linalg.eigvals(np.asarray(model.jacobian_at_start(), dtype=float))
    except Exception:  # noqa: BLE001 - a model without a numeric Jacobian: let the user say
        return 1, max(len(model.unames) - 1, 1)
    scale = max(1.0, float(np.max(np.abs(eig)))) if eig.size else 1.0
    return int(np.sum(eig.real > 1e-9 * scale)), int(np.sum(eig.real < -1e-9 * scale))


def auto_files(
    system: System,
    scenarios: Iterable[str] = SCENARIOS,
    y0: Sequence[float] | None = None,
    values: Mapping[str, float] | None = None,
    name: str | None = None,
    boundary: Sequence[str] = (),
    integral: Sequence[str] = (),
    **constants: Any,
) -> dict[str, str]:
    """``{file name: text}``: the equation file and one constants file per scenario (named
    ``<name>.f90`` and ``c.<name>.<scenario>``; ``name`` defaults to the model's).
    ``boundary`` / ``integral``: boundary conditions and integral constraints as equations
    (module documentation)."""
    model = _model(system, y0, boundary, integral, **dict(values or {}))
    if name:
        model.name = file_stem(name)
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
    *,
    boundary: Sequence[str] = (),
    integral: Sequence[str] = (),
    overwrite: bool = False,
    **constants: Any,
) -> list[Path]:
    """Write the Auto-07p equation file and the constants files of ``template`` (a circuit,
    node, operator or System) into ``directory``; the paths written. Existing files are
    replaced only with ``overwrite=True``, and never through a symbolic link
    (:mod:`rates_core.outputs`).

    ``scenarios``: any of :data:`ALL_SCENARIOS` (``ivp``, ``eq``, ``lc``, ``bvp``, ``hom``).
    ``boundary`` / ``integral``: boundary conditions and integral constraints as equations,
    e.g. ``boundary=["start(u) = 0", "end(u) = 0"]`` (module documentation). ``constants``
    override Auto-07p constants in every file (``ICP="eta"`` names a parameter, ``NMX=500``,
    ``UZR={"eta": [-5.0]}``, ...).
    """
    from rates_core.outputs import model_files, write_files

    system = _system(template)
    files = auto_files(system, scenarios, boundary=boundary, integral=integral, **constants)
    protect = () if isinstance(template, System) else model_files(template)
    return write_files(directory, files, overwrite=overwrite, protect=protect)


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

    def __init__(
        self,
        template: Any,
        workdir: str | os.PathLike[str] | None = None,
        *,
        boundary: Sequence[str] = (),
        integral: Sequence[str] = (),
    ) -> None:
        self.template = template
        self.boundary = list(boundary)
        self.integral = list(integral)
        self.system = _system(template)
        self.dir = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="rates-auto-"))
        self.dir.mkdir(parents=True, exist_ok=True)
        self.auto = auto_dir()
        self.runs: dict[str, Path] = {}

    # ------------------------------------------------------------------ building

    def _build(self, y0: Any, values: Mapping[str, float]) -> tuple[_AutoModel, Path]:
        from rates_fortran.build import compiler

        model = _model(self.system, y0, self.boundary, self.integral, **dict(values))
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
        out = []
        for f in frames:
            f = self._rename(f, model)
            f["run"] = name
            out.append(f)
        return out

    def solution(self, run: str, label: int) -> dict[str, Any]:
        """The labelled solution ``label`` of the run ``run`` from Auto's ``fort.8``:
        ``{"t": mesh times, "u": states (one row per mesh point), "par": PAR values}``."""
        text = (self.runs[run] / "fort.8").read_text()
        found = _parse_fort8(text).get(int(label))
        if found is None:
            raise SolverError(f"no solution with label {label} in the run {run!r}")
        return found

    @staticmethod
    def _rename(frame: Any, model: _AutoModel) -> Any:
        """Auto's columns ``U(i)`` and ``PAR(i)`` under the model's state and parameter names
        (``PAR(11)`` is the period)."""
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
        return frame.rename(columns=mapping)

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
        from rates_core.backend import Problem
        from rates_fortran.emit import emit_function
        from rates_fortran.solvers import solve

        emitted = emit_function(self.system)
        params = [
            float(values[p.name]) if p.name in values else p.value for p in self.system.params
        ]
        problem = Problem(
            y0=self.system.initial_state(), params=params, t0=0.0, simulation_time=time,
            step_size=time / 10, sampling_step=time / 10, n_samples=10,
            options={"rtol": 1e-10, "atol": 1e-12},
        )  # fmt: skip
        return solve("fortran_dopri5", emitted, problem).final

    def simulate(
        self, y0: Any, values: Mapping[str, float], time: float, n_samples: int = 2000
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(times, states)`` of the model simulated from ``y0`` for ``time`` with the parameter
        ``values`` (rates-fortran dopri5, rtol 1e-8)."""
        from rates_core.backend import Problem
        from rates_fortran.emit import emit_function
        from rates_fortran.solvers import solve

        emitted = emit_function(self.system)
        params = [
            float(values[p.name]) if p.name in values else p.value for p in self.system.params
        ]
        step = time / n_samples
        problem = Problem(
            y0=np.asarray(y0, dtype=float), params=params, t0=0.0, simulation_time=time,
            step_size=step, sampling_step=step, n_samples=n_samples,
            options={"rtol": 1e-8, "atol": 1e-10},
        )  # fmt: skip
        trajectory = solve("fortran_dopri5", emitted, problem)
        return trajectory.times, trajectory.states

    def _eigenvalues(self, y: np.ndarray, values: Mapping[str, float]) -> np.ndarray:
        from rates_core.jacobian import jacobian_function

        params = [
            float(values[p.name]) if p.name in values else p.value for p in self.system.params
        ]
        jac = jacobian_function(self.system)(0.0, np.asarray(y, dtype=float), *params)
        return np.linalg.eigvals(np.asarray(jac, dtype=float))

    def recheck(
        self,
        branch: Any,
        parameter: str,
        *,
        offset: float | None = None,
        time: float | None = None,
        perturbation: float = 1e-3,
        values: Mapping[str, float] | None = None,
    ) -> Any:
        """Re-check the folds (LP) and Hopf points (HB) of an equilibrium branch by simulating
        the model just before and just past each of them (rates-fortran dopri5).

        ``branch``: a DataFrame of :meth:`equilibria` / :meth:`run` (its ``run`` and ``LAB``
        columns find the full state of each special point in Auto's ``fort.8``). ``offset``:
        the parameter distance from the point (default 1 % of ``|p|``, at least 0.05 % of the
        branch's parameter range); ``time``: how long to simulate (default from the
        eigenvalues: for HB 30 growth / decay times of the critical pair on either side, at
        least 10 periods; for LP 30 decay times of the slowest other mode, then up to 4^5 times
        longer past the fold until the trajectory has left);
        ``perturbation``: the initial displacement from the equilibrium.

        Hopf point: on the side where the branch is stable a small perturbation must decay, on
        the other side it must grow into a sustained oscillation. Fold: on the side where the
        equilibria exist the trajectory started at the fold's state settles near it, past the
        fold it leaves (at least 5 times as far). One row per special point: ``type``, the
        parameter value, ``stable_side`` / ``other_side`` (the parameter values simulated),
        the measured ``stable_measure`` / ``other_measure`` (oscillation amplitude over the
        last quarter relative to the perturbation for HB; final distance from the point for
        LP), ``oscillates`` (HB, other side) and ``agrees``.
        """
        import pandas as pd

        values = dict(values or {})
        points = branch[branch["type"].isin(["LP", "HB"])]
        span = float(branch[parameter].max() - branch[parameter].min()) or 1.0
        rows = []
        for index, row in points.iterrows():
            run = row.get("run", "eq")
            state = self.solution(run, int(row["LAB"]))["u"][0]
            p0 = float(row[parameter])
            delta = float(offset) if offset else 0.01 * max(abs(p0), 0.05 * span)
            same = branch[branch["run"] == run] if "run" in branch.columns else branch
            position = same.index.get_loc(index)
            neighbours = [same.iloc[k] for k in (position - 1, position + 1) if 0 <= k < len(same)]
            kind = row["type"]
            if kind == "HB":
                stable = [n for n in neighbours if bool(n["stable"])]
                if not stable:  # both neighbours unstable (a second Hopf pair): skip it
                    continue
                direction = np.sign(float(stable[0][parameter]) - p0) or 1.0
            else:
                direction = np.sign(np.mean([float(n[parameter]) for n in neighbours]) - p0)
                direction = direction or 1.0
            p_in, p_out = p0 + direction * delta, p0 - direction * delta
            v_in, v_out = {**values, parameter: p_in}, {**values, parameter: p_out}
            scale = max(1.0, float(np.max(np.abs(state))))
            kick = perturbation * scale
            result = {"type": kind, parameter: p0, "stable_side": p_in, "other_side": p_out}
            if kind == "HB":
                # the critical pair's rate just before and past the point sets the time
                rates = [np.max(self._eigenvalues(state, v).real) for v in (v_in, v_out)]
                eig = self._eigenvalues(state, {**values, parameter: p0})
                sim_time = time or _hopf_time(rates, eig)
                a_in, _ = _oscillation(self, state + kick, v_in, sim_time)
                a_out, osc = _oscillation(self, state + kick, v_out, sim_time)
                result.update(
                    time=sim_time, stable_measure=a_in / kick, other_measure=a_out / kick,
                    oscillates=osc, agrees=bool(a_in < 0.5 * kick and a_out > 2 * kick and osc),
                )  # fmt: skip
            else:
                eig = self._eigenvalues(state, {**values, parameter: p0})
                sim_time = time or _fold_time(eig)
                d_in = _final_distance(self, state, v_in, sim_time)
                # past the fold the trajectory creeps through the bottleneck first: longer
                # runs until it has left (or 4^5 times the first)
                run_time = sim_time
                for _ in range(6):
                    d_out = _final_distance(self, state, v_out, run_time)
                    if d_out > 5 * max(d_in, kick) or time:
                        break
                    run_time *= 4
                result.update(
                    time=run_time, stable_measure=d_in, other_measure=d_out, oscillates=False,
                    agrees=bool(d_out > 5 * max(d_in, kick)),
                )  # fmt: skip
            rows.append(result)
        return pd.DataFrame(rows)

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


def _parse_fort8(text: str) -> dict[int, dict[str, Any]]:
    """Labelled solutions of an Auto-07p ``fort.8`` (s-file): label -> t, u, par."""
    lines = text.splitlines()
    out: dict[int, dict[str, Any]] = {}
    k = 0
    while k < len(lines):
        head = lines[k].split()
        if len(head) < 12:
            k += 1
            continue
        label, ntpl, nar, nrowpr, npar = (int(head[i]) for i in (3, 6, 7, 8, 11))
        block = lines[k + 1 : k + 1 + nrowpr]
        per_row = -(-nar // 7)
        mesh = [float(v.replace("D", "E")) for ln in block[: ntpl * per_row] for v in ln.split()]
        grid = np.asarray(mesh[: ntpl * nar]).reshape(ntpl, nar)
        par_rows = math.ceil(npar / 7)
        tail = [float(v.replace("D", "E")) for ln in block[-par_rows:] for v in ln.split()]
        out[label] = {"t": grid[:, 0], "u": grid[:, 1:], "par": np.asarray(tail[-npar:])}
        k += 1 + nrowpr
    return out


def _hopf_time(rates: Sequence[float], eig: np.ndarray) -> float:
    """30 times the slower of the critical pair's decay / growth times on the two sides, at
    least 10 oscillation periods."""
    rate = min(abs(float(r)) for r in rates) or 1e-6
    time = 30.0 / rate
    im = np.abs(eig.imag)
    if np.any(im > 0):
        time = max(time, 10 * 2 * math.pi / float(np.max(im)))
    return float(min(time, 1e7))


def _fold_time(eig: np.ndarray) -> float:
    """30 decay times of the slowest mode besides the critical one (the smallest |lambda|)."""
    order = np.argsort(np.abs(eig))
    rest = np.abs(eig.real[order[1:]])
    rest = rest[rest > 0]
    return float(min(30.0 / float(np.min(rest)), 1e7)) if rest.size else 100.0


def _oscillation(
    cont: Continuation, start: np.ndarray, values: Mapping[str, float], time: float
) -> tuple[float, bool]:
    """(amplitude over the last quarter, whether it oscillates there) of a simulation."""
    try:
        _, states = cont.simulate(start, values, time)
    except SolverError:
        return float("inf"), False
    tail = states[-len(states) // 4 :]
    centred = tail - tail.mean(axis=0)
    amplitude = float(np.max(np.abs(centred)))
    main = centred[:, int(np.argmax(np.max(np.abs(centred), axis=0)))]
    crossings = int(np.sum(np.signbit(main[:-1]) != np.signbit(main[1:])))
    return amplitude, crossings >= 4


def _final_distance(
    cont: Continuation, start: np.ndarray, values: Mapping[str, float], time: float
) -> float:
    """Distance of the final state from ``start`` (infinite when the run blows up)."""
    try:
        _, states = cont.simulate(start, values, time)
    except SolverError:
        return float("inf")
    final = states[-1]
    return float(np.max(np.abs(final - start))) if np.all(np.isfinite(final)) else float("inf")


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
