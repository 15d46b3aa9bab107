"""The nbgrader route: `minisensli notebooks DIR --nbgrader`, then real nbgrader (generate_assignment,
autograde) gives the same points per exercise as `minisensli grade` on the same submissions."""

import importlib
import inspect
import os
import pathlib
import shutil
import subprocess
import sys
import textwrap

import nbformat
import pytest

from minisensli import cli
from minisensli.grading import Limits, course_tasks, grade

pytest.importorskip("nbgrader")
HERE = pathlib.Path(__file__).parent
sys.path.insert(0, str(HERE))
ASSIGNMENT = "ch01_autograd"
TASKS = [t for t in course_tasks() if t.chapter == "ch01"]


def nbgrader(course, *args):
    command = shutil.which("nbgrader") or str(pathlib.Path(sys.executable).with_name("nbgrader"))
    done = subprocess.run([command, *args], cwd=course, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]


def answer_cells(notebook):
    return [c for c in notebook.cells if c.metadata.get("nbgrader", {}).get("solution")]


def test_instructor_version_has_locked_checks_with_points(tmp_path):
    assert cli.main(["notebooks", str(tmp_path), "--nbgrader"]) == 0
    for task_chapter in sorted({t.chapter_file for t in course_tasks()}):
        notebook = nbformat.read(tmp_path / "source" / task_chapter / f"{task_chapter}.ipynb", as_version=4)
        nbformat.validate(notebook)
        tests = [c.metadata["nbgrader"] for c in notebook.cells if c.metadata.get("nbgrader", {}).get("grade")]
        expected = [t for t in course_tasks() if t.chapter_file == task_chapter]
        assert [(m["grade_id"], m["points"], m["locked"]) for m in tests] == [
            (t.exercise.replace(".", "_"), t.points, True) for t in expected
        ]
        for cell in answer_cells(notebook):
            assert "### BEGIN SOLUTION" in cell.source and "check(" not in cell.source
    assert (tmp_path / "nbgrader_config.py").exists()


def test_nbgrader_autograde_gives_the_points_of_minisensli_grade(tmp_path):
    course = tmp_path / "course"
    assert cli.main(["notebooks", str(course), "--nbgrader"]) == 0
    nbgrader(course, "generate_assignment", ASSIGNMENT, "--force")
    release = nbformat.read(course / "release" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
    source = nbformat.read(course / "source" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
    wrong = importlib.import_module("answers_ch01").ANSWERS

    def wrong_source(task):
        fn = list(wrong[task.exercise]["wrong"].values())[1]
        return textwrap.dedent(inspect.getsource(fn)) + f"\n{task.function} = {fn.__name__}\n"

    submissions = {
        "correct": [c.source for c in answer_cells(source)],
        "stub": [c.source for c in answer_cells(release)],
        "mixed": [c.source for c in answer_cells(source)[:1]] + [wrong_source(t) for t in TASKS[1:]],
    }
    flat = tmp_path / "flat"
    for student, sources in submissions.items():
        notebook = nbformat.reads(nbformat.writes(release), as_version=4)
        for cell, text in zip(answer_cells(notebook), sources):
            cell.source = text
        for folder in (course / "submitted" / student / ASSIGNMENT, flat / student):
            folder.mkdir(parents=True)
            nbformat.write(notebook, folder / f"{ASSIGNMENT}.ipynb")
    nbgrader(course, "autograde", ASSIGNMENT, "--create", "--force")

    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        by_nbgrader = {
            student: {
                g.name.replace("_", ".", 1): g.score
                for g in gradebook.find_submission_notebook(ASSIGNMENT, ASSIGNMENT, student).grades
            }
            for student in submissions
        }
    book = grade(flat, tmp_path / "grades.csv", jobs=2, limits=Limits(timeout=300))
    by_minisensli = {
        s["student"]: {r["exercise"]: r["points"] for r in s["exercises"] if r["chapter"] == "ch01"}
        for s in book["students"]
    }
    assert by_nbgrader == by_minisensli
    assert sum(by_nbgrader["correct"].values()) == sum(t.points for t in TASKS)
    assert sum(by_nbgrader["stub"].values()) == 0
    assert by_nbgrader["mixed"] == {t.exercise: (t.points if i == 0 else 0) for i, t in enumerate(TASKS)}
    assert os.access(course / "gradebook.db", os.R_OK)
