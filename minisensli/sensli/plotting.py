"""Figures of a growth run (matplotlib, imported only when a plot is asked for)."""

from __future__ import annotations

import math
from typing import Any


def new_figure(for_file: bool, **options: Any) -> Any:
    """A matplotlib Figure. For a file: a plain Figure, not registered with pyplot, so that
    drawing files never switches the backend (in a notebook that would silently stop every
    later figure from showing) and never leaves figures open. Otherwise a pyplot figure, which
    a notebook shows inline."""
    if for_file:
        from matplotlib.figure import Figure  # noqa: PLC0415 - plotting is optional for the library

        return Figure(**options)
    import matplotlib.pyplot as plt  # noqa: PLC0415

    return plt.figure(**options)


def plain_number(value: float) -> str:
    """A tick label in plain decimals (0.05, 0.6, 2, 300) instead of 5×10⁻², up to 1e-4..1e5."""
    if value == 0 or not 1e-4 <= abs(value) < 1e5:
        return f"{value:.0e}"
    return f"{value:.6f}".rstrip("0").rstrip(".")


def plain_log_ticks(axis: Any) -> None:
    """Plain decimal labels on a log-scaled axis: every decade, and on an axis spanning fewer
    than two decades also the 2s and 5s (so a short axis is not left with one or no label)."""
    from matplotlib.ticker import FuncFormatter  # noqa: PLC0415

    def minor(value: float, _: Any) -> str:
        low, high = sorted(axis.get_view_interval())
        few_decades = low > 0 and high / low < 100
        mantissa = round(value / 10 ** _decade(value), 6)
        return plain_number(value) if few_decades and mantissa in (2.0, 5.0) else ""

    axis.set_major_formatter(FuncFormatter(lambda value, _: plain_number(value)))
    axis.set_minor_formatter(FuncFormatter(minor))


def _decade(value: float) -> int:
    return math.floor(math.log10(value)) if value > 0 else 0


def plot_growth(result: Any, path: Any = None) -> Any:
    """Left: minibatch loss per iteration (log scale) with a dotted line at each insertion.
    Right: the score of every candidate site at each selection, the chosen one filled. Each
    selection has its own group of bars labelled with its own sites: after an insertion the
    network has more sites, and a label such as dense@4 names the position in that network.
    Saved to ``path`` when given (and then not shown in a notebook); returns the Figure."""
    fig = new_figure(path is not None, figsize=(11, 4.2))
    ax_loss, ax_scores = fig.subplots(1, 2)
    losses = result.history.minibatch_losses
    ax_loss.plot(range(len(losses)), losses, lw=1)
    for record in result.insertions:
        if record.chosen is not None:
            ax_loss.axvline(record.iteration, ls=":", color="k")
    ax_loss.set_yscale("log")
    plain_log_ticks(ax_loss.yaxis)
    ax_loss.set_xlabel("iteration (minibatch step)")
    ax_loss.set_ylabel("training loss (log scale)")
    ax_loss.set_title("loss vs iterations; dotted: insertion")

    ticks, labels, start, all_scores = [], [], 0, []
    for j, record in enumerate(result.insertions):
        xs = [start + i for i in range(len(record.scores))]
        colours = [f"C{j % 10}" if site == record.chosen else "none" for site in record.sites]
        ax_scores.bar(
            xs,
            record.scores,
            width=0.7,
            color=colours,
            edgecolor=f"C{j % 10}",
            label=f"selection {j + 1} (epoch {record.epoch})",
        )
        ticks += xs
        labels += [site.label for site in record.sites]
        all_scores += list(record.scores)
        start += len(record.scores) + 1  # a gap between selections
    if result.insertions:
        ax_scores.set_xticks(ticks, labels, rotation=30, fontsize=8)
        ax_scores.legend(fontsize=8)
        if all(s > 0 for s in all_scores):
            ax_scores.set_yscale("log")
            plain_log_ticks(ax_scores.yaxis)
    scale = ax_scores.get_yscale()
    norm = result.insertions[0].norm if result.insertions else ""
    ax_scores.set_ylabel(f"score ({norm}; {scale} scale)")
    ax_scores.set_title("sensitivity per site at each selection (filled: chosen)")
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=150)
    return fig
