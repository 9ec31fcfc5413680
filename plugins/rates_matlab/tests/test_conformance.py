"""rates-matlab against the conformance suite of rates_core.testing (every declared
capability), run on the installed runtime (GNU Octave in CI), including the model-library test
of ``rates_core.testing.conformance_tests``.

One Octave session serves the whole run (it is started on first use and shared by every model).
"""

from __future__ import annotations

import rates_core.testing.conformance_tests as conformance


class TestMatlabConformance(conformance.TestConformance):
    backend = "matlab"
    source_language = "other"
    source_suffix = ".m"
    known_failures: dict[str, list[str]] = {
        # GNU Octave's ode15s is SUNDIALS IDA: at the suite's rtol 1e-10 it stops with
        # "IDASolve failed" on these problems, and at rtol 1e-9 its error exceeds the adaptive
        # tier (2.8e-8 on the harmonic oscillator); MATLAB's ode15s is not affected.
        "Octave's ode15s cannot reach rtol 1e-10 (IDASolve failed)": [
            "test_van_der_pol[ode15s]",
            "test_jansen_rit[ode15s]",
            "test_initial_state_last[ode15s]",
            "test_edge_template[ode15s]",
        ],
    }
