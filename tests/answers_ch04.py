"""Answers to the chapter 4 exercises: one correct, and wrong ones a reader would plausibly write."""

import numpy as np

# --- ch04.dense_backward ------------------------------------------------------------------


def dense_backward(x, weight, upstream):
    return upstream @ weight, upstream.T @ x, upstream.sum(axis=0)


def dense_backward_mean_bias(x, weight, upstream):
    return upstream @ weight, upstream.T @ x, upstream.mean(axis=0)


def dense_backward_transposed_weight_grad(x, weight, upstream):
    return upstream @ weight, x.T @ upstream, upstream.sum(axis=0)


def dense_backward_averaged_over_batch(x, weight, upstream):
    n = x.shape[0]
    return upstream @ weight, upstream.T @ x / n, upstream.sum(axis=0) / n


def dense_backward_bias_summed_over_features(x, weight, upstream):
    return upstream @ weight, upstream.T @ x, upstream.sum(axis=1)


# --- ch04.conv2d_weight_grad --------------------------------------------------------------


def conv2d_weight_grad(x, upstream, kernel_size, stride, padding):
    k, s = kernel_size, stride
    x_pad = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    _, o, oh, ow = upstream.shape
    grad = np.zeros((o, x.shape[1], k, k))
    for u in range(k):
        for v in range(k):
            patch = x_pad[:, :, u : u + s * (oh - 1) + 1 : s, v : v + s * (ow - 1) + 1 : s]  # (N, C, OH, OW)
            grad[:, :, u, v] = np.einsum("noij,ncij->oc", upstream, patch)
    return grad


def conv2d_weight_grad_ignores_stride(x, upstream, kernel_size, stride, padding):
    k = kernel_size
    x_pad = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    _, o, oh, ow = upstream.shape
    grad = np.zeros((o, x.shape[1], k, k))
    for u in range(k):
        for v in range(k):
            grad[:, :, u, v] = np.einsum("noij,ncij->oc", upstream, x_pad[:, :, u : u + oh, v : v + ow])
    return grad


def conv2d_weight_grad_flipped(x, upstream, kernel_size, stride, padding):
    return conv2d_weight_grad(x, upstream, kernel_size, stride, padding)[:, :, ::-1, ::-1]


def conv2d_weight_grad_batch_mean(x, upstream, kernel_size, stride, padding):
    return conv2d_weight_grad(x, upstream, kernel_size, stride, padding) / x.shape[0]


def conv2d_weight_grad_ignores_padding(x, upstream, kernel_size, stride, padding):
    return conv2d_weight_grad(x, upstream, kernel_size, stride, 0)


# --- ch04.max_pool2d_backward -------------------------------------------------------------


def max_pool2d_backward(x, upstream, kernel_size, stride):
    k, s = kernel_size, stride
    grad = np.zeros_like(x)
    n, c, oh, ow = upstream.shape
    for b in range(n):
        for ch in range(c):
            for i in range(oh):
                for j in range(ow):
                    window = x[b, ch, s * i : s * i + k, s * j : s * j + k]
                    u, v = np.unravel_index(np.argmax(window), window.shape)
                    grad[b, ch, s * i + u, s * j + v] += upstream[b, ch, i, j]
    return grad


def max_pool2d_backward_assigns(x, upstream, kernel_size, stride):
    k, s = kernel_size, stride
    grad = np.zeros_like(x)
    n, c, oh, ow = upstream.shape
    for b in range(n):
        for ch in range(c):
            for i in range(oh):
                for j in range(ow):
                    window = x[b, ch, s * i : s * i + k, s * j : s * j + k]
                    u, v = np.unravel_index(np.argmax(window), window.shape)
                    grad[b, ch, s * i + u, s * j + v] = upstream[b, ch, i, j]  # overlaps overwrite
    return grad


def max_pool2d_backward_spread_evenly(x, upstream, kernel_size, stride):
    k, s = kernel_size, stride
    grad = np.zeros_like(x)
    n, c, oh, ow = upstream.shape
    for i in range(oh):
        for j in range(ow):
            grad[:, :, s * i : s * i + k, s * j : s * j + k] += upstream[:, :, i : i + 1, j : j + 1] / (k * k)
    return grad


def max_pool2d_backward_ones(x, upstream, kernel_size, stride):
    return max_pool2d_backward(x, np.ones_like(upstream), kernel_size, stride)


def max_pool2d_backward_ignores_stride(x, upstream, kernel_size, stride):
    k = kernel_size
    grad = np.zeros_like(x)
    n, c, oh, ow = upstream.shape
    for b in range(n):
        for ch in range(c):
            for i in range(oh):
                for j in range(ow):
                    window = x[b, ch, i : i + k, j : j + k]  # should start at stride * i
                    u, v = np.unravel_index(np.argmax(window), window.shape)
                    grad[b, ch, i + u, j + v] += upstream[b, ch, i, j]
    return grad


ANSWERS = {
    "ch04.dense_backward": {
        "correct": dense_backward,
        "wrong": {
            "bias gradient averaged over the batch": dense_backward_mean_bias,
            "weight gradient transposed (in, out)": dense_backward_transposed_weight_grad,
            "weight and bias gradients divided by N": dense_backward_averaged_over_batch,
            "bias gradient summed over features instead of the batch": dense_backward_bias_summed_over_features,
        },
    },
    "ch04.conv2d_weight_grad": {
        "correct": conv2d_weight_grad,
        "wrong": {
            "stride ignored (windows at i + u)": conv2d_weight_grad_ignores_stride,
            "kernel flipped (a convolution, not a correlation)": conv2d_weight_grad_flipped,
            "averaged over the batch": conv2d_weight_grad_batch_mean,
            "padding ignored": conv2d_weight_grad_ignores_padding,
        },
    },
    "ch04.max_pool2d_backward": {
        "correct": max_pool2d_backward,
        "wrong": {
            "assigns instead of adding (overlapping windows)": max_pool2d_backward_assigns,
            "spreads the gradient evenly (average pooling's backward)": max_pool2d_backward_spread_evenly,
            "ones instead of the upstream gradient": max_pool2d_backward_ones,
            "windows start at i, not stride * i": max_pool2d_backward_ignores_stride,
        },
    },
}
