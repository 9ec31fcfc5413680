"""history="zero" (PyRates's pre-history) reaches the compiled Fortran loops through the shared
Problem.history: a delayed Van der Pol pair gives PyRates 1.2.3's numbers (issue 21)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from rates_core import CircuitTemplate

#: PyRates 1.2.3, the model below, euler with step 1e-3: x1 at t = 1, 2, 5, 9
PYRATES_VDP_X1 = [1.299119700292671, 0.7349118511284153, -1.320890627748977, 1.3424248525699394]


@pytest.mark.skipif(shutil.which("gfortran") is None, reason="needs gfortran")
def test_history_zero_on_fortran_gives_pyrates_numbers() -> None:
    c = CircuitTemplate.from_yaml("rates_core.models.vanderpol.vdp_coupled")
    c = c.update_var(
        node_vars={"all/vdp_op/x": 1.0},
        edge_vars=[
            ("p1/vdp_op/x", "p2/vdp_op/inp", {"delay": 1.0}),
            ("p2/vdp_op/x", "p1/vdp_op/inp", {"delay": 1.0}),
        ],
    )
    frame = c.run(10.0, 1e-3, outputs={"x1": "p1/vdp_op/x"}, backend="fortran", history="zero")
    x1 = frame["x1"].to_numpy()[[1000, 2000, 5000, 9000]]
    np.testing.assert_allclose(x1, PYRATES_VDP_X1, rtol=0, atol=1e-12)
