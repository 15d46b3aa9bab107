"""Turning the arguments of an op into Tensors, with errors that name the op.

Python scalars and raw arrays are constants: they take the dtype and device of the tensor
they meet, so ``x * 2.0`` stays float32 for a float32 ``x``. Two tensors must agree on the
device, and two floating tensors on the precision (no silent float32 -> float64 upcast).
"""

from __future__ import annotations

from typing import Any

from .. import backend
from ..autograd import Tensor


def constant_like(value: Any, like: Tensor) -> Tensor:
    """A non-differentiable tensor of ``value`` on the device of ``like``.

    When ``like`` is floating, the constant takes its dtype (``x * 2.0`` stays float32). A
    Python number is rounded once, straight to that dtype: it never passes through the
    default dtype, so ``float64_tensor * 0.1`` is exact in float64 whatever the default is.
    """
    floating = backend.is_floating(like.dtype)
    array = backend.as_array(value, device=like.device, keep_python_precision=floating)
    if array.dtype.kind not in "biuf":
        raise TypeError(f"expected a number or numeric array, got {type(value).__name__} of dtype {array.dtype}")
    if floating and array.dtype != like.dtype:
        array = array.astype(like.dtype)
    return Tensor._wrap(array, False, None)


def as_tensor(value: Any) -> Tensor:
    """``value`` itself if it is a Tensor, else a constant tensor of it."""
    return value if isinstance(value, Tensor) else Tensor(value)


def binary_operands(op: str, a: Any, b: Any) -> tuple[Tensor, Tensor]:
    """Convert the operands of a binary op and check that they can meet.

    Raises TypeError for mixed float precisions and for non-numeric operands, ValueError for
    tensors on different devices.
    """
    a_is, b_is = isinstance(a, Tensor), isinstance(b, Tensor)
    try:
        if a_is and not b_is:
            b = constant_like(b, a)
        elif b_is and not a_is:
            a = constant_like(a, b)
        elif not a_is:
            a, b = Tensor(a), Tensor(b)
    except (TypeError, ValueError) as err:
        raise TypeError(f"{op}: cannot use operands of type {type(a).__name__} and {type(b).__name__}: {err}") from err
    if a.device != b.device:
        raise ValueError(f"{op}: operands are on different devices ({a.device} and {b.device})")
    if a.dtype != b.dtype:
        fa, fb = backend.is_floating(a.dtype), backend.is_floating(b.dtype)
        if fa and fb:
            raise TypeError(
                f"{op}: dtype mismatch {a.dtype} and {b.dtype} (shapes {a.shape}, {b.shape}); "
                "convert one with .astype() so no precision is changed silently"
            )
        # an integer or boolean constant meeting a float tensor takes the float dtype
        if fa and not b.requires_grad:
            b = Tensor._wrap(b._data.astype(a.dtype), False, None)
        elif fb and not a.requires_grad:
            a = Tensor._wrap(a._data.astype(b.dtype), False, None)
    return a, b


def broadcast_shape(op: str, *shapes: tuple[int, ...]) -> tuple[int, ...]:
    """The broadcast result shape, or a ValueError naming the op and the shapes."""
    xp = backend.get_array_module()
    try:
        return xp.broadcast_shapes(*shapes)
    except ValueError:
        raise ValueError(f"{op}: shapes {' and '.join(str(s) for s in shapes)} cannot be broadcast together") from None


def normalize_axes(op: str, axis: Any, ndim: int) -> tuple[int, ...]:
    """Axis argument (None, int or tuple, negatives allowed) -> sorted tuple of non-negative axes."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    out = []
    for a in axes:
        if not isinstance(a, int) or isinstance(a, bool) or not -ndim <= a < ndim:
            raise ValueError(f"{op}: axis {a!r} is out of range for a tensor with {ndim} dimensions")
        out.append(a % ndim)
    if len(set(out)) != len(out):
        raise ValueError(f"{op}: repeated axis in {axis}")
    return tuple(sorted(out))
