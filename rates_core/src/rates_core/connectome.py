"""Connectomes: structural connectivity of N brain regions, and the network it makes.

A :class:`Connectome` holds TVB's quantities: ``weights`` (N x N, row i = target region,
column j = source, TVB's convention), ``tract_lengths`` (N x N, mm), ``centres`` (N x 3, mm),
``region_labels`` and the optional per-region ``hemispheres`` (True = right), ``cortical`` and
``areas``. It is made from arrays, loaded from TVB's zip or a folder of its text files
(:func:`load_connectome`, read as untrusted data: see :mod:`rates_core.connectome_io`), or
taken from the small synthetic example shipped with rates (:meth:`Connectome.example`).

Helpers: :meth:`Connectome.delays` (tract length / conduction speed), :meth:`Connectome.normalised`
(TVB's "tract" and "region" scalings) and :meth:`Connectome.connectivity` /
:meth:`Connectome.circuit`, which couple N units of one node template through a coupling
function of :mod:`rates_core.coupling`::

    brain = Connectome.example().circuit(node, "osc/x", "osc/c", speed=3.0,
                                         coupling=LinearCoupling(a=0.1))
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any, NoReturn

import numpy as np

from rates_core.coupling import Coupling, LinearCoupling, check_coupling
from rates_core.errors import ModelError
from rates_core.frontend.names import MAX_NAME_LENGTH, check_name, is_valid_name
from rates_core.frontend.population import Connectivity, PopulationTemplate
from rates_core.frontend.templates import CircuitTemplate, NodeTemplate
from rates_core.frontend.variables import MAX_ELEMENTS

#: Time units a delay can be expressed in: tract lengths in mm over a speed in mm/ms give ms.
TIME_UNITS = {"ms": 1.0, "s": 1e-3}
#: TVB's weight scalings (and their aliases there): the divisor of every weight.
NORMALISATIONS = ("tract", "edge", "region", "node", "none")
EXAMPLE = "example_16.zip"
#: Per-region quantities of a connectome file and the member each comes from.
_PER_REGION_MEMBERS = (
    ("region_labels", "centres"),
    ("tract_lengths", "tract_lengths"),
    ("hemispheres", "hemispheres"),
    ("cortical", "cortical"),
    ("areas", "areas"),
)


def _readonly(value: Any, dtype: Any) -> np.ndarray:
    out = np.array(value, dtype=dtype)
    out.flags.writeable = False
    return out


@dataclass(frozen=True, eq=False)
class Connectome:
    """Structural connectivity of N regions (see the module docstring for the quantities).

    ``tract_lengths`` default to the Euclidean distances between ``centres`` (TVB's proxy)
    when centres are given; ``region_labels`` default to ``region_0 .. region_{N-1}``. Labels
    are kept as given (printable text, unique, at most 128 characters); :attr:`names` are
    safe model names made from them (other characters become ``_``). ``file`` names where the
    values came from in error messages.
    """

    weights: Any
    tract_lengths: Any = None
    centres: Any = None
    region_labels: Sequence[str] | None = None
    hemispheres: Any = None
    cortical: Any = None
    areas: Any = None
    file: str = ""

    def __post_init__(self) -> None:
        weights = self._square("weights", self.weights)
        n = weights.shape[0]
        set_ = object.__setattr__
        set_(self, "weights", weights)
        if self.centres is not None:
            centres = self._finite("centres", self.centres)
            if centres.shape != (n, 3):
                self._fail(f"centres have shape {centres.shape}, expected ({n}, 3)", "centres")
            set_(self, "centres", _readonly(centres, float))
        if self.tract_lengths is not None:
            lengths = self._square("tract_lengths", self.tract_lengths)
            if lengths.shape != (n, n):
                self._fail(
                    f"tract_lengths have shape {lengths.shape}, the weights {(n, n)}",
                    "tract_lengths",
                )
            set_(self, "tract_lengths", lengths)
        elif self.centres is not None:
            diff = self.centres[:, None, :] - self.centres[None, :, :]
            set_(self, "tract_lengths", _readonly(np.sqrt((diff**2).sum(axis=2)), float))
        set_(self, "region_labels", self._labels(n))
        for name, dtype in (("hemispheres", bool), ("cortical", bool), ("areas", float)):
            value = getattr(self, name)
            if value is not None:
                set_(self, name, self._per_region(name, value, n, dtype))

    # ------------------------------------------------------------------ checks

    def _fail(self, message: str, what: str) -> NoReturn:
        raise ModelError(message, file=self.file or None, variable=what)

    def _finite(self, what: str, value: Any) -> np.ndarray:
        if hasattr(value, "toarray") and hasattr(value, "nnz"):  # scipy.sparse
            if int(np.prod(value.shape)) > MAX_ELEMENTS:
                self._fail(
                    f"{what} have shape {value.shape} (at most {MAX_ELEMENTS} entries)", what
                )
            value = value.toarray()
        arr = np.asarray(value)
        if arr.dtype.kind not in "biuf":
            self._fail(f"{what} must be real numbers, got dtype {arr.dtype}", what)
        arr = arr.astype(float)
        if not np.isfinite(arr).all():
            bad = np.argwhere(~np.isfinite(arr))[0].tolist()
            self._fail(f"{what} must be finite numbers; entry {bad} is {arr[tuple(bad)]}", what)
        return arr

    def _square(self, what: str, value: Any) -> np.ndarray:
        arr = self._finite(what, value)
        if arr.ndim != 2 or arr.shape[0] != arr.shape[1] or arr.shape[0] == 0:
            self._fail(f"{what} must be a square N x N matrix, got shape {arr.shape}", what)
        if arr.size > MAX_ELEMENTS:
            self._fail(f"{what} hold {arr.size} entries (at most {MAX_ELEMENTS})", what)
        if (arr < 0).any():
            row, col = np.argwhere(arr < 0)[0].tolist()
            self._fail(
                f"{what} must not be negative; row {row}, column {col} (counting from 0) is "
                f"{arr[row, col]}",
                what,
            )
        return _readonly(arr, float)

    def _per_region(self, what: str, value: Any, n: int, dtype: Any) -> np.ndarray:
        arr = np.asarray(value)
        if dtype is bool:
            if arr.dtype.kind not in "biuf" or not np.isin(arr, (0, 1)).all():
                self._fail(f"{what} must be booleans (0/1)", what)
        else:
            arr = self._finite(what, arr)
            if (arr < 0).any():
                self._fail(f"{what} must not be negative", what)
        if arr.shape != (n,):
            self._fail(f"{what} have shape {arr.shape}, expected ({n},): one per region", what)
        return _readonly(arr, dtype)

    def _labels(self, n: int) -> tuple[str, ...]:
        if self.region_labels is None:
            return tuple(f"region_{k}" for k in range(n))
        labels = tuple(self.region_labels)
        if len(labels) != n:
            self._fail(f"{len(labels)} region labels for {n} regions", "region_labels")
        seen: dict[str, int] = {}
        for k, label in enumerate(labels):
            if (
                not isinstance(label, str)
                or not label
                or len(label) > MAX_NAME_LENGTH
                or not label.isprintable()
            ):
                self._fail(
                    f"region label {k} ({str(label)[:40]!r}) must be printable text of 1 to "
                    f"{MAX_NAME_LENGTH} characters",
                    "region_labels",
                )
            if label in seen:
                self._fail(
                    f"region label {label!r} is used by regions {seen[label]} and {k}",
                    "region_labels",
                )
            seen[label] = k
        return labels

    # ------------------------------------------------------------------ reading

    @property
    def n_regions(self) -> int:
        return int(self.weights.shape[0])

    @property
    def names(self) -> tuple[str, ...]:
        """Safe model names of the regions (the labels with other characters mapped to ``_``,
        a leading digit prefixed ``r_``, repeats numbered ``_2``, ``_3``)."""
        return safe_names(tuple(self.region_labels or ()))

    @classmethod
    def from_file(cls, path: str | os.PathLike) -> Connectome:
        """Load TVB's zip or a folder of its text files (see :mod:`rates_core.connectome_io`)."""
        from rates_core.connectome_io import read_connectome_files

        data = read_connectome_files(path)
        members = data.pop("members")
        n = len(data["weights"])
        for key, role in _PER_REGION_MEMBERS:
            if key in data and len(data[key]) != n:
                raise ModelError(
                    f"member {members[role]!r} has {len(data[key])} regions, "
                    f"{members['weights']!r} has {n}",
                    file=data["file"],
                )
        return cls(**data)

    @classmethod
    def example(cls) -> Connectome:
        """A synthetic 16-region connectome shipped with rates in TVB's zip layout (8 regions
        per hemisphere, distance-dependent weights, tract lengths 1.2 x the distance of the
        centres in mm): small enough for tests and examples, not anatomical data."""
        with resources.as_file(resources.files("rates_core.connectomes") / EXAMPLE) as path:
            return cls.from_file(path)

    # ------------------------------------------------------------------ helpers

    def delays(self, speed: float, time_unit: str = "ms") -> np.ndarray:
        """Conduction delays ``tract_lengths / speed`` (N x N): lengths in mm over ``speed``
        in mm/ms (which is m/s; TVB's default 3.0) give ms, the default ``time_unit``;
        ``time_unit="s"`` for models written in seconds (the Jansen-Rit library)."""
        if self.tract_lengths is None:
            self._fail("the connectome has no tract lengths (nor centres)", "tract_lengths")
        if (
            isinstance(speed, bool)
            or not isinstance(speed, (int, float, np.integer, np.floating))
            or not np.isfinite(speed)
            or speed <= 0
        ):
            raise ModelError(f"conduction speed must be a positive number (mm/ms), not {speed!r}")
        if time_unit not in TIME_UNITS:
            raise ModelError(f"time_unit must be one of {sorted(TIME_UNITS)}, not {time_unit!r}")
        return np.asarray(self.tract_lengths) / float(speed) * TIME_UNITS[time_unit]

    def normalised(self, mode: str | None = "tract") -> Connectome:
        """A copy with the weights divided by one number (TVB's scaled weights):

        - ``"tract"`` (alias ``"edge"``): the largest absolute weight, ``max_ij |w_ij|``, so
          the strongest single connection is 1;
        - ``"region"`` (alias ``"node"``): the largest absolute row sum, ``max_i |sum_j w_ij|``,
          the total input to a region (row = target), so the strongest input is 1;
        - ``None`` or ``"none"``: unchanged.
        """
        if mode is None or mode == "none":
            return self
        if mode not in NORMALISATIONS:
            raise ModelError(
                f"normalisation mode must be one of {list(NORMALISATIONS)} or None, not {mode!r}"
            )
        w = np.asarray(self.weights)
        if mode in ("tract", "edge"):
            factor = float(np.abs(w).max())
        else:
            factor = float(np.abs(w.sum(axis=1)).max())
        if factor == 0.0:
            self._fail(f"all weights are zero: nothing to normalise ({mode!r})", "weights")
        return dataclasses.replace(self, weights=w / factor)

    def connectivity(
        self,
        source: str,
        target: str,
        *,
        coupling: Coupling | None = None,
        speed: float | None = None,
        time_unit: str = "ms",
        normalise: str | None = None,
    ) -> list[Connectivity]:
        """The ``Connectivity`` values coupling ``source`` to ``target`` (variable paths of
        a circuit whose source and target hold the N regions in order, e.g. a population of N
        units): ``coupling`` (default ``LinearCoupling()``: ``c_i = sum_j w_ij x_j``) of the
        weights, normalised first when ``normalise`` is given, delayed by
        ``tract_lengths / speed`` when ``speed`` is given (see :meth:`delays`)."""
        coupling = check_coupling(LinearCoupling() if coupling is None else coupling)
        weights = self.normalised(normalise).weights
        delays = None if speed is None else self.delays(speed, time_unit)
        return coupling.connectivities(source, target, np.asarray(weights), delays)

    def circuit(
        self,
        node: NodeTemplate,
        source: str,
        target: str,
        *,
        name: str = "brain",
        population: str = "regions",
        params: dict[str, Any] | None = None,
        **connectivity: Any,
    ) -> CircuitTemplate:
        """A circuit of N units of ``node`` (one population labelled ``population``, units
        ``0 .. N-1`` in region order, per-unit ``params`` as for ``PopulationTemplate``)
        coupled from its ``source`` to its ``target`` variable (``op/var`` paths of the node)
        as :meth:`connectivity` describes (keywords ``coupling``, ``speed``, ``time_unit``,
        ``normalise``)."""
        check_name(population, "population name")
        pop = PopulationTemplate(population, node, self.n_regions, params=params or {})
        conns = self.connectivity(
            f"{population}/{source}", f"{population}/{target}", **connectivity
        )
        return CircuitTemplate(name, populations={population: pop}, connectivity=tuple(conns))


def load_connectome(path: str | os.PathLike) -> Connectome:
    """A :class:`Connectome` from TVB's zip or a folder of its text files."""
    return Connectome.from_file(path)


_UNSAFE = re.compile(r"[^A-Za-z0-9_]+")


def safe_names(labels: Sequence[str]) -> tuple[str, ...]:
    """Model names for region labels: valid names stay, other characters become ``_``, a
    name not starting with a letter or ``_`` is prefixed ``r_``, repeats are numbered."""
    out: list[str] = []
    used: set[str] = set()
    for label in labels:
        name = label if is_valid_name(label) else _UNSAFE.sub("_", label)
        if not is_valid_name(name[:1] or "0"):
            name = f"r_{name}"
        name = name[:MAX_NAME_LENGTH]
        unique, k = name, 1
        while unique in used:
            k += 1
            suffix = f"_{k}"
            unique = name[: MAX_NAME_LENGTH - len(suffix)] + suffix
        used.add(unique)
        out.append(unique)
    return tuple(out)
