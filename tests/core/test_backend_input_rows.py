"""``rates_core.backend.input_rows``: the one reading of input rows every backend shares."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from rates_core.backend import input_parameter, input_rows
from rates_core.errors import SolverError

SYSTEM = SimpleNamespace(inputs=[SimpleNamespace(name="I", units=[0, 2])])


def test_full_rows_broadcast_rows_and_rows_per_driven_unit():
    full = input_rows(SYSTEM, "I", np.arange(6.0).reshape(2, 3), (3,))
    assert full.shape == (2, 3) and full[1, 2] == 5.0
    one = input_rows(SYSTEM, "I", [1.0, 2.0], (3,))
    np.testing.assert_array_equal(one, [[1.0, 1.0, 1.0], [2.0, 2.0, 2.0]])
    units = input_rows(SYSTEM, "I", [[1.0, 2.0]], (3,))
    np.testing.assert_array_equal(units, [[1.0, 0.0, 2.0]])
    scalar = input_rows(SYSTEM, "J", 4.0, ())
    assert scalar.shape == (1,) and scalar[0] == 4.0


def test_input_parameter_is_its_series_or_its_value_as_one_row():
    param = SimpleNamespace(name="I")
    arr, rows = input_parameter(SYSTEM, param, [0.5, 0.0, 1], {"I": [[1.0, 2.0], [3.0, 4.0]]})
    assert arr.dtype == np.float64 and arr.shape == (3,)
    np.testing.assert_array_equal(rows, [[1.0, 0.0, 2.0], [3.0, 0.0, 4.0]])
    arr, rows = input_parameter(SYSTEM, param, 2, {})
    assert arr.dtype == np.float64 and rows.shape == (1,) and rows[0] == 2.0
    arr, rows = input_parameter(SYSTEM, param, [1j, 0, 0], {})
    assert arr.dtype == np.complex128 and rows.shape == (1, 3)


def test_wrong_width_names_the_input_and_both_accepted_widths():
    with pytest.raises(
        SolverError,
        match=r"input 'I': rows have 4 values, the parameter needs 3 \(or 2, one per driven unit\)",
    ):
        input_rows(SYSTEM, "I", np.zeros((5, 4)), (3,))
    with pytest.raises(SolverError, match=r"input 'J': rows have 4 values, the parameter needs 3$"):
        input_rows(SYSTEM, "J", np.zeros((5, 4)), (3,))


def test_sample_grid_of_a_problem():
    from rates_core.backend import Problem

    ok = Problem(np.zeros(1), [], 1.0, 2.0, 0.1, 0.5, 5)
    t_end, times = ok.sample_grid()
    assert t_end == 3.0
    np.testing.assert_allclose(times, [1.0, 1.5, 2.0, 2.5, 3.0], rtol=0, atol=1e-12)
    with pytest.raises(SolverError, match="6 samples every 0.5 go beyond the end time 3.0"):
        Problem(np.zeros(1), [], 1.0, 2.0, 0.1, 0.5, 6).sample_grid()


def test_progress_chunk_ends():
    import io

    from rates_core.backend import PROGRESS_CHUNKS, Progress

    assert Progress(None).chunk_ends(1000) == [1000]
    pytest.importorskip("tqdm")  # a bar needs it (the core session has none)
    with Progress(1.0, file=io.StringIO()) as bar:
        ends = bar.chunk_ends(1000)
        assert len(ends) == PROGRESS_CHUNKS and ends[-1] == 1000 and ends == sorted(set(ends))
        assert bar.chunk_ends(3) == [1, 2, 3] and bar.chunk_ends(1) == [1]
