"""rates_core.codegen: any text, escaped for a comment, string literal or docstring, stays there.

Each hostile text tries to leave its comment or literal and run a command (create a marker file).
Python is checked with ``ast``; Julia with tree-sitter-julia; MATLAB with octave-cli and Fortran
with gfortran, by running a small file and checking that only its own lines ran.
"""

from __future__ import annotations

import ast
import io
import shutil
import subprocess
import sys
import tokenize
from pathlib import Path

import pytest

from rates_core.codegen import (
    LANGUAGES,
    comment,
    comment_lines,
    docstring,
    one_line,
    string_literal,
)

MARK = "/tmp/rates_codegen_pwned"
HOSTILE = [
    'x"""+str(__import__("os").system("touch {m}"))+"""',
    "x\nimport os; os.system('touch {m}')",
    "x\nsystem('touch {m}')",
    "x\r\nsystem('touch {m}')",
    "x\n%}\nsystem('touch {m}')\n%{",
    "%{\nsystem('touch {m}')\n%}",
    "x\ncall execute_command_line('touch {m}')",
    "x\n!$ call execute_command_line('touch {m}')",
    "$omp parallel",
    "$(run(`touch {m}`))",
    '"""\n$(run(`touch {m}`))\n"""',
    "#=\nrun(`touch {m}`)\n=#",
    "x'); system('touch {m}'); ('",
    'x"); run(`touch {m}`); ("',
    "-*- coding: utf-7 -*- +AAo-import os+ADs-os.system('touch {m}')",
    "coding=utf_7",
    "\\",
    "tail\\",
    "\\\nsystem('touch {m}')",
    "\x00\x0b\x0c\x1b[2J\x7f",
    "\u2028system('touch {m}')\u0085\u00e9\U0001f600",
    "...",
    "",
]
TEXTS = [t.replace("{m}", MARK) for t in HOSTILE]


@pytest.fixture(autouse=True)
def no_marker():
    Path(MARK).unlink(missing_ok=True)
    yield
    assert not Path(MARK).exists(), "an escaped text ran a command"


@pytest.mark.parametrize("text", TEXTS)
def test_one_line_is_printable_ascii(text):
    line = one_line(text)
    assert line.isascii() and line.isprintable() and "\n" not in line


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("text", TEXTS)
def test_comments_are_one_line_behind_a_marker_and_a_space(text, lang):
    line = comment(text, lang)
    assert line.isascii() and line.isprintable()
    assert line[0] in "#!%" and (len(line) == 1 or line[1] == " ")


def test_unknown_language_is_an_error():
    with pytest.raises(ValueError, match="unknown language"):
        comment("x", "cobol")
    with pytest.raises(ValueError, match="no docstrings"):
        docstring("x", "fortran")


# --------------------------------------------------------------------------- Python


@pytest.mark.parametrize("text", TEXTS)
def test_python_comment_string_and_docstring_cannot_break_out(text):
    source = "\n".join(
        [
            comment(text, "python"),
            comment(text, "python"),
            f"x = {string_literal(text, 'python')}  {comment(text, 'python')}",
            "def f():",
            f"    {docstring(text, 'python')}",
            "    return 1",
            *comment_lines(text, "python"),
            "",
        ]
    )
    encoding, _ = tokenize.detect_encoding(io.BytesIO(source.encode("ascii")).readline)
    assert encoding == "utf-8"
    tree = ast.parse(source)
    assert [type(n) for n in tree.body] == [ast.Assign, ast.FunctionDef]
    assert ast.literal_eval(tree.body[0].value) == text
    func = tree.body[1]
    assert len(func.body) == 2 and ast.get_docstring(func, clean=False) == text


# --------------------------------------------------------------------------- Julia


def julia_tree(source: str):
    ts = pytest.importorskip("tree_sitter")
    tsj = pytest.importorskip("tree_sitter_julia")
    return ts.Parser(ts.Language(tsj.language())).parse(source.encode("ascii"))


def _walk(node):
    yield node
    for child in node.children:
        yield from _walk(child)


@pytest.mark.parametrize("text", TEXTS)
def test_julia_comment_string_and_docstring_cannot_break_out(text):
    source = "\n".join(
        [
            comment(text, "julia"),
            f"x = {string_literal(text, 'julia')} {comment(text, 'julia')}",
            docstring(text, "julia"),
            "function f()",
            "end",
            *comment_lines(text, "julia"),
            "",
        ]
    )
    root = julia_tree(source).root_node
    kinds = [n.type for n in root.children if n.type != "line_comment"]
    assert kinds == ["assignment", "string_literal", "function_definition"], source
    bad = {"ERROR", "string_interpolation", "block_comment", "command_literal"}
    assert not [n.type for n in _walk(root) if n.type in bad or n.is_missing], source


# --------------------------------------------------------------------------- Octave, Fortran


@pytest.mark.skipif(shutil.which("octave-cli") is None, reason="needs octave-cli")
def test_octave_runs_only_the_file_s_own_lines(tmp_path):
    lines = []
    for k, text in enumerate(TEXTS):
        lines += [comment(text, "matlab"), *comment_lines(text, "matlab")]
        lines.append(f"s = {string_literal(text, 'matlab')}; {comment(text, 'matlab')}")
        lines.append(f"printf('%d|%s|\\n', {k}, s);")
    script = tmp_path / "escaped.m"
    script.write_text("\n".join(lines) + "\n", encoding="ascii")
    out = subprocess.run(
        ["octave-cli", "--no-gui", "--norc", "--quiet", str(script)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [f"{k}|{one_line(t)}|" for k, t in enumerate(TEXTS)]


@pytest.mark.skipif(shutil.which("gfortran") is None, reason="needs gfortran")
def test_fortran_compiles_and_runs_only_the_file_s_own_lines(tmp_path):
    body = []
    for text in TEXTS:
        body += [comment(text, "fortran"), *comment_lines(text, "fortran")]
        body.append(f"  print '(a)', {string_literal(text, 'fortran')}  {comment(text, 'fortran')}")
    source = tmp_path / "escaped.f90"
    source.write_text("program escaped\n" + "\n".join(body) + "\nend program escaped\n")
    exe = tmp_path / "escaped"
    for flags in ([], ["-fopenmp"]):
        build = subprocess.run(
            ["gfortran", *flags, "-ffree-line-length-none", str(source), "-o", str(exe)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert build.returncode == 0, build.stderr
        out = subprocess.run([str(exe)], capture_output=True, text=True, timeout=60)
        assert out.stdout.splitlines() == [one_line(t).rstrip() for t in TEXTS]


def test_python_literal_round_trips_through_a_subprocess(tmp_path):
    """The escaped module, run for real, prints the texts back and does nothing else."""
    lines = [comment(t, "python") for t in TEXTS[:2]]
    lines += [f"print({string_literal(t, 'python')})" for t in TEXTS]
    path = tmp_path / "m.py"
    path.write_text("\n".join(lines) + "\n", encoding="ascii")
    out = subprocess.run([sys.executable, str(path)], capture_output=True, timeout=60)
    assert out.returncode == 0
    assert out.stdout.decode("utf-8", "replace").count("\n") >= len(TEXTS)


@pytest.mark.parametrize("text", TEXTS + ["../../etc/passwd", "a" * 300, "___", "Name_1"])
def test_file_stem_is_a_short_plain_name(text):
    from rates_core.codegen import MAX_STEM, file_stem

    stem = file_stem(text)
    assert stem and len(stem) <= MAX_STEM
    assert all(c.isascii() and (c.isalnum() or c == "_") for c in stem)
    assert file_stem("Name_1") == "Name_1" and file_stem("___") == "model"
