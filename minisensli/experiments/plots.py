"""Figures of a results folder, drawn from results.json alone (so `minisensli plot` can redraw them).

loss_vs_iterations.png  mean training loss per minibatch step over seeds, per method (log scale);
                        dotted lines: where the growth methods inserted
loss_vs_time.png        the same against mean cumulative wall time (selection time included); dotted:
                        mean time at which each selection ended
test_error.png          mean test error (%) after each epoch
sensitivities.png       the score of every candidate site at each selection of the growth methods,
                        one dot per seed and the mean as a bar
architecture.png        the start architecture and each method's final one (first seed), new
                        layers highlighted
"""

from __future__ import annotations

import pathlib
from typing import Any

from ..sensli.plotting import new_figure

FIGURES = ("loss_vs_iterations.png", "loss_vs_time.png", "test_error.png", "sensitivities.png", "architecture.png")


def _subplots(*grid: int, figsize: tuple[float, float], **options: Any) -> tuple[Any, Any]:
    """A figure for a file (never registered with pyplot: no backend switch, nothing left open)."""
    fig = new_figure(True, figsize=figsize)
    return fig, fig.subplots(*grid, **options)


def _finish(fig: Any, path: pathlib.Path, legend: Any = None, margins: dict[str, float] | None = None) -> None:
    """Legend (if asked), fixed margins, write the PNG.

    Margins are set, not computed: tight_layout measured every tick label of every figure and
    took a third of the drawing time; these figures have known sizes and labels.
    """
    if legend is not None:
        legend.legend()
    fig.subplots_adjust(**{"left": 0.14, "right": 0.97, "bottom": 0.13, "top": 0.91, "wspace": 0.3,
                           **(margins or {})})
    fig.savefig(path, dpi=110)


def _mean_curve(curves: list[list[float | None]]) -> list[float]:
    """Element-wise mean over seeds, ignoring missing values (nan-mean without numpy)."""
    length = max((len(c) for c in curves), default=0)
    out = []
    for i in range(length):
        values = [c[i] for c in curves if i < len(c) and c[i] is not None]
        out.append(sum(values) / len(values) if values else float("nan"))
    return out


def _runs_by_method(results: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = {m: [] for m in results["methods"]}
    for run in results["runs"]:
        grouped.setdefault(run["method"], []).append(run)
    return grouped


def _insertion_marks(ax: Any, results: dict[str, Any], key: str) -> None:
    """Dotted vertical lines where a layer was inserted: at the iteration or epoch (``key``), or
    for key 'time' at the mean over runs of the wall time when that selection ended."""
    if key == "time":
        by_selection: dict[int, list[float]] = {}
        for run in results["runs"]:
            for k, record in enumerate(run["insertions"]):
                if record["chosen"] is not None and record["epoch"] > 0:
                    by_selection.setdefault(k, []).append(run["epoch_times"][record["epoch"] - 1])
        marks = {sum(times) / len(times) for times in by_selection.values()}
    else:
        marks = {record[key] for run in results["runs"] for record in run["insertions"] if record["chosen"] is not None}
    for x in sorted(marks):
        ax.axvline(x, ls=":", color="k", lw=1)


def _step_times(epoch_times: list[float], steps: int) -> list[float]:
    """A time for every minibatch step, spread evenly inside its epoch."""
    per_epoch = steps // max(len(epoch_times), 1)
    xs, previous = [], 0.0
    for end in epoch_times:
        xs += [previous + (end - previous) * (s + 1) / per_epoch for s in range(per_epoch)]
        previous = end
    return xs


def plot_losses(results: dict[str, Any], path: pathlib.Path, against: str) -> None:
    fig, ax = _subplots(figsize=(7, 4.2))
    for method, runs in _runs_by_method(results).items():
        if not runs:
            continue
        loss = _mean_curve([r["minibatch_losses"] for r in runs])
        if against == "iterations":
            xs = list(range(len(loss)))
        else:
            xs = _step_times(_mean_curve([r["epoch_times"] for r in runs]), len(loss))
        ax.plot(xs, loss[: len(xs)], lw=1.2, label=method)
    _insertion_marks(ax, results, "iteration" if against == "iterations" else "time")
    if against == "iterations":
        ax.set_xlabel("iteration (minibatch step)")
    else:
        ax.set_xlabel("wall time (s, mean over seeds; selection included)")
    ax.set_yscale("log")
    ax.set_ylabel("training loss (mean over seeds)")
    ax.set_title(f"{results['name']}: training loss; dotted: insertion")
    _finish(fig, path, legend=ax)


def plot_test_error(results: dict[str, Any], path: pathlib.Path) -> None:
    fig, ax = _subplots(figsize=(7, 4.2))
    for method, runs in _runs_by_method(results).items():
        if runs:
            error = _mean_curve([r["test_error"] for r in runs])
            ax.plot(range(1, len(error) + 1), [100 * e for e in error], lw=1.2, label=method)
    _insertion_marks(ax, results, "epoch")
    ax.set_xlabel("epoch")
    ax.set_ylabel("test error (%), mean over seeds")
    ax.set_title(f"{results['name']}: test error")
    _finish(fig, path, legend=ax)


def plot_sensitivities(results: dict[str, Any], path: pathlib.Path) -> None:
    grouped = {m: [r for r in runs if r["insertions"]] for m, runs in _runs_by_method(results).items()}
    grouped = {m: runs for m, runs in grouped.items() if runs}
    selections = max((len(r["insertions"]) for runs in grouped.values() for r in runs), default=0)
    fig, axes = _subplots(1, max(selections, 1), figsize=(4.5 * max(selections, 1), 3.8), squeeze=False)
    for k in range(selections):
        ax = axes[0][k]
        width = 0.8 / max(len(grouped), 1)
        records_by_method = {m: [r["insertions"][k] for r in runs if len(r["insertions"]) > k]
                             for m, runs in grouped.items()}
        # architectures can differ between seeds from the second selection on: match sites by label
        labels = sorted({label for records in records_by_method.values() for rec in records for label in rec["sites"]},
                        key=lambda label: int(label.split("@")[1]))
        for j, (method, records) in enumerate(records_by_method.items()):
            legend_label = method
            for i, label in enumerate(labels):
                values = [rec["scores"][rec["sites"].index(label)] for rec in records if label in rec["sites"]]
                if not values:
                    continue
                x = i + j * width
                ax.bar(x, sum(values) / len(values), width=width, color=f"C{j}", alpha=0.35, label=legend_label)
                legend_label = None
                ax.scatter([x] * len(values), values, color=f"C{j}", s=10)
        ax.set_xticks([i + 0.4 - width / 2 for i in range(len(labels))], labels, rotation=20, fontsize=8)
        ax.set_yscale("log")
        ax.set_title(f"selection {k + 1}")
        ax.set_ylabel("score (bar: mean; dots: seeds)")
        ax.legend(fontsize=8)
    if not selections:
        axes[0][0].text(0.5, 0.5, "no growth method in this run", ha="center", va="center")
    _finish(fig, path, margins={"left": 0.16 / max(selections, 1), "bottom": 0.2, "top": 0.9})


def plot_architectures(results: dict[str, Any], path: pathlib.Path) -> None:
    from matplotlib.patches import Rectangle  # noqa: PLC0415 - plotting only

    seed = results["seeds"][0]
    rows = [("start", results["start_architecture"], [])]
    for run in results["runs"]:
        if run["seed"] == seed:
            rows.append((run["method"], run["architecture"], run["inserted_layers"]))
    longest = max(len(labels) for _, labels, _ in rows)
    fig, ax = _subplots(figsize=(max(6.0, 1.25 * longest + 1.5), 0.6 * len(rows) + 0.8))
    for r, (name, labels, new) in enumerate(rows):
        y = len(rows) - 1 - r
        ax.text(-0.2, y, name, ha="right", va="center", fontsize=9)
        for i, label in enumerate(labels):
            ax.add_patch(Rectangle((i * 1.25, y - 0.3), 1.15, 0.6, facecolor="C1" if i in new else "0.9",
                                       edgecolor="0.3"))
            ax.text(i * 1.25 + 0.575, y, label, ha="center", va="center", fontsize=6.5)
    ax.set_xlim(-2.2, longest * 1.25)
    ax.set_ylim(-0.7, len(rows) - 0.3)
    ax.axis("off")
    ax.set_title(f"{results['name']}: architectures (seed {seed}; orange: inserted)", fontsize=10)
    _finish(fig, path, margins={"left": 0.02, "right": 0.98, "bottom": 0.02, "top": 0.88})


def draw_all(results: dict[str, Any], folder: str | pathlib.Path) -> list[pathlib.Path]:
    """Draw every figure of FIGURES into ``folder``; returns their paths."""

    folder = pathlib.Path(folder)
    paths = [folder / name for name in FIGURES]
    plot_losses(results, paths[0], "iterations")
    plot_losses(results, paths[1], "time")
    plot_test_error(results, paths[2])
    plot_sensitivities(results, paths[3])
    plot_architectures(results, paths[4])
    return paths
