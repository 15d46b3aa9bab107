"""`minisensli notebooks DIR [--student]`: the chapters as .ipynb, with or without solutions."""

import json

import nbformat

from minisensli import cli
from minisensli.notebooks import chapter_files


def tags(cell):
    return cell.get("metadata", {}).get("tags", [])


def read(path):
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    return notebook


def test_teacher_edition_has_every_chapter_with_its_solutions(tmp_path, capsys):
    assert cli.main(["notebooks", str(tmp_path / "nb")]) == 0
    written = sorted((tmp_path / "nb").glob("*.ipynb"))
    assert [p.stem for p in written] == [p.stem for p in chapter_files()]
    for path in written:
        notebook = read(path)
        assert notebook.metadata["kernelspec"]["name"] == "python3"
        assert any("solution" in tags(c) for c in notebook.cells), path.name
    assert f"{len(written)} chapters (with solutions)" in capsys.readouterr().out


def test_student_edition_drops_solutions_but_keeps_the_checks(tmp_path):
    assert cli.main(["notebooks", str(tmp_path), "--student"]) == 0
    for path in tmp_path.glob("*.ipynb"):
        cells = read(path).cells
        assert not any("solution" in tags(c) for c in cells), path.name
        assert any("check(" in c.source for c in cells if c.cell_type == "code"), path.name
        assert any("NotImplementedError" in c.source for c in cells if c.cell_type == "code"), path.name


def test_existing_notebooks_are_not_overwritten_without_force(tmp_path, capsys):
    first = chapter_files()[0].stem
    (tmp_path / f"{first}.ipynb").write_text("my work")
    assert cli.main(["notebooks", str(tmp_path)]) == 2
    assert "may hold your work" in capsys.readouterr().err
    assert (tmp_path / f"{first}.ipynb").read_text() == "my work"
    assert len(list(tmp_path.iterdir())) == 1  # refused before writing anything
    assert cli.main(["notebooks", str(tmp_path), "--force"]) == 0
    assert json.loads((tmp_path / f"{first}.ipynb").read_text())["nbformat"] == 4


def test_a_file_in_the_way_is_a_clear_error(tmp_path, capsys):
    (tmp_path / "taken").write_text("")
    assert cli.main(["notebooks", str(tmp_path / "taken")]) == 2
    assert "is not a folder" in capsys.readouterr().err
