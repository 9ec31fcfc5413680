"""Every failure a user can cause is a rates error naming file, template and variable; model
files never execute code.

The faulty models are in ``tests/core/data/errors``: ``bad_models.yaml`` has one fault per
template, ``malformed.yaml`` is not YAML, ``hostile.yaml`` and ``yaml_tag.yaml`` try to run code.
"""

from __future__ import annotations

import builtins
import importlib.util
import os
import re
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import pytest

import rates_core
from rates_core import (
    CircuitTemplate,
    EquationError,
    ModelError,
    NodeTemplate,
    OperatorTemplate,
    RatesError,
    build_system,
    load_template,
)
from rates_core.cli import main
from rates_core.frontend import loader as loader_module
from rates_core.frontend import parse_declaration

DATA = Path(__file__).parent / "data"
ERRORS = DATA / "errors"
BAD = ERRORS / "bad_models.yaml"
MARKERS = (Path("/tmp/rates_pwned_x"), Path("/tmp/rates_pwned_y"))


def load_and_build(reference: str):
    """Load a template and, for a circuit, build its System (equations are parsed there)."""
    template = load_template(reference)
    if isinstance(template, CircuitTemplate):
        return build_system(template)
    return template


def failure(reference: str, error: type[RatesError] = ModelError) -> str:
    with pytest.raises(error) as info:
        load_and_build(reference)
    assert isinstance(info.value, RatesError)
    return str(info.value)


def bad(name: str) -> str:
    return f"{BAD}:{name}"


# --------------------------------------------------------------------------- user errors


def test_malformed_yaml_names_the_file_and_line():
    message = failure(f"{ERRORS / 'malformed.yaml'}:leaky_op")
    assert "malformed YAML" in message
    assert "malformed.yaml" in message
    assert "line 5" in message


def test_unknown_base():
    message = failure(bad("orphan_op"))
    assert "unknown base 'no_such_parent_op'" in message
    assert "bad_models.yaml" in message and "'orphan_op'" in message


def test_missing_reference_names_the_file_and_the_reference():
    message = failure(bad("missing_ref_node"))
    assert "bad_models.yaml" in message and "'vanished_op'" in message
    message = failure(bad("missing_node_circuit"))
    assert "bad_models.yaml" in message and "'missing_node_template'" in message


def test_missing_reference_names_the_referring_template():
    assert "'missing_ref_node'" in failure(bad("missing_ref_node"))
    assert "'missing_node_circuit'" in failure(bad("missing_node_circuit"))


def test_missing_template_and_missing_file():
    message = failure(bad("no_such_template"))
    assert "bad_models.yaml" in message and "'no_such_template'" in message
    message = failure(f"{ERRORS / 'no_such_file.yaml'}:leaky_op")
    assert "no_such_file.yaml" in message


def test_two_outputs_in_an_operator():
    message = failure(bad("two_outputs_op"))
    assert "exactly one output" in message
    assert "bad_models.yaml" in message and "'two_outputs_op'" in message
    assert "a, b" in message


def test_cyclic_operator_wiring_inside_a_node():
    message = failure(bad("cyclic_node"))
    assert "cyclic" in message
    assert "bad_models.yaml" in message and "'cyclic_node'" in message
    assert "ping_op" in message and "pong_op" in message


def test_edge_to_a_missing_variable():
    message = failure(bad("edge_to_missing"))
    assert "bad_models.yaml" in message and "'edge_to_missing'" in message
    assert "nonexistent_var" in message


def test_edge_from_a_missing_node():
    message = failure(bad("edge_from_missing_node"))
    assert "bad_models.yaml" in message and "'edge_from_missing_node'" in message
    assert "'ghost'" in message


def test_edge_targeting_a_non_input_variable():
    message = failure(bad("edge_to_constant"))
    assert "only feed input variables" in message
    assert "bad_models.yaml" in message and "'edge_to_constant'" in message
    assert "b/leaky_op/tau" in message


def test_edge_with_an_unknown_attribute():
    message = failure(bad("edge_with_unknown_attribute"))
    assert "strength" in message and "'edge_with_unknown_attribute'" in message


def test_shape_mismatch_in_update_var(monkeypatch):
    monkeypatch.chdir(DATA)
    circuit = CircuitTemplate.from_yaml("circuits/pair")
    for key, value in (("a/leaky_op/tau", [1.0, 2.0]), ("all/leaky_op/tau", [1.0, 2.0, 3.0])):
        with pytest.raises(ModelError) as info:
            circuit.update_var({key: value})
        message = str(info.value)
        assert "circuits.yaml" in message and "'pair'" in message and key in message
    with pytest.raises(ModelError) as info:
        circuit["a/leaky_op"].update_var("tau", [1.0, 2.0])
    message = str(info.value)
    assert "circuits.yaml" in message and "'leaky_op'" in message and "'tau'" in message
    with pytest.raises(ModelError, match="no node has a variable"):
        circuit.update_var({"a/leaky_op/nope": 1.0})


@pytest.mark.parametrize(
    ("name", "pattern"),
    [
        ("unknown_function_circuit", "unknown function 'frobnicate'"),
        ("unknown_variable_circuit", "unknown variable 'undeclared_drive'"),
    ],
)
def test_equation_errors_name_file_operator_and_variable(name, pattern):
    with pytest.raises(EquationError, match=pattern) as info:
        load_and_build(bad(name))
    error = info.value
    assert error.file == str(BAD)
    assert error.template == name.replace("_circuit", "_op")
    assert error.variable == "x"  # the equation that failed defines x
    assert error.position is not None
    assert "bad_models.yaml" in str(error)


@pytest.mark.parametrize("name", ["y", "dy", "t", "pi", "E", "I", "sin", "sigmoid", "past"])
def test_reserved_names_used_as_variables(name):
    """Declaring a reserved name is an error when the template is made (docs/model_format.rst)."""
    with pytest.raises(ModelError) as info:
        OperatorTemplate(
            "reserving_op",
            equations="x' = -x",
            variables={"x": "output(0.0)", name: 1.0},
            path="model.yaml",
        )
    error = info.value
    assert (error.variable, error.template, error.file) == (name, "reserving_op", "model.yaml")
    assert f"'{name}' is reserved" in str(error) and "model.yaml" in str(error)


def test_reserved_name_in_a_model_file_names_file_template_and_variable():
    with pytest.raises(ModelError, match="'pi' is reserved") as info:
        load_and_build(bad("reserved_circuit"))
    message = str(info.value)
    assert "bad_models.yaml" in message and "'reserved_op'" in message and "'pi'" in message


@pytest.mark.parametrize(
    ("name", "pattern", "variable"),
    [
        ("bad_declaration_op", "not a number", "tau"),
        ("bad_edit_op", "unknown equation edits", None),
        ("typo_op", r"unknown entries \['equation'\]", None),
        ("chicken_op", "circular template references", None),
        ("baseless_op", "'base:'", None),
        ("defined_input_circuit", "cannot be defined by an equation", "u"),
    ],
)
def test_other_template_faults(name, pattern, variable):
    with pytest.raises(ModelError, match=pattern) as info:
        load_and_build(bad(name))
    message = str(info.value)
    assert "bad_models.yaml" in message
    assert f"'{name.replace('_circuit', '_op')}'" in message
    if variable:
        assert info.value.variable == variable


def test_algebraic_cycle_names_the_variables_and_template():
    op = OperatorTemplate(
        "loop_op",
        equations=["a = b + 1", "b = 2*a", "x' = -x + a"],
        variables={"x": "output(0.0)", "a": "variable(0.0)", "b": "variable(0.0)"},
    )
    circuit = CircuitTemplate("looped", nodes={"n": NodeTemplate("n", operators=[op])})
    with pytest.raises(ModelError, match="cycle") as info:
        build_system(circuit)
    assert "a -> b -> a" in str(info.value) and "'looped'" in str(info.value)


def test_errors_are_catchable_as_value_errors():
    with pytest.raises(ValueError):
        load_and_build(bad("two_outputs_op"))


# --------------------------------------------------------------------------- security


@pytest.fixture
def no_code_runs(monkeypatch):
    """Remove the marker files, record every eval/exec, and make os.system/subprocess fail."""
    for marker in MARKERS:
        marker.unlink(missing_ok=True)
    calls: list[str] = []
    real_eval, real_exec = builtins.eval, builtins.exec

    def spy_eval(source, *args, **kwargs):
        calls.append(f"eval: {source!r}")
        return real_eval(source, *args, **kwargs)

    def spy_exec(source, *args, **kwargs):
        calls.append(f"exec: {source!r}")
        return real_exec(source, *args, **kwargs)

    def forbidden(*args, **kwargs):
        calls.append(f"process: {args!r}")
        raise AssertionError("a model file started a process")

    monkeypatch.setattr(builtins, "eval", spy_eval)
    monkeypatch.setattr(builtins, "exec", spy_exec)
    monkeypatch.setattr(os, "system", forbidden)
    monkeypatch.setattr(subprocess, "Popen", forbidden)
    yield calls
    suspicious = [c for c in calls if "rates_pwned" in c or "__import__" in c or "process" in c]
    assert suspicious == []
    for marker in MARKERS:
        assert not marker.exists(), f"{marker} was created: code from a model file ran"


HOSTILE = [
    ("import", "apostrophe"),
    ("dunder", "attribute access"),
    ("class_walk", "attribute access"),
    ("open", "apostrophe"),
    ("lambda", "only named functions"),
    ("bare_lambda", "lambda expressions"),
    ("eval", "unknown function 'eval'"),
    ("declaration", "not a number"),
    ("edit", "apostrophe"),
]


@pytest.mark.parametrize(("name", "pattern"), HOSTILE)
def test_hostile_equations_are_rejected_and_nothing_runs(no_code_runs, name, pattern):
    with pytest.raises(RatesError, match=pattern) as info:
        load_and_build(f"{ERRORS / 'hostile.yaml'}:{name}_circuit")
    assert isinstance(info.value, ModelError)
    assert "hostile.yaml" in str(info.value)


def test_python_object_yaml_tag_is_rejected_and_nothing_runs(no_code_runs):
    with pytest.raises(ModelError, match="malformed YAML") as info:
        load_template(f"{ERRORS / 'yaml_tag.yaml'}:leaky_op")
    assert "yaml_tag.yaml" in str(info.value)
    assert "python/object/apply" in str(info.value)


@pytest.mark.parametrize(
    "equation",
    [
        "x' = -x + __import__('os').system('touch /tmp/rates_pwned_x')",
        'x\' = -x + __import__("os").system("touch /tmp/rates_pwned_x")',
        "x' = -x + ().__class__",
        "x' = -x + open('f')",
        "x' = lambda: 1",
        "x' = -x + [c for c in ()]",
        "x' = -x + globals()",
        "x' = -x + x[0]",
        "x' = -x + __builtins__",
        "x' = exec(x)",
        "__class__ = x",
    ],
)
def test_hostile_equations_from_python_are_rejected(no_code_runs, equation):
    op = OperatorTemplate("hostile_op", equations=equation, variables={"x": "output(0.0)"})
    circuit = CircuitTemplate("c", nodes={"n": NodeTemplate("n", operators=[op])})
    with pytest.raises(EquationError):
        build_system(circuit)


@pytest.mark.parametrize(
    "decl",
    [
        "__import__('os').system('touch /tmp/rates_pwned_x')",
        "().__class__",
        "input(__import__('os').system('touch /tmp/rates_pwned_x'))",
        "variable(open('f'))",
        {"vtype": "state", "value": "__import__('os').system('touch /tmp/rates_pwned_x')"},
        {"default": "lambda: 1"},
    ],
)
def test_hostile_declarations_are_rejected(no_code_runs, decl):
    with pytest.raises(ModelError):
        parse_declaration(decl, template="op", variable="v")


def test_hostile_reference_strings_are_model_errors(no_code_runs, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for reference in (
        "__import__('os').system('touch /tmp/rates_pwned_x')",
        "os.system.touch",
        "../../../../etc/passwd/x",
        "",
    ):
        with pytest.raises(ModelError):
            load_template(reference)


# ------------------------------------------------------------------ references never import

OPERATOR_YAML = """\
Template:
  base: OperatorTemplate
  equations: "x' = -x"
  variables:
    x: output(0.0)
"""


def write_package(root: Path, name: str, marker: Path) -> Path:
    """``name/__init__.py`` and ``name/sub/{__init__.py,file.py}`` that each write ``marker``
    when run, plus the data file ``name/sub/file.yaml``; returns the ``sub`` folder."""
    code = f"open({str(marker)!r}, 'w').write('ran')\n"
    sub = root / name / "sub"
    sub.mkdir(parents=True)
    for module in (root / name / "__init__.py", sub / "__init__.py", sub / "file.py"):
        module.write_text(code)
    (sub / "file.yaml").write_text(OPERATOR_YAML)
    return sub


def test_dotted_reference_locates_yaml_without_running_package_code(
    no_code_runs, tmp_path, monkeypatch
):
    marker = tmp_path / "marker"
    sub = write_package(tmp_path, "evilmod", marker)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    op = load_template("evilmod.sub.file.Template")
    assert isinstance(op, OperatorTemplate)
    assert op.path == str(sub / "file.yaml")
    assert not marker.exists(), "a package __init__.py ran while resolving a reference"
    assert "evilmod" not in sys.modules and "evilmod.sub" not in sys.modules


def test_dotted_reference_never_reads_python_files(no_code_runs, tmp_path, monkeypatch):
    marker = tmp_path / "marker"
    sub = write_package(tmp_path, "evilmod2", marker)
    (sub / "file.yaml").unlink()  # only file.py is left: not a model file
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ModelError, match="cannot resolve"):
        load_template("evilmod2.sub.file.Template")
    assert not marker.exists()
    assert "evilmod2.sub.file" not in sys.modules


@pytest.mark.parametrize(
    "reference",
    [
        "evilmod3..sub.file.Template",
        "evilmod3.sub..file.Template",
        "evilmod3.sub.file..Template",
        ".evilmod3.sub.file.Template",
        "evilmod3.sub-dir.file.Template",
        "evilmod3.süb.file.Template",
    ],
)
def test_dotted_reference_parts_are_plain_identifiers(tmp_path, monkeypatch, reference):
    write_package(tmp_path, "evilmod3", tmp_path / "marker")
    (tmp_path / "evilmod3" / "sub-dir").mkdir()
    (tmp_path / "evilmod3" / "sub-dir" / "file.yaml").write_text(OPERATOR_YAML)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ModelError, match="cannot resolve"):
        load_template(reference)


def test_dotted_reference_through_an_import_hook_such_as_an_editable_install(tmp_path, monkeypatch):
    """setuptools' editable installs put a finder on sys.meta_path instead of a sys.path entry."""
    marker = tmp_path / "marker"
    write_package(tmp_path / "src", "hooked_pkg", marker)
    folder = str(tmp_path / "src" / "hooked_pkg")

    class EditableFinder:
        @staticmethod
        def find_spec(fullname, path=None, target=None):
            if fullname != "hooked_pkg":
                return None
            return importlib.util.spec_from_file_location(
                fullname, f"{folder}/__init__.py", submodule_search_locations=[folder]
            )

    monkeypatch.setattr(sys, "meta_path", [*sys.meta_path, EditableFinder])
    assert isinstance(load_template("hooked_pkg.sub.file.Template"), OperatorTemplate)
    assert not marker.exists() and "hooked_pkg" not in sys.modules


def test_dotted_reference_into_an_imported_package_uses_its_path():
    """rates_core is imported: its __path__ is used as it is (editable or normal install)."""
    jrc = load_template("rates_core.models.jansenrit.JRC")
    assert isinstance(jrc, CircuitTemplate)
    assert Path(jrc.path).parent == Path(rates_core.__file__).parent / "models"


# ------------------------------------------------------------------ bounded YAML and declarations


def small_and_fast(load) -> ModelError:
    """Run ``load``, which must fail with a ModelError in well under a second and 50 MB."""
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(ModelError) as info:
            load()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - start < 0.5
    assert peak < 50 * 2**20
    return info.value


def test_billion_laughs_is_refused_before_it_expands(no_code_runs):
    path = ERRORS / "billion_laughs.yaml"
    error = small_and_fast(lambda: load_template(f"{path}:laughing_op"))
    assert "billion laughs" in str(error) and error.file == str(path)


def test_a_few_aliases_still_load(tmp_path):
    path = tmp_path / "anchors.yaml"
    path.write_text(
        "shared: &vars {x: output(0.0), tau: 2.0}\n"
        'a_op: {base: OperatorTemplate, equations: "x\' = -x/tau", variables: *vars}\n'
        "b_op: {base: a_op, variables: {<<: *vars, tau: 3.0}}\n"
    )
    assert load_template(f"{path}:b_op")["tau"].value == 3.0


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        ("a: &a [*a]\n", "refers to a node that contains it"),
        ("a: " + "[" * 100_000 + "\n", "nested too deeply"),
        ("a:\n" + "".join(" " * i + "b:\n" for i in range(1, 1000)), "nested too deeply"),
        ("a: 1" + "0" * 5000 + "\n", "malformed YAML"),
    ],
)
def test_hostile_yaml_structure_is_a_model_error(tmp_path, text, pattern):
    path = tmp_path / "hostile.yaml"
    path.write_text(text)
    error = small_and_fast(lambda: load_template(f"{path}:a"))
    assert pattern in str(error) and error.file == str(path)


OVERSIZED = ERRORS / "oversized.yaml"


@pytest.mark.parametrize(
    ("name", "variable", "pattern"),
    [
        ("big_shape_op", "x", "sizes are whole numbers from 0 to 10000000"),
        ("big_long_shape_op", "x", "more than 10000000 elements"),
        ("infinite_shape_op", "x", "sizes are whole numbers"),
        ("overflowing_op", "x", "finite"),
        ("yaml_inf_op", "tau", "finite"),
        ("yaml_nan_op", "tau", "finite"),
        ("nan_in_list_op", "x", "finite"),
        ("nan_override_node", "tau", "finite"),
        ("huge_population", None, "at most 10000000"),
        ("infinite_population", None, "at most 10000000"),
        ("nan_param_population", "leaky_op/tau", "finite"),
        ("huge_sparse_circuit", None, "matrix sizes are whole numbers from 0 to 10000000"),
        ("nan_weights_circuit", "p/leaky_op/x -> p/leaky_op/u", "finite"),
        ("inf_edge_circuit", None, "edge attribute 'weight'.*finite"),
    ],
)
def test_oversized_or_non_finite_declarations_are_model_errors(name, variable, pattern):
    error = small_and_fast(lambda: load_template(f"{OVERSIZED}:{name}"))
    assert re.search(pattern, str(error)), str(error)
    assert error.file == str(OVERSIZED)
    assert name in str(error)  # the template, or the reference to it that failed
    if variable is not None:
        assert error.variable == variable


@pytest.mark.parametrize("decl", ["output(0.0, 300000000)", "variable(0.0, (100000, 100000))"])
def test_oversized_declarations_from_python_are_model_errors(decl):
    small_and_fast(lambda: parse_declaration(decl, template="op", variable="v"))


def test_update_var_rejects_non_finite_values():
    op = load_template(f"{OVERSIZED}:leaky_op")
    for value in (float("inf"), float("nan"), -float("inf")):
        with pytest.raises(ModelError, match="finite") as info:
            op.update_var("tau", value)
        assert info.value.variable == "tau"


def test_one_load_declares_a_bounded_number_of_elements(tmp_path, monkeypatch):
    """Each variable is capped, and so are all variables of one load together."""
    monkeypatch.setattr(loader_module, "MAX_LOAD_ELEMENTS", 100)
    path = tmp_path / "many.yaml"
    lines = ["many_op:", "  base: OperatorTemplate", '  equations: "x\' = -x"', "  variables:"]
    lines += ["    x: output(0.0)"] + [f"    v{k}: variable(0.0, 40)" for k in range(3)]
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ModelError, match="more than 100 variable elements") as info:
        load_template(f"{path}:many_op")
    assert info.value.template == "many_op" and info.value.file == str(path)
    path.write_text("\n".join(lines[:-1]) + "\n")  # 81 elements: within the budget
    assert load_template(f"{path}:many_op")["v1"].shape == (40,)
    pop = tmp_path / "pop.yaml"
    pop.write_text(
        f"big: {{base: PopulationTemplate, node: {OVERSIZED}:leaky_node, n: 40}}\n"
    )  # 40 units x 3 variables
    with pytest.raises(ModelError, match="more than 100 variable elements"):
        load_template(f"{pop}:big")


@pytest.mark.parametrize(
    ("argv", "name"),
    [
        (["validate", str(OVERSIZED)], "oversized.yaml"),
        (["validate", str(ERRORS / "billion_laughs.yaml")], "billion_laughs.yaml"),
        (["run", f"{OVERSIZED}:huge_sparse_circuit", "-T", "1", "--dt", "0.1"], "huge_sparse"),
        (["run", str(ERRORS / "billion_laughs.yaml"), "-T", "1", "--dt", "0.1"], "billion"),
    ],
)
def test_cli_reports_hostile_files_without_a_traceback(argv, name, capsys):
    assert main(argv) == 1
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err
    assert name in captured.out + captured.err


def test_nested_sub_circuits_are_bounded_when_flattened(tmp_path, monkeypatch):
    """Ten sub-circuits of ten sub-circuits ...: a few lines that flatten to 10^depth nodes."""
    monkeypatch.setattr(loader_module, "MAX_LOAD_ELEMENTS", 5_000)
    lines = [
        f"leaky_node: {{base: {OVERSIZED}:leaky_node}}",
        "c0: {base: CircuitTemplate, nodes: {"
        + ", ".join(f"n{i}: leaky_node" for i in range(10))
        + "}}",
    ]
    for k in range(1, 4):
        subs = ", ".join(f"s{i}: c{k - 1}" for i in range(10))
        lines.append(f"c{k}: {{base: CircuitTemplate, circuits: {{{subs}}}}}")
    path = tmp_path / "nested.yaml"
    path.write_text("\n".join(lines) + "\n")
    assert isinstance(load_template(f"{path}:c2"), CircuitTemplate)  # 1000 nodes x 3 variables
    error = small_and_fast(lambda: load_template(f"{path}:c3"))  # 10^4 nodes x 3 variables
    assert "flattens to 30000 variable elements" in str(error)
    assert error.template == "c3" and error.file == str(path)


def test_equation_edits_cannot_grow_an_equation_exponentially(tmp_path, monkeypatch):
    """``replace: {x: (x+x)}`` down a chain of templates doubles the equation each time."""
    monkeypatch.setattr(loader_module, "MAX_EQUATION_LENGTH", 1000)
    lines = [f"op0: {{base: {OVERSIZED}:leaky_op}}"]
    lines += [
        f"op{k}: {{base: op{k - 1}, equations: {{replace: {{x: '(x+x)'}}}}}}" for k in range(1, 21)
    ]
    path = tmp_path / "doubling.yaml"
    path.write_text("\n".join(lines) + "\n")
    assert load_template(f"{path}:op4").equations[0].count("x") == 2 * 2**4  # both sides
    error = small_and_fast(lambda: load_template(f"{path}:op20"))
    assert "more than 1000" in str(error) and error.file == str(path)


def test_long_chains_of_references_are_a_model_error_not_a_recursion_error(tmp_path):
    lines = [f"op0: {{base: {OVERSIZED}:leaky_op}}"]
    lines += [f"op{k}: {{base: op{k - 1}}}" for k in range(1, 2000)]
    path = tmp_path / "chain.yaml"
    path.write_text("\n".join(lines) + "\n")
    assert load_template(f"{path}:op40").name == "op40"
    with pytest.raises(ModelError, match="more than 50 deep") as info:
        load_template(f"{path}:op1999")
    assert info.value.file == str(path) and len(str(info.value)) < 300
