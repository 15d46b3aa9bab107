"""Engine overhead: one training step in minisensli vs the same computation in plain NumPy.

Three workloads (float32, one BLAS thread unless the *_NUM_THREADS variables say otherwise):
  spirals  2-4-4-2 MLP, ReLU, batch 450 (the SensLI spirals step: almost no arithmetic, so the
           ratio is the engine's fixed cost per op)
  mlp      784-256-256-10 MLP, ReLU, batch 128: forward, cross-entropy, backward, SGD update
  conv  28x28x1 input, conv3x3 1->16 (pad 1), ReLU, maxpool 2, conv3x3 16->32 (pad 1), ReLU,
        maxpool 2, dense 32*7*7 -> 10; batch 64

The NumPy versions are written by hand. For the MLPs they use the library's memory layout (dense
results computed as W x^T with the batch axis contiguous), so the ratio measures what the
Tensor/Function/backward machinery costs, and the step is also timed against the 'textbook'
NumPy step (x @ W.T + b, batch axis outermost): the same arithmetic, slower loops on narrow
layers. The CNN step is the fastest plain-NumPy step we could write for this net: activations
kept channel-major (C, N, H, W) from layer to layer, so that no transpose is ever copied;
im2col by one slice copy per kernel tap straight from the unpadded input (the padding strips
zeroed, no padded copy) done as one long copy of the flattened (C, N*H*W) rows shifted by
du*W + dv, then the entries that wrapped across an edge zeroed; one GEMM per convolution and
two in its backward; col2im as the centre tap copied plus the other eight added by the same
shifts; ReLU in place; 2x2/stride-2 max pooling as the
maximum of four strided views, the first maximum's tap found by one compare per tap, and its
backward as one masked product per tap written into the strided view. It is checked (float64,
1e-10) to compute the same update as the library, and, when PyTorch is installed, the same
step in PyTorch (one intra-op thread) is timed in the same rounds.

Every comparison runs its contenders alternately, round by round, and prints median [range]
wall time and median CPU time of this process (machine.py: on a shared machine CPU time is the
steadier), and the machine's load, CPU and BLAS before and after.
With --gpu, also the CNN step at batch 256 on the GPU against the CPU (skipped without a GPU).
Run:  python benchmarks/bench_engine.py [--steps 200] [--gpu]
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import time

import machine

machine.blas_threads_variables("1")  # before numpy loads: one BLAS thread, as the measurements

import numpy as np  # noqa: E402

import minisensli as ms  # noqa: E402
import minisensli.functional as F  # noqa: E402

HAVE_TORCH = importlib.util.find_spec("torch") is not None

LR = 0.01


def median_times(step_a, step_b, steps: int, warmup: int = 5) -> tuple[float, float]:
    """Median seconds per step of two step functions, timed alternately so that both see the
    same machine state (frequency scaling, other load)."""
    for _ in range(warmup):
        step_a()
        step_b()
    times_a, times_b = [], []
    for _ in range(steps):
        for step, times in ((step_a, times_a), (step_b, times_b)):
            t0 = time.perf_counter()
            step()
            times.append(time.perf_counter() - t0)
    return statistics.median(times_a), statistics.median(times_b)


def uniform(rng, shape, fan_in):
    bound = 1 / np.sqrt(fan_in)
    return rng.uniform(-bound, bound, shape).astype(np.float32)


# ----------------------------------------------------------------------------- MLP


def dense_setup(rng, sizes, batch):
    params = []
    for i, o in zip(sizes[:-1], sizes[1:]):
        params += [uniform(rng, (o, i), i), uniform(rng, (o,), i)]
    x = rng.standard_normal((batch, sizes[0])).astype(np.float32)
    y = rng.integers(0, sizes[-1], batch)
    return params, x, y


def mlp_setup(rng):
    return dense_setup(rng, [784, 256, 256, 10], 128)


def spirals_setup(rng):
    return dense_setup(rng, [2, 4, 4, 2], 450)


def np_linear(x, w, b):
    """x @ w.T + b computed as (w @ x.T + b) and returned transposed: the batch axis contiguous,
    as the library's Linear does (see its docstring: fast bias adds and class reductions)."""
    out_t = w @ x.T
    out_t += b[:, None]
    return out_t.T


def np_cross_entropy_grad(z, y):
    """Mean cross-entropy of logits z (computed, as the library does) and its gradient w.r.t. z."""
    shifted = z - z.max(axis=1, keepdims=True)
    logp = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    n = z.shape[0]
    rows = np.arange(n)
    _ = -(logp[rows, y].sum() / n)
    d = np.exp(logp)
    d[rows, y] -= 1
    d /= n
    return d


def mlp_numpy_textbook(params, x, y):
    """The same step as first written by hand: x @ W.T + b with the batch axis outermost. The same
    arithmetic as mlp_numpy, but every bias add and class reduction loops over examples."""
    w1, b1, w2, b2, w3, b3 = params
    a1 = np.maximum(x @ w1.T + b1, 0)
    a2 = np.maximum(a1 @ w2.T + b2, 0)
    d3 = np_cross_entropy_grad(a2 @ w3.T + b3, y)
    gw3, gb3 = d3.T @ a2, d3.sum(0)
    d2 = (d3 @ w3) * (a2 > 0)
    gw2, gb2 = d2.T @ a1, d2.sum(0)
    d1 = (d2 @ w2) * (a1 > 0)
    gw1, gb1 = d1.T @ x, d1.sum(0)
    for p, g in zip(params, (gw1, gb1, gw2, gb2, gw3, gb3)):
        p -= LR * g


def mlp_numpy(params, x, y):
    w1, b1, w2, b2, w3, b3 = params
    z1 = np_linear(x, w1, b1)
    a1 = np.maximum(z1, 0)
    z2 = np_linear(a1, w2, b2)
    a2 = np.maximum(z2, 0)
    z3 = np_linear(a2, w3, b3)
    d3 = np_cross_entropy_grad(z3, y)
    gw3, gb3 = d3.T @ a2, d3.sum(0)
    d2 = (w3.T @ d3.T).T * (a2 > 0)
    gw2, gb2 = d2.T @ a1, d2.sum(0)
    d1 = (w2.T @ d2.T).T * (a1 > 0)
    gw1, gb1 = d1.T @ x, d1.sum(0)
    for p, g in zip(params, (gw1, gb1, gw2, gb2, gw3, gb3)):
        p -= LR * g


def mlp_minisensli(params, x, y):
    w1, b1, w2, b2, w3, b3 = params
    h = F.linear(x, w1, b1).relu()
    h = F.linear(h, w2, b2).relu()
    loss = F.cross_entropy(F.linear(h, w3, b3), y)
    for p in params:
        p.grad = None
    loss.backward()
    for p in params:
        p.data -= LR * p.grad


# ----------------------------------------------------------------------------- CNN


def conv_setup(rng):
    params = [
        uniform(rng, (16, 1, 3, 3), 9),
        uniform(rng, (16,), 9),
        uniform(rng, (32, 16, 3, 3), 144),
        uniform(rng, (32,), 144),
        uniform(rng, (10, 32 * 7 * 7), 32 * 49),
        uniform(rng, (10,), 32 * 49),
    ]
    x = rng.standard_normal((64, 1, 28, 28)).astype(np.float32)
    y = rng.integers(0, 10, 64)
    return params, x, y


def same3x3_shifts(h, w):
    """For each tap (u, v) of a 3x3 'same' convolution (padding 1, stride 1): the offset (du, dv)
    it reads at, and that offset on the flattened (N*H*W) axis, du*W + dv."""
    for u in range(3):
        for v in range(3):
            yield u, v, u - 1, v - 1, (u - 1) * w + (v - 1)


def zero_edges(tap, du, dv):
    """Zero the entries of a tap (C, N, H, W) that read padding: the row/column at the edge."""
    if du:
        tap[:, :, -1 if du > 0 else 0] = 0
    if dv:
        tap[:, :, :, -1 if dv > 0 else 0] = 0


def np_conv_forward(x, w, b):
    """3x3 conv, padding 1, on a contiguous channel-major x (C, N, H, W) -> z (O, N, H, W), cols.
    im2col by one slice copy per tap: tap (u, v) is x's flattened (C, N*H*W) rows shifted by
    du*W + dv (one long contiguous copy), then the entries that wrapped across an edge (those a
    padded input would read from the padding) are zeroed. One GEMM, whose (O, N*H*W) result is
    already the next layer's channel-major input."""
    c, n, h, wd = x.shape
    o = w.shape[0]
    total = n * h * wd
    src = x.reshape(c, total)
    cols = np.empty((c, 3, 3, n, h, wd), dtype=x.dtype)
    for u, v, du, dv, shift in same3x3_shifts(h, wd):
        flat = cols[:, u, v].reshape(c, total)
        if shift >= 0:
            flat[:, : total - shift] = src[:, shift:]
            flat[:, total - shift :] = 0
        else:
            flat[:, -shift:] = src[:, : total + shift]
            flat[:, :-shift] = 0
        zero_edges(cols[:, u, v], du, dv)
    cols = cols.reshape(c * 9, -1)
    z = w.reshape(o, -1) @ cols
    z += b[:, None]
    return z.reshape(o, n, h, wd), cols


def np_conv_backward(g, cols, w, need_dx=True):
    """Backward of np_conv_forward for a channel-major gradient g (O, N, H, W): dK = g cols^T,
    db = row sums, and (when the input needs it) dx by col2im with the same shifts: the centre
    tap copied, each other tap's edge entries zeroed and its rows added shifted back."""
    o, n, h, wd = g.shape
    c = w.shape[1]
    total = n * h * wd
    g2 = g.reshape(o, -1)
    gw = (g2 @ cols.T).reshape(w.shape)
    gb = g2.sum(1)
    if not need_dx:
        return None, gw, gb
    dcols = (w.reshape(o, -1).T @ g2).reshape(c, 3, 3, n, h, wd)
    dx = dcols[:, 1, 1].reshape(c, total).copy()
    for u, v, du, dv, shift in same3x3_shifts(h, wd):
        if (u, v) == (1, 1):
            continue
        zero_edges(dcols[:, u, v], du, dv)
        flat = dcols[:, u, v].reshape(c, total)
        lo, hi = max(0, -shift), min(total, total - shift)
        dx[:, lo + shift : hi + shift] += flat[:, lo:hi]
    return dx.reshape(c, n, h, wd), gw, gb


POOL_TAPS = [(0, 0), (0, 1), (1, 0), (1, 1)]


def np_pool_forward(a):
    """2x2 max pool, stride 2, of a (C, N, H, W) array with even H, W: the maximum of the four
    strided tap views, then the first tap holding it (the number of leading taps that differ
    from the maximum: one compare per tap), which backward needs."""
    taps = [a[:, :, u::2, v::2] for u, v in POOL_TAPS]
    best = np.maximum(taps[0], taps[1])
    np.maximum(best, taps[2], out=best)
    np.maximum(best, taps[3], out=best)
    leading = taps[0] != best
    arg = leading.astype(np.uint8)
    for tap in taps[1:3]:
        leading &= tap != best
        arg += leading
    return best, arg


def np_pool_backward(g, arg, shape):
    """Each window's gradient to its first maximum: one masked product per tap, written into the
    tap's strided view (windows do not overlap, so nothing is added up)."""
    dx = np.empty(shape, dtype=g.dtype)
    for tap, (u, v) in enumerate(POOL_TAPS):
        np.multiply(g, arg == tap, out=dx[:, :, u::2, v::2])
    return dx


def conv_numpy(params, x, y):
    """The CNN step written by hand, activations channel-major (C, N, H, W) throughout."""
    k1, c1, k2, c2, w3, b3 = params
    n = x.shape[0]
    z1, cols1 = np_conv_forward(np.ascontiguousarray(x.transpose(1, 0, 2, 3)), k1, c1)  # a view: C = 1
    a1 = np.maximum(z1, 0, out=z1)
    p1, arg1 = np_pool_forward(a1)
    z2, cols2 = np_conv_forward(p1, k2, c2)
    a2 = np.maximum(z2, 0, out=z2)
    p2, arg2 = np_pool_forward(a2)
    flat = p2.transpose(1, 0, 2, 3).reshape(n, -1)  # (N, C*H*W) in the NCHW order of the weights
    z3 = np_linear(flat, w3, b3)
    d3 = np_cross_entropy_grad(z3, y)
    gw3, gb3 = d3.T @ flat, d3.sum(0)
    dp2 = (w3.T @ d3.T).T.reshape(n, *p2.shape[:1], *p2.shape[2:]).transpose(1, 0, 2, 3)
    da2 = np_pool_backward(dp2, arg2, a2.shape)
    da2 *= a2 > 0
    dp1, gk2, gc2 = np_conv_backward(da2, cols2, k2)
    da1 = np_pool_backward(dp1, arg1, a1.shape)
    da1 *= a1 > 0
    _, gk1, gc1 = np_conv_backward(da1, cols1, k1, need_dx=False)
    for p, g in zip(params, (gk1, gc1, gk2, gc2, gw3, gb3)):
        p -= LR * g


def conv_minisensli(params, x, y):
    k1, c1, k2, c2, w3, b3 = params
    h = F.max_pool2d(F.conv2d(x, k1, c1, padding=1).relu(), 2)
    h = F.max_pool2d(F.conv2d(h, k2, c2, padding=1).relu(), 2)
    loss = F.cross_entropy(F.linear(F.flatten(h), w3, b3), y)
    for p in params:
        p.grad = None
    loss.backward()
    for p in params:
        p.data -= LR * p.grad


def compare(name, setup, numpy_step, ms_step, steps, baseline="numpy"):
    rng = np.random.default_rng(0)
    params, x, y = setup(rng)
    np_params = [p.copy() for p in params]
    ms_params = [ms.Tensor(p.copy(), requires_grad=True) for p in params]
    xt = ms.Tensor(x)
    t = machine.interleaved(
        {baseline: lambda: numpy_step(np_params, x, y), "minisensli": lambda: ms_step(ms_params, xt, y)}, steps
    )
    t_np, t_ms = t[baseline], t["minisensli"]
    print(f"{name:8s}  {baseline:10s} {t_np.summary()}")
    print(f"{'':8s}  {'minisensli':10s} {t_ms.summary()}")
    print(
        f"{'':8s}  ratio minisensli / {baseline}: {t_ms.median() / t_np.median():5.3f} wall, "
        f"{t_ms.median(cpu=True) / t_np.median(cpu=True):5.3f} cpu"
    )
    return t_ms.median() / t_np.median()


def torch_conv_step(params, x, y, dtype=None):
    """The CNN step in PyTorch (as a PyTorch user writes it), from the same weights: returns the
    step function and the parameter tensors."""
    import torch  # noqa: PLC0415 - optional, benchmark-only dependency
    import torch.nn.functional as TF  # noqa: PLC0415, N812

    tp = [torch.tensor(p, requires_grad=True, dtype=dtype) for p in params]
    xt, yt = torch.tensor(x, dtype=dtype), torch.from_numpy(y)

    def step():
        k1, c1, k2, c2, w3, b3 = tp
        h = TF.max_pool2d(TF.relu(TF.conv2d(xt, k1, c1, padding=1)), 2)
        h = TF.max_pool2d(TF.relu(TF.conv2d(h, k2, c2, padding=1)), 2)
        loss = TF.cross_entropy(TF.linear(h.flatten(1), w3, b3), yt)
        for p in tp:
            p.grad = None
        loss.backward()
        with torch.no_grad():
            for p in tp:
                p -= LR * p.grad

    return step, tp


def compare_conv(steps: int) -> None:
    """The CNN step: the hand-written NumPy step, minisensli and (if installed) PyTorch, in the
    same rounds."""
    rng = np.random.default_rng(0)
    params, x, y = conv_setup(rng)
    np_params = [p.copy() for p in params]
    ms_params = [ms.Tensor(p.copy(), requires_grad=True) for p in params]
    xt = ms.Tensor(x)
    contenders = {"numpy": lambda: conv_numpy(np_params, x, y), "minisensli": lambda: conv_minisensli(ms_params, xt, y)}
    if HAVE_TORCH:
        contenders["pytorch"], _ = torch_conv_step([p.copy() for p in params], x, y)
    t = machine.interleaved(contenders, steps)
    for name, timing in t.items():
        print(f"{'conv' if name == 'numpy' else '':8s}  {name:10s} {timing.summary()}")
    for other in [name for name in t if name != "minisensli"]:
        print(
            f"{'':8s}  ratio minisensli / {other}: {t['minisensli'].median() / t[other].median():5.3f} wall, "
            f"{t['minisensli'].median(cpu=True) / t[other].median(cpu=True):5.3f} cpu"
        )
    if not HAVE_TORCH:
        print(f"{'':8s}  pytorch: not installed, skipped (pip install torch)")


def check_same_update(setup, numpy_step, ms_step):
    """Both versions must compute the same step, else the timing compares different work."""
    rng = np.random.default_rng(1)
    params, x, y = setup(rng)
    a = [p.astype(np.float64) for p in params]
    b = [ms.Tensor(p.astype(np.float64), requires_grad=True) for p in params]
    numpy_step(a, x.astype(np.float64), y)
    ms_step(b, ms.Tensor(x.astype(np.float64)), y)
    for pa, pb in zip(a, b):
        np.testing.assert_allclose(pa, pb.data, rtol=1e-10, atol=1e-12)


def check_torch_same_update() -> None:
    """PyTorch's CNN step computes the same update as the NumPy step (float64)."""
    import torch  # noqa: PLC0415

    rng = np.random.default_rng(1)
    params, x, y = conv_setup(rng)
    a = [p.astype(np.float64) for p in params]
    step, tp = torch_conv_step(a, x.astype(np.float64), y, dtype=torch.float64)
    conv_numpy(a, x.astype(np.float64), y)
    step()
    for pa, pt in zip(a, tp):
        np.testing.assert_allclose(pa, pt.detach().numpy(), rtol=1e-10, atol=1e-12)


def gpu_versus_cpu(steps: int, batch: int = 256) -> None:
    """The CNN step at ``batch`` on the GPU against the same step on the CPU (minisensli both)."""
    from minisensli import backend  # noqa: PLC0415

    if not backend.gpu_available():
        print(f"conv batch {batch} on gpu: skipped, no CUDA GPU with CuPy on this machine")
        return
    rng = np.random.default_rng(0)
    params, x, _ = conv_setup(rng)
    x = rng.standard_normal((batch, *x.shape[1:])).astype(np.float32)
    y = rng.integers(0, 10, batch)
    per_device = {}
    for device in ("cpu", "gpu"):
        ps = [ms.Tensor(p.copy(), requires_grad=True, device=device) for p in params]
        xt, yt = ms.Tensor(x, device=device), ms.Tensor(y, device=device)

        def step(ps=ps, xt=xt, yt=yt):
            conv_minisensli(ps, xt, yt)
            backend.to_numpy(ps[0].grad.sum())  # waits for the device: the step is timed to its end

        per_device[device] = step
    t_cpu, t_gpu = median_times(per_device["cpu"], per_device["gpu"], steps)
    print(f"conv batch {batch}: cpu {t_cpu * 1e3:8.3f} ms   gpu {t_gpu * 1e3:8.3f} ms   speed-up {t_cpu / t_gpu:5.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=200, help="timed steps per workload (median is reported)")
    parser.add_argument("--gpu", action="store_true", help="also time the CNN step at batch 256 on the GPU vs CPU")
    parser.add_argument("--only", choices=["spirals", "mlp", "conv"], help="run one workload only")
    args = parser.parse_args()
    torch = None
    if HAVE_TORCH:
        import torch  # noqa: PLC0415

        torch.set_num_threads(1)  # one core for every contender
    check_same_update(spirals_setup, mlp_numpy, mlp_minisensli)
    check_same_update(mlp_setup, mlp_numpy, mlp_minisensli)
    check_same_update(conv_setup, conv_numpy, conv_minisensli)
    check_same_update(spirals_setup, mlp_numpy_textbook, mlp_minisensli)
    if HAVE_TORCH:
        check_torch_same_update()
    print(f"machine: {machine.describe(torch)}")
    print(
        f"median [range] of {args.steps} steps (spirals x5, conv /4), float32, contenders alternating; 'numpy' "
        "is written with the library's memory layout (conv: the fastest NumPy step, see the docstring), "
        "'textbook' is x @ W.T + b"
    )
    if args.only in (None, "spirals"):
        compare("spirals", spirals_setup, mlp_numpy, mlp_minisensli, args.steps * 5)
        compare("spirals", spirals_setup, mlp_numpy_textbook, mlp_minisensli, args.steps * 5, "textbook")
    if args.only in (None, "mlp"):
        compare("mlp", mlp_setup, mlp_numpy, mlp_minisensli, args.steps)
        compare("mlp", mlp_setup, mlp_numpy_textbook, mlp_minisensli, args.steps, "textbook")
    if args.only in (None, "conv"):
        compare_conv(max(20, args.steps // 4))
    if args.gpu:
        gpu_versus_cpu(max(20, args.steps // 4))
    print(f"machine after: {machine.load_average()}")


if __name__ == "__main__":
    main()
