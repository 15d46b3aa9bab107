"""Residual blocks in the forms the SensLI paper uses (width preserved, step size h).

Dense, one weight:   y = x + h * act(x W^T + b)               (inner: Dense with bias)
Dense, two weights:  y = x + h * act(x W1^T + b) W2^T         (inner: W1 with bias, outer: W2 without)
Conv, one weight:    y = x + h * act(conv3x3(x))               (same padding, channels kept)
Conv, two weights:   y = x + h * conv3x3_2(act(conv3x3_1(x)))  (outer conv without bias)

With the outer weight (two-weight form) or W and b (one-weight form, needs act(0) = 0) at
zero, the block is the identity: that is how SensLI inserts one without changing the network.
"""

from __future__ import annotations

from typing import Any

from .. import checks
from ..autograd import Tensor
from .activation import activation_from_name, activation_name
from .layers import Conv2d, Dense
from .module import Module


class _ResidualBase(Module):
    def __init__(self, inner: Module, outer: Module | None, activation: str, h: float) -> None:
        h = checks.positive(f"{type(self).__name__}: step size h", h)
        self.inner = inner
        self.activation = activation_from_name(activation)
        if outer is not None:
            self.outer = outer
        self.h = float(h)

    @property
    def weights(self) -> int:
        return 2 if hasattr(self, "outer") else 1

    def forward(self, x: Tensor) -> Tensor:
        branch = self.activation(self.inner(x))
        if self.weights == 2:
            branch = self.outer(branch)
        return x + self.h * branch

    def extra_repr(self) -> str:
        return f"weights={self.weights}, h={self.h}"


class ResidualDense(_ResidualBase):
    """Dense residual block on ``features`` units: one or two weights (see module docstring).

    (N, features) -> (N, features). activation: 'tanh' (the paper's ResNets), 'relu' or 'sigmoid'.
    """

    def __init__(
        self, features: int, weights: int = 2, activation: str = "tanh", h: float = 1.0, rng: Any = None
    ) -> None:
        if weights not in (1, 2):
            raise ValueError(f"ResidualDense: weights must be 1 or 2, got {weights}")
        self.features = checks.integer("ResidualDense: features", features, 1)
        outer = Dense(features, features, bias=False, rng=rng) if weights == 2 else None
        super().__init__(Dense(features, features, rng=rng), outer, activation, h)

    def config(self) -> dict[str, Any]:
        return {
            "features": self.features,
            "weights": self.weights,
            "activation": activation_name(self.activation),
            "h": self.h,
        }

    def extra_repr(self) -> str:
        return f"{self.features}, " + super().extra_repr()


class ResidualConv(_ResidualBase):
    """Convolutional residual block with 3x3 'same' convolutions on ``channels`` channels.

    (N, channels, H, W) -> (N, channels, H, W); one or two weights (see module docstring).
    """

    def __init__(
        self, channels: int, weights: int = 2, activation: str = "relu", h: float = 1.0, rng: Any = None
    ) -> None:
        if weights not in (1, 2):
            raise ValueError(f"ResidualConv: weights must be 1 or 2, got {weights}")
        self.channels = checks.integer("ResidualConv: channels", channels, 1)
        outer = Conv2d(channels, channels, 3, padding=1, bias=False, rng=rng) if weights == 2 else None
        super().__init__(Conv2d(channels, channels, 3, padding=1, rng=rng), outer, activation, h)

    def config(self) -> dict[str, Any]:
        return {
            "channels": self.channels,
            "weights": self.weights,
            "activation": activation_name(self.activation),
            "h": self.h,
        }

    def extra_repr(self) -> str:
        return f"{self.channels}, " + super().extra_repr()
