"""conv2d, max_pool2d, avg_pool2d: forward against direct loops, gradients by gradcheck."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minisensli as ms
import minisensli.functional as F
from tests.strategies import arrays, distinct_arrays, tensor


def conv2d_reference(x, w, b, stride, padding):
    """Direct six-fold loop of the cross-correlation formula."""
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    oh = (h + 2 * padding - kh) // stride + 1
    ow = (wd + 2 * padding - kw) // stride + 1
    out = np.zeros((n, o, oh, ow))
    for i in range(oh):
        for j in range(ow):
            patch = xp[:, :, i * stride : i * stride + kh, j * stride : j * stride + kw]
            out[:, :, i, j] = np.einsum("ncuv,ocuv->no", patch, w)
    return out + (0 if b is None else b[None, :, None, None])


def pool_reference(x, k, stride, padding, reduce, fill):
    n, c, h, w = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)), constant_values=fill)
    oh = (h + 2 * padding - k) // stride + 1
    ow = (w + 2 * padding - k) // stride + 1
    out = np.zeros((n, c, oh, ow))
    for i in range(oh):
        for j in range(ow):
            out[:, :, i, j] = reduce(xp[:, :, i * stride : i * stride + k, j * stride : j * stride + k], axis=(2, 3))
    return out


@st.composite
def conv_case(draw):
    n, c, o = draw(st.integers(1, 2)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    k = draw(st.integers(1, 3))
    padding = draw(st.integers(0, 2))
    stride = draw(st.integers(1, 2))
    h = draw(st.integers(max(1, k - 2 * padding), 5))
    w = draw(st.integers(max(1, k - 2 * padding), 5))
    x = draw(arrays((n, c, h, w)))
    weight = draw(arrays((o, c, k, k)))
    bias = draw(st.one_of(st.none(), arrays((o,))))
    return x, weight, bias, stride, padding


@given(case=conv_case())
def test_conv2d_forward_and_gradients(case):
    x, w, b, stride, padding = case
    tx, tw = tensor(x), tensor(w)
    inputs = [tx, tw] + ([tensor(b)] if b is not None else [])
    out = F.conv2d(*inputs, stride=stride, padding=padding)
    np.testing.assert_allclose(out.data, conv2d_reference(x, w, b, stride, padding), rtol=1e-12, atol=1e-13)
    assert ms.gradcheck(lambda *ts: F.conv2d(*ts, stride=stride, padding=padding), inputs)


def test_conv2d_rectangular_stride_and_padding():
    rng = np.random.default_rng(0)
    x, w = tensor(rng.standard_normal((1, 2, 5, 6))), tensor(rng.standard_normal((3, 2, 2, 3)))
    out = F.conv2d(x, w, stride=(2, 1), padding=(1, 0))
    assert out.shape == (1, 3, 3, 4)
    assert ms.gradcheck(lambda x, w: F.conv2d(x, w, stride=(2, 1), padding=(1, 0)), [x, w])


@st.composite
def pool_case(draw, values):
    k = draw(st.integers(1, 3))
    stride = draw(st.integers(1, 3))
    padding = draw(st.integers(0, k // 2))
    h, w = draw(st.integers(k, 6)), draw(st.integers(k, 6))
    x = draw(values((draw(st.integers(1, 2)), draw(st.integers(1, 2)), h, w)))
    return x, k, stride, padding


@given(case=pool_case(distinct_arrays))
def test_max_pool2d(case):
    x, k, stride, padding = case
    t = tensor(x)
    out = F.max_pool2d(t, k, stride, padding)
    np.testing.assert_array_equal(out.data, pool_reference(x, k, stride, padding, np.max, -np.inf))
    assert ms.gradcheck(lambda t: F.max_pool2d(t, k, stride, padding), [t])


@given(case=pool_case(arrays))
def test_avg_pool2d(case):
    x, k, stride, padding = case
    t = tensor(x)
    out = F.avg_pool2d(t, k, stride, padding)
    np.testing.assert_allclose(out.data, pool_reference(x, k, stride, padding, np.mean, 0.0), rtol=1e-13)
    assert ms.gradcheck(lambda t: F.avg_pool2d(t, k, stride, padding), [t])


def test_max_pool_default_stride_is_kernel_size():
    x = ms.Tensor(np.arange(16.0).reshape(1, 1, 4, 4))
    np.testing.assert_array_equal(F.max_pool2d(x, 2).data, [[[[5, 7], [13, 15]]]])


def test_conv2d_errors_name_shapes_and_settings():
    x = ms.Tensor(np.ones((1, 3, 4, 4)))
    with pytest.raises(ValueError, match=r"conv2d: input has 3 channels .* weight expects 2"):
        F.conv2d(x, ms.Tensor(np.ones((4, 2, 3, 3))))
    with pytest.raises(ValueError, match="conv2d: stride must be an int >= 1"):
        F.conv2d(x, ms.Tensor(np.ones((4, 3, 3, 3))), stride=0)
    with pytest.raises(ValueError, match=r"conv2d: expected input \(N, C, H, W\)"):
        F.conv2d(ms.Tensor(np.ones((3, 4, 4))), ms.Tensor(np.ones((4, 3, 3, 3))))
    with pytest.raises(ValueError, match="kernel height 5 is larger than the padded input height 4"):
        F.conv2d(x, ms.Tensor(np.ones((4, 3, 5, 5))))
    with pytest.raises(TypeError, match="conv2d: input, weight and bias need one floating dtype"):
        F.conv2d(ms.Tensor(np.ones((1, 3, 4, 4), dtype=np.int64)), ms.Tensor(np.ones((4, 3, 3, 3))))
    with pytest.raises(ValueError, match="max_pool2d: padding"):
        F.max_pool2d(x, 2, padding=2)
