"""Answers for the exercises of chapter 11: the correct one and planted wrong ones a student
would plausibly write (random fan-out instead of 0, U appended to the wrong matrix, the
activation left out, relu'(.) in place of relu(.), the transposed product, left instead of
right singular vectors, the smallest singular directions, rows not rescaled, every row along
the top direction)."""

import numpy as np


def widen_weights(w1, b1, w2, u, c):
    v = np.zeros((w2.shape[0], u.shape[0]))
    return np.vstack([w1, u]), np.concatenate([b1, c]), np.hstack([w2, v])


def widen_weights_random_fan_out(w1, b1, w2, u, c):
    v = np.full((w2.shape[0], u.shape[0]), 0.1)
    return np.vstack([w1, u]), np.concatenate([b1, c]), np.hstack([w2, v])


def widen_weights_prepended(w1, b1, w2, u, c):
    v = np.zeros((w2.shape[0], u.shape[0]))
    return np.vstack([u, w1]), np.concatenate([c, b1]), np.hstack([v, w2])


def widen_weights_bias_dropped(w1, b1, w2, u, c):
    v = np.zeros((w2.shape[0], u.shape[0]))
    return np.vstack([w1, u]), np.concatenate([b1, 0 * c]), np.hstack([w2, v])


def width_multiplier(x, g, u, c):
    return g.T @ np.maximum(x @ u.T + c, 0)


def width_multiplier_linear(x, g, u, c):
    return g.T @ (x @ u.T + c)


def width_multiplier_mask(x, g, u, c):
    return g.T @ ((x @ u.T + c) > 0).astype(float)


def width_multiplier_no_bias(x, g, u, c):
    return g.T @ np.maximum(x @ u.T, 0)


def width_multiplier_transposed(x, g, u, c):
    return (g.T @ np.maximum(x @ u.T + c, 0)).T


def gradmax_fan_in(x, g, k, s):
    _, _, vt = np.linalg.svd(g.T @ x)
    return s * vt[:k]


def gradmax_fan_in_left(x, g, k, s):
    _, _, vt = np.linalg.svd(x.T @ g)  # M transposed: its right vectors are M's left ones
    return s * vt[:k]


def gradmax_fan_in_smallest(x, g, k, s):
    _, _, vt = np.linalg.svd(g.T @ x)
    r = min(g.shape[1], x.shape[1])
    return s * vt[r - k : r][::-1]


def gradmax_fan_in_unit_rows(x, g, k, s):
    _, _, vt = np.linalg.svd(g.T @ x)
    return vt[:k]


def gradmax_fan_in_repeated(x, g, k, s):
    _, _, vt = np.linalg.svd(g.T @ x)
    return s * np.repeat(vt[:1], k, axis=0)


ANSWERS = {
    "ch11.widen_weights": {
        "correct": widen_weights,
        "wrong": {
            "fan-out not zero": widen_weights_random_fan_out,
            "new units placed before the old ones": widen_weights_prepended,
            "bias of the new units dropped": widen_weights_bias_dropped,
        },
    },
    "ch11.width_multiplier": {
        "correct": width_multiplier,
        "wrong": {
            "activation left out": width_multiplier_linear,
            "relu'(z) instead of relu(z)": width_multiplier_mask,
            "bias c left out": width_multiplier_no_bias,
            "transposed (k x out)": width_multiplier_transposed,
        },
    },
    "ch11.gradmax_fan_in": {
        "correct": gradmax_fan_in,
        "wrong": {
            "singular vectors of x^T g (the left ones of M)": gradmax_fan_in_left,
            "the smallest singular directions": gradmax_fan_in_smallest,
            "rows of norm 1, not s": gradmax_fan_in_unit_rows,
            "every row along the top direction (Frobenius bound only)": gradmax_fan_in_repeated,
        },
    },
}
