"""Answers for the exercises of chapter 10: the correct one and planted wrong ones a student
would plausibly write (unscaled scores, the Frobenius norm not squared, max instead of mean,
the virtual layers left out of the mean, >= instead of >)."""

import numpy as np


def scaled_score(grad):
    return (grad**2).sum() / grad.size


def scaled_score_unscaled(grad):
    return (grad**2).sum()


def scaled_score_per_row(grad):
    return (grad**2).sum() / grad.shape[0]


def scaled_score_not_squared(grad):
    return np.sqrt((grad**2).sum()) / grad.size


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


ANSWERS = {
    "ch10.scaled_score": {
        "correct": scaled_score,
        "wrong": {
            "not divided by the number of entries": scaled_score_unscaled,
            "divided by the number of rows": scaled_score_per_row,
            "Frobenius norm, not squared": scaled_score_not_squared,
        },
    },
    "ch10.threshold_choice": {
        "correct": threshold_choice,
        "wrong": {
            "unscaled scores ||G||_F^2": threshold_choice_unscaled,
            "max instead of mean over the layers": threshold_choice_max,
            "mean over the existing layers only": threshold_choice_existing_only,
            ">= instead of >": threshold_choice_at_least,
        },
    },
}
