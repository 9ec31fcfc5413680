"""Coupling functions of whole-brain networks, as ``Connectivity`` values.

Each coupling function turns a weight matrix ``w`` (row i = target region, column j = source,
TVB's convention too) and optional delays ``d`` into the :class:`~rates_core.Connectivity`
entries that feed ``c_i`` into the target variable of every region:

``LinearCoupling(a, b)``
    ``c_i = a * sum_j w_ij x_j(t - d_ij) + b``.
``SigmoidalCoupling(a, cmin, cmax, midpoint, r)``
    ``c_i = a * sum_j w_ij S(x_j(t - d_ij))`` with
    ``S(x) = cmin + (cmax - cmin) / (1 + exp(r * (midpoint - x)))``: a sigmoid of each source
    before the sum (TVB's ``SigmoidalJansenRit`` form, where ``x`` is the source variable). A
    sigmoid of the summed input (TVB's ``Sigmoidal``) is a function of the target, so it
    belongs in the node's equations, applied to the input that a ``LinearCoupling`` feeds.
``DifferenceCoupling(a)``
    ``c_i = a * sum_j w_ij (x_j(t - d_ij) - x_i(t))`` (diffusive coupling).

The model language sums connections into an input and an edge template reads only its source,
so the target's own value in the difference coupling enters as a second, undelayed, diagonal
connectivity ``-a * diag(sum_j w_ij)``; for this linear coupling that is exact. The constant
``b`` of the linear coupling enters through a diagonal connectivity whose edge template outputs
1, weighted ``b``. The sigmoid is an edge template on every connection (N^2 sigmoids per
evaluation on a dense connectome: for large networks compute ``S`` once per region in the node
and couple it linearly).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import scipy.sparse as sp

from rates_core.errors import ModelError
from rates_core.frontend.population import Connectivity
from rates_core.frontend.templates import EdgeTemplate, OperatorTemplate
from rates_core.frontend.variables import parse_declaration


@dataclass(frozen=True)
class Coupling:
    """Base of the coupling functions: checks that every parameter is a finite real number."""

    def __post_init__(self) -> None:
        for item in fields(self):
            value = getattr(self, item.name)
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float, np.integer, np.floating))
                or not np.isfinite(value)
            ):
                raise ModelError(
                    f"{type(self).__name__} parameter {item.name} must be a finite real "
                    f"number, not {value!r}"
                )
            object.__setattr__(self, item.name, float(value))

    def connectivities(
        self, source: str, target: str, weights: np.ndarray, delays: np.ndarray | None = None
    ) -> list[Connectivity]:
        """The connectivities feeding ``c_i`` from ``source`` into ``target`` (paths of a
        circuit, as for ``Connectivity``) for ``weights`` (targets x sources) and ``delays``
        (same shape, model time units; None for none)."""
        raise NotImplementedError


@dataclass(frozen=True)
class LinearCoupling(Coupling):
    """``c_i = a * sum_j w_ij x_j(t - d_ij) + b`` (TVB's ``Linear``)."""

    a: float = 1.0
    b: float = 0.0

    def connectivities(
        self, source: str, target: str, weights: np.ndarray, delays: np.ndarray | None = None
    ) -> list[Connectivity]:
        out = [Connectivity(source, target, self.a * np.asarray(weights), delays=delays)]
        if self.b != 0.0:
            n = np.shape(weights)[0]
            offset = sp.identity(n, format="csr") * self.b
            out.append(Connectivity(source, target, offset, edge=_constant_edge()))
        return out


@dataclass(frozen=True)
class SigmoidalCoupling(Coupling):
    """``c_i = a * sum_j w_ij S(x_j(t - d_ij))``,
    ``S(x) = cmin + (cmax - cmin) / (1 + exp(r * (midpoint - x)))`` (a sigmoid of each source
    before the sum, TVB's ``SigmoidalJansenRit`` form)."""

    a: float = 1.0
    cmin: float = 0.0
    cmax: float = 1.0
    midpoint: float = 0.0
    r: float = 1.0

    def connectivities(
        self, source: str, target: str, weights: np.ndarray, delays: np.ndarray | None = None
    ) -> list[Connectivity]:
        edge = _edge(
            "sigmoid_coupling",
            "sigmoid_op",
            "sig_out = cmin + (cmax - cmin) / (1.0 + exp(r*(midpoint - sig_in)))",
            {
                "sig_out": "output(0.0)",
                "sig_in": "input(0.0)",
                "cmin": self.cmin,
                "cmax": self.cmax,
                "midpoint": self.midpoint,
                "r": self.r,
            },
        )
        return [
            Connectivity(source, target, self.a * np.asarray(weights), edge=edge, delays=delays)
        ]


@dataclass(frozen=True)
class DifferenceCoupling(Coupling):
    """``c_i = a * sum_j w_ij (x_j(t - d_ij) - x_i(t))`` (TVB's ``Difference``): the weights
    with their delays plus the undelayed diagonal ``-a * diag(sum_j w_ij)``, exact for this
    linear coupling. Source and target are the same regions (a square ``weights``)."""

    a: float = 1.0

    def connectivities(
        self, source: str, target: str, weights: np.ndarray, delays: np.ndarray | None = None
    ) -> list[Connectivity]:
        w = np.asarray(weights)
        if w.ndim != 2 or w.shape[0] != w.shape[1]:
            raise ModelError(
                f"difference coupling needs square weights (the same regions on both sides), "
                f"got shape {w.shape}",
                variable=f"{source} -> {target}",
            )
        out = [Connectivity(source, target, self.a * w, delays=delays)]
        own = -self.a * w.sum(axis=1)
        if np.any(own != 0.0):
            out.append(Connectivity(source, target, sp.diags(own, format="csr")))
        return out


def _edge(name: str, op_name: str, equation: str, variables: dict[str, Any]) -> EdgeTemplate:
    """An edge template of one operator with one equation."""
    declared = {key: parse_declaration(value) for key, value in variables.items()}
    op = OperatorTemplate(op_name, (equation,), declared)
    return EdgeTemplate(name, operators={op_name: op})


def _constant_edge() -> EdgeTemplate:
    """An edge template whose output is 1 (its input is connected and unused)."""
    return _edge(
        "constant_coupling",
        "constant_op",
        "one_out = one",
        {"one_out": "output(0.0)", "one_in": "input(0.0)", "one": 1.0},
    )


def check_coupling(coupling: Any) -> Coupling:
    """``coupling``, or a ModelError when it is not one of the coupling functions."""
    if not isinstance(coupling, Coupling):
        raise ModelError(
            "coupling must be a LinearCoupling, SigmoidalCoupling or DifferenceCoupling, "
            f"not {coupling!r}"
        )
    return coupling
