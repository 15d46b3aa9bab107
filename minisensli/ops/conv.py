"""2-D convolution (cross-correlation, NCHW) by im2col + one matrix product.

For input x (N, C, H, W), weight K (O, C, kh, kw), stride s and zero padding p:

    y[n, o, i, j] = b[o] + sum_{c, u, v} K[o, c, u, v] * x_pad[n, c, s*i + u, s*j + v]

im2col lays every receptive field out as one row: cols (N*OH*OW, C*kh*kw). Then
y = cols @ K.reshape(O, -1)^T, and backward is two more products:
dK = g^T @ cols and dcols = g @ K, folded back onto the input by col2im (the adjoint of im2col).
"""

from __future__ import annotations

from typing import Any

from .. import backend
from ..autograd import Context, Function, Tensor
from ._operands import as_tensor


def pair(value: Any, name: str, op: str, minimum: int) -> tuple[int, int]:
    """An int or a pair of ints -> a pair, checked against ``minimum``."""
    pair_ = (value, value) if isinstance(value, int) else tuple(value)
    if len(pair_) != 2 or any(not isinstance(v, int) or v < minimum for v in pair_):
        raise ValueError(f"{op}: {name} must be an int >= {minimum} or a pair of them, got {value!r}")
    return pair_


def output_size(size: int, kernel: int, stride: int, padding: int) -> int:
    """Number of window positions along one axis: floor((size + 2p - k) / s) + 1."""
    return (size + 2 * padding - kernel) // stride + 1


def im2col(x_pad: Any, kernel: tuple[int, int], stride: tuple[int, int]) -> Any:
    """Windows of a padded (N, C, Hp, Wp) input as a (N, OH, OW, C, kh, kw) view (no copy)."""
    windows = backend.sliding_windows(x_pad, kernel, axis=(2, 3))  # (N, C, Hp-kh+1, Wp-kw+1, kh, kw)
    windows = windows[:, :, :: stride[0], :: stride[1]]
    return windows.transpose(0, 2, 3, 1, 4, 5)


def col2im(dcols: Any, padded_shape: tuple[int, ...], stride: tuple[int, int]) -> Any:
    """Adjoint of im2col: add each window's gradient (N, OH, OW, C, kh, kw) back onto the
    padded input. One strided slice-add per kernel tap (kh*kw of them), no scatter needed."""
    xp = backend.get_array_module(dcols)
    n, oh, ow, c, kh, kw = dcols.shape
    out = xp.zeros(padded_shape, dtype=dcols.dtype)
    sh, sw = stride
    per_tap = dcols.transpose(0, 3, 4, 5, 1, 2)  # (N, C, kh, kw, OH, OW)
    for u in range(kh):
        for v in range(kw):
            out[:, :, u : u + sh * oh : sh, v : v + sw * ow : sw] += per_tap[:, :, u, v]
    return out


def pad_spatial(x: Any, padding: tuple[int, int], value: float = 0.0) -> Any:
    """Pad the two spatial axes of an NCHW array."""
    if padding == (0, 0):
        return x
    ph, pw = padding
    xp = backend.get_array_module(x)
    return xp.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), mode="constant", constant_values=value)


class Conv2d(Function):
    """y = conv2d(x, K, b): (N, C, H, W), (O, C, kh, kw), (O,) -> (N, O, OH, OW)."""

    @staticmethod
    def forward(ctx: Context, x: Any, weight: Any, bias: Any = None, *, stride: tuple, padding: tuple) -> Any:
        n = x.shape[0]
        o, c, kh, kw = weight.shape
        x_pad = pad_spatial(x, padding)
        windows = im2col(x_pad, (kh, kw), stride)
        oh, ow = windows.shape[1:3]
        cols = windows.reshape(n * oh * ow, c * kh * kw)
        out = cols @ weight.reshape(o, -1).T  # (N*OH*OW, O)
        if bias is not None:
            out += bias
        ctx.save_for_backward(cols, weight)
        ctx.x_shape, ctx.padded_shape, ctx.stride, ctx.padding = x.shape, x_pad.shape, stride, padding
        return out.reshape(n, oh, ow, o).transpose(0, 3, 1, 2)

    @staticmethod
    def backward(ctx: Context, grad: Any) -> tuple:
        cols, weight = ctx.saved_arrays
        o, c, kh, kw = weight.shape
        n, _, oh, ow = grad.shape
        needs = ctx.needs_input_grad
        g2 = grad.transpose(0, 2, 3, 1).reshape(-1, o)  # (N*OH*OW, O)
        dx = dw = None
        if needs[0]:
            dcols = (g2 @ weight.reshape(o, -1)).reshape(n, oh, ow, c, kh, kw)
            dx_pad = col2im(dcols, ctx.padded_shape, ctx.stride)
            ph, pw = ctx.padding
            dx = dx_pad[:, :, ph : ph + ctx.x_shape[2], pw : pw + ctx.x_shape[3]]
        if needs[1]:
            dw = (g2.T @ cols).reshape(weight.shape)
        if len(needs) == 2:  # called without a bias
            return dx, dw
        return dx, dw, (g2.sum(axis=0) if needs[2] else None)


def conv2d(x: Any, weight: Any, bias: Any = None, stride: Any = 1, padding: Any = 0) -> Tensor:
    """2-D cross-correlation: x (N, C, H, W), weight (O, C, kh, kw), bias (O,) -> (N, O, OH, OW),
    OH = floor((H + 2*padding - kh) / stride) + 1 (likewise OW)."""
    x, weight = as_tensor(x), as_tensor(weight)
    stride = pair(stride, "stride", "conv2d", 1)
    padding = pair(padding, "padding", "conv2d", 0)
    if x.ndim != 4 or weight.ndim != 4:
        raise ValueError(f"conv2d: expected input (N, C, H, W) and weight (O, C, kh, kw), got shapes {x.shape} "
                         f"and {weight.shape}")
    if x.shape[1] != weight.shape[1]:
        raise ValueError(f"conv2d: input has {x.shape[1]} channels (shape {x.shape}) but weight expects "
                         f"{weight.shape[1]} (shape {weight.shape})")
    tensors = [x, weight]
    if bias is not None:
        bias = as_tensor(bias)
        if bias.shape != (weight.shape[0],):
            raise ValueError(f"conv2d: bias of shape {bias.shape} does not fit weight of shape {weight.shape}")
        tensors.append(bias)
    for t in tensors:
        if not backend.is_floating(t.dtype) or t.dtype != x.dtype or t.device != x.device:
            raise TypeError(f"conv2d: input, weight and bias need one floating dtype and device, got "
                            f"{[(str(t.dtype), t.device) for t in tensors]}")
    for axis, name in ((2, "height"), (3, "width")):
        k, s, p = weight.shape[axis], stride[axis - 2], padding[axis - 2]
        if output_size(x.shape[axis], k, s, p) < 1:
            raise ValueError(f"conv2d: kernel {name} {k} is larger than the padded input {name} "
                             f"{x.shape[axis] + 2 * p} (input shape {x.shape}, padding {padding})")
    return Conv2d.apply(*tensors, stride=stride, padding=padding)
