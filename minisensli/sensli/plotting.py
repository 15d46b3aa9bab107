"""Figures of a growth run (matplotlib, imported only when a plot is asked for)."""

from __future__ import annotations

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


def plot_growth(result: Any, path: Any = None) -> Any:
    """Left: minibatch loss per iteration (log scale) with a dotted line at each insertion.
    Right: the score of every candidate site at each selection, the chosen one filled.
    Saved to ``path`` when given (and then not shown in a notebook); returns the Figure."""
    fig = new_figure(path is not None, figsize=(11, 4))
    ax_loss, ax_scores = fig.subplots(1, 2)
    losses = result.history.minibatch_losses
    ax_loss.plot(range(len(losses)), losses, lw=1)
    for record in result.insertions:
        if record.chosen is not None:
            ax_loss.axvline(record.iteration, ls=":", color="k")
    ax_loss.set_yscale("log")
    ax_loss.set_xlabel("iteration (minibatch step)")
    ax_loss.set_ylabel("training loss")
    ax_loss.set_title("loss; dotted: insertion")

    n = len(result.insertions)
    width = 0.8 / max(n, 1)
    for j, record in enumerate(result.insertions):
        xs = [i + j * width for i in range(len(record.scores))]
        colors = ["C1" if site == record.chosen else "none" for site in record.sites]
        ax_scores.bar(xs, record.scores, width=width, color=colors, edgecolor=f"C{j % 10}",
                      label=f"selection {j + 1} (epoch {record.epoch})")
    if result.insertions:
        labels = [s.label for s in result.insertions[0].sites]
        ax_scores.set_xticks([i + 0.4 - width / 2 for i in range(len(labels))], labels, rotation=30)
        ax_scores.legend(fontsize=8)
        ax_scores.set_yscale("log")
    ax_scores.set_ylabel(f"score ({result.insertions[0].norm if result.insertions else ''})")
    ax_scores.set_title("sensitivity per site (filled: chosen)")
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=120)
    return fig
