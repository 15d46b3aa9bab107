"""Matrix products: matmul (NumPy's @ semantics) and the fused dense-layer op ``linear``."""

from __future__ import annotations

from typing import Any

from .. import backend
from ..autograd import Context, Function, Tensor, unbroadcast
from ._operands import as_tensor, binary_operands, broadcast_shape


class MatMul(Function):
    """C = A @ B with NumPy semantics (2-D, batched with broadcasting, 1-D operands).

    With 2-D operands: dA = G @ B^T, dB = A^T @ G. A 1-D A is treated as a row (1, n) and a
    1-D B as a column (n, 1), as NumPy does; batch axes that were broadcast are summed away.
    """

    @staticmethod
    def forward(ctx: Context, a: Any, b: Any) -> Any:
        ctx.save_for_backward(a, b)
        return a @ b

    @staticmethod
    def backward(ctx: Context, grad: Any) -> tuple:
        a, b = ctx.saved_arrays
        # reshape (not [None, :]) adds the axes: it is the same call on arrays and on Tensors
        a2 = a.reshape((1,) + a.shape) if a.ndim == 1 else a
        b2 = b.reshape(b.shape + (1,)) if b.ndim == 1 else b
        g2 = grad
        if a.ndim == 1:
            g2 = g2.reshape(g2.shape[:-1] + (1, g2.shape[-1])) if b.ndim > 1 else g2.reshape(g2.shape + (1,))
        if b.ndim == 1:
            g2 = g2.reshape(g2.shape + (1,))
        da = db = None
        if ctx.needs_input_grad[0]:
            da = unbroadcast(g2 @ b2.swapaxes(-1, -2), a2.shape).reshape(a.shape)
        if ctx.needs_input_grad[1]:
            db = unbroadcast(a2.swapaxes(-1, -2) @ g2, b2.shape).reshape(b.shape)
        return da, db


class Linear(Function):
    """y = x @ W^T + b for x (..., in), W (out, in), b (out,) -> y (..., out).

    dx = g @ W,  dW = sum over leading axes of g^T x,  db = sum over leading axes of g.
    One Function instead of three keeps the dense layer as fast as hand-written NumPy.

    Memory layout: a 2-D result is computed as y^T = W x^T, an (out, N) array with the batch
    axis contiguous, and returned as its transpose (a view of shape (N, out)). NumPy's loops run
    along the contiguous axis, so with few features per example (the spirals net has 2 to 4)
    the bias add, the ReLU mask and the softmax reductions over the classes become loops over
    the whole batch instead of N loops over a handful of features: about 1.6x faster for the
    whole spirals step, and no slower for wide layers. The values are the same either way (up to
    the rounding of the matrix product, which may sum in another order).
    """

    @staticmethod
    def forward(ctx: Context, x: Any, weight: Any, bias: Any = None) -> Any:
        ctx.save_for_backward(x, weight)
        if x.ndim != 2:  # (..., in): the leading axes keep NumPy's layout
            out = x @ weight.T
            if bias is not None:
                out += bias
            return out
        out_t = weight @ x.T
        if bias is not None:
            out_t += bias[:, None]
        return out_t.T

    @staticmethod
    def backward(ctx: Context, grad: Any) -> tuple:
        x, weight = ctx.saved_arrays
        needs = ctx.needs_input_grad
        dx = None
        if needs[0]:  # the same batch-contiguous layout as the forward result (see the class doc)
            dx = (weight.T @ grad.T).T if grad.ndim == 2 else grad @ weight
        if grad.ndim != 2:  # fold the leading axes (..., out) into one batch axis for dW and db
            grad, x = grad.reshape(-1, grad.shape[-1]), x.reshape(-1, x.shape[-1])
        dw = (grad.T @ x) if needs[1] else None
        if len(needs) == 2:  # called without a bias
            return dx, dw
        return dx, dw, (grad.sum(axis=0) if needs[2] else None)


def matmul(a: Any, b: Any) -> Tensor:
    """a @ b with NumPy semantics; clear errors for 0-d operands and mismatched inner sizes."""
    a, b = binary_operands("matmul", a, b)
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(f"matmul: operands must have at least 1 dimension, got shapes {a.shape} and {b.shape}")
    inner_a = a.shape[-1]
    inner_b = b.shape[0] if b.ndim == 1 else b.shape[-2]
    if inner_a != inner_b:
        raise ValueError(
            f"matmul: shapes {a.shape} and {b.shape} are not aligned: "
            f"{inner_a} (last axis of a) != {inner_b} ({'only' if b.ndim == 1 else 'second-to-last'} axis of b)"
        )
    if a.ndim > 2 or b.ndim > 2:
        broadcast_shape("matmul (batch axes)", a.shape[:-2], b.shape[:-2])
    return MatMul.apply(a, b)


def linear(x: Any, weight: Any, bias: Any = None) -> Tensor:
    """Dense layer: x (..., in) @ weight(out, in)^T + bias(out,) -> (..., out)."""
    x, weight = as_tensor(x), as_tensor(weight)
    tensors = [x, weight] + ([as_tensor(bias)] if bias is not None else [])
    # The checks read the arrays directly: on a small net they run as often as the arithmetic.
    xd, wd = x._data, weight._data
    if wd.ndim != 2 or xd.ndim < 1 or xd.shape[-1] != wd.shape[1]:
        raise ValueError(
            f"linear: input of shape {x.shape} does not fit weight of shape {weight.shape} "
            "(expected input (..., in_features) and weight (out_features, in_features))"
        )
    if bias is not None and tensors[2]._data.shape != (wd.shape[0],):
        raise ValueError(
            f"linear: bias of shape {tensors[2].shape} does not fit weight of shape {weight.shape} "
            f"(expected ({weight.shape[0]},))"
        )
    for t in tensors[1:]:  # the identity tests settle the common case without a call
        td = t._data
        if (type(td) is not type(xd) and backend.device_of(td) != backend.device_of(xd)) or (
            td.dtype is not xd.dtype and td.dtype != xd.dtype
        ):
            raise TypeError(f"linear: input is {x.dtype} on {x.device} but a parameter is {t.dtype} on {t.device}")
    if xd.dtype.kind != "f":
        raise TypeError(f"linear: expected floating-point tensors, got dtype {x.dtype}")
    return Linear.apply(*tensors)
