"""The summary of a comparison: spread per method, paired comparisons, and their printed tables.

``summarize(runs, methods)`` gives the two entries of results.json that are computed from the
runs alone (so an old results file can be brought up to date from its runs):

    summary      per method: the spread (statistics.spread: n, mean, sd with n - 1, median,
                 q1, q3, min, max) of final_train_loss, final_test_error, wall_time and
                 parameters over its seeds, and the number of runs
    comparisons  every pair of methods on both metrics, paired per seed (statistics.comparisons)

``summary_table`` and ``comparison_table`` print them as aligned text tables.
"""

from __future__ import annotations

from typing import Any

from .statistics import METRICS, comparisons, format_p, spread

SPREAD_KEYS = ("final_train_loss", "final_test_error", "wall_time", "parameters")
METRIC_NAMES = {"final_train_loss": "final train loss", "final_test_error": "test error"}
SD_NOTE = (
    "mean ± sd: sd over seeds with n - 1 in the denominator; median [q1, q3]: the median and the "
    "25th and 75th percentiles over seeds"
)
PAIRED_NOTE = (
    "paired per seed (A - B; one seed: same data order, same start weights except 'big'): W/L/T = A "
    "lower/higher/equal;\nmedian diff < 0: A tends to be lower (better); p: Wilcoxon signed-rank, "
    "two-sided (- with fewer than 2 differing seeds)"
)


def summarize(runs: list[dict[str, Any]], methods: list[str]) -> dict[str, Any]:
    """``{"summary": {method: spreads}, "comparisons": [pairs]}`` of the given runs."""
    summary: dict[str, dict[str, Any]] = {}
    for method in methods:
        mine = [r for r in runs if r["method"] == method]
        summary[method] = {key: spread([r.get(key) for r in mine]) for key in SPREAD_KEYS}
        summary[method]["runs"] = len(mine)
    return {"summary": summary, "comparisons": comparisons(runs, methods)}


def aligned(rows: list[list[str]], right: set[int] | None = None) -> list[str]:
    """Rows of cells as text lines whose columns line up whatever the cells' widths; the first
    row is the header, followed by a rule. Columns in ``right`` are right-aligned."""
    right = set(range(1, len(rows[0]))) if right is None else right
    widths = [max(len(row[c]) for row in rows) for c in range(len(rows[0]))]

    def line(row: list[str]) -> str:
        return "  ".join(
            cell.rjust(w) if c in right else cell.ljust(w) for c, (cell, w) in enumerate(zip(row, widths))
        ).rstrip()

    header = line(rows[0])
    return [header, "-" * len(header)] + [line(row) for row in rows[1:]]


def _mean_sd(s: dict[str, Any], scale: float, digits: int) -> str:
    if s["mean"] is None:
        return "-"
    sd = "-" if s["sd"] is None else f"{s['sd'] * scale:.{digits}f}"
    return f"{s['mean'] * scale:.{digits}f} ± {sd}"


def _median_iqr(s: dict[str, Any], scale: float, digits: int) -> str:
    if s["median"] is None or s["q1"] is None or s["q3"] is None:
        return "-"
    return f"{s['median'] * scale:.{digits}f} [{s['q1'] * scale:.{digits}f}, {s['q3'] * scale:.{digits}f}]"


def summary_table(results: dict[str, Any]) -> str:
    """Per method: final training loss and test error (mean ± sd and median [IQR] over seeds),
    mean wall time, parameters; a note says which sd."""
    rows = [
        [
            "method",
            "seeds",
            "final train loss",
            "median [IQR]",
            "test error (%)",
            "median [IQR]",
            "wall time (s)",
            "params",
        ]
    ]
    for method, s in results["summary"].items():
        loss, error = s["final_train_loss"], s["final_test_error"]
        params = s["parameters"]["median"]
        rows.append(
            [
                method,
                str(s["runs"]),
                _mean_sd(loss, 1, 4),
                _median_iqr(loss, 1, 4),
                _mean_sd(error, 100, 2),
                _median_iqr(error, 100, 2),
                _mean_sd(s["wall_time"], 1, 1),
                "-" if params is None else f"{params:.0f}",
            ]
        )
    return "\n".join(aligned(rows) + [SD_NOTE])


def comparison_table(results: dict[str, Any]) -> str:
    """One row per pair of methods: wins/losses/ties, median paired difference and p for the
    final training loss and for the test error (in percentage points)."""
    by_pair: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
    for c in results.get("comparisons", []):
        by_pair.setdefault((c["a"], c["b"]), {})[c["metric"]] = c
    header = ["A vs B"]
    for metric in METRICS:
        name = METRIC_NAMES[metric]
        header += [f"{name} W/L/T", "median diff" + (" (pp)" if metric == "final_test_error" else ""), "p"]
    rows = [header]
    for (a, b), metrics in by_pair.items():
        row = [f"{a} vs {b}"]
        for metric in METRICS:
            c = metrics.get(metric)
            if c is None or c["n"] == 0 or c["median_difference"] is None:
                row += ["-", "-", "-"]
                continue
            difference = (
                f"{c['median_difference'] * 100:+.2f}"
                if metric == "final_test_error"
                else f"{c['median_difference']:+.3g}"
            )
            row += [f"{c['wins']}/{c['losses']}/{c['ties']}", difference, format_p(c["p_value"])]
        rows.append(row)
    if len(rows) == 1:
        return "(one method only: nothing to compare)"
    return "\n".join(aligned(rows) + [PAIRED_NOTE])
