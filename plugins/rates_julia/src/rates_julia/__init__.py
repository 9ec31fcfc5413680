"""rates-julia: the Julia backend of rates (code for DifferentialEquations.jl).

The hooks live in :mod:`rates_julia.plugin` (the target of the ``rates`` entry point); the code
generator in :mod:`rates_julia.emit`, the printer in :mod:`rates_julia.printer`, the Julia runtime
(juliacall, started only when a model runs) in :mod:`rates_julia.runtime` and the solvers in
:mod:`rates_julia.solvers`. Importing this package imports neither sympy nor juliacall.
"""

__version__ = "0.1.0"

#: The backend name this plugin owns.
BACKEND = "julia"

#: Solver name -> DifferentialEquations.jl algorithm (all adaptive). Systems with delays run
#: with ``MethodOfSteps(<algorithm>())`` (DelayDiffEq).
SOLVERS: dict[str, str] = {
    "tsit5": "Tsit5",
    "vern7": "Vern7",
    "vern9": "Vern9",
    "dp5": "DP5",
    "dp8": "DP8",
    "bs3": "BS3",
    "rodas5": "Rodas5",
    "rosenbrock23": "Rosenbrock23",
    "autotsit5": "AutoTsit5(Rosenbrock23())",
}

#: Solvers whose algorithm is implicit / stiff (they use the generated Jacobian ``jac!``).
STIFF_SOLVERS = frozenset({"rodas5", "rosenbrock23", "autotsit5"})
