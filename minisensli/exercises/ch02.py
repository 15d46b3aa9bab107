"""Exercises of Chapter 2 (ops and broadcasting): un-broadcasting a gradient, the backward of a
batched matrix product, the backward of a mean. The package's own backward is the oracle."""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import strategies as st

from ..autograd import Tensor, unbroadcast
from ._asserts import assert_close
from ._core import exercise


def _values(case: Any, shapes: list[tuple[int, ...]], labels: list[str]) -> list[np.ndarray]:
    """Standard-normal arrays of the given shapes from one drawn seed, recorded under ``labels``
    for the failure report. Hypothesis shrinks the shapes and one integer instead of every entry,
    which keeps a failing check quick and its report short."""
    rng = case.rng()
    return [case.show(rng.standard_normal(shape), label) for shape, label in zip(shapes, labels)]


_SIDES = st.integers(1, 4)


@st.composite
def _broadcast_to_shape(draw: Any) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(shape of an input, shape it was broadcast to): leading axes added, size-1 axes stretched."""
    shape = tuple(draw(st.lists(st.sampled_from([1, 2, 3]), max_size=3)))
    leading = tuple(draw(st.lists(_SIDES, max_size=2)))
    return shape, leading + tuple(draw(_SIDES) if n == 1 else n for n in shape)


@exercise("ch02.unbroadcast", max_examples=40, points=2, forbid=("minisensli.autograd.unbroadcast",))
def unbroadcast_grad(answer, case):
    shape, out_shape = case.draw(_broadcast_to_shape(), "shape, broadcast shape")
    (grad,) = _values(case, [out_shape], ["grad"])
    expected = unbroadcast(grad.copy(), shape)
    assert_close(answer(grad.copy(), shape), expected, f"gradient for an input of shape {shape}")


@exercise(
    "ch02.matmul_backward",
    max_examples=30,
    points=2,
    forbid=("minisensli.autograd.Tensor.backward", "minisensli.ops.linalg.MatMul.backward"),
)
def matmul_backward(answer, case):
    batch = tuple(case.draw(st.lists(st.integers(1, 3), max_size=2), "batch axes"))
    n, p, m = case.draw(st.tuples(_SIDES, _SIDES, _SIDES), "n, p, m")
    a, b, g = _values(case, [batch + (n, p), (p, m), batch + (n, m)], ["A", "B", "G"])
    ta, tb = Tensor(a.copy(), requires_grad=True), Tensor(b.copy(), requires_grad=True)
    (ta @ tb).backward(g)

    def compare() -> None:
        got = answer(a.copy(), b.copy(), g.copy())
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            raise AssertionError(f"expected a tuple (dA, dB), got {type(got).__name__}")
        assert_close(got[0], ta.grad, "dA", rtol=1e-10, atol=1e-12)
        assert_close(got[1], tb.grad, "dB", rtol=1e-10, atol=1e-12)

    compare()


@st.composite
def _mean_case(draw: Any) -> tuple[tuple[int, ...], tuple[int, ...], bool]:
    in_shape = tuple(draw(st.lists(_SIDES, min_size=1, max_size=3)))
    axis = draw(st.sets(st.integers(0, len(in_shape) - 1), min_size=1))
    return in_shape, tuple(sorted(axis)), draw(st.booleans())


@exercise(
    "ch02.mean_backward",
    max_examples=40,
    points=2,
    forbid=(
        "minisensli.autograd.Tensor.backward",
        "minisensli.ops.reduce.Mean.backward",
        "minisensli.ops.reduce._expand_to_input",
    ),
)
def mean_backward(answer, case):
    in_shape, axis, keepdims = case.draw(_mean_case(), "in_shape, axis, keepdims")
    x = Tensor(np.zeros(in_shape), requires_grad=True)
    y = x.mean(axis=axis, keepdims=keepdims)
    (grad,) = _values(case, [y.shape], ["grad"])
    y.backward(grad)
    assert_close(answer(grad.copy(), in_shape, axis, keepdims), x.grad, "dL/dx")
