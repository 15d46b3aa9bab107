"""The `minisensli` command (also `python -m minisensli`).

    minisensli run [NAME|CONFIG.toml] [--seeds N] [--out DIR] [--quick] [--no-progress] [--device cpu|gpu]
    minisensli list
    minisensli plot RESULTS_DIR
    minisensli notebooks [DIR] [--student] [--force]
    minisensli --version

Exit codes: 0 success, 2 bad usage or an invalid configuration / results folder.
"""

from __future__ import annotations

import argparse
import sys
import time

from . import __version__, notebooks
from .experiments import (
    ConfigError,
    ResultsError,
    builtin_names,
    draw_all,
    load_results,
    quick,
    resolve,
    run_experiment,
    summary_table,
)

DEFAULT_EXPERIMENT = "spirals"


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
    run.add_argument("experiment", nargs="?", default=DEFAULT_EXPERIMENT,
                     help=f"built-in name or path to a .toml config (default: {DEFAULT_EXPERIMENT})")
    run.add_argument("--seeds", type=int, metavar="N", help="use seeds 0..N-1 instead of the config's")
    run.add_argument("--out", default="minisensli-results", metavar="DIR",
                     help="folder that receives the results folder (default: ./minisensli-results)")
    run.add_argument("--quick", action="store_true",
                     help="smoke run: every phase's epochs divided by 10 (at least 1), at most 2 seeds")
    run.add_argument("--no-progress", action="store_true", help="no progress bars")
    run.add_argument("--device", choices=("cpu", "gpu"),
                     help="where models and batches live (default: the config's training.device, else cpu)")

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
    config = resolve(args.experiment)
    if args.seeds is not None:
        if args.seeds < 1:
            raise ConfigError(f"--seeds: must be at least 1, got {args.seeds}")
        config.comparison["seeds"] = list(range(args.seeds))
    if args.device is not None:
        config.training["device"] = args.device
    if args.quick:
        config = quick(config)
    start = time.perf_counter()
    out = run_experiment(config, args.out, progress=not args.no_progress)
    results = load_results(out)
    print(f"\n{config.name}: {len(results['runs'])} runs in {time.perf_counter() - start:.1f} s "
          f"(seeds {results['seeds']}, phases {results['phase_epochs']} epochs)")
    print(summary_table(results))
    print(f"\nresults, models and figures: {out}")
    return 0


def _plot(args: argparse.Namespace) -> int:
    results = load_results(args.results_dir)
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
    except (ConfigError, ResultsError, notebooks.NotebookExportError) as err:
        print(f"minisensli {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
