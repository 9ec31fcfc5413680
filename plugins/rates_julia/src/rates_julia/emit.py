"""Generate a readable Julia module for a System.

The module (one file, ``module <ModelName> ... end``) holds:

* ``f!(dy, y, p, t)``: the in-place vector field in the form ``ODEProblem`` takes, or
  ``f!(dy, y, h, p, t)`` for systems with delays (the form of ``DDEProblem``: the delayed reads
  are ``h(p, t - tau; idxs = ...)``, the history that DelayDiffEq keeps). States are unpacked
  by name (``x = y[1]``, ``r = @view y[2:11]``), parameters from the NamedTuple ``p``, then
  the algebraic updates in dependency order and one ``dy[...] = ...`` line per state;
* ``jac!(J, y, p, t)`` (``jac!(J, y, h, p, t)`` with delays): the dense symbolic Jacobian
  ``d f / d y`` when :mod:`rates_core.jacobian` can differentiate the system (at most
  :data:`JACOBIAN_MAX_STATES` states);
* for delay systems ``lags(p)``, the constant delays for ``constant_lags``, and
  ``constant_history(y0)``, the pre-history "initial state at every earlier time";
* ``default_params()`` (the NamedTuple of the model's parameter values) and ``initial_state()``
  (always in standalone files for ``rates export``; otherwise when they hold at most
  :data:`MAX_INLINE_VALUES` numbers);
* helpers when the equations need them: ``interp_linear`` (``interp``), ``input_value`` and
  ``SampledInput`` (extrinsic inputs: a number, a function of time or samples on a time grid).

Parameters are never constants of the code: every one is read from ``p``, so one compiled
``f!`` serves a whole parameter sweep. Index parameters (gather indices of couplings) are
1-based in Julia. The module needs no package: DifferentialEquations.jl is loaded by whoever
solves it (the user, or :mod:`rates_julia.runtime`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import sympy

from rates_core.codegen import MAX_STEM, comment, docstring_text
from rates_core.codegen import source as kit
from rates_core.plugins import EmitContext
from rates_core.system import DelayedRead, Parameter, System
from rates_julia import __version__
from rates_julia.printer import JuliaPrinter, Shape, float_literal, julia_name

__all__ = [
    "JACOBIAN_MAX_COUPLINGS",
    "JACOBIAN_MAX_STATES",
    "MAX_INLINE_VALUES",
    "EmittedJulia",
    "emit_source",
    "module_name",
    "system_shapes",
]

#: Systems with more states get no symbolic Jacobian (the same limits as rates-numpy).
JACOBIAN_MAX_STATES = 200
#: ... and so do systems with more coupling entries (matrix nonzeros, gathered/delayed values).
JACOBIAN_MAX_COUPLINGS = 5000
#: ``default_params()`` / ``initial_state()`` are written into non-standalone modules only when
#: they hold at most this many numbers (the running backend passes the values from Python).
MAX_INLINE_VALUES = 10_000
_INDENT = "    "
_NUMBERS_PER_LINE = 8


@dataclass
class EmittedJulia:
    """The generated module text and what the Python side needs to call it."""

    source: str
    module_name: str
    #: parameters in ``system.params`` order: (System name, Julia name, kind for conversion)
    params: list[tuple[str, str, str]]
    delays: bool
    jacobian: bool
    defaults: bool
    helpers: set[str] = field(default_factory=set)


# --------------------------------------------------------------------------- names and shapes


def _comment(text: str) -> str:
    """A Julia comment holding model-derived ``text`` (names, paths, equations), escaped."""
    return comment(text, "julia")


def _doc(text: str) -> str:
    """Model-derived ``text`` escaped for a place inside a generated docstring."""
    return docstring_text(text, "julia")


def module_name(system_name: str) -> str:
    """A Julia module name (CamelCase) for a model: ``van_der_pol`` -> ``VanDerPol``."""
    parts = [p for p in re.split(r"[^0-9A-Za-z]+", system_name) if p]
    name = "".join(p[0].upper() + p[1:] for p in parts)[:MAX_STEM] or "RatesModel"
    if name[0].isdigit() or name in ("Base", "Core", "Main"):
        name = f"Model{name}"
    return name


def _param_shape(p: Parameter) -> Shape:
    if p.role == "matrix":
        return tuple(int(n) for n in p.value.shape)
    return tuple(int(n) for n in np.shape(p.value))


def system_shapes(system: System, printer: JuliaPrinter | None = None) -> dict[str, Shape]:
    """System name -> shape of its Julia value (``()`` scalar, ``(n,)`` vector, matrices).

    With a ``printer``, algebraic variables get the shape of their expressions (inferred in
    dependency order) and the printer learns every shape.
    """
    shapes: dict[str, Shape] = {}
    for s in system.states:
        shapes[s.name] = () if s.size == 1 else (s.size,)
    for p in system.params:
        shapes[p.name] = _param_shape(p)
    for d in system.delayed:
        shapes[d.name] = () if d.size == 1 else (d.size,)
    if printer is not None:
        printer.shapes.update(shapes)
    for a in system.algebraic:
        shape: Shape = ()
        if printer is not None:
            shape = printer.shape(a.expr)
        if shape == () and a.size > 1:
            shape = (a.size,)
        shapes[a.name] = shape
        if printer is not None:
            printer.shapes[a.name] = shape
    return shapes


def _param_kind(p: Parameter) -> str:
    """How the Python side hands a parameter value to Julia."""
    if p.role == "matrix":
        return "csr" if hasattr(p.value, "indptr") else "array"
    if p.role == "index":
        return "index"
    if p.role == "input":
        return "input"
    return "array" if np.ndim(p.value) > 0 else "number"


# --------------------------------------------------------------------------- literals


def _number(value: Any, dtype: str) -> str:
    if dtype.startswith("int") or isinstance(value, (int, np.integer)):
        return str(int(value))
    c = complex(value)
    if dtype.startswith("complex") or c.imag != 0:
        if not (np.isfinite(c.real) and np.isfinite(c.imag)):
            return f"complex({float_literal(c.real)}, {float_literal(c.imag)})"
        sign = "-" if c.imag < 0 or (c.imag == 0 and np.signbit(c.imag)) else "+"
        return f"{float_literal(c.real)} {sign} {float_literal(abs(c.imag))}im"
    return float_literal(c.real)


def _wrap(items: Sequence[str], level: int, sep: str = ", ") -> str:
    """Items separated by ``sep``, :data:`_NUMBERS_PER_LINE` per line when there are many."""
    if len(items) <= _NUMBERS_PER_LINE:
        return sep.join(items)
    pad = _INDENT * (level + 1)
    lines = [
        sep.join(items[i : i + _NUMBERS_PER_LINE]) for i in range(0, len(items), _NUMBERS_PER_LINE)
    ]
    return "\n" + pad + f"{sep.rstrip()}\n{pad}".join(lines) + "\n" + _INDENT * level


def julia_literal(
    value: Any, dtype: str = "float64", level: int = 1, one_based: bool = False
) -> str:
    """A Julia literal of a parameter or state value (numbers, vectors, matrices, CSR)."""
    if hasattr(value, "tocoo"):  # a scipy.sparse matrix
        coo = value.tocoo()
        rows = [str(int(i) + 1) for i in coo.row]
        cols = [str(int(j) + 1) for j in coo.col]
        vals = [_number(v, dtype) for v in coo.data]
        m, n = coo.shape
        return (
            f"sparse([{_wrap(rows, level)}], [{_wrap(cols, level)}], "
            f"[{_wrap(vals, level)}], {m}, {n})"
        )
    arr = np.asarray(value)
    if one_based:
        arr = arr.astype(np.int64) + 1
    if arr.ndim == 0:
        return _number(arr.item(), dtype)
    if arr.ndim == 1:
        return f"[{_wrap([_number(v, dtype) for v in arr], level)}]"
    if arr.ndim == 2:
        m, n = arr.shape
        if n == 1 or m * n == 0:
            flat = [_number(v, dtype) for v in arr.reshape(-1, order="F")]
            return f"reshape([{_wrap(flat, level)}], {m}, {n})"
        rows = [" ".join(_number(v, dtype) for v in row) for row in arr]
        if m == 1:
            return f"[{rows[0]}]"
        pad = _INDENT * (level + 1)
        return "[\n" + ";\n".join(pad + r for r in rows) + "\n" + _INDENT * level + "]"
    flat = [_number(v, dtype) for v in arr.reshape(-1, order="F")]
    return f"reshape([{_wrap(flat, level)}], {', '.join(str(n) for n in arr.shape)})"


# --------------------------------------------------------------------------- writer


def _unpack_states(w: kit.SourceWriter, system: System, used: set[str]) -> None:
    states = [s for s in system.states if s.name in used]
    if not states:
        return
    w("# states", 1)
    for s in states:
        if s.size == 1:
            read = f"y[{s.start + 1}]"
            if kit.real_state_in_complex(system, s):
                read = f"real({read})"
        else:
            read = f"@view y[{s.start + 1}:{s.stop}]"
            if kit.real_state_in_complex(system, s):
                read = f"real.({read})"
        w(f"{julia_name(s.name)} = {read}", 1)


def _unpack_params(
    w: kit.SourceWriter,
    system: System,
    used: set[str],
    shapes: Mapping[str, Shape],
    scalar_only: bool,
) -> None:
    params = [p for p in system.params if p.name in used]
    if not params:
        return
    w("# parameters", 1)
    plain = [
        julia_name(p.name)
        for p in params
        if p.role != "input" and not (scalar_only and shapes.get(p.name) == (1,))
    ]
    line = ""
    for name in plain:  # (; a, b, c) = p, wrapped at about 90 characters
        if line and len(line) + len(name) + 14 > 90:
            w(f"(; {line}) = p", 1)
            line = ""
        line = f"{line}, {name}" if line else name
    if line:
        w(f"(; {line}) = p", 1)
    for p in params:
        name = julia_name(p.name)
        if p.role == "input":
            w(f"{name} = input_value(p.{name}, t)", 1)
        elif scalar_only and shapes.get(p.name) == (1,):
            w(f"{name} = p.{name}[1]", 1)


def _tau_text(tau: str | float) -> str:
    return julia_name(tau) if isinstance(tau, str) else float_literal(float(tau))


def _delayed_read(system: System, d: DelayedRead, shapes: Mapping[str, Shape]) -> str:
    """The Julia expression of one delayed read from the history ``h``."""
    s = system.state(d.state)
    tau = _tau_text(d.tau)
    per_connection = isinstance(d.tau, str) and shapes.get(d.tau, ()) != ()
    whole = f"{s.start + 1}" if s.size == 1 else f"{s.start + 1}:{s.stop}"
    if d.index is None:
        if not per_connection:
            return f"h(p, t - {tau}; idxs = {whole})"
        position = f"{s.start + 1}" if s.size == 1 else (f"{s.start} + k_" if s.start else "k_")
        return f"[h(p, t - {tau}[k_]; idxs = {position}) for k_ in eachindex({tau})]"
    idx = julia_name(d.index)
    if not per_connection:
        if s.size == 1:
            return f"fill(h(p, t - {tau}; idxs = {whole}), length({idx}))"
        return f"h(p, t - {tau}; idxs = {whole})[{idx}]"
    if s.size == 1:
        position = f"{s.start + 1}"
    else:
        position = f"{s.start} + {idx}[k_]" if s.start else f"{idx}[k_]"
    return f"[h(p, t - {tau}[k_]; idxs = {position}) for k_ in eachindex({idx})]"


def _delay_symbols(system: System) -> set[str]:
    names: set[str] = set()
    for d in system.delayed:
        if isinstance(d.tau, str):
            names.add(d.tau)
        if d.index is not None:
            names.add(d.index)
    return names


def _write_delayed(
    w: kit.SourceWriter, system: System, shapes: Mapping[str, Shape], used: set
) -> None:
    reads = [d for d in system.delayed if d.name in used]
    if not reads:
        return
    w("# delayed reads: states at t - tau, from the history h", 1)
    for d in reads:
        w(f"{julia_name(d.name)} = {_delayed_read(system, d, shapes)}", 1)


def _free_names(exprs: Sequence[sympy.Expr]) -> set[str]:
    return {s.name.partition("[")[0] for e in exprs for s in e.free_symbols}


# --------------------------------------------------------------------------- functions


def _vector_field(
    w: kit.SourceWriter, system: System, printer: JuliaPrinter, shapes: Mapping[str, Shape]
) -> None:
    units = kit.unit_counts(system)
    algebraic = [(a, kit.unit_noise(a.expr, units.get(a.name))) for a in system.algebraic]
    derivatives = [(n, kit.unit_noise(e, units.get(n))) for n, e in system.derivatives]
    exprs = [e for _, e in algebraic] + [e for _, e in derivatives]
    used = _free_names(exprs)
    reads = [d for d in system.delayed if d.name in used]
    used |= {d.state for d in reads} | _delay_symbols(system)
    args = "dy, y, h, p, t" if system.delayed else "dy, y, p, t"
    w('"""')
    w(f"    f!({args})")
    w()
    if system.delayed:
        w(f"d y / d t of model `{_doc(system.name)}`, written into `dy` (the in-place form of")
        w("`DDEProblem`). The delayed reads come from the history `h(p, t - tau)`.")
    else:
        w(
            f"d y / d t of model `{_doc(system.name)}`, written into `dy` "
            "(the form of `ODEProblem`)."
        )
    w('"""')
    w(f"function f!({args})")
    _unpack_states(w, system, used)
    _unpack_params(w, system, used, shapes, scalar_only=False)
    _write_delayed(w, system, shapes, used)
    if algebraic:
        w("# algebraic variables, in dependency order", 1)
    for a, expr in algebraic:
        w(f"{julia_name(a.name)} = {printer.statement(expr)}", 1)
    w("# derivatives", 1)
    for name, expr in derivatives:
        s = system.state(name)
        code = printer.statement(expr)
        if s.size == 1 and not printer.is_array(expr):
            w(f"dy[{s.start + 1}] = {code}  {_comment(f'd/dt {name}')}", 1)
        else:
            w(f"dy[{s.start + 1}:{s.stop}] .= {code}  {_comment(f'd/dt {name}')}", 1)
    w("return nothing", 1)
    w("end")


def _jacobian(
    w: kit.SourceWriter, system: System, shapes: Mapping[str, Shape], builtins: Mapping[str, Any]
) -> bool:
    """Append ``jac!``; False (and nothing written) when the Jacobian is unavailable."""
    if (
        system.n_states > JACOBIAN_MAX_STATES
        or kit.coupling_entries(system) > JACOBIAN_MAX_COUPLINGS
    ):
        return False
    # the scalarised entries are scalars (``x[3]`` is entry 3 of the vector x): no broadcasting
    printer = JuliaPrinter({}, builtins)
    printed = kit.printed_jacobian(system, printer.statement, JACOBIAN_MAX_STATES)
    if printed is None:
        return False
    entries, jac = printed
    used = _free_names([v for v in jac.dfdy.todok().values()])
    reads = [d for d in system.delayed if d.name in used]
    if reads:
        used |= {d.state for d in reads} | _delay_symbols(system)
    args = "J, y, h, p, t" if system.delayed else "J, y, p, t"
    w('"""')
    w(f"    jac!({args})")
    w()
    w(
        f"The Jacobian d f / d y of model `{_doc(system.name)}`, written into the matrix `J` "
        "(states in"
    )
    w("the order of `y`; for `ODEFunction(f!; jac = jac!)`).", 0)
    if system.delayed:
        w("For delays it is the instantaneous part: the delayed values are inputs.")
    w('"""')
    w(f"function jac!({args})")
    _unpack_states(w, system, used)
    _unpack_params(w, system, used, shapes, scalar_only=True)
    if reads:
        _write_delayed(w, system, shapes, used)
    w("fill!(J, 0)", 1)
    for i, j, code in entries:
        w(f"J[{i + 1}, {j + 1}] = {code}", 1)
    w("return nothing", 1)
    w("end")
    return True


def _lags(w: kit.SourceWriter, system: System) -> None:
    taus = list(dict.fromkeys(_tau_text(d.tau) for d in system.delayed))
    w('"""')
    w("    lags(p)")
    w()
    w("The constant delays of the model, for `DDEProblem(...; constant_lags = lags(p))`.")
    w('"""')
    w(f"lags(p) = sort(unique(filter(>(0), vcat({', '.join(_lag_item(t) for t in taus)}))))")
    w()
    w('"""')
    w("    constant_history(y0)")
    w()
    w("The pre-history `h(p, t)` of a `DDEProblem`: the state `y0` at every time before the start.")
    w('"""')
    w("constant_history(y0) = (p, t; idxs = nothing) -> idxs === nothing ? y0 : y0[idxs]")


def _lag_item(tau: str) -> str:
    return tau if _is_number(tau) else f"p.{tau}"


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return text in ("Inf", "NaN")
    return True


_INTERP = '''"""
    interp_linear(x, xs, ys)

Linear interpolation of the points (xs, ys) at x, constant outside them (as `numpy.interp`).
"""
function interp_linear(x, xs, ys)
    x <= xs[1] && return ys[1]
    x >= xs[end] && return ys[end]
    i = searchsortedlast(xs, x)
    w = (x - xs[i]) / (xs[i + 1] - xs[i])
    return ys[i] + w * (ys[i + 1] - ys[i])
end'''

_INPUTS = '''"""
    SampledInput(t0, dt, rows)

An extrinsic input sampled on the time grid `t0 + (k - 1) * dt` (row k of `rows`: a `Vector`
for one unit, a `Matrix` with a column per unit), read by linear interpolation and constant
outside the grid.
"""
struct SampledInput{A <: AbstractArray}
    t0::Float64
    dt::Float64
    rows::A
end

sample_row(u::SampledInput{<:AbstractVector}, i) = u.rows[i]
sample_row(u::SampledInput{<:AbstractMatrix}, i) = u.rows[i, :]

function (u::SampledInput)(t)
    n = size(u.rows, 1)
    (n == 1 || t <= u.t0) && return sample_row(u, 1)
    t >= u.t0 + (n - 1) * u.dt && return sample_row(u, n)
    i = min(floor(Int, (t - u.t0) / u.dt) + 1, n - 1)
    w = (t - (u.t0 + (i - 1) * u.dt)) / u.dt
    return sample_row(u, i) .+ w .* (sample_row(u, i + 1) .- sample_row(u, i))
end

"""
    input_value(u, t)

The value of an extrinsic input at time t: `u` itself (a number or an array), `u(t)` for a
function of time or a `SampledInput`.
"""
input_value(u, t) = u
input_value(u::Function, t) = u(t)
input_value(u::SampledInput, t) = u(t)'''


def _defaults(w: kit.SourceWriter, system: System) -> None:
    w('"""')
    w("    default_params()")
    w()
    w("The parameter values of the model: the NamedTuple `p` of `f!` (index parameters are")
    w("1-based). Change some with `merge(default_params(), (; name = value))`.")
    w('"""')
    if not system.params:
        w("default_params() = NamedTuple()")
    else:
        w("default_params() = (")
        for p in system.params:
            paths = list(p.paths[:3])
            more = len(p.paths) - len(paths)
            where = ", ".join(paths) + (f", ... ({more} more)" if more > 0 else "")
            value = julia_literal(p.value, p.dtype, level=1, one_based=p.role == "index")
            note = _comment(f"{p.role}: {where}" if where else p.role)
            w(f"{julia_name(p.name)} = {value},  {note}", 1)
        w(")")
    w()
    w('"""')
    w("    initial_state()")
    w()
    w("The initial state vector `y0` of the model.")
    w('"""')
    w(f"initial_state() = {julia_literal(system.initial_state(), system.dtype, level=0)}")


def _n_values(system: System) -> int:
    total = system.n_states
    for p in system.params:
        total += int(getattr(p.value, "nnz", np.size(p.value))) * (3 if p.role == "matrix" else 1)
    return total


def _usage(system: System, name: str, has_jac: bool) -> list[str]:
    lines = [
        "Usage with DifferentialEquations.jl (the module itself needs no package):",
        "",
        '    include("path/to/this/file.jl")',
        f"    using .{name}, DifferentialEquations",
        f"    p = {name}.default_params()  # a NamedTuple",
        f"    y0 = {name}.initial_state()",
    ]
    if system.delayed:
        lines += [
            f"    h = {name}.constant_history(y0)",
            f"    lags = {name}.lags(p)",
            f"    prob = DDEProblem({name}.f!, y0, h, (0.0, 10.0), p; constant_lags = lags)",
            "    sol = solve(prob, MethodOfSteps(Tsit5()); reltol = 1e-8, abstol = 1e-10)",
        ]
    else:
        fun = f"ODEFunction({name}.f!; jac = {name}.jac!)" if has_jac else f"{name}.f!"
        lines += [
            f"    prob = ODEProblem({fun}, y0, (0.0, 10.0), p)",
            "    sol = solve(prob, Tsit5(); reltol = 1e-8, abstol = 1e-10)",
        ]
    return lines


# --------------------------------------------------------------------------- entry point


def emit_source(system: System, context: EmitContext | None = None) -> EmittedJulia:
    """The Julia module of ``system`` (see the module doc) and facts about it.

    ``context.builtins``: plugin builtins for the julia backend (equation name -> Julia function
    name); ``context.imports``: extra ``using`` / ``import`` lines from plugins.
    """
    context = context or EmitContext()
    options, imports = context.options, context.imports
    builtins = dict(context.builtins)
    name = module_name(system.name)
    printer = JuliaPrinter({}, builtins)
    shapes = system_shapes(system, printer)

    body = kit.SourceWriter(_INDENT)
    _vector_field(body, system, printer, shapes)
    body()
    mark = len(body.lines)
    has_jac = _jacobian(body, system, shapes, builtins)
    if not has_jac:
        del body.lines[mark:]
    if system.delayed:
        body()
        _lags(body, system)
    defaults = options.standalone or _n_values(system) <= MAX_INLINE_VALUES
    if defaults:
        body()
        _defaults(body, system)
    helpers = set(printer.helpers)
    has_inputs = any(p.role == "input" for p in system.params)

    w = kit.SourceWriter(_INDENT)
    renamed = [
        f"{n} -> {julia_name(n)}"
        for n in [*shapes, *(d.name for d in system.delayed)]
        if julia_name(n) != n
    ]
    notes = ["Parameters are passed as the NamedTuple p."]
    if renamed:
        notes.append(f"Renamed (Julia names): {', '.join(dict.fromkeys(renamed))}")
    generator = f"rates-julia {__version__}"
    w.lines += kit.file_header(
        system, generator, "julia", delayed_from="the history h", notes=notes
    )
    w("#")
    for line in _usage(system, name, has_jac):
        w(_comment(line))
    w(f"module {name}")
    w()
    sparse = defaults and any(
        p.role == "matrix" and hasattr(p.value, "tocoo") for p in system.params
    )
    if sparse:
        w("using SparseArrays: sparse")
    for line in imports:
        w(line)
    if sparse or imports:
        w()
    exports = ["f!"]
    if has_jac:
        exports.append("jac!")
    if system.delayed:
        exports += ["lags", "constant_history"]
    if defaults:
        exports += ["default_params", "initial_state"]
    if has_inputs:
        exports += ["SampledInput"]
    w(f"export {', '.join(exports)}")
    w()
    w(f"const N_STATES = {system.n_states}")
    w()
    if has_inputs:
        w.lines.extend(_INPUTS.split("\n"))
        w()
    if "interp_linear" in helpers:
        w.lines.extend(_INTERP.split("\n"))
        w()
    w.lines.extend(body.lines)
    w()
    w(f"end  # module {name}")
    return EmittedJulia(
        source=w.text(),
        module_name=name,
        params=[(p.name, julia_name(p.name), _param_kind(p)) for p in system.params],
        delays=bool(system.delayed),
        jacobian=has_jac,
        defaults=defaults,
        helpers=helpers,
    )
