"""The teaching subcommands of ``minisensli``: ``exercises`` and ``grade``.

``register(commands)`` adds them to the main parser's subparsers; ``handle(args)`` runs one
and returns the exit code, or None when the command is not one of these.

Exit codes of ``grade``: 0 every notebook graded; 2 bad usage (settings, folders, an existing
grades file without --resume); 130 stopped by Ctrl-C (what is graded is kept; --resume).
"""

from __future__ import annotations

import argparse
import pathlib
import shlex
import sys

from .course import course_tasks
from .grader import GradingError, GradingInterrupted, Limits, grade, json_path
from .report import exercise_table, summary_table

COMMANDS = ("exercises", "grade")
EXIT_USAGE, EXIT_INTERRUPTED = 2, 130


def register(commands: argparse._SubParsersAction) -> None:
    commands.add_parser(
        "exercises",
        help="list every exercise: chapter, name, points, statement",
        description="List the exercises of every chapter with their points (what `minisensli grade` awards).",
    )
    g = commands.add_parser(
        "grade",
        help="grade students' chapter notebooks into grades.csv and grades.json",
        description=(
            "Grade SUBMISSIONS: one folder per student holding that student's chapter notebooks (.ipynb, as "
            "exported by `minisensli notebooks --student`, any subset of chapters). Each notebook runs in a fresh "
            "process with time, memory and file-size limits, in a private copy; its stored outputs are never read. "
            "Writes OUT (CSV, one row per student and exercise) and grades.json beside it."
        ),
    )
    g.add_argument("submissions", help="folder with one sub-folder per student")
    g.add_argument("--out", default="grades.csv", help="CSV file to write (default: grades.csv); JSON goes beside it")
    g.add_argument("--jobs", type=int, default=2, help="notebooks graded in parallel (default: 2)")
    g.add_argument(
        "--timeout", type=float, default=Limits.timeout, help=f"seconds per notebook (default: {Limits.timeout:g})"
    )
    g.add_argument(
        "--memory",
        type=int,
        default=Limits.memory_mb,
        help=f"MiB of address space per notebook (default: {Limits.memory_mb})",
    )
    g.add_argument(
        "--file-size",
        type=int,
        default=Limits.file_size_mb,
        help=f"largest file a notebook may write, MiB (default: {Limits.file_size_mb})",
    )
    g.add_argument(
        "--resume", action="store_true", help="keep the notebooks already in OUT's grades.json, grade the rest"
    )
    g.add_argument("--no-progress", action="store_true", help="no progress bar")


def _progress_printer(enabled: bool):  # noqa: ANN202 - a small closure
    """(update(done, total), close()) for a text progress bar, created at the first update."""
    bars: list = []
    if not enabled:
        return None, lambda: None

    def update(done: int, total: int) -> None:
        if not bars:
            from ..progress import progress_bar

            bars.append(progress_bar(iter(()), total=total, desc="grading", unit="notebook", leave=True))
        bars[0].n = done
        bars[0].refresh()

    def close() -> None:
        for bar in bars:
            bar.close()

    return update, close


def handle(args: argparse.Namespace) -> int | None:
    if args.command == "exercises":
        print(exercise_table(course_tasks()))
        return 0
    if args.command != "grade":
        return None
    limits = Limits(timeout=args.timeout, memory_mb=args.memory, file_size_mb=args.file_size)
    update, close = _progress_printer(not args.no_progress)
    try:
        book = grade(args.submissions, args.out, jobs=args.jobs, limits=limits, resume=args.resume, progress=update)
    except GradingError as err:
        close()
        print(f"minisensli grade: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except GradingInterrupted as stop:
        close()
        print(
            f"minisensli grade: stopped: {stop.graded} of {stop.total} notebooks graded and kept in {stop.out}; "
            f"grade the rest with: minisensli grade {shlex.quote(args.submissions)} --out {shlex.quote(str(stop.out))} "
            "--resume",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    close()
    print(summary_table(book))
    print(f"written: {args.out} and {json_path(pathlib.Path(args.out))}")
    return 0
