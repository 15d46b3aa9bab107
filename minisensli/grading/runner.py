"""Run one student's chapter notebook in a sandbox process and collect its verdicts.

The sandbox (``minisensli.grading.sandbox``) runs in a private working folder, with a wall-clock
limit, an address-space limit and a file-size limit; its whole process group is killed when it
is over. What it sends back is bounded (MAX_CHANNEL_BYTES) and checked record by record.
"""

from __future__ import annotations

import contextlib
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
from dataclasses import dataclass, field
from typing import Any

from ..exercises._core import STATUSES
from .course import NotebookProblemError, Task, read_code_cells

MAX_CHANNEL_BYTES = 1024 * 1024  # what a sandbox may send back; more is a broken or hostile notebook


class GradingError(RuntimeError):
    """Bad settings or folders, found before any notebook runs (the message says which)."""


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
