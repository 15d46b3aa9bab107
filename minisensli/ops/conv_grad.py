"""The two gradients of a convolution as ops of their own, so that conv2d's backward can itself
be differentiated (second derivatives, Hessian-vector products).

For y = conv2d(x, K) (stride s, padding p; see :mod:`minisensli.ops.conv`) and an upstream
gradient g of y's shape:

    input gradient   dx = conv2d_input_grad(g, K)   = col2im(K^T g)     (the adjoint of x -> conv2d(x, K))
    weight gradient  dK = conv2d_weight_grad(x, g)  = g @ im2col(x)^T   (the adjoint of K -> conv2d(x, K))

Both are bilinear, and their own gradients are convolutions again: for an upstream h,
    <h, conv2d_input_grad(g, K)>  = <conv2d(h, K), g>  = <K, conv2d_weight_grad(h, g)>
    <H, conv2d_weight_grad(x, g)> = <conv2d(x, H), g>  = <x, conv2d_input_grad(g, H)>
so each backward below is written with the three ops, and the chain closes at any order.
The array work is done by conv_kernels (im2col_fields, col2im_fields through input_grad_by_col2im,
weight_grad_by_cols): the same fast paths as the training forward.
"""

from __future__ import annotations

from typing import Any

from ..autograd import Context, Function
from .conv import Conv2d
from .conv_kernels import channel_major, im2col_fields, input_grad_by_col2im, kernel_taps, weight_grad_by_cols


def conv2d_any(x: Any, weight: Any, stride: tuple[int, int], padding: tuple[int, int]) -> Any:
    """conv2d without bias on arrays (an array back) or on Tensors (a recorded op)."""
    return Conv2d.call(x, weight, stride=stride, padding=padding)


class Conv2dInputGrad(Function):
    """dx = conv2d_input_grad(g, K): g (N, O, OH, OW), K (O, C, kh, kw) -> (N, C, H, W)."""

    @staticmethod
    def forward(ctx: Context, g: Any, weight: Any, *, x_shape: tuple, stride: tuple, padding: tuple) -> Any:
        ctx.save_for_backward(g, weight)
        ctx.x_shape, ctx.stride, ctx.padding = x_shape, stride, padding
        # conv_kernels: col2im straight into the unpadded input; g is channel-major in a conv net
        return input_grad_by_col2im(channel_major(g), weight, g.shape[2:], x_shape, stride, padding)

    @staticmethod
    def backward(ctx: Context, grad: Any) -> tuple:
        g, weight = ctx.saved_arrays
        needs = ctx.needs_input_grad
        dg = conv2d_any(grad, weight, ctx.stride, ctx.padding) if needs[0] else None
        dw = conv2d_weight_grad(grad, g, weight.shape, ctx.stride, ctx.padding) if needs[1] else None
        return dg, dw


class Conv2dWeightGrad(Function):
    """dK = conv2d_weight_grad(x, g): x (N, C, H, W), g (N, O, OH, OW) -> (O, C, kh, kw).

    ``cols``: the im2col columns (C*kh*kw, N*OH*OW) of x if the forward already built them (then
    they are not built again: the training path); they are a cache, not an input.
    """

    @staticmethod
    def forward(
        ctx: Context, x: Any, g: Any, *, weight_shape: tuple, stride: tuple, padding: tuple, cols: Any = None
    ) -> Any:
        ctx.save_for_backward(x, g)
        ctx.stride, ctx.padding = stride, padding
        if cols is None:
            n = x.shape[0]
            cols = im2col_fields(x, weight_shape[2:], stride, padding)  # (C, kh, kw, N, OH, OW)
            cols = cols.reshape(cols.shape[0] * kernel_taps(weight_shape), n * cols.shape[4] * cols.shape[5])
        return weight_grad_by_cols(channel_major(g), cols, weight_shape)

    @staticmethod
    def backward(ctx: Context, grad: Any) -> tuple:
        x, g = ctx.saved_arrays
        needs = ctx.needs_input_grad
        dx = conv2d_input_grad(g, grad, x.shape, ctx.stride, ctx.padding) if needs[0] else None
        dg = conv2d_any(x, grad, ctx.stride, ctx.padding) if needs[1] else None
        return dx, dg


def conv2d_input_grad(g: Any, weight: Any, x_shape: tuple, stride: tuple, padding: tuple) -> Any:
    """The input gradient of conv2d, on arrays (an array) or Tensors (a recorded op)."""
    return Conv2dInputGrad.call(g, weight, x_shape=tuple(x_shape), stride=stride, padding=padding)


def conv2d_weight_grad(x: Any, g: Any, weight_shape: tuple, stride: tuple, padding: tuple, cols: Any = None) -> Any:
    """The weight gradient of conv2d, on arrays (an array) or Tensors (a recorded op)."""
    return Conv2dWeightGrad.call(x, g, weight_shape=tuple(weight_shape), stride=stride, padding=padding, cols=cols)
