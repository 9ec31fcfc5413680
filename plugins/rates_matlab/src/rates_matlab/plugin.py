"""Hook implementations of rates-matlab (the target of its ``rates`` entry point).

Nothing here starts MATLAB or Octave: ``execute`` is declared when a runtime is installed
(``matlab.engine`` imports, or ``octave`` is on the PATH and ``oct2py`` imports), which is
checked without starting it. numpy, sympy and the runtime packages are imported inside the
hook bodies.
"""

from __future__ import annotations

from rates_core.plugins import BackendInfo, SolverInfo, backend_hooks, hookimpl, solver_family
from rates_matlab import ADAPTIVE_SOLVERS, BACKEND, DDE_SOLVER, FIXED_SOLVERS

#: Capabilities of the backend that do not depend on the runtime being present.
STATIC_CAPABILITIES = frozenset({"adaptive", "complex", "vectorised", "jacobian"})

_DESCRIPTIONS = {
    "matlab_euler": "explicit Euler, a generated MATLAB loop (fixed step; delays)",
    "matlab_heun": "Heun's method, a generated MATLAB loop (fixed step, order 2; delays)",
    "matlab_rk4": "classic Runge-Kutta, a generated MATLAB loop (fixed step, order 4; delays)",
    "ode45": "MATLAB/Octave ode45 (Dormand-Prince 4(5), adaptive)",
    "ode23": "MATLAB/Octave ode23 (Bogacki-Shampine 2(3), adaptive)",
    "ode15s": "MATLAB/Octave ode15s (variable-order BDF for stiff systems, symbolic Jacobian)",
    "dde23": "MATLAB dde23 (adaptive, delay equations; not in GNU Octave)",
}


def _runtime() -> str | None:
    from rates_matlab.runtime import available_runtime

    return available_runtime()


@hookimpl
def register_backends() -> list[BackendInfo]:
    runtime = _runtime()
    capabilities = set(STATIC_CAPABILITIES)
    if runtime is not None:
        capabilities.add("execute")
    where = {"matlab": "MATLAB (matlab.engine)", "octave": "GNU Octave (oct2py)"}.get(
        runtime or "", "no runtime found: code generation only"
    )
    return [
        BackendInfo(
            BACKEND,
            frozenset(capabilities),
            f"Generated MATLAB .m files, run in MATLAB or GNU Octave ({where}).",
            runtime_modules=("matlab", "oct2py"),
        )
    ]


@hookimpl
def register_solvers() -> list[SolverInfo]:
    fixed = {name: _DESCRIPTIONS[name] for name in FIXED_SOLVERS}
    adaptive = {name: _DESCRIPTIONS[name] for name in ADAPTIVE_SOLVERS}
    solvers = solver_family(BACKEND, fixed, adaptive=False, capabilities={"dde", "grid_delays"})
    solvers += solver_family(BACKEND, adaptive, adaptive=True)
    if _runtime() == "matlab":  # GNU Octave's core has no dde23
        dde23 = {DDE_SOLVER: _DESCRIPTIONS[DDE_SOLVER]}
        solvers += solver_family(BACKEND, dde23, adaptive=True, capabilities={"dde"})
    return solvers


#: ``emit_function`` and ``solve``, called on this plugin only (for its backend and solvers)
emit_function, solve = backend_hooks(
    "rates_matlab.emit:emit_function", "rates_matlab.solvers:solve"
)
