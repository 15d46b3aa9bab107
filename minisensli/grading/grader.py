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

import contextlib
import csv
import io
import json
import os
import pathlib
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from .. import __version__
from ..exercises._core import STATUSES
from ..files import write_text
from .course import NotebookProblemError, Task, chapter_of, course_tasks, read_code_cells

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
MAX_CHANNEL_BYTES = 1024 * 1024  # what a sandbox may send back; more is a broken or hostile notebook
MAX_GRADES_BYTES = 64 * 1024 * 1024  # a grades.json read for --resume


class GradingError(RuntimeError):
    """Bad settings or folders, found before any notebook runs (the message says which)."""


class GradingInterrupted(RuntimeError):  # noqa: N818 - a stop, not a failure
    def __init__(self, graded: int, total: int, out: pathlib.Path) -> None:
        super().__init__(f"stopped after {graded} of {total} notebooks")
        self.graded, self.total, self.out = graded, total, out


@dataclass(frozen=True)
class Limits:
    """Per notebook: wall-clock seconds, address space (MiB), largest file it may write (MiB);
    per check: seconds (the checker's own time bound, below the notebook's)."""

    timeout: float = 600.0
    memory_mb: int = 4096
    file_size_mb: int = 64
    check_timeout: float = 60.0

    def validate(self) -> None:
        if not self.timeout > 0:
            raise GradingError(f"--timeout must be positive, got {self.timeout}")
        if self.memory_mb < 256:
            raise GradingError(f"--memory must be at least 256 MiB, got {self.memory_mb}")
        if self.file_size_mb < 1:
            raise GradingError(f"--file-size must be at least 1 MiB, got {self.file_size_mb}")


@dataclass
class NotebookResult:
    """One student's chapter: status 'graded', 'missing', 'error' or 'timeout', and per exercise
    (name, status, verdict)."""

    student: str
    chapter: str
    file: str | None
    status: str
    seconds: float = 0.0
    detail: str = ""
    exercises: list[dict[str, Any]] = field(default_factory=list)


def _printable(name: str) -> str:
    """A folder name as text that JSON and CSV can hold (undecodable bytes shown escaped)."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _first_line(text: str) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= 300 else line[:297] + "..."


# --- running one notebook --------------------------------------------------------------------


_BOOT = "import sys; sys.path.insert(0, {root!r}); from minisensli.grading.sandbox import main; main()"


class _Running:
    """Process groups of the sandboxes now running, so that Ctrl-C can kill them all."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.groups: set[int] = set()
        self.stopping = False

    def kill_all(self) -> None:
        with self.lock:
            self.stopping = True
            groups = list(self.groups)
        for group in groups:
            _kill_group(group)


def _kill_group(group: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(group, signal.SIGKILL)


def _sandbox_env(work: pathlib.Path, shared: pathlib.Path, limits: Limits) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(work),
        "TMPDIR": str(work),
        "LANG": "C.UTF-8",
        "MPLBACKEND": "Agg",  # figures are not graded: no PNG rendering
        "MPLCONFIGDIR": str(shared / "matplotlib"),  # the font cache, built once per grading run
        "HYPOTHESIS_STORAGE_DIRECTORY": str(work / ".hypothesis"),
        "OPENBLAS_NUM_THREADS": "1",  # one thread each: --jobs decides the parallelism
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "MINISENSLI_CHECK_TIMEOUT": str(limits.check_timeout),
    }


def _exchange(proc: subprocess.Popen, job: bytes, deadline: float) -> tuple[bytes, bool]:
    """Send the job, read the channel until EOF, the deadline or MAX_CHANNEL_BYTES;
    (what was read, whether the deadline passed)."""
    assert proc.stdin is not None and proc.stdout is not None
    with contextlib.suppress(BrokenPipeError):
        proc.stdin.write(job)
        proc.stdin.close()
    received = bytearray()
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return bytes(received), True
            if not selector.select(timeout=min(left, 1.0)):
                continue
            chunk = os.read(proc.stdout.fileno(), 65536)
            if not chunk:
                return bytes(received), False
            received += chunk
            if len(received) > MAX_CHANNEL_BYTES:
                return bytes(received[:MAX_CHANNEL_BYTES]), False


def _parse_channel(data: bytes, expected: set[str]) -> tuple[dict[str, dict[str, str]], bool, list[str]]:
    """Verdicts by exercise (first record of each, checked), whether 'done' came, cell errors."""
    verdicts: dict[str, dict[str, str]] = {}
    done, cell_errors = False, []
    for line in data.decode("utf-8", "replace").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if not isinstance(record, dict):
            continue
        kind = record.get("kind")
        if kind == "done":
            done = True
        elif kind == "cells" and isinstance(record.get("errors"), list):
            cell_errors = [str(e)[:300] for e in record["errors"][:20]]
        elif kind == "exercise":
            name, status, verdict = record.get("exercise"), record.get("status"), record.get("verdict")
            if name in expected and name not in verdicts and status in STATUSES and isinstance(verdict, str):
                verdicts[name] = {"status": status, "verdict": verdict[:2000]}
    return verdicts, done, cell_errors


def _describe_exit(code: int | None) -> str:
    if code is None:
        return "did not exit"
    if code < 0:
        name = signal.Signals(-code).name if -code in signal.Signals._value2member_map_ else str(-code)
        hint = {"SIGKILL": " (killed: memory or a kill)", "SIGXCPU": " (CPU time limit)", "SIGSEGV": " (crashed)"}
        return f"was ended by {name}{hint.get(name, '')}"
    return f"exited with status {code}"


def grade_notebook(
    student: str,
    path: pathlib.Path,
    tasks: list[Task],
    limits: Limits,
    shared: pathlib.Path,
    running: _Running,
) -> NotebookResult:
    """Run one notebook in a sandbox and collect its exercises' verdicts."""
    chapter = tasks[0].chapter
    start = time.monotonic()
    result = NotebookResult(student, chapter, path.name, "graded")
    try:
        cells = read_code_cells(path)
    except NotebookProblemError as problem:
        result.status, result.detail = "error", str(problem)
        result.exercises = [
            {"exercise": t.exercise, "status": "error", "verdict": f"{t.exercise}: {problem}"} for t in tasks
        ]
        return result
    work = pathlib.Path(tempfile.mkdtemp(prefix="grade-", dir=shared))
    try:
        shutil.copyfile(path, work / "notebook.ipynb")  # the private working copy
        job = {
            "cells": cells,
            "exercises": [{"exercise": t.exercise, "function": t.function} for t in tasks],
            "memory_mb": limits.memory_mb,
            "file_size_mb": limits.file_size_mb,
            "cpu_seconds": int(limits.timeout) + 10,
            "check_timeout": min(limits.check_timeout, limits.timeout),
        }
        root = str(pathlib.Path(__file__).resolve().parents[2])
        with running.lock:
            if running.stopping:
                raise KeyboardInterrupt
            proc = subprocess.Popen(
                [sys.executable, "-I", "-c", _BOOT.format(root=root)],
                cwd=work,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                env=_sandbox_env(work, shared, limits),
                start_new_session=True,
            )
            running.groups.add(proc.pid)
        try:
            data, timed_out = _exchange(proc, json.dumps(job).encode(), start + limits.timeout)
        finally:
            _kill_group(proc.pid)  # the sandbox and anything it started
            proc.wait()
            with running.lock:
                running.groups.discard(proc.pid)
            if proc.stdout is not None:
                proc.stdout.close()
        verdicts, done, cell_errors = _parse_channel(data, {t.exercise for t in tasks})
        if running.stopping:
            raise KeyboardInterrupt
        if cell_errors:
            result.detail = f"{len(cell_errors)} cells raised; first: {cell_errors[0]}"
        if timed_out:
            result.status = "timeout"
            result.detail = f"the notebook did not finish within {limits.timeout:g} s"
        elif not done:
            result.status = "error"
            result.detail = f"the notebook's process {_describe_exit(proc.returncode)} before its checks finished"
        for t in tasks:
            if t.exercise in verdicts:
                result.exercises.append({"exercise": t.exercise, **verdicts[t.exercise]})
            else:
                status = "timeout" if timed_out else "error"
                result.exercises.append({"exercise": t.exercise, "status": status, "verdict": result.detail})
    finally:
        shutil.rmtree(work, ignore_errors=True)
        result.seconds = round(time.monotonic() - start, 2)
    return result


# --- the grade book ---------------------------------------------------------------------------


def _missing(student: str, tasks: list[Task], detail: str = "no notebook for this chapter") -> NotebookResult:
    return NotebookResult(
        student,
        tasks[0].chapter,
        None,
        "missing",
        detail=detail,
        exercises=[{"exercise": t.exercise, "status": "missing", "verdict": f"{t.exercise}: {detail}"} for t in tasks],
    )


def _book(
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


def _write(book: dict[str, Any], out_csv: pathlib.Path) -> None:
    write_text(json_path(out_csv), json.dumps(book, indent=1, ensure_ascii=False) + "\n")
    write_text(out_csv, to_csv(book))


def _load_previous(out_csv: pathlib.Path, tasks: list[Task]) -> dict[tuple[str, str], NotebookResult]:
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
    limits: Limits = Limits(),
    resume: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Grade every student's notebooks; returns the grade book (also written to OUT and its JSON)."""
    folder = pathlib.Path(submissions)
    out_csv = pathlib.Path(out)
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
