"""Optimizers (SGD, Adam) and learning-rate schedules (StepLR, MultiStepLR)."""

from .adam import Adam
from .optimizer import Optimizer
from .scheduler import LRScheduler, MultiStepLR, StepLR
from .sgd import SGD

__all__ = ["SGD", "Adam", "LRScheduler", "MultiStepLR", "Optimizer", "StepLR"]
