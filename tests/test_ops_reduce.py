"""Reductions sum, mean, max, min: forward against NumPy, gradients by gradcheck."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minisensli as ms
from tests.strategies import arrays, distinct_arrays, shapes, tensor


@st.composite
def array_and_axis(draw, values=arrays):
    shape = draw(shapes(min_dims=1))
    x = draw(values(shape))
    ndim = len(shape)
    axis = draw(
        st.one_of(
            st.none(),
            st.integers(-ndim, ndim - 1),
            st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim, unique=True).map(tuple),
        )
    )
    return x, axis, draw(st.booleans())


@pytest.mark.parametrize("name", ["sum", "mean"])
@given(case=array_and_axis())
def test_sum_and_mean(name, case):
    x, axis, keepdims = case
    t = tensor(x)
    out = getattr(t, name)(axis=axis, keepdims=keepdims)
    expected = getattr(np, name)(x, axis=axis, keepdims=keepdims)
    np.testing.assert_allclose(out.data, expected, rtol=1e-14)
    assert ms.gradcheck(lambda t: getattr(t, name)(axis=axis, keepdims=keepdims), [t])


@pytest.mark.parametrize("name", ["max", "min"])
@given(case=array_and_axis(values=distinct_arrays))
def test_max_and_min(name, case):
    x, axis, keepdims = case
    t = tensor(x)
    out = getattr(t, name)(axis=axis, keepdims=keepdims)
    np.testing.assert_array_equal(out.data, getattr(np, name)(x, axis=axis, keepdims=keepdims))
    assert ms.gradcheck(lambda t: getattr(t, name)(axis=axis, keepdims=keepdims), [t])


def test_max_gradient_goes_to_first_argmax_on_ties():
    x = ms.Tensor([[1.0, 3.0, 3.0], [2.0, 2.0, 0.0]], requires_grad=True)
    x.max(axis=1).sum().backward()
    np.testing.assert_array_equal(x.grad, [[0, 1, 0], [1, 0, 0]])


def test_max_over_all_axes_gives_one_entry():
    x = ms.Tensor(np.full((2, 2), 7.0), requires_grad=True)
    x.max().backward()
    assert x.grad.sum() == 1.0 and x.grad[0, 0] == 1.0


def test_reduction_axis_out_of_range_names_op():
    with pytest.raises(ValueError, match="sum: axis 2 is out of range for a tensor with 2 dimensions"):
        ms.Tensor(np.ones((2, 3))).sum(axis=2)
    with pytest.raises(ValueError, match="max: cannot reduce over an empty axis"):
        ms.Tensor(np.ones((0, 3))).max(axis=0)
