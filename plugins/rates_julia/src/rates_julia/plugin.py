"""Hook implementations of rates-julia (the target of its ``rates`` entry point).

Code generation always works. Running models needs juliacall and a Julia with
DifferentialEquations.jl: only then does the backend declare ``execute`` (and ``adaptive``,
``dde``, ``jacobian``); the probe (:func:`rates_julia.runtime.julia_status`) imports nothing and
runs a short ``julia`` subprocess only where juliacall and a ``julia`` executable exist.
juliacall itself is imported only when a model runs.
"""

from __future__ import annotations

from rates_core.plugins import BackendInfo, SolverInfo, backend_hooks, hookimpl, solver_family
from rates_julia import BACKEND, SOLVERS, STIFF_SOLVERS

#: Capabilities of the generated code, whether or not Julia is here.
CODE_CAPABILITIES = frozenset({"complex", "vectorised"})
#: Capabilities declared only when Julia with DifferentialEquations.jl starts here.
RUN_CAPABILITIES = frozenset({"execute", "adaptive", "dde", "jacobian"})

_DESCRIPTIONS = {
    "tsit5": "Tsitouras 5(4) (DifferentialEquations.jl Tsit5), a good default",
    "vern7": "Verner 7(6) (Vern7), for tight tolerances",
    "vern9": "Verner 9(8) (Vern9), for very tight tolerances",
    "dp5": "Dormand-Prince 5(4) (DP5, like SciPy's RK45)",
    "dp8": "Dormand-Prince 8(5,3) (DP8, like SciPy's DOP853)",
    "bs3": "Bogacki-Shampine 3(2) (BS3, like SciPy's RK23)",
    "rodas5": "Rosenbrock 5(4) for stiff systems (Rodas5), uses the generated jac!",
    "rosenbrock23": "Rosenbrock 2(3) for stiff systems (Rosenbrock23), uses the generated jac!",
    "autotsit5": "Tsit5 switching to Rosenbrock23 when stiff (AutoTsit5(Rosenbrock23()))",
}


def _available() -> bool:
    from rates_julia.runtime import julia_status

    return julia_status().available


@hookimpl
def register_backends() -> list[BackendInfo]:
    available = _available()
    caps = CODE_CAPABILITIES | (RUN_CAPABILITIES if available else frozenset())
    note = "" if available else " (code generation only here: Julia not found, see README)"
    return [
        BackendInfo(
            BACKEND,
            caps,
            "Julia code for DifferentialEquations.jl, run through juliacall" + note,
            runtime_modules=("juliacall",),
        )
    ]


@hookimpl
def register_solvers() -> list[SolverInfo]:
    caps = {"adaptive", "dde", "complex"} if _available() else set()
    texts = {name: _DESCRIPTIONS[name] + "; MethodOfSteps for delays" for name in SOLVERS}
    nonstiff = {name: text for name, text in texts.items() if name not in STIFF_SOLVERS}
    stiff = {name: text for name, text in texts.items() if name in STIFF_SOLVERS}
    stiff_caps = caps | {"jacobian"} if caps else caps  # the generated jac!
    return solver_family(BACKEND, nonstiff, adaptive=True, capabilities=caps) + solver_family(
        BACKEND, stiff, adaptive=True, capabilities=stiff_caps
    )


#: ``emit_function`` and ``solve``, called on this plugin only (for its backend and solvers)
emit_function, solve = backend_hooks(
    "rates_julia.solvers:emit_function", "rates_julia.solvers:solve"
)
