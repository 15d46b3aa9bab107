"""The autograd engine: Tensor, Function, backward, no_grad.

A :class:`Tensor` wraps an array (``.data``) and, when it was produced by a differentiable
operation, a link to the :class:`Context` of that operation (``._ctx``). The contexts form
a directed acyclic graph from the result back to the leaves. ``loss.backward()``

1. orders the results of the recorded ops topologically with an explicit stack (no recursion,
   each node once),
2. walks them from the result towards the leaves, calling each op's ``backward`` with the
   gradient of the loss w.r.t. the op's output, and
3. sums the gradients that reach a tensor along several paths (a tensor used twice): an op's
   result is processed once all of them have arrived, and a leaf that requires a gradient adds
   each one to its ``.grad`` as it arrives (so leaves need no place in the order).

Each op is a :class:`Function` subclass with two static methods on raw arrays:
``forward(ctx, *arrays, **params) -> array`` and ``backward(ctx, grad) -> tuple of arrays``
(one gradient per input, ``None`` where no gradient is needed). ``ctx`` keeps what backward
needs. The operators of Tensor (``+``, ``@``, ``.sum()``, ...) delegate to the Functions in
:mod:`minisensli.ops`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from . import backend

_grad_enabled = True


@contextlib.contextmanager
def no_grad() -> Iterator[None]:
    """Context manager (and decorator) in which operations record no graph.

    Use it for evaluation and for parameter updates: results have ``requires_grad=False``.
    """
    global _grad_enabled
    previous = _grad_enabled
    _grad_enabled = False
    try:
        yield
    finally:
        _grad_enabled = previous


def is_grad_enabled() -> bool:
    """False inside ``no_grad()``."""
    return _grad_enabled


def unbroadcast(grad: Any, shape: tuple[int, ...]) -> Any:
    """Sum ``grad`` down to ``shape``: the backward of NumPy broadcasting.

    Broadcasting prepends axes and stretches size-1 axes; the gradient of an input that was
    broadcast is the sum over the axes it was stretched along.
    """
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    if extra > 0:
        grad = grad.sum(axis=tuple(range(extra)))
    stretched = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if stretched:
        grad = grad.sum(axis=stretched, keepdims=True)
    return grad


class Context:
    """What one op remembers between forward and backward; also a node of the graph.

    ``parents`` are the op's input tensors, ``needs_input_grad[i]`` tells whether input i
    wants a gradient. Arrays saved with :meth:`save_for_backward` are dropped after backward
    (unless ``retain_graph=True``), so a second backward through the same graph is an error.
    """

    __slots__ = ("function", "parents", "needs_input_grad", "saved_arrays", "released", "__dict__")

    def __init__(self, function: type, parents: tuple, needs_input_grad: tuple[bool, ...]) -> None:
        self.function = function
        self.parents = parents
        self.needs_input_grad = needs_input_grad
        self.saved_arrays: tuple = ()
        self.released = False

    def save_for_backward(self, *arrays: Any) -> None:
        self.saved_arrays = arrays

    def release(self) -> None:
        """Free the saved arrays (called by backward unless the graph is retained)."""
        self.saved_arrays = ()
        self.released = True


class Function:
    """Base class of differentiable operations.

    Subclasses implement ``forward(ctx, *arrays, **params)`` and ``backward(ctx, grad)`` as
    static methods and are called through :meth:`apply`, which takes Tensors.
    """

    @staticmethod
    def forward(ctx: Context, *arrays: Any, **params: Any) -> Any:
        raise NotImplementedError

    @staticmethod
    def backward(ctx: Context, grad: Any) -> tuple:
        raise NotImplementedError

    @classmethod
    def apply(cls, *inputs: Tensor, **params: Any) -> Tensor:
        """Run forward on the inputs' arrays and, if any input needs a gradient, record the op."""
        needs = tuple([t.requires_grad for t in inputs]) if _grad_enabled else ()
        record = True in needs
        ctx = Context(cls, inputs if record else (), needs)
        out = cls.forward(ctx, *[t.data for t in inputs], **params)
        return Tensor._wrap(out, record, ctx if record else None)


class Tensor:
    """An n-dimensional array that records the operations applied to it.

    Tensor(data, requires_grad=False, dtype=None, device=None)

    data: anything ``numpy.asarray`` accepts, or a numpy/cupy array (not copied). Python
    floats become the default dtype (float32 unless ``ms.set_default_dtype`` changed it);
    arrays keep their dtype. Only floating-point tensors can require gradients.
    device: "cpu" (numpy) or "gpu" (cupy); None keeps an array where it is.
    """

    __slots__ = ("data", "grad", "requires_grad", "_ctx", "_retains_grad", "__weakref__")
    __array_priority__ = 100  # numpy_array * tensor calls Tensor.__rmul__, not numpy's loop

    def __init__(self, data: Any, requires_grad: bool = False, dtype: Any = None, device: str | None = None) -> None:
        if isinstance(data, Tensor):
            data = data.data
        self.data = backend.as_array(data, dtype=dtype, device=device)
        self.grad = None
        self._ctx = None
        self._retains_grad = False
        self.requires_grad = False
        if requires_grad:
            self.requires_grad_(True)

    @classmethod
    def _wrap(cls, array: Any, requires_grad: bool, ctx: Context | None) -> Tensor:
        """Fast constructor for op results: no conversion, no checks."""
        t = object.__new__(cls)
        t.data = array
        t.grad = None
        t.requires_grad = requires_grad
        t._ctx = ctx
        t._retains_grad = False
        return t

    # ------------------------------------------------------------------ properties

    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def size(self) -> int:
        return self.data.size

    @property
    def dtype(self) -> Any:
        return self.data.dtype

    @property
    def device(self) -> str:
        return backend.device_of(self.data)

    @property
    def is_leaf(self) -> bool:
        """True for tensors created by the user (not by an op that recorded a graph)."""
        return self._ctx is None

    def requires_grad_(self, flag: bool = True) -> Tensor:
        """Set ``requires_grad`` in place (leaves only); returns self."""
        if flag and not backend.is_floating(self.data.dtype):
            raise TypeError(
                f"Tensor: only floating-point tensors can require gradients, got dtype {self.data.dtype}; "
                "create it with dtype='float64' (or float32)"
            )
        if not self.is_leaf:
            raise RuntimeError("requires_grad_: only leaf tensors can change requires_grad; use .detach() first")
        self.requires_grad = bool(flag)
        return self

    def retain_grad(self) -> Tensor:
        """Keep ``.grad`` on this non-leaf tensor after backward (leaves always keep it)."""
        if not self.requires_grad:
            raise RuntimeError("retain_grad: tensor does not require grad")
        self._retains_grad = True
        return self

    def detach(self) -> Tensor:
        """A new leaf tensor sharing the data, cut off from the graph."""
        return Tensor._wrap(self.data, False, None)

    def numpy(self) -> Any:
        """The values as a numpy array (copied from the GPU if needed)."""
        return backend.to_numpy(self.data)

    def item(self) -> Any:
        """The single value of a one-element tensor as a Python number."""
        if self.data.size != 1:
            raise ValueError(f"item: tensor of shape {self.shape} has {self.data.size} elements, expected 1")
        return backend.to_numpy(self.data).item()  # the one explicit copy to the host

    def __bool__(self) -> bool:
        """Truth of a one-element tensor; more (or fewer) elements are ambiguous, as in NumPy."""
        if self.data.size != 1:
            raise ValueError(
                f"bool: the truth value of a tensor of shape {self.shape} with {self.data.size} "
                "elements is ambiguous; use (t != 0).data.any() or .all()"
            )
        return bool(self.data.reshape(()).item())

    def __len__(self) -> int:
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __repr__(self) -> str:
        values = backend.to_numpy(self.data)
        body = backend.get_array_module(values).array2string(values, separator=", ", prefix="Tensor(")
        extras = []
        if self.device != "cpu":
            extras.append(f"device='{self.device}'")
        if self._ctx is not None:
            extras.append(f"grad_fn={self._ctx.function.__name__}")
        elif self.requires_grad:
            extras.append("requires_grad=True")
        return "Tensor(" + ", ".join([body, *extras]) + ")"

    # ------------------------------------------------------------------ backward

    def backward(self, gradient: Any = None, retain_graph: bool = False) -> None:
        """Backpropagate from this tensor; leaves that require grad get ``.grad`` (accumulated).

        gradient: d(loss)/d(self), same shape as self. May be omitted for a one-element tensor
        (then it is 1). retain_graph: keep the saved arrays so backward can run again.
        """
        if not self.requires_grad:
            raise RuntimeError(
                "backward: this tensor does not require grad (no input had requires_grad=True, "
                "or it was computed under no_grad())"
            )
        if gradient is None:
            if self.data.size != 1:
                raise RuntimeError(
                    f"backward: called on a non-scalar tensor of shape {self.shape}; "
                    "pass gradient= (same shape) or reduce it first, e.g. y.sum().backward()"
                )
            # array(1) is one C call; ones_like goes through two Python-level NumPy functions
            gradient = backend.get_array_module(self.data).array(1, dtype=self.data.dtype).reshape(self.shape)
        else:
            gradient = gradient.data if isinstance(gradient, Tensor) else gradient
            gradient = backend.get_array_module(self.data).asarray(gradient, dtype=self.data.dtype)
            if gradient.shape != self.shape:
                raise ValueError(
                    f"backward: gradient has shape {gradient.shape}, but the tensor has shape {self.shape}"
                )
        if self._ctx is None:  # backward of a leaf: d(self)/d(self)
            _accumulate(self, gradient)
            return

        # Tensors hash by identity (Tensor defines no __eq__), so they key the gradient table.
        grads = {self: gradient}
        for node in _topological_order(self):
            grad = grads.pop(node, None)
            if grad is None:  # every path to it ended in an op that returned None for it
                continue
            if node._retains_grad:
                _accumulate(node, grad)
            ctx = node._ctx
            if ctx.released:
                raise RuntimeError(
                    f"backward: the graph through {ctx.function.__name__} was already freed by an earlier "
                    "backward; call the first backward with retain_graph=True to backpropagate twice"
                )
            input_grads = ctx.function.backward(ctx, grad)
            if not isinstance(input_grads, tuple):
                input_grads = (input_grads,)
            if len(input_grads) != len(ctx.parents):
                raise RuntimeError(
                    f"{ctx.function.__name__}.backward returned {len(input_grads)} gradients "
                    f"for {len(ctx.parents)} inputs"
                )
            for parent, needed, pgrad in zip(ctx.parents, ctx.needs_input_grad, input_grads):
                if not needed or pgrad is None:
                    continue
                if pgrad.shape != parent.data.shape:
                    raise RuntimeError(
                        f"{ctx.function.__name__}.backward returned a gradient of shape {pgrad.shape} "
                        f"for an input of shape {parent.shape}"
                    )
                if parent._ctx is None:
                    _accumulate(parent, pgrad)
                else:
                    grads[parent] = pgrad if parent not in grads else grads[parent] + pgrad
            if not retain_graph:
                ctx.release()

    # ------------------------------------------------------------------ operators (see minisensli.ops)

    def __add__(self, other: Any) -> Tensor:
        return ops.add(self, other)

    def __radd__(self, other: Any) -> Tensor:
        return ops.add(other, self)

    def __sub__(self, other: Any) -> Tensor:
        return ops.sub(self, other)

    def __rsub__(self, other: Any) -> Tensor:
        return ops.sub(other, self)

    def __mul__(self, other: Any) -> Tensor:
        return ops.mul(self, other)

    def __rmul__(self, other: Any) -> Tensor:
        return ops.mul(other, self)

    def __truediv__(self, other: Any) -> Tensor:
        return ops.div(self, other)

    def __rtruediv__(self, other: Any) -> Tensor:
        return ops.div(other, self)

    def __neg__(self) -> Tensor:
        return ops.neg(self)

    def __pow__(self, exponent: Any) -> Tensor:
        return ops.pow(self, exponent)

    def __rpow__(self, base: Any) -> Tensor:
        return ops.rpow(self, base)

    def __matmul__(self, other: Any) -> Tensor:
        return ops.matmul(self, other)

    def __rmatmul__(self, other: Any) -> Tensor:
        return ops.matmul(other, self)

    def __getitem__(self, index: Any) -> Tensor:
        return ops.getitem(self, index)

    def exp(self) -> Tensor:
        return ops.exp(self)

    def log(self) -> Tensor:
        return ops.log(self)

    def sqrt(self) -> Tensor:
        return ops.sqrt(self)

    def relu(self) -> Tensor:
        return ops.relu(self)

    def tanh(self) -> Tensor:
        return ops.tanh(self)

    def sigmoid(self) -> Tensor:
        return ops.sigmoid(self)

    def sum(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        return ops.sum(self, axis=axis, keepdims=keepdims)

    def mean(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        return ops.mean(self, axis=axis, keepdims=keepdims)

    def max(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        return ops.max(self, axis=axis, keepdims=keepdims)

    def min(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        return ops.min(self, axis=axis, keepdims=keepdims)

    def argmax(self, axis: int | None = None) -> Tensor:
        """Indices of the maxima (an integer tensor, not differentiable)."""
        return Tensor._wrap(self.data.argmax(axis=axis), False, None)

    def reshape(self, *shape: Any) -> Tensor:
        return ops.reshape(self, *shape)

    def transpose(self, *axes: Any) -> Tensor:
        return ops.transpose(self, *axes)

    @property
    def T(self) -> Tensor:  # noqa: N802 - NumPy's name
        return ops.transpose(self)

    def flatten(self) -> Tensor:
        """Keep the first (batch) axis, flatten the rest: (N, ...) -> (N, prod(...))."""
        return ops.flatten(self)

    def astype(self, dtype: Any) -> Tensor:
        return ops.astype(self, dtype)

    def to(self, device: str | None = None, dtype: Any = None) -> Tensor:
        """Move to ``device`` and/or convert to ``dtype``; differentiable."""
        out = self
        if device is not None and backend.check_device(device) != self.device:
            out = ops.to_device(out, device)
        if dtype is not None and backend.as_dtype(dtype) != self.dtype:
            out = ops.astype(out, dtype)
        return out


def _accumulate(tensor: Tensor, grad: Any) -> None:
    """Add ``grad`` to ``tensor.grad``. A first gradient that is a view (e.g. the broadcast gradient
    of a reduction) is copied, so that ``.grad`` owns its memory and can be modified in place by
    its user without touching another array."""
    if tensor.grad is None:
        tensor.grad = grad if grad.base is None else grad.copy()
    else:
        tensor.grad = tensor.grad + grad


def _topological_order(root: Tensor) -> list[Tensor]:
    """Results of recorded ops reachable from ``root`` through inputs that need gradients,
    outputs before inputs; leaves are left out (backward adds to their ``.grad`` directly).

    Iterative depth-first search: a node is appended after all of its inputs (post-order),
    and the reversed list visits every node before the inputs it consumed. Each node is
    visited once, however many paths lead to it (residual nets make many diamonds).
    """
    order: list[Tensor] = []
    visited: set[Tensor] = set()
    stack: list[tuple[Tensor, bool]] = [(root, False)]
    while stack:
        node, inputs_done = stack.pop()
        if inputs_done:
            order.append(node)
            continue
        if node in visited:  # reached again along another path (pushed twice before its first visit)
            continue
        visited.add(node)
        stack.append((node, True))
        ctx = node._ctx
        for parent, needed in zip(ctx.parents, ctx.needs_input_grad):
            if needed and parent._ctx is not None and parent not in visited:
                stack.append((parent, False))
    order.reverse()
    return order


# The ops module builds on Tensor and Function above; it is imported last so that the
# operator methods can reach it without a circular import at load time.
from . import ops  # noqa: E402
