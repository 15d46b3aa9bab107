"""Answers to the chapter 7 exercises: the correct one and mistakes a student would plausibly make."""

import numpy as np


def _slope_at_zero(sigma, eps=1e-5):
    return (sigma(np.float64(eps)) - sigma(np.float64(-eps))) / (2 * eps)  # sigma smooth: central is fine here


def v2_multipliers(x, d, h, w2, sigma):
    # branch h sigma(z) w2^T: dl/dsigma = h d w2; at z = 0, dl/dz = sigma'(0) h d w2; z = x W1^T + b
    g = _slope_at_zero(sigma) * h * d @ w2
    return g.T @ x, g.sum(axis=0)


def v2_multipliers_transposed_w2(x, d, h, w2, sigma):
    g = _slope_at_zero(sigma) * h * d @ w2.T  # d w2^T: the forward map's transpose used backwards
    return g.T @ x, g.sum(axis=0)


def v2_multipliers_slope_one(x, d, h, w2, sigma):
    g = h * d @ w2  # sigma'(0) taken as 1 (true for tanh only)
    return g.T @ x, g.sum(axis=0)


def v2_multipliers_chapter_constant(x, d, h, w2, sigma):
    g = 0.8 * _slope_at_zero(sigma) * h * d  # the chapter's w2 = 0.8 I instead of the given w2
    return g.T @ x, g.sum(axis=0)


def v2_multipliers_without_step(x, d, h, w2, sigma):
    g = _slope_at_zero(sigma) * d @ w2  # h dropped
    return g.T @ x, g.sum(axis=0)


def v2_multipliers_outer_transposed(x, d, h, w2, sigma):
    g = _slope_at_zero(sigma) * h * d @ w2
    return x.T @ g, g.sum(axis=0)  # (dl/dW1)^T


def relu_block_slope(x, d, h, dv, e):
    return float(h * (d * np.maximum(x @ dv.T + e, 0.0)).sum())


def relu_block_slope_gradient(x, d, h, dv, e):
    return 0.0  # <multiplier, direction>: relu'(0) = 0 makes it zero, the one-sided slope is not


def relu_block_slope_central(x, d, h, dv, e):
    return float(h * (d * (x @ dv.T + e)).sum() / 2)  # central difference: (relu(u) - relu(-u)) / 2 = u / 2


def relu_block_slope_sign(x, d, h, dv, e):
    return float(h * (d * np.maximum(-(x @ dv.T + e), 0.0)).sum())  # the step taken along -dv


def relu_block_slope_transposed(x, d, h, dv, e):
    return float(h * (d * np.maximum(x @ dv + e, 0.0)).sum())  # x dv instead of x dv^T


def relu_block_slope_without_step(x, d, h, dv, e):
    return float((d * np.maximum(x @ dv.T + e, 0.0)).sum())


ANSWERS = {
    "ch07.v2_multipliers": {
        "correct": v2_multipliers,
        "wrong": {
            "d w2^T instead of d w2": v2_multipliers_transposed_w2,
            "sigma'(0) taken as 1": v2_multipliers_slope_one,
            "the chapter's 0.8 I for w2": v2_multipliers_chapter_constant,
            "step size h dropped": v2_multipliers_without_step,
            "outer product transposed: x^T g": v2_multipliers_outer_transposed,
        },
    },
    "ch07.relu_block_slope": {
        "correct": relu_block_slope,
        "wrong": {
            "the multiplier's prediction (zero)": relu_block_slope_gradient,
            "central difference (u / 2)": relu_block_slope_central,
            "step along -dv": relu_block_slope_sign,
            "x dv instead of x dv^T": relu_block_slope_transposed,
            "step size h dropped": relu_block_slope_without_step,
        },
    },
}


def conv1x1_multipliers(a, d):
    g = d * (a > 0)  # the ReLU of the virtual layer, relu'(0) = 0
    return np.einsum("noyx,niyx->oi", g, a)[:, :, None, None], g.sum(axis=(0, 2, 3))


def conv1x1_multipliers_swapped(a, d):
    g = d * (a > 0)
    return np.einsum("noyx,niyx->io", g, a)[:, :, None, None], g.sum(axis=(0, 2, 3))  # [i, o]: transposed


def conv1x1_multipliers_unmasked(a, d):
    return np.einsum("noyx,niyx->oi", d, a)[:, :, None, None], d.sum(axis=(0, 2, 3))  # the virtual ReLU forgotten


def conv1x1_multipliers_ge_mask(a, d):
    g = d * (a >= 0)  # relu'(0) taken as 1
    return np.einsum("noyx,niyx->oi", g, a)[:, :, None, None], g.sum(axis=(0, 2, 3))


def conv1x1_multipliers_pixel_mean(a, d):
    g = d * (a > 0)
    pixels = a.shape[2] * a.shape[3]  # d already carries 1/N; averaging over pixels too is wrong
    return np.einsum("noyx,niyx->oi", g, a)[:, :, None, None] / pixels, g.sum(axis=(0, 2, 3)) / pixels


def conv1x1_multipliers_flat(a, d):
    g = d * (a > 0)
    return np.einsum("noyx,niyx->oi", g, a), g.sum(axis=(0, 2, 3))  # (C, C): the kernel's 1x1 axes dropped


ANSWERS["ch07.conv1x1_multipliers"] = {
    "correct": conv1x1_multipliers,
    "wrong": {
        "in and out channels swapped": conv1x1_multipliers_swapped,
        "unmasked": conv1x1_multipliers_unmasked,
        "mask a >= 0": conv1x1_multipliers_ge_mask,
        "averaged over pixels": conv1x1_multipliers_pixel_mean,
        "shape (C, C) instead of (C, C, 1, 1)": conv1x1_multipliers_flat,
    },
}
