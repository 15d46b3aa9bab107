"""Answers to the exercises of Chapter 2: one correct, and wrong ones a student would plausibly
write, each of which the checker must catch."""

import numpy as np

# --- ch02.unbroadcast ---------------------------------------------------------------------------


def unbroadcast_grad(grad, shape):
    extra = grad.ndim - len(shape)
    grad = grad.sum(axis=tuple(range(extra)))
    stretched = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    return grad.sum(axis=stretched, keepdims=True)


def unbroadcast_no_keepdims(grad, shape):
    extra = grad.ndim - len(shape)
    grad = grad.sum(axis=tuple(range(extra)))
    stretched = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    return grad.sum(axis=stretched)


def unbroadcast_leading_only(grad, shape):
    return grad.sum(axis=tuple(range(grad.ndim - len(shape))))


def unbroadcast_one_leading_axis(grad, shape):
    if grad.ndim > len(shape):
        grad = grad.sum(axis=0)
    stretched = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    return grad.sum(axis=stretched, keepdims=True)


def unbroadcast_mean(grad, shape):
    extra = grad.ndim - len(shape)
    grad = grad.mean(axis=tuple(range(extra)))
    stretched = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    return grad.mean(axis=stretched, keepdims=True)


# --- ch02.matmul_backward -----------------------------------------------------------------------


def matmul_backward(a, b, g):
    da = g @ b.T
    db = (np.swapaxes(a, -1, -2) @ g).reshape(-1, *b.shape).sum(axis=0)
    return da, db


def matmul_backward_batch_not_summed(a, b, g):
    return g @ b.T, np.swapaxes(a, -1, -2) @ g


def matmul_backward_dot_t_on_batch(a, b, g):
    db = a.T @ g if a.ndim == 2 else (a.T @ g).reshape(-1, *b.shape).sum(axis=0)
    return g @ b.T, db


def matmul_backward_batch_averaged(a, b, g):
    return g @ b.T, (np.swapaxes(a, -1, -2) @ g).reshape(-1, *b.shape).mean(axis=0)


def matmul_backward_missing_transpose(a, b, g):
    db = (np.swapaxes(a, -1, -2) @ g).reshape(-1, *b.shape).sum(axis=0)
    return g @ b, db


def matmul_backward_db_transposed(a, b, g):
    db = (np.swapaxes(g, -1, -2) @ a).reshape(-1, b.shape[1], b.shape[0]).sum(axis=0)
    return g @ b.T, db


# --- ch02.mean_backward -------------------------------------------------------------------------


def mean_backward(grad, in_shape, axis, keepdims):
    count = int(np.prod([in_shape[a] for a in axis]))
    if not keepdims:
        grad = grad.reshape([1 if i in axis else n for i, n in enumerate(in_shape)])
    return np.broadcast_to(grad / count, in_shape)


def mean_backward_no_division(grad, in_shape, axis, keepdims):
    if not keepdims:
        grad = grad.reshape([1 if i in axis else n for i, n in enumerate(in_shape)])
    return np.broadcast_to(grad, in_shape)


def mean_backward_divides_by_total_size(grad, in_shape, axis, keepdims):
    if not keepdims:
        grad = grad.reshape([1 if i in axis else n for i, n in enumerate(in_shape)])
    return np.broadcast_to(grad / int(np.prod(in_shape)), in_shape)


def mean_backward_ignores_keepdims(grad, in_shape, axis, keepdims):
    count = int(np.prod([in_shape[a] for a in axis]))
    return np.broadcast_to(grad / count, in_shape)


def mean_backward_divides_by_first_axis_only(grad, in_shape, axis, keepdims):
    if not keepdims:
        grad = grad.reshape([1 if i in axis else n for i, n in enumerate(in_shape)])
    return np.broadcast_to(grad / in_shape[axis[0]], in_shape)


ANSWERS = {
    "ch02.unbroadcast": {
        "correct": unbroadcast_grad,
        "wrong": {
            "forgets keepdims on the stretched axes": unbroadcast_no_keepdims,
            "sums only the leading axes": unbroadcast_leading_only,
            "sums only one leading axis": unbroadcast_one_leading_axis,
            "averages instead of summing": unbroadcast_mean,
        },
    },
    "ch02.matmul_backward": {
        "correct": matmul_backward,
        "wrong": {
            "dB not summed over the batch": matmul_backward_batch_not_summed,
            ".T on a batched array reverses all axes": matmul_backward_dot_t_on_batch,
            "dB averaged over the batch": matmul_backward_batch_averaged,
            "missing transpose in dA": matmul_backward_missing_transpose,
            "dB transposed (G^T A)": matmul_backward_db_transposed,
        },
    },
    "ch02.mean_backward": {
        "correct": mean_backward,
        "wrong": {
            "no division (the backward of sum)": mean_backward_no_division,
            "divides by the total size, not the reduced count": mean_backward_divides_by_total_size,
            "broadcasts without restoring the reduced axes": mean_backward_ignores_keepdims,
            "divides by the size of the first reduced axis only": mean_backward_divides_by_first_axis_only,
        },
    },
}
