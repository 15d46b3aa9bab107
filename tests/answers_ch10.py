"""Answers for the exercises of chapter 10: the correct one and planted wrong ones a student
would plausibly write (the best site left out of the mean it must beat, the current mean as the
bar, the other virtual sites forgotten, unscaled scores, max instead of mean, the virtual layers
left out of the mean, >= instead of >, the last of tied sites, np.int64 for the index)."""

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


def threshold_choice(virtual, existing, tau):
    v = [scaled_score(g) for g in virtual]
    pool = v + [scaled_score(g) for g in existing]
    best = int(np.argmax(v))
    return best if v[best] > tau * np.mean(pool) else None


def threshold_choice_unscaled(virtual, existing, tau):
    v = [(g**2).sum() for g in virtual]
    pool = v + [(g**2).sum() for g in existing]
    best = int(np.argmax(v))
    return best if v[best] > tau * np.mean(pool) else None


def threshold_choice_max(virtual, existing, tau):
    v = [scaled_score(g) for g in virtual]
    pool = v + [scaled_score(g) for g in existing]
    best = int(np.argmax(v))
    return best if v[best] > tau * np.max(pool) else None


def threshold_choice_existing_only(virtual, existing, tau):
    v = [scaled_score(g) for g in virtual]
    best = int(np.argmax(v))
    return best if v[best] > tau * np.mean([scaled_score(g) for g in existing]) else None


def threshold_choice_at_least(virtual, existing, tau):
    v = [scaled_score(g) for g in virtual]
    pool = v + [scaled_score(g) for g in existing]
    best = int(np.argmax(v))
    return best if v[best] >= tau * np.mean(pool) else None


def threshold_choice_last_of_ties(virtual, existing, tau):
    v = [scaled_score(g) for g in virtual]
    pool = v + [scaled_score(g) for g in existing]
    best = len(v) - 1 - int(np.argmax(v[::-1]))  # the last of the tied best sites
    return best if v[best] > tau * np.mean(pool) else None


def threshold_choice_numpy_int(virtual, existing, tau):
    v = [scaled_score(g) for g in virtual]
    pool = v + [scaled_score(g) for g in existing]
    best = np.argmax(v)  # np.int64, not the Python int the statement asks for
    return best if v[best] > tau * np.mean(pool) else None


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
    "ch10.threshold_choice": {
        "correct": threshold_choice,
        "wrong": {
            "unscaled scores ||G||_F^2": threshold_choice_unscaled,
            "max instead of mean over the layers": threshold_choice_max,
            "mean over the existing layers only": threshold_choice_existing_only,
            ">= instead of >": threshold_choice_at_least,
            "the last of tied best sites": threshold_choice_last_of_ties,
            "np.int64 instead of a Python int": threshold_choice_numpy_int,
        },
    },
}
