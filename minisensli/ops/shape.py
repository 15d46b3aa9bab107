"""Shape operations: reshape, transpose, flatten, indexing, concatenate, stack, pad.

They move entries around without changing values, so each backward moves the gradient
back the inverse way (scatter-add for indexing, where an entry may be picked twice).
"""

from __future__ import annotations

import math
import operator
from typing import Any

from .. import backend
from ..autograd import Context, Function, Tensor, unbroadcast
from ._operands import as_tensor


class Reshape(Function):
    """y = x with a new shape (same entries in row-major order)."""

    returns_view = True

    @staticmethod
    def forward(ctx: Context, x: Any, shape: tuple[int, ...]) -> Any:
        ctx.in_shape = x.shape
        return x.reshape(shape)

    @staticmethod
    def backward(ctx: Context, grad: Any) -> tuple:
        return (grad.reshape(ctx.in_shape),)


class Transpose(Function):
    """y = x with permuted axes;  backward applies the inverse permutation."""

    returns_view = True

    @staticmethod
    def forward(ctx: Context, x: Any, axes: tuple[int, ...]) -> Any:
        ctx.axes = axes
        return x.transpose(axes)

    @staticmethod
    def backward(ctx: Context, grad: Any) -> tuple:
        inverse = [0] * len(ctx.axes)
        for i, a in enumerate(ctx.axes):
            inverse[a] = i
        return (grad.transpose(inverse),)


class GetItem(Function):
    """y = x[index] (slices, integers, integer/boolean arrays, None, Ellipsis).

    Backward scatters the gradient into zeros of x's shape (:class:`ScatterAdd`); repeated
    integer indices add up.
    """

    returns_view = True  # basic indexing gives a view (apply checks that the result really is one)

    @staticmethod
    def forward(ctx: Context, x: Any, index: Any) -> Any:
        ctx.in_shape, ctx.index = x.shape, index
        return x[index]

    @staticmethod
    def backward(ctx: Context, grad: Any) -> tuple:
        return (ScatterAdd.call(grad, index=ctx.index, shape=ctx.in_shape),)


class ScatterAdd(Function):
    """y = zeros(shape) with g added at ``index`` (repeated indices add up): the backward of
    x[index]. Its own backward is the indexing again: dg = grad[index]."""

    @staticmethod
    def forward(ctx: Context, g: Any, index: Any, shape: tuple[int, ...]) -> Any:
        ctx.index = index
        out = backend.get_array_module(g).zeros(shape, dtype=g.dtype)
        backend.scatter_add(out, index, g)
        return out

    @staticmethod
    def backward(ctx: Context, grad: Any) -> tuple:
        return (grad[ctx.index],)


class BroadcastTo(Function):
    """y = x broadcast to ``shape`` (a read-only view);  backward sums over the stretched axes."""

    returns_view = True

    @staticmethod
    def forward(ctx: Context, x: Any, shape: tuple[int, ...]) -> Any:
        ctx.in_shape = x.shape
        return backend.get_array_module(x).broadcast_to(x, shape)

    @staticmethod
    def backward(ctx: Context, grad: Any) -> tuple:
        return (unbroadcast(grad, ctx.in_shape),)


def broadcast_to(x: Any, shape: tuple[int, ...]) -> Any:
    """``x`` broadcast to ``shape``: a numpy/cupy view for an array, a recorded op for a Tensor."""
    if isinstance(x, Tensor):
        return BroadcastTo.apply(x, shape=tuple(shape))
    return backend.get_array_module(x).broadcast_to(x, shape)


class Concatenate(Function):
    """y = the inputs joined along ``axis``; backward cuts the gradient into the same pieces."""

    @staticmethod
    def forward(ctx: Context, *arrays: Any, axis: int) -> Any:
        ctx.axis = axis
        ctx.sizes = [a.shape[axis] for a in arrays]
        return backend.get_array_module(*arrays).concatenate(arrays, axis=axis)

    @staticmethod
    def backward(ctx: Context, grad: Any) -> tuple:
        pieces, start = [], 0
        for size in ctx.sizes:
            index = [slice(None)] * grad.ndim
            index[ctx.axis] = slice(start, start + size)
            pieces.append(grad[tuple(index)])
            start += size
        return tuple(pieces)


class Pad(Function):
    """y = x surrounded by ``value`` (pad_width as in numpy.pad); backward crops the gradient."""

    @staticmethod
    def forward(ctx: Context, x: Any, pad_width: tuple, value: float) -> Any:
        ctx.crop = tuple(slice(before, before + n) for (before, _), n in zip(pad_width, x.shape))
        return backend.get_array_module(x).pad(x, pad_width, mode="constant", constant_values=value)

    @staticmethod
    def backward(ctx: Context, grad: Any) -> tuple:
        return (grad[ctx.crop],)


def reshape(x: Any, *shape: Any) -> Tensor:
    """x with a new shape; accepts reshape(x, 2, 3) or reshape(x, (2, 3)), one -1 allowed."""
    x = as_tensor(x)
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    shape = tuple(int(n) for n in shape)
    known = math.prod(n for n in shape if n != -1)
    if shape.count(-1) > 1 or any(n < -1 for n in shape):
        valid = False
    elif -1 in shape:
        valid = known > 0 and x.size % known == 0
    else:
        valid = known == x.size
    if not valid:
        raise ValueError(f"reshape: cannot reshape a tensor of shape {x.shape} ({x.size} entries) into {shape}")
    return Reshape.apply(x, shape=shape)


def transpose(x: Any, *axes: Any) -> Tensor:
    """Permute axes; with no axes, reverse them (x.T), as in NumPy."""
    x = as_tensor(x)
    if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
        axes = tuple(axes[0])
    if not axes:
        axes = tuple(reversed(range(x.ndim)))
    try:
        axes = tuple(operator.index(a) for a in axes)  # ints and numpy integers; 1.0 or "0" are refused
    except TypeError:
        raise TypeError(f"transpose: axes must be integers, got {axes!r}") from None
    if sorted(a % x.ndim if x.ndim else a for a in axes) != list(range(x.ndim)):
        raise ValueError(f"transpose: axes {axes} are not a permutation of the {x.ndim} axes of shape {x.shape}")
    return Transpose.apply(x, axes=tuple(a % x.ndim for a in axes))


def flatten(x: Any) -> Tensor:
    """(N, d1, d2, ...) -> (N, d1*d2*...): keeps the batch axis."""
    x = as_tensor(x)
    if x.ndim < 1:
        raise ValueError("flatten: expected a tensor with a batch axis, got a 0-d tensor")
    return reshape(x, x.shape[0], math.prod(x.shape[1:]))


def _plain_index(index: Any, xp: Any) -> Any:
    """Replace Tensors and lists inside an index by arrays of the array module ``xp``."""
    if isinstance(index, tuple):
        return tuple(_plain_index(i, xp) for i in index)
    if isinstance(index, Tensor):
        return index._data
    if isinstance(index, list):
        return xp.asarray(index)
    return index


def getitem(x: Any, index: Any) -> Tensor:
    """x[index] with NumPy semantics; differentiable w.r.t. x."""
    x = as_tensor(x)
    index = _plain_index(index, backend.get_array_module(x._data))
    try:
        return GetItem.apply(x, index=index)
    except IndexError as err:
        raise IndexError(f"getitem: index {index!r} is invalid for a tensor of shape {x.shape}: {err}") from None


def _check_joinable(op: str, tensors: list[Tensor], axis: int, same_shape: bool) -> None:
    if not tensors:
        raise ValueError(f"{op}: expected at least one tensor")
    first = tensors[0]
    for t in tensors[1:]:
        if t.device != first.device or t.dtype != first.dtype:
            raise TypeError(
                f"{op}: all tensors need one device and dtype, got {first.dtype}/{first.device} "
                f"and {t.dtype}/{t.device}"
            )
        other = list(t.shape)
        mine = list(first.shape)
        if not same_shape and len(other) == len(mine) and -len(mine) <= axis < len(mine):
            other[axis] = mine[axis] = 0
        if other != mine:
            raise ValueError(
                f"{op}: shapes {[tuple(t.shape) for t in tensors]} do not match along "
                f"{'any axis' if same_shape else f'the axes other than {axis}'}"
            )


def concatenate(tensors: list[Any], axis: int = 0) -> Tensor:
    """Join tensors along an existing axis."""
    tensors = [as_tensor(t) for t in tensors]
    _check_joinable("concatenate", tensors, axis, same_shape=False)
    ndim = tensors[0].ndim
    if not -ndim <= axis < ndim:
        raise ValueError(f"concatenate: axis {axis} is out of range for {ndim}-d tensors")
    return Concatenate.apply(*tensors, axis=axis % ndim)


def stack(tensors: list[Any], axis: int = 0) -> Tensor:
    """Join same-shape tensors along a new axis."""
    tensors = [as_tensor(t) for t in tensors]
    _check_joinable("stack", tensors, axis, same_shape=True)
    ndim = tensors[0].ndim + 1
    if not -ndim <= axis < ndim:
        raise ValueError(f"stack: axis {axis} is out of range for a {ndim}-d result")
    axis %= ndim
    expanded = [reshape(t, t.shape[:axis] + (1,) + t.shape[axis:]) for t in tensors]
    return Concatenate.apply(*expanded, axis=axis)


def pad(x: Any, pad_width: Any, value: float = 0.0) -> Tensor:
    """Constant padding; pad_width is an int (every side of every axis), or one (before, after)
    pair per axis, as in numpy.pad."""
    x = as_tensor(x)
    if isinstance(pad_width, int):
        pairs = ((pad_width, pad_width),) * x.ndim
    else:
        pairs = tuple(tuple(int(v) for v in p) for p in pad_width)
    if len(pairs) != x.ndim or any(len(p) != 2 or min(p) < 0 for p in pairs):
        raise ValueError(
            f"pad: pad_width {pad_width!r} must give one (before, after) pair of non-negative ints "
            f"for each of the {x.ndim} axes of shape {x.shape}"
        )
    return Pad.apply(x, pad_width=pairs, value=value)
