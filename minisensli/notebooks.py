"""Export the course chapters (jupytext percent files in notebooks/) as Jupyter notebooks.

    minisensli notebooks [DIR] [--student] [--force]

The chapters are looked up next to the package (a source checkout, or an editable install)
and then in <prefix>/share/minisensli/notebooks (where a wheel installs them). The student
edition drops the solution cells (tagged ``solution``); the exercise cells that call
``check`` stay, so a student's notebook still checks itself. Existing notebooks are never
overwritten unless ``force`` is set: they may hold a student's work.
"""

from __future__ import annotations

import os
import pathlib
import sys
import tempfile

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
    return sorted((folder or chapters_folder()).glob("ch[0-9][0-9]_*.py"))


def _jupytext():
    try:
        import jupytext
    except ImportError as exc:
        raise NotebookExportError('exporting notebooks needs jupytext: pip install "minisensli[notebooks]"') from exc
    return jupytext


def to_notebook(path: pathlib.Path, student: bool = False):
    """The chapter as an nbformat notebook (solution cells dropped when ``student``)."""
    notebook = _jupytext().read(path)
    if student:
        notebook.cells = [c for c in notebook.cells if SOLUTION_TAG not in c.metadata.get("tags", [])]
    notebook.metadata["kernelspec"] = dict(KERNELSPEC)
    notebook.metadata.pop("jupytext", None)
    return notebook


def export(destination: str | os.PathLike, student: bool = False, force: bool = False) -> list[pathlib.Path]:
    """Write every chapter as DESTINATION/chNN_name.ipynb; returns the written paths.
    Refuses, before writing anything, when a target exists and ``force`` is not set."""
    jupytext = _jupytext()
    sources = chapter_files()
    out = pathlib.Path(destination)
    if out.exists() and not out.is_dir():
        raise NotebookExportError(f"{out} exists and is not a folder")
    targets = [out / f"{src.stem}.ipynb" for src in sources]
    existing = [t for t in targets if t.exists()]
    if existing and not force:
        raise NotebookExportError(
            f"{len(existing)} notebooks already exist in {out} (e.g. {existing[0].name}); "
            "they may hold your work: choose another folder or pass --force"
        )
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise NotebookExportError(f"cannot create {out}: {exc.strerror}") from exc
    for src, target in zip(sources, targets):
        text = jupytext.writes(to_notebook(src, student), fmt="ipynb")
        with tempfile.NamedTemporaryFile("w", dir=out, suffix=".tmp", delete=False, encoding="utf-8") as tmp:
            tmp.write(text)
        os.replace(tmp.name, target)
    return targets
