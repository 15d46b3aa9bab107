"""Export the course chapters (jupytext percent files in notebooks/) as Jupyter notebooks.

    minisensli notebooks [DIR] [--student | --nbgrader] [--force]

The numbered chapters (chNN_*.py, ``chapter_files``: what grading and the exercise list use) and
the optional appendices (appendix_*.py, ``appendix_files``: no exercises, never graded) are
exported together (``course_files``); the nbgrader version holds the numbered chapters only.
The chapters are looked up next to the package (a source checkout, or an editable install)
and then in <prefix>/share/minisensli/notebooks (where a wheel installs them). The self-study
edition keeps the solutions, each collapsed until clicked (JupyterLab's ``source_hidden``); the
student edition drops the solution cells (tagged ``solution``); the exercise cells that call
``check`` stay, so a student's notebook still checks itself. Both come with a README.md for the
class. ``--nbgrader`` writes the instructor version in nbgrader's source format instead (see
``minisensli.grading.nbgrader``). Existing files are never overwritten unless ``force`` is set:
they may hold a student's work. Files are written atomically with mode 0666 minus the umask;
nothing half-written or temporary is left when writing fails (a full disk included).
"""

from __future__ import annotations

import os
import pathlib
import shlex
import sys

from .files import write_text

SOLUTION_TAG = "solution"
KERNELSPEC = {"name": "python3", "display_name": "Python 3", "language": "python"}


class NotebookExportError(RuntimeError):
    """The chapters cannot be found or written (the message says why)."""


def chapters_folder() -> pathlib.Path:
    """The folder holding chNN_*.py, from a source checkout or an installed share/ folder."""
    candidates = [
        pathlib.Path(__file__).resolve().parent.parent / "notebooks",
        pathlib.Path(sys.prefix) / "share" / "minisensli" / "notebooks",
    ]
    for folder in candidates:
        if any(folder.glob("ch[0-9][0-9]_*.py")):
            return folder
    raise NotebookExportError("no chapters found (looked in " + ", ".join(map(str, candidates)) + ")")


def chapter_files(folder: pathlib.Path | None = None) -> list[pathlib.Path]:
    """The numbered chapters, chNN_*.py, in order: the ones with exercises, as grading sees them."""
    return sorted((folder or chapters_folder()).glob("ch[0-9][0-9]_*.py"))


def appendix_files(folder: pathlib.Path | None = None) -> list[pathlib.Path]:
    """The optional appendices, appendix_*.py, in order (no exercises)."""
    return sorted((folder or chapters_folder()).glob("appendix_*.py"))


def course_files(folder: pathlib.Path | None = None) -> list[pathlib.Path]:
    """What ``minisensli notebooks`` exports: the numbered chapters, then the appendices."""
    folder = folder or chapters_folder()
    return chapter_files(folder) + appendix_files(folder)


def is_appendix(path: pathlib.Path) -> bool:
    return path.name.startswith("appendix_")


def _jupytext():
    try:
        import jupytext
    except ImportError as exc:
        raise NotebookExportError('exporting notebooks needs jupytext: pip install "minisensli[notebooks]"') from exc
    return jupytext


def to_notebook(path: pathlib.Path, student: bool = False):
    """The chapter as an nbformat notebook: solution cells dropped when ``student``, else collapsed."""
    notebook = _jupytext().read(path)
    if student:
        notebook.cells = [c for c in notebook.cells if SOLUTION_TAG not in c.metadata.get("tags", [])]
    else:
        for cell in notebook.cells:
            if SOLUTION_TAG in cell.metadata.get("tags", []):
                cell.metadata.setdefault("jupyter", {})["source_hidden"] = True
    notebook.metadata["kernelspec"] = dict(KERNELSPEC)
    notebook.metadata.pop("jupytext", None)
    return notebook


def chapter_title(path: pathlib.Path) -> str:
    """'Chapter 1 — Autograd from scratch': the chapter's first level-1 heading (else its file name)."""
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("# # "):
            return line[4:].strip()
    return path.stem


def class_readme(sources: list[pathlib.Path], student: bool) -> str:
    """README.md for the folder handed to a class: chapter order, install, checks, handing in, rules."""
    from .grading.course import course_tasks

    tasks = course_tasks(sources[0].parent) if sources else []
    lines = [
        "# minisensli: the course notebooks",
        "",
        "Work through the chapters in this order (each builds on the ones before):",
        "",
    ]
    for src in sources:
        if is_appendix(src):
            lines.append(f"1. `{src.stem}.ipynb`: {chapter_title(src)} (optional, no exercises, not graded)")
            continue
        chapter = src.name[:4]
        points = sum(t.points for t in tasks if t.chapter == chapter)
        count = sum(1 for t in tasks if t.chapter == chapter)
        lines.append(f"1. `{src.stem}.ipynb`: {chapter_title(src)} ({count} exercises, {points} points)")
    lines += [
        "",
        "## Install",
        "",
        '    python -m pip install "minisensli[notebooks]"   # the package, JupyterLab, hypothesis',
        "    jupyter lab                                         # then open a chapter's .ipynb file",
        "",
        "Open the `.ipynb` files (double-click in JupyterLab's file browser): they open as notebooks",
        "with the Python 3 kernel, nothing to choose.",
        "",
        "## Exercises and checks",
        "",
        "Each exercise is a function to write in the cell under its heading (`### Exercise N: ... (P points)`).",
        "Run the cell: the `check(...)` call at its end prints one verdict, such as",
        "`ch01.tanh_backward: passed 30 cases`, `not attempted yet`, or `FAILED on x=...` with the",
        "smallest input it found and the error. Fix, run again. `minisensli exercises` lists every",
        "exercise with its points.",
        "",
        "## What is allowed",
        "",
        "- NumPy, the Python standard library, and functions you write yourself.",
        "- Where an exercise asks you to write something yourself, the package's version (and, e.g.,",
        "  `scipy.stats.wilcoxon` for the signed-rank p-value) is switched off while your function is",
        "  checked: calling it gives the verdict `... asks you to write this yourself`.",
        "- Keep each function's name and arguments as given: grading looks your function up by name.",
        "",
        "## Handing in",
        "",
        "Hand in your chapter notebooks (`.ipynb`, names unchanged) in one folder named after you.",
        "Grading runs every notebook again from the top in a fresh process and checks your functions",
        "itself: what your notebook printed, or any change to `check`, does not count. A notebook that",
        "stops with an error before your function is defined, or runs longer than the time limit,",
        "scores 0 for the exercises it did not reach.",
    ]
    if not student:
        lines += [
            "",
            "This edition includes the solutions, collapsed under each exercise: click to open one.",
        ]
    return "\n".join(lines) + "\n"


def _check_targets(out: pathlib.Path, targets: list[pathlib.Path], force: bool) -> None:
    if out.exists() and not out.is_dir():
        raise NotebookExportError(f"{out} exists and is not a folder")
    folders = [t for t in targets if t.is_dir()]
    if folders:
        raise NotebookExportError(f"{folders[0]} is a folder, where the file {folders[0].name} would go; move it away")
    existing = [t for t in targets if t.exists()]
    if existing and not force:
        raise NotebookExportError(
            f"{len(existing)} files already exist in {out} (e.g. {existing[0].name}); "
            "they may hold your work: choose another folder or pass --force"
        )


def write_files(out: pathlib.Path, files: list[tuple[pathlib.Path, str, str]]) -> None:
    """Write (target, text, what) atomically; an error names ``what`` (e.g. the chapter), not a temporary file."""
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise NotebookExportError(f"cannot create {out}: {exc.strerror}") from exc
    for target, text, what in files:
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            write_text(target, text)
        except OSError as exc:
            raise NotebookExportError(f"cannot write {what} to {target}: {exc.strerror or exc}") from None


def export(
    destination: str | os.PathLike, student: bool = False, force: bool = False, nbgrader: bool = False
) -> list[pathlib.Path]:
    """Write every chapter and appendix as DESTINATION/<name>.ipynb and a README.md; returns the
    written paths. ``nbgrader``: the instructor version of the numbered chapters in nbgrader's
    source layout instead (an appendix has nothing to grade). Refuses, before writing anything,
    when a target exists and ``force`` is not set."""
    jupytext = _jupytext()
    sources = course_files()
    out = pathlib.Path(destination)
    if nbgrader:
        from .grading.nbgrader import nbgrader_files

        files = nbgrader_files([src for src in sources if not is_appendix(src)])
        files = [(out / relative, text, what) for relative, text, what in files]
    else:
        files = [
            (out / f"{src.stem}.ipynb", jupytext.writes(to_notebook(src, student), fmt="ipynb"), f"chapter {src.stem}")
            for src in sources
        ]
        files.append((out / "README.md", class_readme(sources, student), "the class README"))
    _check_targets(out, [target for target, _, _ in files], force)
    write_files(out, files)
    return [target for target, _, _ in files]


def open_hint(folder: str | os.PathLike) -> str:
    """The command that opens the exported folder, quoted for a POSIX shell."""
    return f"jupyter lab {shlex.quote(str(folder))}"
