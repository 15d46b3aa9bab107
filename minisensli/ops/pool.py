"""Max and average pooling over the spatial axes of NCHW tensors.

Both walk the kernel taps as conv.im2col does: each tap (u, v) reads the strided slice
x_pad[:, :, u::s, v::s] of shape (N, C, OH, OW); backward adds back through the same slices.
Max pooling over disjoint windows without padding (the usual 2x2/stride-2 case) takes the fast
path of pool_kernels: the same maximum, the same saved tap index, the same gradient.
"""

from __future__ import annotations

from typing import Any

from .. import backend
from ..autograd import Context, Function, Tensor, _data_of
from ._operands import as_tensor
from .conv import output_size, pad_spatial, pair, tap_slices, window_counts
from .pool_grad import AvgPoolSpread, MaxPoolScatter, geometry_of
from .pool_kernels import max_pool_disjoint, windows_disjoint


class MaxPool2d(Function):
    """y[n, c, i, j] = max over the window of x_pad (padding with -inf); NaN anywhere in a
    window makes its maximum NaN (as numpy.max does).

    Backward: each window's gradient goes to one entry, the first maximum of the window in
    row-major tap order (strict > keeps the earlier tap on ties, like Max; the first NaN
    when there is one); overlapping windows add up.
    """

    @staticmethod
    def forward(ctx: Context, x: Any, kernel: tuple, stride: tuple, padding: tuple) -> Any:
        xp = backend.get_array_module(x)
        ctx.x_shape, ctx.kernel, ctx.stride, ctx.padding = x.shape, kernel, stride, padding
        if windows_disjoint(kernel, stride, padding):  # fast path: pool_kernels, same best and arg
            out_hw = window_counts(x.shape, kernel, stride)
            # without a gradient to route (evaluation, no_grad) the tap index is not needed
            recording = True in ctx.needs_input_grad
            best, arg = max_pool_disjoint(x, kernel, stride, out_hw, with_arg=recording)
            if recording:
                ctx.save_for_backward(arg)
            ctx.padded_shape, ctx.out_hw = x.shape, out_hw
            return best
        x_pad = pad_spatial(x, padding, value=-xp.inf)
        out_hw = window_counts(x_pad.shape, kernel, stride)
        best = arg = None
        for tap, (_, _, (rows, columns)) in enumerate(tap_slices(kernel, stride, out_hw)):
            window = x_pad[:, :, rows, columns]
            if best is None:
                best, arg = window.copy(), xp.zeros(window.shape, dtype=xp.int32)
            else:
                # NaN compares False with everything: take a NaN tap explicitly, and keep a NaN best
                better = (window > best) | (xp.isnan(window) & ~xp.isnan(best))
                best = xp.where(better, window, best)
                arg = xp.where(better, tap, arg)
        ctx.save_for_backward(arg)
        ctx.padded_shape, ctx.out_hw = x_pad.shape, out_hw
        return best

    @staticmethod
    def backward(ctx: Context, grad: Any) -> tuple:
        """Each window's gradient to its first maximum: an op of its own (pool_grad.py)."""
        (arg,) = ctx.saved_arrays
        return (MaxPoolScatter.call(grad, arg=_data_of(arg), geometry=geometry_of(ctx)),)


class AvgPool2d(Function):
    """y[n, c, i, j] = mean of the window of x_pad (zero padding counts, like PyTorch's default).

    Backward: every entry of a window receives grad / (kh * kw).
    """

    @staticmethod
    def forward(ctx: Context, x: Any, kernel: tuple, stride: tuple, padding: tuple) -> Any:
        x_pad = pad_spatial(x, padding)
        out_hw = window_counts(x_pad.shape, kernel, stride)
        total = None
        for _, _, (rows, columns) in tap_slices(kernel, stride, out_hw):
            window = x_pad[:, :, rows, columns]
            total = window.copy() if total is None else total + window
        ctx.x_shape, ctx.padded_shape = x.shape, x_pad.shape
        ctx.kernel, ctx.stride, ctx.padding, ctx.out_hw = kernel, stride, padding, out_hw
        return total / (kernel[0] * kernel[1])

    @staticmethod
    def backward(ctx: Context, grad: Any) -> tuple:
        """grad / (kh*kw) spread over every window: an op of its own (pool_grad.py)."""
        return (AvgPoolSpread.call(grad, geometry=geometry_of(ctx)),)


def _pool(function: type[Function], op: str, x: Any, kernel_size: Any, stride: Any, padding: Any) -> Tensor:
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
