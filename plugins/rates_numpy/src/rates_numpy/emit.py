"""Generate a readable Python module for a System and load it.

The module holds (names in ``EmittedFunction.extras``):

* ``vector_field(t, y, dy, <one argument per delayed read>, <one argument per parameter>)``:
  states unpacked by name, the algebraic updates in dependency order, ``dy[...] = ...`` per
  state, ``return dy``. Delayed reads (``system.delayed``, in that order; none for systems
  without delays) are inputs: the solver reads them from the history it keeps
  (:mod:`rates_numpy.history`) and passes their values, so the vector field has no state;
* ``vector_field_functional(t, y, *params)``: the same arguments after ``y`` (delayed reads
  first), returning a new array;
* ``jacobian(t, y, <delayed reads>, <parameters>)``: the dense symbolic ``d f / d y`` when
  :mod:`rates_core.jacobian` can differentiate the system (at most :data:`JACOBIAN_MAX_STATES`
  states); for a delay system its instantaneous part (delayed values are inputs);
* for all-scalar systems (every symbol of size 1, no vector functions, double precision):
  the vector field printed with ``math`` / ``cmath`` and plain Python floats and, for systems
  without delays, ``run_euler`` / ``run_heun`` / ``run_rk4``, fixed-step integrations over a
  range of steps (a whole run, or chunks of it between progress reports) in local variables.
  Delay systems have no generated loops: the solvers' loop with the history runs them.

``randn()`` in an equation of a vectorised population of n nodes draws n samples (one per node).

Sources go to the content-addressed cache of :mod:`rates_core.cache` (and to
``EmitOptions.file_name`` when given); nothing is written to the working directory otherwise.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import sympy

from rates_core import builtins as rb
from rates_core.backend import EmittedFunction
from rates_core.codegen import comment, docstring_text
from rates_core.codegen import source as kit
from rates_core.codegen.modules import python_function
from rates_core.plugins import EmitContext
from rates_core.system import System
from rates_numpy import BACKEND, __version__
from rates_numpy.printer import ScalarPrinter, VectorPrinter, safe_name

__all__ = [
    "FIXED_STEP_METHODS",
    "JACOBIAN_MAX_STATES",
    "emit_function",
    "emit_source",
    "is_scalar_system",
]

#: Systems with more states get no symbolic Jacobian (``EmittedFunction.jacobian`` is None).
JACOBIAN_MAX_STATES = 200
#: ... and so do systems with more coupling entries (matrix nonzeros, gathered and delayed
#: values): the scalarised Jacobian would take seconds to build for a value nobody asked for.
JACOBIAN_MAX_COUPLINGS = 5000
#: Fixed-step methods generated as whole-integration loops for scalar systems.
FIXED_STEP_METHODS = ("euler", "heun", "rk4")

_INDENT = "    "


def _comment(text: str) -> str:
    """A Python comment holding model-derived ``text`` (names, equations), escaped."""
    return comment(text, "python")


def _doc(text: str) -> str:
    """Model-derived ``text`` escaped for a place inside a generated docstring."""
    return docstring_text(text, "python")


# --------------------------------------------------------------------------- analysis


def _expressions(system: System) -> list[sympy.Expr]:
    return [a.expr for a in system.algebraic] + [e for _, e in system.derivatives]


def is_scalar_system(system: System, precision: str | None = None) -> bool:
    """Whether ``system`` can be printed with plain Python scalars (see module doc)."""
    dtype = _dtype(system, precision)
    if dtype not in ("float64", "complex128"):
        return False
    if any(p.role in ("matrix", "index") or np.size(p.value) != 1 for p in system.params):
        return False
    if any(size != 1 for size in system.symbol_sizes().values()):
        return False
    for expr in _expressions(system):
        if kit.may_be_array(expr):
            return False
    return True


def _dtype(system: System, precision: str | None) -> str:
    dtype = system.dtype
    if precision == "float32":
        dtype = {"float64": "float32", "complex128": "complex64"}.get(dtype, dtype)
    return dtype


# --------------------------------------------------------------------------- source


def _signature_params(system: System) -> list[str]:
    """Arguments after ``(t, y, dy)``: the delayed reads, then the parameters."""
    return [safe_name(d.name) for d in system.delayed] + [safe_name(p.name) for p in system.params]


def _unpack_states(w: kit.SourceWriter, system: System, scalar: bool, source: str = "y") -> None:
    w("# states", 1)
    if scalar:
        w(f"y_ = {source}.tolist()", 1)
    for s in system.states:
        name = safe_name(s.name)
        if scalar:
            read = f"y_[{s.start}]"
        elif s.size == 1:
            read = f"{source}[{s.start}]"
        else:
            read = f"{source}[{s.start}:{s.stop}]"
        if kit.real_state_in_complex(system, s):
            read += ".real"
        w(f"{name} = {read}", 1)


def _vector_field(
    w: kit.SourceWriter, system: System, printer: Any, scalar: bool, func_name: str
) -> None:
    params = _signature_params(system)
    w(
        f"def {func_name}(t, y, dy, {', '.join(params)}):"
        if params
        else f"def {func_name}(t, y, dy):"
    )
    if system.delayed:
        w(
            f'"""d y / d t of model {_doc(repr(system.name))}, written into ``dy`` (returned); the '
            "delayed\n"
            f"{_INDENT}reads are the values of their states at t - tau, from the solver's "
            f'history."""',
            1,
        )
    else:
        w(f'"""d y / d t of model {_doc(repr(system.name))}, written into ``dy`` (returned)."""', 1)
    _unpack_states(w, system, scalar)
    if system.algebraic:
        w("# algebraic variables, in dependency order", 1)
    units = {} if scalar else kit.unit_counts(system)
    for a in system.algebraic:
        w(f"{safe_name(a.name)} = {printer.doprint(kit.unit_noise(a.expr, units.get(a.name)))}", 1)
    w("# derivatives", 1)
    _, arrayish = kit.array_valued(system)
    for name, expr in system.derivatives:
        s = system.state(name)
        code = printer.doprint(kit.unit_noise(expr, units.get(name)))
        if scalar or (s.size == 1 and not arrayish(expr)):
            w(f"dy[{s.start}] = {code}  {_comment(f'd/dt {name}')}", 1)
        else:
            w(f"dy[{s.start}:{s.stop}] = {code}  {_comment(f'd/dt {name}')}", 1)
    w("return dy", 1)


def _record(w: kit.SourceWriter, system: System, printer: Any, scalar: bool) -> None:
    """Append ``record_(t, y, dy, out_, <parameters>)``: the values of ``system.recorded``
    (algebraic variables the solver keeps in its history) into ``out_[:R]`` and, when ``dy`` is
    given, their time derivatives into ``out_[R:]``."""
    n = system.n_recorded
    params = [safe_name(p.name) for p in system.params]
    w(f"def record_(t, y, dy, out_{''.join(', ' + p for p in params)}):")
    w(
        f'"""Values (out_[:{n}]) and, when dy is given, time derivatives (out_[{n}:]) of the '
        f"variables\n{_INDENT}read with a delay that the solver keeps in its history: "
        f"{_doc(', '.join(r.name for r in system.recorded))}.\n{_INDENT}"
        '"""',
        1,
    )
    _unpack_states(w, system, scalar)
    for r in system.recorded:
        where = f"out_[{r.offset}]" if scalar else f"out_[{r.offset}:{r.offset + r.size}]"
        w(f"{where} = {printer.doprint(r.expr)}  {_comment(r.name)}", 1)
    w("if dy is not None:", 1)
    for sym, state, st in kit.rate_reads(system):
        read = f"dy[{st.start}].item()" if scalar else f"dy[{st.start}:{st.stop}]"
        if kit.real_state_in_complex(system, st):
            read += ".real"
        w(f"{safe_name(sym)} = {read}  {_comment(f'd/dt {state}')}", 2)
    for r in system.recorded:
        a = n + r.offset
        where = f"out_[{a}]" if scalar else f"out_[{a}:{a + r.size}]"
        w(f"{where} = {printer.doprint(r.rate)}  {_comment(f'd/dt {r.name}')}", 2)
    w("return out_", 1)


def _functional(w: kit.SourceWriter, func_name: str) -> None:
    w(f"def {func_name}_functional(t, y, *params):")
    w(f'"""Like ``{func_name}`` but returns a new array."""', 1)
    w(f"return {func_name}(t, y, numpy.empty(N_STATES_, dtype=DTYPE_), *params)", 1)


def _coupling_entries(system: System) -> int:
    """Matrix nonzeros, gather indices, delayed values and population sums (n_states^2 each):
    the size of the coupling terms."""
    total = sum(d.size for d in system.delayed)
    # a sum or mean over a population couples every unit to every other (global coupling)
    sums = sum(len(expr.atoms(rb.VSum, rb.Mean)) for expr in _expressions(system))
    total += sums * system.n_states * system.n_states
    for p in system.params:
        if p.role == "matrix":
            total += int(getattr(p.value, "nnz", np.size(p.value)))
        elif p.role == "index":
            total += int(np.size(p.value))
    return total


def _jacobian(w: kit.SourceWriter, system: System, scalar: bool) -> bool:
    """Append ``jacobian(t, y, *params)``; False (and nothing written) when unavailable."""
    if system.n_states > JACOBIAN_MAX_STATES or _coupling_entries(system) >= JACOBIAN_MAX_COUPLINGS:
        return False
    printer = ScalarPrinter(complex_ok=system.is_complex)
    printed = kit.printed_jacobian(system, printer.doprint, JACOBIAN_MAX_STATES)
    if printed is None:
        return False
    entries, _ = printed
    params = _signature_params(system)
    sub = kit.SourceWriter(_INDENT)
    sub(f"def jacobian(t, y, {', '.join(params)}):" if params else "def jacobian(t, y):")
    sub(
        f'"""Dense d f / d y of model {_doc(repr(system.name))} (states in the order of ``y``)."""',
        1,
    )
    _unpack_states(sub, system, scalar)
    sub("jac_ = numpy.zeros((N_STATES_, N_STATES_), dtype=DTYPE_)", 1)
    for i, j, code in entries:
        sub(f"jac_[{i}, {j}] = {code}", 1)
    sub("return jac_", 1)
    w.lines.extend(sub.lines)
    return True


# --------------------------------------------------------------------------- scalar loops


def _dynamic_algebraic(system: System) -> set[str]:
    """Algebraic variables that change during an integration (the others are hoisted)."""
    dynamic = {s.name for s in system.states} | {rb.TIME.name}
    dynamic |= {p.name for p in system.params if p.role == "input"}
    dynamic |= {d.name for d in system.delayed}
    names = set()
    for a in system.algebraic:
        if a.expr.has(rb.Randn) or any(s.name in dynamic for s in a.expr.free_symbols):
            dynamic.add(a.name)
            names.add(a.name)
    return names


def _stage(
    w: kit.SourceWriter,
    system: System,
    printer: ScalarPrinter,
    dynamic: set[str],
    stage: int,
    level: int,
) -> None:
    """Lines computing ``<state>_k<stage>_`` from the states held under their own names."""
    for a in system.algebraic:
        if a.name in dynamic:
            w(f"{safe_name(a.name)} = {printer.doprint(a.expr)}", level)
    for name, expr in system.derivatives:
        w(f"{safe_name(name)}_k{stage}_ = {printer.doprint(expr)}", level)


def _loops(w: kit.SourceWriter, system: System, printer: ScalarPrinter) -> list[str]:
    """Append run_euler / run_heun / run_rk4; return the input names, in signature order.

    Every stage evaluates the same printed expressions as ``vector_field`` with the stage's
    state under the state's own name (the step's start state is kept in ``<state>_0_``), and the
    updates use the operation order of the vector path, so both paths agree to rounding.
    """
    inputs = [p for p in system.params if p.role == "input"]
    others = [p for p in system.params if p.role != "input"]
    args = [safe_name(p.name) for p in others] + [f"{safe_name(p.name)}_series_" for p in inputs]
    dynamic = _dynamic_algebraic(system)
    states = [safe_name(s.name) for s in system.states]
    row = f"({states[0]},)" if len(states) == 1 else f"({', '.join(states)})"
    head = ["t0_", "y0_", "dt_", "k0_", "k1_", "every_", "out_", *args]
    titles = {
        "euler": "explicit Euler",
        "heun": "Heun's method (explicit trapezoid)",
        "rk4": "the classic fourth-order Runge-Kutta method",
    }
    time = rb.TIME
    uses_time = any(time in a.expr.free_symbols for a in system.algebraic) or any(
        time in expr.free_symbols for _, expr in system.derivatives
    )
    for method in FIXED_STEP_METHODS:
        w()
        w()
        w(f"def run_{method}({', '.join(head)}):")
        w(
            f'"""Integrate model {_doc(repr(system.name))} with {titles[method]} in plain '
            "Python floats.\n\n"
            f"{_INDENT}Runs steps k0_ .. k1_ - 1 from state y0_ (step k_ goes from t0_ + k_*dt_ "
            f"and reads\n{_INDENT}row k_ of each input series); the state after step k_ is "
            f"written into\n{_INDENT}out_[(k_ + 1) // every_] when every_ divides k_ + 1 and that "
            f"row exists.\n{_INDENT}Returns the final state as a list. A whole run is one call "
            f"with k0_ = 0,\n{_INDENT}k1_ = n_steps, or several calls over consecutive ranges "
            f"(same numbers).\n{_INDENT}"
            '"""',
            1,
        )
        w("y_ = y0_.tolist()", 1)
        for s in system.states:
            read = f"y_[{s.start}]" + (".real" if kit.real_state_in_complex(system, s) else "")
            w(f"{safe_name(s.name)} = {read}", 1)
        hoisted = [a for a in system.algebraic if a.name not in dynamic]
        if hoisted:
            w("# constant algebraic variables, hoisted out of the loop", 1)
        for a in hoisted:
            w(f"{safe_name(a.name)} = {printer.doprint(a.expr)}", 1)
        if method in ("heun", "rk4"):
            w("dt2_ = 0.5*dt_", 1)
        if method == "rk4":
            w("dt6_ = dt_/6.0", 1)
        w("samples_ = []", 1)
        w("row_ = k0_ // every_ + 1", 1)
        w("left_ = len(out_) - row_", 1)
        w("j_ = every_ - k0_ % every_", 1)
        w("for k_ in range(k0_, k1_):", 1)
        if uses_time:  # time lines only when an equation reads t
            w("tk_ = t0_ + k_*dt_", 2)
            w("t = tk_", 2)
        for p in inputs:
            w(f"{safe_name(p.name)} = {safe_name(p.name)}_series_[k_]", 2)
        _stage(w, system, printer, dynamic, 1, 2)
        if method == "euler":
            for x in states:
                w(f"{x} = {x} + dt_*{x}_k1_", 2)
        elif method == "heun":
            for x in states:
                w(f"{x}_0_ = {x}", 2)
                w(f"{x} = {x}_0_ + dt_*{x}_k1_", 2)
            if uses_time:
                w("t = tk_ + dt_", 2)
            _stage(w, system, printer, dynamic, 2, 2)
            for x in states:
                w(f"{x} = {x}_0_ + dt2_*({x}_k1_ + {x}_k2_)", 2)
        else:
            for x in states:
                w(f"{x}_0_ = {x}", 2)
            for stage, (h, tt) in enumerate(
                (("dt2_", "tk_ + dt2_"), ("dt2_", None), ("dt_", "tk_ + dt_")), start=2
            ):
                for x in states:
                    w(f"{x} = {x}_0_ + {h}*{x}_k{stage - 1}_", 2)
                if tt is not None and uses_time:
                    w(f"t = {tt}", 2)
                _stage(w, system, printer, dynamic, stage, 2)
            for x in states:
                w(f"{x} = {x}_0_ + dt6_*(({x}_k1_ + {x}_k4_) + 2.0*({x}_k2_ + {x}_k3_))", 2)
        w("j_ -= 1", 2)
        w("if j_ == 0:", 2)
        w("j_ = every_", 3)
        w("if left_ > 0:", 3)
        w(f"samples_.append({row})", 4)
        w("left_ -= 1", 4)
        w("if samples_:", 1)
        w("out_[row_ : row_ + len(samples_)] = samples_", 2)
        w(f"return [{', '.join(states)}]", 1)
    return [p.name for p in inputs]


# --------------------------------------------------------------------------- entry points


def emit_source(
    system: System, context: EmitContext | None = None, *, scalar: bool | None = None
) -> tuple[str, dict[str, Any]]:
    """The generated module text for ``system`` and facts about it (``scalar``, ``jacobian``,
    ``loop_inputs``, ``injected`` callables, ``dtype``).

    ``scalar`` forces (True) or forbids (False) the scalar mode; None picks it when possible.
    """
    context = context or EmitContext()
    options, builtins = context.options, context.builtins
    if not options.func_name.isidentifier() or options.func_name.endswith("_"):
        raise ValueError(
            f"func_name must be an identifier not ending in '_': {options.func_name!r}"
        )
    dtype = _dtype(system, options.float_precision)
    possible = is_scalar_system(system, options.float_precision) and not builtins
    if scalar is None:
        scalar = possible
    elif scalar and not possible:
        raise ValueError(f"model {system.name!r} cannot be printed in scalar mode")
    printer: Any = (
        ScalarPrinter(builtins, complex_ok=system.is_complex) if scalar else VectorPrinter(builtins)
    )

    w = kit.SourceWriter(_INDENT)
    mode = "scalar (plain Python floats with math/cmath)" if scalar else "vector (NumPy arrays)"
    generator = f"rates-numpy {__version__}"
    notes = [f"Mode: {mode}; dtype {dtype}"]
    w.lines += kit.file_header(
        system, generator, "python", signature=options.func_name, notes=notes
    )
    w("import cmath  # noqa: F401")
    w("import math  # noqa: F401")
    w()
    w("import numpy")
    for line in context.imports:
        w(line)
    w()
    w(f"N_STATES_ = {system.n_states}")
    w(f'DTYPE_ = numpy.dtype("{dtype}")')
    w("rng_ = numpy.random.default_rng()  # replaced by the solver from Problem.seed")
    if scalar:
        w()
        w()
        w("def sign_(x):")
        w('"""sign of a real or complex number (0 at 0), as numpy.sign."""', 1)
        w("if x != x or x == 0:", 1)
        w("return x", 2)
        w("if isinstance(x, complex):", 1)
        w("return x/abs(x)", 2)
        w("return 1.0 if x > 0 else -1.0", 1)
    w()
    w()
    _vector_field(w, system, printer, scalar, options.func_name)
    w()
    w()
    _functional(w, options.func_name)
    if system.recorded:
        w()
        w()
        _record(w, system, printer, scalar)
    mark = len(w.lines)
    w()
    w()
    has_jacobian = _jacobian(w, system, scalar)
    if not has_jacobian:
        del w.lines[mark:]
    loop_inputs: list[str] = []
    if scalar and not system.delayed:
        loop_inputs = _loops(w, system, printer)
    info = {
        "scalar": scalar,
        "jacobian": has_jacobian,
        "loop_inputs": loop_inputs,
        "injected": dict(printer.injected),
        "dtype": dtype,
        "func_name": options.func_name,
        "loops": scalar and not system.delayed,
    }
    return w.text(), info


def emit_function(
    system: System, context: EmitContext | None = None, *, scalar: bool | None = None
) -> EmittedFunction:
    """Generate, cache and load the module of ``system``; the :class:`EmittedFunction`.

    ``context``: the plugin builtins for the numpy backend, extra import lines and the emit
    options (the hook passes those of the installed plugins).
    """
    context = context or EmitContext()
    source, info = emit_source(system, context, scalar=scalar)
    emitted = python_function(
        system, source, BACKEND, __version__, context.options, info["injected"]
    )
    module = emitted.extras["module"]
    emitted.jacobian = module.jacobian if info["jacobian"] else None
    emitted.extras.update(
        scalar=info["scalar"], dtype=info["dtype"], loop_inputs=info["loop_inputs"]
    )
    if info["loops"]:
        emitted.extras["loops"] = {m: getattr(module, f"run_{m}") for m in FIXED_STEP_METHODS}
    if info["scalar"]:

        def vector_fallback() -> EmittedFunction:
            options = dataclasses.replace(context.options, file_name=None)
            return emit_function(
                system, dataclasses.replace(context, options=options), scalar=False
            )

        emitted.extras["vector_fallback"] = vector_fallback
    return emitted
