"""Losses as modules."""

from __future__ import annotations

from typing import Any

from .. import functional as F
from ..autograd import Tensor
from .module import Module


class CrossEntropyLoss(Module):
    """Mean cross-entropy of raw logits (N, C) against integer labels (N,)."""

    def forward(self, logits: Tensor, labels: Any) -> Tensor:
        return F.cross_entropy(logits, labels)

    def config(self) -> dict[str, Any]:
        return {}


class MSELoss(Module):
    """Mean squared error over all entries (prediction and target of the same shape)."""

    def forward(self, prediction: Tensor, target: Any) -> Tensor:
        return F.mse_loss(prediction, target)

    def config(self) -> dict[str, Any]:
        return {}
