"""Differentiable operations, one Function per op (forward and backward side by side).

Grouped by kind: elementwise arithmetic, activations, reductions, shape ops, matrix
products, convolution, pooling, losses, conversions. ``minisensli.functional`` (``F``)
re-exports the user-facing ones.
"""

from .activation import log_softmax, relu, sigmoid, softmax, tanh
from .conv import conv2d
from .convert import astype, to_device
from .elementwise import add, div, exp, log, mul, neg, pow, rpow, sqrt, sub
from .linalg import linear, matmul
from .loss import cross_entropy, mse_loss
from .pool import avg_pool2d, max_pool2d
from .reduce import max, mean, min, sum
from .shape import concatenate, flatten, getitem, pad, reshape, stack, transpose

__all__ = [
    "add",
    "astype",
    "avg_pool2d",
    "concatenate",
    "conv2d",
    "cross_entropy",
    "div",
    "exp",
    "flatten",
    "getitem",
    "linear",
    "log",
    "log_softmax",
    "matmul",
    "max",
    "max_pool2d",
    "mean",
    "min",
    "mse_loss",
    "mul",
    "neg",
    "pad",
    "pow",
    "relu",
    "reshape",
    "rpow",
    "sigmoid",
    "softmax",
    "sqrt",
    "stack",
    "sub",
    "sum",
    "tanh",
    "to_device",
    "transpose",
]
