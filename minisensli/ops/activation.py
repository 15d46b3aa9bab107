"""Activation functions and the (log-)softmax.

Convention: relu'(0) = 0, as in PyTorch; the SensLI identity layers rely on it.
float16 inputs are exponentiated and summed in float32 and the results cast back (a sum of
exponentials overflows float16's range of 65504 quickly).
"""

from __future__ import annotations

from typing import Any

from .. import backend
from ..autograd import Context, Function, Tensor
from ._operands import as_tensor, normalize_axes
from .elementwise import Exp


def _float_tensor(op: str, x: Any) -> Tensor:
    x = as_tensor(x)
    if x._data.dtype.kind != "f":  # read off the array: activations run once per layer and step
        raise TypeError(f"{op}: expected a floating-point tensor, got dtype {x.dtype}")
    return x


def _single_axis(op: str, x: Tensor, axis: Any) -> int:
    """The one axis of a softmax, checked: an int in range over a non-empty axis."""
    if not isinstance(axis, int):
        raise TypeError(f"{op}: axis must be a single int, got {axis!r}")
    if x.ndim == 0:
        raise ValueError(f"{op}: expected a tensor with at least one axis, got a 0-d tensor")
    (a,) = normalize_axes(op, axis, x.ndim)
    if x.shape[a] == 0:
        raise ValueError(f"{op}: axis {axis} of shape {x.shape} is empty (there is nothing to normalise over)")
    return a


def log_softmax_array(x: Any, axis: int) -> Any:
    """Stable log-softmax of a raw array: x - m - log(sum exp(x - m)), m = max along ``axis``.
    Subtracting the max keeps every exp <= 1, so logits of size 1e4 give finite results."""
    xp = backend.get_array_module(x)
    if x.dtype.itemsize < 4:  # float16: accumulate in float32, cast back
        return log_softmax_array(x.astype(xp.float32), axis).astype(x.dtype)
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - xp.log(xp.exp(shifted).sum(axis=axis, keepdims=True))


class ReLU(Function):
    """y = max(x, 0);  dy/dx = 1 where x > 0, else 0."""

    @staticmethod
    def forward(ctx: Context, x: Any) -> Any:
        out = backend.get_array_module(x).maximum(x, 0)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx: Context, grad: Any) -> tuple:
        (out,) = ctx.saved_arrays
        return (grad * (out > 0),)


class Tanh(Function):
    """y = tanh(x);  dy/dx = 1 - y^2."""

    @staticmethod
    def forward(ctx: Context, x: Any) -> Any:
        out = backend.get_array_module(x).tanh(x)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx: Context, grad: Any) -> tuple:
        (out,) = ctx.saved_arrays
        return (grad * (1 - out * out),)


class Sigmoid(Function):
    """y = 1 / (1 + exp(-x));  dy/dx = y (1 - y).

    Computed from z = exp(-|x|) <= 1 so that no exp overflows and tiny outputs keep their
    relative precision: y = 1/(1+z) for x >= 0 and z/(1+z) for x < 0.
    """

    @staticmethod
    def forward(ctx: Context, x: Any) -> Any:
        xp = backend.get_array_module(x)
        z = xp.exp(-xp.abs(x))
        out = xp.where(x >= 0, 1 / (1 + z), z / (1 + z))
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx: Context, grad: Any) -> tuple:
        (out,) = ctx.saved_arrays
        return (grad * out * (1 - out),)


class Softmax(Function):
    """y_i = exp(x_i - m) / sum_j exp(x_j - m) along ``axis`` (m = max, for stability).

    Backward: dx = y * (g - sum(g * y)).
    """

    @staticmethod
    def forward(ctx: Context, x: Any, axis: int) -> Any:
        xp = backend.get_array_module(x)
        wide = x.astype(xp.float32) if x.dtype.itemsize < 4 else x  # float16: sum in float32
        e = xp.exp(wide - wide.max(axis=axis, keepdims=True))
        out = (e / e.sum(axis=axis, keepdims=True)).astype(x.dtype, copy=False)
        ctx.save_for_backward(out)
        ctx.axis = axis
        return out

    @staticmethod
    def backward(ctx: Context, grad: Any) -> tuple:
        (out,) = ctx.saved_arrays
        return (out * (grad - (grad * out).sum(axis=ctx.axis, keepdims=True)),)


class LogSoftmax(Function):
    """y = x - m - log(sum exp(x - m)) along ``axis``.  Backward: dx = g - softmax(x) * sum(g)."""

    @staticmethod
    def forward(ctx: Context, x: Any, axis: int) -> Any:
        out = log_softmax_array(x, axis)
        ctx.save_for_backward(out)
        ctx.axis = axis
        return out

    @staticmethod
    def backward(ctx: Context, grad: Any) -> tuple:
        (out,) = ctx.saved_arrays
        return (grad - Exp.call(out) * grad.sum(axis=ctx.axis, keepdims=True),)


def relu(x: Any) -> Tensor:
    """max(x, 0) elementwise."""
    return ReLU.apply(_float_tensor("relu", x))


def tanh(x: Any) -> Tensor:
    """Hyperbolic tangent elementwise."""
    return Tanh.apply(_float_tensor("tanh", x))


def sigmoid(x: Any) -> Tensor:
    """Logistic function 1 / (1 + exp(-x)) elementwise."""
    return Sigmoid.apply(_float_tensor("sigmoid", x))


def softmax(x: Any, axis: int = -1) -> Tensor:
    """Softmax along ``axis``: entries in (0, 1) that sum to 1."""
    x = _float_tensor("softmax", x)
    return Softmax.apply(x, axis=_single_axis("softmax", x, axis))


def log_softmax(x: Any, axis: int = -1) -> Tensor:
    """log(softmax(x)) along ``axis``, computed without overflow for large |x|."""
    x = _float_tensor("log_softmax", x)
    return LogSoftmax.apply(x, axis=_single_axis("log_softmax", x, axis))
