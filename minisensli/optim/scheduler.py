"""Learning-rate schedules, stepped once per epoch."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .. import checks
from .optimizer import Optimizer


class LRScheduler:
    """Sets ``optimizer.lr`` from the epoch count; call ``step()`` after each epoch."""

    def __init__(self, optimizer: Optimizer) -> None:
        self.optimizer = optimizer
        self.base_lr = optimizer.lr
        self.epoch = 0

    def lr_at(self, epoch: int) -> float:
        raise NotImplementedError

    def step(self) -> None:
        self.epoch += 1
        self.optimizer.lr = self.lr_at(self.epoch)

    def get_last_lr(self) -> float:
        return self.optimizer.lr

    def state_dict(self) -> dict[str, Any]:
        return {"base_lr": self.base_lr, "epoch": self.epoch}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.base_lr, self.epoch = state["base_lr"], state["epoch"]
        self.optimizer.lr = self.lr_at(self.epoch)


class StepLR(LRScheduler):
    """lr = base_lr * gamma ** (epoch // step_size)."""

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1) -> None:
        step_size = checks.integer("StepLR: step_size", step_size, 1)
        gamma = checks.positive("StepLR: gamma", gamma)
        super().__init__(optimizer)
        self.step_size, self.gamma = step_size, gamma

    def lr_at(self, epoch: int) -> float:
        return self.base_lr * self.gamma ** (epoch // self.step_size)


class MultiStepLR(LRScheduler):
    """lr = base_lr * gamma ** (number of milestones <= epoch)."""

    def __init__(self, optimizer: Optimizer, milestones: Iterable[int], gamma: float = 0.1) -> None:
        self.milestones = sorted(checks.integer("MultiStepLR: milestones", m, 1) for m in milestones)
        gamma = checks.positive("MultiStepLR: gamma", gamma)
        super().__init__(optimizer)
        self.gamma = gamma

    def lr_at(self, epoch: int) -> float:
        return self.base_lr * self.gamma ** sum(1 for m in self.milestones if m <= epoch)
