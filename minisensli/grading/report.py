"""Text for the terminal: the exercise list and the class summary (students x chapters)."""

from __future__ import annotations

from typing import Any

from ..notebooks import chapter_files
from .course import Task, study_hours

MAX_ROWS = 40  # one screen; the files hold everyone


def exercise_table(tasks: list[Task]) -> str:
    """chapter, name, points, one-line statement (the exercise's heading in its chapter)."""
    width = max(len(t.exercise) for t in tasks)
    lines = [f"{'chapter':<8}{'exercise':<{width + 2}}{'points':>6}  statement"]
    for t in tasks:
        lines.append(f"{t.chapter:<8}{t.exercise:<{width + 2}}{t.points:>6}  {t.title}")
    lines.append(f"{len(tasks)} exercises, {sum(t.points for t in tasks)} points in all")
    lines.append("")
    lines.append(
        "estimated hours per chapter (a model: prose at 100 words/min, code at 20 lines/min, 15 min per point):"
    )
    total = 0.0
    for path in chapter_files():
        points = sum(t.points for t in tasks if t.chapter_file == path.stem)
        hours = study_hours(path, points)
        total += hours
        lines.append(f"  {path.stem:<32} {hours:4.1f} h")
    lines.append(f"  {'all chapters':<32} {total:4.1f} h")
    return "\n".join(lines)


def summary_table(book: dict[str, Any]) -> str:
    """Points per student and chapter ('-' where nothing was handed in), total, and status counts."""
    chapters = sorted({e["chapter"] for e in book["exercises"]})
    possible = {c: sum(e["points"] for e in book["exercises"] if e["chapter"] == c) for c in chapters}
    students = book["students"]
    width = min(24, max([len("student"), *(len(s["student"]) for s in students)]))
    header = f"{'student':<{width}} " + " ".join(f"{c:>6}" for c in chapters) + f" {'total':>9}"
    lines = [
        header,
        f"{'(of)':<{width}} " + " ".join(f"{possible[c]:>6}" for c in chapters) + f" {sum(possible.values()):>9}",
    ]
    for entry in students[:MAX_ROWS]:
        cells = []
        for c in chapters:
            rows = [r for r in entry["exercises"] if r["chapter"] == c]
            if not rows or all(r["status"] == "missing" for r in rows):
                cells.append(f"{'-':>6}")
            else:
                cells.append(f"{sum(r['points'] for r in rows):>6}")
        name = entry["student"] if len(entry["student"]) <= width else entry["student"][: width - 1] + "~"
        lines.append(f"{name:<{width}} " + " ".join(cells) + f" {entry['points']:>4}/{entry['points_possible']:<4}")
    if len(students) > MAX_ROWS:
        lines.append(f"... and {len(students) - MAX_ROWS} more students (all of them are in the grades files)")
    counts: dict[str, int] = {}
    for entry in students:
        for row in entry["exercises"]:
            counts[row["status"]] = counts.get(row["status"], 0) + 1
    lines.append("exercises: " + ", ".join(f"{n} {status}" for status, n in sorted(counts.items())))
    return "\n".join(lines)
