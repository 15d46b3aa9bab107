"""Answers for the exercises of chapter 10: the correct one and planted wrong ones a student
would plausibly write (the factors of W^T G in the wrong order or transposed, its sign flipped, G
alone; the best site left out of the mean it must beat, the current mean as the bar, the other
virtual sites forgotten, unscaled scores)."""

import numpy as np


def scaled_score(grad):
    return (grad**2).sum() / grad.size


def insertion_bar(virtual, existing, tau):
    # insert at 0 iff s >= every other virtual score and s > tau (s + R) / (P + E), where R sums the
    # other scaled scores: s (P + E - tau) > tau R, impossible when P + E <= tau
    others = [scaled_score(g) for g in virtual[1:]]
    rest = sum(others) + sum(scaled_score(g) for g in existing)
    count = len(virtual) + len(existing)
    if count <= tau:
        return float("inf")
    return max([tau * rest / (count - tau), *others])


def insertion_bar_mean_of_others(virtual, existing, tau):
    others = [scaled_score(g) for g in virtual[1:]]
    pool = others + [scaled_score(g) for g in existing]
    return max([tau * np.mean(pool), *others])  # as if site 0 were not part of the mean


def insertion_bar_current_mean(virtual, existing, tau):
    others = [scaled_score(g) for g in virtual[1:]]
    pool = [scaled_score(g) for g in virtual] + [scaled_score(g) for g in existing]
    return max([tau * np.mean(pool), *others])  # the bar at site 0's current score, not solved for s


def insertion_bar_not_moved_over(virtual, existing, tau):
    others = [scaled_score(g) for g in virtual[1:]]
    rest = sum(others) + sum(scaled_score(g) for g in existing)
    return max([tau * rest / (len(virtual) + len(existing)), *others])  # s dropped from the mean


def insertion_bar_without_argmax(virtual, existing, tau):
    rest = sum(scaled_score(g) for g in virtual[1:]) + sum(scaled_score(g) for g in existing)
    count = len(virtual) + len(existing)
    return float("inf") if count <= tau else tau * rest / (count - tau)  # site 0 must also be the best


def insertion_bar_unscaled(virtual, existing, tau):
    others = [float((g**2).sum()) for g in virtual[1:]]
    rest = sum(others) + sum(float((g**2).sum()) for g in existing)
    count = len(virtual) + len(existing)
    return float("inf") if count <= tau else max([tau * rest / (count - tau), *others])


def linear_site_multiplier(w_next, g_next):
    # dL/dV = (dL/da)^T a with dL/da = delta W, and G = delta^T a: so dL/dV = W^T delta^T a = W^T G
    return w_next.T @ g_next


def linear_site_multiplier_g_wt(w_next, g_next):
    return g_next @ w_next.T  # out x out: the factors in the wrong order


def linear_site_multiplier_w_gt(w_next, g_next):
    return w_next @ g_next.T  # out x out


def linear_site_multiplier_transposed(w_next, g_next):
    return g_next.T @ w_next  # (W^T G)^T: right shape, wrong matrix unless W^T G is symmetric


def linear_site_multiplier_negated(w_next, g_next):
    return -w_next.T @ g_next  # the descent direction, not the gradient


def linear_site_multiplier_g_alone(w_next, g_next):
    return g_next  # "the next layer's gradient is the sensitivity"


def linear_site_multiplier_w_wt_g(w_next, g_next):
    return w_next @ w_next.T @ g_next  # the chain rule applied once too often


ANSWERS = {
    "ch10.insertion_bar": {
        "correct": insertion_bar,
        "wrong": {
            "site 0 left out of the mean it must beat": insertion_bar_mean_of_others,
            "the current mean, not solved for s": insertion_bar_current_mean,
            "s dropped from the mean's numerator only": insertion_bar_not_moved_over,
            "the other virtual sites forgotten (argmax)": insertion_bar_without_argmax,
            "unscaled scores": insertion_bar_unscaled,
        },
    },
    "ch10.linear_site_multiplier": {
        "correct": linear_site_multiplier,
        "wrong": {
            "G W^T (out x out)": linear_site_multiplier_g_wt,
            "W G^T (out x out)": linear_site_multiplier_w_gt,
            "G^T W, the transpose": linear_site_multiplier_transposed,
            "-W^T G": linear_site_multiplier_negated,
            "G alone": linear_site_multiplier_g_alone,
            "W W^T G": linear_site_multiplier_w_wt_g,
        },
    },
}
