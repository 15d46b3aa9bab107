"""Closed-form Lagrange multipliers of the virtual layers, from the original network alone.

Notation, for one minibatch with batch-mean loss l: x is the activation entering the site in
the original network (rows / first axis = samples) and d = dl/dx its gradient, which already
carries the 1/|B| factor. Because every virtual layer is the identity, the extended network
computes the same x, and the gradient arriving at the virtual layer's output is this same d.
Each function returns the gradient of l w.r.t. every parameter of the virtual layer, named as
the parameters of the inserted modules are ("weight", "inner.weight", ...).

The derivation of every formula, kind by kind, is the book page "Derivations of the
multipliers" (book/derivations.md); chapter 7 (notebooks/ch07_virtual_layers.py) derives them
step by step and checks each against autograd and finite differences.
"""

from __future__ import annotations

from typing import Any

from .. import backend
from ..autograd import Tensor, no_grad
from ..nn import Conv2d
from ..nn.activation import activation_from_name
from ..ops.conv_kernels import channel_major, im2col_fields
from .sites import Site
from .virtual import ACT_SLOPE_AT_ZERO, INNER_SCALE


def dense_multipliers(x: Any, d: Any, masked: Any = None) -> dict[str, Any]:
    """Virtual Dense + ReLU after a ReLU: y = relu(x V^T + c) at V = I, c = 0, x >= 0.

    The pre-activation is z = x, so y = x and dl/dz = d * m with the mask m = 1[x > 0]
    (relu'(0) = 0). Then, summed over the batch rows n:
        dl/dV = (d * m)^T x          (width x width)      dl/dc = sum_n (d * m)_n

    masked: d * m when the caller already has it (the closed-form pass takes it from the
    backward of the ReLU before the site, which computes exactly d * 1[x > 0]); d is then unused.

    Derivation: book, "Derivations of the multipliers", section "Dense after ReLU" (derivation-dense).
    """
    if masked is None:
        masked = d * (x > 0)
    return {"weight": masked.T @ x, "bias": masked.sum(axis=0)}


def correlate3x3(x: Any, g: Any, cols: Any = None, scratch: Any = None) -> Any:
    """sum_{n,y,x} g[n, o, y, x] * x_pad[n, i, y + p, x + q] -> (O, C, 3, 3), padding 1.

    The weight gradient of a 3x3 'same' convolution with input x (N, C, H, W) and output
    gradient g (N, O, H, W): g (O, N*H*W) times im2col(x)^T (N*H*W, C*9), one GEMM.
    cols: im2col(x) (C*9, N*H*W) when the forward pass already built it (see forward_columns).
    scratch: a C-contiguous array of x's dtype that may be overwritten (the closed-form pass
    hands over forward columns it no longer needs): when it has room, im2col(x) is built in
    it instead of in new memory.
    """
    c, o = x.shape[1], g.shape[1]
    if cols is None:
        out = _scratch_columns(scratch, x)
        cols = im2col_fields(x, (3, 3), (1, 1), (1, 1), out=out).reshape(c * 9, -1)  # no padded copy of x
    return _columns_times(cols, channel_major(g), o, c)


def _scratch_columns(scratch: Any, x: Any) -> Any:
    """A (C, 3, 3, N, H, W) view of the start of ``scratch`` for the 3x3 'same' columns of x,
    or None when there is no scratch or it is too small, of another dtype or not contiguous."""
    if scratch is None:
        return None
    n, c, h, w = x.shape
    size = c * 9 * n * h * w
    if scratch.dtype != x.dtype or scratch.size < size or not scratch.flags.c_contiguous:
        return None
    return scratch.reshape(-1)[:size].reshape(c, 3, 3, n, h, w)


def _columns_times(cols: Any, g2: Any, o: int, c: int) -> Any:
    """(g2 cols^T) as an (O, C, 3, 3) kernel, for cols (C*9, M) and g2 (O, M)."""
    # cols (g2)^T, transposed back, rather than g2 cols^T: the same product, but OpenBLAS's kernel
    # for this orientation (tall C*9 x N*H*W times N*H*W x O) ran 10-14 % faster on the digits CNN's
    # sites (16 x 4096 and 32 x 1024 gradients; the summation order, hence round-off, may differ)
    return (cols @ g2.T).T.reshape(o, c, 3, 3)


def forward_columns(layer: Any, output: Tensor) -> Any:
    """The im2col columns (C*9, N*H*W) of a site's activation x, when the layer that consumes x
    built exactly those in its forward pass (a 3x3 convolution with stride 1 and padding 1, whose
    graph was recorded), else None. Reusing them saves the largest copy of a conv site's
    multiplier; the arrays stay valid after backward frees the graph (it drops its references)."""
    if (
        isinstance(layer, Conv2d)
        and layer.kernel_size == 3
        and layer.stride == 1
        and layer.padding == 1
        and output._ctx is not None
    ):
        return output._ctx.saved_arrays[0]
    return None


def _channel_sums(g: Any) -> Any:
    """g (N, C, H, W) summed over N, H, W: over the rows of the (C, N*H*W) matrix when g is
    channel-major in memory (a contiguous reduction), else over the three axes."""
    if g.transpose(1, 0, 2, 3).flags.c_contiguous:
        return channel_major(g).sum(axis=1)
    return g.sum(axis=(0, 2, 3))


def conv_multipliers(x: Any, d: Any, cols: Any = None, masked: Any = None, scratch: Any = None) -> dict[str, Any]:
    """Virtual Conv2d(3x3, pad 1) + ReLU after a ReLU: y = relu(K * x + c) at the dirac K, c = 0.

    As for Dense: z = x, dl/dz = d * m with m = 1[x > 0], and the weight gradient of a
    convolution is the correlation of its padded input with the output gradient:
        dl/dK[o, i, p, q] = sum_{n,y,x} (d * m)[n, o, y, x] x_pad[n, i, y + p, x + q]
        dl/dc[o] = sum_{n,y,x} (d * m)[n, o, y, x]

    masked: d * m when the caller already has it (as in dense_multipliers); cols, scratch:
    see correlate3x3.

    Derivation: book, "Derivations of the multipliers", section "Conv2d after Conv2d + ReLU"
    (derivation-conv).
    """
    if masked is None:
        masked = d * (x > 0)
    return {"weight": correlate3x3(x, masked, cols, scratch), "bias": _channel_sums(masked)}


def _activation(name: str, values: Any) -> Any:
    with no_grad():
        return activation_from_name(name)(Tensor(values)).data


def residual_dense_multipliers(x: Any, d: Any, site: Site) -> dict[str, Any]:
    """Virtual block y = x + h W2 act(x W1^T + b) (two weights) or x + h act(x W^T + b) (one).

    Two weights, v1 (W2 = 0, W1 = 0.8 I, b = 0): the branch output is h act(0.8 x) W2^T, so
        dl/dW2 = h d^T act(0.8 x),   dl/dW1 = 0,  dl/db = 0  (W2 = 0 cuts the path to them).
    Two weights, v2 (W1 = 0, b = 0, W2 = 0.8 I): the gradient at the pre-activation is
    h (d W2) * act'(0) = 0.8 h act'(0) d, so
        dl/dW1 = 0.8 h act'(0) d^T x,   dl/db = 0.8 h act'(0) sum_n d_n,   dl/dW2 = h d^T act(0) = 0.
    One weight (W = 0, b = 0): dl/dW = h act'(0) d^T x, dl/db = h act'(0) sum_n d_n.

    Derivation: book, "Derivations of the multipliers", section "Dense residual blocks"
    (derivation-residual-dense, with -v1, -v2 and -one-weight).
    """
    xp = backend.get_array_module(x)
    h, slope = site.h, ACT_SLOPE_AT_ZERO[site.activation]
    width = x.shape[1]
    if site.weights == 2 and site.variant == "v1":
        return {
            "inner.weight": xp.zeros((width, width), dtype=x.dtype),
            "inner.bias": xp.zeros(width, dtype=x.dtype),
            "outer.weight": h * (d.T @ _activation(site.activation, INNER_SCALE * x)),
        }
    scale = h * slope * (INNER_SCALE if site.weights == 2 else 1.0)
    grads = {"inner.weight": scale * (d.T @ x), "inner.bias": scale * d.sum(axis=0)}
    if site.weights == 2:
        grads["outer.weight"] = xp.zeros((width, width), dtype=x.dtype)  # h d^T act(0), act(0) = 0
    return grads


def residual_conv_multipliers(x: Any, d: Any, site: Site) -> dict[str, Any]:
    """Convolutional residual blocks: the same as residual_dense_multipliers with every outer
    product d^T v replaced by the 3x3 correlation of v with d (and 0.8 I by 0.8 dirac):
        v1: dl/dW2 = h corr(act(0.8 x), d);  v2: dl/dW1 = 0.8 h act'(0) corr(x, d),
        dl/db = 0.8 h act'(0) sum d;  one weight: dl/dW = h act'(0) corr(x, d).

    Derivation: book, "Derivations of the multipliers", section "Convolutional residual blocks"
    (derivation-residual-conv).
    """
    xp = backend.get_array_module(x)
    h, slope = site.h, ACT_SLOPE_AT_ZERO[site.activation]
    c = x.shape[1]
    kernel_zeros = xp.zeros((c, c, 3, 3), dtype=x.dtype)
    if site.weights == 2 and site.variant == "v1":
        return {
            "inner.weight": kernel_zeros,
            "inner.bias": xp.zeros(c, dtype=x.dtype),
            "outer.weight": h * correlate3x3(_activation(site.activation, INNER_SCALE * x), d),
        }
    scale = h * slope * (INNER_SCALE if site.weights == 2 else 1.0)
    grads = {"inner.weight": scale * correlate3x3(x, d), "inner.bias": scale * d.sum(axis=(0, 2, 3))}
    if site.weights == 2:
        grads["outer.weight"] = kernel_zeros
    return grads


def site_multipliers(
    site: Site, x: Any, d: Any, cols: Any = None, masked: Any = None, scratch: Any = None
) -> dict[str, Any]:
    """Dispatch to the formula of the site's kind. cols, scratch (conv sites): see correlate3x3
    and forward_columns; masked (dense and conv sites): d * 1[x > 0] when the caller has it (d
    may then be None)."""
    if site.kind == "dense":
        return dense_multipliers(x, d, masked)
    if site.kind == "conv":
        return conv_multipliers(x, d, cols, masked, scratch)
    if site.kind == "residual_dense":
        return residual_dense_multipliers(x, d, site)
    if site.kind == "width":
        raise ValueError(f"{site.label}: width multipliers need the fan-in; use width_multipliers(x, g, U, c, act)")
    return residual_conv_multipliers(x, d, site)


def width_multipliers(x: Any, g: Any, fan_in: Any, fan_in_bias: Any, activation: str) -> dict[str, Any]:
    """Width site: k new units act(x U^T + c) with fan-out V = 0 into the next Dense.

    x: the input of the widened layer (n x in); g = dl/dy, the gradient at the next Dense's
    output y (its pre-activation, n x out); U (k x in), c (k): the new units' fan-in and bias.
    The next layer's output gains act(x U^T + c) V^T, so with a = act(x U^T + c) (n x k):
        dl/dV = g^T a                  (out x k)
        dl/dU = ((g V) * act'(z))^T x = 0,   dl/dc = 0      (V = 0 cuts the path to them)

    Derivation: book, "Derivations of the multipliers", section "Width: new units in a hidden
    Dense layer" (derivation-width).
    """
    xp = backend.get_array_module(x)
    units = _activation(activation, x @ fan_in.T + fan_in_bias)
    return {
        "fan_in": xp.zeros(fan_in.shape, dtype=x.dtype),
        "fan_in_bias": xp.zeros(fan_in_bias.shape, dtype=x.dtype),
        "fan_out": g.T @ units,
    }
