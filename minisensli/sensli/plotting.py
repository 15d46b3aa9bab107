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


# what each score norm is, in words, for axis labels and legends
NORM_NAMES = {
    "fro": "squared Frobenius norm",
    "fro_scaled": "squared Frobenius norm / entries",
    "spectral": "squared spectral norm",
}


def norm_name(norm: str) -> str:
    """'squared Frobenius norm' for 'fro', and so on; an unknown name is returned as it is."""
    return NORM_NAMES.get(norm, norm)


def plain_log_ticks(axis: Any) -> None:
    """Plain decimal labels on a log-scaled axis: every decade; on an axis spanning fewer than
    two decades also the 2s and 5s, and on one spanning less than a decade every minor tick
    (so a short axis is never left with one or no label)."""
    from matplotlib.ticker import FuncFormatter  # noqa: PLC0415

    def minor(value: float, _: Any) -> str:
        low, high = sorted(axis.get_view_interval())
        if low <= 0:
            return ""
        mantissa = round(value / 10 ** _decade(value), 6)
        if high / low < 10 or (high / low < 100 and mantissa in (2.0, 5.0)):
            return plain_number(value)
        return ""

    axis.set_major_formatter(FuncFormatter(lambda value, _: plain_number(value)))
    axis.set_minor_formatter(FuncFormatter(minor))


def _decade(value: float) -> int:
    return math.floor(math.log10(value)) if value > 0 else 0


def plot_growth(result: Any, path: Any = None) -> Any:
    """Left: minibatch loss per iteration (log scale) with a dotted line at each insertion.
    Right: the score of every candidate site at each selection, as dots on a linear axis from 0
    (so that a 1.7x difference looks like one), the chosen site filled and ringed. Each
    selection has its own group labelled with its own sites: after an insertion the network has
    more sites, and a label such as dense@4 names the position in that network.
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

    _draw_scores(ax_scores, result.insertions)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=150)
    return fig


def _draw_scores(ax: Any, insertions: list) -> None:
    """One group of dots per selection on a linear axis from 0; the chosen site filled and ringed."""
    ticks, labels, start = [], [], 0
    for j, record in enumerate(insertions):
        colour = f"C{j % 10}"
        xs = [start + i for i in range(len(record.scores))]
        ax.vlines(xs, 0, record.scores, color=colour, lw=1, alpha=0.5)
        ax.plot(
            xs, record.scores, "o", mfc="white", mec=colour, ms=8, label=f"selection {j + 1} (epoch {record.epoch})"
        )
        for x, site, value in zip(xs, record.sites, record.scores):
            if site == record.chosen:
                ax.plot(x, value, "o", color=colour, ms=8)
                ax.plot(x, value, "o", mfc="none", mec="k", ms=15, mew=1.5)
                ax.annotate("chosen", (x, value), textcoords="offset points", xytext=(0, 11), ha="center", fontsize=8)
        ticks += xs
        labels += [site.label for site in record.sites]
        start += len(record.scores) + 1  # a gap between selections
    if insertions:
        ax.set_xticks(ticks, labels, rotation=30, fontsize=8)
        ax.set_xlim(-0.7, start - 1.3)  # start - 2 is the last dot
        ax.legend(fontsize=8, loc="best")
        top = max((max(r.scores) for r in insertions if len(r.scores)), default=0.0)
        ax.set_ylim(0, 1.25 * top if top > 0 else 1.0)
    ax.grid(axis="y", alpha=0.3)
    ax.ticklabel_format(axis="y", style="sci", scilimits=(-3, 4))
    norm = insertions[0].norm if insertions else "fro"
    ax.set_ylabel(f"score: {norm_name(norm)}\nof the averaged multiplier")
    ax.set_title("sensitivity per site at each selection (ringed: chosen)", pad=14)  # clear of the 1e-3
