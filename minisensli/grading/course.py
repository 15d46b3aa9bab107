"""What the course asks: its chapters, their exercises, points and answer functions.

The chapters (notebooks/chNN_name.py) are the truth for which function answers which exercise:
each exercise cell ends with ``check("ch07.dense_multiplier", dense_multiplier)``, and the
grader looks that function name up in a student's notebook. Points come from the exercise
registry (``exercise(..., points=N)``).
"""

from __future__ import annotations

import json
import pathlib
import re
from dataclasses import dataclass
from typing import Any

from ..exercises._core import get_exercise
from ..notebooks import chapter_files

CHECK_CALL = re.compile(r"""check\(\s*["'](ch\d\d\.[a-z0-9_]+)["']\s*,\s*([A-Za-z_][A-Za-z0-9_]*)\s*[,)]""")
CHAPTER_PREFIX = re.compile(r"^(ch\d\d)(?:[_\W]|$)")
MAX_NOTEBOOK_BYTES = 20 * 1024 * 1024  # a chapter with outputs is well under 2 MB


@dataclass(frozen=True)
class Task:
    """One exercise: its chapter ('ch07'), name, the answer's function name, points, statement."""

    chapter: str
    chapter_file: str
    exercise: str
    function: str
    points: int
    title: str


class NotebookProblemError(ValueError):
    """A submitted notebook cannot be read as a Jupyter notebook (the message says why)."""


_HEADING = re.compile(r"^# ### Exercise \d+: (.+?) \((\d+) points?\)\s*$")


def _headings(text: str) -> list[tuple[str, int]]:
    return [(m.group(1), int(m.group(2))) for m in map(_HEADING.match, text.splitlines()) if m]


def _docstring_line(name: str) -> str:
    """The description after the name in its chapter module's docstring ('ch03.x   what it asks')."""
    import importlib

    module = importlib.import_module(f"minisensli.exercises.{name[:4]}")
    for line in (module.__doc__ or "").splitlines():
        if line.strip().startswith(name + " "):
            return line.strip()[len(name) :].strip()
    return ""


def course_tasks(folder: pathlib.Path | None = None) -> list[Task]:
    """Every exercise of every chapter, in chapter order, from the chapters' check calls."""
    tasks: list[Task] = []
    for path in chapter_files(folder):
        text = path.read_text(encoding="utf-8")
        chapter = path.name[:4]
        seen: dict[str, str] = {}
        for name, function in CHECK_CALL.findall(text):
            seen.setdefault(name, function)
        titles = _headings(text)
        for index, (name, function) in enumerate(seen.items()):
            exercise = get_exercise(name)
            title = titles[index][0] if index < len(titles) else _docstring_line(name)
            tasks.append(Task(chapter, path.stem, name, function, exercise.points, title))
    return tasks


def heading_points(folder: pathlib.Path | None = None) -> dict[str, list[tuple[str, int]]]:
    """chapter file stem -> [(title, points)] of its '# ### Exercise N: title (P points)' lines."""
    return {path.stem: _headings(path.read_text(encoding="utf-8")) for path in chapter_files(folder)}


def chapter_of(filename: str) -> str | None:
    """'ch07' for 'ch07_virtual_layers.ipynb', 'ch07.ipynb' or 'ch07 (1).ipynb'; else None."""
    match = CHAPTER_PREFIX.match(filename)
    return match.group(1) if match else None


def read_code_cells(path: pathlib.Path) -> list[str]:
    """The code cells' sources of a submitted .ipynb; NotebookProblemError when it is empty, too large,
    not JSON, not nbformat 4 or malformed. Outputs are never read."""
    try:
        size = path.stat().st_size
        if size == 0:
            raise NotebookProblemError("the notebook file is empty")
        if size > MAX_NOTEBOOK_BYTES:
            raise NotebookProblemError(
                f"the notebook is {size / 1e6:.0f} MB, over the {MAX_NOTEBOOK_BYTES // 2**20} MiB limit"
            )
        raw = path.read_bytes()
    except OSError as exc:
        raise NotebookProblemError(f"cannot read the notebook: {exc.strerror or exc}") from None
    try:
        notebook: Any = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise NotebookProblemError(f"not a Jupyter notebook (not valid JSON: {str(exc)[:80]})") from None
    if not isinstance(notebook, dict):
        raise NotebookProblemError("not a Jupyter notebook (not a JSON object)")
    if notebook.get("nbformat") != 4:
        version = notebook.get("nbformat")
        raise NotebookProblemError(f"nbformat {version!r}; save it as a version 4 notebook (.ipynb)")
    if not isinstance(notebook.get("cells"), list):
        raise NotebookProblemError("not a Jupyter notebook (no list of cells)")
    sources = []
    for index, cell in enumerate(notebook["cells"]):
        if not isinstance(cell, dict):
            raise NotebookProblemError(f"cell {index + 1} is not a JSON object")
        if cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        if isinstance(source, list) and all(isinstance(line, str) for line in source):
            source = "".join(source)
        if not isinstance(source, str):
            raise NotebookProblemError(f"code cell {index + 1} has no text source")
        sources.append(source)
    return sources


# A model, not a measurement (no timed pass by a reader is on record): reading technical prose
# at 100 words a minute, running and reading code at 20 lines a minute, 15 minutes per point.
READING_WORDS_PER_MINUTE = 100
CODE_LINES_PER_MINUTE = 20
MINUTES_PER_POINT = 15


def study_hours(path: pathlib.Path, points: int) -> float:
    """Estimated hours a student needs for the chapter at ``path`` with ``points`` of exercises."""
    lines = path.read_text(encoding="utf-8").splitlines()
    words = sum(len(line[2:].split()) for line in lines if line.startswith("# "))
    code = sum(1 for line in lines if line.strip() and not line.startswith("#"))
    minutes = words / READING_WORDS_PER_MINUTE + code / CODE_LINES_PER_MINUTE + MINUTES_PER_POINT * points
    return minutes / 60
