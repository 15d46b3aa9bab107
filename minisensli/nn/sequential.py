"""Sequential: a chain of modules applied one after the other."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from .module import Module


class Sequential(Module):
    """y = module_n(... module_1(module_0(x))).

    Supports ``len``, iteration, ``seq[i]`` (a module) and ``seq[i:j]`` (a new Sequential
    sharing those modules). Parameter names are ``<index>.<name>`` as in PyTorch.
    """

    def __init__(self, *modules: Module) -> None:
        for i, m in enumerate(modules):
            if not isinstance(m, Module):
                raise TypeError(f"Sequential: item {i} is a {type(m).__name__}, not a Module")
        self.layers = list(modules)

    def _named_members(self) -> Iterator[tuple[str, Any]]:
        for i, module in enumerate(self.layers):
            yield str(i), module

    def _child_modules(self) -> list[Module]:
        return self.layers

    def forward(self, x: Any) -> Any:
        for module in self.layers:
            x = module(x)
        return x

    def __len__(self) -> int:
        return len(self.layers)

    def __iter__(self) -> Iterator[Module]:
        return iter(self.layers)

    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            return Sequential(*self.layers[index])
        return self.layers[index]

    def with_inserted(self, index: int, *modules: Module) -> Sequential:
        """A new Sequential with ``modules`` inserted before position ``index`` (0..len).

        The modules of self are shared, not copied (use ``.copy()`` first for independence).
        """
        if not -len(self) <= index <= len(self):
            raise IndexError(f"Sequential.with_inserted: position {index} is outside 0..{len(self)}")
        layers = list(self.layers)
        layers[index:index] = modules  # same placement as list.insert, negative positions included
        return Sequential(*layers)

    def config(self) -> dict[str, Any]:
        return {}
