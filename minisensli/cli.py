"""The `minisensli` command (also `python -m minisensli`).

    minisensli run [NAME|CONFIG.toml] [--seeds N] [--out DIR] [--quick] [--no-progress] [--format F]
                   [--device cpu|gpu] [--jobs N | --scheduler ADDRESS]
    minisensli run --resume RESULTS_DIR [--jobs N | --scheduler ADDRESS] [--no-progress] [--format F]
    minisensli list
    minisensli plot RESULTS_DIR [--format F]
    minisensli notebooks [DIR] [--student | --nbgrader] [--force]
    minisensli exercises
    minisensli grade SUBMISSIONS [--out grades.csv] [--jobs N] [--timeout S] [--resume]
    minisensli --version

Exit codes: 0 success; 1 some runs failed (the others are kept; --resume retries the failed
ones) or a file could not be written; 2 bad usage, an invalid configuration, --out or results
folder; 130 stopped by Ctrl-C or SIGTERM (every finished run is kept; --resume continues).
"""

from __future__ import annotations

import argparse
import shlex
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from . import __version__, notebooks
from .experiments import (
    ConfigError,
    ExecutorError,
    ResultsError,
    RunFailedError,
    RunFolderError,
    RunInterruptedError,
    available_cores,
    builtin_names,
    comparison_table,
    completeness_note,
    draw_all,
    load_results,
    quick,
    resolve,
    resume_experiment,
    run_experiment,
    summary_table,
)
from .experiments.config import FIXED_SECONDS, MAX_LIST, Config, expected_seconds
from .experiments.plots import FORMATS
from .grading import cli as teaching_cli

EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 1, 2, 130
DEFAULT_EXPERIMENT = "spirals"
DEFAULT_OUT = "minisensli-results"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="minisensli",
        description="Run SensLI (sensitivity-based layer insertion) experiments and draw their figures.",
    )
    parser.add_argument("--version", action="version", version=f"minisensli {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = commands.add_parser(
        "run",
        help="run an experiment and write its results folder",
        description="Run a built-in experiment (see `minisensli list`) or a TOML config: every "
        "method on every seed; writes config.toml, results.json, models/ and "
        "figures to OUT/<name>-<timestamp>/ and prints a summary table.",
    )
    run.add_argument(
        "experiment",
        nargs="?",
        default=None,
        help=f"built-in name or path to a .toml config (default: {DEFAULT_EXPERIMENT})",
    )
    run.add_argument("--seeds", type=int, metavar="N", help="use seeds 0..N-1 instead of the config's")
    run.add_argument(
        "--out",
        default=None,
        metavar="DIR",
        help="folder that receives the results folder (default: ./minisensli-results)",
    )
    run.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: every phase's epochs divided by 10 (at least 1), at most 2 seeds",
    )
    run.add_argument("--no-progress", action="store_true", help="no progress bars")
    where = run.add_mutually_exclusive_group()
    where.add_argument(
        "--jobs",
        type=int,
        metavar="N",
        default=None,
        help="trainings in parallel in N local processes (default: the number of cores, "
        f"{available_cores()} here; 1: in this process); results do not depend on N",
    )
    where.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="send the trainings to a Dask distributed scheduler, e.g. tcp://host:8786 "
        "(needs pip install 'minisensli[cluster]' here and on the workers)",
    )
    run.add_argument(
        "--resume",
        metavar="RESULTS_DIR",
        help="finish the missing runs of a stopped or failed run's results folder (its config.toml "
        "and seeds; same numbers as an uninterrupted run)",
    )
    run.add_argument(
        "--format",
        choices=FORMATS,
        default="png",
        help="figure format: png (150 dpi, always written) or also svg / pdf vector files",
    )
    run.add_argument(
        "--device",
        choices=("cpu", "gpu"),
        help="where models and batches live (default: the config's training.device, else cpu)",
    )

    commands.add_parser(
        "list",
        help="list the built-in experiments",
        description="List the built-in experiments with their seed count and expected run time "
        "on 2 cores (measured seconds per epoch of one run x epochs x methods x seeds).",
    )

    plot = commands.add_parser(
        "plot",
        help="redraw the figures of a results folder",
        description="Redraw every figure of a results folder from its results.json.",
    )
    plot.add_argument("results_dir", metavar="RESULTS_DIR")
    plot.add_argument("--format", choices=FORMATS, default="png", help="figure format (default: png at 150 dpi)")

    chapters = commands.add_parser(
        "notebooks",
        help="write the course chapters as Jupyter notebooks",
        description="Write the chapters (notebooks/chNN_*.py) and the optional appendices (appendix_*.py) "
        'as .ipynb files into DIR. Needs the notebooks extra: pip install -e ".[notebooks]".',
    )
    chapters.add_argument(
        "dir", nargs="?", default="minisensli-notebooks", help="folder to write into (default: ./minisensli-notebooks)"
    )
    chapters.add_argument(
        "--student", action="store_true", help="student edition: leave out the solution cells (the self-checks stay)"
    )
    chapters.add_argument("--force", action="store_true", help="overwrite notebooks that already exist in DIR")
    chapters.add_argument(
        "--nbgrader",
        action="store_true",
        help="instructor version in nbgrader's source format (DIR/source/CHAPTER/CHAPTER.ipynb, checks as "
        "locked autograded cells with the exercises' points)",
    )
    # --- teaching: `exercises` and `grade` live in minisensli/grading/cli.py ---
    teaching_cli.register(commands)
    return parser


def duration(seconds: float | None) -> str:
    """'~40 s', '~6 min', '~1.5 h'; 'not measured' for None."""
    if seconds is None:
        return "not measured"
    if seconds < 90:
        return f"~{seconds:.0f} s"
    if seconds < 5400:
        return f"~{seconds / 60:.0f} min"
    return f"~{seconds / 3600:.1f} h"


def _list() -> int:
    rows = []
    for name in builtin_names():
        config = resolve(name)
        marker = " (default)" if name == DEFAULT_EXPERIMENT else ""
        rows.append(
            (
                name + marker,
                str(len(config.comparison["seeds"])),
                duration(expected_seconds(config)),
                config.description,
            )
        )
    header = ("experiment", "seeds", "time (2 cores)", "description")
    widths = [max(len(row[c]) for row in [header, *rows]) for c in range(3)]
    for row in [header, *rows]:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)) + "  " + row[3])
    print(
        "time: the config's measured seconds per epoch of one run x epochs x methods x seeds / 2 (two worker "
        f"processes on the 2-core development machine) + {FIXED_SECONDS:.0f} s to start them and draw the figures; "
        "more on a loaded machine, --quick about a tenth (fewer seeds: less)"
    )
    return 0


def _seed_text(seeds: list[int]) -> str:
    if seeds == list(range(len(seeds))) and len(seeds) > 3:
        return f"{len(seeds)} seeds (0..{len(seeds) - 1})"
    return f"{len(seeds)} seed{'s' if len(seeds) != 1 else ''} {seeds}"


def apply_overrides(config: Config, seeds: int | None, quick_run: bool) -> list[str]:
    """Apply --seeds and --quick to ``config``; one line per change saying what it changed."""
    said = []
    if seeds is not None:
        if not 1 <= seeds <= MAX_LIST:  # checked before the list of seeds is made
            raise ConfigError(f"--seeds: must be between 1 and {MAX_LIST}, got {seeds}")
        before = config.comparison["seeds"]
        config.comparison["seeds"] = list(range(seeds))
        if config.comparison["seeds"] != before:
            said.append(
                f"--seeds {seeds}: {_seed_text(config.comparison['seeds'])} instead of the config's "
                f"{_seed_text(before)}"
            )
    if quick_run:
        epochs, seed_list = list(config.phase_epochs), list(config.comparison["seeds"])
        quick(config)
        said.append(f"--quick: epochs per phase {epochs} -> {config.phase_epochs} (a tenth, at least 1)")
        if config.comparison["seeds"] != seed_list:
            said.append(
                f"--quick: runs {_seed_text(config.comparison['seeds'])} of the {_seed_text(seed_list)} "
                "asked for (a quick run keeps at most 2)"
            )
    return said


def _shell(text: Any) -> str:
    """``text`` quoted for a POSIX shell, so a printed hint can be pasted as it is."""
    return shlex.quote(str(text))


def _run(args: argparse.Namespace) -> int:
    jobs = available_cores() if args.jobs is None else args.jobs
    if jobs < 1:
        raise ConfigError(f"--jobs: must be at least 1, got {jobs}")
    progress = not args.no_progress
    start = time.perf_counter()
    kept = 0
    if args.resume is not None:
        given = [
            flag
            for flag, value in (
                ("EXPERIMENT", args.experiment),
                ("--seeds", args.seeds),
                ("--quick", args.quick or None),
                ("--out", args.out),
                ("--device", args.device),
            )
            if value is not None
        ]
        if given:
            raise ConfigError(
                f"--resume takes the configuration (experiment, seeds, epochs, device) from "
                f"{args.resume}/config.toml and the folder from RESULTS_DIR, so it cannot honour "
                f"{', '.join(given)}; leave {'it' if len(given) == 1 else 'them'} out"
            )

        def starting(finished: int, total: int) -> None:
            nonlocal kept
            kept = finished
            print(f"{args.resume}: {finished} of {total} runs finished before; running the other {total - finished}")

        out = resume_experiment(args.resume, progress=progress, jobs=jobs, scheduler=args.scheduler, on_start=starting)
    else:
        config = resolve(args.experiment or DEFAULT_EXPERIMENT)
        if args.device is not None:
            config.training["device"] = args.device
        for line in apply_overrides(config, args.seeds, args.quick):
            print(line)
        estimate = expected_seconds(config, jobs)
        if estimate is not None and args.scheduler is None:  # a cluster's speed is unknown here
            print(
                f"{config.name}: {len(config.comparison['methods'])} methods x "
                f"{_seed_text(config.comparison['seeds'])}, expected {duration(estimate)} with {jobs} "
                f"worker{'s' if jobs > 1 else ''} on cores like those of the 2-core development machine"
            )
        out = run_experiment(config, args.out or DEFAULT_OUT, progress=progress, jobs=jobs, scheduler=args.scheduler)
    results = load_results(out)
    if args.format != "png":
        draw_all(results, out, args.format)
    ran = len(results["runs"]) - kept
    before = f", {kept} kept from before" if kept else ""
    print(
        f"\n{results['name']}: {ran} run{'s' if ran != 1 else ''} in {time.perf_counter() - start:.1f} s{before} "
        f"(seeds {results['seeds']}, phases {results['phase_epochs']} epochs)"
    )
    print(summary_table(results))
    print()
    print(comparison_table(results))
    print(f"\nresults, models and figures: {out}")
    return 0


def _plot(args: argparse.Namespace) -> int:
    results = load_results(args.results_dir)
    note = completeness_note(results, args.results_dir)
    if note:
        print(note, file=sys.stderr)
    if "upgraded_from" in results:
        print(
            f"{args.results_dir}: read as {results['schema']} from {results['upgraded_from']}; summary and "
            "paired comparisons recomputed from its runs (the file is left as it was)"
        )
    for path in draw_all(results, args.results_dir, args.format):
        print(path)
    return 0


def _notebooks(args: argparse.Namespace) -> int:
    if args.nbgrader and args.student:
        print(
            "minisensli notebooks: error: --nbgrader writes the instructor version; nbgrader makes the "
            "student version from it (nbgrader generate_assignment)",
            file=sys.stderr,
        )
        return EXIT_USAGE
    written = notebooks.export(args.dir, student=args.student, force=args.force, nbgrader=args.nbgrader)
    chapters = sum(1 for path in written if path.suffix == ".ipynb")
    if args.nbgrader:
        print(
            f"{chapters} chapters in nbgrader's source format written to {args.dir}/source/; then, in that "
            f"folder: nbgrader generate_assignment CHAPTER (e.g. cd {shlex.quote(str(args.dir))} && "
            f"nbgrader generate_assignment {next(p.stem for p in written if p.suffix == '.ipynb')})"
        )
        return 0
    edition = "student edition, without solutions" if args.student else "with solutions"
    appendices = sum(1 for path in written if path.suffix == ".ipynb" and notebooks.is_appendix(path))
    extra = f" and {appendices} {'appendices' if appendices > 1 else 'appendix'}" if appendices else ""
    print(
        f"{chapters - appendices} chapters{extra} ({edition}) and README.md written to {args.dir}/; "
        "open them with: "
        f"{notebooks.open_hint(args.dir)}"
    )
    return 0


class _Stopped(KeyboardInterrupt):
    """SIGINT or SIGTERM outside a run's tasks (reading results, drawing figures, writing notebooks)."""

    def __init__(self, signal_name: str) -> None:
        super().__init__(signal_name)
        self.signal_name = signal_name


@contextmanager
def _stop_on_signals() -> Iterator[None]:
    """While a command runs, SIGTERM stops it as Ctrl-C does: as an exception, so that every file being
    written is removed again (files.atomic_write) instead of the process dying with a .partial file
    left and exit -15. The first signal stops; later ones are ignored so that the clean-up finishes.
    (During a run's tasks the runner installs its own handlers, which keep the finished runs.)"""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[str] = []

    def handle(signum: int, frame: Any) -> None:
        if received:
            return
        received.append(signal.Signals(signum).name)
        raise _Stopped(received[0])

    previous = {s: signal.signal(s, handle) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        if args.command in teaching_cli.COMMANDS:  # --- teaching: grading keeps its own Ctrl-C handling ---
            return teaching_cli.handle(args) or 0
        with _stop_on_signals():
            return _command(args)
    except (ConfigError, ResultsError, RunFolderError, ExecutorError, notebooks.NotebookExportError) as err:
        print(f"minisensli {args.command}: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except RunInterruptedError as stop:
        print(
            f"minisensli run: stopped by {stop.signal_name}: {stop.finished} of {stop.total} runs finished and "
            f"kept in {stop.folder}; continue with: minisensli run --resume {_shell(stop.folder)}",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    except RunFailedError as failed:  # each failure was reported when it happened
        print(
            f"minisensli run: {failed.finished} of {failed.total} runs finished and kept in {failed.folder}; "
            f"retry the others with: minisensli run --resume {_shell(failed.folder)}",
            file=sys.stderr,
        )
        return EXIT_FAILED
    except KeyboardInterrupt as stop:  # outside a run's tasks (figures, reading results): no partial file is left
        name = getattr(stop, "signal_name", "SIGINT")
        print(f"minisensli {args.command}: stopped by {name}; no partial file was left", file=sys.stderr)
        return EXIT_INTERRUPTED
    except OSError as err:  # disk full, a folder removed or made read-only under a running job, ...
        where = f"{err.filename}: " if err.filename else ""
        print(f"minisensli {args.command}: error: {where}{err.strerror or err}", file=sys.stderr)
        return EXIT_FAILED


def _command(args: argparse.Namespace) -> int:
    if args.command == "list":
        return _list()
    if args.command == "run":
        return _run(args)
    if args.command == "notebooks":
        return _notebooks(args)
    return _plot(args)


if __name__ == "__main__":
    sys.exit(main())
