"""Figures of a results folder, drawn from results.json alone (so `minisensli plot` can redraw them).

Every figure shows the spread over seeds, never a mean alone:

loss_vs_iterations     training loss per minibatch step: per method the median over seeds (line)
                       and the 25th-75th percentile band; dotted: the iteration of each insertion
loss_vs_time           the same against wall time (median over seeds of each step's time); ticks
                       at the bottom: each run's own insertion time, in its method's colour. Wall
                       time depends on the machine's load, and the title says so
test_error             test error (%) after each epoch: median and 25th-75th percentile band
sensitivities          one panel per selection: the score of every candidate site for every seed
                       (one dot per seed and site), a ring on the site that run chose and, above
                       each column, how often it was chosen. From the second selection on, the
                       networks of different runs can differ: runs are grouped by the network
                       they had (the sites chosen before), and each group's sites are numbered
                       by their position in that network, so no label is pooled across networks
architecture           the start network and every method's final networks, each with the number
                       of seeds that reached it; long networks wrap onto several lines

Each draw function returns its matplotlib Figure (and writes it when given a path), so tests
can inspect the artists: the ones the figures are about carry a gid ("iqr-band", "median",
"seed-scores", "chosen-sites", "insertion-times", "inserted-layer").
"""

from __future__ import annotations

import math
import pathlib
from collections import Counter
from typing import Any

from ..files import atomic_write
from ..sensli.plotting import new_figure, norm_name, plain_log_ticks
from .quantiles import quantiles_by_position

FIGURES = ("loss_vs_iterations.png", "loss_vs_time.png", "test_error.png", "sensitivities.png", "architecture.png")
FORMATS = ("png", "svg", "pdf")
DPI = 150  # fit for slides; svg and pdf are vector files
# beside the axes, where it hides no curve (and loc="best" is slow on thousands of points)
LEGEND_OUTSIDE = {
    "fontsize": 8,
    "title": "method (runs)",
    "title_fontsize": 8,
    "loc": "upper left",
    "bbox_to_anchor": (1.01, 1.0),
}
# points of one drawn curve: longer curves are thinned keeping every bucket's min and max (thin_line)
MAX_POINTS_PER_LINE = 4000
MAX_SELECTION_PANELS = 8  # selections drawn in the sensitivities figure (the first and the last ones)
MAX_DRAWN_LAYERS = 63  # boxes per network in the architecture figure (9 lines of 7; longer ones are shortened)
MAX_SITE_LABELS = 120  # tick labels of one selection panel
MAX_NETWORK_ROWS = 6  # distinct final networks drawn per method (the most frequent)
WALL_TIME_WARNING = "wall time depends on the machine's load: other work beside it slows every run"


def _subplots(*grid: int, figsize: tuple[float, float], **options: Any) -> tuple[Any, Any]:
    """A figure for a file (never registered with pyplot: no backend switch, nothing left open)."""
    fig = new_figure(True, figsize=figsize)
    return fig, fig.subplots(*grid, **options)


def _legend(ax: Any, **options: Any) -> None:
    """A legend when there is something to name (a folder with no finished run yet has no curve)."""
    if ax.get_legend_handles_labels()[1]:
        ax.legend(**options)


def _finish(fig: Any, path: pathlib.Path | None) -> Any:
    """Tight layout; write the file atomically (its format from the suffix) when a path is given."""
    fig.tight_layout()
    if path is not None:
        path = pathlib.Path(path)
        with atomic_write(path, "wb") as file:
            fig.savefig(file, dpi=DPI, format=path.suffix.lstrip(".") or "png")
    return fig


def _runs_by_method(results: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = {m: [] for m in results["methods"]}
    for run in results["runs"]:
        grouped.setdefault(run["method"], []).append(run)
    return grouped


def _colours(results: dict[str, Any]) -> dict[str, str]:
    """One colour per method, the same in every figure."""
    return {method: f"C{i % 10}" for i, method in enumerate(_runs_by_method(results))}


def _bands(curves: list[list[float | None]]) -> tuple[list[float], list[float], list[float]]:
    """Per position: median, 25th and 75th percentile over the curves that have a value there."""
    median, q1, q3 = quantiles_by_position(curves, (0.5, 0.25, 0.75))
    return median, q1, q3


def _step_times(epoch_times: list[float], steps: int) -> list[float]:
    """A time for every minibatch step, spread evenly inside its epoch."""
    per_epoch = steps // max(len(epoch_times), 1)
    xs, previous = [], 0.0
    for end in epoch_times:
        xs += [previous + (end - previous) * (s + 1) / per_epoch for s in range(per_epoch)]
        previous = end
    return xs


def _insertion_iterations(results: dict[str, Any], key: str) -> list[int]:
    return sorted({rec[key] for run in results["runs"] for rec in run["insertions"] if rec["chosen"] is not None})


def _bucket_bounds(n: int, buckets: int) -> list[tuple[int, int]]:
    """[a, b) index ranges cutting 0..n-1 into at most ``buckets`` runs of consecutive positions."""
    buckets = max(1, min(buckets, n))
    return [(n * k // buckets, n * (k + 1) // buckets) for k in range(buckets)]


def _min_max(values: list[float]) -> tuple[float, float]:
    """(min, max) of the values that are not nan; (nan, nan) when there are none. min() and max() skip
    a nan anywhere but in the first place (every comparison with nan is false), so the slow filter
    runs only when the first value is nan."""
    smallest, largest = min(values), max(values)
    if smallest != smallest or largest != largest:
        finite = [v for v in values if v == v]
        return (min(finite), max(finite)) if finite else (math.nan, math.nan)
    return smallest, largest


def thin_line(xs: list[float], ys: list[float], most: int = MAX_POINTS_PER_LINE) -> tuple[list[float], list[float]]:
    """At most ``most`` points of a long curve that keep its shape: the positions are cut into
    most/2 consecutive buckets and each gives its smallest and its largest value, in the order
    they occur (so every peak and dip of the full curve is drawn). Short curves are returned whole.
    A figure of 10^6 steps per run draws as fast as one of a few thousand, and stays below
    matplotlib's limit on the size of one path (Agg's 'cell block limit')."""
    n = min(len(xs), len(ys))
    if n <= most:
        return list(xs[:n]), list(ys[:n])
    out_x: list[float] = []
    out_y: list[float] = []
    for a, b in _bucket_bounds(n, most // 2):
        chunk = ys[a:b]
        smallest, largest = _min_max(chunk)
        if smallest != smallest:
            continue  # no value here (nan): a gap, as the full curve has
        low, high = chunk.index(smallest), chunk.index(largest)
        for i in sorted({low, high}):
            out_x.append(xs[a + i])
            out_y.append(chunk[i])
    return out_x, out_y


def thin_band(
    xs: list[float], lower: list[float], upper: list[float], most: int = MAX_POINTS_PER_LINE
) -> tuple[list[float], list[float], list[float]]:
    """At most ``most`` points of a band: per bucket of consecutive positions (see thin_line), the
    smallest lower and the largest upper value at the bucket's first and last x, so the thinned band
    covers the full one."""
    n = min(len(xs), len(lower), len(upper))
    if n <= most:
        return list(xs[:n]), list(lower[:n]), list(upper[:n])
    out_x: list[float] = []
    out_low: list[float] = []
    out_high: list[float] = []
    for a, b in _bucket_bounds(n, most // 2):
        low, high = _min_max(lower[a:b])[0], _min_max(upper[a:b])[1]
        if low != low or high != high:
            continue
        for x in (xs[a], xs[b - 1]):
            out_x.append(x)
            out_low.append(low)
            out_high.append(high)
    return out_x, out_low, out_high


def _band(
    ax: Any, xs: list[float], curves: list[list[float | None]], colour: str, label: str, scale: float = 1.0
) -> None:
    median, q1, q3 = _bands(curves)
    n = min(len(xs), len(median))
    if scale != 1.0:
        median, q1, q3 = ([scale * v for v in values] for values in (median, q1, q3))
    line_x, line_y = thin_line(xs[:n], median[:n])
    (line,) = ax.plot(line_x, line_y, lw=1.3, color=colour, label=f"{label} ({len(curves)})")
    line.set_gid("median")
    band_x, low, high = thin_band(xs[:n], q1[:n], q3[:n])
    band = ax.fill_between(band_x, low, high, color=colour, alpha=0.2, lw=0)
    band.set_gid("iqr-band")


def plot_losses(results: dict[str, Any], path: pathlib.Path | None, against: str) -> Any:
    """Training loss per minibatch step against iterations or wall time (``against``)."""
    fig, ax = _subplots(figsize=(9, 4.8))
    colours = _colours(results)
    for method, runs in _runs_by_method(results).items():
        if not runs:
            continue
        curves: list[list[float | None]] = [r["minibatch_losses"] for r in runs]
        xs: list[float]
        if against == "iterations":
            xs = [float(i) for i in range(max(len(c) for c in curves))]
        else:
            times: list[list[float | None]] = [
                list(_step_times(r["epoch_times"], len(r["minibatch_losses"]))) for r in runs
            ]
            xs = _bands(times)[0]
        _band(ax, xs, curves, colours[method], method)
        if against == "time":
            times = [
                r["epoch_times"][rec["epoch"] - 1]
                for r in runs
                for rec in r["insertions"]
                if rec["chosen"] is not None and rec["epoch"] > 0
            ]
            if times:
                (ticks,) = ax.plot(
                    times,
                    [0.03] * len(times),
                    ls="none",
                    marker="|",
                    ms=12,
                    mew=1.5,
                    color=colours[method],
                    transform=ax.get_xaxis_transform(),
                )
                ticks.set_gid("insertion-times")
    ax.set_yscale("log")
    plain_log_ticks(ax.yaxis)
    seeds = len(results["seeds"])
    if against == "iterations":
        for x in _insertion_iterations(results, "iteration"):
            ax.axvline(x, ls=":", color="k", lw=1)
        ax.set_xlabel("iteration (minibatch step)")
        ax.set_title(
            f"{results['name']}: training loss vs iterations\n"
            f"line: median over {seeds} seeds, band: 25th-75th percentile; dotted: insertion",
            fontsize=10,
        )
    else:
        ax.set_xlabel("wall time (s; median over seeds of each step's time, selection included)")
        ax.set_title(
            f"{results['name']}: training loss vs wall time\n{WALL_TIME_WARNING}\nline: median over "
            f"{seeds} seeds, band: 25th-75th percentile; ticks at the bottom: each run's insertion",
            fontsize=9,
        )
    ax.set_ylabel("training loss (minibatch, log scale)")
    _legend(ax, **LEGEND_OUTSIDE)
    return _finish(fig, path)


def plot_test_error(results: dict[str, Any], path: pathlib.Path | None) -> Any:
    """Test error after each epoch: median over seeds and the 25th-75th percentile band."""
    fig, ax = _subplots(figsize=(9, 4.8))
    colours = _colours(results)
    for method, runs in _runs_by_method(results).items():
        if runs:
            curves = [r["test_error"] for r in runs]
            _band(ax, list(range(1, max(len(c) for c in curves) + 1)), curves, colours[method], method, scale=100)
    for x in _insertion_iterations(results, "epoch"):
        ax.axvline(x, ls=":", color="k", lw=1)
    ax.set_xlabel("epoch")
    ax.set_ylabel("test error (%)")
    ax.set_title(
        f"{results['name']}: test error vs epochs\nline: median over {len(results['seeds'])} seeds, "
        "band: 25th-75th percentile; dotted: insertion",
        fontsize=10,
    )
    _legend(ax, **LEGEND_OUTSIDE)
    return _finish(fig, path)


def _selection_groups(results: dict[str, Any], k: int) -> list[tuple[tuple[str, ...], list[tuple[str, int, Any]]]]:
    """Runs that made a k-th selection, grouped by the network they had then. That network is
    the start network with the layers chosen at the earlier selections, so the sequence of
    earlier chosen sites identifies it. Returns [(earlier chosen sites, [(method, seed, record)])],
    the largest group first."""
    groups: dict[tuple[str, ...], list[tuple[str, int, Any]]] = {}
    for run in results["runs"]:
        if len(run["insertions"]) > k:
            earlier = tuple(rec["chosen"] for rec in run["insertions"][:k] if rec["chosen"] is not None)
            groups.setdefault(earlier, []).append((run["method"], run["seed"], run["insertions"][k]))
    return sorted(groups.items(), key=lambda item: -len(item[1]))


def _sequence(sites: tuple[str, ...], most: int = 3) -> str:
    """'a then b then c'; a long sequence as its first and last sites and how many are between."""
    if len(sites) <= most:
        return " then ".join(sites)
    return f"{sites[0]} then ({len(sites) - 2} more) then {sites[-1]}"


def _score_scale(ax: Any, values: list[float]) -> str:
    """Linear where the scores are of one magnitude; log where they span more than a factor of
    30; symmetric log (linear below the smallest positive score) where some scores are 0, which
    a log axis would drop. Returns the axis label's description of the scale."""
    positive = [v for v in values if v > 0]
    if not positive or max(positive) <= 30 * min(positive):
        return "linear scale"
    if len(positive) == len(values):
        ax.set_yscale("log")
        plain_log_ticks(ax.yaxis)
        return "log scale"
    ax.set_yscale("symlog", linthresh=min(positive))
    return f"log scale, linear below {min(positive):.2g} to show scores of 0"


def _draw_selection(ax: Any, results: dict[str, Any], k: int, colours: dict[str, str]) -> None:
    groups = _selection_groups(results, k)
    methods = [m for m in colours if any(m == method for _, runs in groups for method, _, _ in runs)]
    width = 0.8 / max(len(methods), 1)
    slot = 0
    ticks, tick_labels, scores_seen, epochs = [], [], [], set()
    ring_label: str | None = "chosen by that run"
    in_legend: set[str] = set()
    for g, (earlier, runs) in enumerate(groups):
        # the same network has the same sites; a document edited by hand may not: every label gets a column
        sites = list(dict.fromkeys(label for _, _, rec in runs for label in rec["sites"]))
        column = {label: i for i, label in enumerate(sites)}
        first_slot = slot
        for label in sites:
            ticks.append(slot + 0.4 - width / 2)
            tick_labels.append(label)
            slot += 1
        for j, method in enumerate(methods):
            mine = [(seed, rec) for m, seed, rec in runs if m == method]
            xs: list[float] = []
            ys: list[float] = []
            chosen_x, chosen_y = [], []
            chosen_counts: Counter[str] = Counter()
            for n, (_, rec) in enumerate(mine):
                epochs.add(rec["epoch"])
                jitter = (n / max(len(mine) - 1, 1) - 0.5) * width * 0.6
                run_xs = [first_slot + column[label] + j * width + jitter for label in rec["sites"]]
                # a faint line joins one run's scores, so the reader can follow a seed across sites
                ax.plot(run_xs, rec["scores"], lw=0.5, alpha=0.25, color=colours[method], zorder=2)
                xs += run_xs
                ys += rec["scores"]
                if rec["chosen_index"] is not None:
                    chosen_x.append(run_xs[rec["chosen_index"]])
                    chosen_y.append(rec["scores"][rec["chosen_index"]])
                    chosen_counts[rec["chosen"]] += 1
            scores_seen += ys
            if not xs:
                continue
            dots = ax.scatter(
                xs,
                ys,
                s=12,
                color=colours[method],
                alpha=0.8,
                lw=0,
                label=None if method in in_legend else method,
                zorder=3,
            )
            in_legend.add(method)
            dots.set_gid("seed-scores")
            if chosen_x:
                rings = ax.scatter(
                    chosen_x, chosen_y, s=55, facecolors="none", edgecolors="k", lw=1.0, zorder=4, label=ring_label
                )
                rings.set_gid("chosen-sites")
                ring_label = None
            for label, count in chosen_counts.items():
                ax.annotate(
                    f"{count}/{len(mine)}",
                    xy=(first_slot + column[label] + j * width, 1.0),
                    xycoords=ax.get_xaxis_transform(),
                    xytext=(0, 2),
                    textcoords="offset points",
                    ha="center",
                    va="bottom",
                    fontsize=7,
                    color=colours[method],
                )
        if len(groups) > 1 or earlier:
            where = f"network after inserting at {_sequence(earlier)}" if earlier else "start network (no insertion)"
            ax.annotate(
                f"{where}\n({len(runs)} runs; sites numbered in this network)",
                xy=((first_slot + slot) / 2 - 0.5 + 0.4, 0),
                xycoords=ax.get_xaxis_transform(),
                xytext=(0, -30),
                textcoords="offset points",
                ha="center",
                va="top",
                fontsize=7,
            )
        if g < len(groups) - 1:
            ax.axvline(slot - 0.5 + 0.4 - width / 2, color="0.6", lw=1)
    every = -(-len(ticks) // MAX_SITE_LABELS)  # hundreds of sites: label every n-th, or nothing is readable
    ax.set_xticks(ticks[::every], tick_labels[::every], fontsize=8)
    ax.set_xlim(-0.6, slot)
    scale = _score_scale(ax, scores_seen)
    norms = sorted({rec["norm"] for _, runs in groups for _, _, rec in runs})
    ax.set_ylabel(f"score: {', '.join(norm_name(n) for n in norms)}\nof the averaged multiplier ({scale})", fontsize=8)
    after = "/".join(str(e) for e in sorted(epochs))
    ax.set_title(
        f"selection {k + 1} (after epoch {after}): one dot per seed and candidate site; ring: the site "
        "that run chose;\nn/m above a column: chosen in n of that method's m runs",
        fontsize=9,
        pad=14,
    )
    ax.set_xlabel("candidate site (kind@position in the network)", fontsize=8)
    _legend(ax, fontsize=7, loc="upper left", bbox_to_anchor=(1.005, 1.0))


def shown_selections(selections: int, most: int = MAX_SELECTION_PANELS) -> list[int]:
    """The selections that get a panel: all of them up to ``most``, else the first and the last
    most/2 (a figure of hundreds of panels would exceed any image size and be read by nobody)."""
    if selections <= most:
        return list(range(selections))
    half = most // 2
    return list(range(half)) + list(range(selections - (most - half), selections))


def plot_sensitivities(results: dict[str, Any], path: pathlib.Path | None) -> Any:
    """The score of every candidate site for every seed at each selection, and the choices."""
    colours = _colours(results)
    selections = max((len(r["insertions"]) for r in results["runs"]), default=0)
    shown = shown_selections(selections)
    slots = max(
        (
            sum(
                len({label for _, _, rec in runs for label in rec["sites"]})
                for _, runs in _selection_groups(results, k)
            )
            for k in shown
        ),
        default=1,
    )
    methods = sum(1 for runs in _runs_by_method(results).values() if any(r["insertions"] for r in runs))
    width = min(max(7.0, 0.35 * slots * max(methods, 1) + 2.0), 24.0)
    fig, axes = _subplots(max(len(shown), 1), 1, figsize=(width, 3.9 * max(len(shown), 1)), squeeze=False)
    for row, k in enumerate(shown):
        _draw_selection(axes[row][0], results, k, colours)
    if len(shown) < selections:
        fig.suptitle(
            f"selections {', '.join(str(k + 1) for k in shown)} of {selections} (the first and the last)", fontsize=10
        )
    if not selections:
        axes[0][0].text(0.5, 0.5, "no growth method in this run", ha="center", va="center")
        axes[0][0].axis("off")
    return _finish(fig, path)


def shorten_layers(layers: list[str], new: list[int], most: int = MAX_DRAWN_LAYERS) -> tuple[list[str], list[int]]:
    """A network of more than ``most`` layers as its first and last layers with one box between
    them that says how many are left out; the inserted-layer indices follow the shortening."""
    if len(layers) <= most:
        return layers, new
    head, tail = (most - 1) // 2, (most - 1) - (most - 1) // 2
    skipped = len(layers) - head - tail
    kept = layers[:head] + [f"… {skipped} layers …"] + layers[len(layers) - tail :]
    moved = [i for i in new if i < head] + [i - skipped + 1 for i in new if i >= len(layers) - tail]
    return kept, moved


def _architecture_rows(results: dict[str, Any]) -> list[tuple[str, list[str], list[int]]]:
    """('start', its layers, []) and, per method, every distinct final network with the number of
    seeds that reached it, most frequent first."""
    rows = [(f"start\n(all {len(results['seeds'])} seeds)", *shorten_layers(results["start_architecture"], []))]
    for method, runs in _runs_by_method(results).items():
        # layers that growth added or widened are highlighted alike
        reached = Counter(
            (tuple(r["architecture"]), tuple(sorted(set(r["inserted_layers"]) | set(r.get("widened_layers", [])))))
            for r in runs
        )
        for (layers, new), count in reached.most_common()[:MAX_NETWORK_ROWS]:
            rows.append((f"{method}\n({count} of {len(runs)} seeds)", *shorten_layers(list(layers), list(new))))
    return rows


def plot_architectures(results: dict[str, Any], path: pathlib.Path | None, per_line: int = 7) -> Any:
    """Start and final networks as rows of boxes, wrapped after ``per_line`` layers."""
    from matplotlib.patches import FancyBboxPatch  # noqa: PLC0415 - plotting only

    rows = _architecture_rows(results)
    per_line = max(1, min(per_line, max(len(layers) for _, layers, _ in rows)))  # no layers known yet: 1
    box_w, box_h, step, line_h, gap = 1.25, 0.42, 1.4, 0.55, 0.3
    heights = [max(1, -(-len(layers) // per_line)) * line_h for _, layers, _ in rows]
    total = sum(heights) + gap * len(rows)
    fig, ax = _subplots(figsize=(2.0 + per_line * step, 0.9 + total))
    y = total
    for (name, layers, new), height in zip(rows, heights):
        ax.text(-0.25, y - height / 2, name, ha="right", va="center", fontsize=9)
        for i, label in enumerate(layers):
            line, column = divmod(i, per_line)
            x, yc = column * step, y - line * line_h - line_h / 2
            inserted = i in new
            box = FancyBboxPatch(
                (x, yc - box_h / 2),
                box_w,
                box_h,
                boxstyle="round,pad=0.02",
                facecolor="C1" if inserted else "0.92",
                edgecolor="0.3",
                lw=0.8,
            )
            if inserted:
                box.set_gid("inserted-layer")
            ax.add_patch(box)
            ax.text(x + box_w / 2, yc, label, ha="center", va="center", fontsize=8)
            if column == per_line - 1 and i < len(layers) - 1:
                ax.text(x + box_w + 0.05, yc, "↩", ha="left", va="center", fontsize=9, color="0.4")
        ax.axhline(y + gap / 2, color="0.85", lw=0.6)
        y -= height + gap
    ax.set_xlim(-2.0, per_line * step)
    ax.set_ylim(y + gap / 2, total + gap / 2)
    ax.axis("off")
    ax.set_title(
        f"{results['name']}: start and final networks per method (orange: inserted layers; "
        f"long networks continue on the next line)",
        fontsize=10,
    )
    return _finish(fig, path)


def figure_paths(folder: str | pathlib.Path, fmt: str = "png") -> list[pathlib.Path]:
    """The paths draw_all writes, for a format of FORMATS."""
    if fmt not in FORMATS:
        raise ValueError(f"figure format {fmt!r} is not supported; choose one of {list(FORMATS)}")
    return [pathlib.Path(folder) / name.replace(".png", f".{fmt}") for name in FIGURES]


def draw_all(results: dict[str, Any], folder: str | pathlib.Path, fmt: str = "png") -> list[pathlib.Path]:
    """Draw every figure of FIGURES into ``folder`` as ``fmt`` (png, svg or pdf); returns their paths."""
    paths = figure_paths(folder, fmt)
    plot_losses(results, paths[0], "iterations")
    plot_losses(results, paths[1], "time")
    plot_test_error(results, paths[2])
    plot_sensitivities(results, paths[3])
    plot_architectures(results, paths[4])
    return paths
