"""Max pooling over non-overlapping windows (stride >= kernel, no padding): the fast path.

The general path (pool.MaxPool2d) keeps a running maximum and its tap index over the kernel
taps with an explicit NaN test per tap: seven array operations per tap. When the windows do not
overlap and no padding is involved, the same result costs much less:

  forward   best = max over the taps t of x[:, :, u::s, v::s]  (one numpy.maximum per tap; it
            propagates NaN), then arg = the first tap t with x_t == best, counted as the number
            of leading taps that differ from best (one compare and two boolean passes per tap)
  backward  dx[:, :, u::s, v::s] = grad * (arg == t): each input entry lies in at most one
            window, so every tap writes its own entries and nothing is added up

Both return exactly what the general path does (same maximum, same tap index: the first
maximum in row-major tap order, the first NaN in a window holding a NaN). Arrays keep the memory
layout of the input (channel-major activations stay channel-major). numpy and cupy alike.
"""

from __future__ import annotations

from typing import Any

from .. import backend


def windows_disjoint(kernel: tuple, stride: tuple, padding: tuple) -> bool:
    """True when pooling windows never overlap and see no padding: the fast path applies."""
    return padding == (0, 0) and stride[0] >= kernel[0] and stride[1] >= kernel[1]


def _tap_views(x: Any, kernel: tuple, stride: tuple, out_hw: tuple) -> list:
    (kh, kw), (sh, sw), (oh, ow) = kernel, stride, out_hw
    return [
        x[:, :, u : u + sh * (oh - 1) + 1 : sh, v : v + sw * (ow - 1) + 1 : sw] for u in range(kh) for v in range(kw)
    ]


def tap_index_dtype(taps: int) -> Any:
    """The smallest unsigned integer dtype holding tap indices 0..taps-1 (less memory to compare)."""
    return "uint8" if taps <= 256 else "int32"


def max_pool_disjoint(x: Any, kernel: tuple, stride: tuple, out_hw: tuple) -> tuple[Any, Any]:
    """Max pooling of x (N, C, H, W) over disjoint windows -> (best, arg), both (N, C, OH, OW):
    best the window maxima (NaN when the window holds a NaN), arg the index u*kw + v of the
    first tap holding the maximum (of the first NaN in a window with a NaN)."""
    xp = backend.get_array_module(x)
    taps = _tap_views(x, kernel, stride, out_hw)
    if len(taps) == 1:
        return taps[0].copy(order="K"), xp.zeros_like(taps[0], dtype=tap_index_dtype(1))
    best = xp.maximum(taps[0], taps[1])
    for tap in taps[2:]:
        xp.maximum(best, tap, out=best)
    # A NaN maximum equals no tap; then a tap 'holds' it when it is NaN itself (tap == tap is
    # False only for NaN). On the CPU that extra test runs only when a NaN is there (a cheap
    # check); on a GPU always, since asking would make the device wait for the host.
    nan_aware = backend.device_of(best) != "cpu" or bool(xp.isnan(best).any())

    def differs(tap: Any) -> Any:
        result = tap != best
        if nan_aware:
            result &= tap == tap
        return result

    # arg = the number of leading taps that differ from the maximum = the first tap equal to it
    # (a compare and two cheap boolean passes per tap; masked writes would cost 4x more)
    leading = differs(taps[0])
    arg = leading.astype(tap_index_dtype(len(taps)))
    for tap in taps[1:-1]:
        leading &= differs(tap)
        arg += leading
    return best, arg


def max_pool_disjoint_grad(grad: Any, arg: Any, x_shape: tuple, kernel: tuple, stride: tuple) -> Any:
    """Backward of max_pool_disjoint: grad (N, C, OH, OW) -> dx (N, C, H, W), each window's
    gradient at its arg tap, zero elsewhere. dx takes the memory layout of arg (the forward
    input's layout), so that a channel-major net gets a channel-major gradient."""
    xp = backend.get_array_module(grad)
    n, c, h, w = x_shape
    oh, ow = arg.shape[2:]
    covered = h == kernel[0] * oh == stride[0] * oh and w == kernel[1] * ow == stride[1] * ow
    make = xp.empty if covered else xp.zeros
    channel_major = arg.ndim == 4 and arg.strides[1] > arg.strides[0] and n > 1
    if channel_major:
        dx = make((c, n, h, w), dtype=grad.dtype).transpose(1, 0, 2, 3)
    else:
        dx = make((n, c, h, w), dtype=grad.dtype)
    for index, view in enumerate(_tap_views(dx, kernel, stride, (oh, ow))):
        xp.multiply(grad, arg == index, out=view)
    return dx
