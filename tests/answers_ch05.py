"""Answers for the chapter 5 exercises (training): one correct answer and the mistakes a student
would plausibly make, each of which the checker must catch."""

import numpy as np

# --- ch05.logsumexp -------------------------------------------------------------------------


def logsumexp(z, axis):
    m = z.max(axis=axis, keepdims=True)
    return np.squeeze(m + np.log(np.exp(z - m).sum(axis=axis, keepdims=True)), axis=axis)


def logsumexp_no_shift(z, axis):
    return np.log(np.exp(z).sum(axis=axis))


def logsumexp_last_axis(z, axis):
    m = z.max(axis=-1, keepdims=True)
    return np.squeeze(m + np.log(np.exp(z - m).sum(axis=-1, keepdims=True)), axis=-1)


def logsumexp_global_max(z, axis):
    m = z.max()
    return m + np.log(np.exp(z - m).sum(axis=axis))


def logsumexp_keeps_the_axis(z, axis):
    m = z.max(axis=axis, keepdims=True)
    return m + np.log(np.exp(z - m).sum(axis=axis, keepdims=True))


def logsumexp_mean_shift(z, axis):
    m = z.mean(axis=axis, keepdims=True)  # shifted by the slice mean: exp(1000) for a row [0, 2000]
    return np.squeeze(m + np.log(np.exp(z - m).sum(axis=axis, keepdims=True)), axis=axis)


def logsumexp_first_entry_shift(z, axis):
    m = np.take(z, [0], axis=axis)  # shifted by the first entry of each slice
    return np.squeeze(m + np.log(np.exp(z - m).sum(axis=axis, keepdims=True)), axis=axis)


# --- ch05.soft_cross_entropy_grad -----------------------------------------------------------


def _softmax(z, axis=1):
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def soft_ce_grad(logits, targets):
    return (_softmax(logits) - targets) / logits.shape[0]


def soft_ce_grad_summed(logits, targets):
    return _softmax(logits) - targets


def soft_ce_grad_softmax_over_batch(logits, targets):
    return (_softmax(logits, axis=0) - targets) / logits.shape[0]


def soft_ce_grad_argmax_target(logits, targets):
    onehot = np.eye(targets.shape[1])[targets.argmax(axis=1)]
    return (_softmax(logits) - onehot) / logits.shape[0]


def soft_ce_grad_naive_softmax(logits, targets):
    e = np.exp(logits)
    return (e / e.sum(axis=1, keepdims=True) - targets) / logits.shape[0]


# --- ch05.sgd_nesterov_step -----------------------------------------------------------------


def nesterov(p, g, buf, lr, momentum, weight_decay):
    g = g + weight_decay * p
    buf = g.copy() if buf is None else momentum * buf + g
    return p - lr * (g + momentum * buf), buf


def nesterov_plain_momentum(p, g, buf, lr, momentum, weight_decay):
    g = g + weight_decay * p
    buf = g.copy() if buf is None else momentum * buf + g
    return p - lr * buf, buf


def nesterov_lr_in_buffer(p, g, buf, lr, momentum, weight_decay):
    g = g + weight_decay * p
    buf = lr * g if buf is None else momentum * buf + lr * g
    return p - (lr * g + momentum * buf), buf


def nesterov_no_weight_decay(p, g, buf, lr, momentum, weight_decay):
    buf = g.copy() if buf is None else momentum * buf + g
    return p - lr * (g + momentum * buf), buf


def nesterov_looks_ahead_with_old_buffer(p, g, buf, lr, momentum, weight_decay):
    g = g + weight_decay * p
    old = g if buf is None else buf
    return p - lr * (g + momentum * old), momentum * old + g if buf is not None else g.copy()


# --- ch05.adamw_step ------------------------------------------------------------------------


def adamw(p, g, m, v, t, lr, beta1, beta2, eps, weight_decay):
    m = beta1 * m + (1 - beta1) * g
    v = beta2 * v + (1 - beta2) * g * g
    m_hat, v_hat = m / (1 - beta1**t), v / (1 - beta2**t)
    return p - lr * weight_decay * p - lr * m_hat / (np.sqrt(v_hat) + eps), m, v


def adamw_l2_decay(p, g, m, v, t, lr, beta1, beta2, eps, weight_decay):
    g = g + weight_decay * p
    m = beta1 * m + (1 - beta1) * g
    v = beta2 * v + (1 - beta2) * g * g
    m_hat, v_hat = m / (1 - beta1**t), v / (1 - beta2**t)
    return p - lr * m_hat / (np.sqrt(v_hat) + eps), m, v


def adamw_no_bias_correction(p, g, m, v, t, lr, beta1, beta2, eps, weight_decay):
    m = beta1 * m + (1 - beta1) * g
    v = beta2 * v + (1 - beta2) * g * g
    return p - lr * weight_decay * p - lr * m / (np.sqrt(v) + eps), m, v


def adamw_decay_without_lr(p, g, m, v, t, lr, beta1, beta2, eps, weight_decay):
    m = beta1 * m + (1 - beta1) * g
    v = beta2 * v + (1 - beta2) * g * g
    m_hat, v_hat = m / (1 - beta1**t), v / (1 - beta2**t)
    return p - weight_decay * p - lr * m_hat / (np.sqrt(v_hat) + eps), m, v


ANSWERS = {
    "ch05.logsumexp": {
        "correct": logsumexp,
        "wrong": {
            "no max subtraction: exp overflows or underflows on large logits": logsumexp_no_shift,
            "always reduces the last axis": logsumexp_last_axis,
            "one global max for all slices: far-below slices underflow to log 0": logsumexp_global_max,
            "keeps the reduced axis (keepdims=True in the result)": logsumexp_keeps_the_axis,
            "shifted by the slice mean: overflows on a within-slice spread of 2000": logsumexp_mean_shift,
            "shifted by the slice's first entry": logsumexp_first_entry_shift,
        },
    },
    "ch05.soft_cross_entropy_grad": {
        "correct": soft_ce_grad,
        "wrong": {
            "no division by N (gradient of the sum, not the mean)": soft_ce_grad_summed,
            "softmax over the batch axis": soft_ce_grad_softmax_over_batch,
            "one-hot of the most likely target instead of the soft target": soft_ce_grad_argmax_target,
            "naive softmax without the max shift (nan for large logits)": soft_ce_grad_naive_softmax,
        },
    },
    "ch05.sgd_nesterov_step": {
        "correct": nesterov,
        "wrong": {
            "plain momentum step p - lr v (no look-ahead)": nesterov_plain_momentum,
            "lr inside the buffer: v = mu v + lr g": nesterov_lr_in_buffer,
            "weight decay forgotten": nesterov_no_weight_decay,
            "looks ahead with the buffer before its update": nesterov_looks_ahead_with_old_buffer,
        },
    },
    "ch05.adamw_step": {
        "correct": adamw,
        "wrong": {
            "L2 decay added to the gradient (Adam, not AdamW)": adamw_l2_decay,
            "no bias correction": adamw_no_bias_correction,
            "decay not multiplied by the learning rate": adamw_decay_without_lr,
        },
    },
}
