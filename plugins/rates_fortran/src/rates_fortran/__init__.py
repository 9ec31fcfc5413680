"""rates-fortran: the Fortran backend of rates.

Vector fields, Jacobians and whole integrations (``fortran_euler``, ``fortran_heun``,
``fortran_rk4``, adaptive ``fortran_dopri5``) generated as one Fortran 2008 module per model,
compiled with gfortran into the content-addressed cache of :mod:`rates_core.cache` and called
through ``bind(c)`` + ctypes; :mod:`rates_fortran.auto` writes Auto-07p equation and constants
files and runs continuations. Nothing heavy is imported here.
"""

from __future__ import annotations

__version__ = "0.1.0"

#: The backend name.
BACKEND = "fortran"
#: Fixed-step solvers (method name -> solver name); the whole loop runs in Fortran.
FIXED_SOLVERS = {"euler": "fortran_euler", "heun": "fortran_heun", "rk4": "fortran_rk4"}
#: The adaptive Dormand-Prince 5(4) solver.
ADAPTIVE_SOLVER = "fortran_dopri5"
#: Every solver of the plugin.
SOLVERS = (*FIXED_SOLVERS.values(), ADAPTIVE_SOLVER)

__all__ = ["ADAPTIVE_SOLVER", "BACKEND", "FIXED_SOLVERS", "SOLVERS", "__version__"]
