"""Answers for the exercises of chapter 9: the correct one and planted wrong ones a student
would plausibly write (unpaired comparisons, ties counted as wins, difference of medians,
ordinal ranks for ties, zeros kept in the ranking)."""

import numpy as np


def paired_record(a, b):
    return np.array([np.sum(a < b), np.sum(a > b), np.sum(a == b)])


def paired_record_ties_as_wins(a, b):
    return np.array([np.sum(a <= b), np.sum(a > b), np.sum(a == b)])


def paired_record_against_the_mean(a, b):
    return np.array([np.sum(a < b.mean()), np.sum(a > b.mean()), np.sum(a == b.mean())])


def paired_record_sorted(a, b):
    a, b = np.sort(a), np.sort(b)
    return np.array([np.sum(a < b), np.sum(a > b), np.sum(a == b)])


def paired_record_higher_wins(a, b):
    return np.array([np.sum(a > b), np.sum(a < b), np.sum(a == b)])


def median_paired_difference(a, b):
    return np.median(a - b)


def difference_of_medians(a, b):
    return np.median(a) - np.median(b)


def mean_paired_difference(a, b):
    return np.mean(a - b)


def median_paired_difference_flipped(a, b):
    return np.median(b - a)


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


def signed_rank_minus(d):
    d = d[d != 0]
    ranks = _average_ranks(np.abs(d))
    return ranks[d < 0].sum()


ANSWERS = {
    "ch09.paired_record": {
        "correct": paired_record,
        "wrong": {
            "a tie counted as a win (<= instead of <)": paired_record_ties_as_wins,
            "unpaired: every seed of a against the mean of b": paired_record_against_the_mean,
            "unpaired: both lists sorted before comparing": paired_record_sorted,
            "higher loss counted as a win": paired_record_higher_wins,
        },
    },
    "ch09.median_paired_difference": {
        "correct": median_paired_difference,
        "wrong": {
            "median(a) - median(b): unpaired": difference_of_medians,
            "mean instead of median": mean_paired_difference,
            "b - a instead of a - b": median_paired_difference_flipped,
        },
    },
    "ch09.signed_rank_statistic": {
        "correct": signed_rank_statistic,
        "wrong": {
            "zero differences kept in the ranking": signed_rank_keeps_zeros,
            "ties get ordinal ranks instead of their mean rank": signed_rank_ordinal_ties,
            "ranks of d instead of |d|": signed_rank_of_d_not_abs,
            "W- (the negative differences) instead of W+": signed_rank_minus,
        },
    },
}
