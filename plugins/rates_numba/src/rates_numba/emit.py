"""Generate the numba module of a System, cache it with rates's kit, load it.

The module (a Python file in rates's content-addressed cache) defines, each ``njit(cache=True)``:

* ``vector_field(t, y, dy, <delayed reads>, <parameters>)``: the in-place field (named by
  ``EmitOptions.func_name``);
* ``run_euler_`` / ``run_heun_`` / ``run_rk4_``: steps ``kstart_ .. kstop_ - 1`` of a
  fixed-step run in one compiled loop (its samples into ``out_`` from row ``row0_``, so a
  streamed run hands on blocks), the stages generated from the Butcher tableaux of
  :mod:`rates_core.codegen.tableaux`; delay systems keep their history in the loop
  (:mod:`rates_numba.runtime`'s ring, read at the stage positions of
  :class:`rates_core.delay_reads.StagePlan`; where an input driving a delayed variable jumps,
  also the left-side derivative, see :func:`rates_core.delay_reads.input_jumps`);
* for systems of single real values without delays (:func:`scalar_state`), ``scalar_field_``
  returning the derivatives as a tuple: their fixed-step loops keep the state in local scalars
  (registers), and LLVM inlines the field into the loop, as tight as a hand-written one;
* ``run_dopri5_`` (systems without delays): a whole adaptive Dormand-Prince 5(4) run that
  steps onto every sample time.

A model with white noise also gets a small module of its own per SDE method
(:func:`sde_source`): ``run_euler_maruyama_`` or ``run_heun_stochastic_``, calling the compiled
fields of the drift's and the diffusion's modules.

Numba writes its on-disk cache of these functions next to the file, so a compiled field is
found again by the same content key (hash of the source and the plugin version) that named
the source. Parameters are arguments (one compiled module serves a parameter sweep); matrices
arrive as CSR tuples or dense arrays (:func:`rates_numba.solvers.numba_argument`).
"""

from __future__ import annotations

import functools
import hashlib
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import rates_core.builtins as rb
from rates_core.backend import EmitOptions, EmittedFunction
from rates_core.codegen import comment, docstring_text
from rates_core.codegen import source as kit
from rates_core.codegen.tableaux import DOPRI5, TABLEAUX, Tableau
from rates_core.delay_reads import input_driven_slopes
from rates_core.errors import ModelError
from rates_core.plugins import EmitContext
from rates_core.system import System
from rates_numba import BACKEND, FIXED_METHODS, __version__
from rates_numba.printer import NumbaPrinter, safe_name

__all__ = [
    "SDE_METHODS",
    "SDE_STAGES",
    "code_version",
    "draws_random",
    "emit_function",
    "emit_source",
    "sde_module",
    "sde_source",
    "scalar_state",
    "stage_index",
]

_RUNTIME = (
    "CARRY, HOLD, READ, at1_, first_nonfinite_, input_at_, matvec_, maxr_, mean_, "
    "mean_axis_, minr_, read_delayed_, store_derivative_, store_left_, store_state_, vsum_"
)
#: How every generated function is compiled. ``fastmath`` allows only two rewrites that change
#: the last bits of a result, never NaN or infinity handling: a division by a loop-invariant value
#: becomes a multiplication by its reciprocal (``arcp``; parameters are runtime arguments, so
#: ``x/tau`` would otherwise divide at every step) and fused multiply-adds (``contract``).
_JIT = '@numba.njit(cache=True, error_model="numpy", fastmath={"arcp", "contract"})'


def _dtype(system: System, precision: str) -> str:
    if precision == "float32":
        return {"float64": "float32", "complex128": "complex64"}.get(system.dtype, system.dtype)
    if precision != "float64":
        raise ModelError(f"rates-numba computes in float64 or float32, not {precision!r}")
    return system.dtype


def _read(system: System, s: Any, source: str = "y") -> str:
    text = f"{source}[{s.start}]" if s.size == 1 else f"{source}[{s.start}:{s.stop}]"
    return text + (".real" if kit.real_state_in_complex(system, s) else "")


def _delayed_args(system: System, values: str = "vals_") -> list[str]:
    """The delayed-read arguments of the field, taken from the connection buffer ``values``
    (the reads in ``system.delayed`` order, each ``d.size`` connections)."""
    out, start = [], 0
    for d in system.delayed:
        stop = start + d.size
        st = system.state(d.state)
        text = f"{values}[{start}]" if d.size == 1 else f"{values}[{start}:{stop}]"
        out.append(text + (".real" if kit.real_state_in_complex(system, st) else ""))
        start = stop
    return out


def _field(w: kit.SourceWriter, system: System, printer: NumbaPrinter, func: str) -> None:
    params = [safe_name(d.name) for d in system.delayed] + [
        safe_name(p.name) for p in system.params
    ]
    w(_JIT)
    w(f"def {func}(t, y, dy{''.join(', ' + p for p in params)}):")
    w(f'"""d y / d t of model {docstring_text(repr(system.name), "python")} into dy."""', 1)
    for s in system.states:
        w(f"{safe_name(s.name)} = {_read(system, s)}", 1)
    units = kit.unit_counts(system)
    for a in system.algebraic:
        code = printer.doprint(kit.unit_noise(a.expr, units.get(a.name)))
        w(f"{safe_name(a.name)} = {code}", 1)
    _, arrayish = kit.array_valued(system)
    for name, expr in system.derivatives:
        s = system.state(name)
        code = printer.doprint(kit.unit_noise(expr, units.get(name)))
        where = (
            f"dy[{s.start}]" if s.size == 1 and not arrayish(expr) else f"dy[{s.start}:{s.stop}]"
        )
        w(f"{where} = {code}  {comment(f'd/dt {name}', 'python')}", 1)
    w("return dy", 1)


def draws_random(system: System) -> bool:
    """Whether the generated code draws from numba's random generator (``randn()``), so a run
    seeds it first (other runs skip loading the compiled ``seed_``)."""
    exprs = [a.expr for a in system.algebraic] + [e for _, e in system.derivatives]
    return any(e.has(rb.Randn) for e in exprs)


def stage_index(tab: Tableau) -> list[int]:
    """For each stage of ``tab``, the index of its time among ``tab.stage_times()`` (the
    StagePlan a delayed read of that stage uses)."""
    times = [c for c, _ in tab.stage_times()]
    return [times.index(float(c)) for c in tab.c]


def _combination(coefs: Sequence[float], stages: Sequence[str], i: str | None = None) -> str:
    """``sum(coef * stage[i])`` in text (``i`` None: the stages are scalars)."""
    terms = []
    for coef, k in zip(coefs, stages):
        value = k if i is None else f"{k}[{i}]"
        if coef == 1.0:
            terms.append(value)
        elif coef:
            terms.append(f"{coef!r}*{value}")
    return " + ".join(terms) if terms else "0.0"


def _call(t: str, y: str, dy: str, system: System) -> str:
    """A call of the field from a loop, under its alias ``field_`` (a parameter of the loop
    may have the field's name; no System name ends with an underscore)."""
    args = [t, y, dy, *_delayed_args(system), *(safe_name(p.name) for p in system.params)]
    return f"field_({', '.join(args)})"


def _inputs_at_step(w: kit.SourceWriter, system: System, level: int, step: str = "k_") -> None:
    for p in system.params:
        if p.role == "input":
            name = safe_name(p.name)
            w(f"{name} = {name}_rows_[min({step}, {name}_rows_.shape[0] - 1)]", level)


def _param_args(system: System) -> list[str]:
    return [
        f"{safe_name(p.name)}_rows_" if p.role == "input" else safe_name(p.name)
        for p in system.params
    ]


#: The first arguments of every fixed-step loop: steps ``kstart_ .. kstop_ - 1`` from the state
#: ``y_``; the samples go to ``out_``, whose row 0 is sample ``row0_``
#: (:class:`rates_core.backend.LoopSamples`).
_LOOP_ARGS = ["t0_", "dt_", "kstart_", "kstop_", "every_", "y_", "out_", "row0_"]
_DELAY_ARGS = [
    "pos_",
    "tracked_",
    "zero_",
    "ring_",
    "ord_",
    "off_",
    "w_",
    "s_",
    "direct_",
    "npre_",
    "pre_",
    "vals_",
    "grid_",
    "hermite_",
]
#: The extra arguments of the loops of systems whose delayed variables an input drives
#: (:func:`rates_core.delay_reads.input_driven_slopes`): per step, whether to compute the
#: left-side derivative there (an input row changes, Hermite reads).
_LEFT_ARGS = ["left_"]


def _read_modes(tab: Tableau) -> list[str]:
    """Per stage of ``tab``, the ``mode`` of its read (:data:`rates_numba.runtime.READ`): where
    the last stage is at c = 1 (heun, rk4) its values stay in ``vals_`` for the next step's
    first stage, which reads at the same times; under ``delays="grid"`` (``grid_``) the later
    stages hold the first stage's read."""
    c, _, _ = tab.floats()
    carry = len(c) > 1 and c[-1] == 1.0
    modes = ["READ if grid_ else CARRY" if carry else "READ"]
    return modes + ["HOLD if grid_ else READ"] * (len(c) - 1)


def _read_stage(w: kit.SourceWriter, plan: int, y: str, level: int, mode: str) -> None:
    w(
        f"read_delayed_(vals_, k_, {y}, ring_, ord_[{plan}], off_[{plan}], w_[{plan}], s_[{plan}], "
        f"direct_[{plan}], npre_[{plan}], pre_[{plan}], zero_, pos_, {mode})",
        level,
    )


def _left_slope(w: kit.SourceWriter, system: System) -> None:
    """Where the inputs jump at t_k (``left_``), the left-side derivative at t_k: the field with
    the input rows of step k_ - 1 (same state and delayed values); elsewhere it is f_n, which
    ``store_derivative_`` wrote."""
    w("if left_[k_]:", 2)
    _inputs_at_step(w, system, 3, "k_ - 1")
    w(_call("t_", "y_", "fl_", system), 3)
    w("store_left_(ring_, k_, fl_, tracked_)", 3)
    _inputs_at_step(w, system, 3)


def _sampling_start(w: kit.SourceWriter) -> None:
    """Before the step loop: the steps left until the next sample (``due_``) and the row of
    the last one in ``out_``, whose row 0 is sample ``row0_`` (a block of a streamed run,
    :class:`rates_core.backend.LoopSamples`)."""
    w("due_ = every_ - kstart_ % every_", 1)
    w("row_ = kstart_ // every_ - row0_", 1)


def _step_start(w: kit.SourceWriter, system: System, delayed: bool) -> None:
    """The sampling countdown, then the step loop's head: ``t_``, the input rows of step
    ``k_`` and, with delays, the state of row ``k_`` in the history."""
    _sampling_start(w)
    w("for k_ in range(kstart_, kstop_):", 1)
    w("t_ = t0_ + k_*dt_", 2)
    _inputs_at_step(w, system, 2)
    if delayed:
        w("store_state_(ring_, k_, y_, tracked_)", 2)


def _sample(w: kit.SourceWriter, values: Sequence[str] = ()) -> None:
    """After a step: every ``every_`` steps the state (``y_``, or the scalars ``values``) goes to
    the next row of ``out_`` that exists. A countdown, not ``(k_ + 1) % every_``: an integer
    division per step costs as much as a small model's step."""
    w("due_ -= 1", 2)
    w("if due_ == 0:", 2)
    w("due_ = every_", 3)
    w("row_ += 1", 3)
    w("if row_ < out_.shape[0]:", 3)
    if not values:
        w("for i_ in range(N_STATES_):", 4)
        w("out_[row_, i_] = y_[i_]", 5)
    for i, value in enumerate(values):
        w(f"out_[row_, {i}] = {value}", 4)


def _fixed_loop(w: kit.SourceWriter, system: System, method: str) -> None:
    tab = TABLEAUX[method]
    c, a, _ = tab.floats()
    plans = stage_index(tab)
    delayed = bool(system.delayed)
    left = delayed and input_driven_slopes(system)
    modes = _read_modes(tab)
    head = [*_LOOP_ARGS, *(_DELAY_ARGS if delayed else []), *(_LEFT_ARGS if left else [])]
    head += _param_args(system)
    ks = [f"f{i + 1}_" for i in range(len(c))]
    w(_JIT)
    w(f"def run_{method}_({', '.join(head)}):")
    w(
        f'"""Steps kstart_ .. kstop_ - 1 of {method} from y_ (updated in place); the state '
        "after step k_\n    goes to out_[(k_ + 1) // every_ - row0_] when every_ divides k_ + 1 "
        'and that row exists."""',
        1,
    )
    for k in ks:
        w(f"{k} = numpy.zeros_like(y_)", 1)
    if len(c) > 1:
        w("ys_ = numpy.zeros_like(y_)", 1)
    if left:
        w("fl_ = numpy.zeros_like(y_)", 1)
    _step_start(w, system, delayed)
    if delayed:
        _read_stage(w, plans[0], "y_", 2, modes[0])
    w(_call("t_", "y_", ks[0], system), 2)
    if delayed:
        w("if hermite_:", 2)  # only Hermite reads use derivatives
        w(f"store_derivative_(ring_, k_, {ks[0]}, tracked_, dt_)", 3)
    if left:
        _left_slope(w, system)
    for i in range(1, len(c)):
        w("for i_ in range(N_STATES_):", 2)
        w(f"ys_[i_] = y_[i_] + dt_*({_combination(a[i], ks, 'i_')})", 3)
        if delayed:
            _read_stage(w, plans[i], "ys_", 2, modes[i])
        t = "t_ + dt_" if c[i] == 1.0 else f"t_ + {c[i]!r}*dt_"
        w(_call(t, "ys_", ks[i], system), 2)
    w("for i_ in range(N_STATES_):", 2)
    w(f"y_[i_] = y_[i_] + dt_*({_combination(tab.weights, ks, 'i_')})", 3)
    _sample(w)
    w("return y_", 1)


def scalar_state(system: System, dtype: str) -> bool:
    """Whether the fixed-step loops keep the state in local float64 scalars (registers) and
    call :func:`_scalar_field`: every state, algebraic variable and derivative a single real
    value, no delays. Otherwise they use arrays (each stage's state and slope in memory)."""
    if dtype != "float64" or system.delayed or not system.states:
        return False
    if any(s.size != 1 for s in system.states):
        return False
    _, arrayish = kit.array_valued(system)
    exprs = [a.expr for a in system.algebraic] + [e for _, e in system.derivatives]
    return not any(arrayish(e) for e in exprs)


def _scalar_field(w: kit.SourceWriter, system: System, printer: NumbaPrinter, func: str) -> None:
    """``scalar_field_(t, <states>, <parameters>)``: the derivatives as a tuple (state order),
    for systems of :func:`scalar_state`; the in-place ``func`` calls it."""
    states = [safe_name(s.name) for s in system.states]
    params = [safe_name(p.name) for p in system.params]
    w(_JIT)
    w(f"def scalar_field_(t, {', '.join(states + params)}):")
    w(f'"""d y / d t of model {docstring_text(repr(system.name), "python")}."""', 1)
    for a in system.algebraic:
        w(f"{safe_name(a.name)} = {printer.doprint(a.expr)}", 1)
    slopes = {system.state(name).start: printer.doprint(expr) for name, expr in system.derivatives}
    w(f"return ({''.join(slopes[i] + ', ' for i in range(system.n_states))})", 1)
    w()
    w()
    w(_JIT)
    w(f"def {func}(t, y, dy{''.join(', ' + p for p in params)}):")
    w(f'"""d y / d t of model {docstring_text(repr(system.name), "python")} into dy."""', 1)
    values = [f"y[{i}]" for i in range(system.n_states)]
    targets = [f"dy[{i}]" for i in range(system.n_states)]
    w(f"{', '.join(targets)}, = scalar_field_(t, {', '.join(values + params)})", 1)
    w("return dy", 1)


def _scalar_loop(w: kit.SourceWriter, system: System, method: str) -> None:
    """``run_<method>_`` of a :func:`scalar_state` system: the state, stage states and slopes
    are local scalars (``y<i>_``, ``ys<i>_``, ``f<stage>_<i>_``); ``y_`` is read before the
    loop and written after it."""
    tab = TABLEAUX[method]
    c, a, _ = tab.floats()
    n = system.n_states
    params = [safe_name(p.name) for p in system.params]
    head = [*_LOOP_ARGS, *_param_args(system)]
    y = [f"y{i}_" for i in range(n)]
    ks = [[f"f{s + 1}_{i}_" for i in range(n)] for s in range(len(c))]
    w(_JIT)
    w(f"def run_{method}_({', '.join(head)}):")
    w(
        f'"""Steps kstart_ .. kstop_ - 1 of {method} from y_ (updated in place); every '
        'every_-th state\n    goes to the next row of out_ that exists."""',
        1,
    )
    for i in range(n):
        w(f"{y[i]} = y_[{i}]", 1)
    _sampling_start(w)
    w("for k_ in range(kstart_, kstop_):", 1)
    w("t_ = t0_ + k_*dt_", 2)
    _inputs_at_step(w, system, 2)
    for s in range(len(c)):
        state = y
        if s:
            state = [f"ys{i}_" for i in range(n)]
            for i in range(n):
                stages = [ks[j][i] for j in range(s)]
                w(f"{state[i]} = {y[i]} + dt_*({_combination(a[s], stages)})", 2)
        t = "t_" if not s else "t_ + dt_" if c[s] == 1.0 else f"t_ + {c[s]!r}*dt_"
        w(f"{', '.join(ks[s])}, = scalar_field_({', '.join([t, *state, *params])})", 2)
    for i in range(n):
        stages = [k[i] for k in ks]
        w(f"{y[i]} = {y[i]} + dt_*({_combination(tab.weights, stages)})", 2)
    _sample(w, y)
    for i in range(n):
        w(f"y_[{i}] = {y[i]}", 1)
    w("return y_", 1)


def _dopri5_loop(w: kit.SourceWriter, system: System) -> None:
    """A whole adaptive run: returns ``(status, t, index, steps)``; status 0 done, 1 a
    non-finite derivative (state ``index`` at ``t``), 2 step size too small, 3 too many steps."""
    c, a, e = DOPRI5.floats()
    ks = [f"f{i + 1}_" for i in range(len(c))]
    head = ["t0_", "t_end_", "times_", "out_", "y_", "h_", "rtol_", "atol_", "max_steps_"]
    head += ["in_times_", *_param_args(system)]
    w(_JIT)
    w(f"def run_dopri5_({', '.join(head)}):")
    w('"""A whole Dormand-Prince 5(4) run, stepping onto every sample time in times_."""', 1)
    w("n_ = y_.size", 1)
    for k in ks:
        w(f"{k} = numpy.zeros_like(y_)", 1)
    w("ys_ = numpy.zeros_like(y_)", 1)
    w("yn_ = numpy.zeros_like(y_)", 1)

    def inputs_at(t: str, level: int) -> None:
        for p in system.params:
            if p.role == "input":
                name = safe_name(p.name)
                w(f"{name} = input_at_(in_times_, {name}_rows_, {t})", level)

    def norm(expr: str, level: int, out: str) -> None:
        w(f"{out} = 0.0", level)
        w("for i_ in range(n_):", level)
        w(f"v_ = abs({expr}) / (atol_ + rtol_*abs(y_[i_]))", level + 1)
        w(f"{out} += v_*v_", level + 1)
        w(f"{out} = numpy.sqrt({out} / max(n_, 1))", level)

    w("t_ = t0_", 1)
    inputs_at("t_", 1)
    w(_call("t_", "y_", ks[0], system), 1)
    w(f"bad_ = first_nonfinite_({ks[0]})", 1)
    w("if bad_ >= 0:", 1)
    w("return 1, t_, bad_, 0", 2)
    w("if h_ <= 0.0:", 1)  # Hairer's initial step
    norm("y_[i_]", 2, "d0_")
    norm(f"{ks[0]}[i_]", 2, "d1_")
    w("h0_ = 1e-6 if d0_ < 1e-5 or d1_ < 1e-5 else 0.01*d0_/d1_", 2)
    w("h0_ = min(h0_, t_end_ - t0_)", 2)
    w("for i_ in range(n_):", 2)
    w(f"ys_[i_] = y_[i_] + h0_*{ks[0]}[i_]", 3)
    inputs_at("t_ + h0_", 2)
    w(_call("t_ + h0_", "ys_", ks[1], system), 2)
    norm(f"({ks[1]}[i_] - {ks[0]}[i_])", 2, "d2_")
    w("d2_ = d2_ / h0_", 2)
    w("dm_ = max(d1_, d2_)", 2)
    w("h1_ = max(1e-6, h0_*1e-3) if dm_ <= 1e-15 else (0.01/dm_)**0.2", 2)
    w("h_ = min(100.0*h0_, h1_)", 2)
    w("row_ = 1", 1)
    w("while row_ < times_.size and times_[row_] <= t0_:", 1)
    w("out_[row_, :] = y_", 2)
    w("row_ += 1", 2)
    w("steps_ = 0", 1)
    w("streak_ = 0", 1)
    w("while t_ < t_end_:", 1)
    w("if steps_ >= max_steps_:", 2)
    w("return 3, t_, -1, steps_", 3)
    w("steps_ += 1", 2)
    w("hit_ = False", 2)
    w("tn_ = t_ + h_", 2)
    w("if row_ < times_.size and tn_ >= times_[row_]:", 2)
    w("tn_ = times_[row_]", 3)
    w("hit_ = True", 3)
    w("if tn_ >= t_end_:", 2)
    w("tn_ = t_end_", 3)
    w("h_ = tn_ - t_", 2)
    w("if h_ <= 1e-14*max(1.0, abs(t_)):", 2)
    w("return 2, t_, -1, steps_", 3)
    for i in range(1, len(c)):
        w("for i_ in range(n_):", 2)
        target = "yn_" if i == len(c) - 1 else "ys_"
        w(f"{target}[i_] = y_[i_] + h_*({_combination(a[i], ks, 'i_')})", 3)
        t = "tn_" if c[i] == 1.0 else f"t_ + {c[i]!r}*h_"
        inputs_at(t, 2)
        w(_call(t, target, ks[i], system), 2)
    w("err_ = 0.0", 2)
    w("for i_ in range(n_):", 2)
    w("sc_ = atol_ + rtol_*max(abs(y_[i_]), abs(yn_[i_]))", 3)
    w(f"v_ = abs(h_*({_combination(e, ks, 'i_')})) / sc_", 3)
    w("err_ += v_*v_", 3)
    w("err_ = numpy.sqrt(err_ / max(n_, 1))", 2)
    w("if not numpy.isfinite(err_):", 2)
    w("streak_ += 1", 3)
    w("if streak_ >= 100:", 3)
    for k in ks:
        w(f"bad_ = first_nonfinite_({k})", 4)
        w("if bad_ >= 0:", 4)
        w("return 1, t_, bad_, steps_", 5)
    w("return 1, t_, 0, steps_", 4)
    w("h_ = 0.25*h_", 3)
    w("continue", 3)
    w("streak_ = 0", 2)
    w("if err_ <= 1.0:", 2)
    w("t_ = tn_", 3)
    w("y_[:] = yn_", 3)
    w(f"{ks[0]}[:] = {ks[-1]}", 3)
    w("if hit_:", 3)
    w("out_[row_, :] = y_", 4)
    w("row_ += 1", 4)
    w("fac_ = 10.0 if err_ == 0.0 else min(10.0, 0.9*err_**-0.2)", 3)
    w("else:", 2)
    w("fac_ = max(0.2, 0.9*err_**-0.2)", 3)
    w("h_ = h_*fac_", 2)
    w("while row_ < times_.size:", 1)
    w("out_[row_, :] = y_", 2)
    w("row_ += 1", 2)
    w("return 0, t_, -1, steps_", 1)


#: The SDE methods (:data:`rates_core.noise.SDE_METHODS`) and whether each has a corrector.
SDE_METHODS = {"euler_maruyama": False, "heun_stochastic": True}


#: The ODE method whose stages (delayed reads) each SDE method has.
SDE_STAGES = {"euler_maruyama": "euler", "heun_stochastic": "heun"}


def sde_source(drift: System, method: str, digest: str) -> str:
    """The module of ``run_<method>_``, the compiled loop of the SDE method ``method`` for a
    model split into drift and diffusion (:func:`rates_core.noise.split`; ``drift`` gives the
    states, parameters and delayed reads, which the diffusion shares). The loop calls the two
    in-place fields as ``drift_`` and ``diffusion_``, injected from their own modules; numba's
    cache of the loop holds them compiled into it, so ``digest`` (of their sources) is written
    into this source, whose content names its cache entry.

    Per step (dW: ``dw_[k_ - kstart_]``, one column per noise source ``src_``; g is 0 at the
    other states): Euler-Maruyama ``y += f(t, y) dt + g(t, y) dW``; stochastic Heun the
    predictor ``p = y + f(t, y) dt + g(t, y) dW``, then ``y += (f(t, y) + f(t + dt, p)) dt/2
    + (g(t, y) + g(t + dt, p)) dW/2``, as rates-numpy's ``sde`` module computes them. Delays:
    the history of the fixed-step loops with the stages of euler / heun, its derivative rows
    the drift (``field_`` is the drift too, for the left-side slopes at input jumps).
    """
    heun = SDE_METHODS[method]
    tab = TABLEAUX[SDE_STAGES[method]]
    plans, modes = stage_index(tab), _read_modes(tab)
    delayed = bool(drift.delayed)
    left = delayed and input_driven_slopes(drift)
    args = [*_delayed_args(drift), *(safe_name(p.name) for p in drift.params)]
    head = [*_LOOP_ARGS, "dw_", "src_"]
    head += (_DELAY_ARGS if delayed else []) + (_LEFT_ARGS if left else [])
    head += _param_args(drift)
    w = kit.SourceWriter()
    w.lines += kit.file_header(
        drift,
        f"rates-numba {__version__}",
        "python",
        notes=[f"SDE loop ({method}) over the fields of modules with sources {digest}"],
    )
    w("import numba")
    w("import numpy")
    w()
    w(f"from rates_numba.runtime import {_RUNTIME}  # noqa: F401")
    w()
    w(f"N_STATES_ = {drift.n_states}")
    w("# drift_ and diffusion_: the in-place fields of the drift's and the diffusion's modules,")
    w("# set on this module when it is loaded (field_ is drift_)")
    w()
    w()

    def stage(t: str, y: str, f: str, g: str, i: int) -> None:
        if delayed:
            _read_stage(w, plans[i], y, 2, modes[i])
        w(f"drift_({', '.join([t, y, f, *args])})", 2)
        w(f"diffusion_({', '.join([t, y, g, *args])})", 2)

    def scale(g: str) -> None:
        w("for j_ in range(src_.size):", 2)
        w(f"{g}[src_[j_]] = {g}[src_[j_]]*dw_[k_ - kstart_, j_]", 3)

    w(_JIT)
    w(f"def run_{method}_({', '.join(head)}):")
    w(
        f'"""Steps kstart_ .. kstop_ - 1 of {method} from y_ (updated in place), with the '
        "Wiener\n    increments dw_[k_ - kstart_] of the noise sources src_; every every_-th "
        'state goes to\n    the next row of out_ that exists."""',
        1,
    )
    scratch = ("f1_", "g1_", *(("f2_", "g2_", "ys_") if heun else ()), *(("fl_",) if left else ()))
    for name in scratch:
        w(f"{name} = numpy.zeros_like(y_)", 1)
    _step_start(w, drift, delayed)
    stage("t_", "y_", "f1_", "g1_", 0)
    if delayed:
        w("if hermite_:", 2)  # the drift is the derivative of the stored rows
        w("store_derivative_(ring_, k_, f1_, tracked_, dt_)", 3)
    if left:
        _left_slope(w, drift)
    scale("g1_")
    w("for i_ in range(N_STATES_):", 2)
    if heun:
        w("ys_[i_] = y_[i_] + dt_*f1_[i_] + g1_[i_]", 3)
        stage("t_ + dt_", "ys_", "f2_", "g2_", 1)
        scale("g2_")
        w("for i_ in range(N_STATES_):", 2)
        w("y_[i_] = y_[i_] + (f1_[i_] + f2_[i_])*(0.5*dt_) + (g1_[i_] + g2_[i_])*0.5", 3)
    else:
        w("y_[i_] = y_[i_] + dt_*f1_[i_] + g1_[i_]", 3)
    _sample(w)
    w("return y_", 1)
    return w.text()


def sde_module(drift: EmittedFunction, diffusion: EmittedFunction, method: str) -> Any:
    """The loaded module of :func:`sde_source` for ``drift``'s model, its ``drift_`` and
    ``diffusion_`` the compiled fields of the two emitted functions."""
    from rates_core.cache import source_hash

    digest = source_hash(drift.source + "\0" + diffusion.source, BACKEND, code_version())
    source = sde_source(drift.system, method, digest)
    kernel = drift.extras["kernel"]
    fields = {"drift_": kernel, "field_": kernel, "diffusion_": diffusion.extras["kernel"]}
    module, _ = _module(source, EmitOptions(), fields)
    return module


def emit_source(
    system: System,
    options: EmitOptions,
    builtins: Mapping[str, Any] | None = None,
    imports: Sequence[str] = (),
) -> tuple[str, NumbaPrinter]:
    """The text of the generated module of ``system`` and the printer that wrote it (its
    ``injected`` callables go into the module)."""
    func = options.func_name
    if not func.isidentifier() or func.endswith("_"):
        raise ModelError(f"func_name must be an identifier not ending in '_': {func!r}")
    dtype = _dtype(system, options.float_precision)
    printer = NumbaPrinter(builtins)
    w = kit.SourceWriter()
    notes = [f"Compiled by numba (njit, cache=True); dtype {dtype}"]
    w.lines += kit.file_header(
        system, f"rates-numba {__version__}", "python", signature=func, notes=notes
    )
    w("import math  # noqa: F401")
    w()
    w("import numba")
    w("import numpy")
    w()
    w(f"from rates_numba.runtime import {_RUNTIME}  # noqa: F401")
    for line in imports:
        w(line)
    w()
    w(f"N_STATES_ = {system.n_states}")
    w(f'DTYPE_ = numpy.dtype("{dtype}")')
    w()
    w()
    scalar = scalar_state(system, dtype)
    (_scalar_field if scalar else _field)(w, system, printer, func)
    w()
    w()
    w(f"field_ = {func}")
    w()
    w()
    w(f"def {func}_functional(t, y, *params):")
    w(f'"""Like ``{func}`` but returns a new array."""', 1)
    w(f"return {func}(t, y, numpy.zeros(N_STATES_, dtype=DTYPE_), *params)", 1)
    for method in FIXED_METHODS:
        w()
        w()
        (_scalar_loop if scalar else _fixed_loop)(w, system, method)
    if not system.delayed:
        w()
        w()
        _dopri5_loop(w, system)
    return w.text(), printer


def _module(source: str, options: EmitOptions, injected: Mapping[str, Any]) -> tuple[Any, Any]:
    """The loaded module of ``source`` and its cache path: cached and loaded with the kit
    the first time in a process, then found in ``sys.modules`` under its content-derived name.

    Registering it there is what numba's on-disk cache needs (it records the module of a
    compiled function by name and imports it when another process loads the cached code), and
    re-using it keeps the compiled functions of a model for the next run of the same model
    (a new module would load them from disk again). The name holds the hash of the source and
    the plugin version, so only the same code is ever found there.
    """
    from rates_core.cache import source_hash
    from rates_core.codegen.modules import cache_source, load_python_module

    version = code_version()
    name = f"rates_{BACKEND}_generated_{source_hash(source, BACKEND, version)}"
    module = sys.modules.get(name)
    if module is None:
        module, path = load_python_module(source, BACKEND, version, options, injected)
        sys.modules[name] = module
        return module, path
    for key, impl in injected.items():
        setattr(module, key, impl)
    return module, cache_source(source, BACKEND, version, options)


@functools.cache
def code_version() -> str:
    """The plugin version and a digest of :mod:`rates_numba.runtime`'s source: part of the
    cache key of a generated module, because numba's cache of a compiled loop holds the
    runtime helpers it calls (compiled into it) and never checks whether they changed, so a
    loop compiled against another ring layout would be loaded and write past its arrays."""
    runtime = Path(__file__).with_name("runtime.py").read_bytes()
    return f"{__version__}+{hashlib.sha256(runtime).hexdigest()[:16]}"


def emit_function(system: System, context: EmitContext | None = None) -> EmittedFunction:
    """Generate, cache and load the module of ``system`` (numba compiles on the first call);
    ``context``: the emit options, plugin builtins and extra imports the host resolved."""
    from rates_numba.solvers import Field

    context = context or EmitContext()
    options, builtins, imports = context.options, dict(context.builtins), list(context.imports)
    if system.recorded:
        raise ModelError(
            f"model {system.name!r}: rates-numba does not keep algebraic variables in the "
            "delay history (capability 'dde_algebraic')"
        )
    source, printer = emit_source(system, options, builtins, imports)
    module, path = _module(source, options, printer.injected)
    kernel = getattr(module, options.func_name)
    field = Field(kernel, system)
    return EmittedFunction(
        backend=BACKEND,
        system=system,
        source=source,
        rhs=field if field.converts else kernel,
        rhs_functional=field.functional,
        jacobian=None,
        path=path,
        extras={
            "module": module,
            "kernel": kernel,
            "dtype": _dtype(system, options.float_precision),
            "random": draws_random(system),
        },
    )
