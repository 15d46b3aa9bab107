"""The chapters in nbgrader's source format (``minisensli notebooks DIR --nbgrader``).

For each chapter, DIR/source/<chapter>/<chapter>.ipynb is the instructor version:

- each exercise's stub and solution cells become one *autograded answer* cell (nbgrader
  ``solution: true``): every function of the solution keeps its signature and docstring, and
  its body sits between ``### BEGIN SOLUTION`` and ``### END SOLUTION``, which
  ``nbgrader generate_assignment`` replaces by ``raise NotImplementedError()`` - the same stub
  the student edition has;
- the check becomes a locked *autograded test* cell (``grade: true, locked: true``) worth the
  exercise's points: ``graded_check(name, function)`` raises unless the verdict is *passed*, so
  nbgrader awards all the points or none, as ``minisensli grade`` does;
- every other cell is copied as it is.

DIR/nbgrader_config.py sets a generous execution timeout. The workflow then is nbgrader's own:
``nbgrader generate_assignment CHAPTER``, release, collect, ``nbgrader autograde CHAPTER``.
"""

from __future__ import annotations

import ast
import pathlib
from typing import Any

from ..exercises._core import get_exercise
from .course import CHECK_CALL

SOLUTION_TAG = "solution"
CONFIG = '''"""nbgrader settings for the minisensli course (written by `minisensli notebooks --nbgrader`)."""

c = get_config()  # noqa: F821 - provided by nbgrader
c.CourseDirectory.root = __file__.rsplit("/", 1)[0] if "/" in __file__ else "."
c.ExecutePreprocessor.timeout = 600  # seconds per cell; the slowest chapter cell takes well under a minute
'''


def _grade_id(exercise: str, suffix: str = "") -> str:
    return exercise.replace(".", "_") + suffix


def _nbgrader(**fields: Any) -> dict[str, Any]:
    return {"schema_version": 3, "task": False, **fields}


def answer_source(solution: str) -> str:
    """The solution cell with every top-level function's body inside a solution region and the
    ``check(...)`` calls dropped (they move to the locked test cell)."""
    tree = ast.parse(solution)
    lines = solution.splitlines()
    out: list[str] = []
    for node in tree.body:
        start, end = node.lineno - 1, node.end_lineno or node.lineno
        if (
            isinstance(node, ast.Expr)
            and isinstance(node.value, ast.Call)
            and CHECK_CALL.match(ast.get_source_segment(solution, node) or "")
        ):
            continue
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            body = node.body
            first = body[0]
            has_doc = isinstance(first, ast.Expr) and isinstance(getattr(first, "value", None), ast.Constant)
            if has_doc and len(body) > 1:
                keep_until, region_from = first.end_lineno or first.lineno, body[1].lineno - 1
            else:
                keep_until = region_from = first.lineno - 1
            if node.decorator_list:
                start = node.decorator_list[0].lineno - 1
            indent = " " * first.col_offset
            out += lines[start:keep_until]
            out.append(f"{indent}### BEGIN SOLUTION")
            out += lines[region_from:end]
            out.append(f"{indent}### END SOLUTION")
        else:
            out += lines[start:end]
    return "\n".join(out).rstrip() + "\n"


def to_nbgrader(path: pathlib.Path) -> Any:
    """The chapter as an nbgrader source notebook (see the module docstring)."""
    from ..notebooks import KERNELSPEC, _jupytext

    jupytext = _jupytext()
    import nbformat

    notebook = jupytext.read(path)
    cells = notebook.cells
    solutions = {i for i, c in enumerate(cells) if SOLUTION_TAG in c.metadata.get("tags", [])}
    stubs = {i - 1 for i in solutions}
    new_cells = []
    for index, cell in enumerate(cells):
        if index in stubs:
            continue
        if index not in solutions:
            new_cells.append(cell)
            continue
        match = CHECK_CALL.search(cell.source)
        if match is None:
            raise ValueError(f"{path.name}: a solution cell without a check(...) call")
        name, function = match.group(1), match.group(2)
        answer = nbformat.v4.new_code_cell(answer_source(cell.source))
        answer.metadata["nbgrader"] = _nbgrader(
            grade=False, solution=True, locked=False, grade_id=_grade_id(name, "_answer")
        )
        points = get_exercise(name).points
        test = nbformat.v4.new_code_cell(
            f"# the check of {name} ({points} point{'s' if points != 1 else ''}): do not edit\n"
            f"from minisensli.exercises import graded_check\n\ngraded_check({name!r}, {function})\n"
        )
        test.metadata["nbgrader"] = _nbgrader(
            grade=True, solution=False, locked=True, points=get_exercise(name).points, grade_id=_grade_id(name)
        )
        new_cells += [answer, test]
    for cell in new_cells:  # nbgrader keeps cell ids stable across its steps; jupytext gave none
        cell.pop("id", None)
    notebook.cells = new_cells
    notebook.metadata["kernelspec"] = dict(KERNELSPEC)
    notebook.metadata.pop("jupytext", None)
    notebook.nbformat, notebook.nbformat_minor = 4, 4
    return notebook


def nbgrader_files(sources: list[pathlib.Path]) -> list[tuple[pathlib.Path, str, str]]:
    """(relative path, text, what) of the nbgrader course folder: config and one assignment per chapter."""
    import nbformat

    files = [(pathlib.Path("nbgrader_config.py"), CONFIG, "nbgrader_config.py")]
    for src in sources:
        text = nbformat.writes(to_nbgrader(src))
        files.append((pathlib.Path("source") / src.stem / f"{src.stem}.ipynb", text, f"chapter {src.stem}"))
    return files
