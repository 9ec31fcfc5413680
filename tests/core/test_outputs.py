"""rates_core.outputs: output files are replaced only with overwrite=True, model files never,
symbolic links are never written through, and a multi-file write is checked before it starts
(issue 17, finding 7)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from rates_core.cache import write_copy
from rates_core.errors import OutputExistsError, OutputFileError, RatesError
from rates_core.frontend import CircuitTemplate
from rates_core.outputs import check_file, model_files, write_file, write_files

needs_symlinks = pytest.mark.skipif(not hasattr(os, "symlink"), reason="no symbolic links")


def test_new_file_is_written_with_missing_folders(tmp_path: Path) -> None:
    path = write_file(tmp_path / "a" / "b" / "out.txt", "x = 1\n")
    assert path.read_text(encoding="utf-8") == "x = 1\n"
    assert sorted(p.name for p in path.parent.iterdir()) == ["out.txt"]  # no temporary left


def test_existing_file_needs_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "out.txt"
    path.write_text("old", encoding="utf-8")
    with pytest.raises(OutputExistsError, match=r"out\.txt exists; use --force"):
        write_file(path, "new")
    assert path.read_text(encoding="utf-8") == "old"
    write_file(path, "new", overwrite=True)
    assert path.read_text(encoding="utf-8") == "new"


def test_model_file_is_never_written(tmp_path: Path) -> None:
    model = tmp_path / "model.yaml"
    model.write_text("model", encoding="utf-8")
    for overwrite in (False, True):
        with pytest.raises(OutputFileError, match="never overwrites a model file"):
            write_file(tmp_path / "." / "model.yaml", "x", overwrite=overwrite, protect=[model])
    assert model.read_text(encoding="utf-8") == "model"


@needs_symlinks
@pytest.mark.parametrize("dangling", [False, True])
def test_symlink_is_refused_and_with_overwrite_replaced_not_followed(
    tmp_path: Path, dangling: bool
) -> None:
    target = tmp_path / "target.txt"
    if not dangling:
        target.write_text("secret", encoding="utf-8")
    link = tmp_path / "link.txt"
    link.symlink_to(target)
    with pytest.raises(OutputFileError, match="symbolic link"):
        write_file(link, "new")
    assert link.is_symlink()
    write_file(link, "new", overwrite=True)
    assert not link.is_symlink() and link.read_text(encoding="utf-8") == "new"
    if dangling:
        assert not target.exists()
    else:
        assert target.read_text(encoding="utf-8") == "secret"


def test_folder_and_file_in_the_way_are_clear_errors(tmp_path: Path) -> None:
    (tmp_path / "dir").mkdir()
    with pytest.raises(OutputFileError, match="is a folder"):
        write_file(tmp_path / "dir", "x", overwrite=True)
    (tmp_path / "plain").write_text("x", encoding="utf-8")
    with pytest.raises(OutputFileError, match="is a file, not a folder"):
        write_file(tmp_path / "plain" / "out.txt", "x")


def test_os_errors_become_output_file_errors(tmp_path: Path, monkeypatch) -> None:
    def refuse(*args: object, **kwargs: object) -> int:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("rates_core.outputs.os.open", refuse)
    with pytest.raises(OutputFileError, match="cannot write .*out.txt: Permission denied"):
        write_file(tmp_path / "out.txt", "x")
    assert list(tmp_path.iterdir()) == []


def test_several_files_are_all_checked_before_the_first_is_written(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "b.m").write_text("old", encoding="utf-8")
    files = {"a.m": "A", "b.m": "B"}
    with pytest.raises(OutputExistsError, match=r"b\.m exists"):
        write_files(out, files)
    assert sorted(p.name for p in out.iterdir()) == ["b.m"]  # a.m was not written
    written = write_files(out, files, overwrite=True)
    assert [p.read_text(encoding="utf-8") for p in written] == ["A", "B"]


def test_a_file_where_the_folder_should_be(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.write_text("old", encoding="utf-8")
    with pytest.raises(OutputExistsError, match="is a file, but this export writes its files"):
        write_files(out, {"a.m": "A"})
    assert out.read_text(encoding="utf-8") == "old"
    write_files(out, {"a.m": "A"}, overwrite=True)
    assert (out / "a.m").read_text(encoding="utf-8") == "A"


@needs_symlinks
def test_a_link_where_the_folder_should_be_is_not_followed(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out = tmp_path / "out"
    out.symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(OutputFileError, match="symbolic link"):
        write_files(out, {"a.m": "A"})
    write_files(out, {"a.m": "A"}, overwrite=True)
    assert out.is_dir() and not out.is_symlink() and list(elsewhere.iterdir()) == []


def test_file_names_stay_inside_the_folder(tmp_path: Path) -> None:
    with pytest.raises(OutputFileError, match="not a plain name"):
        write_files(tmp_path / "out", {"../escape.m": "x"})
    assert not (tmp_path / "escape.m").exists()


def test_write_copy_same_text_is_not_an_overwrite(tmp_path: Path) -> None:
    path = write_copy("x = 1\n", tmp_path / "copy")
    assert path == tmp_path / "copy.py"
    assert write_copy("x = 1\n", tmp_path / "copy") == path  # the same source again
    with pytest.raises(OutputExistsError, match="use --force"):
        write_copy("x = 2\n", path)
    write_copy("x = 2\n", path, overwrite=True)
    assert path.read_text(encoding="utf-8") == "x = 2\n"


def test_model_files_lists_every_file_of_the_hierarchy() -> None:
    circuit = CircuitTemplate.from_yaml("rates_core.models.jansenrit.JRC")
    (path,) = model_files(circuit)
    assert Path(path).name == "jansenrit.yaml" and Path(path).is_absolute()


def test_errors_are_rates_errors(tmp_path: Path) -> None:
    assert issubclass(OutputExistsError, OutputFileError) and issubclass(
        OutputFileError, RatesError
    )
    (tmp_path / "x").write_text("x", encoding="utf-8")
    with pytest.raises(RatesError) as info:
        check_file(tmp_path / "x")
    assert info.value.path == str(tmp_path / "x")
