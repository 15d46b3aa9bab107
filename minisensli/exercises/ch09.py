"""Exercises of chapter 9 (the paper's experiments): paired comparisons over seeds.

ch09.sign_test_p             the exact two-sided sign-test p-value of method a against method b
ch09.signed_rank_normal_p    the two-sided normal-approximation p of the Wilcoxon signed-rank test
                             (the null mean and variance of W+ are the reader's derivation)

Final losses are drawn from a coarse grid so that ties (two methods ending equal on a seed,
or differences of equal size) occur often: that is where the natural mistakes show. Fixed
and drawn cases also put pairs a hair apart (1e-12 to 1e-9): unequal, so not ties, although
np.isclose says they are. When every difference is zero the signed-rank p is 1.0 (a fixed case).
The signed-rank oracle ranks by comparisons, not with SciPy; tests/test_exercises.py checks it
against scipy.stats.wilcoxon(d, method="approx", correction=False).
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from ._asserts import assert_scalar
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


def _signed_rank_normal_p(d):
    """Two-sided normal-approximation p of the signed-rank test, no continuity correction: under the
    null each sign is a fair coin, W+ = sum r_i B_i with B_i ~ Bernoulli(1/2), so E W+ = sum r / 2 and
    Var W+ = sum r^2 / 4 (mean ranks for tied sizes: the tie-corrected variance). 1.0 when all d are 0."""
    d = d[d != 0]
    if d.size == 0:
        return 1.0
    size = np.abs(d)
    below = (size[None, :] < size[:, None]).sum(axis=1)
    equal = (size[None, :] == size[:, None]).sum(axis=1)
    ranks = below + (equal + 1) / 2
    z = (ranks[d > 0].sum() - ranks.sum() / 2) / math.sqrt((ranks**2).sum() / 4)
    return math.erfc(abs(z) / math.sqrt(2))


_FIXED_D = (
    # tied sizes (0.25 three times, 0.5 twice) and zeros: the tie-corrected variance, zeros dropped
    (np.array([0.25, -0.25, 0.0, 0.5, 0.25, 0.0, -0.5, 0.75, 1.0]), "tied sizes and zeros"),
    # sizes a hair apart are not tied, and 1e-13 is not a zero
    (np.array([0.25, -(0.25 + 1e-12), 1e-13, 0.5, 0.5 + 3e-12, -0.75, 1.0]), "sizes 1e-12 apart (not ties)"),
    (np.array([0.0, 0.0, -0.375, 0.0]), "a single nonzero difference"),
    (np.array([0.5, 0.25, 0.75, 1.0, 1.25]), "every seed won by the same method"),
    (np.zeros(4), "every difference zero (nothing to rank: p = 1.0)"),
)


@exercise(
    "ch09.signed_rank_normal_p",
    max_examples=40,
    points=3,
    forbid=("scipy.stats.wilcoxon", "scipy.stats.norm.sf", "scipy.stats.norm.cdf"),
)
def signed_rank_normal_p(answer, case):
    # fixed cases first: when one fails, the report shows it rather than a shrunk borderline one
    for d0, what in _FIXED_D:
        case.show(d0.copy(), "d")
        assert_scalar(answer(d0.copy()), _signed_rank_normal_p(d0), f"two-sided normal p ({what})", rtol=1e-9)
    case.drawn.clear()
    n = case.draw(st.integers(1, 12), "number of seeds")
    d = case.draw(hnp.arrays(np.float64, n, elements=_STEPS), "d")
    if case.draw(st.booleans(), "near-equal sizes"):  # some sizes a hair apart: not ties
        rng = case.rng()
        d = case.show(np.where(rng.random(n) < 0.5, _near(d, rng), d), "d")
    got = answer(d.copy())
    assert_scalar(got, _signed_rank_normal_p(d), "two-sided normal-approximation p (zeros dropped)", rtol=1e-9)
