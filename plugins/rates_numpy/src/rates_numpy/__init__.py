"""rates-numpy: the NumPy backend of rates, with fixed-step and SciPy solvers.

The hooks live in :mod:`rates_numpy.plugin` (the target of the ``rates`` entry point); the code
generator in :mod:`rates_numpy.emit`, the printers in :mod:`rates_numpy.printer` and the solvers in
:mod:`rates_numpy.solvers`. Importing this package imports neither NumPy nor sympy.
"""

__version__ = "0.1.0"

#: The backend name this plugin owns.
BACKEND = "numpy"
#: Fixed-step solvers (all stages of a step see the input row of that step).
FIXED_SOLVERS = ("euler", "heun", "rk4")
#: SDE solvers for models with white noise xi() (:mod:`rates_numpy.sde`).
SDE_SOLVERS = ("euler_maruyama", "heun_stochastic")
#: The adaptive solver: scipy.integrate.solve_ivp.
SCIPY_SOLVER = "scipy"
