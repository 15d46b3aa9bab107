"""The process that runs one student's notebook and checks its exercises (never the grader's own).

The grader starts it as ``python -I -c "...; main()"`` in a private working folder and writes
one JSON job on its stdin: the notebook's code cells, the exercises to check with the names of
the functions that answer them, the limits. It then

1. lowers its own limits for good (soft = hard: address space, file size, CPU seconds), so
   nothing the notebook does can raise them again;
2. imports the package, the chapter's checks and hypothesis, and takes a deep snapshot of the
   package, NumPy, hypothesis and SciPy (module attributes, classes, function code);
3. runs the code cells in order in a fresh namespace, with ``check`` replaced by a no-op (the
   notebook's own checks and whatever they print do not count), stdout and stderr going to a
   file; an error in a cell (``sys.exit`` and MemoryError included) is noted and the next cell
   runs, as in nbgrader's autograde;
4. puts the snapshot back (whatever the notebook patched: ``check``, the checker's helpers, the
   oracles, NumPy), looks up each answer by its function name in the namespace, checks it with
   ``run_check`` (forbidden functions switched off, a time bound per check) and writes one JSON
   line per exercise on the channel (the original stdout) as soon as it is known.

What is written on the channel is only a status and a verdict: the grader computes the points
from its own registry. Limits of this design (documented in the book): the checks run in the
process that ran the notebook, after the snapshot is put back; code written to attack the
grader itself (forging the channel's protocol, or reaching the checker's frames through
``gc``/``ctypes``) is not caught - nbgrader's autograde shares that limit.
"""

from __future__ import annotations

import builtins
import json
import os
import resource
import signal
import sys
import types
from typing import Any

MB = 1024 * 1024


def _limit(kind: int, value: int) -> None:
    soft, hard = resource.getrlimit(kind)
    if hard != resource.RLIM_INFINITY:
        value = min(value, hard)
    resource.setrlimit(kind, (value, value))


def _magic_free(source: str) -> str:
    """IPython magics and shell escapes (``%time``, ``!pip``) become comments: plain Python runs here."""
    lines = source.splitlines()
    return "\n".join("# " + line if line.lstrip().startswith(("%", "!")) else line for line in lines)


def _describe(exc: BaseException) -> str:
    from ..exercises._core import describe_error

    return describe_error(exc).splitlines()[0][:300]


def run(job: dict[str, Any], channel: Any) -> None:
    def send(record: dict[str, Any]) -> None:
        channel.write(json.dumps(record) + "\n")
        channel.flush()

    # the chapter's checks and the libraries they use, loaded before any student code
    from .. import exercises
    from ..exercises import _core
    from ..exercises._guard import Inventory

    names = [item["exercise"] for item in job["exercises"]]
    for name in names:
        _core.get_exercise(name)
    import hypothesis  # noqa: F401 - loaded now, so that the snapshot covers it

    baseline = Inventory(deep=True).snapshot()

    def no_check(*args: Any, **kwargs: Any) -> None:
        return None

    exercises.check = exercises.graded_check = no_check
    _core.check = _core.graded_check = no_check
    namespace: dict[str, Any] = {"__name__": "__main__", "__builtins__": builtins}
    main_module = types.ModuleType("__main__")
    main_module.__dict__.update(namespace)
    namespace = main_module.__dict__
    sys.modules["__main__"] = main_module

    errors = []
    for index, source in enumerate(job["cells"]):
        try:
            code = compile(_magic_free(source), f"<cell {index + 1}>", "exec")
            exec(code, namespace)
        except BaseException as exc:  # noqa: BLE001 - any failure of student code is noted, the next cell runs
            errors.append(f"cell {index + 1}: {_describe(exc)}")
    baseline.restore()
    send({"kind": "cells", "count": len(job["cells"]), "errors": errors[:20]})

    for item in job["exercises"]:
        name, function_name = item["exercise"], item["function"]
        answer = namespace.get(function_name)
        if answer is None:
            send(
                {
                    "kind": "exercise",
                    "exercise": name,
                    "status": "not attempted",
                    "verdict": f"{name}: no function named {function_name} in the notebook",
                }
            )
            continue
        try:
            verdict = _core.run_check(name, answer, timeout=job["check_timeout"])
            status, text = verdict.status, str(verdict)
        except BaseException as exc:  # noqa: BLE001 - the checker itself must not take the others down
            status, text = "error", f"{name}: the check could not run: {_describe(exc)}"
        baseline.restore()
        send({"kind": "exercise", "exercise": name, "status": status, "verdict": text[:2000]})
    send({"kind": "done"})


def main() -> None:
    job = json.loads(sys.stdin.read())
    sys.stdin.close()
    _limit(resource.RLIMIT_AS, int(job["memory_mb"]) * MB)
    _limit(resource.RLIMIT_FSIZE, int(job["file_size_mb"]) * MB)
    _limit(resource.RLIMIT_CPU, int(job["cpu_seconds"]))
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # past the file-size limit a write fails (EFBIG), no kill
    # the channel is the original stdout; what the notebook prints goes to a file in the work folder
    channel = os.fdopen(os.dup(1), "w", encoding="utf-8")
    log = os.open("output.txt", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)
    sys.stdout = open(1, "w", encoding="utf-8", errors="replace", closefd=False)  # noqa: SIM115
    sys.stderr = open(2, "w", encoding="utf-8", errors="replace", closefd=False)  # noqa: SIM115
    run(job, channel)
    channel.close()
    os._exit(0)  # no atexit handler the notebook registered runs after the verdicts
