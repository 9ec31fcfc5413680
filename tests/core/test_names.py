"""Every model name obeys one grammar (rates_core.frontend.names), checked when a template is made.

Issue 17, finding 1: a circuit named ``x\"\"\"+str(__import__("os").system(...))+\"\"\"`` closed a
docstring in the generated NumPy module and ``rates run model.yaml`` ran the command; names with a
newline became code lines in MATLAB files and broke out of Julia docstrings.
"""

from __future__ import annotations

import importlib.util
import textwrap
from pathlib import Path

import pytest

from rates_core import (
    CircuitTemplate,
    EdgeTemplate,
    ModelError,
    NodeTemplate,
    OperatorTemplate,
    load_template,
)
from rates_core.cli import main
from rates_core.frontend.names import MAX_NAME_LENGTH, is_valid_name
from rates_core.frontend.population import Connectivity, PopulationTemplate

DOCSTRING_BREAK = 'x"""+str(__import__("os").system("touch {marker}"))+"""'
HOSTILE = [
    DOCSTRING_BREAK,
    "x\nsystem('touch /tmp/m')",  # a MATLAB code line after a comment
    'x"""\n$(run(`touch /tmp/m`))',  # Julia docstring break and interpolation
    "x'); system('id'); %",
    "a b",
    "a/b",
    "a-b",
    "a.b",
    "1abc",
    "",
    "x\x00",
    "x\r",
    "\u00e9t\u00e9",  # not ASCII
    "x" * (MAX_NAME_LENGTH + 1),
]
GOOD = ["x", "_", "end", "function", "pi", "module", "__init__", "self", "program", "A" * 128]

MODEL = """\
op:
  base: OperatorTemplate
  equations: "x' = -x"
  variables:
    x: output(1.0)
pop:
  base: NodeTemplate
  operators: [op]
{circuit}:
  base: CircuitTemplate
  nodes:
    {label}: pop
"""


def write_model(tmp_path: Path, circuit: str = "net", label: str = "p") -> Path:
    path = tmp_path / "model.yaml"
    text = MODEL.format(circuit=_yaml_key(circuit), label=_yaml_key(label))
    path.write_text(text)
    return path


def _yaml_key(name: str) -> str:
    """A YAML double-quoted key holding any text (JSON string syntax is valid YAML)."""
    import json

    return json.dumps(name)


def op(name: str = "op", var: str = "x") -> OperatorTemplate:
    return OperatorTemplate(name, equations=(f"{var}' = -{var}",), variables={var: "output(1.0)"})


@pytest.mark.parametrize("name", GOOD)
def test_the_grammar_accepts_identifiers_including_keywords_of_other_languages(name):
    assert is_valid_name(name)
    node = NodeTemplate(name, operators=[op(name)])
    CircuitTemplate(name, nodes={name: node})


@pytest.mark.parametrize("name", HOSTILE + [None, 3])
def test_the_grammar_rejects_hostile_names(name):
    assert not is_valid_name(name)


def test_the_hostile_circuit_name_of_the_finding_is_a_model_error_and_runs_nothing(tmp_path):
    marker = tmp_path / "PWNED"
    name = DOCSTRING_BREAK.format(marker=marker)
    path = write_model(tmp_path, circuit=name)
    with pytest.raises(ModelError) as info:
        load_template(f"{path}:{name}")
    assert info.value.file == str(path) and info.value.template == name
    assert "circuit name" in str(info.value) or "template name" in str(info.value)
    rc = main(["run", f"{path}:{name}", "--time", "0.01", "--step", "1e-3", "-q"])
    assert rc != 0 and not marker.exists()


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_node_labels_in_a_model_file_name_file_template_and_label(tmp_path, name):
    path = write_model(tmp_path, label=name)
    with pytest.raises(ModelError, match="node label") as info:
        load_template(f"{path}:net")
    assert info.value.file == str(path) and info.value.template == "net"
    assert repr(name[: MAX_NAME_LENGTH + 2]) in str(info.value)


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_names_in_python_templates(name):
    with pytest.raises(ModelError, match="operator name"):
        op(name)
    with pytest.raises(ModelError, match="node name"):
        NodeTemplate(name, operators=[op()])
    with pytest.raises(ModelError, match="edge name"):
        EdgeTemplate(name, operators=[])
    with pytest.raises(ModelError, match="circuit name"):
        CircuitTemplate(name)
    with pytest.raises(ModelError, match="node label"):
        CircuitTemplate("net", nodes={name: NodeTemplate("n", operators=[op()])})
    with pytest.raises(ModelError, match="node label"):
        CircuitTemplate("net", circuits={name: CircuitTemplate("sub")})
    with pytest.raises(ModelError, match="population name"):
        PopulationTemplate(name, node=NodeTemplate("n", operators=[op()]), n=2)
    with pytest.raises(ModelError, match="variable name"):
        op(var=name)


def test_hostile_edge_and_connectivity_paths():
    node = NodeTemplate("n", operators=[op()])
    with pytest.raises(ModelError, match="edge path") as info:
        CircuitTemplate("net", nodes={"p": node}, edges=[("p/op/x", "p\nq/op/x", None, {})])
    assert info.value.template == "net"
    with pytest.raises(ModelError, match="connectivity target"):
        Connectivity("p/op/x", "p/op/x'); system('id", 1.0)


def test_unit_numbers_stay_valid_labels_and_path_parts():
    node = NodeTemplate("n", operators=[op()])
    circuit = CircuitTemplate("net", nodes={"0": node, "1": node}, edges=[("0/op/x", "1/op/x")])
    assert circuit.labels() == ["0", "1"]


def test_the_longest_name_runs(tmp_path):
    name = "n" * MAX_NAME_LENGTH
    path = write_model(tmp_path, circuit=name, label=name)
    circuit = load_template(f"{path}:{name}")
    if importlib.util.find_spec("rates_numpy") is not None:  # the core session has no backend
        result = circuit.run(0.01, 1e-3, backend="numpy", solver="euler")
        assert result.shape[0] == 10
    with pytest.raises(ModelError, match="129 characters"):
        load_template(f"{write_model(tmp_path, circuit=name + 'n')}:{name}n")


def test_non_text_yaml_keys_are_model_errors(tmp_path):
    path = tmp_path / "model.yaml"
    path.write_text(textwrap.dedent(MODEL.format(circuit="net", label="p")) + "  edges: []\n")
    text = path.read_text().replace("    p: pop", "    1.5: pop")
    path.write_text(text)
    with pytest.raises(ModelError, match="node label"):
        load_template(f"{path}:net")


def test_to_yaml_keeps_names_of_the_longest_length_loadable(tmp_path):
    """Two different nodes named with the longest name: the YAML writer's ``<name>_2`` for the
    second stays within the grammar, so the file loads back."""
    name = "n" * MAX_NAME_LENGTH
    first = NodeTemplate(name, operators=[op()])
    second = NodeTemplate(name, operators=[op("op2", var="z")])
    circuit = CircuitTemplate("net", nodes={"a": first, "b": second})
    path = tmp_path / "out.yaml"
    circuit.to_yaml(str(path))
    loaded = load_template(f"{path}:net")
    assert sorted(loaded.nodes) == ["a", "b"]
    assert all(len(n.name) <= MAX_NAME_LENGTH for n in loaded.nodes.values())
