"""Optimizer base class: the parameter list, the learning rate, per-parameter state."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .. import backend, checks
from ..autograd import Tensor


class Optimizer:
    """Holds the parameters to update and their state; subclasses implement ``step``.

    State per parameter (momentum buffers, Adam moments) lives in ``self.state[i]`` for the
    i-th parameter. After SensLI inserts a layer the reference code builds a new optimizer
    for the new parameter list, which starts from empty state: momentum and Adam moments of
    the old parameters are forgotten (see minisensli.sensli).
    """

    def __init__(self, params: Iterable[Tensor], lr: float, defaults: dict[str, Any]) -> None:
        self.params = list(params)
        if not self.params:
            raise ValueError(f"{type(self).__name__}: got an empty parameter list")
        name = type(self).__name__
        first_index: dict[int, int] = {}
        for i, p in enumerate(self.params):
            if not isinstance(p, Tensor) or not p.requires_grad:
                raise TypeError(f"{name}: parameter {i} is not a Tensor that requires grad")
            if id(p) in first_index:
                # it would be updated twice per step, with a doubled (and for Adam, wrong) update
                raise ValueError(
                    f"{name}: parameter {i} is the same tensor as parameter {first_index[id(p)]}; "
                    "list each parameter once"
                )
            first_index[id(p)] = i
        self.lr = checks.positive(f"{name}: lr", lr)
        self.initial_lr = self.lr
        self.defaults = defaults
        self.state: dict[int, dict[str, Any]] = {}
        self.steps = 0

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    def step(self) -> None:
        raise NotImplementedError

    def state_dict(self) -> dict[str, Any]:
        """Hyper-parameters, step count and per-parameter state (arrays copied)."""
        return {
            "lr": self.lr,
            "initial_lr": self.initial_lr,
            "steps": self.steps,
            "defaults": dict(self.defaults),
            "state": {i: {k: v.copy() for k, v in s.items()} for i, s in self.state.items()},
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what ``state_dict`` returned; the parameter list must match in number and shapes."""
        for i, s in state["state"].items():
            if not 0 <= int(i) < len(self.params):
                raise ValueError(
                    f"{type(self).__name__}.load_state_dict: state for parameter {i}, but the optimizer "
                    f"has {len(self.params)} parameters"
                )
            for key, value in s.items():
                if tuple(value.shape) != self.params[int(i)].shape:
                    raise ValueError(
                        f"{type(self).__name__}.load_state_dict: {key} of parameter {i} has shape "
                        f"{tuple(value.shape)}, the parameter has {self.params[int(i)].shape}"
                    )
        self.lr, self.initial_lr, self.steps = state["lr"], state["initial_lr"], state["steps"]
        self.defaults = dict(state["defaults"])
        self.state = {
            int(i): {k: backend.to_device(v, self.params[int(i)].device).copy() for k, v in s.items()}
            for i, s in state["state"].items()
        }

    def _gradients(self) -> Iterable[tuple[int, Tensor, Any]]:
        """(index, parameter, gradient with weight decay added) for parameters that have a gradient."""
        wd = self.defaults.get("weight_decay", 0.0)
        for i, p in enumerate(self.params):
            if p.grad is None:
                continue
            yield i, p, (p.grad + wd * p.data) if wd else p.grad
