"""Answers for the exercises of chapter 9: the correct one and planted wrong ones a student
would plausibly write (ties kept in n, one-sided p, ties "up to round-off", ordinal ranks for
ties, zeros kept in the ranking, NaN when every difference is zero)."""

import math

import numpy as np


def _binomial_tail(n, k):
    return sum(math.comb(n, i) for i in range(k + 1)) / 2.0**n


def sign_test_p(a, b):
    wins, losses = int(np.sum(a < b)), int(np.sum(a > b))  # ties (a == b) carry no sign: dropped
    return min(1.0, 2 * _binomial_tail(wins + losses, min(wins, losses)))


def sign_test_p_ties_kept(a, b):
    wins, losses = int(np.sum(a < b)), int(np.sum(a > b))
    return min(1.0, 2 * _binomial_tail(len(a), min(wins, losses)))  # n = all seeds, ties included


def sign_test_p_one_sided(a, b):
    wins, losses = int(np.sum(a < b)), int(np.sum(a > b))
    return _binomial_tail(wins + losses, min(wins, losses))  # the factor 2 of the two-sided test forgotten


def sign_test_p_isclose_ties(a, b):
    tie = np.isclose(a, b)
    wins, losses = int(np.sum((a < b) & ~tie)), int(np.sum((a > b) & ~tie))  # "equal up to round-off"
    return min(1.0, 2 * _binomial_tail(wins + losses, min(wins, losses)))


def sign_test_p_strict_tail(a, b):
    wins, losses = int(np.sum(a < b)), int(np.sum(a > b))
    n, k = wins + losses, min(wins, losses)
    return min(1.0, 2 * sum(math.comb(n, i) for i in range(k)) / 2.0**n)  # P(X < k) instead of P(X <= k)


def sign_test_p_normal(a, b):
    wins, losses = int(np.sum(a < b)), int(np.sum(a > b))
    n = wins + losses
    if n == 0:
        return 1.0
    z = abs(wins - losses) / math.sqrt(n)  # the normal approximation: far off for a few seeds
    return math.erfc(z / math.sqrt(2))


def _average_ranks(values):
    below = (values[None, :] < values[:, None]).sum(axis=1)
    equal = (values[None, :] == values[:, None]).sum(axis=1)
    return below + (equal + 1) / 2


def signed_rank_statistic(d):
    d = d[d != 0]
    ranks = _average_ranks(np.abs(d))
    return ranks[d > 0].sum()


def signed_rank_keeps_zeros(d):
    ranks = _average_ranks(np.abs(d))
    return ranks[d > 0].sum()


def signed_rank_ordinal_ties(d):
    d = d[d != 0]
    ranks = np.argsort(np.argsort(np.abs(d), kind="stable"), kind="stable") + 1.0
    return ranks[d > 0].sum()


def signed_rank_of_d_not_abs(d):
    d = d[d != 0]
    ranks = _average_ranks(d)
    return ranks[d > 0].sum()


def signed_rank_isclose(d):
    d = d[~np.isclose(d, 0)]  # "zero up to round-off": drops 1e-13, a real (tiny) difference
    size = np.round(np.abs(d), 9)  # sizes equal to 9 digits treated as ties
    return _average_ranks(size)[d > 0].sum()


def signed_rank_minus(d):
    d = d[d != 0]
    ranks = _average_ranks(np.abs(d))
    return ranks[d < 0].sum()


def signed_rank_nan_when_all_zero(d):
    d = d[d != 0]
    if d.size == 0:
        return float("nan")  # "undefined" when nothing is left to rank; the statement asks for 0.0
    return _average_ranks(np.abs(d))[d > 0].sum()


ANSWERS = {
    "ch09.sign_test_p": {
        "correct": sign_test_p,
        "wrong": {
            "ties counted in n": sign_test_p_ties_kept,
            "one-sided (no factor 2)": sign_test_p_one_sided,
            "ties by np.isclose": sign_test_p_isclose_ties,
            "P(X < k) instead of P(X <= k)": sign_test_p_strict_tail,
            "normal approximation": sign_test_p_normal,
        },
    },
    "ch09.signed_rank_statistic": {
        "correct": signed_rank_statistic,
        "wrong": {
            "zero differences kept in the ranking": signed_rank_keeps_zeros,
            "ties get ordinal ranks instead of their mean rank": signed_rank_ordinal_ties,
            "ranks of d instead of |d|": signed_rank_of_d_not_abs,
            "zeros and ties up to round-off (isclose, rounding)": signed_rank_isclose,
            "W- (the negative differences) instead of W+": signed_rank_minus,
            "NaN when every difference is zero": signed_rank_nan_when_all_zero,
        },
    },
}
