"""The `minisensli` command (also `python -m minisensli`).

    minisensli run [NAME|CONFIG.toml] [--seeds N] [--out DIR] [--quick] [--no-progress] [--format F]
    minisensli list
    minisensli plot RESULTS_DIR [--format F]
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
    comparison_table,
    draw_all,
    load_results,
    quick,
    resolve,
    run_experiment,
    summary_table,
)
from .experiments.config import Config, expected_seconds
from .experiments.plots import FORMATS

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
    run.add_argument("--format", choices=FORMATS, default="png",
                     help="figure format: png (150 dpi, always written) or also svg / pdf vector files")

    commands.add_parser("list", help="list the built-in experiments",
                        description="List the built-in experiments with their seed count and expected run time "
                                    "on 2 cores (measured seconds per epoch of one run x epochs x methods x seeds).")

    plot = commands.add_parser("plot", help="redraw the figures of a results folder",
                               description="Redraw every figure of a results folder from its results.json.")
    plot.add_argument("results_dir", metavar="RESULTS_DIR")
    plot.add_argument("--format", choices=FORMATS, default="png", help="figure format (default: png at 150 dpi)")

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
        rows.append((name + marker, str(len(config.comparison["seeds"])), duration(expected_seconds(config)),
                     config.description))
    header = ("experiment", "seeds", "time (2 cores)", "description")
    widths = [max(len(row[c]) for row in [header, *rows]) for c in range(3)]
    for row in [header, *rows]:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)) + "  " + row[3])
    print("time: the config's measured seconds per epoch of one run x epochs x methods x seeds, on the 2-core "
          "development machine; more on a loaded machine, --quick about a tenth (fewer seeds: less)")
    return 0


def _seed_text(seeds: list[int]) -> str:
    if seeds == list(range(len(seeds))) and len(seeds) > 3:
        return f"{len(seeds)} seeds (0..{len(seeds) - 1})"
    return f"{len(seeds)} seed{'s' if len(seeds) != 1 else ''} {seeds}"


def apply_overrides(config: Config, seeds: int | None, quick_run: bool) -> list[str]:
    """Apply --seeds and --quick to ``config``; one line per change saying what it changed."""
    said = []
    if seeds is not None:
        if seeds < 1:
            raise ConfigError(f"--seeds: must be at least 1, got {seeds}")
        before = config.comparison["seeds"]
        config.comparison["seeds"] = list(range(seeds))
        if config.comparison["seeds"] != before:
            said.append(f"--seeds {seeds}: {_seed_text(config.comparison['seeds'])} instead of the config's "
                        f"{_seed_text(before)}")
    if quick_run:
        epochs, seed_list = list(config.phase_epochs), list(config.comparison["seeds"])
        quick(config)
        said.append(f"--quick: epochs per phase {epochs} -> {config.phase_epochs} (a tenth, at least 1)")
        if config.comparison["seeds"] != seed_list:
            said.append(f"--quick: runs {_seed_text(config.comparison['seeds'])} of the {_seed_text(seed_list)} "
                        "asked for (a quick run keeps at most 2)")
    return said


def _run(args: argparse.Namespace) -> int:
    config = resolve(args.experiment)
    for line in apply_overrides(config, args.seeds, args.quick):
        print(line)
    estimate = expected_seconds(config)
    if estimate is not None:
        print(f"{config.name}: {len(config.comparison['methods'])} methods x {_seed_text(config.comparison['seeds'])}"
              f", expected {duration(estimate)} on 2 cores")
    start = time.perf_counter()
    out = run_experiment(config, args.out, progress=not args.no_progress)
    results = load_results(out)
    if args.format != "png":
        draw_all(results, out, args.format)
    print(f"\n{config.name}: {len(results['runs'])} runs in {time.perf_counter() - start:.1f} s "
          f"(seeds {results['seeds']}, phases {results['phase_epochs']} epochs)")
    print(summary_table(results))
    print()
    print(comparison_table(results))
    print(f"\nresults, models and figures: {out}")
    return 0


def _plot(args: argparse.Namespace) -> int:
    results = load_results(args.results_dir)
    if "upgraded_from" in results:
        print(f"{args.results_dir}: read as {results['schema']} from {results['upgraded_from']}; summary and "
              "paired comparisons recomputed from its runs (the file is left as it was)")
    for path in draw_all(results, args.results_dir, args.format):
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
