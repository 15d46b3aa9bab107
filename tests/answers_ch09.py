"""Answers for the exercises of chapter 9: the correct one and planted wrong ones a student
would plausibly write (ties kept in n, one-sided p, ties "up to round-off", the textbook variance
that ignores ties, the wrong Bernoulli variance, zeros kept in the ranking, the wrong null mean)."""

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


def _normal_p(w_plus, mean, variance):
    if variance == 0:
        return 1.0
    return math.erfc(abs(w_plus - mean) / math.sqrt(variance) / math.sqrt(2))


def signed_rank_normal_p(d):
    # under the null each sign is a fair coin: W+ = sum r_i B_i, B_i ~ Bernoulli(1/2)
    d = d[d != 0]
    ranks = _average_ranks(np.abs(d))
    return _normal_p(ranks[d > 0].sum(), ranks.sum() / 2, (ranks**2).sum() / 4)


def signed_rank_normal_p_untied_variance(d):
    d = d[d != 0]
    n = len(d)
    ranks = _average_ranks(np.abs(d))
    return _normal_p(ranks[d > 0].sum(), n * (n + 1) / 4, n * (n + 1) * (2 * n + 1) / 24)  # the textbook, no ties


def signed_rank_normal_p_bernoulli_variance_doubled(d):
    d = d[d != 0]
    ranks = _average_ranks(np.abs(d))
    return _normal_p(ranks[d > 0].sum(), ranks.sum() / 2, (ranks**2).sum() / 2)  # Var B = 1/2 instead of 1/4


def signed_rank_normal_p_variance_of_ranks(d):
    d = d[d != 0]
    ranks = _average_ranks(np.abs(d))
    return _normal_p(ranks[d > 0].sum(), ranks.sum() / 2, ranks.sum() / 4)  # r_i instead of r_i^2


def signed_rank_normal_p_one_sided(d):
    d = d[d != 0]
    ranks = _average_ranks(np.abs(d))
    return _normal_p(ranks[d > 0].sum(), ranks.sum() / 2, (ranks**2).sum() / 4) / 2  # one tail only


def signed_rank_normal_p_keeps_zeros(d):
    ranks = _average_ranks(np.abs(d))  # zeros ranked (smallest), counted in the mean and variance
    return _normal_p(ranks[d > 0].sum(), ranks.sum() / 2, (ranks**2).sum() / 4)


def signed_rank_normal_p_mean_of_all_ranks(d):
    d = d[d != 0]
    n = len(d)
    ranks = _average_ranks(np.abs(d))
    return _normal_p(ranks[d > 0].sum(), n * (n + 1) / 2, (ranks**2).sum() / 4)  # the sum of the ranks, not half


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
    "ch09.signed_rank_normal_p": {
        "correct": signed_rank_normal_p,
        "wrong": {
            "variance n(n+1)(2n+1)/24, ties ignored": signed_rank_normal_p_untied_variance,
            "variance sum r^2 / 2": signed_rank_normal_p_bernoulli_variance_doubled,
            "variance sum r / 4": signed_rank_normal_p_variance_of_ranks,
            "one-sided p": signed_rank_normal_p_one_sided,
            "zero differences kept in the ranking": signed_rank_normal_p_keeps_zeros,
            "mean n(n+1)/2 instead of n(n+1)/4": signed_rank_normal_p_mean_of_all_ranks,
        },
    },
}
