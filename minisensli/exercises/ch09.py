"""Exercises of chapter 9 (the paper's experiments): paired comparisons over seeds.

ch09.paired_record             wins, losses and ties of method a against method b, seed by seed
ch09.median_paired_difference  the median of the per-seed differences a - b
ch09.signed_rank_statistic     the Wilcoxon signed-rank statistic W+ of paired differences

Final losses are drawn from a coarse grid so that ties (two methods ending equal on a seed,
or differences of equal size) occur often: that is where the natural mistakes show.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from ._asserts import as_array, assert_close
from ._core import exercise

_GRID = st.integers(0, 12).map(lambda k: k / 8)  # final losses on a grid of 1/8: ties are common
_STEPS = st.integers(-6, 6).map(lambda k: k / 4)  # paired differences: zeros and equal sizes are common


def _paired_losses(case):
    n = case.draw(st.integers(1, 10), "number of seeds")
    a = case.draw(hnp.arrays(np.float64, n, elements=_GRID), "a")
    b = case.draw(hnp.arrays(np.float64, n, elements=_GRID), "b")
    return a, b


def _wins_losses_ties(a, b):
    return np.array([np.sum(a < b), np.sum(a > b), np.sum(a == b)], dtype=np.float64)


def _signed_rank_plus(d):
    """W+: zeros dropped, |d| ranked from 1 (smallest) with tied values sharing their mean rank."""
    d = d[d != 0]
    size = np.abs(d)
    below = (size[None, :] < size[:, None]).sum(axis=1)
    equal = (size[None, :] == size[:, None]).sum(axis=1)
    ranks = below + (equal + 1) / 2
    return float(ranks[d > 0].sum())


@exercise("ch09.paired_record", max_examples=40, points=1, forbid=("minisensli.experiments.statistics.paired",))
def paired_record(answer, case):
    a, b = _paired_losses(case)
    got = as_array(answer(a.copy(), b.copy()), "paired_record(a, b)")
    assert_close(
        got, _wins_losses_ties(a, b), "[wins, losses, ties] (a wins a seed where its loss is lower)", rtol=0, atol=0
    )


@exercise(
    "ch09.median_paired_difference", max_examples=40, points=1, forbid=("minisensli.experiments.statistics.paired",)
)
def median_paired_difference(answer, case):
    a, b = _paired_losses(case)
    got = answer(a.copy(), b.copy())
    assert_close(got, np.median(a - b), "median of the per-seed differences a - b")


@exercise(
    "ch09.signed_rank_statistic",
    max_examples=40,
    points=2,
    forbid=("scipy.stats.rankdata", "scipy.stats.wilcoxon", "minisensli.experiments.statistics.paired"),
)
def signed_rank_statistic(answer, case):
    n = case.draw(st.integers(1, 10), "number of seeds")
    d = case.draw(hnp.arrays(np.float64, n, elements=_STEPS), "d")
    got = answer(d.copy())
    assert_close(got, _signed_rank_plus(d), "W+ (sum of the ranks of |d| over the positive d, zeros dropped)")
