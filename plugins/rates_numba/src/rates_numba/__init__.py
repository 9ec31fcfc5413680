"""rates-numba: the numba backend of rates.

Each System becomes one generated Python module whose vector field and whole-run loops
(fixed-step ``euler``, ``heun``, ``rk4`` with delays; adaptive ``dopri5``) are compiled by
numba (``njit(cache=True)``); a model with white noise also gets the loop of its SDE method
(``euler_maruyama``, ``heun_stochastic``; :mod:`rates_numba.sde`). The module lives in
rates's content-addressed cache, so numba's on-disk cache of its compiled functions sits next
to it and is keyed by the same content hash.
"""

__version__ = "0.1.0"

#: The backend this plugin owns.
BACKEND = "numba"
#: Fixed-step methods (whole runs compiled, delays supported).
FIXED_METHODS = ("euler", "heun", "rk4")
#: The adaptive method (Dormand-Prince 5(4), whole runs compiled; no delays).
ADAPTIVE_METHOD = "dopri5"
#: The SDE solvers (white noise ``xi()``; fixed step, no delays).
SDE_SOLVERS = (f"{BACKEND}_euler_maruyama", f"{BACKEND}_heun_stochastic")
#: Every solver's full name (``numba_<method>``), fixed-step first.
SOLVERS = (*(f"{BACKEND}_{m}" for m in (*FIXED_METHODS, ADAPTIVE_METHOD)), *SDE_SOLVERS)
