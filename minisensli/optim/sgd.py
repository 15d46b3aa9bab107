"""Stochastic gradient descent with momentum and weight decay (PyTorch's update rule)."""

from __future__ import annotations

from collections.abc import Iterable

from .. import checks
from ..autograd import Tensor
from .optimizer import Optimizer


class SGD(Optimizer):
    """g = grad + weight_decay * p;  v = momentum * v + g (v = g on the first step);  p -= lr * v.

    With momentum = 0 this is plain gradient descent p -= lr * g, the update of the SensLI
    reference experiments.
    """

    def __init__(self, params: Iterable[Tensor], lr: float, momentum: float = 0.0, weight_decay: float = 0.0) -> None:
        momentum = checks.non_negative("SGD: momentum", momentum)
        weight_decay = checks.non_negative("SGD: weight_decay", weight_decay)
        super().__init__(params, lr, {"momentum": momentum, "weight_decay": weight_decay})

    def step(self) -> None:
        momentum = self.defaults["momentum"]
        for i, p, g in self._gradients():
            if momentum:
                state = self.state.setdefault(i, {})
                if "momentum_buffer" not in state:
                    state["momentum_buffer"] = g.copy()
                else:
                    buf = state["momentum_buffer"]
                    buf *= momentum
                    buf += g
                g = state["momentum_buffer"]
            p.data -= self.lr * g
        self.steps += 1
