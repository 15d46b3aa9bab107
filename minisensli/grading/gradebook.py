"""The grade book: built from the notebooks' results, written as grades.json and grades.csv
(atomically), and read back for ``--resume``."""

from __future__ import annotations

import csv
import io
import json
import pathlib
import time
from typing import Any

from .. import __version__
from ..exercises._core import STATUSES
from ..files import write_text
from .course import Task
from .runner import GradingError, Limits, NotebookResult

SCHEMA = "minisensli-grades/1"
GRADE_STATUSES = (*STATUSES, "missing")
CSV_COLUMNS = (
    "student",
    "chapter",
    "exercise",
    "status",
    "points",
    "points_possible",
    "verdict",
    "student_points",
    "student_points_possible",
)
MAX_GRADES_BYTES = 64 * 1024 * 1024  # a grades.json read for --resume


def _first_line(text: str) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= 300 else line[:297] + "..."


# --- running one notebook --------------------------------------------------------------------


def missing(student: str, tasks: list[Task], detail: str = "no notebook for this chapter") -> NotebookResult:
    return NotebookResult(
        student,
        tasks[0].chapter,
        None,
        "missing",
        detail=detail,
        exercises=[{"exercise": t.exercise, "status": "missing", "verdict": f"{t.exercise}: {detail}"} for t in tasks],
    )


def book(
    results: dict[tuple[str, str], NotebookResult],
    students: list[str],
    notes: dict[str, list[str]],
    tasks: list[Task],
    limits: Limits,
    complete: bool,
) -> dict[str, Any]:
    by_name = {t.exercise: t for t in tasks}
    chapters = sorted({t.chapter for t in tasks})
    entries = []
    for student in students:
        rows, notebooks, earned, possible = [], [], 0, 0
        for chapter in chapters:
            result = results.get((student, chapter))
            if result is None:
                continue
            notebooks.append(
                {
                    "chapter": chapter,
                    "file": result.file,
                    "status": result.status,
                    "seconds": result.seconds,
                    "detail": result.detail,
                }
            )
            for item in result.exercises:
                task = by_name[item["exercise"]]
                points = task.points if item["status"] == "passed" else 0
                earned, possible = earned + points, possible + task.points
                rows.append(
                    {
                        "chapter": chapter,
                        "exercise": task.exercise,
                        "status": item["status"],
                        "points": points,
                        "points_possible": task.points,
                        "verdict": _first_line(item["verdict"]),
                    }
                )
        entries.append(
            {
                "student": student,
                "points": earned,
                "points_possible": possible,
                "notes": notes.get(student, []),
                "notebooks": notebooks,
                "exercises": rows,
            }
        )
    return {
        "schema": SCHEMA,
        "minisensli_version": __version__,
        "written": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "complete": complete,
        "limits": {
            "timeout_s": limits.timeout,
            "memory_mb": limits.memory_mb,
            "file_size_mb": limits.file_size_mb,
            "check_timeout_s": limits.check_timeout,
        },
        "exercises": [
            {"chapter": t.chapter, "exercise": t.exercise, "points": t.points, "title": t.title} for t in tasks
        ],
        "students": entries,
    }


def to_csv(book: dict[str, Any]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for entry in book["students"]:
        for row in entry["exercises"]:
            writer.writerow(
                [entry["student"], *(row[k] for k in CSV_COLUMNS[1:7]), entry["points"], entry["points_possible"]]
            )
    return buffer.getvalue()


def json_path(out_csv: pathlib.Path) -> pathlib.Path:
    return out_csv.with_name("grades.json") if out_csv.name == "grades.csv" else out_csv.with_suffix(".json")


def write(book: dict[str, Any], out_csv: pathlib.Path) -> None:
    write_text(json_path(out_csv), json.dumps(book, indent=1, ensure_ascii=False) + "\n")
    write_text(out_csv, to_csv(book))


def load_previous(out_csv: pathlib.Path, tasks: list[Task]) -> dict[tuple[str, str], NotebookResult]:
    """The finished notebooks of an earlier (interrupted) run, for --resume."""
    path = json_path(out_csv)
    if not path.exists():
        raise GradingError(f"--resume: {path} does not exist (nothing to resume)")
    if path.stat().st_size > MAX_GRADES_BYTES:
        raise GradingError(f"--resume: {path} is larger than {MAX_GRADES_BYTES // 2**20} MiB")
    try:
        book = json.loads(path.read_text(encoding="utf-8"))
        from .schema import validate

        validate(book)
    except (ValueError, UnicodeDecodeError) as exc:
        raise GradingError(f"--resume: {path} is not a grades file: {str(exc)[:200]}") from None
    known = {t.exercise for t in tasks}
    previous = {}
    for entry in book["students"]:
        for notebook in entry["notebooks"]:
            rows = [
                {"exercise": r["exercise"], "status": r["status"], "verdict": r["verdict"]}
                for r in entry["exercises"]
                if r["chapter"] == notebook["chapter"] and r["exercise"] in known
            ]
            previous[(entry["student"], notebook["chapter"])] = NotebookResult(
                entry["student"],
                notebook["chapter"],
                notebook["file"],
                notebook["status"],
                notebook["seconds"],
                notebook["detail"],
                rows,
            )
    return previous
