"""Exercises of chapter 9 (the paper's experiments): paired comparisons over seeds.

ch09.sign_test_p             the exact two-sided sign-test p-value of method a against method b
ch09.signed_rank_statistic   the Wilcoxon signed-rank statistic W+ of paired differences

Final losses are drawn from a coarse grid so that ties (two methods ending equal on a seed,
or differences of equal size) occur often: that is where the natural mistakes show. Fixed
and drawn cases also put pairs a hair apart (1e-12 to 1e-9): unequal, so not ties, although
np.isclose says they are. W+ of differences that are all zero is 0.0 (a fixed case).
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from ._asserts import assert_close, assert_scalar
from ._core import exercise

_GRID = st.integers(0, 12).map(lambda k: k / 8)  # final losses on a grid of 1/8: ties are common
_STEPS = st.integers(-6, 6).map(lambda k: k / 4)  # paired differences: zeros and equal sizes are common


def _paired_losses(case):
    n = case.draw(st.integers(1, 10), "number of seeds")
    a = case.draw(hnp.arrays(np.float64, n, elements=_GRID), "a")
    b = case.draw(hnp.arrays(np.float64, n, elements=_GRID), "b")
    return a, b


def _signed_rank_plus(d):
    """W+: zeros dropped, |d| ranked from 1 (smallest) with tied values sharing their mean rank."""
    d = d[d != 0]
    size = np.abs(d)
    below = (size[None, :] < size[:, None]).sum(axis=1)
    equal = (size[None, :] == size[:, None]).sum(axis=1)
    ranks = below + (equal + 1) / 2
    return float(ranks[d > 0].sum())


def _sign_test_p(a, b):
    """Two-sided exact sign test: ties dropped, n = wins + losses, p = min(1, 2 P(X <= min(wins, losses)))
    for X ~ Binomial(n, 1/2)."""
    wins, losses = int(np.sum(a < b)), int(np.sum(a > b))
    n, k = wins + losses, min(wins, losses)
    return min(1.0, 2.0 * sum(math.comb(n, i) for i in range(k + 1)) / 2.0**n)


def _near(values, rng):
    """Values a hair away from ``values`` (unequal, yet np.isclose and round(., 6) call them equal)."""
    return values + rng.choice([-1.0, 1.0], values.shape) * rng.uniform(1e-12, 1e-9, values.shape)


# six seeds, every pair unequal by less than 1e-8: six wins (p = 2/64), not six ties (p = 1)
_NEAR_TIES = (np.full(6, 0.375), np.full(6, 0.375) + np.array([3e-9, 1e-12, 2e-10, 5e-9, 1e-11, 7e-10]))


@exercise("ch09.sign_test_p", max_examples=40, points=3, forbid=("scipy.stats.binomtest",))
def sign_test_p(answer, case):
    # the fixed case first: when it fails, the report shows these arrays rather than a shrunk borderline one
    a0, b0 = case.show(_NEAR_TIES[0].copy(), "a"), _NEAR_TIES[1].copy()
    case.show(np.array2string(b0 - a0, precision=1), "b - a (b = a + these)")
    assert_scalar(answer(a0.copy(), b0.copy()), _sign_test_p(a0, b0), "two-sided sign-test p (a wins where a < b)")
    case.drawn.clear()
    a, b = _paired_losses(case)
    if case.draw(st.booleans(), "near-equal pairs"):  # some seeds end a hair apart: not ties
        rng = case.rng()
        b = case.show(np.where(rng.random(len(a)) < 0.5, _near(a, rng), b), "b")
    got = answer(a.copy(), b.copy())
    assert_scalar(got, _sign_test_p(a, b), "two-sided sign-test p (ties dropped, exact binomial)", rtol=1e-10)


@exercise(
    "ch09.signed_rank_statistic", max_examples=40, points=2, forbid=("scipy.stats.rankdata", "scipy.stats.wilcoxon")
)
def signed_rank_statistic(answer, case):
    # fixed first: sizes a hair apart are not tied, and a tiny non-zero difference is not a zero
    d0 = case.show(np.array([0.25, -(0.25 + 1e-12), 1e-13, 0.5, -0.5, 0.0]), "d")
    assert_close(answer(d0.copy()), _signed_rank_plus(d0), "W+ (a size 1e-12 larger is larger; 1e-13 is not 0)")
    # every difference zero: nothing is ranked, W+ = 0.0
    zeros = case.show(np.zeros(4), "d")
    assert_scalar(answer(zeros.copy()), 0.0, "W+ when every difference is zero (nothing left to rank)")
    case.drawn.clear()
    n = case.draw(st.integers(1, 10), "number of seeds")
    d = case.draw(hnp.arrays(np.float64, n, elements=_STEPS), "d")
    got = answer(d.copy())
    assert_close(got, _signed_rank_plus(d), "W+ (sum of the ranks of |d| over the positive d, zeros dropped)")
