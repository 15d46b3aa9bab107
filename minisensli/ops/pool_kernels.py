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

Two ways to read the taps, the same numbers:

  strided views   tap t is the view x[:, :, u::s, v::s]; every array operation on it walks rows
                  of only OW entries (the inner loop of NumPy's iterator is one output row)
  one gather      all taps are read at once into a (taps, windows) array with one take() through
                  a cached index of memory offsets (windows in the memory order of x), so every
                  later operation walks one long contiguous row; the backward writes each
                  window's gradient with one indexed store into a zeroed dx

On small maps the rows are short and the per-row cost of the iterator dominates. Forward and
backward of 2 x 2 pooling, batch 64, float32, channel-major, one process, gather / strided time
(2026-12-07, fourth session, 2-core development machine, two runs): 0.45-0.60 on 8 x 8 and 4 x 4
maps (the digits CNN), 0.65 on 14 x 14, 0.81-0.85 on 18 x 18, 0.92-1.00 on 20 x 20, 0.95-0.96 on
22 x 22 (output rows of 11), 1.00-1.10 on 24 x 24 (rows of 12) and 1.12-1.14 on 28 x 28, where
the gather's scattered stores into dx cost more than the iterator saves (an earlier session
measured 0.86-0.93 on 20 x 20 and 24 x 24 and 1.00 on 28 x 28). So the gather path runs when
output rows are shorter than GATHER_BELOW_WIDTH and x is laid out contiguously (NCHW or
channel-major); the strided views otherwise (wider maps, other layouts).
"""

from __future__ import annotations

import functools
from typing import Any

from .. import backend

GATHER_BELOW_WIDTH = 12  # output rows shorter than this: the one-gather path (see above)


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


def _memory_order(x: Any) -> tuple | None:
    """The axis order in which x (N, C, H, W) is C-contiguous (NCHW, or channel-major (C, N, H,
    W) as conv outputs are), or None for any other layout."""
    if x.flags.c_contiguous:
        return (0, 1, 2, 3)
    if x.transpose(1, 0, 2, 3).flags.c_contiguous:
        return (1, 0, 2, 3)
    return None


def gather_applies(x: Any, out_hw: tuple) -> bool:
    """True when the one-gather path runs: short output rows, a contiguous layout, windows to take."""
    return out_hw[1] < GATHER_BELOW_WIDTH and x.size > 0 and _memory_order(x) is not None


@functools.lru_cache(maxsize=32)
def _gather_plan(device: str, shape: tuple, order: tuple, kernel: tuple, stride: tuple, out_hw: tuple) -> tuple:
    """Index arrays of the one-gather path for x of ``shape`` laid out in ``order``:
    (taps_by_window (T, K): memory offset of tap t of window k, windows k in memory order;
    window_major (K*T,): the same offsets window by window; first_tap (K,) = k*T, the start of
    window k in window_major). Cached per geometry: a network asks for the same few every step
    (bounded: 32 geometries, about 2 * 8 bytes per input entry each)."""
    xp = backend.module_for_device(device)
    n, c, h, w = shape
    steps = [0, 0, 0, 0]  # memory strides in entries, from the layout order
    size = 1
    for axis in reversed(order):
        steps[axis] = size
        size *= shape[axis]
    oh, ow = out_hw
    corner = (
        (
            xp.arange(n).reshape(n, 1, 1, 1) * steps[0]
            + xp.arange(c).reshape(1, c, 1, 1) * steps[1]
            + (xp.arange(oh) * (stride[0] * steps[2])).reshape(1, 1, oh, 1)
            + (xp.arange(ow) * (stride[1] * steps[3])).reshape(1, 1, 1, ow)
        )
        .transpose(order)
        .reshape(-1)
    )  # each window's top-left entry, windows in memory order
    offsets = xp.asarray([u * steps[2] + v * steps[3] for u in range(kernel[0]) for v in range(kernel[1])])
    taps_by_window = offsets.reshape(-1, 1) + corner.reshape(1, -1)
    window_major = xp.ascontiguousarray(taps_by_window.T).reshape(-1)
    first_tap = xp.arange(corner.size) * offsets.size
    return taps_by_window, window_major, first_tap


def _window_shape(shape: tuple, out_hw: tuple, order: tuple) -> tuple:
    """The (N, C, OH, OW) output shape permuted into memory ``order``."""
    full = (shape[0], shape[1], *out_hw)
    return tuple(full[a] for a in order)


def _inverse(order: tuple) -> tuple:
    return tuple(order.index(a) for a in range(len(order)))


def _first_tap_of_maximum(taps: list, best: Any, xp: Any) -> Any:
    """arg = the index of the first tap equal to best = the number of leading taps that differ
    from it (a compare and two cheap boolean passes per tap; masked writes would cost 4x more).
    A NaN maximum equals no tap; then a tap 'holds' it when it is NaN itself (tap == tap is False
    only for NaN). On the CPU that extra test runs only when a NaN is there (a cheap check); on a
    GPU always, since asking would make the device wait for the host."""
    nan_aware = backend.device_of(best) != "cpu" or bool(xp.isnan(best).any())

    def differs(tap: Any) -> Any:
        result = tap != best
        if nan_aware:
            result &= tap == tap
        return result

    leading = differs(taps[0])
    arg = leading.astype(tap_index_dtype(len(taps)))
    for tap in taps[1:-1]:
        leading &= differs(tap)
        arg += leading
    return arg


def max_pool_disjoint(x: Any, kernel: tuple, stride: tuple, out_hw: tuple, with_arg: bool = True) -> tuple[Any, Any]:
    """Max pooling of x (N, C, H, W) over disjoint windows -> (best, arg), both (N, C, OH, OW):
    best the window maxima (NaN when the window holds a NaN), arg the index u*kw + v of the
    first tap holding the maximum (of the first NaN in a window with a NaN). with_arg=False
    (nothing will need the gradient) skips arg and returns (best, None)."""
    xp = backend.get_array_module(x)
    order = _memory_order(x) if gather_applies(x, out_hw) else None
    if order is not None:
        taps_by_window = _gather_plan(backend.device_of(x), x.shape, order, kernel, stride, out_hw)[0]
        gathered = x.transpose(order).reshape(-1).take(taps_by_window)  # (T, K): one contiguous row per tap
        taps = list(gathered)
    else:
        taps = _tap_views(x, kernel, stride, out_hw)
    if len(taps) == 1:
        best = taps[0].copy(order="K")
    else:
        best = xp.maximum(taps[0], taps[1])
        for tap in taps[2:]:
            xp.maximum(best, tap, out=best)
    arg = None
    if with_arg:
        arg = xp.zeros_like(best, dtype=tap_index_dtype(1)) if len(taps) == 1 else _first_tap_of_maximum(taps, best, xp)
    if order is None:
        return best, arg
    shape, back = _window_shape(x.shape, out_hw, order), _inverse(order)
    best = best.reshape(shape).transpose(back)  # x's layout: a channel-major x gives a channel-major best
    return best, (None if arg is None else arg.reshape(shape).transpose(back))


def max_pool_disjoint_grad(grad: Any, arg: Any, x_shape: tuple, kernel: tuple, stride: tuple) -> Any:
    """Backward of max_pool_disjoint: grad (N, C, OH, OW) -> dx (N, C, H, W), each window's
    gradient at its arg tap, zero elsewhere. dx takes the memory layout of arg (the forward
    input's layout), so that a channel-major net gets a channel-major gradient."""
    xp = backend.get_array_module(grad)
    n, c, h, w = x_shape
    oh, ow = arg.shape[2:]
    order = _memory_order(arg) if gather_applies(arg, (oh, ow)) else None
    if order is not None:  # one indexed store: the gather path's index, read at each window's arg
        _, window_major, first_tap = _gather_plan(backend.device_of(arg), x_shape, order, kernel, stride, (oh, ow))
        chosen = window_major.take(first_tap + arg.transpose(order).reshape(-1))
        dx = xp.zeros(n * c * h * w, dtype=grad.dtype)
        dx[chosen] = grad.transpose(order).reshape(-1)  # windows are disjoint: no index repeats
        return dx.reshape(tuple(x_shape[a] for a in order)).transpose(_inverse(order))
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
