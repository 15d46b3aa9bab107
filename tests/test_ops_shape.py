"""Shape ops: reshape, transpose, flatten, getitem, concatenate, stack, pad."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minisensli as ms
import minisensli.functional as F
from tests.strategies import arrays, shapes, tensor


@given(x=arrays(shapes(min_dims=1)), data=st.data())
def test_reshape_to_a_permuted_shape(x, data):
    new_shape = tuple(data.draw(st.permutations(x.shape)))
    t = tensor(x)
    np.testing.assert_array_equal(t.reshape(new_shape).data, x.reshape(new_shape))
    np.testing.assert_array_equal(t.reshape(-1).data, x.reshape(-1))
    assert ms.gradcheck(lambda t: t.reshape(*new_shape), [t])


@given(x=arrays(shapes(min_dims=1)), data=st.data())
def test_transpose(x, data):
    axes = tuple(data.draw(st.permutations(range(x.ndim))))
    t = tensor(x)
    np.testing.assert_array_equal(t.transpose(axes).data, x.transpose(axes))
    np.testing.assert_array_equal(t.T.data, x.T)
    assert ms.gradcheck(lambda t: t.transpose(*axes), [t])
    assert ms.gradcheck(lambda t: t.T, [t])


@given(x=arrays(shapes(min_dims=2, max_dims=4)))
def test_flatten_keeps_batch_axis(x):
    t = tensor(x)
    np.testing.assert_array_equal(F.flatten(t).data, x.reshape(x.shape[0], -1))
    assert ms.gradcheck(F.flatten, [t])


@given(x=arrays(shapes(min_dims=2, max_dims=3, min_side=2)), data=st.data())
def test_getitem_slices_and_integer_arrays(x, data):
    t = tensor(x)
    n = x.shape[0]
    rows = data.draw(st.lists(st.integers(-n, n - 1), min_size=1, max_size=6))  # repeats allowed
    step = data.draw(st.integers(1, 2))
    for index in [
        np.array(rows),
        (slice(None, None, step), 0),
        (Ellipsis, slice(1, None)),
        (np.array(rows), slice(0, 1)),
        x > 0,
    ]:
        np.testing.assert_array_equal(t[index].data, x[index])
        assert ms.gradcheck(lambda t, index=index: t[index], [t])


def test_getitem_repeated_index_adds_gradients():
    x = ms.Tensor([1.0, 2.0, 3.0], requires_grad=True)
    x[[0, 0, 2]].sum().backward()
    np.testing.assert_array_equal(x.grad, [2.0, 0.0, 1.0])


def test_getitem_bad_index_names_shape():
    with pytest.raises(IndexError, match=r"getitem: .* shape \(3,\)"):
        ms.Tensor([1.0, 2.0, 3.0])[5]


@given(data=st.data())
def test_concatenate_and_stack(data):
    base = data.draw(shapes(min_dims=1, max_dims=3))
    axis = data.draw(st.integers(-len(base), len(base) - 1))
    sizes = data.draw(st.lists(st.integers(1, 3), min_size=1, max_size=3))
    parts = []
    for size in sizes:
        shape = list(base)
        shape[axis] = size
        parts.append(tensor(data.draw(arrays(tuple(shape)))))
    out = ms.concatenate(parts, axis=axis)
    np.testing.assert_array_equal(out.data, np.concatenate([p.data for p in parts], axis=axis))
    assert ms.gradcheck(lambda *ps: ms.concatenate(list(ps), axis=axis), parts)
    same = [tensor(data.draw(arrays(base))) for _ in sizes]
    np.testing.assert_array_equal(ms.stack(same, axis=axis).data, np.stack([p.data for p in same], axis=axis))
    assert ms.gradcheck(lambda *ps: ms.stack(list(ps), axis=axis), same)


@given(x=arrays(shapes(min_dims=1)), data=st.data())
def test_pad(x, data):
    widths = tuple(data.draw(st.tuples(st.integers(0, 2), st.integers(0, 2))) for _ in range(x.ndim))
    value = data.draw(st.sampled_from([0.0, -1.5]))
    t = tensor(x)
    np.testing.assert_array_equal(F.pad(t, widths, value).data, np.pad(x, widths, constant_values=value))
    assert ms.gradcheck(lambda t: F.pad(t, widths, value), [t])


def test_shape_errors_name_op_and_shapes():
    t = ms.Tensor(np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"reshape: cannot reshape a tensor of shape \(2, 3\)"):
        t.reshape(4, 2)
    with pytest.raises(ValueError, match="transpose: axes"):
        t.transpose(0, 0)
    with pytest.raises(ValueError, match="concatenate: shapes"):
        ms.concatenate([t, ms.Tensor(np.ones((2, 4)))], axis=0)
    with pytest.raises(ValueError, match="pad: pad_width"):
        F.pad(t, ((1, 1),))
