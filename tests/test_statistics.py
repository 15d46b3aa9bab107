"""Spread per method and paired comparisons per seed (Wilcoxon signed-rank from scipy)."""

import math

import pytest
from scipy.stats import wilcoxon

from minisensli.experiments.statistics import comparisons, format_p, paired, spread


def test_spread_uses_the_sample_sd_and_inclusive_quartiles():
    s = spread([1.0, 2.0, 3.0, 4.0, None, float("nan")])
    assert s["n"] == 4 and s["mean"] == 2.5 and s["median"] == 2.5
    assert s["sd"] == pytest.approx(math.sqrt(5 / 3))  # n - 1 in the denominator
    assert (s["q1"], s["q3"], s["min"], s["max"]) == (1.75, 3.25, 1.0, 4.0)
    assert spread([]) == {
        "n": 0,
        "mean": None,
        "sd": None,
        "median": None,
        "q1": None,
        "q3": None,
        "min": None,
        "max": None,
    }
    assert spread([2.0])["sd"] is None and spread([2.0])["q1"] == 2.0


def test_paired_counts_per_seed_and_matches_scipy():
    a = {0: 0.1, 1: 0.2, 2: 0.3, 3: 0.5, 4: 0.4, 5: 0.9}
    b = {0: 0.2, 1: 0.3, 2: 0.3, 3: 0.4, 4: 0.6, 6: 0.0}  # seed 5 and 6 unpaired
    result = paired(a, b)
    assert (result["n"], result["wins"], result["losses"], result["ties"]) == (5, 3, 1, 1)
    diffs = [a[s] - b[s] for s in range(5)]
    assert result["median_difference"] == pytest.approx(sorted(diffs)[2])
    expected = wilcoxon([d for d in diffs if abs(d) > 1e-12]).pvalue
    assert result["p_value"] == pytest.approx(expected)


def test_paired_is_not_fooled_by_means():
    """A is better on 9 of 10 seeds by a little and worse on one by a lot: its mean is worse,
    but paired it wins 9/1; an unpaired comparison of means would call B better."""
    a = {s: 0.30 - 0.01 for s in range(9)} | {9: 2.0}
    b = {s: 0.30 for s in range(10)}
    result = paired(a, b)
    assert sum(a.values()) / 10 > sum(b.values()) / 10
    assert (result["wins"], result["losses"]) == (9, 1) and result["median_difference"] < 0


def test_too_few_differences_give_no_p_value():
    assert paired({0: 1.0}, {0: 2.0})["p_value"] is None
    assert paired({0: 1.0, 1: 1.0}, {0: 1.0, 1: 1.0}) == {
        "n": 2,
        "wins": 0,
        "losses": 0,
        "ties": 2,
        "median_difference": 0.0,
        "p_value": None,
    }


def test_comparisons_cover_every_pair_and_metric():
    runs = [
        {"method": m, "seed": s, "final_train_loss": v + s, "final_test_error": v / 10}
        for s in range(4)
        for m, v in (("abs max", 0.1), ("small", 0.3), ("big", 0.2))
    ]
    out = comparisons(runs, ["abs max", "small", "big"])
    assert [(c["a"], c["b"], c["metric"]) for c in out][:2] == [
        ("abs max", "small", "final_train_loss"),
        ("abs max", "small", "final_test_error"),
    ]
    assert len(out) == 6 and all(c["wins"] == 4 for c in out if c["a"] == "abs max")


def test_format_p():
    assert format_p(None) == "-" and format_p(0.0412) == "0.041" and format_p(3e-8) == "3e-08"
    assert format_p(1.0) == "1.00" and format_p(0.5) == "0.50" and format_p(0.16015625) == "0.16"
    assert format_p(0.0037) == "0.0037" and format_p(0.1) == "0.10"
