"""The width-vs-depth study (issue 21): read the four results folders of one dataset's
``<dataset>-study-*`` configs, pair their runs by seed, and write a table and a figure.

The four configs (depth, width-random, width-gradmax, both) share data, start network, seeds,
epochs and optimiser, so for a seed the four growth runs start from the same weights as the
'small' baseline (which every folder contains; the tables take it from the depth folder and
check that the others are identical). Each folder's 'big' trains its own final architecture
from scratch.

    python -m minisensli.experiments.width_study RESULTS_DIR spirals [--figure PATH]

RESULTS_DIR holds the folders written by ``minisensli run <dataset>-study-<variant> --out
RESULTS_DIR`` (the newest folder of each config is used). Prints Markdown tables.
"""

from __future__ import annotations

import argparse
import math
import pathlib
import statistics
from typing import Any

from .results import load_results
from .statistics import METRICS, format_p, paired, spread

VARIANTS = ("depth", "width-random", "width-gradmax", "both")
LABELS = {"depth": "depth", "width-random": "width random", "width-gradmax": "width gradmax", "both": "both"}


def latest_folders(results_dir: pathlib.Path, dataset: str) -> dict[str, pathlib.Path]:
    """variant -> newest results folder of ``<dataset>-study-<variant>`` in results_dir."""
    found = {}
    for variant in VARIANTS:
        name = f"{dataset}-study-{variant}-"
        candidates = sorted(
            p
            for p in results_dir.iterdir()
            if p.name.startswith(name) and p.name[len(name) :].replace("-", "").isdigit() and p.is_dir()
        )
        if not candidates:
            raise FileNotFoundError(f"no results folder of {dataset}-study-{variant} in {results_dir}")
        found[variant] = candidates[-1]
    return found


def collect(results_dir: pathlib.Path, dataset: str) -> dict[str, Any]:
    """{'runs': {method: {seed: run}}, 'small_mismatch': largest |difference| of the 'small'
    runs' final train loss between folders, 'folders': ...}."""
    folders = latest_folders(results_dir, dataset)
    runs: dict[str, dict[int, dict[str, Any]]] = {}
    mismatch = 0.0
    for variant, folder in folders.items():
        results = load_results(folder)
        for run in results["runs"]:
            if run["method"] == "abs max":
                method = LABELS[variant]
            elif run["method"] == "big":
                method = f"big ({LABELS[variant]})"
            elif variant == "depth":
                method = "small"
            else:
                reference = runs.get("small", {}).get(run["seed"])
                if reference is not None:
                    mismatch = max(mismatch, abs(run["final_train_loss"] - reference["final_train_loss"]))
                continue
            runs.setdefault(method, {})[run["seed"]] = run
    return {"runs": runs, "small_mismatch": mismatch, "folders": folders}


def _values(runs: dict[int, dict[str, Any]], key: str) -> dict[int, float]:
    return {s: r[key] for s, r in runs.items() if r.get(key) is not None and math.isfinite(r[key])}


def _cell(stat: dict[str, Any], scale: float = 1.0, digits: int = 3) -> str:
    if not stat["n"]:
        return "-"
    return f"{stat['median'] * scale:.{digits}g} [{stat['q1'] * scale:.{digits}g}, {stat['q3'] * scale:.{digits}g}]"


def method_order(runs: dict[str, Any]) -> list[str]:
    order = ["small", *(LABELS[v] for v in VARIANTS), *(f"big ({LABELS[v]})" for v in VARIANTS)]
    return [m for m in order if m in runs]


def summary_table(study: dict[str, Any]) -> str:
    """One row per method: median [q1, q3] over seeds of final train loss, test error (%),
    parameters, wall time per run (s), and (growth runs) the kinds chosen."""
    rows = [
        "| method | seeds | final train loss | final test error (%) | parameters | wall time per run (s) | chosen |",
        "|---|---|---|---|---|---|---|",
    ]
    for method in method_order(study["runs"]):
        runs = study["runs"][method]
        loss = spread(list(_values(runs, "final_train_loss").values()))
        error = spread(list(_values(runs, "final_test_error").values()))
        params = spread([r["parameters"] for r in runs.values()])
        wall = spread([r["wall_time"] for r in runs.values()])
        kinds: dict[str, int] = {}
        for r in runs.values():
            for site in r.get("chosen_sites", []):
                if site is not None:
                    kind = site.split("@")[0]
                    kinds[kind] = kinds.get(kind, 0) + 1
        chosen = ", ".join(f"{k} {n}" for k, n in sorted(kinds.items())) or "-"
        rows.append(
            f"| {method} | {len(runs)} | {_cell(loss)} | {_cell(error, 100)} | {_cell(params, digits=5)} "
            f"| {_cell(wall)} | {chosen} |"
        )
    return "\n".join(rows)


PAIRS = (
    ("width random", "depth"),
    ("width gradmax", "depth"),
    ("width gradmax", "width random"),
    ("both", "depth"),
    ("both", "width gradmax"),
    ("depth", "small"),
    ("width random", "small"),
    ("width gradmax", "small"),
    ("both", "small"),
    ("depth", "big (depth)"),
    ("width random", "big (width random)"),
    ("width gradmax", "big (width gradmax)"),
    ("both", "big (both)"),
)


def comparison_table(study: dict[str, Any]) -> str:
    """Paired per seed (a - b, lower is better): wins/losses/ties of a, median difference,
    Wilcoxon signed-rank p (two-sided), for final train loss and final test error."""
    rows = [
        "| a vs b | metric | n | a better / worse / tie | median a - b | p (Wilcoxon) |",
        "|---|---|---|---|---|---|",
    ]
    runs = study["runs"]
    for a, b in PAIRS:
        if a not in runs or b not in runs:
            continue
        for metric in METRICS:
            scale = 100 if metric == "final_test_error" else 1
            result = paired(_values(runs[a], metric), _values(runs[b], metric))
            median = "-" if result["median_difference"] is None else f"{result['median_difference'] * scale:+.3g}"
            name = "train loss" if metric == "final_train_loss" else "test error (pp)"
            rows.append(
                f"| {a} vs {b} | {name} | {result['n']} | {result['wins']} / {result['losses']} / {result['ties']} "
                f"| {median} | {format_p(result['p_value'])} |"
            )
    return "\n".join(rows)


def plot_study(study: dict[str, Any], path: pathlib.Path, title: str) -> None:
    """Left: median minibatch loss per iteration with the interquartile band, growth methods and
    small; right: final training loss per seed of every method (dots) with the median (bar)."""
    from matplotlib.figure import Figure  # noqa: PLC0415 - plotting only

    from ..sensli.plotting import plain_log_ticks  # noqa: PLC0415
    from .quantiles import quantiles_by_position  # noqa: PLC0415

    fig = Figure(figsize=(11, 4.0))
    ax_curve, ax_final = fig.subplots(1, 2)
    runs = study["runs"]
    curves = ["small", *(LABELS[v] for v in VARIANTS)]
    for i, method in enumerate(m for m in curves if m in runs):
        rows = [r["minibatch_losses"] for r in runs[method].values()]
        q1, median, q3 = quantiles_by_position(rows, (0.25, 0.5, 0.75))
        steps = range(len(median))
        ax_curve.plot(steps, median, lw=1.2, color=f"C{i}", label=method)
        ax_curve.fill_between(steps, q1, q3, color=f"C{i}", alpha=0.15, lw=0)
    depth_runs: dict[Any, dict[str, Any]] = runs.get("depth", {})
    for record in next(iter(depth_runs.values()), {}).get("insertions", []):
        ax_curve.axvline(record["iteration"], ls=":", color="k", lw=0.8)
    ax_curve.set_yscale("log")
    plain_log_ticks(ax_curve.yaxis)
    ax_curve.set_xlabel("iteration (minibatch step)")
    ax_curve.set_ylabel("training loss (log scale)")
    ax_curve.set_title("median and quartiles over seeds; dotted: insertion")
    ax_curve.legend(fontsize=8)
    methods = method_order(runs)
    for i, method in enumerate(methods):
        values = list(_values(runs[method], "final_train_loss").values())
        offsets = [i + 0.25 * ((j % 7) - 3) / 3 for j in range(len(values))]
        ax_final.scatter(offsets, values, s=6, color="0.4")
        if values:
            ax_final.hlines(statistics.median(values), i - 0.35, i + 0.35, color="C3", lw=2)
    ax_final.set_xticks(range(len(methods)), [m.replace(" (", "\n(") for m in methods], rotation=45, fontsize=7)
    ax_final.set_yscale("log")
    plain_log_ticks(ax_final.yaxis)
    ax_final.set_ylabel("final training loss (log scale)")
    ax_final.set_title("per seed (dots) and median (bar)")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("results_dir", type=pathlib.Path)
    parser.add_argument("dataset", choices=("spirals", "digits"))
    parser.add_argument("--figure", type=pathlib.Path, help="write the study figure (PNG) here")
    args = parser.parse_args(argv)
    study = collect(args.results_dir, args.dataset)
    print(summary_table(study))
    print()
    print(comparison_table(study))
    print()
    print(f"'small' runs identical across the four folders: largest difference {study['small_mismatch']:.3g}")
    if args.figure is not None:
        plot_study(study, args.figure, f"{args.dataset}: depth vs width growth ({len(study['runs']['small'])} seeds)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
