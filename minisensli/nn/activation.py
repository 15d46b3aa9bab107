"""Activation functions as modules (elementwise, no parameters)."""

from __future__ import annotations

from typing import Any

from .. import functional as F
from ..autograd import Tensor
from .module import Module


class _Activation(Module):
    function: Any = None

    def forward(self, x: Tensor) -> Tensor:
        return type(self).function(x)

    def config(self) -> dict[str, Any]:
        return {}


class ReLU(_Activation):
    """max(x, 0); relu'(0) = 0."""

    function = staticmethod(F.relu)


class Tanh(_Activation):
    """tanh(x); the SensLI ResNet experiments use it (tanh(0) = 0, tanh'(0) = 1)."""

    function = staticmethod(F.tanh)


class Sigmoid(_Activation):
    """1 / (1 + exp(-x))."""

    function = staticmethod(F.sigmoid)


ACTIVATIONS: dict[str, type] = {"relu": ReLU, "tanh": Tanh, "sigmoid": Sigmoid}


def activation_from_name(name: str) -> Module:
    """'relu' | 'tanh' | 'sigmoid' -> a new activation module."""
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; choose one of {sorted(ACTIVATIONS)}")
    return ACTIVATIONS[name]()


def activation_name(module: Module) -> str:
    for name, cls in ACTIVATIONS.items():
        if type(module) is cls:
            return name
    raise ValueError(f"{type(module).__name__} is not a known activation ({sorted(ACTIVATIONS)})")
