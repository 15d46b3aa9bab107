"""Grade a class: every student's chapter notebooks, each in a fresh, limited process.

    grade(SUBMISSIONS, "grades.csv", jobs=2)

SUBMISSIONS holds one folder per student with that student's chapter notebooks (any subset,
named chNN_*.ipynb as exported). For every student, chapter and exercise the grade book holds a
status (passed / failed / not attempted / error / timeout / missing), the points earned and
possible and the first line of the verdict. It is written as CSV (one row per student and
exercise) and as JSON beside it (grades.json, schema ``minisensli/grading/grades.schema.json``),
atomically, after every notebook: an interrupted run keeps what is graded and ``resume=True``
grades the rest.

Each notebook runs in its own process (``minisensli.grading.sandbox``) in a private copy of the
notebook's folder, with a wall-clock limit (``timeout``), an address-space limit (``memory_mb``)
and a file-size limit (``file_size_mb``); its whole process group is killed when it is over.
"""

from __future__ import annotations

import os
import pathlib
import tempfile
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any

from .course import chapter_of, course_tasks
from .gradebook import book as _book
from .gradebook import json_path
from .gradebook import load_previous as _load_previous
from .gradebook import missing as _missing
from .gradebook import write as _write
from .runner import GradingError, Limits, NotebookResult, _Running, grade_notebook

__all__ = ["GradingError", "GradingInterrupted", "Limits", "NotebookResult", "discover", "grade"]


class GradingInterrupted(RuntimeError):  # noqa: N818 - a stop, not a failure
    def __init__(self, graded: int, total: int, out: pathlib.Path) -> None:
        super().__init__(f"stopped after {graded} of {total} notebooks")
        self.graded, self.total, self.out = graded, total, out


def _printable(name: str) -> str:
    """A folder name as text that JSON and CSV can hold (undecodable bytes shown escaped)."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def discover(submissions: pathlib.Path, chapters: list[str]) -> tuple[dict[str, dict[str, pathlib.Path]], dict]:
    """student -> chapter -> notebook path, and notes per student (files not used, and why)."""
    found: dict[str, dict[str, pathlib.Path]] = {}
    notes: dict[str, list[str]] = {}
    for folder in sorted(submissions.iterdir(), key=lambda p: p.name):
        if folder.name.startswith(".") or not folder.is_dir():
            continue
        student = _printable(folder.name)
        found[student], notes[student] = {}, []
        for path in sorted(folder.iterdir(), key=lambda p: p.name):
            if path.name.startswith(".") or path.is_dir():
                continue
            name = _printable(path.name)
            chapter = chapter_of(path.name)
            if not path.name.endswith(".ipynb"):
                notes[student].append(f"{name}: not a notebook (.ipynb), ignored")
            elif chapter is None and path.name.startswith("appendix"):
                notes[student].append(f"{name}: an appendix (optional, no exercises), not graded")
            elif chapter is None or chapter not in chapters:
                notes[student].append(f"{name}: not named after a chapter (chNN_*.ipynb), ignored")
            elif chapter in found[student]:
                notes[student].append(
                    f"{name}: a second notebook for {chapter}, ignored (graded {found[student][chapter].name})"
                )
            else:
                found[student][chapter] = path
    return found, notes


def grade(
    submissions: str | os.PathLike[str],
    out: str | os.PathLike[str] = "grades.csv",
    *,
    jobs: int = 2,
    limits: Limits | None = None,
    resume: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Grade every student's notebooks; returns the grade book (also written to OUT and its JSON)."""
    folder = pathlib.Path(submissions)
    out_csv = pathlib.Path(out)
    limits = limits or Limits()
    if jobs < 1:
        raise GradingError(f"--jobs must be at least 1, got {jobs}")
    limits.validate()
    if not folder.is_dir():
        raise GradingError(f"{folder} is not a folder of student folders")
    if out_csv.exists() and out_csv.is_dir():
        raise GradingError(f"{out_csv} is a folder; give a file name such as grades.csv")
    if not out_csv.parent.is_dir():
        raise GradingError(f"{out_csv.parent} does not exist")
    if not resume and (out_csv.exists() or json_path(out_csv).exists()):
        raise GradingError(f"{out_csv} already exists: pass --resume to grade what is missing, or choose another --out")
    tasks = course_tasks()
    chapters = sorted({t.chapter for t in tasks})
    by_chapter = {c: [t for t in tasks if t.chapter == c] for c in chapters}
    found, notes = discover(folder, chapters)
    students = sorted(found)
    results = _load_previous(out_csv, tasks) if resume else {}
    todo = []
    for student in students:
        for chapter in chapters:
            if (student, chapter) in results:
                continue
            if chapter in found[student]:
                todo.append((student, chapter, found[student][chapter]))
            else:
                results[(student, chapter)] = _missing(student, by_chapter[chapter])
    total, done = len(todo), 0
    running = _Running()
    with tempfile.TemporaryDirectory(prefix="minisensli-grading-") as scratch:
        shared = pathlib.Path(scratch)
        _write(_book(results, students, notes, tasks, limits, complete=not todo), out_csv)
        if progress:
            progress(0, total)
        pool = ThreadPoolExecutor(max_workers=jobs)
        pending: set[Future] = set()
        try:
            for student, chapter, path in todo:
                pending.add(pool.submit(grade_notebook, student, path, by_chapter[chapter], limits, shared, running))
            while pending:
                finished, pending = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
                for future in finished:
                    result = future.result()
                    results[(result.student, result.chapter)] = result
                    done += 1
                    _write(_book(results, students, notes, tasks, limits, complete=done == total), out_csv)
                    if progress:
                        progress(done, total)
        except KeyboardInterrupt:
            running.kill_all()
            for future in pending:
                future.cancel()
            pool.shutdown(wait=True, cancel_futures=True)
            for future in pending:  # notebooks that finished while we stopped are kept too
                if future.done() and not future.cancelled() and future.exception() is None:
                    result = future.result()
                    results[(result.student, result.chapter)] = result
                    done += 1
            _write(_book(results, students, notes, tasks, limits, complete=False), out_csv)
            raise GradingInterrupted(done, total, out_csv) from None
        pool.shutdown(wait=True)
    return _book(results, students, notes, tasks, limits, complete=True)
