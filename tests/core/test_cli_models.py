"""``rates models``: the model library on the command line."""

from __future__ import annotations

import subprocess
import sys

import pytest

from rates_core.cli import format_models, library_entries, main


def test_lists_every_template_with_kind_and_description(capsys: pytest.CaptureFixture) -> None:
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].split() == ["file", "template", "kind", "description"]
    entries = library_entries()
    assert len(entries) > 30
    for e in entries:
        (line,) = [ln for ln in lines if ln.split()[:2] == [e.file, e.template]]
        assert line.split()[2] == e.kind
        assert e.summary and e.summary in line
        assert len(e.summary) <= 90
    rows = {tuple(ln.split()[:3]) for ln in lines[1:] if ln.strip()}
    assert ("qif", "qif", "circuit") in rows
    assert ("jansenrit", "JRC", "circuit") in rows
    assert ("base", "alpha_syn_op", "operator") in rows
    assert ("kuramoto", "kmo_pop", "node") in rows
    assert f"{len(entries)} template(s)" in out


def test_filters_by_file_and_kind(capsys: pytest.CaptureFixture) -> None:
    assert main(["models", "qif", "--kind", "circuit"]) == 0
    lines = [ln for ln in capsys.readouterr().out.splitlines()[1:] if ln.strip()][:-1]
    assert lines and all(ln.split()[0] == "qif" and ln.split()[2] == "circuit" for ln in lines)


def test_unknown_file_is_an_error(capsys: pytest.CaptureFixture) -> None:
    assert main(["models", "no_such_file"]) == 1
    err = capsys.readouterr().err
    assert "no model file 'no_such_file'" in err and "qif" in err


def test_help(capsys: pytest.CaptureFixture) -> None:
    assert main(["models", "--help"]) == 0
    out = capsys.readouterr().out
    assert "usage: rates models" in out and "rates_core.models" in out
    assert main(["--help"]) == 0
    assert "models" in capsys.readouterr().out


def test_entries_reference_loadable_templates() -> None:
    from rates_core import load_template

    for e in library_entries():
        assert type(load_template(e.reference)).__name__.lower().startswith(e.kind)


def test_format_without_entries() -> None:
    assert format_models([]) == "No templates.\n"


def test_module_entry_point() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "rates_core", "models", "--kind", "operator"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "qif_op" in proc.stdout and "JRC " not in proc.stdout
