"""Generate one Fortran 2008 module per System, compile it and wrap it with ctypes.

The module (``rates_model``) holds

* ``field_(t, y, dy, <delayed reads>, <parameters>)``: the vector field with one dummy argument
  per System parameter (explicit shapes), states unpacked by name, algebraic updates in
  dependency order, one ``dy(...) = ...`` per state;
* ``eval_`` / ``rates_field`` (``bind(c)``): the same with the packed arrays ``dl``, ``pr``,
  ``pc``, ``pi`` of :class:`rates_fortran.layout.Layout`;
* ``rates_jacobian`` (``bind(c)``): the dense symbolic ``d f / d y`` from
  :func:`rates_core.jacobian.system_jacobian` (systems up to :data:`JACOBIAN_MAX_STATES`
  states);
* ``rates_solve`` (``bind(c)``): the whole integration, fixed-step euler / heun / rk4 or
  Dormand-Prince 5(4), with the history of delayed reads (:mod:`rates_fortran.fsolvers`).

Binding: ``bind(c)`` + ctypes (the plugin README has the measurements behind the choice).
"""

from __future__ import annotations

import ctypes
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from rates_core.backend import EmitOptions, EmittedFunction
from rates_core.codegen import comment, file_stem
from rates_core.codegen import source as kit
from rates_core.codegen.modules import export_only
from rates_core.errors import ModelError
from rates_core.plugins import EmitContext
from rates_core.system import System
from rates_fortran import BACKEND, __version__
from rates_fortran.fsolvers import HELPERS, SOLVER
from rates_fortran.layout import Layout
from rates_fortran.printer import FortranPrinter, fortran_names

__all__ = ["JACOBIAN_MAX_STATES", "CompiledModel", "emit_function", "emit_source"]

#: Systems with more states get no symbolic Jacobian.
JACOBIAN_MAX_STATES = 200
#: ... nor systems with more coupling entries than this.
JACOBIAN_MAX_COUPLINGS = 5000
#: Longest generated line before it is continued with ``&``.
LINE_LENGTH = 100
_INDENT = "  "


# --------------------------------------------------------------------------- text helpers


def _comment(text: str) -> str:
    """A Fortran comment holding model-derived ``text`` (names, equations), escaped."""
    return comment(text, "fortran")


def wrap(line: str, limit: int = LINE_LENGTH) -> list[str]:
    """``line`` split at spaces into Fortran free-form continuation lines."""
    if len(line) <= limit:
        return [line]
    indent = len(line) - len(line.lstrip())
    code, bang, comment = line.partition("  ! ")
    if bang and code.strip():  # a trailing comment stays on the last line
        pieces = wrap(code, limit)
        pieces[-1] += bang + comment
        return pieces
    if line.lstrip().startswith("!"):  # comments continue as comments
        import textwrap

        lead = line[: indent + 1] + ("!" if line.lstrip().startswith("!!") else "")
        body = line[len(lead) :].strip()
        return textwrap.wrap(body, limit, initial_indent=lead + " ", subsequent_indent=lead + "   ")
    out: list[str] = []
    rest = line
    while len(rest) > limit and len(out) < 200:
        cut = rest.rfind(" ", indent + 10, limit - 2)
        if cut > indent:
            out.append(rest[:cut] + " &")
            rest = " " * (indent + 4) + "& " + rest[cut + 1 :]
            continue
        # no space: break after an operator or comma (never inside "**")
        cut = max(
            (
                i
                for i in range(indent + 10, min(limit - 2, len(rest) - 1))
                if rest[i] in "*/,(" and rest[i + 1] != "*" and rest[i - 1] != "*"
            ),
            default=-1,
        )
        if cut < 0:
            break
        out.append(rest[: cut + 1] + "&")
        rest = " " * (indent + 4) + "&" + rest[cut + 1 :]
    out.append(rest)
    return out


def _ftype(dtype: str) -> str:
    dtype = str(dtype)
    if dtype.startswith("complex"):
        return "complex(dp)"
    if dtype.startswith("int"):
        return "integer(i8)"
    return "real(dp)"


# --------------------------------------------------------------------------- model text


class _Model:
    """Names, sizes, layout and printer of one System."""

    def __init__(self, system: System, builtins: Mapping[str, Any] | None) -> None:
        self.system = system
        self.layout = Layout.of(system)
        names = [s.name for s in system.states]
        names += [p.name for p in system.params]
        names += [d.name for d in system.delayed]
        names += [a.name for a in system.algebraic]
        self.names = fortran_names(names)
        sizes = dict(system.symbol_sizes())
        sparse = set()
        for p in system.params:
            if p.role == "matrix":
                sizes[p.name] = 2  # an array (never a scalar)
                if hasattr(p.value, "tocsr"):
                    sparse.add(p.name)
            elif np.size(p.value) != 1:
                sizes[p.name] = int(np.size(p.value))
        self.sizes = sizes
        self.printer = FortranPrinter(self.names, sizes, sparse, builtins)
        self.printer.matrices = {
            p.name for p in system.params if p.name not in sparse and np.ndim(p.value) == 2
        }
        self.yt = "complex(dp)" if system.is_complex else "real(dp)"
        #: held algebraic variables (kit.held_algebraic; real models) -> slice of ``held``
        self.held: dict[str, tuple[int, int]] = {}
        if not system.is_complex:
            offset = 0
            sizes_of = {a.name: a.size for a in system.algebraic}
            for name in kit.held_algebraic(system):
                self.held[name] = (offset, sizes_of[name])
                offset += sizes_of[name]
        self.n_held = sum(size for _, size in self.held.values())

    def n(self, name: str) -> str:
        return self.names[name]

    def dummies(self) -> list[str]:
        """Dummy argument names after ``(t, y, dy)``: delayed reads, then parameters."""
        out = [self.n(d.name) for d in self.system.delayed]
        for e in self.layout.entries:
            base = self.n(e.name)
            out += [f"{base}_data", f"{base}_col", f"{base}_ptr"] if e.sparse else [base]
        return out

    def actuals(self) -> list[str]:
        """The packed-array elements passed for :meth:`dummies` (sequence association)."""
        out = [f"dl({off + 1})" for _, off, _ in self.layout.delayed]
        arr = {"r": "pr", "c": "pc", "i": "pi"}
        for e in self.layout.entries:
            if e.sparse:
                out += [f"{arr[e.kind]}({e.offset + 1})", f"pi({e.col + 1})", f"pi({e.ptr + 1})"]
            else:
                out.append(f"{arr[e.kind]}({e.offset + 1})")
        return out

    def declare_dummies(self, w: kit.SourceWriter) -> None:
        for name, _, size in self.layout.delayed:
            shape = f"({size})" if size != 1 else ""
            w(f"{self.yt}, intent(in) :: {self.n(name)}{shape}", 2)
        for e in self.layout.entries:
            base = self.n(e.name)
            t = {"r": "real(dp)", "c": "complex(dp)", "i": "integer(i8)"}[e.kind]
            if e.sparse:
                w(f"{t}, intent(in) :: {base}_data({e.nnz})", 2)
                w(f"integer(i8), intent(in) :: {base}_col({e.nnz}), {base}_ptr({e.nrows + 1})", 2)
                continue
            shape = f"({', '.join(str(s) for s in e.shape)})" if e.shape else ""
            note = f"  ! {e.role}" if e.role not in ("constant",) else ""
            w(f"{t}, intent(in) :: {base}{shape}{note}", 2)

    def declare_locals(self, w: kit.SourceWriter, algebraic: bool = True) -> None:
        for s in self.system.states:
            shape = f"({s.size})" if s.size != 1 else ""
            w(f"{_ftype(s.dtype)} :: {self.n(s.name)}{shape}", 2)
        if algebraic:
            for a in self.system.algebraic:
                shape = f"({a.size})" if a.size != 1 else ""
                w(f"{_ftype(a.dtype)} :: {self.n(a.name)}{shape}", 2)

    def unpack_states(self, w: kit.SourceWriter) -> None:
        w("! states", 2)
        for s in self.system.states:
            read = f"y({s.start + 1})" if s.size == 1 else f"y({s.start + 1}:{s.stop})"
            if self.system.is_complex and not str(s.dtype).startswith("complex"):
                read = f"real({read}, dp)"
            w(f"{self.n(s.name)} = {read}", 2)

    def signature(self, name: str, first: str = "dy") -> str:
        args = ["t", "y", first, *self.dummies()]
        return f"subroutine {name}({', '.join(args)})"


#: Fields of at most this many lines get a second copy fused with the Euler update (``euler_``).
EULER_COPY_LINES = 400


def _field(w: kit.SourceWriter, m: _Model, euler: bool = False) -> None:
    """``field_(t, y, dy, ...)``; with ``euler`` the same statements as ``euler_(t, dt, y,
    ...)``, which advances ``y`` by one Euler step (see :func:`_euler_step`)."""
    system = m.system
    name = "euler_" if euler else "field_"
    if euler:
        w(f"subroutine {name}({', '.join(['t', 'dt', 'y', *m.dummies()])})", 1)
        w("!" + _comment(f"one Euler step of model {system.name!r} (field_ fused with it)"), 2)
        w("real(dp), intent(in) :: t, dt", 2)
        w(f"{m.yt}, intent(inout) :: y(n_states)", 2)
        w(f"{m.yt} :: dy(n_states)", 2)
    else:
        held = ["held", "reuse"] if m.held else []
        w(f"subroutine {name}({', '.join(['t', 'y', 'dy', *held, *m.dummies()])})", 1)
        w("!" + _comment(f"d y / d t of model {system.name!r}"), 2)
        if m.held:
            w("!! held: the values of the held algebraic variables (computed from delayed reads", 2)
            w("!! and parameters alone), stored, or with reuse read back (see fixed_)", 2)
        w("real(dp), intent(in) :: t", 2)
        w(f"{m.yt}, intent(in) :: y(n_states)", 2)
        w(f"{m.yt}, intent(out) :: dy(n_states)", 2)
        if m.held:
            w("real(dp), intent(inout) :: held(n_held)", 2)
            w("logical, intent(in) :: reuse", 2)
    m.declare_dummies(w)
    m.declare_locals(w)
    m.unpack_states(w)
    units = kit.unit_counts(system)
    if system.algebraic:
        w("! algebraic variables, in dependency order", 2)
    for a in system.algebraic:
        code = m.printer.doprint(kit.unit_noise(a.expr, units.get(a.name)))
        if a.name in m.held and not euler:
            offset, size = m.held[a.name]
            part = f"held({offset + 1})" if size == 1 else f"held({offset + 1}:{offset + size})"
            w("if (reuse) then", 2)
            w(f"{m.n(a.name)} = {part}", 3)
            w("else", 2)
            w(f"{m.n(a.name)} = {code}", 3)
            w(f"{part} = {m.n(a.name)}", 3)
            w("end if", 2)
            continue
        w(f"{m.n(a.name)} = {code}", 2)
    w("! derivatives", 2)
    for state, expr in system.derivatives:
        s = system.state(state)
        code = m.printer.doprint(kit.unit_noise(expr, units.get(state)))
        where = f"dy({s.start + 1})" if s.size == 1 else f"dy({s.start + 1}:{s.stop})"
        w(f"{where} = {code}  {_comment(f'd/dt {state}')}", 2)
    if euler:
        w("y = y + dt*dy", 2)
    w(f"end subroutine {name}", 1)


def _euler_step(w: kit.SourceWriter, m: _Model, fused: bool) -> None:
    """``euler_step_``, the Euler step of ``plain_`` (its only caller). gfortran inlines a
    function with one caller, not ``field_`` (it has many), so with ``fused`` (a small field:
    ``euler_`` is a copy) the field lands in the loop and what depends on parameters alone
    (quotients, powers) is computed once per run, as a hand-written loop's constants are."""
    head = "subroutine euler_step_(t, dt, y, dl, pr, pc, pi)"
    first = ("real(dp), intent(in) :: t, dt", f"{m.yt}, intent(inout) :: y(n_states)")
    doc = "y <- y + dt*f(t, y) on the packed arrays (called by plain_ only)"
    _packed(w, m, head, doc, first)
    if fused:
        w(f"call euler_({', '.join(['t', 'dt', 'y', *m.actuals()])})", 2)
    else:
        w(f"{m.yt} :: dy(n_states)", 2)
        w("call eval_(t, y, dy, dl, pr, pc, pi)", 2)
        w("y = y + dt*dy", 2)
    w("end subroutine euler_step_", 1)


def _packed(w: kit.SourceWriter, m: _Model, head: str, doc: str, first: Sequence[str] = ()) -> None:
    """The first lines of a subroutine on the packed arrays: ``head`` (``subroutine ...``), a
    ``!!`` line, the declarations ``first`` (default: ``t, y, dy`` of the field) and those of
    ``dl, pr, pc, pi``."""
    w(head, 1)
    w(f"!! {doc}", 2)
    for line in first or (
        "real(dp), intent(in) :: t",
        f"{m.yt}, intent(in) :: y(n_states)",
        f"{m.yt}, intent(out) :: dy(n_states)",
    ):
        w(line, 2)
    w(f"{m.yt}, intent(in) :: dl(*)", 2)
    w("real(dp), intent(in) :: pr(*)", 2)
    w("complex(dp), intent(in) :: pc(*)", 2)
    w("integer(i8), intent(in) :: pi(*)", 2)


def _eval(w: kit.SourceWriter, m: _Model) -> None:
    head = "subroutine eval_(t, y, dy, dl, pr, pc, pi)"
    _packed(w, m, head, "field_ on the packed arrays (delayed reads dl, parameters pr / pc / pi)")
    if m.held:
        w("real(dp) :: held(n_held)", 2)
        w(f"call field_({', '.join(['t', 'y', 'dy', 'held', '.false.', *m.actuals()])})", 2)
    else:
        w(f"call field_({', '.join(['t', 'y', 'dy', *m.actuals()])})", 2)
    w("end subroutine eval_", 1)
    w()
    head = "subroutine eval_held_(t, y, dy, dl, pr, pc, pi, held, reuse)"
    _packed(w, m, head, "eval_ keeping the held algebraic variables in held (reuse: read them)")
    w("real(dp), intent(inout) :: held(*)", 2)
    w("logical, intent(in) :: reuse", 2)
    if m.held:
        w(f"call field_({', '.join(['t', 'y', 'dy', 'held', 'reuse', *m.actuals()])})", 2)
    else:
        w("call eval_(t, y, dy, dl, pr, pc, pi)", 2)
    w("end subroutine eval_held_", 1)
    w()
    w('subroutine rates_field(t, y, dy, dl, pr, pc, pi) bind(c, name="rates_field")', 1)
    w("real(dp), value :: t", 2)
    w(f"{m.yt}, intent(in) :: y(n_states)", 2)
    w(f"{m.yt}, intent(out) :: dy(n_states)", 2)
    w(f"{m.yt}, intent(in) :: dl(n_delayed + 1)", 2)
    w("real(dp), intent(in) :: pr(n_real + 1)", 2)
    w("complex(dp), intent(in) :: pc(n_complex + 1)", 2)
    w("integer(i8), intent(in) :: pi(n_int + 1)", 2)
    w("call eval_(t, y, dy, dl, pr, pc, pi)", 2)
    w("end subroutine rates_field", 1)


def jacobian_entries(system: System, m: _Model) -> list[tuple[int, int, str]] | None:
    """Printed nonzero entries of d f / d y, or None when there is no symbolic Jacobian."""
    if (
        system.n_states > JACOBIAN_MAX_STATES
        or kit.coupling_entries(system) > JACOBIAN_MAX_COUPLINGS
    ):
        return None
    printed = kit.printed_jacobian(system, m.printer.doprint, JACOBIAN_MAX_STATES)
    return printed[0] if printed else None


def _jacobian(w: kit.SourceWriter, m: _Model, entries: list[tuple[int, int, str]]) -> None:
    w(m.signature("jacobian_", "jac"), 1)
    w("!" + _comment(f"dense d f / d y of model {m.system.name!r} (matrix couplings baked in)"), 2)
    w("real(dp), intent(in) :: t", 2)
    w(f"{m.yt}, intent(in) :: y(n_states)", 2)
    w(f"{m.yt}, intent(out) :: jac(n_states, n_states)", 2)
    m.declare_dummies(w)
    m.declare_locals(w, algebraic=False)
    m.unpack_states(w)
    w("jac = 0.0_dp", 2)
    for i, j, code in entries:
        w(f"jac({i + 1}, {j + 1}) = {code}", 2)
    w("end subroutine jacobian_", 1)
    w()
    w('subroutine rates_jacobian(t, y, jac, dl, pr, pc, pi) bind(c, name="rates_jacobian")', 1)
    w("real(dp), value :: t", 2)
    w(f"{m.yt}, intent(in) :: y(n_states)", 2)
    w(f"{m.yt}, intent(out) :: jac(n_states, n_states)", 2)
    w(f"{m.yt}, intent(in) :: dl(n_delayed + 1)", 2)
    w("real(dp), intent(in) :: pr(n_real + 1)", 2)
    w("complex(dp), intent(in) :: pc(n_complex + 1)", 2)
    w("integer(i8), intent(in) :: pi(n_int + 1)", 2)
    w(f"call jacobian_({', '.join(['t', 'y', 'jac', *m.actuals()])})", 2)
    w("end subroutine rates_jacobian", 1)


def emit_source(system: System, context: EmitContext | None = None) -> tuple[str, dict[str, Any]]:
    """The generated module text of ``system`` and facts about it (``layout``, ``jacobian``,
    ``names``)."""
    context = context or EmitContext()
    options = context.options
    if options.float_precision not in ("float64", None):
        raise ModelError(
            f"rates-fortran computes in double precision; float_precision="
            f"{options.float_precision!r} is not supported",
            template=system.name,
        )
    m = _Model(system, context.builtins)
    w = kit.SourceWriter(_INDENT, wrap)
    renamed = {k: v for k, v in m.names.items() if k != v}
    notes = [f"Renamed for Fortran: {', '.join(f'{k} -> {v}' for k, v in renamed.items())}"]
    header = kit.file_header(system, f"rates-fortran {__version__}", "fortran", notes=notes)
    for line in header if renamed else header[:-1]:
        w(line)
    w("module rates_model")
    w("use, intrinsic :: iso_c_binding, only: c_double, c_int, c_int64_t", 1)
    for line in context.imports:
        w(line, 1)
    w("implicit none", 1)
    w("private", 1)
    w("public :: rates_field, rates_solve", 1)
    w("integer, parameter :: dp = c_double, i8 = c_int64_t", 1)
    w(f"integer, parameter :: n_states = {system.n_states}", 1)
    lay = m.layout
    w(
        f"integer, parameter :: n_real = {lay.n_real}, n_complex = {lay.n_complex}, "
        f"n_int = {lay.n_int}, n_delayed = {lay.n_delayed}",
        1,
    )
    w(f"integer, parameter :: n_held = {m.n_held}", 1)
    w()
    w("type :: history_t", 1)
    w("!! accepted points (t, y, f) of the integration, read at t - tau; fl is the left-side", 2)
    w("!! derivative at a point where an input row changes (else f)", 2)
    w("integer :: n = 0, first = 1, n_conn = 0, n_pre = 0", 2)
    w("logical :: last_f = .false.", 2)
    w("real(dp) :: t0 = 0.0_dp, tau_max = 0.0_dp, pre_dt = 0.0_dp", 2)
    w("integer, allocatable :: pos(:)", 2)
    w("real(dp), allocatable :: tau(:), tt(:)", 2)
    w(f"{m.yt}, allocatable :: y0(:), yy(:, :), ff(:, :), fl(:, :), pre_y(:, :), pre_f(:, :)", 2)
    w("end type history_t", 1)
    w("type :: ring_t", 1)
    w("!! fixed steps: the last D rows of the tracked columns, per row and column a record", 2)
    w("!! of nrec values: y, or y and dt*f, or y, dt*(left-side f) and dt*f", 2)
    w("integer(i8) :: d = 0, rs = 1, cs = 1, n_pre(3) = 0", 2)
    w("integer :: nrec = 1, ncols = 0, n_zero = 0, n_plans = 0", 2)
    w("logical :: hermite = .false., direct(3) = .true., carry = .false., held = .false.", 2)
    w("integer, allocatable :: tracked(:), zero(:)", 2)
    w(f"{m.yt}, allocatable :: ring(:)", 2)
    w("end type ring_t", 1)
    w()
    w("interface interp_", 1)
    w("module procedure interp_s_, interp_v_", 2)
    w("end interface interp_", 1)
    w("interface matvec_", 1)
    w("module procedure matvec_rr_, matvec_rc_, matvec_cr_, matvec_cc_", 2)
    w("end interface matvec_", 1)
    w("interface sign_", 1)
    w("module procedure sign_r_, sign_c_", 2)
    w("end interface sign_", 1)
    w()
    w("contains")
    w()
    start = len(w.lines)
    _field(w, m)
    fused = len(w.lines) - start <= EULER_COPY_LINES and not m.held
    if fused:
        w()
        _field(w, m, euler=True)
    w()
    _eval(w, m)
    w()
    _euler_step(w, m, fused)
    entries = jacobian_entries(system, m)
    if entries is not None:
        w()
        _jacobian(w, m, entries)
        idx = w.lines.index(f"{_INDENT}public :: rates_field, rates_solve")
        w.lines[idx] = f"{_INDENT}public :: rates_field, rates_jacobian, rates_solve"
    text = w.text() + HELPERS + SOLVER.replace("{YT}", m.yt) + "\nend module rates_model\n"
    return text, {"layout": lay, "jacobian": entries is not None, "names": m.names}


# --------------------------------------------------------------------------- runtime


class CompiledModel:
    """The loaded shared library of one model and ctypes calls into it."""

    def __init__(self, system: System, library: Any, layout: Layout, jacobian: bool) -> None:
        self.system = system
        self.layout = layout
        self.dtype = np.dtype(np.complex128 if system.is_complex else np.float64)
        self.lib = ctypes.CDLL(str(library))
        ptr = ctypes.c_void_p
        self._field = self.lib.rates_field
        self._field.restype = None
        self._field.argtypes = [ctypes.c_double, ptr, ptr, ptr, ptr, ptr, ptr]
        self._jac: Any = None  # the ctypes function, when the module has a Jacobian
        if jacobian:
            self._jac = self.lib.rates_jacobian
            self._jac.restype = None
            self._jac.argtypes = [ctypes.c_double, ptr, ptr, ptr, ptr, ptr, ptr]
        i64, f64, i32 = ctypes.c_int64, ctypes.c_double, ctypes.c_int
        self.solve_c = self.lib.rates_solve
        self.solve_c.restype = None
        self.solve_c.argtypes = [
            i32, i64, i64, i64, f64, f64, f64, f64, f64, f64, i64,  # method .. max_steps
            ptr, ptr, ptr, ptr, ptr, ptr,  # y0, out, yfinal, pr, pc, pi
            i32, ptr, i64, ptr, ptr,  # n_in, in_pos, n_rows, in_times, series
            i32, ptr, ptr, i32, f64, ptr, ptr,  # n_conn, conn_pos, conn_tau, n_pre, ...
            i64, ptr, ptr,  # seed, status, stats
            ptr, ptr, ptr, ptr, ptr, ptr, ptr,  # ring_i, tracked, zero, conn, off, theta, s
        ]  # fmt: skip

    def _delayed(self, values: Sequence[Any]) -> np.ndarray:
        dl = np.zeros(self.layout.n_delayed + 1, dtype=self.dtype)
        for (_, off, size), v in zip(self.layout.delayed, values):
            dl[off : off + size] = np.asarray(v).reshape(-1)
        return dl

    def _split(self, args: Sequence[Any]) -> tuple[np.ndarray, tuple]:
        k = len(self.layout.delayed)
        return self._delayed(args[:k]), self.layout.pack(args[k:])

    def field(self, t: float, y: Any, dy: Any, *args: Any) -> Any:
        yv = np.ascontiguousarray(y, dtype=self.dtype)
        out = np.empty(self.system.n_states, dtype=self.dtype)
        dl, (pr, pc, pi) = self._split(args)
        self._field(float(t), yv.ctypes.data, out.ctypes.data, dl.ctypes.data,
                    pr.ctypes.data, pc.ctypes.data, pi.ctypes.data)  # fmt: skip
        if dy is None:
            return out
        dy[...] = out if np.iscomplexobj(dy) or not np.iscomplexobj(out) else out.real
        return dy

    def field_functional(self, t: float, y: Any, *args: Any) -> np.ndarray:
        return self.field(t, y, None, *args)

    def jacobian(self, t: float, y: Any, *args: Any) -> np.ndarray:
        n = self.system.n_states
        yv = np.ascontiguousarray(y, dtype=self.dtype)
        jac = np.empty((n, n), dtype=self.dtype, order="F")
        dl, (pr, pc, pi) = self._split(args)
        self._jac(float(t), yv.ctypes.data, jac.ctypes.data, dl.ctypes.data,
                  pr.ctypes.data, pc.ctypes.data, pi.ctypes.data)  # fmt: skip
        return np.ascontiguousarray(jac)


def emit_function(system: System, context: EmitContext | None = None) -> EmittedFunction:
    """Generate, compile (cached) and load the module of ``system``.

    With ``options.standalone`` nothing is compiled: the module goes into
    ``extras["files"]`` (plus the Auto-07p files for ODE systems without vector functions).
    """
    from rates_core.cache import write_requested_copy

    context = context or EmitContext()
    options = context.options
    key = None
    if not options.standalone:
        cached, key = _load_cached(system, context)
        if cached is not None:
            write_requested_copy(cached.source, options, ".f90")
            return _with_auto(cached, options)
    source, info = emit_source(system, context)
    write_requested_copy(source, options, ".f90")
    if options.standalone:
        files = {f"{_file_stem(system)}.f90": source}
        try:
            from rates_fortran.auto import auto_files

            files.update(auto_files(system))
        except (ModelError, NotImplementedError) as exc:
            files[f"{_file_stem(system)}.auto.txt"] = (
                f"No Auto-07p files for model {system.name!r}: {exc}\n"
            )
        return export_only(system, source, BACKEND, files, layout=info["layout"], options=options)
    from rates_fortran.build import compile_library, write_index

    src, lib = compile_library(source, system.name)
    if key is not None:
        write_index(key, src, lib, info["jacobian"])
    emitted = _wrap(system, source, src, lib, info["layout"], info["jacobian"], options)
    return _with_auto(emitted, options)


def _with_auto(emitted: EmittedFunction, options: EmitOptions) -> EmittedFunction:
    """``options.auto``: write the Auto-07p files (equation file, ``c.<name>.<scenario>``)
    next to ``options.file_name`` (else into the working directory) and list them in
    ``extras["files"]`` and ``extras["auto_paths"]``."""
    if not getattr(options, "auto", False):  # rates-core before EmitOptions.auto
        return emitted
    from pathlib import Path

    from rates_core.outputs import write_files
    from rates_fortran.auto import auto_files

    system = emitted.system
    if options.file_name:
        target = Path(options.file_name).expanduser()
        directory = target.parent
        stem = _file_stem(system)
        # the Auto equation file must not overwrite the module written to file_name
        if (target if target.suffix else target.with_suffix(".f90")).name == f"{stem}.f90":
            stem = f"{stem}_auto"
    else:
        directory, stem = Path.cwd(), _file_stem(system)
    constants = dict(getattr(options, "auto_constants", ()))  # NMX=..., ICP=... (PyRates 0.17)
    files = auto_files(system, name=stem, y0=getattr(options, "initial_state", None), **constants)
    paths = write_files(
        directory, files, overwrite=options.overwrite, protect=options.protect, same_ok=True
    )
    emitted.extras["files"] = files
    emitted.extras["auto_paths"] = paths
    return emitted


def _jacobian_possible(system: System) -> bool:
    return (
        system.n_states <= JACOBIAN_MAX_STATES
        and kit.coupling_entries(system) <= JACOBIAN_MAX_COUPLINGS
    )


def _load_cached(system: System, context: EmitContext) -> tuple[EmittedFunction | None, str | None]:
    """``(emitted, key)``: the compiled module of an identical System found by its structural
    key (no printing, no compiler call), or None; the key indexes a new library on a miss."""
    from rates_fortran.build import compiler, compiler_identity, find_indexed
    from rates_fortran.key import structural_key

    fc = compiler()  # BackendUnavailableError without a compiler, before any printing
    try:
        key = structural_key(
            system,
            context.options,
            context.builtins,
            context.imports,
            compiler_identity(fc),
            _jacobian_possible(system),
        )
    except Exception:  # noqa: BLE001 - the key is a shortcut only: print and compile instead
        return None, None
    hit = find_indexed(key)
    if hit is None:
        return None, key
    layout = Layout.of(system)
    return _wrap(
        system, hit["text"], hit["source"], hit["library"], layout, hit["jacobian"], context.options
    ), key


def _wrap(
    system: System,
    source: str,
    src: Any,
    lib: Any,
    layout: Layout,
    jacobian: bool,
    options: EmitOptions,
) -> EmittedFunction:
    model = CompiledModel(system, lib, layout, jacobian)
    return EmittedFunction(
        backend=BACKEND,
        system=system,
        source=source,
        rhs=model.field,
        rhs_functional=model.field_functional,
        jacobian=model.jacobian if jacobian else None,
        path=src,
        extras={
            "model": model,
            "library": lib,
            "layout": layout,
            "options": options,
            "delayed": [d.name for d in system.delayed],
        },
    )


def _file_stem(system: System) -> str:
    return file_stem(system.name).lower()
