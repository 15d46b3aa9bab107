"""Module and Parameter: the containers that hold a network's weights.

A Module finds its parameters and sub-modules by looking at its attributes, in the order
they were assigned: ``self.fc = Dense(2, 5)`` is all a user writes. Attributes that hold a
list or tuple of Modules or Parameters are found too (names ``blocks.0.weight``...).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any, TypeVar

from .. import backend
from ..autograd import Tensor, no_grad

MODULE_TYPES: dict[str, type] = {}  # class name -> class, used to rebuild saved models


_ModuleT = TypeVar("_ModuleT", bound="Module")


class Parameter(Tensor):
    """A Tensor that is a trainable weight of a Module (requires_grad=True by default)."""

    __slots__ = ()

    def __init__(self, data: Any, requires_grad: bool = True, dtype: Any = None) -> None:
        if dtype is None and not (hasattr(data, "dtype") and backend.is_floating(data.dtype)):
            dtype = backend.get_default_dtype()
        super().__init__(data, requires_grad=requires_grad, dtype=dtype)

    def __repr__(self) -> str:
        return "Parameter" + super().__repr__()[len("Tensor") :]


class Module:
    """Base class of layers and networks.

    Subclasses set Parameters and sub-Modules as attributes in ``__init__`` and implement
    ``forward``; calling the module calls forward. For saving with ``ms.save`` a subclass
    also implements ``config()`` (its constructor arguments as JSON-compatible values).
    """

    training: bool = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        MODULE_TYPES[cls.__name__] = cls

    def forward(self, *args: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} does not implement forward")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.forward(*args, **kwargs)

    # ------------------------------------------------------------------ traversal

    def _named_members(self) -> Iterator[tuple[str, Any]]:
        """Direct Parameters and Modules, with their names, in assignment order."""
        for name, value in vars(self).items():
            if isinstance(value, (Parameter, Module)):
                yield name, value
            elif isinstance(value, (list, tuple)):
                for i, item in enumerate(value):
                    if isinstance(item, (Parameter, Module)):
                        yield f"{name}.{i}", item

    def _child_modules(self) -> list[Module]:
        """Direct sub-modules without their names: what ``_named_members`` finds, read straight from
        the attributes, because the mode switch walks these twice per epoch."""
        children: list[Module] = []
        for value in vars(self).values():
            if isinstance(value, Module):
                children.append(value)
            elif isinstance(value, (list, tuple)):
                children.extend(item for item in value if isinstance(item, Module))
        return children

    def named_children(self) -> Iterator[tuple[str, Module]]:
        """Direct sub-modules with their names."""
        for name, value in self._named_members():
            if isinstance(value, Module):
                yield name, value

    def children(self) -> Iterator[Module]:
        for _, module in self.named_children():
            yield module

    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        """This module (name ``prefix``) and every sub-module, depth first."""
        yield prefix, self
        for name, child in self.named_children():
            yield from child.named_modules(f"{prefix}.{name}" if prefix else name)

    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Parameter]]:
        """All parameters with dotted names (``0.weight``, ``blocks.1.outer.weight``), each once,
        in attribute order (a module's own parameters and sub-modules interleaved as assigned)."""
        seen: set[int] = set()

        def walk(module: Module, path: str) -> Iterator[tuple[str, Parameter]]:
            for name, value in module._named_members():
                full = f"{path}.{name}" if path else name
                if isinstance(value, Module):
                    yield from walk(value, full)
                elif id(value) not in seen:
                    seen.add(id(value))
                    yield full, value

        return walk(self, prefix)

    def parameters(self) -> list[Parameter]:
        """All parameters, in a stable order (registration order, depth first)."""
        return [p for _, p in self.named_parameters()]

    def num_parameters(self) -> int:
        """Number of trainable scalars."""
        return sum(p.size for p in self.parameters())

    # ------------------------------------------------------------------ modes and devices

    def zero_grad(self) -> None:
        """Forget the gradients of all parameters."""
        for p in self.parameters():
            p.grad = None

    def train(self, mode: bool = True) -> Module:
        """Set training mode (recursively); returns self.

        Training loops switch modes twice per epoch, so the walk is an explicit stack over
        ``_child_modules`` rather than the name-building generators of ``named_modules``.
        """
        stack: list[Module] = [self]
        while stack:
            module = stack.pop()
            module.training = mode
            stack.extend(module._child_modules())
        return self

    def eval(self) -> Module:
        """Set evaluation mode (recursively); returns self."""
        return self.train(False)

    def to(self, device: str | None = None, dtype: Any = None) -> Module:
        """Move all parameters to ``device`` and/or convert them to ``dtype``, in place; returns self.

        Gradients are dropped (they belong to the old arrays). Optimizer state (momentum
        buffers, Adam moments) is not moved: move the model first, then build the optimizer.
        """
        if device is not None:
            backend.check_device(device)
            backend.module_for_device(device)  # fails early, before any parameter moved
        if dtype is not None and not backend.is_floating(backend.as_dtype(dtype)):
            # integer weights would truncate every value and could never receive a gradient
            raise TypeError(
                f"{type(self).__name__}.to: dtype must be a floating dtype such as 'float32' or "
                f"'float64', got {backend.as_dtype(dtype).name!r}"
            )
        for p in self.parameters():
            data = p.data
            if device is not None:
                data = backend.to_device(data, device)
            if dtype is not None:
                data = data.astype(backend.as_dtype(dtype))
            p.data = data
            p.grad = None
        return self

    def copy(self: _ModuleT) -> _ModuleT:
        """An independent deep copy (parameters are not shared)."""
        return copy.deepcopy(self)

    # ------------------------------------------------------------------ state

    def state_dict(self) -> dict[str, Any]:
        """Parameter name -> a copy of its array, in parameter order."""
        return {name: p.data.copy() for name, p in self.named_parameters()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Copy arrays into the parameters of the same names.

        Every entry is checked before anything is changed: a missing, unexpected or
        mis-shaped entry raises a KeyError/ValueError naming it, and the module is untouched.
        Entries may be arrays, Tensors or nested lists of numbers (as ``tolist()`` gives); an entry
        that is not numeric (strings, ragged lists, objects) raises a TypeError/ValueError naming it.
        """
        params = dict(self.named_parameters())
        missing = [n for n in params if n not in state]
        extra = [n for n in state if n not in params]
        if missing or extra:
            raise KeyError(f"load_state_dict: missing entries {missing}, unexpected entries {extra}")
        arrays = {name: _state_array(name, state[name], p.shape) for name, p in params.items()}
        for name, p in params.items():
            with no_grad():
                p.data = backend.to_device(arrays[name], p.device).astype(p.dtype, copy=True)

    # ------------------------------------------------------------------ description

    def config(self) -> dict[str, Any]:
        """Constructor arguments (JSON-compatible) that rebuild this module's architecture."""
        raise NotImplementedError(
            f"{type(self).__name__} does not implement config(), so its architecture cannot be saved"
        )

    def extra_repr(self) -> str:
        """The text inside the parentheses of this module's line in repr()."""
        return ""

    def __repr__(self) -> str:
        children = list(self.named_children())
        head = f"{type(self).__name__}({self.extra_repr()}"
        if not children:
            return head + ")"
        lines = [head]
        for name, child in children:
            child_text = repr(child).replace("\n", "\n  ")
            lines.append(f"  ({name}): {child_text}")
        return "\n".join(lines) + "\n)"


def _state_array(name: str, value: Any, shape: tuple[int, ...]) -> Any:
    """The array of one state_dict entry, checked: numeric (real), and of the parameter's shape."""
    if isinstance(value, Tensor):
        value = value.data
    if not (hasattr(value, "shape") and hasattr(value, "dtype")):
        try:
            value = backend.as_array(value, keep_python_precision=True)  # nested lists, numbers
        except (TypeError, ValueError) as err:  # a ragged list
            raise ValueError(f"load_state_dict: entry {name!r} is not a rectangular array of numbers ({err})") from None
    if value.dtype.kind not in "biuf":
        raise TypeError(f"load_state_dict: entry {name!r} has dtype {value.dtype}; expected real numbers")
    if tuple(value.shape) != tuple(shape):
        raise ValueError(f"load_state_dict: entry {name!r} has shape {tuple(value.shape)}, the parameter has {shape}")
    return value
