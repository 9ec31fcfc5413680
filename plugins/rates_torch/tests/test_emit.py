"""The generated torch source: readable, torch only, dtypes, and a field that calls torch only."""

from __future__ import annotations

import sys
from types import ModuleType

import numpy as np
import torch

from rates_core.testing import references as ref


def _source(circuit, tmp_path, **kw):
    path = tmp_path / "field.py"
    func, args, keys, idx = circuit.get_run_func(
        "vector_field", 1e-3, backend="torch", file_name=str(path), **kw
    )
    return path.read_text(), func, args


def test_source_is_readable_torch(tmp_path):
    text, _, _ = _source(ref.van_der_pol_circuit(), tmp_path)
    assert "import torch" in text
    assert "numpy" not in text and "np." not in text
    assert "def vector_field_equations(t, y" in text
    assert "# d/dt x" in text  # one line per state, named after it


def test_field_calls_torch_only(tmp_path):
    """Evaluated with tensors, the in-place field calls nothing outside torch and itself."""
    import importlib.util

    _, _, args = _source(ref.jansen_rit_circuit(), tmp_path)
    spec = importlib.util.spec_from_file_location("torch_field_under_test", tmp_path / "field.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    func = module.vector_field
    y = torch.as_tensor(np.asarray(args[1], dtype=float) + 1e-3)
    dy = torch.zeros_like(y)
    params = args[3:]
    seen: set[str] = set()

    def profiler(frame, event, arg):
        if event == "call":
            seen.add(frame.f_globals.get("__name__", ""))
        elif event == "c_call":
            owner = getattr(arg, "__module__", None)
            bound = getattr(arg, "__self__", None)
            if not owner and bound is not None:
                owner = bound.__name__ if isinstance(bound, ModuleType) else type(bound).__module__
            seen.add(owner or "")

    sys.setprofile(profiler)
    try:
        func(0.1, y, dy, *params)
    finally:
        sys.setprofile(None)
    bad = {m for m in seen if m.split(".")[0] in ("numpy", "scipy", "rates_numpy")}
    assert not bad, bad


def test_float32_and_complex_dtypes():
    f32 = ref.harmonic_circuit().run(
        1.0, 1e-2, backend="torch", solver="torch_rk4", float_precision="float32"
    )
    assert all(f32[c].dtype == np.float32 for c in f32.columns)
    sl = ref.stuart_landau_circuit().run(0.5, 1e-2, backend="torch", solver="torch_rk4")
    assert np.iscomplexobj(sl.to_numpy())


def test_nan_prints_as_a_python_float():
    """sympy's ``nan`` is ``nan + nan*j`` as a complex: it printed as ``(nan+nanj)``, a name
    error in the generated module."""
    import sympy

    from rates_torch.printer import TorchPrinter

    printer = TorchPrinter()
    assert printer.doprint(sympy.nan) == 'float("nan")'
    assert printer.doprint(sympy.Float("nan")) == 'float("nan")'
    assert printer.doprint(1 + 2 * sympy.I) == "((1+2j))"
