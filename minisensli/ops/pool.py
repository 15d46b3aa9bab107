"""Max and average pooling over the spatial axes of NCHW tensors.

Both use the sliding-window view of conv.im2col: windows (N, OH, OW, C, kh, kw).
"""

from __future__ import annotations

from typing import Any

from .. import backend
from ..autograd import Context, Function, Tensor
from ._operands import as_tensor
from .conv import col2im, im2col, output_size, pad_spatial, pair


class MaxPool2d(Function):
    """y[n, c, i, j] = max over the window of x_pad (padding with -inf).

    Backward: each window's gradient goes to one entry, the first maximum of the window in
    row-major order (like Max); overlapping windows add up.
    """

    @staticmethod
    def forward(ctx: Context, x: Any, kernel: tuple, stride: tuple, padding: tuple) -> Any:
        xp = backend.get_array_module(x)
        x_pad = pad_spatial(x, padding, value=-xp.inf)
        windows = im2col(x_pad, kernel, stride)  # (N, OH, OW, C, kh, kw)
        n, oh, ow, c, kh, kw = windows.shape
        flat = windows.reshape(n, oh, ow, c, kh * kw)
        arg = flat.argmax(axis=-1)
        ctx.save_for_backward(arg)
        ctx.x_shape, ctx.padded_shape = x.shape, x_pad.shape
        ctx.kernel, ctx.stride, ctx.padding = kernel, stride, padding
        out = xp.take_along_axis(flat, arg[..., None], axis=-1)[..., 0]
        return out.transpose(0, 3, 1, 2)

    @staticmethod
    def backward(ctx: Context, grad: Any) -> tuple:
        (arg,) = ctx.saved_arrays
        xp = backend.get_array_module(grad)
        kh, kw = ctx.kernel
        onehot = xp.arange(kh * kw) == arg[..., None]  # (N, OH, OW, C, kh*kw)
        dcols = onehot * grad.transpose(0, 2, 3, 1)[..., None]
        dcols = dcols.reshape(arg.shape + (kh, kw))
        dx_pad = col2im(dcols, ctx.padded_shape, ctx.stride)
        ph, pw = ctx.padding
        return (dx_pad[:, :, ph : ph + ctx.x_shape[2], pw : pw + ctx.x_shape[3]],)


class AvgPool2d(Function):
    """y[n, c, i, j] = mean of the window of x_pad (zero padding counts, like PyTorch's default)."""

    @staticmethod
    def forward(ctx: Context, x: Any, kernel: tuple, stride: tuple, padding: tuple) -> Any:
        x_pad = pad_spatial(x, padding)
        windows = im2col(x_pad, kernel, stride)
        ctx.x_shape, ctx.padded_shape = x.shape, x_pad.shape
        ctx.kernel, ctx.stride, ctx.padding = kernel, stride, padding
        ctx.out_hw = windows.shape[1:3]
        return windows.mean(axis=(4, 5)).transpose(0, 3, 1, 2)

    @staticmethod
    def backward(ctx: Context, grad: Any) -> tuple:
        xp = backend.get_array_module(grad)
        kh, kw = ctx.kernel
        share = grad.transpose(0, 2, 3, 1)[..., None, None] / (kh * kw)
        n, c = ctx.x_shape[:2]
        dcols = xp.broadcast_to(share, (n, *ctx.out_hw, c, kh, kw))
        dx_pad = col2im(dcols, ctx.padded_shape, ctx.stride)
        ph, pw = ctx.padding
        return (dx_pad[:, :, ph : ph + ctx.x_shape[2], pw : pw + ctx.x_shape[3]],)


def _pool(function: type, op: str, x: Any, kernel_size: Any, stride: Any, padding: Any) -> Tensor:
    x = as_tensor(x)
    kernel = pair(kernel_size, "kernel_size", op, 1)
    stride = kernel if stride is None else pair(stride, "stride", op, 1)
    padding = pair(padding, "padding", op, 0)
    if x.ndim != 4:
        raise ValueError(f"{op}: expected an input of shape (N, C, H, W), got {x.shape}")
    if not backend.is_floating(x.dtype):
        raise TypeError(f"{op}: expected a floating-point input, got dtype {x.dtype}")
    if any(p > k // 2 for p, k in zip(padding, kernel)):
        raise ValueError(f"{op}: padding {padding} must be at most half the kernel size {kernel}")
    for axis in (2, 3):
        if output_size(x.shape[axis], kernel[axis - 2], stride[axis - 2], padding[axis - 2]) < 1:
            raise ValueError(f"{op}: kernel {kernel} does not fit the input of shape {x.shape} with padding {padding}")
    return function.apply(x, kernel=kernel, stride=stride, padding=padding)


def max_pool2d(x: Any, kernel_size: Any, stride: Any = None, padding: Any = 0) -> Tensor:
    """Max pooling: (N, C, H, W) -> (N, C, OH, OW); stride defaults to kernel_size (PyTorch)."""
    return _pool(MaxPool2d, "max_pool2d", x, kernel_size, stride, padding)


def avg_pool2d(x: Any, kernel_size: Any, stride: Any = None, padding: Any = 0) -> Tensor:
    """Average pooling: (N, C, H, W) -> (N, C, OH, OW); stride defaults to kernel_size."""
    return _pool(AvgPool2d, "avg_pool2d", x, kernel_size, stride, padding)
