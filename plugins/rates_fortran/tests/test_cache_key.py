"""The structural key: a repeated run finds its compiled module without printing it again, and
never serves the module of a different model."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from rates_core.backend import EmitOptions
from rates_core.plugins import default_host
from rates_core.system import build_system
from rates_core.testing import references as ref

pytestmark = pytest.mark.skipif(shutil.which("gfortran") is None, reason="needs gfortran")


def _emit(system):
    return default_host().emit_function("fortran", system, EmitOptions())


def _no_printing(monkeypatch):
    import rates_fortran.emit as emit

    def refuse(*args, **kwargs):
        raise AssertionError("the module was printed again")

    monkeypatch.setattr(emit, "emit_source", refuse)


def test_second_emit_skips_printing_and_the_compiler(monkeypatch):
    circuit = ref.jansen_rit_circuit()
    first = _emit(build_system(circuit, vectorize=False))
    _no_printing(monkeypatch)
    import rates_fortran.build as build

    monkeypatch.setattr(build, "compiler_version", lambda *a: pytest.fail("compiler called"))
    # new parameter values, same structure: the same library
    changed = circuit.update_var(node_vars={"pc/rate_out/v_thr": 7e-3})
    second = _emit(build_system(changed, vectorize=False))
    assert second.extras["library"] == first.extras["library"]
    assert second.source == first.source and second.jacobian is not None
    # and the cached module computes with the new value
    frame = changed.run(0.2, 1e-4, backend="fortran", solver="fortran_euler")
    assert np.all(np.isfinite(frame.to_numpy()))


def test_key_separates_structure_and_baked_matrices():
    from rates_core import builtins
    from rates_fortran.build import compiler_identity
    from rates_fortran.emit import _jacobian_possible
    from rates_fortran.key import structural_key

    host = default_host()
    funcs = builtins.function_table(host.builtins("fortran"))

    def key(circuit):
        s = build_system(circuit, vectorize=True, functions=funcs)
        return structural_key(
            s, EmitOptions(), host.builtins("fortran"), [], compiler_identity(),
            _jacobian_possible(s),
        )  # fmt: skip

    from rates_core.testing.suite import _dense_weights

    labels, _, nodes = ref.rate_network_nodes(6)
    w = _dense_weights(6)
    a = nodes.add_edges_from_matrix("op/r", "op/r_in", labels, weight=w)
    same = nodes.add_edges_from_matrix("op/r", "op/r_in", labels, weight=w.copy())
    other_w = nodes.add_edges_from_matrix("op/r", "op/r_in", labels, weight=2 * w)
    assert key(a) == key(same)
    # the symbolic Jacobian of this small network bakes the matrix in: another key
    assert key(a) != key(other_w)
    # another equation: another key
    assert key(ref.jansen_rit_circuit()) != key(a)
    # another precision: another key (float64 only, but the key still tells them apart)
    s = build_system(a, vectorize=True, functions=funcs)
    k1 = structural_key(s, EmitOptions(), {}, [], "x", False)
    k2 = structural_key(s, EmitOptions(float_precision="float32"), {}, [], "x", False)
    k3 = structural_key(s, EmitOptions(), {}, [], "other compiler", False)
    assert len({k1, k2, k3}) == 3


def test_stale_index_is_ignored(monkeypatch):
    """An index whose library was deleted is a miss (printed and compiled again)."""
    circuit = ref.decay_circuit()
    first = _emit(build_system(circuit, vectorize=False))
    first.extras["library"].unlink()
    second = _emit(build_system(circuit, vectorize=False))
    assert second.extras["library"].is_file()


def test_key_of_a_noise_model_counts_its_units():
    """randn() draws one sample per unit: the key of a noise population exists (it once failed
    on an import, so every noise model was printed again) and tells 3 units from 4."""
    from rates_fortran.key import structural_key

    def key(n):
        s = build_system(ref.noise_population(n), vectorize=True)
        return structural_key(s, EmitOptions(), {}, [], "x", False)

    assert key(3) == key(3)
    assert key(3) != key(4)


def test_default_flags_and_override_are_part_of_the_keys(monkeypatch):
    """-O3 -freciprocal-math by default (as rates-numba's ``arcp``); RATES_FORTRAN_FLAGS
    replaces them, and a library built with other flags is another cache entry."""
    from rates_fortran.build import _flags, compile_library, compiler_identity

    source = "module flags_probe\nimplicit none\nend module flags_probe\n"
    monkeypatch.delenv("RATES_FORTRAN_FLAGS", raising=False)
    assert _flags()[-2:] == ["-O3", "-freciprocal-math"]
    default_identity, (default_src, _) = compiler_identity(), compile_library(source)
    monkeypatch.setenv("RATES_FORTRAN_FLAGS", "-O2")
    assert "-freciprocal-math" not in _flags() and _flags()[-1] == "-O2"
    assert compiler_identity() != default_identity
    assert compile_library(source)[0] != default_src
