"""Elementwise arithmetic and functions, with NumPy broadcasting.

For a binary op z = f(a, b) with broadcasting, backward computes dz/da * grad on the
broadcast shape and sums it back to a's shape (``unbroadcast``). Every backward here is plain
arithmetic on ``grad`` and the saved values, so the same line runs on arrays (training) and on
Tensors (a recorded backward pass, for higher derivatives).
"""

from __future__ import annotations

import math
from typing import Any

from .. import backend
from ..autograd import Context, Function, Tensor, unbroadcast
from ._operands import binary_operands, broadcast_shape


class Add(Function):
    """z = a + b;  dz/da = 1, dz/db = 1."""

    @staticmethod
    def forward(ctx: Context, a: Any, b: Any) -> Any:
        ctx.shapes = (a.shape, b.shape)
        return a + b

    @staticmethod
    def backward(ctx: Context, grad: Any) -> tuple:
        a_shape, b_shape = ctx.shapes
        return unbroadcast(grad, a_shape), unbroadcast(grad, b_shape)


class Sub(Function):
    """z = a - b;  dz/da = 1, dz/db = -1."""

    @staticmethod
    def forward(ctx: Context, a: Any, b: Any) -> Any:
        ctx.shapes = (a.shape, b.shape)
        return a - b

    @staticmethod
    def backward(ctx: Context, grad: Any) -> tuple:
        a_shape, b_shape = ctx.shapes
        return unbroadcast(grad, a_shape), unbroadcast(-grad, b_shape)


class Mul(Function):
    """z = a * b;  dz/da = b, dz/db = a."""

    @staticmethod
    def forward(ctx: Context, a: Any, b: Any) -> Any:
        ctx.save_for_backward(a, b)
        return a * b

    @staticmethod
    def backward(ctx: Context, grad: Any) -> tuple:
        a, b = ctx.saved_arrays
        da = unbroadcast(grad * b, a.shape) if ctx.needs_input_grad[0] else None
        db = unbroadcast(grad * a, b.shape) if ctx.needs_input_grad[1] else None
        return da, db


class Div(Function):
    """z = a / b;  dz/da = 1/b, dz/db = -a/b^2."""

    @staticmethod
    def forward(ctx: Context, a: Any, b: Any) -> Any:
        ctx.save_for_backward(a, b)
        return a / b

    @staticmethod
    def backward(ctx: Context, grad: Any) -> tuple:
        a, b = ctx.saved_arrays
        da = unbroadcast(grad / b, a.shape) if ctx.needs_input_grad[0] else None
        db = unbroadcast(-grad * a / (b * b), b.shape) if ctx.needs_input_grad[1] else None
        return da, db


class Neg(Function):
    """z = -a."""

    @staticmethod
    def forward(ctx: Context, a: Any) -> Any:
        return -a

    @staticmethod
    def backward(ctx: Context, grad: Any) -> tuple:
        return (-grad,)


class Pow(Function):
    """z = a ** p for a constant scalar p;  dz/da = p * a ** (p - 1), and 0 for p = 0 (a ** 0 = 1
    everywhere, also at a = 0, where p * a ** (p - 1) would be 0 * inf = nan)."""

    @staticmethod
    def forward(ctx: Context, a: Any, exponent: float) -> Any:
        ctx.save_for_backward(a)
        ctx.exponent = exponent
        return a**exponent

    @staticmethod
    def backward(ctx: Context, grad: Any) -> tuple:
        (a,) = ctx.saved_arrays
        p = ctx.exponent
        if p == 0:
            return (grad * 0,)
        if p == 1:
            return (grad,)
        return (grad * (p * a ** (p - 1)),)


class RPow(Function):
    """z = c ** a for a constant positive scalar c;  dz/da = z * log(c)."""

    @staticmethod
    def forward(ctx: Context, a: Any, base: float) -> Any:
        xp = backend.get_array_module(a)
        out = xp.power(xp.asarray(base, dtype=a.dtype), a)
        ctx.save_for_backward(out)
        ctx.log_base = math.log(base)  # base is a Python number: no device array, no host copy
        return out

    @staticmethod
    def backward(ctx: Context, grad: Any) -> tuple:
        (out,) = ctx.saved_arrays
        return (grad * out * ctx.log_base,)


class Exp(Function):
    """z = exp(a);  dz/da = z."""

    @staticmethod
    def forward(ctx: Context, a: Any) -> Any:
        out = backend.get_array_module(a).exp(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx: Context, grad: Any) -> tuple:
        (out,) = ctx.saved_arrays
        return (grad * out,)


class Log(Function):
    """z = log(a) (natural);  dz/da = 1/a."""

    @staticmethod
    def forward(ctx: Context, a: Any) -> Any:
        ctx.save_for_backward(a)
        return backend.get_array_module(a).log(a)

    @staticmethod
    def backward(ctx: Context, grad: Any) -> tuple:
        (a,) = ctx.saved_arrays
        return (grad / a,)


class Sqrt(Function):
    """z = sqrt(a);  dz/da = 1 / (2 z)."""

    @staticmethod
    def forward(ctx: Context, a: Any) -> Any:
        out = backend.get_array_module(a).sqrt(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx: Context, grad: Any) -> tuple:
        (out,) = ctx.saved_arrays
        return (grad / (2 * out),)


def _as_float(a: Tensor) -> Tensor:
    """Integer constants become default-dtype floats (integer tensors never require grad)."""
    if backend.is_floating(a.dtype):
        return a
    return Tensor._wrap(a._data.astype(backend.get_default_dtype()), False, None)


def _binary(function: type[Function], op: str, a: Any, b: Any) -> Tensor:
    a, b = binary_operands(op, a, b)
    if a.shape != b.shape:
        broadcast_shape(op, a.shape, b.shape)
    return function.apply(a, b)


def _floating_unary(function: type[Function], a: Any, **params: Any) -> Tensor:
    return function.apply(_as_float(a if isinstance(a, Tensor) else Tensor(a)), **params)


def add(a: Any, b: Any) -> Tensor:
    """a + b with broadcasting."""
    return _binary(Add, "add", a, b)


def sub(a: Any, b: Any) -> Tensor:
    """a - b with broadcasting."""
    return _binary(Sub, "sub", a, b)


def mul(a: Any, b: Any) -> Tensor:
    """a * b (elementwise) with broadcasting."""
    return _binary(Mul, "mul", a, b)


def div(a: Any, b: Any) -> Tensor:
    """a / b (true division) with broadcasting; integer / integer gives floats, as in NumPy."""
    a, b = binary_operands("div", a, b)
    return _binary(Div, "div", _as_float(a), _as_float(b))


def neg(a: Any) -> Tensor:
    """-a."""
    return Neg.apply(a if isinstance(a, Tensor) else Tensor(a))


def pow(a: Tensor, exponent: Any) -> Tensor:  # noqa: A001 - the op's name
    """a ** exponent for a Python scalar exponent (a tensor exponent: use exp(b * log(a)))."""
    if isinstance(exponent, Tensor) or hasattr(exponent, "shape"):
        raise TypeError("pow: the exponent must be a Python scalar; for a tensor exponent b use (b * a.log()).exp()")
    if not isinstance(exponent, (int, float)):
        raise TypeError(f"pow: the exponent must be an int or float, got {type(exponent).__name__}")
    return _floating_unary(Pow, a, exponent=exponent)


def rpow(a: Tensor, base: Any) -> Tensor:
    """base ** a for a positive Python scalar base."""
    if not isinstance(base, (int, float)) or base <= 0:
        raise TypeError(f"rpow: the base of base ** tensor must be a positive Python scalar, got {base!r}")
    return _floating_unary(RPow, a, base=float(base))


def exp(a: Any) -> Tensor:
    """e ** a, elementwise."""
    return _floating_unary(Exp, a)


def log(a: Any) -> Tensor:
    """Natural logarithm, elementwise (log of a non-positive entry is nan or -inf, as in NumPy)."""
    return _floating_unary(Log, a)


def sqrt(a: Any) -> Tensor:
    """Square root, elementwise."""
    return _floating_unary(Sqrt, a)
