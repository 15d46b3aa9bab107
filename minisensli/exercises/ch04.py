"""Exercises of chapter 4 (layers: Dense, Conv2d, pooling).

ch04.dense_backward         the three gradients of y = x W^T + b, given the upstream gradient
ch04.conv2d_weight_grad     dL/dK of a 2-D cross-correlation with stride and padding
ch04.max_pool2d_backward    where max pooling sends each window's gradient (overlaps add up)

Shapes and options are drawn by hypothesis; the arrays come from a generator it seeds (and are
shown in a failure report), so a failure shrinks in a fraction of a second.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from .. import functional as F
from ..autograd import Tensor
from ._asserts import assert_close
from ._core import exercise


def _tensor(array, requires_grad=True):
    return Tensor(np.array(array, dtype=np.float64), requires_grad=requires_grad)


def _as_triple(got, what):
    if not isinstance(got, (tuple, list)) or len(got) != 3:
        raise AssertionError(
            f"{what}: expected a tuple of three arrays, got {type(got).__name__}"
            + (f" of length {len(got)}" if isinstance(got, (tuple, list)) else "")
        )
    return got


# --- ch04.dense_backward ------------------------------------------------------------------


@exercise("ch04.dense_backward", max_examples=25)
def dense_backward(answer, case):
    n = case.draw(st.integers(1, 4), "N")
    fan_in = case.draw(st.integers(1, 4), "in_features")
    fan_out = case.draw(st.integers(1, 4), "out_features")
    rng = case.rng()
    x = case.show(rng.standard_normal((n, fan_in)), "x")
    weight = case.show(rng.standard_normal((fan_out, fan_in)), "weight")
    upstream = case.show(rng.standard_normal((n, fan_out)), "upstream")
    dx, dw, db = _as_triple(answer(x.copy(), weight.copy(), upstream.copy()), "dense_backward")

    tx, tw, tb = _tensor(x), _tensor(weight), _tensor(np.zeros(fan_out))
    F.linear(tx, tw, tb).backward(upstream)
    assert_close(dx, tx.grad, "dx (gradient w.r.t. the input x)", rtol=1e-10, atol=1e-12)
    assert_close(dw, tw.grad, "dW (gradient w.r.t. the weight, shape (out, in))", rtol=1e-10, atol=1e-12)
    assert_close(db, tb.grad, "db (gradient w.r.t. the bias)", rtol=1e-10, atol=1e-12)


# --- ch04.conv2d_weight_grad --------------------------------------------------------------


@st.composite
def _conv_setting(draw):
    k = draw(st.integers(1, 3), label="kernel_size")
    padding = draw(st.integers(0, 2), label="padding")
    stride = draw(st.integers(1, 3), label="stride")
    low = max(1, k - 2 * padding)
    h = draw(st.integers(low, 6), label="H")
    w = draw(st.integers(low, 6), label="W")
    return k, stride, padding, h, w


@exercise("ch04.conv2d_weight_grad", max_examples=25)
def conv2d_weight_grad(answer, case):
    n = case.draw(st.integers(1, 2), "N")
    c = case.draw(st.integers(1, 2), "C")
    o = case.draw(st.integers(1, 3), "O")
    k, stride, padding, h, w = case.draw(_conv_setting(), "kernel_size, stride, padding, H, W")
    oh, ow = (h + 2 * padding - k) // stride + 1, (w + 2 * padding - k) // stride + 1
    rng = case.rng()
    x = case.show(rng.standard_normal((n, c, h, w)), "x")
    upstream = case.show(rng.standard_normal((n, o, oh, ow)), "upstream")
    got = answer(x.copy(), upstream.copy(), k, stride, padding)

    tx, tk = _tensor(x, requires_grad=False), _tensor(rng.standard_normal((o, c, k, k)))
    F.conv2d(tx, tk, stride=stride, padding=padding).backward(upstream)
    assert_close(got, tk.grad, "dL/dK (shape (O, C, k, k))", rtol=1e-10, atol=1e-12)


# --- ch04.max_pool2d_backward -------------------------------------------------------------


@exercise("ch04.max_pool2d_backward", max_examples=30)
def max_pool2d_backward(answer, case):
    n = case.draw(st.integers(1, 2), "N")
    c = case.draw(st.integers(1, 2), "C")
    k = case.draw(st.integers(2, 3), "kernel_size")
    stride = case.draw(st.integers(1, k), "stride")
    h = case.draw(st.integers(k, 6), "H")
    w = case.draw(st.integers(k, 6), "W")
    rng = case.rng()
    # distinct entries (a permutation): no ties, so there is one maximum per window
    x = case.show(rng.permutation(n * c * h * w).reshape(n, c, h, w) / 4.0, "x")
    oh, ow = (h - k) // stride + 1, (w - k) // stride + 1
    upstream = case.show(rng.standard_normal((n, c, oh, ow)), "upstream")
    got = answer(x.copy(), upstream.copy(), k, stride)

    tx = _tensor(x)
    F.max_pool2d(tx, k, stride).backward(upstream)
    assert_close(got, tx.grad, "dL/dx (shape of x)", rtol=1e-12, atol=1e-12)
