"""The conformance suite tested with the fixture plugin (tests/fixtures/rates_fixture_plugin).

The fixture plugin is installed like a third-party distribution (into its own site folder, see
tests/fixtures/plugin_dists.py, unless the environment has it installed already) and the suite
runs against it in subprocesses. ``RATES_FIXTURE_BREAK`` makes the plugin wrong on purpose:
``tanh`` (a wrong builtin) and ``euler`` (a solver that records every sample one step late) must
each fail named tests of the suite and leave every other test passing; ``noise`` (one shared
``randn()`` sample per population) and ``history`` (``history=`` sampled linearly on the step
grid) and ``pure`` (the field computed with ``math``, not NumPy) must fail the tests written for
them.
"""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Sequence
from importlib.metadata import PackageNotFoundError, distribution
from importlib.util import find_spec
from pathlib import Path

import plugin_dists as dists  # tests/conftest.py puts tests/fixtures on the path
import pytest

TANH_TESTS = {
    "test_function[tanh-scalar]",
    "test_function[tanh-vector]",
    "test_function[tanh-complex]",
    "test_function[tanh-complex_vector]",
}

#: the generator's test runs against rates-numpy's reference: it fails with a broken tanh too
GENERATED = {"test_generated_models"} if find_spec("rates_numpy") else set()

SUBCLASS_MODULE = """
from rates_core.testing import ConformanceSuite


class TestFixtureBackend(ConformanceSuite):
    backend = "fixture"
    solvers = ["fixture_rk4"]
    test_generated_models = None  # these runs check known_failures, not the generator
    known_failures = {
        "tanh is broken on purpose": ["test_function[tanh-*]"],
        "a stale entry": ["test_no_such_test"],
    }
"""

# every test, every solver: what the command line collects
WHOLE_MODULE = """
from rates_core.testing import ConformanceSuite


class TestFixtureWhole(ConformanceSuite):
    backend = "fixture"
"""

# the fixture backend's code is NumPy code: forbidding NumPy must fail the fallback check
FORBIDDING_MODULE = """
from rates_core.testing import ConformanceSuite


class TestFixtureWithoutNumpy(ConformanceSuite):
    backend = "fixture"
    forbidden_modules = ["numpy"]
"""


def _installed() -> bool:
    try:
        distribution("rates-fixture-plugin")
    except PackageNotFoundError:
        return False
    return True


@pytest.fixture(scope="session")
def fixture_sites(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """Site folders that make the fixture plugin importable (none when it is installed)."""
    if _installed():
        return []
    return [dists.session_sites(request.config, tmp_path_factory)["fixture"]]


class Run:
    """One pytest run of the suite in a subprocess, started at once, read on demand."""

    def __init__(self, sites, cwd: Path, args: list[str], env: dict[str, str]) -> None:
        self.cwd = cwd
        self.junit = cwd / "junit.xml"
        environ = dists.python_env(sites)
        environ.pop("RATES_FIXTURE_BREAK", None)
        environ.update(env)
        environ["RATES_CACHE_DIR"] = str(cwd / "cache")
        (cwd / "pytest.ini").write_text("[pytest]\naddopts =\n", encoding="utf-8")
        command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rfEs"]
        command += ["-c", str(cwd / "pytest.ini"), f"--junitxml={self.junit}", *args]
        self.proc = subprocess.Popen(
            command,
            cwd=cwd,
            env=environ,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self._output: str | None = None

    @property
    def output(self) -> str:
        if self._output is None:
            self._output, _ = self.proc.communicate(timeout=600)
        return self._output

    @property
    def returncode(self) -> int:
        _ = self.output
        return self.proc.returncode

    def outcomes(self) -> dict[str, str]:
        """Test name -> passed / failed / skipped / xfailed."""
        _ = self.output
        assert self.junit.exists(), self.output
        result = {}
        for case in ET.parse(self.junit).getroot().iter("testcase"):
            outcome = "passed"
            for child in case:
                if child.tag in ("failure", "error"):
                    outcome = "failed"
                elif child.tag == "skipped":
                    outcome = "xfailed" if child.get("type") == "pytest.xfail" else "skipped"
            result[case.get("name")] = outcome
        return result


@pytest.fixture(scope="session")
def runs(fixture_sites, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Run]]:
    """The suite against the fixture plugin: broken on purpose in two ways, as a
    ConformanceSuite subclass with known failures, and with NumPy forbidden (all runs start at
    once)."""
    started = {}

    def plugin_run(key: str, brk: str, more: Sequence[str] = ()) -> None:
        cwd = tmp_path_factory.mktemp(key)
        args = [
            "-p",
            "rates_core.testing",
            "--rates-backend",
            "fixture",
            "--rates-fuzz",
            "2",
            *more,
        ]
        started[key] = Run(fixture_sites, cwd, args, {"RATES_FIXTURE_BREAK": brk})

    def subclass_run(key: str, brk: str) -> None:
        cwd = tmp_path_factory.mktemp(key)
        (cwd / "test_fixture_backend.py").write_text(SUBCLASS_MODULE, encoding="utf-8")
        args = ["test_fixture_backend.py"]
        started[key] = Run(fixture_sites, cwd, args, {"RATES_FIXTURE_BREAK": brk})

    plugin_run("tanh", "tanh")
    plugin_run("euler", "euler")
    plugin_run("noise", "noise", ["-k", "randn"])
    plugin_run("history", "history", ["-k", "delay"])
    plugin_run("pure", "pure", ["-k", "runtime_used or no_silent_fallback or jansen_rit"])
    subclass_run("subclass_broken", "tanh")
    subclass_run("subclass_fine", "")
    cwd = tmp_path_factory.mktemp("forbidden")
    (cwd / "test_forbidden.py").write_text(FORBIDDING_MODULE, encoding="utf-8")
    args = ["test_forbidden.py", "-k", "no_silent_fallback or source_reimported"]
    started["forbidden"] = Run(fixture_sites, cwd, args, {})
    yield started
    for run in started.values():  # runs no selected test read (pytest -k) are not left behind
        if run.proc.poll() is None:
            run.proc.kill()
            run.proc.communicate()


def test_a_broken_builtin_fails_its_named_tests_only(runs: dict[str, Run]) -> None:
    run = runs["tanh"]
    outcomes = run.outcomes()
    failed = {name for name, o in outcomes.items() if o == "failed"}
    assert failed == TANH_TESTS | GENERATED, run.output
    # everything else of the suite passes (or is skipped for an undeclared capability)
    skipped = {name for name, o in outcomes.items() if o == "skipped"}
    assert skipped == {
        "test_input_interpolated[no_adaptive_solver]",
        "test_nonfinite_derivative_is_an_error[no_adaptive_solver]",
        "test_delay_grid_refused_by_adaptive_solvers[no_adaptive_solver]",
        "test_float32[fixture_euler]",
        "test_float32[fixture_rk4]",
        "test_batched_field",
        "test_autodiff_field",
        "test_gpu[fixture_euler]",
        "test_gpu[fixture_rk4]",
        "test_sde_ou_variance[euler_maruyama]",
        "test_sde_ou_variance[heun_stochastic]",
        "test_sde_strong_order_euler_maruyama",
        "test_sde_weak_order_euler_maruyama",
        "test_sde_heun_stratonovich",
        "test_sde_heun_additive",
        "test_sde_delays_hand_loop[euler_maruyama]",
        "test_sde_delays_hand_loop[heun_stochastic]",
        "test_sde_delays_ou_variance[euler_maruyama]",
        "test_sde_delays_ou_variance[heun_stochastic]",
        "test_delay_outputs[fixture_euler]",
        "test_delay_outputs[fixture_rk4]",
        *({"test_generated_models"} - GENERATED),
    }, run.output
    assert sum(o == "passed" for o in outcomes.values()) > 150
    assert "capability 'float32' not declared by backend 'fixture'" in run.output
    assert "backend 'fixture' has no adaptive solver" in run.output


def test_a_broken_solver_fails_named_tests_of_that_solver(runs: dict[str, Run]) -> None:
    run = runs["euler"]
    outcomes = run.outcomes()
    failed = {name for name, o in outcomes.items() if o == "failed"}
    assert {
        "test_decay_one_step_map[fixture_euler]",
        "test_input_rows_per_step[fixture_euler]",
        "test_initial_state_last[fixture_euler]",
    } <= failed, run.output
    # (the generator's first-order tolerance may or may not see samples one step late)
    assert all(
        name.endswith(("[fixture_euler]", "-fixture_euler]")) for name in failed - GENERATED
    ), sorted(failed)
    # the model library is compared with a reference, not only checked for finite values
    assert any(name.startswith("test_model_library[") for name in failed), sorted(failed)
    assert all(outcomes[n] != "failed" for n in outcomes if n.endswith("fixture_rk4]"))


def test_known_failures_are_strict_xfails_and_stale_ids_warn(runs: dict[str, Run]) -> None:
    run = runs["subclass_broken"]
    outcomes = run.outcomes()
    assert run.returncode == 0, run.output
    assert {n for n, o in outcomes.items() if o == "xfailed"} == TANH_TESTS
    assert "failed" not in outcomes.values()
    assert "ConformanceWarning" in run.output and "test_no_such_test" in run.output
    # only the solvers the subclass names
    assert not [n for n in outcomes if "fixture_euler" in n]


def test_a_known_failure_that_passes_fails_the_run(runs: dict[str, Run]) -> None:
    run = runs["subclass_fine"]
    outcomes = run.outcomes()
    assert run.returncode == 1, run.output
    assert {n for n, o in outcomes.items() if o == "failed"} == TANH_TESTS
    assert "XPASS(strict)" in run.output


def test_rates_conformance_prints_a_table(fixture_sites, tmp_path: Path) -> None:
    env = dists.python_env(fixture_sites)
    env.pop("RATES_FIXTURE_BREAK", None)
    env["RATES_CACHE_DIR"] = str(tmp_path / "cache")
    command = [sys.executable, "-m", "rates_core", "conformance", "--backend", "fixture"]
    command += ["--solver", "fixture_rk4"]
    command += ["-k", "(decay or jacobian or float32 or stuart) and not model_library"]
    proc = subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = {
        line.split()[0]: line.split()[1:]
        for line in proc.stdout.splitlines()
        if line.split() and line.split()[0] in ("core", "complex", "float32", "total")
    }
    # test_decay and test_decay_one_step_map; test_stuart_landau; test_float32 (skipped)
    assert lines["core"] == ["2", "0", "0", "0"], proc.stdout
    assert lines["complex"] == ["1", "0", "0", "0"], proc.stdout
    assert lines["float32"] == ["0", "0", "1", "0"], proc.stdout
    assert "Conformance of backend 'fixture' (rates-fixture-plugin 0.1.0)" in proc.stdout
    assert "capability 'float32' not declared" in proc.stdout
    unknown = subprocess.run(
        [sys.executable, "-m", "rates_core", "conformance", "--backend", "no_such_backend"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert unknown.returncode == 1
    assert "UnknownBackendError" in unknown.stdout and "no_such_backend" in unknown.stdout


def test_a_backend_using_a_forbidden_library_fails_the_fallback_check(runs: dict[str, Run]) -> None:
    run = runs["forbidden"]
    outcomes = run.outcomes()
    assert outcomes == {
        "test_no_silent_fallback": "failed",
        "test_source_reimported": "passed",
    }, run.output
    assert "uses other backends' libraries" in run.output
    assert "source refers to numpy" in run.output
    assert "module namespace holds numpy" in run.output


def test_a_population_sharing_one_noise_sample_fails(runs: dict[str, Run]) -> None:
    run = runs["noise"]
    outcomes = run.outcomes()
    failed = {name for name, o in outcomes.items() if o == "failed"}
    assert failed == {
        "test_randn_population[fixture_euler]",
        "test_randn_population[fixture_rk4]",
    }, run.output
    assert outcomes["test_randn[fixture_rk4]"] == "passed"
    assert "each unit needs its own randn() sample" in run.output


def test_a_history_sampled_linearly_on_the_step_grid_fails(runs: dict[str, Run]) -> None:
    run = runs["history"]
    outcomes = run.outcomes()
    failed = {name for name, o in outcomes.items() if o == "failed"}
    # euler's own error hides it; rk4 shows it
    assert failed == {"test_delay_smooth_history[fixture_rk4]"}, run.output
    assert outcomes["test_delay_smooth_history[fixture_euler]"] == "passed"
    assert outcomes["test_delay_edge[fixture_rk4]"] == "passed"


def _collected(sites, cwd: Path, args: list[str]) -> list[str]:
    """The test ids (inside the class) pytest collects in ``cwd`` with ``args``."""
    environ = dists.python_env(sites)
    environ.pop("RATES_FIXTURE_BREAK", None)
    environ["RATES_CACHE_DIR"] = str(cwd / "cache")
    (cwd / "pytest.ini").write_text("[pytest]\naddopts =\n", encoding="utf-8")
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--collect-only", "-q"]
    command += ["-c", str(cwd / "pytest.ini"), *args]
    proc = subprocess.run(
        command, cwd=cwd, env=environ, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return sorted(line.rsplit("::", 1)[1] for line in proc.stdout.splitlines() if "::" in line)


def test_the_command_line_and_a_subclass_run_the_same_suite(fixture_sites, tmp_path: Path) -> None:
    """``rates conformance`` (``--rates-backend``) and a ConformanceSuite subclass collect the
    same tests with the same parameters, the model library included."""
    cli = tmp_path / "cli"
    cli.mkdir()
    args = ["-p", "rates_core.testing", "--rates-backend", "fixture"]
    by_option = _collected(fixture_sites, cli, args)
    sub = tmp_path / "subclass"
    sub.mkdir()
    (sub / "test_whole.py").write_text(WHOLE_MODULE, encoding="utf-8")
    by_subclass = _collected(fixture_sites, sub, ["test_whole.py"])
    assert by_option == by_subclass
    assert len(by_option) == len(set(by_option)) > 300
    assert "test_model_library[vanderpol.vdp-fixture_euler]" in by_option
    assert "test_model_library[vanderpol.vdp-fixture_rk4]" in by_option


def test_a_backend_not_running_on_its_library_fails(runs: dict[str, Run]) -> None:
    run = runs["pure"]
    outcomes = run.outcomes()
    failed = {name for name, o in outcomes.items() if o == "failed"}
    assert failed == {"test_runtime_used[fixture_rk4]"}, run.output
    # its numbers are right: only the check of the runtime sees it
    assert outcomes["test_jansen_rit[fixture_rk4]"] == "passed"
    assert outcomes["test_no_silent_fallback"] == "passed"
    assert "declares that it runs on numpy" in run.output
    assert "the vector field computes with none of them (only: math)" in run.output
