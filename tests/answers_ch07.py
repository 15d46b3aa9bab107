"""Answers to the chapter 7 exercises: the correct one and mistakes a student would plausibly make."""

import numpy as np


def dense_multiplier(x, d):
    return (d * (x > 0)).T @ x


def dense_multiplier_ge_mask(x, d):
    return (d * (x >= 0)).T @ x  # relu'(0) taken as 1: true for every ReLU output


def dense_multiplier_missing_transpose(x, d):
    return x.T @ (d * (x > 0))  # (dl/dV)^T: rows and columns swapped


def dense_multiplier_unmasked(x, d):
    return d.T @ x  # the ReLU of the virtual layer forgotten


def dense_multiplier_batch_mean(x, d):
    return (d * (x > 0)).T @ x / x.shape[0]  # d already carries 1/|B|: divided twice


def _correlate(x, g, flip=False):
    x_pad = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    height, width = x.shape[2:]
    out = np.zeros((g.shape[1], x.shape[1], 3, 3))
    for p in range(3):
        for q in range(3):
            out[:, :, p, q] = np.einsum("noyx,niyx->oi", g, x_pad[:, :, p : p + height, q : q + width])
    return out[:, :, ::-1, ::-1].copy() if flip else out


def correlate3x3(x, g):
    return _correlate(x, g)


def correlate3x3_flipped(x, g):
    return _correlate(x, g, flip=True)  # a convolution (flipped kernel) instead of a correlation


def correlate3x3_no_padding(x, g):
    height, width = x.shape[2:]
    out = np.zeros((g.shape[1], x.shape[1], 3, 3))
    inner = g[:, :, 1 : height - 1, 1 : width - 1]  # only the outputs whose window fits without padding
    for p in range(3):
        for q in range(3):
            out[:, :, p, q] = np.einsum("noyx,niyx->oi", inner, x[:, :, p : p + height - 2, q : q + width - 2])
    return out


def correlate3x3_swapped_channels(x, g):
    return _correlate(x, g).transpose(1, 0, 2, 3)  # (C, O, 3, 3): in and out channels swapped


def residual_v1_multiplier(x, d, h):
    return h * d.T @ np.tanh(0.8 * x)


def residual_v1_without_inner_scale(x, d, h):
    return h * d.T @ np.tanh(x)  # W1 = I instead of 0.8 I


def residual_v1_transposed(x, d, h):
    return h * np.tanh(0.8 * x).T @ d


def residual_v1_without_activation(x, d, h):
    return h * d.T @ (0.8 * x)  # the branch's tanh forgotten


def residual_v1_without_step(x, d, h):
    return d.T @ np.tanh(0.8 * x)  # the step size h dropped


ANSWERS = {
    "ch07.dense_multiplier": {
        "correct": dense_multiplier,
        "wrong": {
            "mask x >= 0 (relu'(0) = 1)": dense_multiplier_ge_mask,
            "missing transpose: x^T (d * m)": dense_multiplier_missing_transpose,
            "unmasked: d^T x": dense_multiplier_unmasked,
            "divided by the batch size again": dense_multiplier_batch_mean,
        },
    },
    "ch07.correlate3x3": {
        "correct": correlate3x3,
        "wrong": {
            "flipped kernel (convolution instead of correlation)": correlate3x3_flipped,
            "no padding (border outputs dropped)": correlate3x3_no_padding,
            "in and out channels swapped": correlate3x3_swapped_channels,
        },
    },
    "ch07.residual_v1_multiplier": {
        "correct": residual_v1_multiplier,
        "wrong": {
            "tanh(x) instead of tanh(0.8 x)": residual_v1_without_inner_scale,
            "transposed: tanh(0.8 x)^T d": residual_v1_transposed,
            "no activation: 0.8 x": residual_v1_without_activation,
            "step size h dropped": residual_v1_without_step,
        },
    },
}
