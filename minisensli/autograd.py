"""The autograd engine: Tensor, Function, backward (first and higher order), no_grad.

A :class:`Tensor` wraps an array (``.data``) and, when it was produced by a differentiable
operation, a link to the :class:`Context` of that operation (``._ctx``). The contexts form
a directed acyclic graph from the result back to the leaves. ``loss.backward()``

1. orders the results of the recorded ops topologically with an explicit stack (no recursion,
   each node once),
2. walks them from the result towards the leaves, calling each op's ``backward`` with the
   gradient of the loss w.r.t. the op's output, and
3. sums the gradients that reach a tensor along several paths (a tensor used twice): an op's
   result is processed once all of them have arrived, and a leaf that requires a gradient adds
   each one to its ``.grad`` as it arrives (so leaves need no place in the order). Every leaf's
   ``.grad`` is an array of its own: never a view, never shared with another leaf or with the
   ``gradient`` the caller passed in.

Each op is a :class:`Function` subclass with two static methods:
``forward(ctx, *arrays, **params) -> array`` and ``backward(ctx, grad) -> tuple`` (one gradient
per input, ``None`` where no gradient is needed). ``ctx`` keeps what backward needs
(``ctx.save_for_backward(...)`` for arrays, attributes for shapes and settings). The operators of
Tensor (``+``, ``@``, ``.sum()``, ...) delegate to the Functions in :mod:`minisensli.ops`.

Higher derivatives: one formula, two modes
------------------------------------------
Each backward is written once, with operations that arrays and Tensors both have (``+ - * /``,
``@``, ``.sum(axis, keepdims)``, ``.reshape``, ``.transpose``, comparisons) or with
``SomeOp.call(...)`` (:meth:`Function.call`: the op's forward on arrays, the recorded op on
Tensors), e.g. conv2d's backward calls the ops of its two gradients, whose backward passes are
convolutions again. A new op is still a Function with a forward and a backward; written this
way, it also has every higher derivative. The engine runs the formula in one of two modes:

- ``create_graph=False`` (training): ``grad`` and ``ctx.saved_arrays`` are raw arrays and the
  formula is plain array code, as fast as hand-written NumPy (``Tensor.backward`` walks the graph
  in a lean loop of its own, ``_backward_arrays``).
- ``create_graph=True``: ``grad`` is a Tensor and ``ctx.saved_arrays`` hands out Tensors (the op's
  inputs and its output as themselves, so the new graph reaches through them; any other saved
  array as a constant), grad mode is on, and the same formula records the graph of the gradient.
  ``.grad`` is then a Tensor that can be differentiated again (:func:`grad`, ``ms.hvp``).

A Function whose backward uses array-only calls (``np.tanh`` on a saved array, in-place writes)
still works at first order; differentiating through it twice raises an error naming it.

In-place changes: a version counter per array
---------------------------------------------
Ops save their input and output arrays themselves (no copies), so the engine checks instead of
copying. Every tensor carries a version (``_version``: the global in-place clock at the last
assignment to its ``.data``, which includes ``t.data -= ...`` and ``t.data += ...``, i.e. every
optimizer step); a view (reshape, transpose, basic indexing, detach) uses the version of the
tensor that owns the memory (``_base``). Each recorded op remembers the global clock at its
forward; at backward, an op whose saved arrays belong to a tensor changed since then raises a
RuntimeError naming the op, as PyTorch does, instead of silently using the new values.
Writes into ``t.data[...]`` by index bypass the counter (as they bypass PyTorch's through
``.data``).
"""

from __future__ import annotations

import contextlib
import operator
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from . import backend

_grad_enabled = True

# The global clock of in-place changes: a write to a tensor's ``.data`` advances it and stamps the
# tensor's version box with the new time; each Context remembers the time of its forward.
_clock = [0]


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


@contextlib.contextmanager
def enable_grad() -> Iterator[None]:
    """Context manager (and decorator) that turns recording back on, e.g. inside ``no_grad()``."""
    global _grad_enabled
    previous = _grad_enabled
    _grad_enabled = True
    try:
        yield
    finally:
        _grad_enabled = previous


def is_grad_enabled() -> bool:
    """False inside ``no_grad()``."""
    return _grad_enabled


def unbroadcast(grad: Any, shape: tuple[int, ...]) -> Any:
    """Sum ``grad`` down to ``shape``: the backward of NumPy broadcasting (arrays or Tensors).

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
    wants a gradient, ``stamp`` is the in-place clock at forward time. Arrays saved with
    :meth:`save_for_backward` are dropped after backward (unless ``retain_graph=True``), so a
    second backward through the same graph is an error.
    """

    __slots__ = ("function", "parents", "needs_input_grad", "saved_arrays", "released", "stamp", "__dict__")

    def __init__(self, function: type[Function], parents: tuple, needs_input_grad: tuple[bool, ...]) -> None:
        self.function = function
        self.parents = parents
        self.needs_input_grad = needs_input_grad
        self.saved_arrays: tuple = ()
        self.released = False
        self.stamp = _clock[0]

    if TYPE_CHECKING:  # ops keep their settings as attributes of their own choosing (ctx.axis, ctx.shapes)

        def __getattr__(self, name: str) -> Any: ...

        def __setattr__(self, name: str, value: Any) -> None: ...

    def save_for_backward(self, *arrays: Any) -> None:
        self.saved_arrays = arrays

    def release(self) -> None:
        """Free the saved arrays (called by backward unless the graph is retained)."""
        self.saved_arrays = ()
        self.released = True


class _RecordingContext:
    """The context as a backward formula sees it while the backward pass is recorded
    (``create_graph=True``): saved arrays come out as Tensors, everything else is the op's own."""

    __slots__ = ("_ctx", "saved_arrays")

    def __init__(self, ctx: Context, output: Tensor) -> None:
        self._ctx = ctx
        by_id = {id(output._data): output}
        for p in ctx.parents:
            by_id[id(p._data)] = p
        self.saved_arrays = tuple(
            by_id[id(s)] if id(s) in by_id else (Tensor._wrap(s, False, None) if hasattr(s, "shape") else s)
            for s in ctx.saved_arrays
        )

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ctx, name)


class Function:
    """Base class of differentiable operations.

    Subclasses implement ``forward(ctx, *arrays, **params)`` and ``backward(ctx, grad)`` as
    static methods and are called through :meth:`apply`, which takes Tensors. ``returns_view``
    marks ops whose result may share memory with their first input (reshape, transpose,
    indexing): the result then shares the input's version counter.
    """

    returns_view = False

    @staticmethod
    def forward(ctx: Context, *arrays: Any, **params: Any) -> Any:
        raise NotImplementedError

    @staticmethod
    def backward(ctx: Context, grad: Any) -> tuple:
        raise NotImplementedError

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # View ops get an apply that links the result to the owner's version counter. The check
        # lives here, once per class, rather than in apply: apply runs for every op of every
        # training step, and almost no op is a view.
        if cls.returns_view and "apply" not in cls.__dict__:
            cls.apply = classmethod(_apply_view)  # type: ignore[method-assign, assignment]

    @classmethod
    def apply(cls, *inputs: Tensor, **params: Any) -> Tensor:
        """Run forward on the inputs' arrays and, if any input needs a gradient, record the op."""
        needs = tuple([t.requires_grad for t in inputs]) if _grad_enabled else ()
        record = True in needs
        ctx = Context(cls, inputs if record else (), needs)
        out = cls.forward(ctx, *[t._data for t in inputs], **params)
        # Tensor._wrap written out: a small net's step makes a dozen of these, and the call costs
        # as much as the stores
        t = object.__new__(Tensor)
        t._data = out
        t.grad = None
        t.requires_grad = record
        t._ctx = ctx if record else None
        t._retains_grad = False
        t._version = 0
        t._base = None
        return t

    @classmethod
    def call(cls, *inputs: Any, **params: Any) -> Any:
        """The op on arrays (forward only, nothing recorded, an array back) or, when any input is
        a Tensor, through :meth:`apply` (a Tensor back). Backward formulas use it to call another
        op in both modes of the engine."""
        if any(isinstance(v, Tensor) for v in inputs):
            return cls.apply(*[v if isinstance(v, Tensor) else Tensor._wrap(v, False, None) for v in inputs], **params)
        return cls.forward(Context(cls, (), ()), *inputs, **params)


def _apply_view(cls: type[Function], *inputs: Tensor, **params: Any) -> Tensor:
    """Function.apply for ops with ``returns_view``: a result that really shares the input's
    memory (NumPy may still copy, e.g. reshaping a transposed array) shares its version counter."""
    result = Function.apply.__func__(cls, *inputs, **params)  # type: ignore[attr-defined]
    if getattr(result._data, "base", None) is not None:
        result._base = _owner(inputs[0])
    return result


def _data_of(value: Any) -> Any:
    """The array of a Tensor, or ``value`` itself (a saved value is a Tensor when backward records)."""
    return value._data if isinstance(value, Tensor) else value


def _owner(t: Tensor) -> Tensor:
    """The tensor that owns ``t``'s memory and version counter (``t`` itself unless it is a view)."""
    return t if t._base is None else t._base


class Tensor:
    """An n-dimensional array that records the operations applied to it.

    Tensor(data, requires_grad=False, dtype=None, device=None)

    data: anything ``numpy.asarray`` accepts that holds numbers (booleans, integers or floats),
    or a numpy/cupy array (not copied). Python floats become the default dtype (float32 unless
    ``ms.set_default_dtype`` changed it); arrays keep their dtype. Only floating-point tensors
    can require gradients.
    device: "cpu" (numpy) or "gpu" (cupy); None keeps an array where it is.
    """

    __slots__ = ("_data", "grad", "requires_grad", "_ctx", "_retains_grad", "_version", "_base", "__weakref__")
    _data: Any
    grad: Any
    requires_grad: bool
    _ctx: Context | None
    _retains_grad: bool
    _version: int  # the in-place clock at the last write to .data (0: never written)
    _base: Tensor | None  # the tensor whose memory this one views, if any
    __array_priority__ = 100  # numpy_array * tensor calls Tensor.__rmul__, not numpy's loop

    def __init__(self, data: Any, requires_grad: bool = False, dtype: Any = None, device: str | None = None) -> None:
        source = data if isinstance(data, Tensor) else None
        if source is not None:
            data = source._data
        array = backend.as_array(data, dtype=dtype, device=device)
        if array.dtype.kind not in "biuf":
            what = {"U": "text", "S": "bytes", "O": "Python objects", "c": "complex numbers"}.get(array.dtype.kind, "")
            raise TypeError(
                f"Tensor: data must be numbers (bool, int or float), got dtype {array.dtype}"
                + (f" ({what})" if what else "")
            )
        self._data = array
        self._version = 0
        # a tensor made from another one without a copy shares its memory, hence its version counter
        self._base = _owner(source) if source is not None and array is data else None
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
        t._data = array
        t.grad = None
        t.requires_grad = requires_grad
        t._ctx = ctx
        t._retains_grad = False
        t._version = 0  # no allocation here: op results are made by the thousand per step
        t._base = None
        return t

    # ------------------------------------------------------------------ properties

    def _set_data(self, value: Any) -> None:
        self._data = value
        _clock[0] += 1
        (self if self._base is None else self._base)._version = _clock[0]

    # The getter is a C-level attrgetter: ``.data`` is read all over the package and by users.
    data = property(
        operator.attrgetter("_data"),
        _set_data,
        doc="The array. Assigning to it (also ``t.data -= ...``) bumps the version counter.",
    )

    @property
    def shape(self) -> tuple[int, ...]:
        return self._data.shape

    @property
    def ndim(self) -> int:
        return self._data.ndim

    @property
    def size(self) -> int:
        return self._data.size

    @property
    def dtype(self) -> Any:
        return self._data.dtype

    @property
    def device(self) -> str:
        return backend.device_of(self._data)

    @property
    def is_leaf(self) -> bool:
        """True for tensors created by the user (not by an op that recorded a graph)."""
        return self._ctx is None

    def requires_grad_(self, flag: bool = True) -> Tensor:
        """Set ``requires_grad`` in place (leaves only); returns self."""
        if flag and not backend.is_floating(self._data.dtype):
            raise TypeError(
                f"Tensor: only floating-point tensors can require gradients, got dtype {self._data.dtype}; "
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
        """A new leaf tensor sharing the data (and its version counter), cut off from the graph."""
        t = Tensor._wrap(self._data, False, None)
        t._base = _owner(self)
        return t

    def numpy(self) -> Any:
        """The values as a numpy array (copied from the GPU if needed)."""
        return backend.to_numpy(self._data)

    def item(self) -> Any:
        """The single value of a one-element tensor as a Python number."""
        if self._data.size != 1:
            raise ValueError(f"item: tensor of shape {self.shape} has {self._data.size} elements, expected 1")
        return backend.to_numpy(self._data).item()  # the one explicit copy to the host

    def __bool__(self) -> bool:
        """Truth of a one-element tensor; more (or fewer) elements are ambiguous, as in NumPy."""
        if self._data.size != 1:
            raise ValueError(
                f"bool: the truth value of a tensor of shape {self.shape} with {self._data.size} "
                "elements is ambiguous; use (t != 0).data.any() or .all()"
            )
        return bool(self._data.reshape(()).item())

    def __len__(self) -> int:
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __repr__(self) -> str:
        values = backend.to_numpy(self._data)
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

    def backward(self, gradient: Any = None, retain_graph: bool | None = None, create_graph: bool = False) -> None:
        """Backpropagate from this tensor; leaves that require grad get ``.grad`` (accumulated).

        gradient: d(loss)/d(self), same shape as self. May be omitted for a one-element tensor
        (then it is 1). retain_graph: keep the saved arrays so backward can run again (default:
        the value of create_graph). create_graph: record the backward pass, so that ``.grad``
        is a Tensor with a graph of its own that can be differentiated again.
        """
        if not self.requires_grad:
            raise RuntimeError(
                "backward: this tensor does not require grad (no input had requires_grad=True, "
                "or it was computed under no_grad())"
            )
        if not create_graph and self._ctx is not None:  # training: the lean loop on arrays
            if gradient is None and self._data.size == 1:  # array(1) is one C call; ones_like two Python ones
                seed = backend.get_array_module(self._data).array(1, dtype=self._data.dtype).reshape(self.shape)
            else:  # the caller keeps its array: the seed passes through ops unchanged and is then copied
                seed = _seed_gradient("backward", self, gradient, False)
            _backward_arrays(self, seed, bool(retain_graph))
            return
        seed = _seed_gradient("backward", self, gradient, create_graph)
        keep = create_graph if retain_graph is None else retain_graph
        _run_backward((self,), (seed,), retain_graph=keep, create_graph=create_graph, user_seeds=gradient is not None)

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

    # Comparisons give boolean tensors, outside the graph (their derivative is zero almost
    # everywhere); backward formulas use them as masks, e.g. relu's ``grad * (out > 0)``.
    # ``==`` stays identity, so tensors can key dictionaries.

    def __gt__(self, other: Any) -> Tensor:
        return Tensor._wrap(self._data > _data_of(other), False, None)

    def __ge__(self, other: Any) -> Tensor:
        return Tensor._wrap(self._data >= _data_of(other), False, None)

    def __lt__(self, other: Any) -> Tensor:
        return Tensor._wrap(self._data < _data_of(other), False, None)

    def __le__(self, other: Any) -> Tensor:
        return Tensor._wrap(self._data <= _data_of(other), False, None)

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
        return Tensor._wrap(self._data.argmax(axis=axis), False, None)

    def reshape(self, *shape: Any) -> Tensor:
        return ops.reshape(self, *shape)

    def transpose(self, *axes: Any) -> Tensor:
        return ops.transpose(self, *axes)

    def swapaxes(self, axis1: int, axis2: int) -> Tensor:
        """Exchange two axes (NumPy's swapaxes), through transpose."""
        axes = list(range(self.ndim))
        axes[axis1], axes[axis2] = axes[axis2], axes[axis1]
        return ops.transpose(self, tuple(axes))

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


# ---------------------------------------------------------------------- the backward pass


def _seed_gradient(op: str, root: Tensor, gradient: Any, create_graph: bool) -> Any:
    """d(loss)/d(root) as the pass needs it: an array, or a Tensor when the pass is recorded."""
    if gradient is None:
        if root._data.size != 1:
            raise RuntimeError(
                f"{op}: called on a non-scalar tensor of shape {root.shape}; "
                "pass gradient= (same shape) or reduce it first, e.g. y.sum().backward()"
            )
        # array(1) is one C call; ones_like goes through two Python-level NumPy functions
        seed = backend.get_array_module(root._data).array(1, dtype=root._data.dtype).reshape(root.shape)
        return Tensor._wrap(seed, False, None) if create_graph else seed
    if isinstance(gradient, Tensor):
        if gradient.shape != root.shape:
            raise ValueError(f"{op}: gradient has shape {gradient.shape}, but the tensor has shape {root.shape}")
        if gradient.dtype != root.dtype:
            gradient = gradient.astype(root.dtype)
        return gradient if create_graph else gradient._data
    array = backend.get_array_module(root._data).asarray(gradient, dtype=root._data.dtype)
    if array.shape != root.shape:
        raise ValueError(f"{op}: gradient has shape {array.shape}, but the tensor has shape {root.shape}")
    return Tensor._wrap(array, False, None) if create_graph else array


def _run_backward(
    roots: Sequence[Tensor],
    seeds: Sequence[Any],
    retain_graph: bool,
    create_graph: bool,
    captured: dict[Tensor, Any] | None = None,
    user_seeds: bool = True,
) -> None:
    """The backward pass from ``roots`` (with gradients ``seeds``) to the leaves.

    ``captured is None``: leaves that require grad get ``.grad`` (and tensors that called
    ``retain_grad``). Otherwise only the tensors keyed in ``captured`` receive their gradient
    there, and no ``.grad`` is touched (:func:`grad`). With ``create_graph`` the formulas run on
    Tensors with grad mode on (see the module docstring); else on arrays with grad mode off.
    """
    global _grad_enabled
    handed: set[int] = set(map(id, seeds)) if user_seeds else set()  # arrays the caller owns or a leaf got
    grads: dict[Tensor, Any] = {}
    inner = []  # the roots made by ops (a leaf root is its own gradient)
    for root, seed in zip(roots, seeds):
        if root._ctx is None:
            _deliver(root, seed, captured, handed)
        else:
            grads[root] = seed if root not in grads else grads[root] + seed
            inner.append(root)
    if not inner:
        return
    clock = _clock[0]
    previous_mode = _grad_enabled
    _grad_enabled = create_graph
    try:
        for node in _topological_order(inner):
            # Tensors hash by identity (Tensor defines no __eq__), so they key the gradient table.
            grad = grads.pop(node, None)
            if grad is None:  # every path to it ended in an op that returned None for it
                continue
            if captured is not None:
                if node in captured:
                    captured[node] = grad if captured[node] is None else captured[node] + grad
            elif node._retains_grad:
                _accumulate(node, grad, handed)
            ctx: Context = node._ctx  # type: ignore[assignment]  # every node in the order was made by an op
            if ctx.released:
                raise RuntimeError(
                    f"backward: the graph through {ctx.function.__name__} was already freed by an earlier "
                    "backward; call the first backward with retain_graph=True to backpropagate twice"
                )
            if ctx.stamp != clock:  # something was modified in place since the forward of some op
                _check_versions(ctx, node, create_graph)
            if create_graph:
                input_grads = _recorded_backward(ctx, node, grad)
            else:
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
                if pgrad.shape != parent._data.shape:
                    raise RuntimeError(
                        f"{ctx.function.__name__}.backward returned a gradient of shape {pgrad.shape} "
                        f"for an input of shape {parent.shape}"
                    )
                if parent._ctx is None:  # a leaf (inlined _deliver: this runs once per parameter and step)
                    if captured is not None:
                        _deliver(parent, pgrad, captured, handed)
                    elif parent.requires_grad:
                        if parent.grad is not None:
                            parent.grad = parent.grad + pgrad
                        elif create_graph or pgrad.base is not None or id(pgrad) in handed or pgrad.ndim == 0:
                            parent.grad = _own(pgrad, handed)
                        else:  # a fresh array no one else holds: the common case, kept inline
                            handed.add(id(pgrad))
                            parent.grad = pgrad
                else:
                    grads[parent] = pgrad if parent not in grads else grads[parent] + pgrad
            if not retain_graph:
                ctx.release()
    finally:
        _grad_enabled = previous_mode


def _backward_arrays(root: Tensor, seed: Any, retain_graph: bool) -> None:
    """``_run_backward`` for one root, on arrays, into ``.grad``: the path every training step
    takes, written out without the branches for recording and for :func:`grad` (each costs time
    per node, and a small net's step is mostly such per-node costs). Same steps, same checks."""
    grads = {root: seed}
    clock = _clock[0]
    for node in _topological_order(root):
        grad = grads.pop(node, None)
        if grad is None:  # every path to it ended in an op that returned None for it
            continue
        if node._retains_grad:
            _accumulate(node, grad, set())
        ctx: Context = node._ctx  # type: ignore[assignment]  # every node in the order was made by an op
        if ctx.released:
            raise RuntimeError(
                f"backward: the graph through {ctx.function.__name__} was already freed by an earlier "
                "backward; call the first backward with retain_graph=True to backpropagate twice"
            )
        if ctx.stamp != clock:  # something was modified in place since the forward of some op
            _check_versions(ctx, node, False)
        input_grads = ctx.function.backward(ctx, grad)
        if not isinstance(input_grads, tuple):
            input_grads = (input_grads,)
        if len(input_grads) != len(ctx.parents):
            raise RuntimeError(
                f"{ctx.function.__name__}.backward returned {len(input_grads)} gradients for {len(ctx.parents)} inputs"
            )
        given = None
        for parent, needed, pgrad in zip(ctx.parents, ctx.needs_input_grad, input_grads):
            if not needed or pgrad is None:
                continue
            if pgrad.shape != parent._data.shape:
                raise RuntimeError(
                    f"{ctx.function.__name__}.backward returned a gradient of shape {pgrad.shape} "
                    f"for an input of shape {parent.shape}"
                )
            if parent._ctx is not None:
                grads[parent] = pgrad if parent not in grads else grads[parent] + pgrad
            elif parent.grad is not None:
                parent.grad = parent.grad + pgrad
            elif pgrad is grad or pgrad is given or pgrad.base is not None or pgrad.ndim == 0:
                # passed through unchanged (a + b hands its gradient to both, and so on up to the caller's
                # seed), handed to the previous input too, a view, or a NumPy scalar: a copy of its own
                parent.grad = backend.get_array_module(pgrad).array(pgrad)
            else:  # a fresh array that only this op made: the common case
                parent.grad = pgrad
            given = pgrad
        if not retain_graph:
            ctx.release()


def _recorded_backward(ctx: Context, node: Tensor, grad: Tensor) -> tuple:
    """Run one op's backward on Tensors, so that the gradient it returns has a graph."""
    name = ctx.function.__name__
    try:
        input_grads = ctx.function.backward(_RecordingContext(ctx, node), grad)  # type: ignore[arg-type]  # duck-typed
    except (TypeError, AttributeError, ValueError) as err:
        raise RuntimeError(
            f"double backward is not supported by {name}: its backward failed on Tensors ({type(err).__name__}: "
            f"{err}); write it with operations that Tensors support (see minisensli.autograd), or use "
            "create_graph=False"
        ) from err
    if not isinstance(input_grads, tuple):
        input_grads = (input_grads,)
    for g in input_grads:
        if g is not None and not isinstance(g, Tensor):
            raise RuntimeError(
                f"double backward is not supported by {name}: its backward returned a raw array where a Tensor "
                "was needed (it computes with array-only functions), so the gradient could not be differentiated "
                "again; write it with operations that Tensors support, or use create_graph=False"
            )
    return input_grads


def _check_versions(ctx: Context, node: Tensor, recording: bool) -> None:
    """Raise if an array this op saved belongs to a tensor modified in place after its forward."""
    if not ctx.saved_arrays:
        return
    for role, t in [*((f"input {i}", p) for i, p in enumerate(ctx.parents)), ("output", node)]:
        if _owner(t)._version <= ctx.stamp:
            continue
        data = t._data
        xp = backend.get_array_module(data)
        aliased = any(
            s is data or (hasattr(s, "shape") and type(s) is type(data) and xp.may_share_memory(s, data))
            for s in ctx.saved_arrays
        )
        if aliased or recording:
            raise RuntimeError(
                f"backward: {role} (shape {t.shape}) of {ctx.function.__name__} was modified in place after "
                f"{ctx.function.__name__} saved it for backward (an optimizer step or a write to .data between "
                "the forward and the backward); the gradient would use the new values. Run backward before "
                "updating, or compute the forward again after the update."
            )


def _deliver(tensor: Tensor, grad: Any, captured: dict[Tensor, Any] | None, handed: set[int]) -> None:
    """A gradient reaching a leaf: into ``captured`` (for :func:`grad`) or into ``.grad``."""
    if captured is None:
        if tensor.requires_grad:
            _accumulate(tensor, grad, handed)
    elif tensor in captured:
        captured[tensor] = grad if captured[tensor] is None else captured[tensor] + grad


def _own(grad: Any, handed: set[int]) -> Any:
    """``grad``, or a copy of it if it is a view or was already handed to someone else."""
    if isinstance(grad, Tensor):
        if id(grad) in handed or getattr(grad._data, "base", None) is not None:
            grad = ops.convert.AsType.apply(grad, dtype=grad.dtype)  # a copy that stays in the graph
    elif grad.base is not None or id(grad) in handed or grad.ndim == 0:  # 0-d: maybe a NumPy scalar, not an array
        grad = backend.get_array_module(grad).array(grad)
    handed.add(id(grad))
    return grad


def _accumulate(tensor: Tensor, grad: Any, handed: set[int]) -> None:
    """Add ``grad`` to ``tensor.grad``. A first gradient that is a view (e.g. the broadcast gradient
    of a reduction) or an array given to another tensor (``a + b`` hands the same array to both)
    or owned by the caller is copied, so that every ``.grad`` owns its memory."""
    if tensor.grad is None:
        tensor.grad = _own(grad, handed)
    else:
        tensor.grad = tensor.grad + grad


def _topological_order(roots: Tensor | Sequence[Tensor]) -> list[Tensor]:
    """Results of recorded ops reachable from ``roots`` (a tensor or several) through inputs that need gradients,
    outputs before inputs; leaves are left out (backward adds to their ``.grad`` directly).

    Iterative depth-first search: a node is appended after all of its inputs (post-order),
    and the reversed list visits every node before the inputs it consumed. Each node is
    visited once, however many paths lead to it (residual nets make many diamonds).
    """
    order: list[Tensor] = []
    visited: set[Tensor] = set()
    # one root (every training step) without building a tuple and a list for it
    stack: list[tuple[Tensor, bool]] = (
        [(roots, False)] if isinstance(roots, Tensor) else [(r, False) for r in roots[::-1]]
    )
    while stack:
        node, inputs_done = stack.pop()
        if inputs_done:
            order.append(node)
            continue
        if node in visited:  # reached again along another path (pushed twice before its first visit)
            continue
        visited.add(node)
        stack.append((node, True))
        ctx: Context = node._ctx  # type: ignore[assignment]  # only op results are pushed
        for parent, needed in zip(ctx.parents, ctx.needs_input_grad):
            if needed and parent._ctx is not None and parent not in visited:
                stack.append((parent, False))
    order.reverse()
    return order


# ---------------------------------------------------------------------- the functional form


def _as_tensor_list(name: str, value: Any) -> list[Tensor]:
    items = [value] if isinstance(value, Tensor) else list(value)
    for i, t in enumerate(items):
        if not isinstance(t, Tensor):
            raise TypeError(f"grad: {name}[{i}] is a {type(t).__name__}, expected a Tensor")
    return items


def grad(
    outputs: Tensor | Sequence[Tensor],
    inputs: Tensor | Sequence[Tensor],
    grad_outputs: Any = None,
    retain_graph: bool | None = None,
    create_graph: bool = False,
    allow_unused: bool = False,
) -> tuple[Tensor | None, ...]:
    """Gradients of ``outputs`` w.r.t. ``inputs``, returned (not added to ``.grad``): PyTorch's
    ``torch.autograd.grad``.

    d/d(input) of sum_k <grad_outputs[k], outputs[k]>, one Tensor per input (same shape).
    grad_outputs: one per output (Tensor, array or None; None means 1 for a one-element output).
    retain_graph: keep the graph for another backward (default: create_graph). create_graph:
    record the computation, so the results can be differentiated again (second derivatives,
    Hessian-vector products). allow_unused: an input the outputs do not depend on gets None
    (else an error). Inputs may be leaves or intermediate results; all must require grad.
    """
    outs = _as_tensor_list("outputs", outputs)
    ins = _as_tensor_list("inputs", inputs)
    if not outs or not ins:
        raise ValueError("grad: outputs and inputs must each hold at least one Tensor")
    if grad_outputs is None or isinstance(grad_outputs, Tensor) or hasattr(grad_outputs, "shape"):
        gos = [grad_outputs] * len(outs) if grad_outputs is None else [grad_outputs]
    else:
        gos = list(grad_outputs)
    if len(gos) != len(outs):
        raise ValueError(f"grad: got {len(gos)} grad_outputs for {len(outs)} outputs")
    for i, t in enumerate(outs):
        if not t.requires_grad:
            raise RuntimeError(f"grad: output {i} does not require grad (it does not depend on a tensor that does)")
    for i, t in enumerate(ins):
        if not t.requires_grad:
            raise RuntimeError(f"grad: input {i} does not require grad, so it has no gradient")
    seeds = [_seed_gradient("grad", t, g, create_graph) for t, g in zip(outs, gos)]
    captured: dict[Tensor, Any] = {t: None for t in ins}
    keep = create_graph if retain_graph is None else retain_graph
    _run_backward(outs, seeds, retain_graph=keep, create_graph=create_graph, captured=captured)
    handed: set[int] = {id(s) for s in seeds}
    results: list[Tensor | None] = []
    for i, t in enumerate(ins):
        g = captured[t]
        if g is None:
            if not allow_unused:
                raise RuntimeError(
                    f"grad: input {i} (shape {t.shape}) was not used to compute the outputs; "
                    "pass allow_unused=True to get None for it"
                )
            results.append(None)
            continue
        g = _own(g, handed)
        results.append(g if isinstance(g, Tensor) else Tensor._wrap(g, False, None))
    return tuple(results)


# The ops module builds on Tensor and Function above; it is imported last so that the
# operator methods can reach it without a circular import at load time.
from . import ops  # noqa: E402
