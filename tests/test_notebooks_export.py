"""`minisensli notebooks DIR [--student]`: the chapters as .ipynb, with or without solutions."""

import json

import nbformat

from minisensli import cli
from minisensli.notebooks import appendix_files, chapter_files, course_files


def tags(cell):
    return cell.get("metadata", {}).get("tags", [])


def read(path):
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    return notebook


def test_teacher_edition_has_every_chapter_with_its_solutions(tmp_path, capsys):
    assert cli.main(["notebooks", str(tmp_path / "nb")]) == 0
    written = sorted((tmp_path / "nb").glob("*.ipynb"))
    assert [p.stem for p in written] == sorted(p.stem for p in course_files())
    for path in written:
        notebook = read(path)
        assert notebook.metadata["kernelspec"]["name"] == "python3"
        if path.name.startswith("ch"):
            assert any("solution" in tags(c) for c in notebook.cells), path.name
    chapters, appendices = len(chapter_files()), len(appendix_files())
    appendix_words = "appendix" if appendices == 1 else "appendices"
    assert f"{chapters} chapters and {appendices} {appendix_words} (with solutions)" in capsys.readouterr().out


def test_the_appendices_are_exported_in_both_editions_and_listed_as_ungraded(tmp_path):
    appendices = appendix_files()
    assert [p.name for p in appendices] == ["appendix_a_conv_spectral_norm.py"]
    assert not set(appendices) & set(chapter_files())  # chapter_files: the numbered chapters only
    for edition in ([], ["--student"]):
        out = tmp_path / ("student" if edition else "self-study")
        assert cli.main(["notebooks", str(out), *edition]) == 0
        for src in appendices:
            exported = read(out / f"{src.stem}.ipynb")
            assert len(exported.cells) == len(read_source(src).cells)  # no solution cells to drop
            assert any(c.cell_type == "code" for c in exported.cells)
        readme = (out / "README.md").read_text()
        assert f"`{appendices[0].stem}.ipynb`" in readme and "not graded" in readme


def test_the_nbgrader_version_holds_the_numbered_chapters_only(tmp_path):
    assert cli.main(["notebooks", str(tmp_path), "--nbgrader"]) == 0
    written = {p.stem for p in tmp_path.rglob("*.ipynb")}
    assert {p.stem for p in chapter_files()} <= written
    assert not {p.stem for p in appendix_files()} & written


def read_source(path):
    import jupytext

    return jupytext.read(path)


def test_student_edition_drops_solutions_but_keeps_the_checks(tmp_path):
    assert cli.main(["notebooks", str(tmp_path), "--student"]) == 0
    for path in tmp_path.glob("ch*.ipynb"):
        cells = read(path).cells
        assert not any("solution" in tags(c) for c in cells), path.name
        assert any("check(" in c.source for c in cells if c.cell_type == "code"), path.name
        assert any("NotImplementedError" in c.source for c in cells if c.cell_type == "code"), path.name
    assert len(list(tmp_path.glob("ch*.ipynb"))) == len(chapter_files())


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


# --- what students and teachers see (issue 16 item 5, issue 20 item 6) ------------------------


def test_exported_files_are_readable_by_the_class_and_come_with_a_readme(tmp_path):
    import os

    old = os.umask(0o022)
    try:
        assert cli.main(["notebooks", str(tmp_path / "nb"), "--student"]) == 0
    finally:
        os.umask(old)
    for path in (tmp_path / "nb").iterdir():
        assert path.stat().st_mode & 0o777 == 0o644, path.name
    readme = (tmp_path / "nb" / "README.md").read_text()
    stems = [p.stem for p in course_files()]  # the chapters in order, then the appendices
    assert [readme.index(f"`{stem}.ipynb`") for stem in stems] == sorted(readme.index(f"`{s}.ipynb`") for s in stems)
    for words in ("pip install", "check(", "Handing in", "What is allowed", "switched off"):
        assert words in readme


def test_self_study_solutions_are_collapsed(tmp_path):
    assert cli.main(["notebooks", str(tmp_path)]) == 0
    for path in tmp_path.glob("ch*.ipynb"):  # an appendix has no exercises, so no solutions
        solutions = [c for c in read(path).cells if "solution" in tags(c)]
        assert solutions and all(c.metadata["jupyter"]["source_hidden"] is True for c in solutions), path.name


def test_a_failed_write_leaves_no_temporary_file_and_names_the_chapter(tmp_path):
    import resource
    import signal
    import subprocess
    import sys

    def small_files():  # a disk that fills up after 20 kB per file
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))

    out = tmp_path / "my notebooks"
    done = subprocess.run(
        [sys.executable, "-m", "minisensli", "notebooks", str(out)],
        capture_output=True,
        text=True,
        preexec_fn=small_files,
    )
    assert done.returncode != 0
    assert "chapter ch0" in done.stderr and ".partial" not in done.stderr and ".tmp" not in done.stderr
    assert "Traceback" not in done.stderr
    assert not [p for p in out.iterdir() if p.name.startswith(".") or p.suffix in (".tmp", ".partial")]


def test_force_over_a_folder_named_like_a_chapter_names_the_chapter(tmp_path, capsys):
    first = chapter_files()[0].stem
    (tmp_path / f"{first}.ipynb").mkdir()
    assert cli.main(["notebooks", str(tmp_path), "--force"]) == 2
    err = capsys.readouterr().err
    assert f"{first}.ipynb is a folder" in err and ".tmp" not in err and ".partial" not in err
    assert [p.name for p in tmp_path.iterdir()] == [f"{first}.ipynb"]


def test_the_printed_hint_is_shell_quoted(tmp_path, capsys):
    import shlex

    folder = tmp_path / "my course; $HOME"
    assert cli.main(["notebooks", str(folder)]) == 0
    hint = capsys.readouterr().out.split("open them with: ")[1].strip()
    assert shlex.split(hint) == ["jupyter", "lab", str(folder)]


def test_every_chapter_heading_shows_the_points_of_its_exercise():
    from minisensli.grading.course import course_tasks, heading_points

    tasks = course_tasks()
    headings = heading_points()
    for stem, found in headings.items():
        expected = [t for t in tasks if t.chapter_file == stem]
        if stem[:4] <= "ch05" or found:  # chapters 1-5 must have them; any chapter that has one, all
            assert [p for _, p in found] == [t.points for t in expected], stem
