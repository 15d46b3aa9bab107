"""The backward passes of pooling as ops of their own, so that they can be differentiated again.

Max pooling routes each window's gradient to one entry, the window's first maximum (tap index
``arg``, fixed by the forward). For fixed ``arg`` both directions are linear maps:

    scatter  dx = max_pool_scatter(g, arg):  g[n, c, i, j] added at the arg-th tap of window (i, j)
    gather   y  = max_pool_gather(h, arg):   h_pad at the arg-th tap of each window

and each is the other's adjoint, so each one's backward is the other (the second derivative of
max pooling itself is zero almost everywhere: ``arg`` is a constant of the formulas).
Average pooling's backward spreads g / (kh*kw) over each window (``avg_pool_spread``); its
adjoint is average pooling again. The array work walks conv.py's ``tap_slices``.
"""

from __future__ import annotations

from typing import Any

from .. import backend
from ..autograd import Context, Function
from .conv import pad_spatial, tap_slices, unpad_spatial
from .pool_kernels import max_pool_disjoint_grad, windows_disjoint


class MaxPoolScatter(Function):
    """dx (N, C, H, W) from g (N, C, OH, OW): each window's entry of g added at its arg tap."""

    @staticmethod
    def forward(ctx: Context, g: Any, *, arg: Any, geometry: dict) -> Any:
        ctx.arg, ctx.geometry = arg, geometry
        if windows_disjoint(geometry["kernel"], geometry["stride"], geometry["padding"]):  # pool_kernels' fast path
            return max_pool_disjoint_grad(g, arg, geometry["x_shape"], geometry["kernel"], geometry["stride"])
        xp = backend.get_array_module(g)
        dx_pad = xp.zeros(geometry["padded_shape"], dtype=g.dtype)
        for tap, (_, _, (rows, columns)) in enumerate(
            tap_slices(geometry["kernel"], geometry["stride"], geometry["out_hw"])
        ):
            dx_pad[:, :, rows, columns] += g * (arg == tap)
        return unpad_spatial(dx_pad, geometry["x_shape"], geometry["padding"])

    @staticmethod
    def backward(ctx: Context, grad: Any) -> tuple:
        return (MaxPoolGather.call(grad, arg=ctx.arg, geometry=ctx.geometry),)


class MaxPoolGather(Function):
    """y (N, C, OH, OW) from h (N, C, H, W): the entry of h at each window's arg tap."""

    @staticmethod
    def forward(ctx: Context, h: Any, *, arg: Any, geometry: dict) -> Any:
        ctx.arg, ctx.geometry = arg, geometry
        h_pad = pad_spatial(h, geometry["padding"])
        out = None
        for tap, (_, _, (rows, columns)) in enumerate(
            tap_slices(geometry["kernel"], geometry["stride"], geometry["out_hw"])
        ):
            picked = h_pad[:, :, rows, columns] * (arg == tap)
            out = picked if out is None else out + picked
        return out

    @staticmethod
    def backward(ctx: Context, grad: Any) -> tuple:
        return (MaxPoolScatter.call(grad, arg=ctx.arg, geometry=ctx.geometry),)


class AvgPoolSpread(Function):
    """dx (N, C, H, W) from g (N, C, OH, OW): g / (kh*kw) added over every window."""

    @staticmethod
    def forward(ctx: Context, g: Any, *, geometry: dict) -> Any:
        ctx.geometry = geometry
        xp = backend.get_array_module(g)
        kernel = geometry["kernel"]
        share = g / (kernel[0] * kernel[1])
        dx_pad = xp.zeros(geometry["padded_shape"], dtype=g.dtype)
        for _, _, (rows, columns) in tap_slices(kernel, geometry["stride"], geometry["out_hw"]):
            dx_pad[:, :, rows, columns] += share
        return unpad_spatial(dx_pad, geometry["x_shape"], geometry["padding"])

    @staticmethod
    def backward(ctx: Context, grad: Any) -> tuple:
        from .pool import AvgPool2d  # noqa: PLC0415 - pool.py imports this module

        g = ctx.geometry
        return (AvgPool2d.call(grad, kernel=g["kernel"], stride=g["stride"], padding=g["padding"]),)


def geometry_of(ctx: Any) -> dict:
    """The shapes and settings a pooling forward left on its context, as one dict."""
    return {
        "x_shape": ctx.x_shape,
        "padded_shape": ctx.padded_shape,
        "kernel": ctx.kernel,
        "stride": ctx.stride,
        "padding": ctx.padding,
        "out_hw": ctx.out_hw,
    }
