"""Exercises of chapter 7 (virtual layers and their closed-form sensitivities).

ch07.dense_multiplier        dl/dV = (d * 1[x > 0])^T x of a virtual Dense + ReLU at V = I
ch07.correlate3x3            the kernel gradient of a 3x3 'same' convolution (a correlation)
ch07.residual_v1_multiplier  dl/dW2 = h d^T tanh(0.8 x) of a two-weight tanh block at its v1 identity

Oracles: the package's closed forms (sensli.dense_multipliers, sensli.residual_dense_multipliers)
and autograd through F.conv2d. The arrays come from a drawn seed (hypothesis then shrinks one
integer, so a wrong answer is reported quickly) and are shown in the report as drawn values.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from .. import functional as F
from ..autograd import Tensor
from ..sensli import Site, dense_multipliers, residual_dense_multipliers
from ._asserts import assert_close
from ._core import exercise


def _relu_output(rng: np.random.Generator, n: int, w: int) -> np.ndarray:
    """A ReLU output: about half the entries exactly 0 (always x[0, 0]), the others positive."""
    x = np.maximum(rng.standard_normal((n, w)), 0.0)
    x[0, 0] = 0.0
    return x


@exercise(
    "ch07.dense_multiplier",
    max_examples=30,
    points=2,
    forbid=("minisensli.sensli.closed_form.dense_multipliers", "minisensli.sensli.closed_form.site_multipliers"),
)
def dense_multiplier(answer, case):
    n = case.draw(st.integers(1, 6), "N")
    w = case.draw(st.integers(2, 5), "w")
    rng = case.rng()
    x = case.show(_relu_output(rng, n, w), "x")
    d = case.show(rng.standard_normal((n, w)) / n, "d")
    expected = dense_multipliers(x, d)["weight"]
    assert_close(answer(x.copy(), d.copy()), expected, "dl/dV (mask 1[x > 0]; rows = output units)")


@exercise(
    "ch07.correlate3x3",
    max_examples=25,
    points=2,
    forbid=(
        "minisensli.autograd.Tensor.backward",
        "minisensli.sensli.closed_form.correlate3x3",
        "minisensli.sensli.closed_form.conv_multipliers",
        "minisensli.ops.conv.Conv2d.backward",
    ),
)
def correlate3x3(answer, case):
    n = case.draw(st.integers(1, 2), "N")
    c = case.draw(st.integers(1, 3), "C")
    o = case.draw(st.integers(1, 3), "O")
    height = case.draw(st.integers(3, 5), "H")
    width = case.draw(st.integers(3, 5), "W")
    rng = case.rng()
    x = case.show(rng.standard_normal((n, c, height, width)), "x")
    g = case.show(rng.standard_normal((n, o, height, width)), "g")
    kernel = Tensor(np.zeros((o, c, 3, 3)), requires_grad=True)
    F.conv2d(Tensor(x), kernel, padding=1).backward(g)
    assert_close(answer(x.copy(), g.copy()), kernel.grad, "kernel gradient (O, C, 3, 3)")


@exercise(
    "ch07.residual_v1_multiplier",
    max_examples=30,
    points=3,
    forbid=(
        "minisensli.sensli.closed_form.residual_dense_multipliers",
        "minisensli.sensli.closed_form.site_multipliers",
    ),
)
def residual_v1_multiplier(answer, case):
    n = case.draw(st.integers(1, 6), "N")
    w = case.draw(st.integers(2, 5), "w")
    h = case.draw(st.sampled_from([0.1, 0.5, 0.7, 2.0]), "h")
    rng = case.rng()
    x = case.show(2 * rng.standard_normal((n, w)), "x")
    d = case.show(rng.standard_normal((n, w)) / n, "d")
    site = Site(0, "residual_dense", w, "tanh", weights=2, h=h, variant="v1")
    expected = residual_dense_multipliers(x, d, site)["outer.weight"]
    assert_close(answer(x.copy(), d.copy(), h), expected, "dl/dW2 at W2 = 0, W1 = 0.8 I, b = 0")
