"""Neural-network building blocks: Module, Parameter, layers, residual blocks, losses."""

from . import init
from .activation import ReLU, Sigmoid, Tanh
from .layers import AvgPool2d, Conv2d, Dense, Flatten, MaxPool2d
from .loss import CrossEntropyLoss, MSELoss
from .module import MODULE_TYPES, Module, Parameter
from .residual import ResidualConv, ResidualDense
from .sequential import Sequential

Residual = ResidualDense  # the dense block of the SensLI ResNets, under the design's short name

__all__ = [
    "MODULE_TYPES",
    "AvgPool2d",
    "Conv2d",
    "CrossEntropyLoss",
    "Dense",
    "Flatten",
    "MSELoss",
    "MaxPool2d",
    "Module",
    "Parameter",
    "ReLU",
    "Residual",
    "ResidualConv",
    "ResidualDense",
    "Sequential",
    "Sigmoid",
    "Tanh",
    "init",
]
