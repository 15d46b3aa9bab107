"""Exercises of chapter 7 (virtual layers and their closed-form sensitivities).

ch07.v2_multipliers   (dl/dW1, dl/db) of a two-weight block x + h sigma(x W1^T + b) W2^T at W1 = 0,
                      b = 0 with any W2 and any smooth sigma with sigma(0) = 0 (sigma'(0) != 1)
ch07.relu_block_slope the one-sided directional derivative of the loss at a one-weight ReLU block
                      x + h relu(x W^T + b) at W = 0, b = 0 (its multiplier is zero, its slope is not)
ch07.conv1x1_multipliers (dl/dK, dl/dc) of a virtual 1x1 convolution + ReLU at its dirac identity
                      after a Conv + ReLU (checked against autograd through F.conv2d)

The oracles are the closed forms written out here, each confirmed inside the check by finite
differences of the linearised loss sum(d * y) (central for the smooth block, one-sided at the
kink), so a wrong formula in the checker would fail the checker, not the reader. The arrays come
from a drawn seed (hypothesis shrinks one integer) and are shown in a report as drawn values.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from hypothesis import strategies as st

from .. import functional as F
from ..autograd import Tensor
from ._asserts import assert_close, assert_scalar, unpack
from ._core import exercise

# smooth activations with sigma(0) = 0, named as a reader would write them, with sigma'(0)
ACTIVATIONS: list[tuple[str, Callable[[np.ndarray], np.ndarray], float]] = [
    ("sigma(z) = 3 tanh(z / 2)", lambda z: 3 * np.tanh(z / 2), 1.5),
    ("sigma(z) = sin(2 z)", lambda z: np.sin(2 * z), 2.0),
    ("sigma(z) = arctan(z) / 2", lambda z: np.arctan(z) / 2, 0.5),
    ("sigma(z) = z exp(-z^2)", lambda z: z * np.exp(-z * z), 1.0),
]


def _block(x, d, h, w1, b, w2, sigma):
    """The linearised loss sum(d * y) of the block y = x + h sigma(x W1^T + b) W2^T."""
    return float((d * (x + h * sigma(x @ w1.T + b) @ w2.T)).sum())


@exercise(
    "ch07.v2_multipliers",
    max_examples=30,
    points=3,
    forbid=("minisensli.sensli.closed_form.residual_dense_multipliers",),
)
def v2_multipliers(answer, case):
    n = case.draw(st.integers(1, 6), "N")
    w = case.draw(st.integers(2, 4), "w")
    h = case.draw(st.sampled_from([0.5, 0.1, 2.0]), "h")
    name, sigma, slope = case.draw(st.sampled_from(ACTIVATIONS), "activation")
    case.drawn["activation"] = name  # the name, not the function object, in a report
    rng = case.rng()
    x = case.show(rng.standard_normal((n, w)), "x")
    d = case.show(rng.standard_normal((n, w)) / n, "d")
    w2 = case.show(rng.standard_normal((w, w)), "W2")
    got = unpack(answer(x.copy(), d.copy(), h, w2.copy(), sigma), "v2_multipliers", ("dW1", "db"))
    g = h * slope * d @ w2  # dl/d(pre-activation) at W1 = 0, b = 0
    expected_w, expected_b = g.T @ x, g.sum(axis=0)
    # the checker's own sanity check: central differences of the block in one random direction
    dw, db, eps = rng.standard_normal((w, w)), rng.standard_normal(w), 1e-5
    plus = _block(x, d, h, eps * dw, eps * db, w2, sigma)
    minus = _block(x, d, h, -eps * dw, -eps * db, w2, sigma)
    np.testing.assert_allclose((plus - minus) / (2 * eps), (expected_w * dw).sum() + expected_b @ db, rtol=1e-5)
    assert_close(got[0], expected_w, "dl/dW1 (w, w), rows = units of the branch", rtol=1e-6, atol=1e-10)
    assert_close(got[1], expected_b, "dl/db (w,)", rtol=1e-6, atol=1e-10)


@exercise("ch07.relu_block_slope", max_examples=30, points=3)
def relu_block_slope(answer, case):
    n = case.draw(st.integers(1, 6), "N")
    w = case.draw(st.integers(2, 4), "w")
    h = case.draw(st.sampled_from([0.5, 0.1, 2.0]), "h")
    rng = case.rng()
    x = case.show(rng.standard_normal((n, w)), "x (after a tanh: both signs)")
    d = case.show(rng.standard_normal((n, w)) / n, "d")
    dw = case.show(rng.standard_normal((w, w)), "D")
    db = case.show(rng.standard_normal(w), "e")
    got = answer(x.copy(), d.copy(), h, dw.copy(), db.copy())
    expected = float(h * (d * np.maximum(x @ dw.T + db, 0.0)).sum())
    relu = lambda z: np.maximum(z, 0.0)  # noqa: E731
    t = 1e-7
    moved = (_block(x, d, h, t * dw, t * db, np.eye(w), relu) - _block(x, d, h, 0 * dw, 0 * db, np.eye(w), relu)) / t
    np.testing.assert_allclose(moved, expected, rtol=1e-5, atol=1e-9)  # the oracle against a one-sided difference
    assert_scalar(got, expected, "the slope lim (l(tD, te) - l(0, 0)) / t for t -> 0+", rtol=1e-8, atol=1e-12)


@exercise(
    "ch07.conv1x1_multipliers",
    max_examples=25,
    points=2,
    forbid=("minisensli.sensli.closed_form.conv_multipliers", "minisensli.sensli.closed_form.correlate3x3"),
)
def conv1x1_multipliers(answer, case):
    n = case.draw(st.integers(1, 2), "N")
    c = case.draw(st.integers(1, 3), "C")
    height = case.draw(st.integers(1, 4), "H")
    width = case.draw(st.integers(1, 4), "W")
    rng = case.rng()
    a = np.maximum(rng.standard_normal((n, c, height, width)), 0.0)
    a.flat[0] = 0.0  # a ReLU output with exact zeros
    a = case.show(a, "a")
    d = case.show(rng.standard_normal((n, c, height, width)) / n, "d")
    got = unpack(answer(a.copy(), d.copy()), "conv1x1_multipliers", ("dK", "db"))
    g = d * (a > 0)
    expected_k = np.einsum("noyx,niyx->oi", g, a)[:, :, None, None]
    expected_b = g.sum(axis=(0, 2, 3))
    # the oracle against autograd through the package's conv2d at the dirac 1x1 kernel (float64)
    kernel = Tensor(np.eye(c)[:, :, None, None], requires_grad=True)
    bias = Tensor(np.zeros(c), requires_grad=True)
    F.relu(F.conv2d(Tensor(a), kernel, bias)).backward(d)
    np.testing.assert_allclose(kernel.grad, expected_k, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(bias.grad, expected_b, rtol=1e-10, atol=1e-12)
    assert_close(got[0], expected_k, "dl/dK (C, C, 1, 1): [o, i] = output channel, input channel", rtol=1e-8)
    assert_close(got[1], expected_b, "dl/dc (C,)", rtol=1e-8)
