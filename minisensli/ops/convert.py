"""Differentiable dtype conversion and device moves."""

from __future__ import annotations

from typing import Any

from .. import backend
from ..autograd import Context, Function, Tensor


class AsType(Function):
    """y = x converted to ``dtype``; the gradient is converted back to x's dtype."""

    @staticmethod
    def forward(ctx: Context, x: Any, dtype: Any) -> Any:
        ctx.in_dtype = x.dtype
        return x.astype(dtype)

    @staticmethod
    def backward(ctx: Context, grad: Any) -> tuple:
        return (grad.astype(ctx.in_dtype),)


class ToDevice(Function):
    """y = x on another device; the gradient moves back to x's device."""

    @staticmethod
    def forward(ctx: Context, x: Any, device: str) -> Any:
        ctx.in_device = backend.device_of(x)
        return backend.to_device(x, device)

    @staticmethod
    def backward(ctx: Context, grad: Any) -> tuple:
        return (ToDevice.call(grad, device=ctx.in_device),)


def astype(x: Tensor, dtype: Any) -> Tensor:
    """x converted to ``dtype`` (a name like 'float64' or a dtype object)."""
    dtype = backend.as_dtype(dtype)
    if x.requires_grad and not backend.is_floating(dtype):
        raise TypeError(f"astype: a tensor that requires grad cannot become {dtype}; call .detach() first")
    return AsType.apply(x, dtype=dtype)


def to_device(x: Tensor, device: str) -> Tensor:
    """x moved to ``device`` ('cpu' or 'gpu')."""
    return ToDevice.apply(x, device=backend.check_device(device))
