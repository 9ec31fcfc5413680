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
    # Octave is slow and nox runs this class twice (Octave and the engine stand-in): a few
    # generated models in CI, more in `nox -s fuzz`
    generated_examples = 3
