"""Reductions: sum, mean, max (and min through max).

Backward of a reduction spreads the output gradient back over the reduced axes: it is
reshaped with size-1 axes where the reduction removed them, then broadcast to the input
(``broadcast_to`` works on arrays and on Tensors, so the backward also records when asked).
float16 sums and means accumulate in float32 and are cast back (a float16 running sum stops
growing at 2048 + 1 and overflows at 65504). Sums over empty axes are 0 (as in NumPy); means,
maxima and minima over an empty axis raise an error naming the op.
"""

from __future__ import annotations

import math
from typing import Any

from .. import backend
from ..autograd import Context, Function, Tensor
from ._operands import as_tensor, normalize_axes
from .elementwise import neg
from .shape import broadcast_to


def _expand_to_input(grad: Any, in_shape: tuple[int, ...], axes: tuple[int, ...], keepdims: bool) -> Any:
    """Broadcast the gradient of a reduction over ``axes`` back to the input shape."""
    if not keepdims:
        kept_shape = tuple(1 if i in axes else n for i, n in enumerate(in_shape))
        grad = grad.reshape(kept_shape)
    return broadcast_to(grad, in_shape)


def _wide_sum(x: Any, axes: tuple[int, ...], keepdims: bool, mean: bool) -> Any:
    """x.sum / x.mean over ``axes``; float16 accumulates in float32 and is cast back."""
    if x.dtype.kind == "f" and x.dtype.itemsize < 4:
        wide = x.astype(backend.get_array_module(x).float32)
        out = wide.mean(axis=axes, keepdims=keepdims) if mean else wide.sum(axis=axes, keepdims=keepdims)
        return out.astype(x.dtype)
    return x.mean(axis=axes, keepdims=keepdims) if mean else x.sum(axis=axes, keepdims=keepdims)


class Sum(Function):
    """y = sum of x over ``axes``;  dy/dx = 1 for every summed entry."""

    @staticmethod
    def forward(ctx: Context, x: Any, axes: tuple[int, ...], keepdims: bool) -> Any:
        ctx.in_shape, ctx.axes, ctx.keepdims = x.shape, axes, keepdims
        return _wide_sum(x, axes, keepdims, mean=False)

    @staticmethod
    def backward(ctx: Context, grad: Any) -> tuple:
        return (_expand_to_input(grad, ctx.in_shape, ctx.axes, ctx.keepdims),)


class Mean(Function):
    """y = sum of x over ``axes`` / n, n = number of entries summed;  dy/dx = 1/n."""

    @staticmethod
    def forward(ctx: Context, x: Any, axes: tuple[int, ...], keepdims: bool) -> Any:
        ctx.in_shape, ctx.axes, ctx.keepdims = x.shape, axes, keepdims
        ctx.count = math.prod(x.shape[a] for a in axes)
        return _wide_sum(x, axes, keepdims, mean=True)

    @staticmethod
    def backward(ctx: Context, grad: Any) -> tuple:
        return (_expand_to_input(grad / ctx.count, ctx.in_shape, ctx.axes, ctx.keepdims),)


class Max(Function):
    """y = max of x over ``axes``.

    The gradient of each reduced slice goes to exactly one entry: the first arg-max in
    row-major order of the reduced axes (like NumPy's argmax). Ties therefore do not split
    the gradient; this is a valid subgradient and matches what most frameworks do.
    """

    @staticmethod
    def forward(ctx: Context, x: Any, axes: tuple[int, ...], keepdims: bool) -> Any:
        xp = backend.get_array_module(x)
        kept = tuple(i for i in range(x.ndim) if i not in axes)
        # move the reduced axes to the end and merge them, so one argmax covers each slice
        perm = kept + axes
        moved = x.transpose(perm)
        slices = moved.reshape(moved.shape[: len(kept)] + (math.prod(x.shape[a] for a in axes),))  # no -1: N may be 0
        arg = slices.argmax(axis=-1)
        ctx.in_shape, ctx.axes, ctx.keepdims, ctx.perm = x.shape, axes, keepdims, perm
        ctx.moved_shape = moved.shape
        ctx.arg = arg  # an index, not a value to differentiate: an attribute, not a saved array
        out = xp.take_along_axis(slices, arg[..., None], axis=-1)[..., 0]
        if keepdims:
            out = out.reshape(tuple(1 if i in axes else n for i, n in enumerate(x.shape)))
        return out

    @staticmethod
    def backward(ctx: Context, grad: Any) -> tuple:
        arg = ctx.arg
        xp = backend.get_array_module(arg)
        n_reduced = math.prod(ctx.in_shape[a] for a in ctx.axes)
        onehot = xp.arange(n_reduced) == arg[..., None]
        moved = (onehot * grad.reshape(arg.shape + (1,))).reshape(ctx.moved_shape)
        inverse = [0] * len(ctx.perm)
        for i, p in enumerate(ctx.perm):
            inverse[p] = i
        return (moved.transpose(inverse),)


def _reduce(function: type[Function], op: str, x: Any, axis: Any, keepdims: bool) -> Tensor:
    x = as_tensor(x)
    axes = normalize_axes(op, axis, x.ndim)
    if op in ("max", "min", "mean") and any(x.shape[a] == 0 for a in axes):
        raise ValueError(f"{op}: cannot reduce over an empty axis (shape {x.shape}, axis {axis})")
    return function.apply(x, axes=axes, keepdims=bool(keepdims))


def sum(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:  # noqa: A001 - the op's name
    """Sum over ``axis`` (None: all axes; int or tuple; negatives allowed)."""
    return _reduce(Sum, "sum", x, axis, keepdims)


def mean(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    """Mean over ``axis`` (None: all axes)."""
    x = as_tensor(x)
    if not backend.is_floating(x.dtype):
        x = Tensor._wrap(x._data.astype(backend.get_default_dtype()), False, None)
    return _reduce(Mean, "mean", x, axis, keepdims)


def max(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:  # noqa: A001 - the op's name
    """Maximum over ``axis``; the gradient goes to the first arg-max of each slice."""
    return _reduce(Max, "max", x, axis, keepdims)


def min(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:  # noqa: A001 - the op's name
    """Minimum over ``axis``, as -max(-x); the gradient goes to the first arg-min of each slice."""
    return neg(_reduce(Max, "min", neg(x), axis, keepdims))
