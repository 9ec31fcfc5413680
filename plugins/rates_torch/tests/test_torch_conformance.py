"""rates-torch against the conformance suite of rates_core.testing (every declared capability),
including the model-library test of ``rates_core.testing.conformance_tests``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

import rates_core.testing.conformance_tests as conformance


def torch_vjp(func: Any, args: tuple, which: Sequence[int], cotangent: Any) -> list[np.ndarray]:
    """Gradients of sum(cotangent * func(*args)) with respect to args[i], i in which, by
    torch.autograd (the suite's hook for backends declaring ``autodiff``)."""
    import torch

    values = list(args)
    leaves = {}
    for i in which:
        leaves[i] = torch.tensor(np.asarray(values[i], dtype=float), requires_grad=True)
        values[i] = leaves[i]
    out = func(*values)
    (out.reshape(-1) * torch.as_tensor(np.asarray(cotangent), dtype=out.dtype)).sum().backward()
    return [leaves[i].grad.numpy() for i in which]


class TestTorchConformance(conformance.TestConformance):
    backend = "torch"
    vjp = staticmethod(torch_vjp)
    # unvectorised torch runs of large generated models are slow: a few in CI, more in
    # `nox -s fuzz`
    generated_examples = 4
