"""Finite numbers in, finite numbers out (issue 17, finding 5) with the NumPy backend:
non-finite times, parameters and inputs are errors naming the argument before integrating, the
``scipy`` solver stops on a non-finite vector field, fixed-step blow-ups are errors naming time
and variable unless ``on_nonfinite="continue"``, and the CLI prints one line for each."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from rates_core import CircuitTemplate
from rates_core.cli import main
from rates_core.errors import ModelError, SolverError
from rates_core.testing import references as ref

JRC = "rates_core.models.jansenrit.JRC"
NAN, INF = float("nan"), float("inf")

# Each case runs in a child process with a timeout: before this check, some of them made
# solve_ivp shrink its step forever.
_SCIPY_CASES = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    from rates_core import CircuitTemplate
    from rates_core.testing import references as ref

    def jrc(path=None, value=None):
        c = CircuitTemplate.from_yaml("rates_core.models.jansenrit.JRC")
        return c.update_var(node_vars={path: value}) if path else c

    cases = {
        "nan parameter": lambda: jrc("pc/rate_out/s", float("nan")).run(0.05, 1e-4, solver="scipy"),
        "tau=0": lambda: jrc("pc/syn_exc_ext/tau", 0.0).run(0.05, 1e-4, solver="scipy"),
        "tau=0 LSODA": lambda: ref.leaky_integrator_circuit(tau=0.0).run(
            1.0, 1e-3, solver="scipy", method="LSODA"
        ),
        "nan input": lambda: jrc().run(
            0.05, 1e-4, solver="scipy", inputs={"pc/syn_exc_ext/u": np.full(500, np.nan)}
        ),
    }
    for name, case in cases.items():
        try:
            case()
            result = ("no error", "")
        except Exception as exc:
            result = (type(exc).__module__ + "." + type(exc).__name__, str(exc))
        print(json.dumps([name, *result]), flush=True)
    """
)


@pytest.fixture(scope="module")
def scipy_results() -> dict[str, tuple[str, str]]:
    proc = subprocess.run(
        [sys.executable, "-c", _SCIPY_CASES], capture_output=True, text=True, timeout=120
    )
    rows = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("[")]
    return {name: (kind, message) for name, kind, message in rows}


@pytest.mark.parametrize(
    ("case", "error", "match"),
    [
        # update_var already refuses a NaN value (the Problem's own parameter check is tested
        # in tests/core/test_problem_check.py): no run starts, nothing hangs
        ("nan parameter", "ModelError", r"finite numbers .*template 'rate_out', variable 's'"),
        (
            "tau=0",
            "SolverError",
            r"'scipy': the derivative of pc/syn_exc_ext/x is (nan|-?inf) at t=0",
        ),
        ("tau=0 LSODA", "SolverError", r"'scipy': the derivative of n/op/x is (nan|-?inf) at t=0"),
        ("nan input", "SolverError", r"input pc/syn_exc_ext/u is nan in row 0 at t=0"),
    ],
)
def test_scipy_bad_numbers_are_rates_errors(scipy_results, case, error, match):
    kind, message = scipy_results[case]
    assert kind == f"rates_core.errors.{error}", (kind, message)
    assert re.search(match, message), message


@pytest.mark.parametrize(
    "argument", ["simulation_time", "step_size", "sampling_step_size", "cutoff"]
)
@pytest.mark.parametrize("value", [NAN, INF, -INF])
def test_non_finite_time_arguments_name_the_argument(argument, value):
    kwargs = {"simulation_time": 0.01, "step_size": 1e-4, argument: value}
    with pytest.raises(SolverError, match=f"{argument} must be a finite number, got -?(nan|inf)"):
        CircuitTemplate.from_yaml(JRC).run(**kwargs)


def test_a_time_argument_that_is_no_number_is_named():
    with pytest.raises(SolverError, match="cutoff must be a number, got '1'"):
        CircuitTemplate.from_yaml(JRC).run(0.01, 1e-4, cutoff="1")


def _blowing_up():
    # a 1e-7 s synaptic time constant: explicit Euler with dt = 1e-4 is unstable
    jrc = CircuitTemplate.from_yaml(JRC)
    return jrc.update_var(node_vars={"pc/syn_exc_ext/tau": 1e-7})


@pytest.mark.parametrize("solver", ["euler", "heun", "rk4"])
def test_a_fixed_step_blow_up_names_time_and_variable(solver):
    pattern = rf"'{solver}': the state stopped being finite at t=0\.0\d+ .*pc/syn_exc_ext/[vx]"
    with pytest.raises(SolverError, match=pattern):
        _blowing_up().run(0.05, 1e-4, solver=solver)


def test_on_nonfinite_continue_returns_the_non_finite_rows():
    frame = _blowing_up().run(0.05, 1e-4, on_nonfinite="continue")
    values = frame.to_numpy()
    assert np.isfinite(values[0]).all() and not np.isfinite(values[-1]).all()
    assert frame.attrs["on_nonfinite"] == "continue"


def test_on_nonfinite_misspelled_is_rejected_before_running():
    with pytest.raises(SolverError, match="on_nonfinite must be one of 'raise', 'continue'"):
        CircuitTemplate.from_yaml(JRC).run(0.01, 1e-4, on_nonfinite="ignore")


def test_a_non_finite_history_is_named():
    with pytest.raises(ModelError, match=r"history for 'n/op/x' is nan at t=-1e-12"):
        ref.delay_circuit().run(2.0, 1e-2, history={"n/op/x": NAN})


def test_finite_runs_are_unchanged():
    """The checks add no work to the step loops: a finite run gives the same numbers with
    on_nonfinite="raise" and "continue"."""
    jrc = CircuitTemplate.from_yaml(JRC)
    a = jrc.run(0.05, 1e-4)
    b = jrc.run(0.05, 1e-4, on_nonfinite="continue")
    np.testing.assert_array_equal(a.to_numpy(), b.to_numpy())


def test_cli_prints_one_line_for_bad_numbers(capsys):
    argv = ["run", JRC, "-T", "0.01", "--dt", "1e-4", "--set", "pc/rate_out/s=nan"]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("rates: error: values must be finite numbers"), err
    assert "template 'rate_out', variable 's'" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    argv = ["run", JRC, "-T", "0.05", "--dt", "1e-4", "--set", "pc/syn_exc_ext/tau=1e-7"]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("rates: error: solver 'euler': the state stopped being finite"), err
    assert main([*argv, "--option", "on_nonfinite=continue"]) == 0
    capsys.readouterr()
    assert main([*argv, "--option", "on_nonfinite=skip"]) == 1
    assert "on_nonfinite must be one of" in capsys.readouterr().err


# ------------------------------------------------------------------ sweeps


def _blowing_up_sweep(solver: str, **options):
    from rates_core.sweep import grid_search

    return grid_search(
        CircuitTemplate.from_yaml(JRC),
        param_grid={"tau": [0.01, 1e-7, 0.01]},  # the second set is unstable under Euler
        param_map={"tau": {"vars": ["syn_exc_ext/tau"], "nodes": ["pc"]}},
        simulation_time=0.05,
        step_size=1e-4,
        outputs={"v": "pc/syn_exc_ext/x"},
        solver=solver,
        **options,
    )


@pytest.mark.parametrize("solver", ["euler", "rk4"])
def test_a_sweep_set_that_blows_up_is_an_error_naming_the_set(solver):
    with pytest.raises(SolverError, match=r"grid_search: .*stopped being finite .*JRC_1: "):
        _blowing_up_sweep(solver)


def test_a_sweep_keeps_blown_up_sets_with_on_nonfinite_continue():
    results, grid = _blowing_up_sweep("euler", on_nonfinite="continue")
    v = results["v"]
    assert not np.isfinite(v["JRC_1"].to_numpy()).all()
    for label in ("JRC_0", "JRC_2"):
        assert np.isfinite(v[label].to_numpy()).all()
    np.testing.assert_array_equal(v["JRC_0"].to_numpy(), v["JRC_2"].to_numpy())


def test_a_sweep_rejects_a_misspelled_on_nonfinite():
    with pytest.raises(SolverError, match="on_nonfinite must be one of"):
        _blowing_up_sweep("euler", on_nonfinite="skip")
