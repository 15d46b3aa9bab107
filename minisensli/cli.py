"""The `minisensli` command (also `python -m minisensli`).

    minisensli run [NAME|CONFIG.toml] [--seeds N] [--out DIR] [--quick] [--no-progress]
                   [--jobs N | --scheduler ADDRESS]
    minisensli run --resume RESULTS_DIR [--jobs N | --scheduler ADDRESS] [--no-progress]
    minisensli list
    minisensli plot RESULTS_DIR
    minisensli notebooks [DIR] [--student] [--force]
    minisensli --version

Exit codes: 0 success; 1 some runs failed (the others are kept; --resume retries the failed
ones) or a file could not be written; 2 bad usage, an invalid configuration, --out or results
folder; 130 stopped by Ctrl-C or SIGTERM (every finished run is kept; --resume continues).
"""

from __future__ import annotations

import argparse
import sys
import time

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
    completeness_note,
    draw_all,
    load_results,
    quick,
    resolve,
    resume_experiment,
    run_experiment,
    summary_table,
)

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

    run = commands.add_parser("run", help="run an experiment and write its results folder",
                              description="Run a built-in experiment (see `minisensli list`) or a TOML config: every "
                                          "method on every seed; writes config.toml, results.json, models/ and "
                                          "figures to OUT/<name>-<timestamp>/ and prints a summary table.")
    run.add_argument("experiment", nargs="?", default=None,
                     help=f"built-in name or path to a .toml config (default: {DEFAULT_EXPERIMENT})")
    run.add_argument("--seeds", type=int, metavar="N", help="use seeds 0..N-1 instead of the config's")
    run.add_argument("--out", default=None, metavar="DIR",
                     help="folder that receives the results folder (default: ./minisensli-results)")
    run.add_argument("--quick", action="store_true",
                     help="smoke run: every phase's epochs divided by 10 (at least 1), at most 2 seeds")
    run.add_argument("--no-progress", action="store_true", help="no progress bars")
    where = run.add_mutually_exclusive_group()
    where.add_argument("--jobs", type=int, metavar="N", default=None,
                       help="trainings in parallel in N local processes (default: the number of cores, "
                            f"{available_cores()} here; 1: in this process); results do not depend on N")
    where.add_argument("--scheduler", metavar="ADDRESS",
                       help="send the trainings to a Dask distributed scheduler, e.g. tcp://host:8786 "
                            "(needs pip install 'minisensli[cluster]' here and on the workers)")
    run.add_argument("--resume", metavar="RESULTS_DIR",
                     help="finish the missing runs of a stopped or failed run's results folder (its config.toml "
                          "and seeds; same numbers as an uninterrupted run)")

    commands.add_parser("list", help="list the built-in experiments", description="List the built-in experiments.")

    plot = commands.add_parser("plot", help="redraw the figures of a results folder",
                               description="Redraw every figure of a results folder from its results.json.")
    plot.add_argument("results_dir", metavar="RESULTS_DIR")

    chapters = commands.add_parser(
        "notebooks", help="write the course chapters as Jupyter notebooks",
        description="Write the chapters (notebooks/chNN_*.py) as .ipynb files into DIR. Needs the notebooks "
                    'extra: pip install -e ".[notebooks]".')
    chapters.add_argument("dir", nargs="?", default="minisensli-notebooks",
                          help="folder to write into (default: ./minisensli-notebooks)")
    chapters.add_argument("--student", action="store_true",
                          help="student edition: leave out the solution cells (the self-checks stay)")
    chapters.add_argument("--force", action="store_true", help="overwrite notebooks that already exist in DIR")
    return parser


def _list() -> int:
    for name in builtin_names():
        config = resolve(name)
        marker = " (default)" if name == DEFAULT_EXPERIMENT else ""
        print(f"{name:<16} {config.description}{marker}")
    return 0


def _run(args: argparse.Namespace) -> int:
    jobs = available_cores() if args.jobs is None else args.jobs
    if jobs < 1:
        raise ConfigError(f"--jobs: must be at least 1, got {jobs}")
    progress = not args.no_progress
    start = time.perf_counter()
    if args.resume is not None:
        given = [flag for flag, value in (("EXPERIMENT", args.experiment), ("--seeds", args.seeds),
                                          ("--quick", args.quick or None), ("--out", args.out))
                 if value is not None]
        if given:
            raise ConfigError(f"--resume takes the configuration from {args.resume}/config.toml; do not also give "
                              f"{', '.join(given)}")
        out = resume_experiment(args.resume, progress=progress, jobs=jobs, scheduler=args.scheduler)
    else:
        config = resolve(args.experiment or DEFAULT_EXPERIMENT)
        if args.seeds is not None:
            if args.seeds < 1:
                raise ConfigError(f"--seeds: must be at least 1, got {args.seeds}")
            config.comparison["seeds"] = list(range(args.seeds))
        if args.quick:
            config = quick(config)
        out = run_experiment(config, args.out or DEFAULT_OUT, progress=progress, jobs=jobs, scheduler=args.scheduler)
    results = load_results(out)
    print(f"\n{results['name']}: {len(results['runs'])} runs in {time.perf_counter() - start:.1f} s "
          f"(seeds {results['seeds']}, phases {results['phase_epochs']} epochs)")
    print(summary_table(results))
    print(f"\nresults, models and figures: {out}")
    return 0


def _plot(args: argparse.Namespace) -> int:
    results = load_results(args.results_dir)
    note = completeness_note(results, args.results_dir)
    if note:
        print(note, file=sys.stderr)
    for path in draw_all(results, args.results_dir):
        print(path)
    return 0


def _notebooks(args: argparse.Namespace) -> int:
    written = notebooks.export(args.dir, student=args.student, force=args.force)
    edition = "student edition, without solutions" if args.student else "with solutions"
    print(f"{len(written)} chapters ({edition}) written to {args.dir}/; open them with: jupyter lab {args.dir}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        if args.command == "list":
            return _list()
        if args.command == "run":
            return _run(args)
        if args.command == "notebooks":
            return _notebooks(args)
        return _plot(args)
    except (ConfigError, ResultsError, RunFolderError, ExecutorError, notebooks.NotebookExportError) as err:
        print(f"minisensli {args.command}: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except RunInterruptedError as stop:
        print(f"minisensli run: stopped by {stop.signal_name}: {stop.finished} of {stop.total} runs finished and "
              f"kept in {stop.folder}; continue with: minisensli run --resume {stop.folder}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except RunFailedError as failed:  # each failure was reported when it happened
        print(f"minisensli run: {failed.finished} of {failed.total} runs finished and kept in {failed.folder}; "
              f"retry the others with: minisensli run --resume {failed.folder}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:  # outside a run's tasks (drawing figures, reading results): nothing to keep
        print(f"minisensli {args.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except OSError as err:  # disk full, a folder removed or made read-only under a running job, ...
        where = f"{err.filename}: " if err.filename else ""
        print(f"minisensli {args.command}: error: {where}{err.strerror or err}", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
