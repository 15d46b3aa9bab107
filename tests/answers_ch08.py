"""Answers to the chapter 8 exercises: one correct, and planted wrong ones a student might write."""

import numpy as np

# --- ch08.virtual_dense_init -------------------------------------------------------------


def virtual_dense_init(previous):
    width = previous.out_features
    return np.eye(width), np.zeros(width)


def virtual_dense_init_zeros(previous):
    width = previous.out_features
    return np.zeros((width, width)), np.zeros(width)


def virtual_dense_init_previous_shape(previous):
    return np.eye(*previous.weight.shape), np.zeros(previous.out_features)


def virtual_dense_init_in_features(previous):
    return np.eye(previous.in_features), np.zeros(previous.in_features)


def virtual_dense_init_bias_ones(previous):
    width = previous.out_features
    return np.eye(width), np.ones(width)


# --- ch08.site_score ---------------------------------------------------------------------


def site_score(grads, norm):
    averaged = sum(grads) / len(grads)
    total = float((averaged**2).sum())
    return total / averaged.size if norm == "fro_scaled" else total


def site_score_square_then_average(grads, norm):
    squares = [float((g**2).sum()) for g in grads]
    total = sum(squares) / len(squares)
    return total / grads[0].size if norm == "fro_scaled" else total


def site_score_sum_over_batches(grads, norm):
    summed = sum(grads)
    total = float((summed**2).sum())
    return total / summed.size if norm == "fro_scaled" else total


def site_score_scaled_by_rows(grads, norm):
    averaged = sum(grads) / len(grads)
    total = float((averaged**2).sum())
    return total / averaged.shape[0] if norm == "fro_scaled" else total


def site_score_not_squared(grads, norm):
    averaged = sum(grads) / len(grads)
    total = float(np.sqrt((averaged**2).sum()))
    return total / averaged.size if norm == "fro_scaled" else total


# --- ch08.select_abs_max -----------------------------------------------------------------


def select_abs_max(scores):
    return int(np.argmax(scores))


def select_abs_max_argmin(scores):
    return int(np.argmin(scores))


def select_abs_max_last_of_ties(scores):
    return sorted(range(len(scores)), key=lambda i: scores[i])[-1]


def select_abs_max_returns_score(scores):
    return max(scores)


ANSWERS = {
    "ch08.virtual_dense_init": {
        "correct": virtual_dense_init,
        "wrong": {
            "zeros instead of the identity": virtual_dense_init_zeros,
            "the previous layer's weight shape (width, in_features), transposed/non-square": (
                virtual_dense_init_previous_shape
            ),
            "identity of in_features instead of the width": virtual_dense_init_in_features,
            "bias ones instead of zeros": virtual_dense_init_bias_ones,
        },
    },
    "ch08.site_score": {
        "correct": site_score,
        "wrong": {
            "squares each minibatch multiplier, then averages": site_score_square_then_average,
            "sums the minibatch multipliers instead of averaging": site_score_sum_over_batches,
            "fro_scaled divides by the number of rows, not of entries": site_score_scaled_by_rows,
            "the norm, not its square": site_score_not_squared,
        },
    },
    "ch08.select_abs_max": {
        "correct": select_abs_max,
        "wrong": {
            "the smallest score (abs min)": select_abs_max_argmin,
            "the last of tied maxima": select_abs_max_last_of_ties,
            "returns the largest score, not its index": select_abs_max_returns_score,
        },
    },
}
