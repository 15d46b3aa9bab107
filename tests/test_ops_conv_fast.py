"""The fast convolution and pooling kernels against the general (padded) ones they replace.

conv_kernels.im2col_fields / col2im_fields read and write the unpadded input; conv.im2col /
col2im work on a padded copy. pool_kernels handles max pooling over disjoint windows; the
general running-maximum path of pool.MaxPool2d handles every window. Both pairs must give the
same arrays, forward and backward, for every shape, stride and padding (float64, odd sizes,
rectangular kernels, channel-major and C-ordered inputs, ties and NaN for pooling).
"""

from unittest import mock

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minisensli as ms
import minisensli.functional as F
from minisensli.ops import conv, conv_kernels, pool, pool_kernels
from tests.strategies import arrays


@st.composite
def conv_geometry(draw):
    """Batch, channels, input size, kernel, stride, padding: odd sizes, rectangular settings,
    padding up to more than half the kernel (taps that read only padding)."""
    kernel = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    padding = (draw(st.integers(0, 3)), draw(st.integers(0, 3)))
    h = draw(st.integers(max(1, kernel[0] - 2 * padding[0]), 7))
    w = draw(st.integers(max(1, kernel[1] - 2 * padding[1]), 7))
    return (draw(st.integers(1, 3)), draw(st.integers(1, 3)), h, w), kernel, stride, padding


def maybe_channel_major(x, channel_major: bool):
    """The same values as an (N, C, H, W) view of a (C, N, H, W) array, as conv outputs are."""
    return np.ascontiguousarray(x.transpose(1, 0, 2, 3)).transpose(1, 0, 2, 3) if channel_major else x


@given(geometry=conv_geometry(), data=st.data(), channel_major=st.booleans())
def test_im2col_fields_equals_im2col_of_padded_input(geometry, data, channel_major):
    shape, kernel, stride, padding = geometry
    x = data.draw(arrays(shape))
    expected = conv.im2col(conv.pad_spatial(x, padding), kernel, stride)
    got = conv_kernels.im2col_fields(maybe_channel_major(x, channel_major), kernel, stride, padding)
    np.testing.assert_array_equal(got, expected)


@given(geometry=conv_geometry(), data=st.data())
def test_col2im_fields_equals_unpadded_col2im(geometry, data):
    shape, kernel, stride, padding = geometry
    oh, ow = conv_kernels.conv_out_hw(shape, kernel, stride, padding)
    dcols = data.draw(arrays((shape[1], *kernel, shape[0], oh, ow)))
    padded_shape = (*shape[:2], shape[2] + 2 * padding[0], shape[3] + 2 * padding[1])
    expected = conv.unpad_spatial(conv.col2im(dcols, padded_shape, stride), shape, padding)
    got = conv_kernels.col2im_fields(dcols, shape, stride, padding)
    assert got.shape == shape
    # bit for bit: the taps add up in col2im's order, so trainings repeat the general path's numbers
    np.testing.assert_array_equal(got, expected)


@st.composite
def same_geometry(draw):
    """'same' convolutions (stride 1, 2p = k - 1): the flat-shift path; images down to 1x1,
    smaller than the kernel, so that some taps read nothing but padding."""
    kernel = (draw(st.sampled_from([1, 3, 5])), draw(st.sampled_from([1, 3, 5])))
    padding = ((kernel[0] - 1) // 2, (kernel[1] - 1) // 2)
    shape = (draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 6)), draw(st.integers(1, 6)))
    return shape, kernel, (1, 1), padding


@given(geometry=same_geometry(), data=st.data())
def test_flat_shift_paths_equal_the_padded_kernels(geometry, data):
    shape, kernel, stride, padding = geometry
    assert conv_kernels.flat_shift_applies(shape, kernel, stride, padding)
    x = maybe_channel_major(data.draw(arrays(shape)), True)  # the flat path needs channel-major x
    expected = conv.im2col(conv.pad_spatial(x, padding), kernel, stride)
    np.testing.assert_array_equal(conv_kernels.im2col_fields(x, kernel, stride, padding), expected)
    dcols = data.draw(arrays((shape[1], *kernel, shape[0], *shape[2:])))
    padded_shape = (*shape[:2], shape[2] + 2 * padding[0], shape[3] + 2 * padding[1])
    reference = conv.unpad_spatial(conv.col2im(dcols, padded_shape, stride), shape, padding)
    got = conv_kernels.col2im_fields(dcols.copy(), shape, stride, padding, consume=True)
    np.testing.assert_array_equal(got, reference)
    np.testing.assert_array_equal(conv_kernels.col2im_fields(dcols, shape, stride, padding), reference)


@given(geometry=same_geometry(), data=st.data(), channel_major=st.booleans())
def test_im2col_fields_fills_out(geometry, data, channel_major):
    """out: the columns land in the given buffer (any content before: every entry is written)."""
    shape, kernel, stride, padding = geometry
    x = maybe_channel_major(data.draw(arrays(shape)), channel_major)
    expected = conv.im2col(conv.pad_spatial(x, padding), kernel, stride)
    out = np.full(expected.shape, np.nan)
    assert conv_kernels.im2col_fields(x, kernel, stride, padding, out=out) is out
    np.testing.assert_array_equal(out, expected)


def test_im2col_fields_checks_out():
    x = np.ones((2, 3, 4, 4))
    with pytest.raises(ValueError, match="out must be a C-contiguous float64 array of shape"):
        conv_kernels.im2col_fields(x, (3, 3), (1, 1), (1, 1), out=np.empty((3, 3, 3, 2, 4, 4), dtype=np.float32))
    with pytest.raises(ValueError, match="out must be"):
        conv_kernels.im2col_fields(x, (3, 3), (1, 1), (1, 1), out=np.empty((3, 3, 3, 2, 4, 8))[..., ::2])


@given(geometry=same_geometry(), data=st.data(), dtype=st.sampled_from([np.float64, np.float32]))
def test_flat_shift_im2col_all_taps_at_once_equals_the_per_tap_loop(geometry, data, dtype):
    """NumPy's one-copy im2col (_im2col_flat_all_taps) against the per-tap loop that CuPy
    arrays take and against the padded kernel: the same bits, NaN, inf and -0.0 included."""
    shape, kernel, stride, padding = geometry
    values = st.one_of(st.floats(-3, 3, width=32), st.sampled_from([np.nan, np.inf, -np.inf, -0.0]))
    x = maybe_channel_major(data.draw(hnp.arrays(dtype, shape, elements=values)), True)
    bits = np.uint64 if dtype == np.float64 else np.uint32
    got = conv_kernels.im2col_fields(x, kernel, stride, padding)
    np.testing.assert_array_equal(got.view(bits), conv.im2col(conv.pad_spatial(x, padding), kernel, stride).view(bits))
    with mock.patch.object(conv_kernels, "_im2col_flat_all_taps", lambda *args: False):
        np.testing.assert_array_equal(conv_kernels.im2col_fields(x, kernel, stride, padding).view(bits), got.view(bits))


@given(geometry=same_geometry(), data=st.data(), out_channels=st.integers(1, 4), channel_major=st.booleans())
def test_input_grad_by_flipped_conv_equals_col2im(geometry, data, out_channels, channel_major):
    """The input gradient of a 'same' convolution as a convolution of g with the flipped kernel
    (taken when O <= C) against dcols = K^T g and col2im, the path of every other convolution:
    equal to rounding (the sums run in another order), for O below, equal to and above C."""
    shape, kernel, stride, padding = geometry
    n, c, h, w = shape
    weight = data.draw(arrays((out_channels, c, *kernel)))
    grad = maybe_channel_major(data.draw(arrays((n, out_channels, h, w))), channel_major)
    g = conv_kernels.channel_major(grad)
    dcols = (weight.reshape(out_channels, -1).T @ g).reshape(c, *kernel, n, h, w)
    reference = conv_kernels.col2im_fields(dcols, shape, stride, padding)
    got = conv_kernels.input_grad_by_flipped_conv(g, weight, shape, padding)
    assert got.shape == shape and got.transpose(1, 0, 2, 3).flags.c_contiguous  # channel-major, like col2im's
    np.testing.assert_allclose(got, reference, rtol=1e-12, atol=1e-12)
    chosen = conv_kernels.input_grad_by_col2im(g, weight, (h, w), shape, stride, padding)
    np.testing.assert_allclose(chosen, reference, rtol=1e-12, atol=1e-12)


def general_conv2d(x, w, b, stride, padding):
    """conv2d by the general padded path: pad, im2col, one GEMM; backward by col2im + unpad."""
    x_pad = conv.pad_spatial(x, padding)
    cols = conv.im2col(x_pad, w.shape[2:], stride)
    o, (oh, ow) = w.shape[0], cols.shape[4:]
    cols2 = cols.reshape(-1, x.shape[0] * oh * ow)
    out = (w.reshape(o, -1) @ cols2 + b[:, None]).reshape(o, x.shape[0], oh, ow).transpose(1, 0, 2, 3)

    def backward(grad):
        g = grad.transpose(1, 0, 2, 3).reshape(o, -1)
        dcols = (w.reshape(o, -1).T @ g).reshape(cols.shape)
        dx = conv.unpad_spatial(conv.col2im(dcols, x_pad.shape, stride), x.shape, padding)
        return dx, (g @ cols2.T).reshape(w.shape), g.sum(axis=1)

    return out, backward


@given(geometry=conv_geometry(), data=st.data(), channel_major=st.booleans())
def test_conv2d_fast_path_equals_general_path(geometry, data, channel_major):
    shape, kernel, stride, padding = geometry
    x = data.draw(arrays(shape))
    w = data.draw(arrays((data.draw(st.integers(1, 3)), shape[1], *kernel)))
    b = data.draw(arrays((w.shape[0],)))
    expected, backward = general_conv2d(x, w, b, stride, padding)
    tx = ms.Tensor(maybe_channel_major(x, channel_major), requires_grad=True)
    tw, tb = ms.Tensor(w, requires_grad=True), ms.Tensor(b, requires_grad=True)
    out = F.conv2d(tx, tw, tb, stride=stride, padding=padding)
    np.testing.assert_allclose(out.data, expected, rtol=1e-13, atol=1e-13)
    grad = data.draw(arrays(expected.shape))
    out.backward(grad)
    for got, want in zip((tx.grad, tw.grad, tb.grad), backward(grad)):
        np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-13)


@st.composite
def pool_geometry(draw):
    """Disjoint windows (stride >= kernel, no padding) of any size, odd inputs included."""
    kernel = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    stride = (draw(st.integers(kernel[0], 4)), draw(st.integers(kernel[1], 4)))
    h, w = draw(st.integers(kernel[0], 9)), draw(st.integers(kernel[1], 9))
    return (draw(st.integers(1, 3)), draw(st.integers(1, 3)), h, w), kernel, stride


def tie_prone(shape):
    """Values from a few levels, so that windows often hold their maximum twice (and -0.0 vs 0.0),
    and NaN now and then (the first NaN of a window is its maximum's tap)."""
    return hnp.arrays(np.float64, shape, elements=st.sampled_from([-1.0, -0.0, 0.0, 0.5, 1.0, 1.0, np.nan]))


GATHER = {"gather": 10**9, "strided": 0}  # GATHER_BELOW_WIDTH that forces each variant of the fast path


def pool_both_paths(x, grad, kernel, stride, variant="gather"):
    """(output, input gradient, saved tap index) of max_pool2d by the fast path (its one-gather
    or its strided-view variant) and by the general path."""
    results = []
    for fast in (True, False):
        with (
            mock.patch.object(pool, "windows_disjoint", lambda *a, fast=fast: fast),
            mock.patch.object(pool_kernels, "GATHER_BELOW_WIDTH", GATHER[variant]),
        ):
            t = ms.Tensor(x, requires_grad=True)
            out = F.max_pool2d(t, kernel, stride)
            out.backward(grad, retain_graph=True)  # keeps the saved tap index for the comparison
            results.append((out.data, t.grad, out._ctx.saved_arrays[0]))
    return results


def strided_view(x):
    """The same values as a non-contiguous view (every other entry of a wider array): neither
    NCHW nor channel-major, so the fast path reads it by strided views even when gathering."""
    wide = np.zeros((*x.shape[:3], 2 * x.shape[3]), dtype=x.dtype)
    wide[..., ::2] = x
    return wide[..., ::2]


@given(
    geometry=pool_geometry(),
    data=st.data(),
    layout=st.sampled_from(["nchw", "channel_major", "strided"]),
    ties=st.booleans(),
    variant=st.sampled_from(sorted(GATHER)),
)
def test_max_pool_disjoint_equals_general_path(geometry, data, layout, ties, variant):
    shape, kernel, stride = geometry
    x = data.draw(tie_prone(shape) if ties else arrays(shape))
    x = strided_view(x) if layout == "strided" else maybe_channel_major(x, layout == "channel_major")
    oh, ow = (shape[2] - kernel[0]) // stride[0] + 1, (shape[3] - kernel[1]) // stride[1] + 1
    grad = maybe_channel_major(data.draw(arrays((*shape[:2], oh, ow))), data.draw(st.booleans()))
    (fast_out, fast_dx, fast_arg), (out, dx, arg) = pool_both_paths(x, grad, kernel, stride, variant)
    np.testing.assert_array_equal(fast_out, out)
    np.testing.assert_array_equal(fast_dx, dx)
    np.testing.assert_array_equal(fast_arg, arg)  # the saved tap index: the first maximum in both


@given(geometry=pool_geometry(), data=st.data(), channel_major=st.booleans())
def test_max_pool_gather_and_strided_variants_agree(geometry, data, channel_major):
    """The two variants of the fast path on the same input: the same maxima, tap index and
    gradient, NaN, inf and -0.0 among the inputs, in the same memory layout."""
    shape, kernel, stride = geometry
    values = st.one_of(st.floats(-3, 3), st.sampled_from([np.nan, np.inf, -np.inf, -0.0, 0.0]))
    x = maybe_channel_major(data.draw(hnp.arrays(np.float64, shape, elements=values)), channel_major)
    oh, ow = (shape[2] - kernel[0]) // stride[0] + 1, (shape[3] - kernel[1]) // stride[1] + 1
    grad = maybe_channel_major(data.draw(arrays((*shape[:2], oh, ow))), channel_major)
    results = []
    for variant in ("gather", "strided"):
        with mock.patch.object(pool_kernels, "GATHER_BELOW_WIDTH", GATHER[variant]):
            best, arg = pool_kernels.max_pool_disjoint(x, kernel, stride, (oh, ow))
            dx = pool_kernels.max_pool_disjoint_grad(grad, arg, shape, kernel, stride)
            results.append((best, arg, dx))
    for gathered, strided in zip(*results):
        # equal values, NaN where NaN (the sign of a zero gradient may differ: +0 written vs -0 * 0)
        np.testing.assert_array_equal(gathered, strided)
        for array in (gathered, strided):  # both keep the input's layout
            assert (array.transpose(1, 0, 2, 3) if channel_major else array).flags.c_contiguous


def test_max_pool_without_gradient_skips_the_tap_index():
    """Under no_grad (evaluation) max pooling computes only the maxima: the same values, nothing
    saved; with a gradient the tap index is saved."""
    x = maybe_channel_major(np.random.default_rng(1).standard_normal((3, 4, 6, 6)), True)
    with ms.no_grad():
        plain = F.max_pool2d(ms.Tensor(x, requires_grad=True), 2)
    assert plain._ctx is None
    assert pool_kernels.max_pool_disjoint(x, (2, 2), (2, 2), (3, 3), with_arg=False)[1] is None
    recorded = F.max_pool2d(ms.Tensor(x, requires_grad=True), 2)
    np.testing.assert_array_equal(plain.data, recorded.data)
    assert recorded._ctx.saved_arrays[0].dtype == np.uint8


def test_max_pool_disjoint_takes_the_first_nan_like_the_general_path():
    x = np.array([[[[1.0, np.nan, 2.0, 0.0], [np.nan, 0.0, 1.0, 3.0]]]])
    grad = np.array([[[[5.0, 7.0]]]])
    (fast_out, fast_dx, fast_arg), (out, dx, arg) = pool_both_paths(x, grad, (2, 2), (2, 2))
    assert np.isnan(fast_out[0, 0, 0, 0]) and fast_out[0, 0, 0, 1] == 3.0
    np.testing.assert_array_equal(fast_out, out)
    np.testing.assert_array_equal(fast_arg, arg)
    # the first NaN of the window (row-major) takes the gradient, as the general path defines
    np.testing.assert_array_equal(fast_dx, [[[[0.0, 5.0, 0.0, 0.0], [0.0, 0.0, 0.0, 7.0]]]])
    np.testing.assert_array_equal(fast_dx, dx)


@pytest.mark.parametrize("variant", sorted(GATHER))
def test_max_pool_disjoint_keeps_channel_major_layout(variant):
    x = maybe_channel_major(np.random.default_rng(0).standard_normal((4, 3, 6, 6)), True)
    with mock.patch.object(pool_kernels, "GATHER_BELOW_WIDTH", GATHER[variant]):
        best, arg = pool_kernels.max_pool_disjoint(x, (2, 2), (2, 2), (3, 3))
        dx = pool_kernels.max_pool_disjoint_grad(np.ones(best.shape), arg, x.shape, (2, 2), (2, 2))
    for array in (best, arg, dx):  # a channel-major net's next im2col reads contiguous rows
        assert array.transpose(1, 0, 2, 3).flags.c_contiguous


@pytest.mark.parametrize("stride, padding", [(1, 0), (2, 1), ((1, 2), (2, 0))])
def test_conv2d_and_pooling_on_an_empty_batch(stride, padding):
    """N = 0 gives correctly shaped empty outputs, zero weight and bias gradients."""
    x = ms.Tensor(np.zeros((0, 3, 5, 6)), requires_grad=True)
    w = ms.Tensor(np.ones((4, 3, 3, 3)), requires_grad=True)
    b = ms.Tensor(np.ones(4), requires_grad=True)
    y = F.conv2d(x, w, b, stride=stride, padding=padding)
    expected = conv_kernels.conv_out_hw(
        x.shape, (3, 3), conv.pair(stride, "s", "t", 1), conv.pair(padding, "p", "t", 0)
    )
    assert y.shape == (0, 4, *expected)
    z = F.max_pool2d(y, 1) if min(expected) < 2 else F.max_pool2d(y, 2)
    (z.sum() + F.avg_pool2d(y, 1).sum()).backward()
    assert x.grad.shape == x.shape
    np.testing.assert_array_equal(w.grad, np.zeros(w.shape))
    np.testing.assert_array_equal(b.grad, np.zeros(4))
