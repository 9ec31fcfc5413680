"""Benchmark case 1: the Jansen-Rit circuit, 10 s of explicit Euler at dt = 1e-4, sampled at 1e-3.

Implementations (``--impl``):

* ``rates``: ``rates_core.models.jansenrit.JRC`` on the rates-numpy backend;
* ``pyrates``: ``model_templates.neural_mass_models.jansenrit.JRC`` on PyRates's default (NumPy)
  backend (run this script with the PyRates interpreter, in a scratch directory);
* ``plain``: the same equations as a hand-written Euler loop over plain Python floats.

Recorded: the PSPs of the pyramidal cells' excitatory and inhibitory synapses (two state
variables). Run by the driver ``benchmarks/run_pyrates_comparison.py``; standalone use:
``python benchmarks/cases/jansenrit.py --impl plain``.
"""

from __future__ import annotations

import functools
import math

import _common

SIMULATION_TIME = 10.0
STEP = 1e-4
SAMPLING = 1e-3

RATES_MODEL = "rates_core.models.jansenrit.JRC"
RATES_OUTPUTS = {"v_e": "pc/syn_exc_ext/v", "v_i": "pc/syn_inh/v"}
PYRATES_MODEL = "model_templates.neural_mass_models.jansenrit.JRC"
PYRATES_OUTPUTS = {"v_e": "pc/rpo_e_in/v", "v_i": "pc/rpo_i/v"}
COLUMNS = ["v_e", "v_i"]


def plain_jansen_rit(simulation_time: float, dt: float, sampling: float) -> list[tuple]:
    """Explicit Euler over plain floats; the equations of rates_core/models/jansenrit.yaml.

    Each population has second-order synapses ``v' = x``, ``x' = h*m_in/tau - 2x/tau - v/tau^2``
    (alpha kernels) and a sigmoid ``m = m_max / (1 + exp(s*(v_thr - v)))`` of its summed PSP.
    Returns the samples ``(v_e, v_i)`` of the pyramidal cells, the first being the initial state.
    """
    h_e, tau_e = 3.25e-3, 10e-3  # excitatory synapses
    h_i, tau_i = -22e-3, 20e-3  # inhibitory synapse of the pyramidal cells
    m_max, s, v_thr = 5.0, 560.0, 6e-3  # sigmoid
    u = 220.0  # extrinsic input to the pyramidal cells
    w_pc_ein, w_pc_iin, w_ein_pc, w_iin_pc = 135.0, 33.75, 108.0, 33.75  # C, C/4, 0.8 C, C/4
    exp = math.exp

    # pc: excitatory (e) and inhibitory (i) synapse; ein / iin: the interneurons' synapse
    v_e = x_e = v_i = x_i = v_ein = x_ein = v_iin = x_iin = 0.0
    n_steps = round(simulation_time / dt)
    n_samples = round(simulation_time / sampling)
    every = round(sampling / dt)
    samples = [(v_e, v_i)]
    for k in range(1, n_steps + 1):
        m_pc = m_max / (1.0 + exp(s * (v_thr - (v_e + v_i))))
        m_ein = m_max / (1.0 + exp(s * (v_thr - v_ein)))
        m_iin = m_max / (1.0 + exp(s * (v_thr - v_iin)))
        dx_e = h_e * (w_ein_pc * m_ein + u) / tau_e - 2.0 * x_e / tau_e - v_e / tau_e**2
        dx_i = h_i * (w_iin_pc * m_iin) / tau_i - 2.0 * x_i / tau_i - v_i / tau_i**2
        dx_ein = h_e * (w_pc_ein * m_pc) / tau_e - 2.0 * x_ein / tau_e - v_ein / tau_e**2
        dx_iin = h_e * (w_pc_iin * m_pc) / tau_e - 2.0 * x_iin / tau_e - v_iin / tau_e**2
        v_e, x_e = v_e + dt * x_e, x_e + dt * dx_e
        v_i, x_i = v_i + dt * x_i, x_i + dt * dx_i
        v_ein, x_ein = v_ein + dt * x_ein, x_ein + dt * dx_ein
        v_iin, x_iin = v_iin + dt * x_iin, x_iin + dt * dx_iin
        if k % every == 0 and len(samples) < n_samples:
            samples.append((v_e, v_i))
    return samples


def main() -> None:
    args = _common.parser(__doc__.splitlines()[0], ("rates", "pyrates", "plain")).parse_args()
    results: dict = {}
    if args.impl == "plain":
        loop = functools.partial(plain_jansen_rit, SIMULATION_TIME, STEP, SAMPLING)
        _common.run_plain_loop(results, args.save, SAMPLING, loop)
    else:
        rates = args.impl == "rates"
        _common.run_yaml_model(
            args.impl,
            args.phase,
            results,
            args.save,
            model=RATES_MODEL if rates else PYRATES_MODEL,
            outputs=RATES_OUTPUTS if rates else PYRATES_OUTPUTS,
            columns=COLUMNS,
            precision=args.precision,
            simulation_time=SIMULATION_TIME,
            step_size=STEP,
            sampling_step_size=SAMPLING,
        )
    _common.report(args.impl, args.phase, results)


if __name__ == "__main__":
    main()
