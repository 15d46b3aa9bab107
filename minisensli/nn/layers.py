"""Layers with weights (Dense, Conv2d) and the weightless shape layers (Flatten, pooling)."""

from __future__ import annotations

from typing import Any

from .. import checks
from .. import functional as F
from ..autograd import Tensor
from . import init
from .module import Module


class Dense(Module):
    """Fully connected layer: (..., in_features) -> (..., out_features), y = x W^T + b.

    weight: (out_features, in_features), bias: (out_features,), both initialised uniform in
    ±1/sqrt(in_features) (see nn.init).
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, rng: Any = None) -> None:
        in_features = checks.integer("Dense: in_features", in_features, 1)
        out_features = checks.integer("Dense: out_features", out_features, 1)
        self.in_features, self.out_features = in_features, out_features
        self.weight = init.uniform_fan_in((out_features, in_features), in_features, rng)
        self.bias = init.uniform_fan_in((out_features,), in_features, rng) if bias else None

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.weight, self.bias)

    def config(self) -> dict[str, Any]:
        return {"in_features": self.in_features, "out_features": self.out_features, "bias": self.bias is not None}

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class Conv2d(Module):
    """2-D convolution (cross-correlation): (N, C_in, H, W) -> (N, C_out, H', W').

    weight: (out_channels, in_channels, k, k), bias: (out_channels,), both uniform in
    ±1/sqrt(in_channels * k * k), PyTorch's default (see nn.init for why).
    H' = floor((H + 2 padding - k) / stride) + 1.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        padding: int = 0,
        bias: bool = True,
        rng: Any = None,
    ) -> None:
        in_channels = checks.integer("Conv2d: in_channels", in_channels, 1)
        out_channels = checks.integer("Conv2d: out_channels", out_channels, 1)
        kernel_size = checks.integer("Conv2d: kernel_size", kernel_size, 1)
        stride = checks.integer("Conv2d: stride", stride, 1)
        padding = checks.integer("Conv2d: padding", padding, 0)
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        fan_in = in_channels * kernel_size * kernel_size
        self.weight = init.uniform_fan_in((out_channels, in_channels, kernel_size, kernel_size), fan_in, rng)
        self.bias = init.uniform_fan_in((out_channels,), fan_in, rng) if bias else None

    def forward(self, x: Tensor) -> Tensor:
        return F.conv2d(x, self.weight, self.bias, stride=self.stride, padding=self.padding)

    def config(self) -> dict[str, Any]:
        return {
            "in_channels": self.in_channels,
            "out_channels": self.out_channels,
            "kernel_size": self.kernel_size,
            "stride": self.stride,
            "padding": self.padding,
            "bias": self.bias is not None,
        }

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
            f"padding={self.padding}, bias={self.bias is not None}"
        )


class Flatten(Module):
    """(N, d1, d2, ...) -> (N, d1*d2*...)."""

    def forward(self, x: Tensor) -> Tensor:
        return F.flatten(x)

    def config(self) -> dict[str, Any]:
        return {}


class _Pool(Module):
    function: Any = None

    def __init__(self, kernel_size: int, stride: int | None = None, padding: int = 0) -> None:
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding

    def forward(self, x: Tensor) -> Tensor:
        return type(self).function(x, self.kernel_size, self.stride, self.padding)

    def config(self) -> dict[str, Any]:
        return {"kernel_size": self.kernel_size, "stride": self.stride, "padding": self.padding}

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride or self.kernel_size}, padding={self.padding}"


class MaxPool2d(_Pool):
    """Max pooling over k x k windows: (N, C, H, W) -> (N, C, H', W'); stride defaults to k."""

    function = staticmethod(F.max_pool2d)


class AvgPool2d(_Pool):
    """Average pooling over k x k windows (zero padding counts): stride defaults to k."""

    function = staticmethod(F.avg_pool2d)
