"""Generate the MATLAB files of a System.

Files (``<field>`` is ``EmitOptions.func_name``, ``vector_field`` by default):

* ``<field>.m``: ``dy = <field>(t, y, <delayed reads>, <parameters>)``, the states unpacked by
  name, the algebraic updates in dependency order, one ``dy(...) = ...`` line per state;
* ``<field>_jacobian.m``: the dense symbolic ``d f / d y`` (same arguments), when
  :mod:`rates_core.jacobian` can differentiate the system (at most
  :data:`JACOBIAN_MAX_STATES` states);
* ``<field>_fixed.m`` and ``<field>_adaptive.m``: whole-run drivers (see
  :mod:`rates_matlab.drivers`);
* delay systems (and every model run from Python, as dde23 integrates ODEs too):
  ``<field>_delays.m`` (the connections of the delayed reads: state entries, delays, the
  distinct lags), ``<field>_dde23.m`` and ``<field>_dde23_run.m`` (dde23), and in standalone
  exports ``sys_rhs.m`` / ``sys_tau.m`` for DDE-BIFTOOL when every delayed read has
  one delay;
* standalone exports (``rates export``): ``run_<model>.m``, a script with the parameter values
  of the model that simulates it.

Files executed from Python live in a directory of the content-addressed cache
(:mod:`rates_core.cache`), with every generated function name suffixed by the content hash so
that many models can share one MATLAB / Octave session; exported files keep the plain names.
That directory is private and its files are checked against their recorded sha256 (and
rewritten when damaged) before MATLAB / Octave runs them (:func:`install_code`).
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import numpy as np

from rates_core.backend import EmittedFunction
from rates_core.codegen import comment, comment_text, file_stem, string_literal
from rates_core.codegen import source as kit
from rates_core.codegen.modules import export_only
from rates_core.delay_reads import input_driven_slopes
from rates_core.plugins import EmitContext
from rates_core.system import System
from rates_matlab import BACKEND, __version__
from rates_matlab.drivers import adaptive_driver, dde23_driver, dde23_wrapper, fixed_driver
from rates_matlab.printer import HELPERS, MatlabPrinter, matlab_name

__all__ = [
    "JACOBIAN_MAX_COUPLINGS",
    "JACOBIAN_MAX_STATES",
    "MatlabCode",
    "emit_code",
    "emit_function",
    "literal",
]

#: Systems with more states get no symbolic Jacobian.
JACOBIAN_MAX_STATES = 200
#: ... and so do systems with more coupling entries (matrix nonzeros, gathers, delayed values).
JACOBIAN_MAX_COUPLINGS = 5000

_IND = "  "


@dataclasses.dataclass
class MatlabCode:
    """The generated files of one System and what the solvers need to know about them."""

    field: str
    files: dict[str, str]
    jacobian: bool
    delays: bool
    arguments: list[str] = dataclasses.field(default_factory=list)
    #: the content hash suffixed to every function name of the files run from Python ("": none)
    tag: str = ""

    def name(self, suffix: str = "") -> str:
        """The MATLAB name of the generated function ``<field><suffix>``."""
        return f"{self.field}{suffix}_{self.tag}" if self.tag else f"{self.field}{suffix}"


# --------------------------------------------------------------------------- values


def _number(value: Any) -> str:
    value = complex(value) if np.iscomplexobj(value) else float(value)
    if isinstance(value, complex):
        if value.imag == 0:
            return _real(value.real)
        return f"complex({_real(value.real)}, {_real(value.imag)})"
    return _real(value)


def _real(value: float) -> str:
    if np.isnan(value):
        return "NaN"
    if np.isinf(value):
        return "Inf" if value > 0 else "-Inf"
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") else text


def literal(value: Any) -> str:
    """A MATLAB literal of a parameter value: a number, a column, a matrix or ``sparse(...)``."""
    if hasattr(value, "tocoo"):
        coo = value.tocoo()
        rows = " ".join(str(int(i) + 1) for i in coo.row)
        cols = " ".join(str(int(j) + 1) for j in coo.col)
        vals = " ".join(_number(v) for v in coo.data)
        m, n = coo.shape
        return f"sparse([{rows}], [{cols}], [{vals}], {m}, {n})"
    arr = np.asarray(value)
    if arr.ndim == 0:
        return _number(arr.item())
    if arr.ndim == 1:
        return "[" + "; ".join(_number(v) for v in arr) + "]"
    if arr.ndim == 2:
        return "[" + "; ".join(", ".join(_number(v) for v in row) for row in arr) + "]"
    raise ValueError(f"cannot write a {arr.ndim}-dimensional value as a MATLAB literal")


# --------------------------------------------------------------------------- analysis


def _arguments(system: System) -> list[str]:
    return [matlab_name(d.name) for d in system.delayed] + [
        matlab_name(p.name) for p in system.params
    ]


def _text(text: str) -> str:
    """Model-derived ``text`` (names, paths) escaped for a place inside a MATLAB comment."""
    return comment_text(text, "matlab")


def _comment_lines(text: str, width: int = 92) -> list[str]:
    """``text`` (escaped: model names, paths) wrapped into ``%   `` comment lines."""
    words, lines, line = _text(text).split(), [], ""
    for word in words:
        if line and len(line) + 1 + len(word) > width - 4:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    if line:
        lines.append(line)
    return [f"%   {ln}" for ln in lines]


def _state_lines(system: System) -> list[str]:
    lines = [f"{_IND}% states"]
    for s in system.states:
        read = f"y({s.start + 1})" if s.size == 1 else f"y({s.start + 1}:{s.stop})"
        if kit.real_state_in_complex(system, s):
            read = f"real({read})"
        lines.append(f"{_IND}{matlab_name(s.name)} = {read};")
    return lines


def _header(system: System, name: str, summary: str, signature: str) -> list[str]:
    states = ", ".join(
        f"{s.name} (y({s.start + 1}))" if s.size == 1 else f"{s.name} (y({s.start + 1}:{s.stop}))"
        for s in system.states
    )
    params = ", ".join(
        f"{matlab_name(p.name)} ({p.paths[0] if len(p.paths) == 1 else p.role})"
        for p in system.params
    )
    lines = [f"%{name.upper()} {_text(summary)}"]
    lines += _comment_lines(signature)
    lines.append("%")
    lines += _comment_lines(f"States ({system.n_states} values): {states}.")
    lines += _comment_lines(f"Parameters: {params or '(none)'}.")
    if system.delayed:
        reads = ", ".join(
            f"{matlab_name(d.name)} = {d.state}"
            f"{'(' + d.index + ' + 1)' if d.index else ''}(t - {d.tau})"
            for d in system.delayed
        )
        lines += _comment_lines(f"Delayed reads (from the solver's history): {reads}.")
    lines.append("%")
    lines.append(
        f"%   Generated by rates-matlab {__version__} from model '{_text(system.name)}'; "
        "do not edit."
    )
    return lines


# --------------------------------------------------------------------------- files


def _vector_field(system: System, printer: MatlabPrinter, name: str) -> str:
    args = _arguments(system)
    lines = [f"function dy = {name}({', '.join(['t', 'y', *args])})"]
    lines += _header(
        system,
        name,
        f"d y / d t of model '{_text(system.name)}'.",
        f"DY = {name.upper()}(T, Y{', <delayed reads>' if system.delayed else ''}, "
        "<parameters>) is the derivative of the state column Y at time T.",
    )
    lines += _state_lines(system)
    if system.algebraic:
        lines.append(f"{_IND}% algebraic variables, in dependency order")
    units = kit.unit_counts(system)
    for a in system.algebraic:
        code = printer.doprint(kit.unit_noise(a.expr, units.get(a.name)))
        lines.append(f"{_IND}{matlab_name(a.name)} = {code};")
    lines.append(f"{_IND}% derivatives")
    lines.append(f"{_IND}dy = zeros({system.n_states}, 1);")
    for state_name, expr in system.derivatives:
        s = system.state(state_name)
        code = printer.doprint(kit.unit_noise(expr, units.get(state_name)))
        where = f"{s.start + 1}" if s.size == 1 else f"{s.start + 1}:{s.stop}"
        lines.append(f"{_IND}dy({where}) = {code};  {comment(f'd/dt {state_name}', 'matlab')}")
    lines.append("end")
    text = "\n".join(lines) + "\n"
    for helper in sorted(printer.helpers):
        text += "\n" + HELPERS[helper]
    return text


def _jacobian(system: System, name: str, field_name: str) -> str | None:
    if (
        system.n_states > JACOBIAN_MAX_STATES
        or kit.coupling_entries(system) > JACOBIAN_MAX_COUPLINGS
    ):
        return None
    printer = MatlabPrinter()
    printed = kit.printed_jacobian(system, printer.doprint, JACOBIAN_MAX_STATES)
    if printed is None:
        return None
    entries, _ = printed
    args = _arguments(system)
    n = system.n_states
    lines = [f"function jac = {name}({', '.join(['t', 'y', *args])})"]
    lines += _header(
        system,
        name,
        f"Jacobian d f / d y of {field_name} (model '{_text(system.name)}').",
        f"JAC = {name.upper()}(T, Y, ...) takes the arguments of {field_name} and returns the "
        f"dense {n} x {n} matrix of the derivatives of its entries by the states"
        + (" (delayed reads are inputs: the instantaneous part)." if system.delayed else "."),
    )
    lines += _state_lines(system)
    lines.append(f"{_IND}jac = zeros({n}, {n});")
    for i, j, code in entries:
        lines.append(f"{_IND}jac({i + 1}, {j + 1}) = {code};")
    lines.append("end")
    text = "\n".join(lines) + "\n"
    for helper in sorted(printer.helpers):
        text += "\n" + HELPERS[helper]
    return text


def _delays(system: System, name: str) -> str:
    used = set()
    pos_lines, tau_lines, bounds = [], [], [0]
    for d in system.delayed:
        st = system.state(d.state)
        ones = f" .* ones({d.size}, 1)" if d.size > 1 else ""
        if d.index is None:
            pos_lines.append(f"({st.start + 1}:{st.stop}).'" if st.size > 1 else f"{st.start + 1}")
        else:
            used.add(d.index)
            pos_lines.append(f"{st.start + 1} + reshape({matlab_name(d.index)}, [], 1){ones}")
        if isinstance(d.tau, str):
            used.add(d.tau)
            tau_lines.append(f"reshape({matlab_name(d.tau)}, [], 1){ones}")
        else:
            tau_lines.append(f"{_real(float(d.tau))}{ones}")
        bounds.append(bounds[-1] + d.size)
    args = ["~" if p.name not in used else matlab_name(p.name) for p in system.params]
    lines = [f"function conn = {name}({', '.join(args)})"]
    lines.append(
        f"%{name.upper()} The connections of the delayed reads of model '{_text(system.name)}'."
    )
    lines += _comment_lines(
        "CONN = "
        + name.upper()
        + "(<parameters>): connection c reads the state entry y(CONN.pos(c)) at "
        "t - CONN.tau(c); delayed read k (an argument of the vector field) is made of the "
        "connections CONN.bounds(k) + 1 .. CONN.bounds(k + 1). CONN.lags are the distinct "
        "positive delays (for dde23) and CONN.column(c) the lag of connection c (0: none)."
    )
    lines.append("%")
    lines.append(f"%   Generated by rates-matlab {__version__}; do not edit.")
    lines.append(f"{_IND}conn.pos = [{'; '.join(pos_lines)}];")
    lines.append(f"{_IND}conn.tau = [{'; '.join(tau_lines)}];")
    lines.append(f"{_IND}conn.bounds = [{', '.join(str(b) for b in bounds)}];")
    lines.append(f"{_IND}positive = conn.tau > 0;")
    lines.append(f"{_IND}[conn.lags, ~, column] = unique(conn.tau(positive));")
    lines.append(f"{_IND}conn.column = zeros(size(conn.tau));")
    lines.append(f"{_IND}conn.column(positive) = column;")
    lines.append("end")
    return "\n".join(lines) + "\n"


def _biftool(system: System, field_name: str) -> dict[str, str]:
    """``sys_rhs.m`` and ``sys_tau.m`` for DDE-BIFTOOL (every delayed read one delay)."""
    for d in system.delayed:
        if isinstance(d.tau, str) and np.size(system.param(d.tau).value) != 1:
            return {}
    par: list[tuple[str, int, Any]] = []  # (name, size, parameter)
    for p in system.params:
        if p.role in ("matrix", "index") or np.ndim(p.value) > 1:
            continue
        par.append((matlab_name(p.name), max(int(np.size(p.value)), 1), p))
    offsets, k = {}, 1
    for pname, size, _p in par:
        offsets[pname] = (k, size)
        k += size
    lags: list[str] = []  # par names of the delays, in sys_tau order
    extra: list[tuple[str, float]] = []
    for d in system.delayed:
        if isinstance(d.tau, str):
            key = matlab_name(d.tau)
        else:
            if float(d.tau) == 0:
                continue
            key = f"tau_{len(extra) + 1}_"
            if all(v != float(d.tau) for _, v in extra):
                extra.append((key, float(d.tau)))
            key = next(n for n, v in extra if v == float(d.tau))
        if key not in lags:
            lags.append(key)
    for key, _value in extra:
        offsets[key] = (k, 1)
        k += 1
    lines = ["function f = sys_rhs(xx, par)"]
    lines.append(f"%SYS_RHS Right-hand side of model '{_text(system.name)}' for DDE-BIFTOOL.")
    lines += _comment_lines(
        "F = SYS_RHS(XX, PAR): XX(:, 1) is the state, XX(:, k + 1) the state at "
        "t - PAR(SYS_TAU()(k)); PAR holds the parameters "
        + ", ".join(
            f"{n} (par({a}))" if s == 1 else f"{n} (par({a}:{a + s - 1}))"
            for n, (a, s) in offsets.items()
        )
        + f". Calls {field_name} at t = 0 (autonomous systems)."
    )
    lines.append("%")
    lines.append(f"%   Generated by rates-matlab {__version__}; do not edit.")
    for pname, (a, s) in offsets.items():
        read = f"par({a})" if s == 1 else f"reshape(par({a}:{a + s - 1}), [], 1)"
        lines.append(f"{_IND}{pname} = {read};")
    for p in system.params:
        if p.role in ("matrix", "index") or np.ndim(p.value) > 1:
            value = np.asarray(p.value, dtype=float) if p.role == "index" else p.value
            lines.append(f"{_IND}{matlab_name(p.name)} = {literal(value)};")
    args = []
    for d in system.delayed:
        st = system.state(d.state)
        if isinstance(d.tau, str):
            column = lags.index(matlab_name(d.tau)) + 2
        elif float(d.tau) == 0:
            column = 1
        else:
            column = lags.index(next(n for n, v in extra if v == float(d.tau))) + 2
        if d.index is None:
            rows = f"{st.start + 1}:{st.stop}" if st.size > 1 else f"{st.start + 1}"
        else:
            rows = f"{st.start + 1} + reshape({matlab_name(d.index)}, [], 1)"
        lines.append(f"{_IND}{matlab_name(d.name)} = xx({rows}, {column});")
        args.append(matlab_name(d.name))
    args += [matlab_name(p.name) for p in system.params]
    lines.append(f"{_IND}f = {field_name}({', '.join(['0', 'xx(:, 1)', *args])});")
    lines.append("end")
    rhs = "\n".join(lines) + "\n"
    tau = [
        "function tau = sys_tau()",
        f"%SYS_TAU Positions in PAR of the delays of model '{_text(system.name)}' (DDE-BIFTOOL).",
        "%",
        f"%   Generated by rates-matlab {__version__}; do not edit.",
        f"{_IND}tau = [{', '.join(str(offsets[name][0]) for name in lags)}];",
        "end",
    ]
    values = ", ".join(
        f"{_number(np.ravel(p.value)[0])}" if size == 1 else f"{literal(np.ravel(p.value))}.'"
        for _, size, p in par
    )
    values += "".join(f", {_real(v)}" for _, v in extra)
    tau_text = "\n".join(tau) + "\n"
    par_text = (
        "function par = sys_par()\n"
        f"%SYS_PAR The parameter row of model '{_text(system.name)}' for DDE-BIFTOOL "
        "(see SYS_RHS).\n"
        "%\n"
        f"%   Generated by rates-matlab {__version__}; do not edit.\n"
        f"{_IND}par = [{values}];\n"
        "end\n"
    )
    return {"sys_rhs.m": rhs, "sys_tau.m": tau_text, "sys_par.m": par_text}


def _script(system: System, code: MatlabCode) -> tuple[str, str]:
    base = file_stem(system.name).lower()
    script = f"run_{base}"[:60]
    lines = [
        f"%{script.upper()} Simulate model '{_text(system.name)}' (generated by rates-matlab "
        f"{__version__}).",
        "%   Edit the parameter values below and run this script in MATLAB or GNU Octave from",
        "%   the directory of the generated files.",
        "",
        "% parameters",
    ]
    for p in system.params:
        value = np.asarray(p.value, dtype=float) if p.role == "index" else p.value
        where = p.paths[0] if len(p.paths) == 1 else f"{p.role}, {len(p.paths)} entries"
        lines.append(f"{matlab_name(p.name)} = {literal(value)};  {comment(where, 'matlab')}")
    lines.append(f"params = {{{', '.join(matlab_name(p.name) for p in system.params)}}};")
    lines.append(f"y0 = {literal(system.initial_state())};")
    lines.append("t_end = 10;")
    if system.delayed:
        lines.append("dt = 1e-3;")
        lines.append("every = 10;")
        lines.append("n_steps = round(t_end / dt);")
        lines.append(
            f"[states, y_end] = {code.field}_fixed('rk4', 0, y0, dt, n_steps, every, "
            "floor(n_steps / every), params);"
        )
        lines.append("t = (0:size(states, 1) - 1).' * every * dt;")
    else:
        lines.append(
            f"[t, states] = ode45(@(t, y) {code.field}(t, y, params{{:}}), [0, t_end], y0);"
        )
    lines.append("plot(t, real(states));")
    lines.append("xlabel('time');")
    labels = []
    for s in system.states:
        labels += [s.name] if s.size == 1 else [f"{s.name}({k + 1})" for k in range(s.size)]
    if len(labels) <= 12:
        lines.append(
            "legend({"
            + ", ".join(string_literal(lb, "matlab") for lb in labels)
            + "}, 'Interpreter', 'none');"
        )
    return f"{script}.m", "\n".join(lines) + "\n"


def emit_code(system: System, context: EmitContext | None = None) -> MatlabCode:
    """Every generated file of ``system`` under plain names (``<field>.m``, ...); MATLAB has no
    import lines, so ``context.imports`` is not used."""
    context = context or EmitContext()
    options, builtins = context.options, context.builtins
    name = options.func_name
    if not re.fullmatch(r"[A-Za-z]\w{0,39}", name) or name.endswith("_"):
        raise ValueError(
            f"func_name must be a MATLAB identifier of at most 40 characters not ending in '_': "
            f"{name!r}"
        )
    if options.float_precision != "float64":
        raise ValueError(
            "the matlab backend computes in double precision (float_precision='float64')"
        )
    printer = MatlabPrinter(builtins)
    files: dict[str, str] = {}
    files[f"{name}.m"] = _vector_field(system, printer, name)
    jac = _jacobian(system, f"{name}_jacobian", name)
    if jac is not None:
        files[f"{name}_jacobian.m"] = jac
    delays = bool(system.delayed)
    files[f"{name}_fixed.m"] = fixed_driver(
        name, delays, __version__, input_slopes=input_driven_slopes(system)
    )
    files[f"{name}_adaptive.m"] = adaptive_driver(name, jac is not None, __version__)
    if delays or not options.standalone:
        # dde23 integrates ODEs too (no lags): runs get its files for every model, exports
        # only for delay systems
        files[f"{name}_delays.m"] = _delays(system, f"{name}_delays")
        files[f"{name}_dde23.m"] = dde23_wrapper(name, __version__)
        files[f"{name}_dde23_run.m"] = dde23_driver(name, __version__)
    code = MatlabCode(name, files, jac is not None, delays, _arguments(system))
    if options.standalone:
        if delays:
            files.update(_biftool(system, name))
        script, text = _script(system, code)
        files[script] = text
    return code


def _renamed(code: MatlabCode, tag: str) -> MatlabCode:
    """The files with every generated function name suffixed by ``_<tag>``."""
    names = sorted((Path(f).stem for f in code.files), key=len, reverse=True)
    pattern = re.compile(r"\b(" + "|".join(map(re.escape, names)) + r")\b")
    files = {
        f"{Path(f).stem}_{tag}.m": pattern.sub(lambda m: f"{m.group(1)}_{tag}", text)
        for f, text in code.files.items()
    }
    return MatlabCode(code.field, files, code.jacobian, code.delays, code.arguments, tag)


def install_code(code: MatlabCode) -> Path:
    """The private cache directory ``matlab_<tag>`` holding ``code``'s files, each checked
    against its recorded sha256 and rewritten when missing or damaged (called at emit time and
    again before MATLAB / Octave runs them)."""
    from rates_core.cache import cache_file, read_verified, store

    sub = f"{BACKEND}_{code.tag}"
    for fname, text in code.files.items():
        path = cache_file(sub, fname)
        if read_verified(path) != text.encode("utf-8"):
            store(path, text)
    return cache_file(sub, f"{code.name()}.m").parent


def emit_function(system: System, context: EmitContext | None = None) -> EmittedFunction:
    """Generate the files of ``system``; the :class:`EmittedFunction` whose callables run them.

    ``source`` is the vector field file; ``extras["files"]`` all files under plain names
    (what ``rates export`` writes); ``extras["code"]`` the files executed from Python
    (cache directory ``extras["directory"]``, names suffixed by the content hash). Nothing
    starts MATLAB or Octave here: the callables and the solvers start the runtime when
    first used (:class:`~rates_core.errors.BackendUnavailableError` without one).
    """
    from rates_core.cache import source_hash, write_requested_copy
    from rates_matlab.runtime import MatlabFunction

    context = context or EmitContext()
    options = context.options
    code = emit_code(system, context)
    source = code.files[f"{code.field}.m"]
    write_requested_copy(source, options, ".m")
    if options.standalone:
        return export_only(system, source, BACKEND, code.files, options=options)
    everything = "\n".join(f"{k}\n{v}" for k, v in sorted(code.files.items()))
    tag = "r" + source_hash(everything, BACKEND, __version__)[:12]
    runtime_code = _renamed(code, tag)
    directory = install_code(runtime_code)
    field_fn = MatlabFunction(directory, runtime_code.name(), system, code=runtime_code)
    jac_fn = (
        MatlabFunction(
            directory, runtime_code.name("_jacobian"), system, jacobian=True, code=runtime_code
        )
        if code.jacobian
        else None
    )
    extras: dict[str, Any] = {
        "files": dict(code.files),
        "options": options,
        "code": runtime_code,
        "directory": directory,
        "delayed": [d.name for d in system.delayed],
    }
    return EmittedFunction(
        backend=BACKEND,
        system=system,
        source=source,
        rhs=field_fn.in_place,
        rhs_functional=field_fn,
        jacobian=jac_fn,
        path=directory / f"{runtime_code.name()}.m",
        extras=extras,
    )
