"""Statistics over seeds: spread per method and paired comparisons between methods.

All methods of one seed start from the same weights (the 'big' baseline from its own), so the
honest comparison is per seed: for methods A and B and a metric (lower is better), the paired
differences d_s = A_s - B_s over the seeds s both finished. Reported per pair:

    wins / losses / ties   A lower / higher / equal (|d_s| <= tie_tolerance)
    median_difference      median of d_s (negative: A tends to be better)
    p_value                Wilcoxon signed-rank test of d_s (two-sided; scipy.stats.wilcoxon,
                           zero differences dropped); None with fewer than 2 non-zero differences

Spread per method: mean with the *sample* standard deviation (n - 1 in the denominator), and
median with the interquartile range (25th and 75th percentiles, linear interpolation), min, max.
"""

from __future__ import annotations

import math
import statistics
from itertools import combinations
from typing import Any

METRICS = ("final_train_loss", "final_test_error")
TIE_TOLERANCE = 1e-12


def spread(values: list[float | None]) -> dict[str, Any]:
    """mean, sd (sample, n - 1), median, q1, q3, min, max and n of the finite values given."""
    finite = sorted(v for v in values if v is not None and math.isfinite(v))
    n = len(finite)
    if n == 0:
        return {"n": 0, "mean": None, "sd": None, "median": None, "q1": None, "q3": None, "min": None, "max": None}
    q1, _, q3 = statistics.quantiles(finite, n=4, method="inclusive") if n > 1 else (finite[0],) * 3
    return {
        "n": n,
        "mean": statistics.fmean(finite),
        "sd": statistics.stdev(finite) if n > 1 else None,
        "median": statistics.median(finite),
        "q1": q1,
        "q3": q3,
        "min": finite[0],
        "max": finite[-1],
    }


def _by_seed(runs: list[dict[str, Any]], method: str, metric: str) -> dict[int, float]:
    return {
        r["seed"]: r[metric]
        for r in runs
        if r["method"] == method and r.get(metric) is not None and math.isfinite(r[metric])
    }


def paired(a: dict[int, float], b: dict[int, float], tie_tolerance: float = TIE_TOLERANCE) -> dict[str, Any]:
    """Paired comparison of two {seed: value} maps over their common seeds (see module doc)."""
    seeds = sorted(a.keys() & b.keys())
    diffs = [a[s] - b[s] for s in seeds]
    wins = sum(d < -tie_tolerance for d in diffs)
    losses = sum(d > tie_tolerance for d in diffs)
    nonzero = [d for d in diffs if abs(d) > tie_tolerance]
    p_value = None
    if len(nonzero) >= 2:
        from scipy.stats import wilcoxon  # noqa: PLC0415 - scipy is needed only when comparing

        p_value = float(wilcoxon(nonzero, alternative="two-sided").pvalue)
    return {
        "n": len(seeds),
        "wins": wins,
        "losses": losses,
        "ties": len(diffs) - wins - losses,
        "median_difference": statistics.median(diffs) if diffs else None,
        "p_value": p_value,
    }


def comparisons(runs: list[dict[str, Any]], methods: list[str]) -> list[dict[str, Any]]:
    """Every pair of methods (in the given order, A before B) on every metric."""
    out = []
    for first, second in combinations(methods, 2):
        for metric in METRICS:
            result = paired(_by_seed(runs, first, metric), _by_seed(runs, second, metric))
            out.append({"a": first, "b": second, "metric": metric, **result})
    return out


def format_p(p: float | None) -> str:
    """Two significant digits, always with a decimal point (0.50 and 1.00, not 0.5 and 1);
    below 0.001 in exponent form; '-' where no p was computed."""
    if p is None:
        return "-"
    if p >= 0.1:
        return f"{p:.2f}"
    return f"{p:.2g}" if p >= 1e-3 else f"{p:.0e}"
