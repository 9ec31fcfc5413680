"""The Python face of a generated Julia module: the EmittedFunction and the solvers.

:func:`emit_function` writes the module (:mod:`rates_julia.emit`) to the content-addressed cache
and returns an :class:`~rates_core.backend.EmittedFunction` whose callables start Julia on their
first call (:mod:`rates_julia.runtime`); generating code never needs Julia. :func:`solve`
integrates with DifferentialEquations.jl (``ODEProblem``, or ``DDEProblem`` with
``MethodOfSteps`` for delays) and samples at the rows the core asks for.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rates_core.backend import (
    ADAPTIVE_ATOL,
    ADAPTIVE_RTOL,
    EmittedFunction,
    Problem,
    Trajectory,
)
from rates_core.errors import SolverError
from rates_core.plugins import EmitContext
from rates_core.system import System
from rates_julia import BACKEND, SOLVERS, STIFF_SOLVERS, __version__
from rates_julia.emit import EmittedJulia, emit_source

__all__ = ["SOLVER_OPTIONS", "JuliaModel", "emit_function", "solve"]

#: Options a julia solver takes (``run(..., reltol=1e-8)``); ``rtol`` / ``atol`` are accepted
#: as SciPy-style aliases of ``reltol`` / ``abstol``.
SOLVER_OPTIONS = frozenset(
    {"reltol", "abstol", "rtol", "atol", "dtmax", "dtmin", "maxiters", "dt", "jacobian"}
)
_SUCCESS = frozenset({"Success", "Default", "Terminated"})


class JuliaModel:
    """A generated module and the Julia objects made from it (created on first use).

    ``rhs`` / ``rhs_functional`` / ``jacobian`` are the callables of the EmittedFunction.
    Parameter values are converted into the NamedTuple ``p`` once per distinct set of value
    objects (a new call with the same objects reuses it).
    """

    def __init__(self, system: System, emitted: EmittedJulia, path: Any) -> None:
        self.system = system
        self.emitted = emitted
        self.path = path
        self._names = tuple(julia for _, julia, _ in emitted.params)
        self._kinds = tuple(kind for _, _, kind in emitted.params)
        self._ncols = tuple(
            int(p.value.shape[1]) if kind == "csr" else 0
            for p, (_, _, kind) in zip(system.params, emitted.params)
        )
        self._last: tuple[tuple[Any, ...], Any] | None = None

    # ------------------------------------------------------------------ Julia objects

    def julia(self) -> tuple[Any, Any]:
        """(driver, module): starts Julia on the first call (BackendUnavailableError).

        Before Julia includes the generated file, it is checked against its recorded sha256
        and rewritten from the generated source when missing, damaged or swapped.
        """
        from rates_core.cache import write_source
        from rates_julia.runtime import session

        s = session()
        if str(self.path) not in s.models:
            self.path = write_source(self.emitted.source, BACKEND, __version__, suffix=".jl")
        return s.driver, s.model(self.path)

    def _raw(self, values: Sequence[Any], kinds: Sequence[str]) -> tuple:
        """Values as juliacall passes them (sparse matrices as their CSR arrays)."""
        out = []
        for value, kind, ncols in zip(values, kinds, self._ncols):
            if kind == "csr":
                value = (value.indptr, value.indices, value.data, len(value.indptr) - 1, ncols)
            out.append(value)
        return tuple(out)

    def params(self, values: Sequence[Any], kinds: Sequence[str] | None = None) -> Any:
        """The Julia NamedTuple ``p`` of these parameter values (``system.params`` order)."""
        values = tuple(values)
        if len(values) != len(self._names):
            raise TypeError(f"expected {len(self._names)} parameter values, got {len(values)}")
        if kinds is None and self._last is not None:
            last_values, p = self._last
            if len(last_values) == len(values) and all(a is b for a, b in zip(last_values, values)):
                return p
        driver, mod = self.julia()
        kinds = tuple(kinds or self._kinds)
        p = driver.make_params(mod, self._names, kinds, self._raw(values, kinds))
        if kinds == self._kinds:
            self._last = (values, p)
        return p

    def _no_delays(self, what: str) -> None:
        if self.system.delayed:
            raise SolverError(
                f"{what} of a julia model with delays: the delayed values come from the "
                "history DelayDiffEq keeps; simulate with run(..., backend='julia'), or use "
                "delay_approximation=n"
            )

    # ------------------------------------------------------------------ callables

    def rhs(self, t: float, y: Any, dy: Any, *params: Any) -> Any:
        """``f!(dy, y, p, t)`` into the NumPy array ``dy`` (shared with Julia); returns dy."""
        self._no_delays("evaluating the vector field")
        driver, mod = self.julia()
        driver.call_rhs(mod, dy, y, self.params(params), float(t))
        return dy

    def rhs_functional(self, t: float, y: Any, *params: Any) -> Any:
        import numpy as np

        y = np.asarray(y)
        return self.rhs(t, y, np.zeros_like(y), *params)

    def jacobian(self, t: float, y: Any, *params: Any) -> Any:
        """The dense ``d f / d y`` from ``jac!`` as a NumPy array."""
        import numpy as np

        self._no_delays("evaluating the Jacobian")
        y = np.asarray(y)
        out = np.zeros((y.size, y.size), dtype=y.dtype)
        driver, mod = self.julia()
        driver.call_jac(mod, out, y, self.params(params), float(t))
        return out


def emit_function(system: System, context: EmitContext | None = None) -> EmittedFunction:
    """Generate the module of ``system``, store it in the cache (and at ``options.file_name``)
    and return the EmittedFunction; Julia starts only when one of its callables is called."""
    from rates_core.codegen.modules import cache_source

    context = context or EmitContext()
    options = context.options
    emitted = emit_source(system, context)
    path = cache_source(emitted.source, BACKEND, __version__, options, ".jl")
    model = JuliaModel(system, emitted, path)
    extras: dict[str, Any] = {
        "model": model,
        "module_name": emitted.module_name,
        "julia_params": [julia for _, julia, _ in emitted.params],
        "delayed": [d.name for d in system.delayed],
        "defaults": emitted.defaults,
        "options": options,
    }
    if options.standalone:
        extras["files"] = {f"{emitted.module_name}.jl": emitted.source}
    return EmittedFunction(
        backend=BACKEND,
        system=system,
        source=emitted.source,
        rhs=model.rhs,
        rhs_functional=model.rhs_functional,
        jacobian=model.jacobian if emitted.jacobian else None,
        path=path,
        extras=extras,
    )


# --------------------------------------------------------------------------- solving


def solver_kwargs(solver: str, options: Mapping[str, Any]) -> dict[str, Any]:
    """DifferentialEquations.jl keyword arguments from the run's solver options."""
    unknown = sorted(set(options) - SOLVER_OPTIONS)
    if unknown:
        raise SolverError(
            f"solver {solver!r} does not take {', '.join(map(repr, unknown))}; it takes "
            f"{', '.join(sorted(SOLVER_OPTIONS))}"
        )
    kwargs: dict[str, Any] = {}
    for name, alias in (("reltol", "rtol"), ("abstol", "atol")):
        if name in options and alias in options:
            raise SolverError(f"give {name!r} or {alias!r}, not both")
        if name in options or alias in options:
            kwargs[name] = float(options.get(name, options.get(alias)))
    kwargs.setdefault("reltol", ADAPTIVE_RTOL)  # tighter than DifferentialEquations.jl's 1e-3
    kwargs.setdefault("abstol", ADAPTIVE_ATOL)
    for name in ("dtmax", "dtmin", "dt"):
        if name in options:
            kwargs[name] = float(options[name])
    if "maxiters" in options:
        kwargs["maxiters"] = int(options["maxiters"])
    return kwargs


def solve(solver: str, function: EmittedFunction, problem: Problem) -> Trajectory:
    """Integrate ``problem`` with the DifferentialEquations.jl algorithm of ``solver``."""
    import numpy as np

    from rates_julia.runtime import require_julia

    if solver not in SOLVERS:
        raise SolverError(f"unknown julia solver {solver!r}; known: {', '.join(SOLVERS)}")
    require_julia()  # BackendUnavailableError with the install hint
    model = function.extras.get("model")
    if function.backend != BACKEND or not isinstance(model, JuliaModel):
        raise SolverError(
            f"solver {solver!r} runs code of the julia backend, not of {function.backend!r}"
        )
    options = dict(problem.options)
    use_jac = options.pop("jacobian", solver in STIFF_SOLVERS)
    kwargs = solver_kwargs(solver, options)
    use_jac = bool(use_jac) and function.jacobian is not None
    system = function.system

    # inputs: samples on the input time grid, interpolated linearly (constant outside)
    values = list(problem.params)
    kinds = list(model._kinds)
    for i, p in enumerate(system.params):
        if p.role != "input" or p.name not in problem.inputs:
            continue
        rows = np.asarray(problem.inputs[p.name])
        if np.ndim(p.value) == 0 and rows.ndim == 2:
            rows = rows[:, 0]
        times = problem.input_times
        if times is None or len(times) < 2:
            t0, dt = problem.t0, problem.step_size
        else:
            t0, dt = float(times[0]), float(times[1] - times[0])
        values[i] = (t0, dt, np.ascontiguousarray(rows))
        kinds[i] = "sampled"
    t_end = problem.t0 + problem.simulation_time
    saveat = problem.t0 + np.arange(problem.n_samples) * problem.sampling_step
    driver, mod = model.julia()
    p = model.params(values, kinds)
    progress = problem.progress_bar(f"julia {solver}")
    with progress:
        retcode, times, states, final = driver.solve_model(
            mod,
            solver,
            np.ascontiguousarray(problem.y0),
            float(problem.t0),
            float(t_end),
            p,
            saveat,
            delays=bool(system.delayed),
            use_jac=use_jac,
            history=problem.history,
            seed=problem.seed,
            **kwargs,
        )
        progress(t_end)
    retcode = str(retcode)
    if retcode not in _SUCCESS:
        raise SolverError(f"DifferentialEquations.jl ({SOLVERS[solver]}) failed: {retcode}")
    times = np.asarray(times, dtype=float)
    states = np.asarray(states)
    keep = np.searchsorted(times, saveat[-1], side="right") if len(saveat) else 0
    return Trajectory(
        times=times[:keep].copy(),
        states=states[:keep].copy(),
        final=np.asarray(final).copy(),
        info={"solver": solver, "algorithm": SOLVERS[solver], "retcode": retcode},
    )
