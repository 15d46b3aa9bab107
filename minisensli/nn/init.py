"""Parameter initialisers.

Dense and Conv2d use PyTorch's defaults, which the SensLI reference code also used: weight
and bias uniform in [-1/sqrt(fan_in), 1/sqrt(fan_in)], fan_in = inputs per output unit
(in_features, or in_channels * kh * kw). PyTorch reaches this bound for the weight through
kaiming_uniform with a = sqrt(5): gain sqrt(2 / (1 + 5)) times sqrt(3 / fan_in) = 1/sqrt(fan_in).
The scale keeps the variance of each pre-activation roughly independent of the width.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from typing import Any

from .. import backend
from .module import Parameter

_budget: list[int] = []  # elements still allowed, innermost parameter_budget last


class ParameterBudgetError(ValueError):
    """Building a module would create more parameter entries than the surrounding budget allows."""


@contextlib.contextmanager
def parameter_budget(elements: int) -> Iterator[None]:
    """Inside the block, the initialisers below refuse to allocate more than ``elements``
    parameter entries in total (raising ParameterBudgetError before allocating).

    ms.load uses it to rebuild a saved architecture: the file's stored weights bound what
    the architecture may allocate, so a small file cannot declare a huge layer.
    """
    _budget.append(int(elements))
    try:
        yield
    finally:
        _budget.pop()


def _claim(shape: tuple[int, ...]) -> None:
    if not _budget:
        return
    wanted = math.prod(int(n) for n in shape)
    if wanted > _budget[-1]:
        raise ParameterBudgetError(
            f"a parameter of shape {tuple(shape)} ({wanted} entries) exceeds the "
            f"{_budget[-1]} entries left in the budget"
        )
    _budget[-1] -= wanted


def uniform_fan_in(shape: tuple[int, ...], fan_in: int, rng: Any = None) -> Parameter:
    """A Parameter of ``shape`` with entries uniform in [-1/sqrt(fan_in), 1/sqrt(fan_in)]."""
    rng = backend.init_rng() if rng is None else rng
    _claim(shape)
    bound = 1.0 / math.sqrt(fan_in)
    values = rng.uniform(-bound, bound, size=shape).astype(backend.get_default_dtype())
    return Parameter(values)


def identity(n: int, scale: float = 1.0) -> Parameter:
    """scale * I (n x n): the weight of a function-preserving dense layer."""
    _claim((n, n))
    xp = backend.module_for_device("cpu")
    return Parameter(scale * xp.eye(n, dtype=backend.get_default_dtype()))


def dirac(channels: int, kernel_size: int) -> Parameter:
    """Identity convolution kernel (channels, channels, k, k): 1 at the centre tap of o == i."""
    _claim((channels, channels, kernel_size, kernel_size))
    xp = backend.module_for_device("cpu")
    kernel = xp.zeros((channels, channels, kernel_size, kernel_size), dtype=backend.get_default_dtype())
    centre = kernel_size // 2
    kernel[xp.arange(channels), xp.arange(channels), centre, centre] = 1
    return Parameter(kernel)
