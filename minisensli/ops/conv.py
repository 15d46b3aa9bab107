"""2-D convolution (cross-correlation, NCHW) by im2col + one matrix product.

For input x (N, C, H, W), weight K (O, C, kh, kw), stride s and zero padding p:

    y[n, o, i, j] = b[o] + sum_{c, u, v} K[o, c, u, v] * x_pad[n, c, s*i + u, s*j + v]

im2col lays every receptive field out as one column: cols (C*kh*kw, N*OH*OW), built with one
strided slice copy per kernel tap (kh*kw copies of contiguous rows: much faster than gathering
windows entry by entry). Then y = K.reshape(O, -1) @ cols, and backward is two more products,
dK = g @ cols^T and dcols = K^T @ g, folded back onto the input by col2im (im2col's adjoint:
one slice-add per tap). The same code runs on numpy and cupy.

im2col / col2im / pad_spatial / unpad_spatial here are the general, padded formulation (and the
reference the fast kernels are tested against). Conv2d itself runs conv_kernels: the same
columns and the same sums (bit for bit) read from and written to the unpadded input, with the
activations kept channel-major in memory between layers.
"""

from __future__ import annotations

from typing import Any

from .. import backend
from ..autograd import Context, Function, Tensor, _data_of
from ._operands import as_tensor
from .conv_kernels import conv2d_forward_arrays


def pair(value: Any, name: str, op: str, minimum: int) -> tuple[int, int]:
    """An int or a pair of ints -> a pair, checked against ``minimum``."""
    pair_ = (value, value) if isinstance(value, int) else tuple(value)
    if len(pair_) != 2 or any(not isinstance(v, int) or v < minimum for v in pair_):
        raise ValueError(f"{op}: {name} must be an int >= {minimum} or a pair of them, got {value!r}")
    return pair_


def output_size(size: int, kernel: int, stride: int, padding: int) -> int:
    """Number of window positions along one axis: floor((size + 2p - k) / s) + 1."""
    return (size + 2 * padding - kernel) // stride + 1


def window_counts(padded_shape: tuple[int, ...], kernel: tuple[int, int], stride: tuple[int, int]) -> tuple[int, int]:
    """(OH, OW): window positions of a kernel sliding over a padded (N, C, Hp, Wp) input."""
    return (
        output_size(padded_shape[2], kernel[0], stride[0], 0),
        output_size(padded_shape[3], kernel[1], stride[1], 0),
    )


def tap_slices(kernel: tuple[int, int], stride: tuple[int, int], out_hw: tuple[int, int]):
    """For each kernel tap (u, v): its index and the slices of the padded input it reads."""
    (kh, kw), (sh, sw), (oh, ow) = kernel, stride, out_hw
    for u in range(kh):
        for v in range(kw):
            yield u, v, (slice(u, u + sh * (oh - 1) + 1, sh), slice(v, v + sw * (ow - 1) + 1, sw))


def im2col(x_pad: Any, kernel: tuple[int, int], stride: tuple[int, int]) -> Any:
    """Receptive fields of a padded (N, C, Hp, Wp) input as cols (C, kh, kw, N, OH, OW):
    cols[c, u, v, n, i, j] = x_pad[n, c, s*i + u, s*j + v]."""
    xp = backend.get_array_module(x_pad)
    n, c = x_pad.shape[:2]
    out_hw = window_counts(x_pad.shape, kernel, stride)
    cols = xp.empty((c, kernel[0], kernel[1], n, *out_hw), dtype=x_pad.dtype)
    for u, v, (rows, columns) in tap_slices(kernel, stride, out_hw):
        cols[:, u, v] = x_pad[:, :, rows, columns].transpose(1, 0, 2, 3)
    return cols


def col2im(dcols: Any, padded_shape: tuple[int, ...], stride: tuple[int, int]) -> Any:
    """Adjoint of im2col: add each tap's gradient (C, kh, kw, N, OH, OW) back onto the padded
    input positions it was read from; returns (N, C, Hp, Wp)."""
    xp = backend.get_array_module(dcols)
    c, kh, kw, n, oh, ow = dcols.shape
    out = xp.zeros((c, n, padded_shape[2], padded_shape[3]), dtype=dcols.dtype)
    for u, v, (rows, columns) in tap_slices((kh, kw), stride, (oh, ow)):
        out[:, :, rows, columns] += dcols[:, u, v]
    return out.transpose(1, 0, 2, 3)


def unpad_spatial(x_pad: Any, x_shape: tuple[int, ...], padding: tuple[int, int]) -> Any:
    """The inverse of pad_spatial: the (N, C, H, W) interior of a padded array (a view)."""
    ph, pw = padding
    return x_pad[:, :, ph : ph + x_shape[2], pw : pw + x_shape[3]]


def pad_spatial(x: Any, padding: tuple[int, int], value: float = 0.0) -> Any:
    """Pad the two spatial axes of an NCHW array."""
    if padding == (0, 0):
        return x
    ph, pw = padding
    n, c, h, w = x.shape
    # a filled buffer and one slice copy: xp.pad does the same with much more Python per call
    out = backend.get_array_module(x).full((n, c, h + 2 * ph, w + 2 * pw), value, dtype=x.dtype)
    out[:, :, ph : ph + h, pw : pw + w] = x
    return out


class Conv2d(Function):
    """y = conv2d(x, K, b): (N, C, H, W), (O, C, kh, kw), (O,) -> (N, O, OH, OW)."""

    @staticmethod
    def forward(ctx: Context, x: Any, weight: Any, bias: Any = None, *, stride: tuple, padding: tuple) -> Any:
        # conv_kernels reads the unpadded input (no padded copy); cols is what im2col of the
        # padded input gives, (C*kh*kw, N*OH*OW)
        out, cols = conv2d_forward_arrays(x, weight, bias, stride, padding)
        ctx.save_for_backward(cols, weight, x)  # cols first: sensli.closed_form reuses saved_arrays[0]
        ph, pw = padding
        ctx.x_shape, ctx.padded_shape = x.shape, (*x.shape[:2], x.shape[2] + 2 * ph, x.shape[3] + 2 * pw)
        ctx.stride, ctx.padding = stride, padding
        return out

    @staticmethod
    def backward(ctx: Context, grad: Any) -> tuple:
        """dx = conv2d_input_grad(g, K), dK = conv2d_weight_grad(x, g) (reusing the forward's
        im2col columns), db = g summed over N, OH, OW: ops of their own (conv_grad.py), so this
        backward also records when the graph of the gradient is wanted."""
        from .conv_grad import conv2d_input_grad, conv2d_weight_grad  # noqa: PLC0415 - conv_grad builds on this module

        cols, weight, x = ctx.saved_arrays
        needs = ctx.needs_input_grad
        dx = conv2d_input_grad(grad, weight, x.shape, ctx.stride, ctx.padding) if needs[0] else None
        dw = (
            conv2d_weight_grad(x, grad, weight.shape, ctx.stride, ctx.padding, cols=_data_of(cols))
            if needs[1]
            else None
        )
        if len(needs) == 2:  # called without a bias
            return dx, dw
        return dx, dw, (grad.sum(axis=(0, 2, 3)) if needs[2] else None)


def conv2d(x: Any, weight: Any, bias: Any = None, stride: Any = 1, padding: Any = 0) -> Tensor:
    """2-D cross-correlation: x (N, C, H, W), weight (O, C, kh, kw), bias (O,) -> (N, O, OH, OW),
    OH = floor((H + 2*padding - kh) / stride) + 1 (likewise OW)."""
    x, weight = as_tensor(x), as_tensor(weight)
    stride = pair(stride, "stride", "conv2d", 1)
    padding = pair(padding, "padding", "conv2d", 0)
    if x.ndim != 4 or weight.ndim != 4:
        raise ValueError(
            f"conv2d: expected input (N, C, H, W) and weight (O, C, kh, kw), got shapes {x.shape} and {weight.shape}"
        )
    if x.shape[1] != weight.shape[1]:
        raise ValueError(
            f"conv2d: input has {x.shape[1]} channels (shape {x.shape}) but weight expects "
            f"{weight.shape[1]} (shape {weight.shape})"
        )
    tensors = [x, weight]
    if bias is not None:
        bias = as_tensor(bias)
        if bias.shape != (weight.shape[0],):
            raise ValueError(f"conv2d: bias of shape {bias.shape} does not fit weight of shape {weight.shape}")
        tensors.append(bias)
    for t in tensors:
        if not backend.is_floating(t.dtype) or t.dtype != x.dtype or t.device != x.device:
            raise TypeError(
                f"conv2d: input, weight and bias need one floating dtype and device, got "
                f"{[(str(t.dtype), t.device) for t in tensors]}"
            )
    for axis, name in ((2, "height"), (3, "width")):
        k, s, p = weight.shape[axis], stride[axis - 2], padding[axis - 2]
        if output_size(x.shape[axis], k, s, p) < 1:
            raise ValueError(
                f"conv2d: kernel {name} {k} is larger than the padded input {name} "
                f"{x.shape[axis] + 2 * p} (input shape {x.shape}, padding {padding})"
            )
    return Conv2d.apply(*tensors, stride=stride, padding=padding)
