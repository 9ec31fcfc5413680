"""Benchmark case 2: one QIF population (Montbrio-Pazo-Roxin mean field), 100 time units of
explicit Euler at dt = 1e-3, sampled at 1e-2.

Implementations (``--impl``): ``rates`` (``rates_core.models.qif.qif``), ``pyrates``
(``model_templates.neural_mass_models.qif.qif``, run with the PyRates interpreter in a scratch
directory) and ``plain`` (the same two equations as a hand-written loop over plain floats).
Recorded: the firing rate r and the mean membrane potential v.
"""

from __future__ import annotations

import functools
import math

import _common

SIMULATION_TIME = 100.0
STEP = 1e-3
SAMPLING = 1e-2

RATES_MODEL = "rates_core.models.qif.qif"
PYRATES_MODEL = "model_templates.neural_mass_models.qif.qif"
OUTPUTS = {"r": "p/qif_op/r", "v": "p/qif_op/v"}  # the same paths in both libraries
COLUMNS = ["r", "v"]


def plain_qif(simulation_time: float, dt: float, sampling: float) -> list[tuple]:
    """Explicit Euler over plain floats; the equations of rates_core/models/qif.yaml
    (one population with recurrent excitation J = 15 onto its own input r_in).
    """
    delta, tau, eta, i_ext, j = 1.0, 1.0, -5.0, 0.0, 15.0
    pi = math.pi
    r, v = 0.01, -2.0
    n_steps = round(simulation_time / dt)
    n_samples = round(simulation_time / sampling)
    every = round(sampling / dt)
    samples = [(r, v)]
    for k in range(1, n_steps + 1):
        r_in = j * r
        dr = (delta / (pi * tau) + 2.0 * r * v) / tau
        dv = (v**2 + eta + i_ext + tau * r_in - (pi * tau * r) ** 2) / tau
        r, v = r + dt * dr, v + dt * dv
        if k % every == 0 and len(samples) < n_samples:
            samples.append((r, v))
    return samples


def main() -> None:
    args = _common.parser(__doc__.splitlines()[0], ("rates", "pyrates", "plain")).parse_args()
    results: dict = {}
    if args.impl == "plain":
        loop = functools.partial(plain_qif, SIMULATION_TIME, STEP, SAMPLING)
        _common.run_plain_loop(results, args.save, SAMPLING, loop)
    else:
        _common.run_yaml_model(
            args.impl,
            args.phase,
            results,
            args.save,
            model=RATES_MODEL if args.impl == "rates" else PYRATES_MODEL,
            outputs=OUTPUTS,
            columns=COLUMNS,
            precision=args.precision,
            simulation_time=SIMULATION_TIME,
            step_size=STEP,
            sampling_step_size=SAMPLING,
        )
    _common.report(args.impl, args.phase, results)


if __name__ == "__main__":
    main()
