"""Monitors: measurements computed while a run integrates (``run(..., monitors={...})``).

A monitor reads some variables of the model (paths as in ``run(outputs=...)``) at every
integration step and keeps only what it reports: a subsample, a temporal average, a BOLD
signal, an EEG/MEG projection. The run integrates in consecutive windows of steps, hands each
window's recorded variables to every monitor and drops them, so memory grows with the number
of monitor samples (plus one window of :data:`CHUNK_BYTES`), not with the number of steps.

The streaming interface of a monitor (:class:`Monitor`):

``start(t0, dt, labels)``
    before the first chunk: the start time, the integration step and the column labels of the
    variables it reads (as ``run(outputs=variables)`` would label them);
``update(times, values)``
    one chunk: ``times`` (n,) on the integration grid and ``values`` (n, columns);
``result()``
    a :class:`pandas.DataFrame` indexed by ``time``, as ``run()`` returns.

Times follow rates's sampling convention: the trajectory has rows at ``k * dt`` for
``k = 0 .. n_steps - 1`` (row 0 the initial state; the end time is not a row), and a monitor
reports only from those rows. Periods are whole multiples of the step.
"""

from __future__ import annotations

import cmath
import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from rates_core.errors import ModelError, SolverError
from rates_core.observe import needs_delayed_samples

if TYPE_CHECKING:
    import pandas as pd

    from rates_core.backend import Problem, Trajectory
    from rates_core.frontend.templates import CircuitTemplate
    from rates_core.noise import WienerIncrements
    from rates_core.system import System

__all__ = [
    "CHUNK_BYTES",
    "Bold",
    "Monitor",
    "Projection",
    "Subsample",
    "TemporalAverage",
    "run_monitored",
]

#: The states of one integration window take at most about this many bytes (at least one
#: step per window): the memory a monitored run needs beyond the monitors' own samples.
CHUNK_BYTES = 8 * 2**20


class Monitor:
    """A measurement of ``variables`` (a path, a list of paths or a dict name -> path, as
    ``run(outputs=...)``) computed chunk by chunk while the run integrates; ``period`` is the
    time between its samples (a whole multiple of the step; None: every step where allowed).
    """

    kind = "monitor"

    def __init__(self, variables: Any, period: float | None = None) -> None:
        if isinstance(variables, str):
            variables = [variables]
        if not isinstance(variables, (Mapping, Sequence)) or not variables:
            raise ModelError(
                f"{type(self).__name__}: variables must be a path, a list of paths or a dict "
                f"name -> path, got {variables!r}"
            )
        self.variables = variables
        self.period = period
        self.name = type(self).__name__  # replaced by the key in run(monitors={...})
        self.labels: list[Any] = []
        self.t0 = 0.0
        self.dt = 0.0
        self.every = 1

    # ------------------------------------------------------------------ interface

    def start(self, t0: float, dt: float, labels: Sequence[Any]) -> None:
        """Prepare for a run from ``t0`` with step ``dt`` reading columns ``labels``."""
        self.t0, self.dt, self.labels = float(t0), float(dt), list(labels)
        self.every = self._steps(self.period if self.period is not None else dt)
        self._seen = 0
        self._times: list[np.ndarray] = []
        self._rows: list[np.ndarray] = []

    def update(self, times: np.ndarray, values: np.ndarray) -> None:
        """Consume one chunk: ``values[k]`` are the columns at ``times[k]``."""
        raise NotImplementedError

    def result(self) -> pd.DataFrame:
        """The samples so far, indexed by time, with this monitor's columns."""
        return self._frame(self._collected(len(self.labels)), self.labels)

    # ------------------------------------------------------------------ helpers

    def _steps(self, period: Any) -> int:
        """``period`` as a whole number of integration steps (a SolverError otherwise)."""
        try:
            value = float(period)
        except (TypeError, ValueError):
            raise SolverError(
                f"monitor {self.name!r}: period must be a number, got {period!r}"
            ) from None
        if not math.isfinite(value) or value <= 0:
            raise SolverError(f"monitor {self.name!r}: period must be positive, got {period!r}")
        ratio = value / self.dt
        steps = int(round(ratio))
        if steps < 1 or abs(ratio - steps) > 1e-6 * max(ratio, 1.0):
            raise SolverError(
                f"monitor {self.name!r}: period {value:g} must be a whole multiple of the "
                f"step_size {self.dt:g}"
            )
        return steps

    def _keep(self, times: np.ndarray, rows: np.ndarray) -> None:
        self._times.append(np.asarray(times, dtype=float))
        self._rows.append(np.asarray(rows))

    def _collected(self, width: int) -> tuple[np.ndarray, np.ndarray]:
        if not self._times:
            return np.empty(0), np.empty((0, width))
        return np.concatenate(self._times), np.concatenate(self._rows)

    def _frame(self, data: tuple[np.ndarray, np.ndarray], labels: Sequence[Any]) -> pd.DataFrame:
        import pandas as pd

        times, rows = data
        frame = pd.DataFrame(rows, index=pd.Index(times, name="time"))
        multi = any(isinstance(c, tuple) for c in labels)
        frame.columns = pd.MultiIndex.from_tuples(labels) if multi else list(labels)
        frame.attrs.update(monitor=self.kind, sampling_step_size=self.every * self.dt)
        return frame


class Subsample(Monitor):
    """The variables every ``period`` (TVB's ``SubSample``): rows at ``t0 + k * period``,
    the same rows as ``run(sampling_step_size=period)``. ``period=None``: every step."""

    kind = "subsample"

    def update(self, times: np.ndarray, values: np.ndarray) -> None:
        steps = self._seen + np.arange(len(times))
        take = steps % self.every == 0
        self._keep(times[take], values[take])
        self._seen += len(times)


class TemporalAverage(Monitor):
    """The mean of the variables over consecutive windows of ``period`` (TVB's
    ``TemporalAverage``): row k is the mean of the ``period / dt`` integration-step values at
    ``t0 + k * period <= t < t0 + (k + 1) * period``, stamped at the window's middle
    ``t0 + (k + 1/2) * period``, as TVB stamps its averages (TVB averages the steps after the
    window's start, rates the steps from it: row 0 of a rates trajectory is the initial
    state). An incomplete last window is not reported."""

    kind = "temporal_average"

    def __init__(self, variables: Any, period: float) -> None:
        super().__init__(variables, period)

    def start(self, t0: float, dt: float, labels: Sequence[Any]) -> None:
        super().start(t0, dt, labels)
        self._sum = np.zeros(len(self.labels))
        self._count = 0
        self._window = 0

    def update(self, times: np.ndarray, values: np.ndarray) -> None:
        values = np.asarray(values)
        if np.iscomplexobj(values) and not np.iscomplexobj(self._sum):
            self._sum = self._sum.astype(complex)
        pos = 0
        n = len(values)
        if self._count:  # finish the window the last chunk started
            take = min(self.every - self._count, n)
            self._add(values[:take])
            pos = take
        whole = (n - pos) // self.every
        if whole:
            block = values[pos : pos + whole * self.every]
            means = block.reshape(whole, self.every, -1).sum(axis=1) / self.every
            self._keep(self._stamps(whole), means)
            self._window += whole
            pos += whole * self.every
        if pos < n:
            self._add(values[pos:])

    def _add(self, rows: np.ndarray) -> None:
        self._sum = self._sum + rows.sum(axis=0)
        self._count += len(rows)
        if self._count == self.every:
            self._keep(self._stamps(1), (self._sum / self.every)[None, :])
            self._window += 1
            self._sum = np.zeros_like(self._sum)
            self._count = 0

    def _stamps(self, count: int) -> np.ndarray:
        period = self.every * self.dt
        return self.t0 + (self._window + np.arange(count) + 0.5) * period


#: The longest step (in seconds) of the Runge-Kutta integration of the Balloon-Windkessel
#: volume and deoxyhaemoglobin, driven by the smooth blood flow (time constants of about 1 s;
#: its error stays below that of the interpolated input even with 40 Hz in the input).
BOLD_STEP = 1e-2
#: The BOLD monitor works through a chunk in blocks of about this many values.
BOLD_BLOCK = 2**18

#: Balloon-Windkessel constants of the revised, nonlinear model of Stephan et al. (2007),
#: the default of TVB's Balloon analyzer (``tvb.analyzers.fmri_balloon``, "RBM_N"); rates in
#: 1/s, times in s. ``V0 = 4`` gives the BOLD signal in percent.
BALLOON = {
    "kappa": 0.65,  # rate of signal decay
    "gamma": 0.41,  # rate of flow-dependent elimination
    "tau": 0.98,  # haemodynamic transit time
    "alpha": 0.32,  # Grubb's exponent
    "rho": 0.4,  # resting oxygen extraction fraction (E0)
    "V0": 4.0,  # resting venous blood volume fraction (in percent)
    "TE": 0.04,  # echo time
    "epsilon": 0.5,  # ratio of intra- to extravascular signal
    "nu0": 40.3,  # frequency offset at the outer surface of magnetised vessels (1.5 T)
    "r0": 25.0,  # intravascular relaxation rate
}


class Bold(Monitor):
    r"""The BOLD signal of each variable through the Balloon-Windkessel model, every ``period``.

    The variable's value ``x`` (neural activity, e.g. a firing rate) drives, per column,
    (Friston et al. 2000, 2003; Stephan et al. 2007)::

        ds/dt = x - kappa s - gamma (f - 1)           vasodilatory signal
        df/dt = s                                     blood inflow
        tau dv/dt = f - v^(1/alpha)                   blood volume
        tau dq/dt = f (1 - (1 - rho)^(1/f)) / rho - v^(1/alpha) q / v   deoxyhaemoglobin
        y = V0 (k1 (1 - q) + k2 (1 - q / v) + k3 (1 - v))

    from rest (``s = 0``, ``f = v = q = 1``, so ``y = 0``). ``coefficients="revised"``
    (default): ``k1 = 4.3 nu0 rho TE``, ``k2 = epsilon r0 rho TE``, ``k3 = 1 - epsilon``
    (Stephan et al. 2007); ``"classical"``: ``k1 = 7 rho``, ``k2 = 2``, ``k3 = 2 rho - 0.2``
    (Friston et al. 2000). The constants default to :data:`BALLOON` (kappa 0.65/s, gamma
    0.41/s, tau 0.98 s, alpha 0.32, rho 0.4, V0 4, TE 0.04 s, epsilon 0.5, nu0 40.3/s, r0
    25/s): the revised nonlinear model that is the default of TVB's Balloon-Windkessel
    analyzer (``tvb.analyzers.fmri_balloon``); keyword arguments replace them. TVB's ``Bold``
    *monitor* instead convolves the activity with a haemodynamic kernel (by default a
    first-order Volterra kernel) every 2 s.

    The ODE is integrated as the chunks stream in, from the values at every step of the run,
    with the input linearly interpolated between steps. Its linear part, ``s`` and ``f``
    driven by ``x``, is solved exactly (in its eigenmodes: one first-order recursion per mode,
    run over a whole chunk by :func:`scipy.signal.lfilter`) at every half step; ``v`` and
    ``q``, driven by the smooth ``f`` alone, by the classical Runge-Kutta method with a step of
    a whole number of run steps that divides ``period``, at most :data:`BOLD_STEP` (10 ms).
    The error is of order ``dt**2`` (the interpolated input; about 1e-6 relative at ``dt`` = 1
    ms). ``time_unit`` is the model's time unit in seconds (1e-3 for a model in ms): the
    constants are per second. ``kappa**2 == 4 gamma`` (a double eigenvalue) is refused.
    """

    kind = "bold"

    def __init__(
        self,
        variables: Any,
        period: float,
        *,
        time_unit: float = 1.0,
        coefficients: str = "revised",
        **constants: float,
    ) -> None:
        super().__init__(variables, period)
        unknown = sorted(set(constants) - set(BALLOON))
        if unknown:
            raise ModelError(
                f"Bold: no constant {unknown[0]!r} (the constants: {', '.join(BALLOON)})"
            )
        if coefficients not in ("revised", "classical"):
            raise ModelError(
                f"Bold: coefficients must be 'revised' or 'classical', not {coefficients!r}"
            )
        values = {**BALLOON, **constants}
        for key, value in (*values.items(), ("time_unit", time_unit)):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ModelError(f"Bold: {key} must be a number, got {value!r}")
            if not math.isfinite(value) or (key != "epsilon" and value <= 0):
                raise ModelError(f"Bold: {key} must be a finite positive number, got {value!r}")
        if abs(values["kappa"] ** 2 - 4 * values["gamma"]) < 1e-9 * values["kappa"] ** 2:
            raise ModelError("Bold: kappa**2 == 4 gamma (a double eigenvalue) is not supported")
        self.constants = values
        self.coefficients = coefficients
        self.time_unit = float(time_unit)

    def start(self, t0: float, dt: float, labels: Sequence[Any]) -> None:
        super().start(t0, dt, labels)
        n = len(self.labels)
        h = self.dt * self.time_unit  # the run's step in seconds
        self._modes = _linear_modes(self.constants["kappa"], self.constants["gamma"], h / 2)
        self._w = np.zeros((2, n), dtype=complex)  # modal coordinates of (s, f - 1)
        self._v, self._q = np.ones(n), np.ones(n)
        self._last: np.ndarray | None = None  # the input at the last step seen
        self._flow = np.ones((1, n))  # f at the half steps from the (v, q) time on
        self._done = 0  # the run step (v, q) are at
        divisors = [d for d in range(1, self.every + 1) if self.every % d == 0]
        self._sub = max([d for d in divisors if d * h <= BOLD_STEP * (1 + 1e-9)] or [1])
        self._keep(np.array([self.t0]), np.zeros((1, n)))  # at rest: y = 0

    def k(self) -> tuple[float, float, float]:
        """``(k1, k2, k3)`` of the BOLD equation."""
        c = self.constants
        if self.coefficients == "classical":
            return 7.0 * c["rho"], 2.0, 2.0 * c["rho"] - 0.2
        return (
            4.3 * c["nu0"] * c["rho"] * c["TE"],
            c["epsilon"] * c["r0"] * c["rho"] * c["TE"],
            1.0 - c["epsilon"],
        )

    def derivative(self, z: np.ndarray, x: np.ndarray) -> np.ndarray:
        """``d(s, f, v, q)/dt`` (per second) at state ``z`` (4, n) and input ``x`` (n,)."""
        c = self.constants
        s, f, v, q = z
        dv, dq = self._volume_rates(f, v, q)
        return np.array([x - c["kappa"] * s - c["gamma"] * (f - 1.0), s, dv, dq])

    def _volume_rates(self, f: Any, v: Any, q: Any) -> tuple[Any, Any]:
        """``(dv/dt, dq/dt)`` per second."""
        c = self.constants
        outflow = v ** (1.0 / c["alpha"])
        extraction = (1.0 - (1.0 - c["rho"]) ** (1.0 / f)) / c["rho"]
        return (f - outflow) / c["tau"], (f * extraction - outflow * q / v) / c["tau"]

    def signal(self, z: np.ndarray) -> np.ndarray:
        """The BOLD signal ``y`` of state(s) ``z`` (4, ...)."""
        return self._bold(z[2], z[3])

    def _bold(self, v: Any, q: Any) -> Any:
        k1, k2, k3 = self.k()
        return self.constants["V0"] * (k1 * (1.0 - q) + k2 * (1.0 - q / v) + k3 * (1.0 - v))

    def update(self, times: np.ndarray, values: np.ndarray) -> None:
        values = np.asarray(values, dtype=float)
        rows = max(1, BOLD_BLOCK // max(values.shape[1], 1))
        for first in range(0, len(values), rows):  # bounded temporary arrays
            self._advance(values[first : first + rows])

    def _advance(self, x: np.ndarray) -> None:
        if self._last is not None:
            x = np.concatenate([self._last[None, :], x])
        self._last = x[-1]
        if len(x) < 2:
            return
        with np.errstate(all="ignore"):
            self._flow = np.concatenate([self._flow, self._linear_part(x)])
            self._integrate_volume()

    def _linear_part(self, x: np.ndarray) -> np.ndarray:
        """``f`` at the half steps after the first row of ``x`` (rows at consecutive steps),
        exact for the linearly interpolated input; advances the modal state."""
        from scipy.signal import lfilter

        points = np.empty((2 * len(x) - 1, x.shape[1]))
        points[0::2] = x
        points[1::2] = 0.5 * (x[:-1] + x[1:])
        g = np.zeros((len(points) - 1, x.shape[1]))
        for mode, (p, c0, c1) in enumerate(self._modes):
            drive = c0 * points[:-1] + c1 * points[1:]
            w = lfilter([1.0], [1.0, -p], drive, axis=0, zi=p * self._w[mode][None, :])[0]
            self._w[mode] = w[-1]
            g += w.real
        return 1.0 + g

    def _integrate_volume(self) -> None:
        """Runge-Kutta steps of ``v`` and ``q`` over the half-step flows received, sampling
        ``y`` at every multiple of the period."""
        m = self._sub
        step = m * self.dt * self.time_unit
        flow, v, q = self._flow, self._v, self._q
        rates = self._volume_rates
        at, kept_times, kept = 0, [], []
        while at + 2 * m < len(flow):
            f0, f1, f2 = flow[at], flow[at + m], flow[at + 2 * m]
            dv1, dq1 = rates(f0, v, q)
            dv2, dq2 = rates(f1, v + 0.5 * step * dv1, q + 0.5 * step * dq1)
            dv3, dq3 = rates(f1, v + 0.5 * step * dv2, q + 0.5 * step * dq2)
            dv4, dq4 = rates(f2, v + step * dv3, q + step * dq3)
            v = v + step / 6.0 * (dv1 + 2.0 * dv2 + 2.0 * dv3 + dv4)
            q = q + step / 6.0 * (dq1 + 2.0 * dq2 + 2.0 * dq3 + dq4)
            at += 2 * m
            self._done += m
            if self._done % self.every == 0:
                kept_times.append(self.t0 + self._done * self.dt)
                kept.append(self._bold(v, q))
        self._flow, self._v, self._q = flow[at:], v, q
        if kept:
            self._check(kept_times, kept)
            self._keep(np.array(kept_times), np.array(kept))

    def _check(self, times: list[Any], rows: list[np.ndarray]) -> None:
        block = np.array(rows)
        if np.isfinite(block).all():
            return
        k, column = np.argwhere(~np.isfinite(block))[0]
        raise SolverError(
            f"monitor {self.name!r}: the Balloon-Windkessel state of {self.labels[column]!r} "
            f"stopped being finite by t={float(times[k]):g} (an input that drives the blood "
            "flow f to 0 or below: scale or shift the input, or check time_unit)"
        )


def _phi(z: complex) -> tuple[complex, complex]:
    """``((e^z - 1) / z, (e^z - 1 - z) / z^2)``, by their series where ``z`` is small."""
    if abs(z) < 0.1:
        terms = [z**n for n in range(12)]
        one = sum(t / math.factorial(n + 1) for n, t in enumerate(terms))
        two = sum(t / math.factorial(n + 2) for n, t in enumerate(terms))
        return complex(one), complex(two)
    e = cmath.exp(z)
    return (e - 1) / z, (e - 1 - z) / z**2


def _linear_modes(kappa: float, gamma: float, h: float) -> list[tuple[complex, complex, complex]]:
    """``(p, c0, c1)`` per eigenmode of ``ds/dt = x - kappa s - gamma g``, ``dg/dt = s``
    (``g = f - 1``): over a step ``h`` with ``x`` linear from ``x0`` to ``x1``, the mode
    ``w`` goes to ``p w + c0 x0 + c1 x1`` exactly, and ``g = w1 + w2``."""
    root = cmath.sqrt(kappa * kappa - 4.0 * gamma)
    lams = ((-kappa + root) / 2.0, (-kappa - root) / 2.0)
    weights = (1.0 / (lams[0] - lams[1]), -1.0 / (lams[0] - lams[1]))
    modes = []
    for lam, b in zip(lams, weights):
        one, two = _phi(lam * h)
        modes.append((cmath.exp(lam * h), b * h * (one - two), b * h * two))
    return modes


class Projection(Monitor):
    """An EEG / MEG / sEEG signal: ``lead_field @ x`` per sample, ``lead_field`` a
    ``(n_sensors, n_columns)`` matrix whose columns follow the variables' columns (one per
    region when ``variables`` covers the regions). ``average=True`` projects the
    :class:`TemporalAverage` over ``period`` (TVB's EEG monitor averages the same way), else
    the :class:`Subsample` every ``period``. ``sensors``: the column names (default
    ``sensor0 ..``). No reference or mean is subtracted."""

    kind = "projection"

    def __init__(
        self,
        variables: Any,
        lead_field: Any,
        period: float | None = None,
        *,
        average: bool = False,
        sensors: Sequence[str] | None = None,
    ) -> None:
        super().__init__(variables, period)
        if average and period is None:
            raise ModelError("Projection: average=True needs a period")
        self.inner: Monitor = (
            TemporalAverage(variables, period)
            if average and period
            else Subsample(variables, period)
        )
        try:
            matrix = np.array(lead_field, dtype=float)
        except (TypeError, ValueError):
            raise ModelError("Projection: the lead field must be a matrix of numbers") from None
        if matrix.ndim != 2 or 0 in matrix.shape:
            raise ModelError(
                f"Projection: the lead field must be a 2-D matrix (n_sensors x n_regions), "
                f"got shape {matrix.shape}"
            )
        bad = np.argwhere(~np.isfinite(matrix))
        if len(bad):
            i, j = bad[0]
            raise ModelError(
                f"Projection: lead field entry [{i}, {j}] (counted from 0) is {matrix[i, j]}: "
                "the lead field must be finite"
            )
        names = [f"sensor{k}" for k in range(matrix.shape[0])] if sensors is None else sensors
        names = [str(s) for s in names]
        if len(names) != matrix.shape[0] or len(set(names)) != len(names):
            raise ModelError(
                f"Projection: sensors must be {matrix.shape[0]} distinct names, one per row of "
                f"the lead field, got {len(names)}"
            )
        self.lead_field = matrix
        self.sensors = names

    def start(self, t0: float, dt: float, labels: Sequence[Any]) -> None:
        super().start(t0, dt, labels)
        if self.lead_field.shape[1] != len(self.labels):
            raise ModelError(
                f"monitor {self.name!r}: the lead field has {self.lead_field.shape[1]} columns "
                f"but the variables {self.variables!r} give {len(self.labels)} "
                f"({', '.join(map(str, self.labels[:4]))}{', ...' if len(self.labels) > 4 else ''})"
            )
        self.inner.name = self.name
        self.inner.start(t0, dt, labels)

    def update(self, times: np.ndarray, values: np.ndarray) -> None:
        self.inner.update(times, values)

    def result(self) -> pd.DataFrame:
        times, rows = self.inner._collected(len(self.labels))
        return self._frame((times, rows @ self.lead_field.T), self.sensors)


# ---------------------------------------------------------------------- driving a run


def _check_monitors(monitors: Any) -> dict[str, Monitor]:
    if not isinstance(monitors, Mapping) or not monitors:
        raise ModelError("monitors must be a non-empty dict name -> monitor (Bold(...), ...)")
    checked: dict[str, Monitor] = {}
    for name, monitor in monitors.items():
        if not isinstance(name, str) or not name:
            raise ModelError(f"monitor names must be non-empty strings, got {name!r}")
        if not isinstance(monitor, Monitor):
            raise ModelError(
                f"monitor {name!r} is {type(monitor).__name__}, not a rates_core.monitors."
                "Monitor (Subsample, TemporalAverage, Bold, Projection)"
            )
        monitor.name = name
        checked[name] = monitor
    return checked


def _labels(spec: Sequence[tuple]) -> list[Any]:
    """Column labels of an output spec, as ``run()`` labels them."""
    names = [entry[0] for entry in spec]
    multi = len(set(names)) < len(names)
    return [(name, node, opvar) for name, node, opvar, *_ in spec] if multi else names


def _state_columns(system: System, spec: Sequence[tuple]) -> np.ndarray | None:
    """The state-vector indices of an output spec's columns, or None when a column is not a
    state (an algebraic variable or a parameter: read through the run's frame builder)."""
    state_of = {s.name: s for s in system.states}
    if not all(entry[3] in state_of for entry in spec):
        return None
    return np.array([state_of[sym].start + (index or 0) for *_, sym, index in spec], dtype=int)


def _wiener_stream(system: System, problem: Problem) -> WienerIncrements | None:
    """The Wiener increments of a noisy model run in windows (None without noise): one stream
    for the whole run, given or drawn from the seed as rates-numpy and rates-numba draw a plain
    run's, and cut into the windows, so the monitors see the path of the plain run."""
    from rates_core import noise

    if not noise.has_noise(system):
        return None
    return noise.WienerIncrements(problem, int(noise.split(system).sources.size))


def _window_seed(seed: Any, window: int) -> Any:
    """Each window draws other ``randn()`` numbers than the last: seeds derived from ``seed``."""
    if seed is None or window == 0:
        return seed
    return int(np.random.SeedSequence([int(seed), window]).generate_state(1)[0])


class _Feed:
    """Hands blocks of samples (rows on the integration grid) to the monitors: the columns
    each reads (state columns directly, other variables through the run's frame builder)."""

    def __init__(
        self,
        monitors: dict[str, Monitor],
        specs: dict[str, Any],
        system: System,
        problem: Problem,
        solver: str,
    ) -> None:
        self.monitors, self.specs, self.system = monitors, specs, system
        self.problem, self.solver = problem, solver
        from rates_core.results import algebraic_outputs

        self.readers = {name: _state_columns(system, spec) for name, spec in specs.items()}
        for spec in specs.values():  # the solvers give monitors no delayed reads: refuse now
            needs_delayed_samples(system, algebraic_outputs(system, spec), False, [])
        self.final: np.ndarray = np.asarray(problem.y0)
        self._start()

    def _start(self) -> None:
        self.seen = 0  # samples handed on so far
        for name, monitor in self.monitors.items():
            monitor.start(self.problem.t0, float(self.problem.step_size), _labels(self.specs[name]))

    def update(self, times: Any, states: Any, inputs: Any, rows: np.ndarray) -> None:
        """One block: ``states[k]`` at ``times[k]``; ``rows[k]`` its row of ``inputs``."""
        from rates_core.results import results_frame

        times = np.asarray(times, dtype=float)
        for name, monitor in self.monitors.items():
            columns = self.readers[name]
            if columns is not None:  # state variables only: no frame needed
                values = np.asarray(states)[:, columns]
            else:
                frame = results_frame(
                    self.specs[name], times, states, self.system, self.problem.params, inputs, rows
                )
                values = frame.to_numpy()
            monitor.update(times, values)
        self.seen += len(times)

    def _sink(self, times: np.ndarray, states: np.ndarray) -> None:
        """``Problem.sink`` of a one-pass run: check and hand on one block of the solver's."""
        from rates_core.backend import Trajectory

        if self.seen and len(times) and times[0] <= self.problem.t0:
            self._start()  # the solver started again (rates-numpy's rerun with NumPy floats)
        last = np.asarray(states[-1]) if len(states) else self.final
        self.problem.check_trajectory(self.system, Trajectory(times, states, last), self.solver)
        n_steps = self.problem.n_steps
        rows = np.minimum(self.seen + np.arange(len(times)), max(n_steps - 1, 0))
        self.update(times, states, self.problem.inputs, rows)

    def one_pass(self, solve: Callable[[Problem], Trajectory]) -> dict[str, pd.DataFrame]:
        """Integrate the whole run at once with the samples going to :meth:`_sink` (every
        step sampled); a solver that does not stream is streamed from its trajectory."""
        from rates_core.backend import SINK_BYTES, Trajectory

        dt = float(self.problem.step_size)
        whole = dataclasses.replace(
            self.problem, sampling_step=dt, n_samples=max(self.problem.n_steps, 1), sink=self._sink
        )
        trajectory = solve(whole)
        if not trajectory.info.get("streamed"):
            states = np.asarray(trajectory.states)
            width = max(1, SINK_BYTES // max(states[:1].nbytes, 1))
            for first in range(0, len(states), width):
                block = slice(first, first + width)
                self._sink(np.asarray(trajectory.times)[block], states[block])
        self.final = np.asarray(trajectory.final)
        t_end = self.problem.t0 + self.problem.simulation_time
        end = Trajectory(np.array([t_end]), self.final.reshape(1, -1), self.final)
        whole.check_trajectory(self.system, end, self.solver)
        return {name: monitor.result() for name, monitor in self.monitors.items()}


def run_monitored(
    monitors: Any,
    circuit: CircuitTemplate,
    system: System,
    problem: Problem,
    solve: Callable[[Problem], Trajectory],
    solver: str,
    refused: Mapping[str, Any],
) -> tuple[dict[str, pd.DataFrame], np.ndarray]:
    """Integrate ``problem`` in windows of steps with ``solve`` and stream every window's
    variables to ``monitors``; ``(frames by monitor name, final state)``.

    ``refused``: the ``run`` arguments that have no meaning with monitors (``outputs``,
    ``sampling_step_size``) and are an error when given. Models with delays run in one pass
    instead (a window would need the history of the previous ones): the solver hands its
    samples to ``Problem.sink`` block by block (:class:`~rates_core.backend.SampleRows`); a
    solver that does not stream (``Trajectory.info["streamed"]``) returns the whole run, which
    is then streamed to the monitors block by block.
    """
    from rates_core.results import output_spec

    chosen = _check_monitors(monitors)
    for key, value in refused.items():
        if value is not None:
            raise ModelError(
                f"run(monitors=...) takes no {key}: each monitor names the variables it reads "
                "and its period (add a Subsample monitor for plain samples)"
            )
    dt = float(problem.step_size)
    specs = {name: output_spec(circuit, system, m.variables) for name, m in chosen.items()}
    feed = _Feed(chosen, specs, system, problem, solver)
    if system.delayed:  # one pass: the history stays in the solver
        return feed.one_pass(solve), feed.final
    n_steps = problem.n_steps
    increments = _wiener_stream(system, problem)
    row_bytes = max(np.asarray(problem.y0).itemsize, 8) * max(system.n_states, 1)
    width = max(1, min(n_steps, CHUNK_BYTES // row_bytes))
    y = np.asarray(problem.y0)
    with problem.progress_bar(desc=f"{system.name} ({solver}, monitored)") as progress:
        for window, first in enumerate(range(0, n_steps, width)):
            count = min(width, n_steps - first)
            stop = first + count + 1  # and the next row: adaptive solvers interpolate to it
            rows = {k: v[first:stop] for k, v in problem.inputs.items()}
            part = dataclasses.replace(
                problem,
                y0=y,
                t0=problem.t0 + first * dt,
                simulation_time=count * dt,
                sampling_step=dt,
                n_samples=count,
                inputs=rows,
                input_times=None
                if problem.input_times is None
                else problem.input_times[first:stop],
                seed=_window_seed(problem.seed, window),
                wiener_increments=None
                if increments is None
                else increments.rows(first, first + count),
                progress=False,
            )
            trajectory = solve(part)
            part.check_trajectory(system, trajectory, solver)
            feed.update(trajectory.times, trajectory.states, rows, np.arange(count))
            y = np.asarray(trajectory.final)
            progress(problem.t0 + (first + count) * dt)
    return {name: monitor.result() for name, monitor in chosen.items()}, y
