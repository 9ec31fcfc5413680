"""rates-matlab: the ``matlab`` backend of rates.

Generates MATLAB ``.m`` files (vector field, Jacobian, fixed-step and adaptive drivers, DDE
wrappers for ``dde23`` and DDE-BIFTOOL) that are valid in MATLAB and GNU Octave, and runs them
in MATLAB through ``matlab.engine`` or in GNU Octave through ``oct2py``. The whole integration
runs inside MATLAB / Octave, one call per run.
"""

from __future__ import annotations

__version__ = "0.1.0"

#: The backend name.
BACKEND = "matlab"
#: Fixed-step solvers, generated as whole-run MATLAB loops (delays included). Solver names are
#: global in rates (rates-numpy owns ``euler``, ``heun``, ``rk4``), hence the prefix.
FIXED_SOLVERS = ("matlab_euler", "matlab_heun", "matlab_rk4")
#: The method of each fixed-step solver (the METHOD argument of ``<field>_fixed.m``).
FIXED_METHODS = {"matlab_euler": "euler", "matlab_heun": "heun", "matlab_rk4": "rk4"}
#: Adaptive solvers of MATLAB / Octave that the backend drives (when the runtime has them).
ADAPTIVE_SOLVERS = ("ode45", "ode23", "ode15s")
#: The delay solver of MATLAB (not in GNU Octave's core).
DDE_SOLVER = "dde23"
#: What to install to execute generated code.
INSTALL_HINT = (
    "the matlab backend runs its code in MATLAB or GNU Octave: install GNU Octave "
    "(`apt-get install octave`, `brew install octave`, https://octave.org/download) and "
    "`pip install oct2py` (or `pip install rates-matlab[octave]`), or install MATLAB's "
    "engine for Python (`pip install matlabengine` matching your MATLAB release)"
)

__all__ = [
    "ADAPTIVE_SOLVERS",
    "BACKEND",
    "DDE_SOLVER",
    "FIXED_METHODS",
    "FIXED_SOLVERS",
    "INSTALL_HINT",
    "__version__",
]
