"""``build_system``: the steps that turn a network IR into a :class:`System`.

Each step is a function of the explicit :class:`~rates_core.system.state.BuildState`, in the
order below: parse and classify every population's variables, declare their symbols, add the
equations, define the inputs (couplings, separable edges, extrinsic inputs), resolve delays,
order the algebraic updates.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping

from rates_core.errors import ModelError
from rates_core.frontend.templates import CircuitTemplate
from rates_core.ir import NetworkIR, Projection, build_ir
from rates_core.system.delays import resolve_delays, resolve_pending_delays
from rates_core.system.inputs import define_input, resolve_inputs
from rates_core.system.model import System
from rates_core.system.ordering import order_algebraic
from rates_core.system.paths import LabelMap
from rates_core.system.populations import (
    add_equations,
    declare_variables,
    mark_extrinsic,
    parse_population,
    used_roles,
)
from rates_core.system.real_values import check_real_values
from rates_core.system.separable_edges import find_separable
from rates_core.system.state import BuildOptions, BuildState, dtype_of


def _build(ir: NetworkIR, opts: BuildOptions, inputs: Iterable[str], kept: NetworkIR) -> System:
    """The System of ``ir``; it keeps the IR ``kept``."""
    label_map = LabelMap(ir.unit_of, [pop.nodes for pop in ir.populations])
    bs = BuildState(ir, opts, label_map)
    parsed = {p: parse_population(bs, p) for p in range(len(ir.populations))}
    roles = used_roles(bs, parsed)
    input_targets = resolve_inputs(bs, inputs)
    mark_extrinsic(bs, roles, input_targets)
    bs.separable = find_separable(bs, parsed, input_targets)
    declare_variables(bs, roles)
    add_equations(bs, parsed)
    _define_inputs(bs, roles, input_targets)
    resolve_pending_delays(bs)
    resolve_delays(bs)
    return _assemble(bs, kept)


def _define_inputs(bs: BuildState, roles: Mapping, input_targets: Mapping) -> None:
    """Inputs: sums of intra-node sources, projections and extrinsic inputs."""
    incoming: dict[tuple[int, str, str], list[Projection]] = {}
    for proj in bs.ir.projections:
        incoming.setdefault(proj.target, []).append(proj)
    for p, pop in enumerate(bs.ir.populations):
        if p in bs.separable:
            continue
        wiring = pop.template.wiring()
        for (op_label, var), role in roles[p].items():
            if role == "input":
                define_input(bs, p, op_label, var, wiring, incoming, input_targets)


def _assemble(bs: BuildState, ir: NetworkIR) -> System:
    """The System of the filled tables (every state needs a derivative)."""
    order = order_algebraic(bs)
    check_real_values(bs, order)
    derivs = []
    for s in bs.states:
        if s.name not in bs.derivatives:
            raise ModelError(f"state {s.name!r} has no derivative", **bs.opts.where)
        derivs.append((s.name, bs.derivatives[s.name]))
    dtype = bs.opts.precision
    if any(s.dtype.startswith("complex") for s in bs.states):
        dtype = dtype_of("complex", bs.opts.precision)
    return System(
        bs.ir.name,
        tuple(bs.states),
        tuple(bs.params),
        tuple(order),
        tuple(derivs),
        tuple(bs.delayed),
        tuple(bs.inputs),
        bs.label_map,
        dtype,
        ir,
        tuple(bs.recorded.values()),
    )


def build_system(
    circuit: CircuitTemplate | NetworkIR,
    *,
    vectorize: bool = True,
    inputs: Iterable[str] = (),
    float_precision: str = "float64",
    functions: Mapping | None = None,
    delay_approximation: int | None = None,
    record_delayed: bool = False,
) -> System:
    """Flatten, vectorise and parse a circuit into a :class:`System`.

    ``record_delayed``: algebraic variables read with a delay that are elementwise functions of
    their own population's states become :class:`Recorded` history variables (for backends
    whose solvers keep them, capability ``dde_algebraic``); otherwise their past is rebuilt
    from the delayed states, once per connection.

    ``delay_approximation=n`` turns every discrete delay (edge ``delay`` and ``past``) into a
    gamma-kernel chain of order n with the same mean, giving an ODE system (for continuation).

    ``inputs`` lists the ``node/op/var`` paths (``all`` allowed) that receive extrinsic inputs;
    ``functions`` is the equation function table (core functions plus plugin builtins).
    """
    if float_precision not in ("float64", "float32"):
        raise ModelError(f"float_precision must be 'float64' or 'float32', not {float_precision!r}")
    ir = circuit if isinstance(circuit, NetworkIR) else build_ir(circuit, vectorize=vectorize)
    where: dict[str, str] = {"template": ir.name}
    if isinstance(circuit, CircuitTemplate) and circuit.path:
        where["file"] = circuit.path
    if delay_approximation is not None and (
        int(delay_approximation) != delay_approximation or delay_approximation < 1
    ):
        raise ModelError(
            f"delay_approximation must be a positive integer, not {delay_approximation!r}"
        )
    opts = BuildOptions(float_precision, functions, where, delay_approximation, record_delayed)
    if isinstance(circuit, NetworkIR):
        return _build(ir, opts, inputs, ir)
    # the connection arrays now live in the parameters; an IR built here need not keep them
    return _build(ir, opts, inputs, dataclasses.replace(ir, projections=[]))
