"""``rates validate`` and the parts of ``rates run`` that need no backend plugin: usage errors,
exit codes, input files, values and models named on the command line."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import numpy as np
import pytest

from rates_core.cli import build_parser, load_circuit, main, parse_value, read_input_file
from rates_core.errors import ModelError

BAD_FILE = """\
op1:
  base: OperatorTemplate
  equations: ["r' = -r + foo(r)", "v' = (v +* 2)"]
  variables:
    r: output(0.0)
    v: variable(0.0)
op2:
  base: OperatorTemplate
  equations: "x' = -x/tau"
  variables:
    x: output(0.0)
    tau: 1.0
node1:
  base: NodeTemplate
  operators: [op1]
node2:
  base: NodeTemplate
  operators: [op2]
net:
  base: CircuitTemplate
  nodes: {a: node1}
  edges:
    - [a/op1/r, b/op1/r, null, {weight: 1.0}]
broken_ref:
  base: CircuitTemplate
  nodes: {a: node2, b: missing_node}
"""

GOOD_FILE = """\
decay_op:
  base: OperatorTemplate
  equations: "x' = -x/tau + u"
  variables:
    x: output(1.0)
    tau: 2.0
    u: input(0.0)
decay:
  base: NodeTemplate
  operators: [decay_op]
pair:
  base: CircuitTemplate
  nodes: {a: decay, b: decay}
  edges:
    - [a/decay_op/x, b/decay_op/u, null, {weight: 0.5}]
"""


@pytest.fixture
def bad_file(tmp_path: Path) -> Path:
    path = tmp_path / "bad.yaml"
    path.write_text(BAD_FILE, encoding="utf-8")
    return path


@pytest.fixture
def good_file(tmp_path: Path) -> Path:
    path = tmp_path / "good.yaml"
    path.write_text(GOOD_FILE, encoding="utf-8")
    return path


# --------------------------------------------------------------------------- rates validate


def test_validate_library_model(capsys: pytest.CaptureFixture) -> None:
    assert main(["validate", "rates_core.models.jansenrit.JRC"]) == 0
    out = capsys.readouterr().out
    assert "rates_core.models.jansenrit.JRC: ok" in out
    assert "System built: 8 states" in out
    assert "1 template(s) checked: 0 error(s), 0 warning(s)" in out


def test_validate_good_file_checks_every_template(
    good_file: Path, capsys: pytest.CaptureFixture
) -> None:
    assert main(["validate", str(good_file)]) == 0
    out = capsys.readouterr().out
    for name in ("decay_op", "decay", "pair"):
        assert f"{good_file}:{name}: ok" in out
    assert "OperatorTemplate 'decay_op': loaded, every equation parses" in out
    assert "CircuitTemplate 'pair': System built: 2 states" in out
    assert "3 template(s) checked: 0 error(s)" in out


def test_validate_reports_every_problem_once(bad_file: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["validate", str(bad_file)]) == 1
    out = capsys.readouterr().out
    # both broken equations of op1, not only the first, each naming file, template, variable
    assert out.count("unknown function 'foo'") == 1
    assert out.count("syntax error") == 1
    assert f"file '{bad_file}', template 'op1', variable 'r'" in out
    assert "template 'op1', variable 'v'" in out
    assert f"{bad_file}:op2: ok" in out
    assert f"{bad_file}:node1: FAILED" in out
    assert "2 problem(s) reported above for a template it uses" in out
    # the circuit is built despite the equation errors, so its bad edge is found too
    assert "no node 'b' for path 'b/op1/r'" in out and "template 'net'" in out
    assert f"{bad_file}:broken_ref: FAILED" in out and "missing_node" in out
    assert "6 template(s) checked: 4 error(s), 0 warning(s)" in out


def test_validate_quiet_prints_only_failures(bad_file: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["validate", "-q", str(bad_file)]) == 1
    out = capsys.readouterr().out
    assert ":op2:" not in out and "System built" not in out
    assert ":op1: FAILED" in out


def test_validate_bad_yaml_names_the_file(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("a: [1, 2\nb: {", encoding="utf-8")
    assert main(["validate", str(path)]) == 1
    out = capsys.readouterr().out
    assert "malformed YAML" in out and str(path) in out


def test_validate_unknown_reference_and_backend(capsys: pytest.CaptureFixture) -> None:
    assert main(["validate", "rates_core.models.no_such_file.X"]) == 1
    assert "cannot resolve template reference" in capsys.readouterr().out
    code = main(["validate", "--backend", "no_such_backend", "rates_core.models.qif.qif"])
    assert code == 1
    assert "no_such_backend" in capsys.readouterr().out


def test_validate_needs_a_model(capsys: pytest.CaptureFixture) -> None:
    assert main(["validate"]) == 2
    assert "usage: rates validate" in capsys.readouterr().err


# --------------------------------------------------------------------------- rates run


def test_help_of_every_command_documents_exit_codes(capsys: pytest.CaptureFixture) -> None:
    for command in ("run", "validate", "export", "models", "plugins", "conformance"):
        assert main([command, "--help"]) == 0
        out = capsys.readouterr().out
        assert f"usage: rates {command}" in out and "exit codes" in out
    assert "130" in build_parser().format_help()


@pytest.mark.parametrize(
    "argv, message",
    [
        (["run", "rates_core.models.qif.qif", "--step", "0.1"], "--time"),
        (["run", "rates_core.models.qif.qif", "--time", "1", "--step", "x"], "invalid float"),
        (
            ["run", "rates_core.models.qif.qif", "--time", "1", "--step", "0.1", "-o", "r"],
            "--output must be NAME=VALUE",
        ),
        (
            ["run", "rates_core.models.qif.qif", "--time", "1", "--step", "0.1", "--set", "=3"],
            "--set must be NAME=VALUE",
        ),
        (["run", "rates_core.models.qif.qif", "--time", "-1", "--step", "0.1"], "positive"),
        (["run", "rates_core.models.qif.qif", "--time", "nan", "--step", "0.1"], "positive"),
        (["run", "rates_core.models.qif.qif", "--time", "inf", "--step", "0.1"], "--time must"),
        (
            ["run", "rates_core.models.qif.qif", "-T", "1", "--dt", "0.1", "--cutoff", "nan"],
            "--cutoff must be finite",
        ),
        (
            ["run", "rates_core.models.qif.qif", "-T", "1", "--dt", "0.1", "--sampling", "inf"],
            "--sampling must be finite",
        ),
    ],
)
def test_run_usage_errors_exit_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture
) -> None:
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_run_unknown_backend_exits_1(capsys: pytest.CaptureFixture) -> None:
    argv = ["run", "rates_core.models.qif.qif", "-T", "1", "--dt", "0.1", "--backend", "nope"]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("rates: error:") and "nope" in err


def test_run_model_errors_name_the_template(bad_file: Path, capsys: pytest.CaptureFixture) -> None:
    argv = ["run", f"{bad_file}:net", "--time", "1", "--step", "0.1", "--backend", "nope"]
    assert main(argv) == 1
    assert "nope" in capsys.readouterr().err
    assert main(["run", str(bad_file), "--time", "1", "--step", "0.1"]) == 1
    err = capsys.readouterr().err
    assert "2 circuit templates (net, broken_ref)" in err and f"{bad_file}:NAME" in err


def test_load_circuit_from_a_file_with_one_circuit(good_file: Path) -> None:
    circuit = load_circuit(str(good_file))
    assert circuit.name == "pair"
    assert load_circuit(f"{good_file}:pair").name == "pair"
    assert load_circuit("rates_core.models.qif.qif").name == "qif"


@pytest.mark.parametrize(
    "text, value",
    [
        ("3", 3),
        ("-2.5", -2.5),
        ("1e-3", 1e-3),
        ("1+2j", 1 + 2j),
        ("true", True),
        ("none", None),
        ("1,2,3.5", [1, 2, 3.5]),
        ("DOP853", "DOP853"),
        ("__import__('os')", "__import__('os')"),
    ],
)
def test_parse_value_never_evaluates(text: str, value: object) -> None:
    assert parse_value(text) == value


# --------------------------------------------------------------------------- input files


def _write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "input.csv"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return str(path)


def test_input_file_one_row_per_step(tmp_path: Path) -> None:
    rows = read_input_file(_write(tmp_path, "1\n2\n3\n4\n"), "p/op/u", 4, 0.1)
    np.testing.assert_array_equal(rows, [1.0, 2.0, 3.0, 4.0])
    rows = read_input_file(_write(tmp_path, "a,b\n1,5\n2,6\n"), "all/op/u", 2, 0.1)
    assert rows.shape == (2, 2)
    np.testing.assert_array_equal(rows[:, 1], [5.0, 6.0])


def test_input_file_with_time_column_is_interpolated(tmp_path: Path) -> None:
    path = _write(tmp_path, "time,u\n0.0,0.0\n1.0,10.0\n")
    rows = read_input_file(path, "p/op/u", 5, 0.25)
    np.testing.assert_allclose(rows, [0.0, 2.5, 5.0, 7.5, 10.0])


@pytest.mark.parametrize(
    "text, message",
    [
        ("1\n2\n", "2 rows, but the run has 4 steps"),
        ("1\nx\n3\n4\n", "must be a number"),
        ("time\n0\n1\n", "needs at least one value column"),
        ("t,u\n1,0\n0,1\n", "times must increase"),
        ("", "empty"),
    ],
)
def test_bad_input_files_name_file_and_variable(tmp_path: Path, text: str, message: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ModelError, match=message) as info:
        read_input_file(path, "p/op/u", 4, 0.1)
    assert info.value.file == path and info.value.variable == "p/op/u"


def test_missing_input_file(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="no such file"):
        read_input_file(str(tmp_path / "absent.csv"), "p/op/u", 4, 0.1)


# --------------------------------------------------------------------------- output files


def _run_argv(model: str, *extra: str) -> list[str]:
    return ["run", model, "--time", "1", "--step", "0.1", "--backend", "nope", *extra]


def test_run_refuses_an_existing_csv_before_simulating(
    good_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "out.csv"
    out.write_text("keep", encoding="utf-8")
    assert main(_run_argv(str(good_file), "--csv", str(out))) == 1
    err = capsys.readouterr().err
    assert (
        err == f"rates: error: {out} exists; use --force (overwrite=True in Python) to replace it\n"
    )
    assert out.read_text(encoding="utf-8") == "keep"
    # with --force the file check passes and the run goes on (to the unknown backend)
    assert main(_run_argv(str(good_file), "--csv", str(out), "--force")) == 1
    assert "nope" in capsys.readouterr().err


@pytest.mark.parametrize("flag", ["--csv", "--plot"])
def test_run_never_writes_the_model_or_input_file(
    good_file: Path, tmp_path: Path, flag: str, capsys: pytest.CaptureFixture
) -> None:
    if flag == "--plot":
        pytest.importorskip("matplotlib")  # without it, rates run stops before loading
    before = good_file.read_text(encoding="utf-8")
    assert main(_run_argv(str(good_file), flag, str(good_file), "--force")) == 1
    err = capsys.readouterr().err
    assert "never overwrites a model file" in err and err.count("\n") == 1  # one line
    assert good_file.read_text(encoding="utf-8") == before
    rows = tmp_path / "u.csv"
    rows.write_text("1\n" * 10, encoding="utf-8")
    argv = _run_argv(str(good_file), "-i", f"a/decay_op/u={rows}", flag, str(rows), "--force")
    assert main(argv) == 1
    assert "never overwrites a model file" in capsys.readouterr().err
    assert rows.read_text(encoding="utf-8") == "1\n" * 10


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="no symbolic links")
def test_run_refuses_a_symlinked_csv(
    good_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    target = tmp_path / "target.txt"
    target.write_text("secret", encoding="utf-8")
    link = tmp_path / "link.csv"
    link.symlink_to(target)
    assert main(_run_argv(str(good_file), "--csv", str(link))) == 1
    assert "is a symbolic link" in capsys.readouterr().err
    assert target.read_text(encoding="utf-8") == "secret" and link.is_symlink()
