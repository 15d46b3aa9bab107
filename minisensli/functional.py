"""The functional interface, ``import minisensli.functional as F``.

Every function takes Tensors (or array-likes) and returns a Tensor that records its graph.
Shapes follow PyTorch's conventions: dense weights (out, in), images NCHW.
"""

from .ops import (
    add,
    avg_pool2d,
    concatenate,
    conv2d,
    cross_entropy,
    div,
    exp,
    flatten,
    linear,
    log,
    log_softmax,
    matmul,
    max,
    max_pool2d,
    mean,
    min,
    mse_loss,
    mul,
    pad,
    relu,
    reshape,
    sigmoid,
    softmax,
    sqrt,
    stack,
    sub,
    sum,
    tanh,
    transpose,
)

__all__ = [
    "add", "avg_pool2d", "concatenate", "conv2d", "cross_entropy", "div", "exp", "flatten", "linear",
    "log", "log_softmax", "matmul", "max", "max_pool2d", "mean", "min", "mse_loss", "mul", "pad", "relu",
    "reshape", "sigmoid", "softmax", "sqrt", "stack", "sub", "sum", "tanh", "transpose",
]
