"""Array kernels of the convolution that read and write the unpadded input directly.

conv.im2col / conv.col2im work on a zero-padded copy of the input (pad_spatial, then one slice
per kernel tap, then unpad_spatial): simple, but every call pays one extra pass over the input
for the padded copy and one over the gradient for the padded buffer. The kernels here compute
the same arrays without the padded copy: each tap (u, v) reads only the window positions that
fall inside the input, and the positions that fall into the padding are zero-filled strips of
cols (forward) or simply skipped (backward): no padded copy of the input, no padded gradient
buffer, and the same numbers bit for bit.

Memory layout: cols is (C, kh, kw, N, OH, OW) and the convolution's output is the (O, N, OH,
OW) GEMM result returned as an (N, O, OH, OW) view; col2im_fields returns the input gradient
the same way, a (N, C, H, W) view of a (C, N, H, W) array. Activations of a conv net therefore
stay channel-major in memory between layers (ReLU and pooling keep the layout of their input),
and the slice copies of the next im2col read long contiguous rows. The public NCHW shapes never
change; only strides do.

Every function runs on numpy and cupy arrays alike.
"""

from __future__ import annotations

import functools
from typing import Any

from .. import backend


def tap_range(size: int, out_size: int, tap: int, stride: int, padding: int) -> tuple[int, int, int]:
    """Output positions i in [lo, hi) whose input index s*i + tap - p lies inside [0, size),
    and the input index of position lo: (lo, hi, first). hi <= lo when the tap reads only
    padding."""
    offset = tap - padding
    lo = max(0, -(offset // stride)) if offset < 0 else 0  # ceil(-offset / s) for offset < 0
    hi = min(out_size, (size - 1 - offset) // stride + 1) if size - 1 - offset >= 0 else 0
    return lo, hi, stride * lo + offset


@functools.lru_cache(maxsize=512)
def tap_plan(size_hw: tuple, kernel: tuple, stride: tuple, padding: tuple, out_hw: tuple) -> tuple:
    """For each tap (u, v) of a kernel over an (H, W) input: (u, v, reads), where reads is the
    output window ((i_lo, i_hi, j_lo, j_hi)) the tap reaches inside the input and the input
    slices (rows, cols) it reads there, or None for a tap that sees only padding. Cached: a
    network asks for the same few geometries at every step."""
    h, w = size_hw
    plan: list[tuple] = []
    for u in range(kernel[0]):
        i_lo, i_hi, r0 = tap_range(h, out_hw[0], u, stride[0], padding[0])
        for v in range(kernel[1]):
            j_lo, j_hi, c0 = tap_range(w, out_hw[1], v, stride[1], padding[1])
            if i_hi <= i_lo or j_hi <= j_lo:
                plan.append((u, v, None))
                continue
            reads = (
                slice(r0, r0 + stride[0] * (i_hi - i_lo - 1) + 1, stride[0]),
                slice(c0, c0 + stride[1] * (j_hi - j_lo - 1) + 1, stride[1]),
            )
            plan.append((u, v, ((i_lo, i_hi, j_lo, j_hi), reads)))
    return tuple(plan)


def _tap_reads(shape: tuple, kernel: tuple, stride: tuple, padding: tuple, out_hw: tuple) -> tuple:
    """tap_plan for an (N, C, H, W) shape, with every setting as a plain tuple of ints."""
    return tap_plan((shape[2], shape[3]), tuple(kernel), tuple(stride), tuple(padding), tuple(out_hw))


def conv_out_hw(shape: tuple, kernel: tuple, stride: tuple, padding: tuple) -> tuple[int, int]:
    """(OH, OW) = floor((H + 2p - k) / s) + 1 per axis."""
    return (
        (shape[2] + 2 * padding[0] - kernel[0]) // stride[0] + 1,
        (shape[3] + 2 * padding[1] - kernel[1]) // stride[1] + 1,
    )


def flat_shift_applies(shape: tuple, kernel: tuple, stride: tuple, padding: tuple) -> bool:
    """True for a 'same' convolution (stride 1, 2p = k - 1 on both axes, so OH, OW = H, W): then
    every tap is one shift of the flattened (N*H*W) axis, see _im2col_flat."""
    return stride == (1, 1) and 2 * padding[0] == kernel[0] - 1 and 2 * padding[1] == kernel[1] - 1


def _tap_shifts(shape: tuple, kernel: tuple, padding: tuple):
    """For each tap (u, v) of a 'same' kernel: (u, v, du, dv, shift) with (du, dv) the offset it
    reads at and shift = du*W + dv the same offset on the flattened (N*H*W) axis."""
    w = shape[3]
    for u in range(kernel[0]):
        for v in range(kernel[1]):
            du, dv = u - padding[0], v - padding[1]
            yield u, v, du, dv, du * w + dv


def _zero_outside(tap: Any, du: int, dv: int) -> None:
    """Zero the entries (C, N, H, W) of a tap whose input index (i + du, j + dv) leaves the image."""
    h, w = tap.shape[2:]
    if du > 0:
        tap[:, :, max(h - du, 0) :] = 0
    elif du < 0:
        tap[:, :, : min(-du, h)] = 0
    if dv > 0:
        tap[:, :, :, max(w - dv, 0) :] = 0
    elif dv < 0:
        tap[:, :, :, : min(-dv, w)] = 0


def _im2col_flat(x_cn: Any, cols: Any, padding: tuple) -> None:
    """im2col of a 'same' convolution from a contiguous channel-major x (C, N, H, W): tap (u, v)
    is x's flattened (C, N*H*W) rows shifted by du*W + dv, one long contiguous copy, after which
    the entries that wrapped across a row or image edge (those that read padding) are zeroed.
    The slice-per-tap copy moves rows of only W entries; on small images this is several times
    faster, with the same result. On NumPy all taps are one copy (_im2col_flat_all_taps)."""
    if _im2col_flat_all_taps(x_cn, cols, padding):
        return
    c, n, h, w = x_cn.shape
    total = n * h * w
    src = x_cn.reshape(c, total)
    for u, v, du, dv, shift in _tap_shifts(x_cn.shape, cols.shape[1:3], padding):
        tap = cols[:, u, v]
        flat = tap.reshape(c, total)
        if abs(shift) >= total:
            flat[...] = 0
            continue
        if shift >= 0:
            flat[:, : total - shift] = src[:, shift:]
            flat[:, total - shift :] = 0
        else:
            flat[:, -shift:] = src[:, : total + shift]
            flat[:, :-shift] = 0
        _zero_outside(tap, du, dv)


def _im2col_flat_all_taps(x_cn: Any, cols: Any, padding: tuple) -> bool:
    """_im2col_flat with all taps in one copy (NumPy arrays): x's flattened rows are copied once
    between m zeros (m = p0*W + p1, the largest shift), padded[c, m + k] = x[c, k]; tap (u, v)
    reads padded[c, u*W + v + k], so all taps are one strided view (C, kh, kw, N*H*W) with
    strides (row, W, 1, 1) entries over padded, read in one copy. Then the entries that read
    padding (wrapped across a row or image edge) are zeroed per tap row u and tap column v.
    About ten NumPy calls instead of four to five per tap plus _zero_outside's strided writes:
    on the digits CNN's 8 x 8 and 4 x 4 maps 1.2-3x faster, about 5 % slower on 28 x 28 (the
    padded copy); the same result bit for bit. Returns False where it does not apply (not
    NumPy, or cols not contiguous): then the per-tap loop runs (CuPy)."""
    c, n, h, w = x_cn.shape
    kh, kw = cols.shape[1:3]
    if backend.device_of(x_cn) != "cpu" or not cols.flags.c_contiguous:
        return False
    numpy = backend.module_for_device("cpu")  # the strided view below is NumPy's, host arrays only
    total = n * h * w
    margin = padding[0] * w + padding[1]
    padded = numpy.empty((c, total + 2 * margin), dtype=x_cn.dtype)  # x's rows between m zeros
    padded[:, :margin] = 0
    padded[:, margin : margin + total] = x_cn.reshape(c, total)
    padded[:, margin + total :] = 0
    item = padded.itemsize
    # [c, u, v, k] = padded[c, u*W + v + k]: a view by the ndarray constructor over padded's
    # buffer (as_strided does the same with about 3.5 us more Python per call)
    taps = numpy.ndarray(
        (c, kh, kw, total), padded.dtype, buffer=padded, strides=(padded.strides[0], w * item, item, item)
    )
    taps.flags.writeable = False
    cols.reshape(c, kh, kw, total)[...] = taps
    for u in range(kh):  # output rows i whose input row i + du lies outside the image
        du = u - padding[0]
        if du > 0:
            cols[:, u, :, :, max(0, h - du) :] = 0
        elif du < 0:
            cols[:, u, :, :, : min(-du, h)] = 0
    for v in range(kw):
        dv = v - padding[1]
        if dv > 0:
            cols[:, :, v, :, :, max(0, w - dv) :] = 0
        elif dv < 0:
            cols[:, :, v, :, :, : min(-dv, w)] = 0
    return True


def im2col_fields(x: Any, kernel: tuple, stride: tuple, padding: tuple, out: Any = None) -> Any:
    """Receptive fields of the unpadded input x (N, C, H, W) as cols (C, kh, kw, N, OH, OW):
    cols[c, u, v, n, i, j] = x[n, c, s*i + u - p, s*j + v - p], 0 where that index is padding.
    Equal to conv.im2col(conv.pad_spatial(x, padding), kernel, stride), without the padded copy.
    out: a C-contiguous array of cols's shape and x's dtype to fill (every entry is written)
    instead of a new one."""
    xp = backend.get_array_module(x)
    n, c = x.shape[:2]
    oh, ow = conv_out_hw(x.shape, kernel, stride, padding)
    shape = (c, kernel[0], kernel[1], n, oh, ow)
    if out is not None and (out.shape != shape or out.dtype != x.dtype or not out.flags.c_contiguous):
        raise ValueError(f"im2col_fields: out must be a C-contiguous {x.dtype} array of shape {shape}")
    cols = out if out is not None else xp.empty(shape, dtype=x.dtype)
    x_cn = x.transpose(1, 0, 2, 3)  # (C, N, H, W): a contiguous view when x is channel-major
    if flat_shift_applies(x.shape, kernel, stride, padding) and x_cn.flags.c_contiguous:
        _im2col_flat(x_cn, cols, padding)
        return cols
    for u, v, reads in _tap_reads(x.shape, kernel, stride, padding, (oh, ow)):
        tap = cols[:, u, v]
        if reads is None:
            tap[...] = 0
            continue
        (i_lo, i_hi, j_lo, j_hi), (rows, columns) = reads
        tap[:, :, i_lo:i_hi, j_lo:j_hi] = x_cn[:, :, rows, columns]
        # zero only the strips of the window that fall into the padding
        if i_lo > 0:
            tap[:, :, :i_lo] = 0
        if i_hi < oh:
            tap[:, :, i_hi:] = 0
        if j_lo > 0:
            tap[:, :, i_lo:i_hi, :j_lo] = 0
        if j_hi < ow:
            tap[:, :, i_lo:i_hi, j_hi:] = 0
    return cols


def col2im_fields(dcols: Any, x_shape: tuple, stride: tuple, padding: tuple, consume: bool = False) -> Any:
    """Adjoint of im2col_fields: dx[n, c, y, x] = sum of dcols[c, u, v, n, i, j] over the taps
    and window positions that read input position (y, x). dcols (C, kh, kw, N, OH, OW) ->
    dx (N, C, H, W), a view of a channel-major (C, N, H, W) array. Equal, bit for bit (the taps
    add up in the same order), to conv.unpad_spatial(conv.col2im(dcols, padded_shape, stride),
    x_shape, padding). consume=True lets a 'same' convolution take the flat-shift path, which
    overwrites the entries of dcols that read padding with zeros (pass it for a temporary)."""
    xp = backend.get_array_module(dcols)
    c, kh, kw, n, oh, ow = dcols.shape
    h, w = x_shape[2], x_shape[3]
    if consume and flat_shift_applies(x_shape, (kh, kw), stride, padding) and dcols.flags.c_contiguous:
        return _col2im_flat(dcols, x_shape, padding)
    taps = [(u, v, r) for u, v, r in _tap_reads(x_shape, (kh, kw), stride, padding, (oh, ow)) if r is not None]
    if not taps or stride != (1, 1):
        dx = xp.zeros((c, n, h, w), dtype=dcols.dtype)
    else:
        # stride 1: the first tap's window is one rectangle; copy it in and zero only the strips
        # around it instead of adding it onto zeros (one pass over dx less). The taps are then
        # summed in the same order as col2im's, so the results agree bit for bit (0 + a == a).
        u, v, ((i_lo, i_hi, j_lo, j_hi), (rows, columns)) = taps.pop(0)
        dx = xp.empty((c, n, h, w), dtype=dcols.dtype)
        dx[:, :, rows, columns] = dcols[:, u, v, :, i_lo:i_hi, j_lo:j_hi]
        dx[:, :, : rows.start] = 0
        dx[:, :, rows.stop :] = 0
        dx[:, :, rows, : columns.start] = 0
        dx[:, :, rows, columns.stop :] = 0
    for u, v, ((i_lo, i_hi, j_lo, j_hi), (rows, columns)) in taps:
        dx[:, :, rows, columns] += dcols[:, u, v, :, i_lo:i_hi, j_lo:j_hi]
    return dx.transpose(1, 0, 2, 3)


def _col2im_flat(dcols: Any, x_shape: tuple, padding: tuple) -> Any:
    """col2im of a 'same' convolution by flat shifts (the adjoint of _im2col_flat): zero the
    entries of each tap that read padding (in dcols itself), then add the tap's flattened rows
    onto dx shifted by -(du*W + dv), taps in col2im's order. A zeroed entry lands on some other
    position as +0, which changes no sum, so the result equals col2im's bit for bit (up to the
    sign of zero sums)."""
    xp = backend.get_array_module(dcols)
    c, kh, kw, n, h, w = dcols.shape
    total = n * h * w
    dx = xp.empty((c, total), dtype=dcols.dtype)
    first = True
    for u, v, du, dv, shift in _tap_shifts(x_shape, (kh, kw), padding):
        if abs(shift) >= total:
            continue  # the tap reads only padding
        tap = dcols[:, u, v]
        _zero_outside(tap, du, dv)
        flat = tap.reshape(c, total)
        # entry k of the tap read input position k + shift
        lo, hi = max(0, -shift), min(total, total - shift)
        if first:
            dx[:, : lo + shift] = 0
            dx[:, hi + shift :] = 0
            dx[:, lo + shift : hi + shift] = flat[:, lo:hi]
            first = False
        else:
            dx[:, lo + shift : hi + shift] += flat[:, lo:hi]
    if first:  # no tap reached the input
        dx[...] = 0
    return dx.reshape(c, n, h, w).transpose(1, 0, 2, 3)


def kernel_taps(weight_shape: tuple) -> int:
    """kh * kw of an (O, C, kh, kw) weight."""
    return weight_shape[2] * weight_shape[3]


def conv2d_forward_arrays(x: Any, weight: Any, bias: Any, stride: tuple, padding: tuple) -> tuple[Any, Any]:
    """y = conv2d(x, K, b) on arrays: (N, C, H, W), (O, C, kh, kw), (O,) or None -> y (N, O, OH,
    OW) as a view of the (O, N, OH, OW) GEMM result, and cols (C*kh*kw, N*OH*OW) for backward."""
    n = x.shape[0]
    o = weight.shape[0]
    cols = im2col_fields(x, weight.shape[2:], stride, padding)
    oh, ow = cols.shape[4:]
    cols = cols.reshape(cols.shape[0] * kernel_taps(weight.shape), n * oh * ow)  # explicit: N may be 0
    out = weight.reshape(o, -1) @ cols  # (O, N*OH*OW)
    if bias is not None:
        out += bias[:, None]
    return out.reshape(o, n, oh, ow).transpose(1, 0, 2, 3), cols


def channel_major(grad: Any) -> Any:
    """An (N, C, H, W) array as the (C, N*H*W) matrix of the GEMMs: free when grad is already
    channel-major in memory (as conv outputs and their ReLU are), one transposing copy otherwise."""
    n, c, h, w = grad.shape
    return grad.transpose(1, 0, 2, 3).reshape(c, n * h * w)  # explicit sizes: N may be 0


def input_grad_by_col2im(g: Any, weight: Any, out_hw: tuple, x_shape: tuple, stride: tuple, padding: tuple) -> Any:
    """dL/dx of y = conv2d(x, K): g = channel_major(dL/dy) (O, N*OH*OW) -> (N, C, H, W), by
    dcols = K^T g and col2im_fields, or, for a 'same' convolution with no more output than input
    channels, as the 'same' convolution of g with the flipped kernel (input_grad_by_flipped_conv)."""
    o, c, kh, kw = weight.shape
    if o <= c and flat_shift_applies(x_shape, (kh, kw), stride, padding):
        return input_grad_by_flipped_conv(g, weight, x_shape, padding)
    dcols = (weight.reshape(o, -1).T @ g).reshape(c, kh, kw, x_shape[0], *out_hw)
    return col2im_fields(dcols, x_shape, stride, padding, consume=True)  # dcols is ours to overwrite


def input_grad_by_flipped_conv(g: Any, weight: Any, x_shape: tuple, padding: tuple) -> Any:
    """dL/dx of a 'same' convolution (stride 1, 2p = k - 1 per axis) as a 'same' convolution:

        dx[n, c, i, j] = sum_{o,u,v} g[n, o, i - u + p, j - v + p] K[o, c, u, v]
                       = sum_{o,u,v} g[n, o, i + u - p, j + v - p] K[o, c, kh-1-u, kw-1-v]

    (substituting u -> kh-1-u, and kh-1-p = p), i.e. im2col of g (O*kh*kw, N*H*W) and one GEMM
    with the kernel flipped in both spatial axes and transposed to (C, O*kh*kw). g =
    channel_major(dL/dy) (O, N*H*W) -> (N, C, H, W), a view of a channel-major array.

    Why: col2im adds kh*kw shifted slabs of C*N*H*W entries one tap at a time; im2col of g is one
    strided copy of O*kh*kw*N*H*W entries (see _im2col_flat_all_taps). With O <= C the copy is no
    larger than the slabs; on the digits CNN's 8 -> 8 and 16 -> 16 convolutions (batch 64, 8 x 8
    and 4 x 4 maps) this input gradient took 0.73 and 0.65 of the col2im path's time (2026-12-07,
    fourth session; 0.53 and 0.65 in the third). With O = 2C (8 -> 16 on 4 x 4) it took 0.76-0.89
    at batch 64 but 1.3x at batch 449, hence O <= C. The sums run
    in another order than col2im's, so the result agrees to rounding (float32: relative 1e-7),
    not bit for bit."""
    o, c, kh, kw = weight.shape
    n, h, w = x_shape[0], x_shape[2], x_shape[3]
    g_nchw = g.reshape(o, n, h, w).transpose(1, 0, 2, 3)  # channel-major, as im2col_fields reads fastest
    cols = im2col_fields(g_nchw, (kh, kw), (1, 1), padding).reshape(o * kh * kw, n * h * w)
    flipped = weight[:, :, ::-1, ::-1].transpose(1, 0, 2, 3).reshape(c, o * kh * kw)  # a small copy
    return (flipped @ cols).reshape(c, n, h, w).transpose(1, 0, 2, 3)


def weight_grad_by_cols(g: Any, cols: Any, weight_shape: tuple) -> Any:
    """dL/dK = g cols^T, g (O, N*OH*OW), cols (C*kh*kw, N*OH*OW) -> (O, C, kh, kw)."""
    return (g @ cols.T).reshape(weight_shape)
