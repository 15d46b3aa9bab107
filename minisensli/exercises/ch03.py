"""Exercises of chapter 3 (gradient checking and property-based tests).

ch03.central_difference      central differences of a scalar function of an array, entry by entry
ch03.within_tolerance        gradcheck's pass/fail rule per entry: |a - n| <= atol + rtol |n|
ch03.backward_is_correct     an oracle: decide whether a hand-written backward is right (random upstream)
ch03.tanh_double_backward    the backward of tanh's backward: d/dx and d/dg of sum(v * g * (1 - tanh(x)^2))
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from ..autograd import Tensor, grad
from ..gradcheck import numerical_gradients
from ._asserts import assert_close
from ._core import exercise

# --- ch03.central_difference --------------------------------------------------------------

# Scalar functions of an array, written with Tensor ops so that ms.numerical_gradients is the
# oracle; the reader's function receives the same function on NumPy arrays.
_SCALAR_FUNCTIONS = {
    "sum(w * tanh(x))": lambda t, w: (w * t.tanh()).sum(),
    "sum(w * x**3)": lambda t, w: (w * t**3).sum(),
    "sum(w * x)**2": lambda t, w: (w * t).sum() ** 2,
    "sum(w * exp(x / 2))": lambda t, w: (w * (t * 0.5).exp()).sum(),
}


@exercise(
    "ch03.central_difference",
    max_examples=30,
    points=1,
    forbid=("minisensli.gradcheck.numerical_gradients", "minisensli.gradcheck.gradcheck"),
)
def central_difference(answer, case):
    shape = case.draw(st.sampled_from([(1,), (3,), (2, 2), (2, 3), (3, 1), (2, 1, 3)]), "shape")
    name = case.draw(st.sampled_from(sorted(_SCALAR_FUNCTIONS)), "f")
    rng = case.rng()
    x = case.show(rng.uniform(-2, 2, shape), "x")
    w = case.show(rng.uniform(-2, 2, shape), "w")
    eps = case.draw(st.sampled_from([1e-2, 1e-3, 1e-4]), "eps")
    formula = _SCALAR_FUNCTIONS[name]

    def f(array):
        return float(formula(Tensor(np.asarray(array, dtype=np.float64)), w).data)

    given = x.copy()
    got = answer(f, given, eps)
    assert_close(given, x, "x after your function ran (restore every entry you perturb)", rtol=1e-12, atol=1e-12)
    expected = numerical_gradients(lambda t: formula(t, w), [Tensor(x, requires_grad=True)], 1.0, eps=eps)[0]
    assert_close(got, expected, f"central differences of f = {name} with eps={eps}", rtol=1e-6, atol=1e-9)


# --- ch03.within_tolerance ----------------------------------------------------------------

# Values on a grid of quarters and tolerances that are powers of two: every sum and product
# below is exact in floating point, so entries sit exactly on the boundary often enough to
# tell <= from <.
_GRID = np.arange(-4, 5) / 4


@exercise("ch03.within_tolerance", max_examples=40, points=1, forbid=("numpy.isclose", "numpy.allclose"))
def within_tolerance(answer, case):
    shape = case.draw(hnp.array_shapes(min_dims=1, max_dims=2, min_side=2, max_side=4), "shape")
    rng = case.rng()
    analytic = case.show(rng.choice(_GRID, shape), "analytic")
    numeric = case.show(rng.choice(_GRID, shape), "numeric")
    atol = case.draw(st.sampled_from([0.0, 0.25, 0.5]), "atol")
    rtol = case.draw(st.sampled_from([0.0, 0.5, 1.0]), "rtol")
    got = answer(analytic.copy(), numeric.copy(), atol, rtol)
    expected = np.abs(analytic - numeric) <= atol + rtol * np.abs(numeric)
    got_array = np.asarray(got)
    assert got_array.shape == expected.shape, f"the mask has shape {got_array.shape}, expected {expected.shape}"
    assert got_array.dtype == bool, f"expected a boolean mask, got dtype {got_array.dtype}"
    mismatches = np.argwhere(got_array != expected)
    if len(mismatches):
        # name the entry and both sides of the rule: a boundary case (equal sides) or a tolerance
        # taken relative to the wrong value shows at a glance
        i = tuple(int(k) for k in mismatches[0])
        gap, allowed = abs(analytic[i] - numeric[i]), atol + rtol * abs(numeric[i])
        raise AssertionError(
            f"entry {i}: your mask says {bool(got_array[i])}, expected {bool(expected[i])}; there "
            f"|analytic - numeric| = {gap:g} and atol + rtol |numeric| = {allowed:g}"
        )


# --- ch03.backward_is_correct -------------------------------------------------------------


def _softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _reverse_cumsum(g):
    return np.flip(np.cumsum(np.flip(g, axis=-1), axis=-1), axis=-1)


# name -> (forward, correct backward, wrong backward); every op acts along the last axis.
# The wrong backwards of 'reverse' and 'softmax' agree with the right ones when the upstream
# gradient is all ones: only a random upstream gradient exposes them. The inputs have distinct
# entries on a grid of quarters, so that every wrong backward is wrong by a clear margin
# (softmax of a constant row would make its wrong backward right).
_OPS = {
    "reverse": (lambda x: np.flip(x, axis=-1), lambda x, g: np.flip(g, axis=-1), lambda x, g: g.copy()),
    "softmax": (
        _softmax,
        lambda x, g: _softmax(x) * (g - (g * _softmax(x)).sum(axis=-1, keepdims=True)),
        lambda x, g: _softmax(x) * (g - g.mean(axis=-1, keepdims=True)),
    ),
    "cumsum": (lambda x: np.cumsum(x, axis=-1), lambda x, g: _reverse_cumsum(g), lambda x, g: np.cumsum(g, axis=-1)),
    "square": (lambda x: x**2, lambda x, g: 2 * x * g, lambda x, g: x * g),
}

_QUARTERS = np.arange(-8, 9) / 4


@exercise(
    "ch03.backward_is_correct",
    max_examples=24,
    points=2,
    forbid=("minisensli.gradcheck.numerical_gradients", "minisensli.gradcheck.gradcheck"),
)
def backward_is_correct(answer, case):
    name = case.draw(st.sampled_from(sorted(_OPS)), "op")
    right = case.draw(st.booleans(), "backward is right")
    shape = case.draw(st.sampled_from([(2,), (3,), (4,), (2, 3), (3, 2)]), "shape")
    x = case.show(case.rng().choice(_QUARTERS, shape, replace=False), "x")
    forward, good, bad = _OPS[name]
    verdict = answer(forward, good if right else bad, x.copy())
    assert isinstance(verdict, (bool, np.bool_)), f"expected True or False, got {type(verdict).__name__}"
    if right:
        assert verdict, f"the backward of {name} is right, but your function says it is wrong"
    else:
        assert not verdict, f"the backward of {name} is wrong, but your function says it is right"


# --- ch03.tanh_double_backward ------------------------------------------------------------


@exercise("ch03.tanh_double_backward", max_examples=30, points=2, forbid=("minisensli.grad", "minisensli.hvp"))
def tanh_double_backward(answer, case):
    shape = case.draw(st.sampled_from([(1,), (3,), (2, 3)]), "shape")
    rng = case.rng()
    x = case.show(rng.uniform(-2.5, 2.5, shape), "x")
    g = case.show(rng.standard_normal(shape), "g (tanh's upstream gradient)")
    v = case.show(rng.standard_normal(shape), "v (the upstream gradient of tanh's backward)")
    got = answer(x.copy(), g.copy(), v.copy())
    if not isinstance(got, tuple) or len(got) != 2:
        raise AssertionError(f"expected a pair (d/dx, d/dg), got {type(got).__name__}")
    # the oracle: the engine's recorded backward of tanh, differentiated once more
    xt, gt = Tensor(x, requires_grad=True), Tensor(g, requires_grad=True)
    (first,) = grad(xt.tanh(), [xt], grad_outputs=gt, create_graph=True)
    assert first is not None
    d_x, d_g = grad(first, [xt, gt], grad_outputs=v)
    assert d_x is not None and d_g is not None
    assert_close(got[0], d_x.data, "d/dx of sum(v * g * (1 - tanh(x)^2))", rtol=1e-10, atol=1e-12)
    assert_close(got[1], d_g.data, "d/dg of sum(v * g * (1 - tanh(x)^2))", rtol=1e-10, atol=1e-12)
