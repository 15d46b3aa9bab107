# %% [markdown]
# # Chapter 4 — Layers: Dense, convolution, residual blocks, pooling
#
# *Reading time: about 45 min; exercises: about 45 min.*
#
# Chapters 1–3 gave us tensors that remember how they were computed, ops with hand-written
# backwards, and a way to check those backwards. This chapter packages ops and weights into
# **layers**, the pieces networks and SensLI are made of.
#
# You will
# - rebuild `Dense` (weight shape, $xW^\top + b$, PyTorch's initialisation and why it keeps
#   activations at the same scale) and see how a `Module` finds its parameters by attribute;
# - write a 2-D convolution as loops, derive its output size, then rewrite it as **im2col + one
#   matrix product**, check both against `F.conv2d`, and time them;
# - derive the gradient of the convolution weight as a correlation of the input with the output
#   gradient, and check it against autograd;
# - build residual blocks and see why a zero branch makes them the identity (the starting point
#   of every layer SensLI inserts), and where their gradients are zero;
# - see where max pooling sends its gradient, and gradcheck every layer.
#
# **Prerequisites:** chapters 1–3 (`Tensor`, `Function`, `ms.gradcheck`).
#
# **Package modules:** `minisensli/nn/module.py` (`Module`, `Parameter`), `nn/layers.py`
# (`Dense`, `Conv2d`, pooling layers, `Flatten`), `nn/residual.py` (`ResidualDense`,
# `ResidualConv`), `nn/activation.py`, `nn/sequential.py`, `nn/init.py`, and the ops behind them,
# `minisensli/ops/conv.py` (`im2col`, `col2im`, `conv2d`) and `ops/pool.py`.

# %%
import time

import matplotlib.pyplot as plt
import numpy as np

import minisensli as ms
import minisensli.functional as F
from minisensli import nn
from minisensli.exercises import check
from minisensli.ops import conv as conv_ops

ms.set_default_dtype("float64")
ms.manual_seed(0)
rng = np.random.default_rng(0)

# %% [markdown]
# ## 1. Dense: $y = x W^\top + b$
#
# A dense (fully connected) layer maps a batch $x$ of shape `(N, in)` to `(N, out)`. Its weight
# has shape `(out, in)`: row $o$ is the weight vector of output unit $o$, and all $N \cdot
# \text{out}$ dot products are one matrix product, $y = x W^\top + b$, with the bias `(out,)`
# broadcast over the batch. (`(out, in)` is PyTorch's convention too, so a reader can compare
# weights one to one.)
#
# **Initialisation.** `Dense` draws $W$ and $b$ uniformly from $[-1/\sqrt{\text{in}},
# 1/\sqrt{\text{in}}]$ (PyTorch's default, also used by the SensLI reference code). Why this
# scale: a uniform variable on $[-a, a]$ has variance $a^2/3$, so for independent inputs with
# $\mathbb E[x_j^2] = \sigma^2$,
#
# $$\operatorname{Var}\Bigl(\sum_{j=1}^{\text{in}} W_{oj} x_j\Bigr)
#   = \text{in} \cdot \frac{1}{3\,\text{in}} \cdot \sigma^2 = \frac{\sigma^2}{3},$$
#
# independent of the width: a layer with 1000 inputs does not produce pre-activations 30 times
# larger than one with 1. We first rebuild the layer as a `Module` of our own.


# %%
class MyDense(nn.Module):
    def __init__(self, in_features, out_features, rng):
        bound = 1 / np.sqrt(in_features)
        self.weight = nn.Parameter(rng.uniform(-bound, bound, (out_features, in_features)))
        self.bias = nn.Parameter(rng.uniform(-bound, bound, out_features))

    def forward(self, x):
        return x @ self.weight.T + self.bias


mine = MyDense(3, 2, rng)
package = nn.Dense(3, 2)
package.load_state_dict(mine.state_dict())  # same parameter names: 'weight', 'bias'
x = ms.Tensor(rng.standard_normal((5, 3)))
np.testing.assert_allclose(mine(x).data, package(x).data, rtol=1e-15, atol=1e-13)
np.testing.assert_allclose(package(x).data, x.data @ mine.weight.data.T + mine.bias.data, rtol=1e-15, atol=1e-13)
print([(name, p.shape) for name, p in mine.named_parameters()])

# %%
x = rng.standard_normal((2000, 1024))  # inputs with E[x^2] = 1
for fan_in in (4, 64, 1024):
    layer = nn.Dense(fan_in, 256)
    bound = 1 / np.sqrt(fan_in)
    assert np.abs(layer.weight.data).max() <= bound and np.abs(layer.bias.data).max() <= bound
    pre_activation = x[:, :fan_in] @ layer.weight.data.T  # without the bias
    print(f"fan_in={fan_in:5d}: weight bound {bound:.3f}, Var(x W^T) = {pre_activation.var():.3f}")
    assert abs(pre_activation.var() - 1 / 3) < 0.05

# %% [markdown]
# The variance stays at $1/3$ whatever the width, as derived. (With the bias, add its own
# variance $1/(3\,\text{in})$.) The backward of `Dense` (three matrix products) is exercise 1.
#
# ### Parameters are found by attribute
#
# We never told `MyDense` which tensors are its parameters: `Module` looks at its attributes, in
# the order they were assigned, and collects every `Parameter` and every sub-`Module` (also inside
# a list or tuple). Networks are written the same way, and their parameter names are the
# attribute paths. Two pitfalls are shown below: a plain `Tensor` attribute is **not** a
# parameter (an optimizer would never update it), and a dict of modules is not searched.


# %%
class TwoLayer(nn.Module):
    def __init__(self):
        self.fc1 = nn.Dense(3, 5)
        self.act = nn.Tanh()
        self.fc2 = nn.Dense(5, 2)
        self.scale = ms.Tensor(2.0, requires_grad=True)  # a plain Tensor: not registered
        self.heads = {"extra": nn.Dense(2, 2)}  # a dict: not searched

    def forward(self, x):
        return self.scale * self.fc2(self.act(self.fc1(x)))


names = [name for name, _ in TwoLayer().named_parameters()]
print(names)
assert names == ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]
chain = nn.Sequential(nn.Dense(3, 5), nn.Tanh(), nn.Dense(5, 2))
print([name for name, _ in chain.named_parameters()], "-", chain.num_parameters(), "parameters")

# %% [markdown]
# ## 2. Convolution, first as loops
#
# A 2-D convolution layer slides `O` small kernels over an image batch. With input $x$ of shape
# `(N, C, H, W)` (NCHW), kernel $K$ of shape `(O, C, kh, kw)`, bias $b$ `(O,)`, stride $s$ and zero
# padding $p$ (the input padded by $p$ zeros on every side, giving $x_{\text{pad}}$):
#
# $$y[n, o, i, j] = b[o] + \sum_{c=0}^{C-1}\sum_{u=0}^{kh-1}\sum_{v=0}^{kw-1}
#   K[o, c, u, v]\; x_{\text{pad}}[n, c,\; s i + u,\; s j + v].$$
#
# The kernel is **not** flipped: mathematically this is a cross-correlation, which deep learning
# calls convolution (a flipped kernel would only relabel the weights being learned).
#
# **Output size.** Window $i$ starts at row $s i$ and needs rows up to $s i + kh - 1 \le H + 2p -
# 1$, so $i \le (H + 2p - kh)/s$ and, counting $i = 0$,
#
# $$OH = \left\lfloor \frac{H + 2p - kh}{s} \right\rfloor + 1$$
#
# (the same for $OW$). The floor means that when the stride does not fit, the last rows are never
# read. The loops below are the formula, with the sum over $(c, u, v)$ done by `np.sum` over one
# patch.


# %%
def conv2d_loops(x, K, b, stride=1, padding=0):
    n_batch, _, h, w = x.shape
    n_out, _, kh, kw = K.shape
    x_pad = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    oh = (h + 2 * padding - kh) // stride + 1
    ow = (w + 2 * padding - kw) // stride + 1
    y = np.zeros((n_batch, n_out, oh, ow))
    for n in range(n_batch):
        for o in range(n_out):
            for i in range(oh):
                for j in range(ow):
                    patch = x_pad[n, :, stride * i : stride * i + kh, stride * j : stride * j + kw]
                    y[n, o, i, j] = b[o] + np.sum(K[o] * patch)
    return y


x = rng.standard_normal((2, 3, 7, 6))
K = rng.standard_normal((4, 3, 3, 2))
b = rng.standard_normal(4)
for stride, padding in [(1, 0), (2, 1), (3, 2)]:
    expected = F.conv2d(ms.Tensor(x), ms.Tensor(K), ms.Tensor(b), stride=stride, padding=padding).data
    np.testing.assert_allclose(conv2d_loops(x, K, b, stride, padding), expected, rtol=1e-12, atol=1e-12)
    print(f"stride {stride}, padding {padding}: output shape {expected.shape}")

# %% [markdown]
# Two checks of the claims above. The output-size formula against a plain count of the window
# positions, and the orientation of the kernel on a one-row image, where NumPy's `np.correlate`
# (no flip) and `np.convolve` (flip) are the references.

# %%
for h in range(1, 10):
    for k in range(1, 5):
        for s in range(1, 4):
            for p in range(0, 3):
                if k <= h + 2 * p:
                    count = len(range(0, h + 2 * p - k + 1, s))  # starts 0, s, 2s, ... that fit
                    assert count == (h + 2 * p - k) // s + 1 == conv_ops.output_size(h, k, s, p)

row = rng.standard_normal(8)
kernel = np.array([1.0, -2.0, 0.5])  # not symmetric, so a flip shows
y = F.conv2d(ms.Tensor(row.reshape(1, 1, 1, 8)), ms.Tensor(kernel.reshape(1, 1, 1, 3))).data.ravel()
np.testing.assert_allclose(y, np.correlate(row, kernel, mode="valid"), rtol=1e-13, atol=1e-13)
np.testing.assert_allclose(y, np.convolve(row, kernel[::-1], mode="valid"), rtol=1e-13, atol=1e-13)
assert not np.allclose(y, np.convolve(row, kernel, mode="valid"))
print("conv2d is a cross-correlation: equals np.correlate, and np.convolve only with the kernel flipped")

# %% [markdown]
# ## 3. im2col: the convolution as one matrix product
#
# The inner sum is a dot product between the flattened kernel `K[o]` (length $C\,kh\,kw$) and a
# flattened patch. If we lay **every** patch out as a column of one matrix,
#
# $$\text{cols}[(c,u,v),\ (n,i,j)] = x_{\text{pad}}[n, c, s i + u, s j + v],
# \qquad \text{cols} \in \mathbb R^{C\,kh\,kw \times N\,OH\,OW},$$
#
# then all outputs at once are one matrix product (a GEMM), $Y = K_{\text{mat}}\,\text{cols}$
# with $K_{\text{mat}}$ = `K.reshape(O, -1)`, and $Y$ of shape `(O, N·OH·OW)` only needs a reshape
# and a transpose to become `(N, O, OH, OW)`. The loops disappear into BLAS. The price is memory:
# every input pixel is copied into up to $kh\,kw$ columns. Our version fills the columns patch by
# patch; the package's `ops/conv.py` fills them tap by tap ($kh\,kw$ strided slice copies), which
# is much faster, and stores them as `(C, kh, kw, N, OH, OW)`.


# %%
def im2col(x, kh, kw, stride, padding):
    n_batch, c, h, w = x.shape
    x_pad = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    oh, ow = (h + 2 * padding - kh) // stride + 1, (w + 2 * padding - kw) // stride + 1
    cols = np.empty((c * kh * kw, n_batch * oh * ow))
    for n in range(n_batch):
        for i in range(oh):
            for j in range(ow):
                patch = x_pad[n, :, stride * i : stride * i + kh, stride * j : stride * j + kw]
                cols[:, (n * oh + i) * ow + j] = patch.ravel()  # rows ordered (c, u, v)
    return cols, (oh, ow)


def conv2d_im2col(x, K, b, stride=1, padding=0):
    n_out, _, kh, kw = K.shape
    cols, (oh, ow) = im2col(x, kh, kw, stride, padding)
    y = K.reshape(n_out, -1) @ cols + b[:, None]  # (O, N*OH*OW): one GEMM
    return y.reshape(n_out, x.shape[0], oh, ow).transpose(1, 0, 2, 3)


# %%
stride, padding = 2, 1
expected = F.conv2d(ms.Tensor(x), ms.Tensor(K), ms.Tensor(b), stride=stride, padding=padding).data
np.testing.assert_allclose(conv2d_im2col(x, K, b, stride, padding), expected, rtol=1e-12, atol=1e-12)
cols, _ = im2col(x, 3, 2, stride, padding)
x_pad = conv_ops.pad_spatial(x, (padding, padding))
package_cols = conv_ops.im2col(x_pad, (3, 2), (stride, stride))  # (C, kh, kw, N, OH, OW)
np.testing.assert_array_equal(cols, package_cols.reshape(cols.shape[0], -1))
print("im2col + GEMM equals F.conv2d; our columns equal the package's, entry for entry")

# %% [markdown]
# What the patch matrix looks like, for one $5 \times 5$ channel holding the numbers 0–24 and a
# $3 \times 3$ kernel: nine windows, so nine columns of nine entries each. The highlighted window
# is column 5 (window row 1, column 2). Every interior pixel appears in several columns: that is
# the memory cost.

# %%
image = np.arange(25.0).reshape(1, 1, 5, 5)
patches, _ = im2col(image, 3, 3, stride=1, padding=0)
fig, (left, right) = plt.subplots(1, 2, figsize=(9, 4), gridspec_kw={"width_ratios": [1, 1.5]})
left.imshow(image[0, 0], cmap="Greys", alpha=0.3)
for (r, c), value in np.ndenumerate(image[0, 0]):
    left.text(c, r, int(value), ha="center", va="center", fontsize=9)
left.add_patch(plt.Rectangle((1.5, 0.5), 3, 3, fill=False, ec="C3", lw=2))
left.set_title("input (1 channel, 5x5), window (1, 2)")
right.imshow(patches, cmap="Greys", alpha=0.3, aspect="auto")
for (r, c), value in np.ndenumerate(patches):
    right.text(c, r, int(value), ha="center", va="center", fontsize=8)
right.add_patch(plt.Rectangle((4.5, -0.5), 1, 9, fill=False, ec="C3", lw=2))
right.set_xlabel("column = window (n, i, j)")
right.set_ylabel("row = kernel tap (c, u, v)")
right.set_title("im2col: one column per window")
for ax in (left, right):
    ax.set_xticks([])
    ax.set_yticks([])
plt.show()
np.testing.assert_array_equal(patches[:, 5], image[0, 0, 1:4, 2:5].ravel())

# %% [markdown]
# How much the single GEMM buys, on a small batch (the absolute times depend on the machine and
# its load; the ratios are what to look at).


# %%
def best_time(fn, repeats=3):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


xs, Ks, bs = rng.standard_normal((4, 3, 16, 16)), rng.standard_normal((8, 3, 3, 3)), rng.standard_normal(8)
t_loops = best_time(lambda: conv2d_loops(xs, Ks, bs, 1, 1))
t_im2col = best_time(lambda: conv2d_im2col(xs, Ks, bs, 1, 1))
t_package = best_time(lambda: F.conv2d(ms.Tensor(xs), ms.Tensor(Ks), ms.Tensor(bs), padding=1))
print(f"loops {1e3 * t_loops:7.2f} ms")
print(f"im2col (patch by patch) + GEMM {1e3 * t_im2col:7.2f} ms   speed-up x{t_loops / t_im2col:.0f}")
print(f"F.conv2d (tap by tap) + GEMM   {1e3 * t_package:7.2f} ms   speed-up x{t_loops / t_package:.0f}")
np.testing.assert_allclose(conv2d_loops(xs, Ks, bs, 1, 1), conv2d_im2col(xs, Ks, bs, 1, 1), rtol=1e-12, atol=1e-12)

# %% [markdown]
# Our im2col still runs a Python loop over all $N\,OH\,OW$ windows; the package's runs over the
# $kh\,kw$ kernel taps only (9 here, against 1024 windows), which is where its extra factor comes
# from.
#
# ### What a convolution layer computes: feature maps
#
# An `nn.Conv2d` holds a kernel and a bias as parameters and calls `F.conv2d`. With hand-set
# kernels (two Sobel filters, which respond to horizontal and vertical intensity changes) on a
# synthetic image, each output channel is a **feature map**: large where its pattern occurs
# (red for a positive response, blue for a negative one, i.e. an edge of the opposite direction;
# white is 0). A 2×2 max pooling of the magnitudes (section 6) then halves the resolution and
# keeps the strongest responses.

# %%
grid = np.arange(28)
rr, cc = np.meshgrid(grid, grid, indexing="ij")
picture = ((np.abs(rr - 8) < 5) & (np.abs(cc - 8) < 5)).astype(float)  # a square
picture += ((rr - 19) ** 2 + (cc - 19) ** 2 < 36).astype(float)  # and a disc
sobel = np.array([[1.0, 2.0, 1.0], [0.0, 0.0, 0.0], [-1.0, -2.0, -1.0]])
layer = nn.Conv2d(1, 2, kernel_size=3, padding=1)
layer.weight.data[:] = np.stack([sobel, sobel.T])[:, None]  # (O=2, C=1, 3, 3)
layer.bias.data[:] = 0.0
maps = layer(ms.Tensor(picture[None, None])).data[0]  # (2, 28, 28): same size thanks to padding=1
pooled = F.max_pool2d(ms.Tensor(np.abs(maps)[None]), 2).data[0]  # (2, 14, 14)
panels = [
    (picture, "input"),
    (maps[0], "kernel 0: horizontal edges"),
    (maps[1], "kernel 1: vertical edges"),
    (pooled[0] + pooled[1], "max-pooled |maps|, summed"),
]
fig, axes = plt.subplots(1, 4, figsize=(12, 3.2))
for ax, (img, title) in zip(axes, panels):
    if img.min() < 0:  # signed feature maps: white is 0, red positive, blue negative
        ax.imshow(img, cmap="RdBu_r", vmin=-np.abs(img).max(), vmax=np.abs(img).max())
    else:
        ax.imshow(img, cmap="Greys")
    ax.set_title(title, fontsize=9)
    ax.axis("off")
plt.show()
assert maps.shape == (2, 28, 28) and pooled.shape == (2, 14, 14)
assert np.allclose(maps[:, 6:11, 6:11], 0)  # inside the square, away from its edges: flat, no response

# %% [markdown]
# ## 4. The weight gradient is a correlation of the input with the output gradient
#
# Take stride 1 and no padding, and let $g = \partial L / \partial y$ (shape `(N, O, OH, OW)`).
# $K[o, c, u, v]$ multiplies $x[n, c, i+u, j+v]$ in the output $y[n, o, i, j]$, for every $n, i,
# j$, so by the chain rule
#
# $$\frac{\partial L}{\partial K[o,c,u,v]} = \sum_{n,i,j} g[n,o,i,j]\; x[n, c, i+u, j+v].$$
#
# Read this as a cross-correlation in which $g$ plays the kernel and the **batch** index $n$
# plays the channel that is summed: with $\tilde x[c, n] = x[n, c]$ and $\tilde g[o, n] =
# g[n, o]$ (swap the first two axes),
# $\partial L/\partial K[o, c] = \text{conv2d}(\tilde x, \tilde g)[c, o]$. Its output size is
# $H - OH + 1 = kh$, as it must be.
#
# In the same way, $x[n, c, a, b]$ feeds $y[n, o, a-u, b-v]$ through $K[o, c, u, v]$, so
# $\partial L/\partial x[n,c,a,b] = \sum_{o,u,v} g[n,o,a-u,b-v]\,K[o,c,u,v]$: a **full** convolution
# of $g$ with $K$, i.e. conv2d of $g$ padded by $k-1$ with the kernel flipped in both spatial
# axes and its in/out channels swapped. Both against autograd:

# %%
x = ms.Tensor(rng.standard_normal((2, 3, 7, 6)), requires_grad=True)
K = ms.Tensor(rng.standard_normal((4, 3, 3, 3)), requires_grad=True)
y = F.conv2d(x, K)
g = rng.standard_normal(y.shape)
y.backward(g)

swap = (1, 0, 2, 3)
dK = F.conv2d(ms.Tensor(x.data.transpose(swap)), ms.Tensor(g.transpose(swap))).data.transpose(swap)
np.testing.assert_allclose(dK, K.grad, rtol=1e-12, atol=1e-12)

flipped = K.data[:, :, ::-1, ::-1].transpose(swap)  # (C, O, k, k)
dx = F.conv2d(ms.Tensor(g), ms.Tensor(flipped.copy()), padding=2).data
np.testing.assert_allclose(dx, x.grad, rtol=1e-12, atol=1e-12)
print("dL/dK = correlate(x, g) and dL/dx = full convolution of g with K: both equal autograd")

# %% [markdown]
# The package computes the same two gradients from the im2col matrix it saved in the forward
# pass: with $G$ = `g` as a `(O, N·OH·OW)` matrix, $\partial L/\partial K_{\text{mat}} = G\,
# \text{cols}^\top$ (one GEMM) and $\partial L/\partial \text{cols} = K_{\text{mat}}^\top G$,
# which `col2im`, the adjoint of im2col, adds back onto the input positions each column was read
# from. The first of these is the correlation above, written as a matrix product:

# %%
cols, _ = im2col(x.data, 3, 3, stride=1, padding=0)
G = g.transpose(swap).reshape(4, -1)  # (O, N*OH*OW), columns ordered (n, i, j) as in cols
np.testing.assert_allclose((G @ cols.T).reshape(K.shape), K.grad, rtol=1e-12, atol=1e-12)
print("G @ cols^T equals dL/dK as well")

# %% [markdown]
# With stride $s$ and padding $p$ the formula keeps its shape, $\partial L/\partial K[o,c,u,v] =
# \sum_{n,i,j} g[n,o,i,j]\, x_{\text{pad}}[n, c, s i + u, s j + v]$; exercise 2 asks you to
# implement it.
#
# ## 5. Residual blocks, and why a zero branch is the identity
#
# A residual block adds a small network (the **branch**) to its input, scaled by a step size $h$.
# `nn/residual.py` has the forms SensLI uses (width and channels are preserved):
#
# | block | output |
# |---|---|
# | `ResidualDense(d, weights=1)` | $x + h\,\sigma(x W^\top + b)$ |
# | `ResidualDense(d, weights=2)` | $x + h\,\sigma(x W_1^\top + b_1) W_2^\top$ |
# | `ResidualConv(c, weights=1)` | $x + h\,\sigma(\text{conv}_{3\times3}(x))$ |
# | `ResidualConv(c, weights=2)` | $x + h\,\text{conv}_{3\times3,2}(\sigma(\text{conv}_{3\times3,1}(x)))$ |
#
# If the branch outputs 0, the block is the identity. In the two-weight form $W_2 = 0$ is enough,
# whatever $W_1$, $b_1$ and $\sigma$ are. In the one-weight form, $W = 0$ and $b = 0$ give
# $\sigma(0)$, which is 0 only if $\sigma(0) = 0$: true for tanh and ReLU, false for the sigmoid
# ($\sigma(0) = \tfrac12$). This is how SensLI inserts a layer without changing what the network
# computes. First the forward, rebuilt from the block's own parameters:

# %%
x = ms.Tensor(rng.standard_normal((5, 4)), requires_grad=True)
block = nn.ResidualDense(4, weights=2, activation="tanh", h=0.5)
W1, b1, W2 = block.inner.weight.data, block.inner.bias.data, block.outer.weight.data
by_hand = x.data + 0.5 * np.tanh(x.data @ W1.T + b1) @ W2.T
np.testing.assert_allclose(block(x).data, by_hand, rtol=1e-14, atol=1e-13)
print([name for name, _ in block.named_parameters()])

block.outer.weight.data[:] = 0.0  # zero branch
np.testing.assert_array_equal(block(x).data, x.data)
for activation in ("tanh", "relu", "sigmoid"):
    one = nn.ResidualDense(4, weights=1, activation=activation, h=0.5)
    one.inner.weight.data[:] = 0.0
    one.inner.bias.data[:] = 0.0
    shift = np.abs(one(x).data - x.data).max()
    print(f"one-weight block, W = 0 and b = 0, {activation:7s}: max |y - x| = {shift}")
    assert (shift == 0) == (activation != "sigmoid")

# %% [markdown]
# Identity is not the whole story: a freshly inserted layer must also be able to *move*. Take the
# loss $L = \sum \gamma \odot y$ for a random $\gamma$ and look at the gradients at the zero
# branch.
# - Two weights, $W_2 = 0$: $\partial L/\partial W_1$ and $\partial L/\partial b_1$ pass through
#   $W_2$, so they are exactly 0; but $\partial L/\partial W_2 = h\,\gamma^\top \sigma(x W_1^\top +
#   b_1) \ne 0$. The block starts learning through $W_2$.
# - One weight with tanh, $W = b = 0$: $\partial L/\partial W = h\,(\gamma \odot \tanh'(0))^\top x =
#   h\,\gamma^\top x \ne 0$.
# - One weight with ReLU, $W = b = 0$: every pre-activation is exactly 0, on the kink of
#   chapter 3, and $\mathrm{relu}'(0) = 0$ makes **all** its gradients 0: gradient descent alone
#   would never move it.

# %%
gamma = rng.standard_normal((5, 4))


def weight_grads(block):
    block.zero_grad()
    (block(x) * gamma).sum().backward()
    return {name: p.grad for name, p in block.named_parameters()}


grads = weight_grads(block)  # two weights, outer weight zero
assert not grads["inner.weight"].any() and not grads["inner.bias"].any()
hidden = np.tanh(x.data @ block.inner.weight.data.T + block.inner.bias.data)
np.testing.assert_allclose(grads["outer.weight"], 0.5 * gamma.T @ hidden, rtol=1e-12, atol=1e-13)
for activation in ("tanh", "relu"):
    one = nn.ResidualDense(4, weights=1, activation=activation, h=0.5)
    one.inner.weight.data[:] = 0.0
    one.inner.bias.data[:] = 0.0
    norm = np.linalg.norm(weight_grads(one)["inner.weight"])
    print(f"one weight, {activation}: |dL/dW| = {norm:.3f}")
    if activation == "tanh":
        np.testing.assert_allclose(weight_grads(one)["inner.weight"], 0.5 * gamma.T @ x.data, rtol=1e-12, atol=1e-13)
    else:
        assert norm == 0

# %% [markdown]
# The convolutional blocks work the same way, with `Conv2d(c, c, 3, padding=1)` (padding 1 keeps
# the spatial size, so $x$ and the branch can be added):

# %%
xc = ms.Tensor(rng.standard_normal((2, 3, 5, 5)))
conv_block = nn.ResidualConv(3, weights=2, activation="relu", h=1.0)
inner, outer = conv_block.inner, conv_block.outer
branch = F.conv2d(F.relu(F.conv2d(xc, inner.weight, inner.bias, padding=1)), outer.weight, padding=1)
np.testing.assert_allclose(conv_block(xc).data, (xc + branch).data, rtol=1e-14, atol=1e-13)
outer.weight.data[:] = 0.0
np.testing.assert_array_equal(conv_block(xc).data, xc.data)
print(conv_block)

# %% [markdown]
# ## 6. Pooling, and where max pooling sends its gradient
#
# Max pooling replaces each $k \times k$ window by its largest entry; average pooling by its mean.
# Their backwards differ sharply:
# - **max**: the output is a copy of one input entry, so the whole upstream gradient of a window
#   goes to that entry (the argmax) and every other entry of the window gets 0. On ties the
#   package picks the first maximum in row-major order. If windows overlap (stride $< k$), an
#   entry that is the maximum of several windows collects the sum of their gradients.
# - **average**: every entry of the window receives $g / k^2$.
#
# Below, a $4 \times 4$ input with distinct entries, $2 \times 2$ windows, and upstream gradients
# 1, 2, 3, 4, so that you can see which entry receives which.

# %%
x = ms.Tensor(rng.permutation(16).reshape(1, 1, 4, 4).astype(float), requires_grad=True)
upstream = np.array([[[[1.0, 2.0], [3.0, 4.0]]]])
F.max_pool2d(x, 2).backward(upstream)
print("x:\n", x.data[0, 0], "\nmax pool:\n", F.max_pool2d(x, 2).data[0, 0], "\ndL/dx:\n", x.grad[0, 0])
for i in range(2):
    for j in range(2):
        window = x.data[0, 0, 2 * i : 2 * i + 2, 2 * j : 2 * j + 2]
        grad_window = x.grad[0, 0, 2 * i : 2 * i + 2, 2 * j : 2 * j + 2]
        expected = np.where(window == window.max(), upstream[0, 0, i, j], 0.0)
        np.testing.assert_array_equal(grad_window, expected)

x.grad = None
F.avg_pool2d(x, 2).backward(upstream)
np.testing.assert_array_equal(x.grad[0, 0], np.kron(upstream[0, 0], np.ones((2, 2))) / 4)
print("avg pool dL/dx:\n", x.grad[0, 0])

# %%
x = ms.Tensor(np.array([[[[0.0, 1.0, 0.0], [2.0, 9.0, 3.0], [0.0, 4.0, 0.0]]]]), requires_grad=True)
upstream = np.array([[[[1.0, 2.0], [3.0, 4.0]]]])
F.max_pool2d(x, 2, stride=1).backward(upstream)  # four overlapping windows, all with max 9
print("overlapping windows, dL/dx:\n", x.grad[0, 0])
assert x.grad[0, 0, 1, 1] == upstream.sum() and x.grad.sum() == upstream.sum()

# %% [markdown]
# The centre is the maximum of all four windows and collects $1 + 2 + 3 + 4 = 10$; everything
# else gets nothing.
#
# ## 7. Gradcheck every layer
#
# Each layer is a function of its input **and** its parameters, and `ms.gradcheck` checks the
# gradient with respect to all of them: we pass the parameters as extra inputs (the function
# ignores the arguments, but the layer reads the very same tensors, which gradcheck perturbs in
# place). Inputs are small (every entry costs two forward passes) and in float64; the max-pool
# input has distinct entries, away from the kinks at ties.


# %%
def gradcheck_layer(layer, x):
    inputs = [ms.Tensor(x, requires_grad=True), *layer.parameters()]
    assert ms.gradcheck(lambda t, *params: layer(t), inputs)
    return sum(t.size for t in inputs)


distinct = rng.permutation(2 * 2 * 6 * 6).reshape(2, 2, 6, 6) / 10
cases = [
    (nn.Dense(4, 3), rng.standard_normal((5, 4))),
    (nn.Conv2d(2, 3, 3, stride=2, padding=1), rng.standard_normal((2, 2, 6, 5))),
    (nn.ResidualDense(4, weights=1, activation="tanh", h=0.7), rng.standard_normal((5, 4))),
    (nn.ResidualDense(4, weights=2, activation="tanh"), rng.standard_normal((5, 4))),
    (nn.ResidualConv(2, weights=2, activation="tanh"), rng.standard_normal((1, 2, 4, 4))),
    (nn.MaxPool2d(2), distinct),
    (nn.AvgPool2d(3, stride=2, padding=1), rng.standard_normal((2, 2, 6, 6))),
    (
        nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Dense(8, 3)),
        rng.standard_normal((2, 1, 6, 6)),
    ),
]
for layer, x in cases:
    entries = gradcheck_layer(layer, x)
    print(f"{type(layer).__name__:14s} gradcheck passed ({entries} entries checked)")

# %% [markdown]
# ## Summary
#
# - `Dense` stores $W$ as `(out, in)` and computes $xW^\top + b$; the initialisation
#   $\mathcal U(\pm 1/\sqrt{\text{in}})$ keeps $\operatorname{Var}(xW^\top) = \mathbb E[x^2]/3$ at
#   any width.
# - A `Module` finds its `Parameter`s and sub-modules by attribute (and in lists and tuples), in
#   assignment order; a plain `Tensor` attribute is not a parameter.
# - Convolution (a cross-correlation) has output size $\lfloor (H + 2p - k)/s \rfloor + 1$; as
#   loops it is four nested loops over $(n, o, i, j)$; im2col turns it into one GEMM (the
#   package's version ran hundreds to thousands of times faster than the loops here, depending
#   on the machine).
# - The weight gradient is the correlation of the input with the output gradient (batch axis as
#   the summed channel); the input gradient is the full convolution of the output gradient with
#   the flipped kernel. In matrix form: $G\,\text{cols}^\top$ and col2im of $K_{\text{mat}}^\top G$.
# - A residual block with a zero branch is the identity: two-weight form with $W_2 = 0$, or
#   one-weight form with $W = b = 0$ and $\sigma(0) = 0$. At that point only $W_2$ (two weights),
#   or $W$ and $b$ with tanh, receive a gradient; a ReLU one-weight block receives none.
# - Max pooling sends each window's gradient to its maximum (summing over overlapping windows);
#   average pooling spreads $g/k^2$.
#
# ## Exercises
#
# ### Exercise 1: the backward of Dense (1 point)
#
# Write `dense_backward(x, weight, upstream)` for $y = x W^\top + b$ with `x` of shape `(N, in)`,
# `weight` `(out, in)` and the upstream gradient $g = \partial L/\partial y$ of shape `(N, out)`.
# Return the tuple `(dx, dW, db)` of NumPy arrays with the shapes of `x`, `weight` and the bias
# `(out,)`. The check compares with autograd through `F.linear`.


# %%
def dense_backward(x, weight, upstream):
    """Gradients of y = x W^T + b: returns (dL/dx, dL/dW, dL/db)."""
    raise NotImplementedError  # your code here


check("ch04.dense_backward", dense_backward)


# %% tags=["solution", "hide-input"]
def dense_backward(x, weight, upstream):
    dx = upstream @ weight  # (N, out) @ (out, in) -> (N, in)
    dW = upstream.T @ x  # (out, N) @ (N, in) -> (out, in)
    db = upstream.sum(axis=0)  # the bias was broadcast over the batch
    return dx, dW, db


check("ch04.dense_backward", dense_backward)

# %% [markdown]
# ### Exercise 2: the convolution weight gradient with stride and padding (3 points)
#
# Write `conv2d_weight_grad(x, upstream, kernel_size, stride, padding)`: `x` of shape
# `(N, C, H, W)`, `upstream` $= \partial L/\partial y$ of shape `(N, O, OH, OW)` for
# `y = F.conv2d(x, K, stride=stride, padding=padding)` with a square kernel $K$ of shape
# `(O, C, k, k)`, `k = kernel_size`. Return $\partial L/\partial K$, shape `(O, C, k, k)`, using
# $\sum_{n,i,j} g[n,o,i,j]\, x_{\text{pad}}[n, c, s i + u, s j + v]$. Loops over $(u, v)$ with
# `np.einsum` or `np.tensordot` inside are fine. Watch the case where the stride does not fit
# exactly: some rows of the input are never read.


# %%
def conv2d_weight_grad(x, upstream, kernel_size, stride, padding):
    """dL/dK of conv2d(x, K, stride, padding) given dL/dy; shape (O, C, k, k)."""
    raise NotImplementedError  # your code here


check("ch04.conv2d_weight_grad", conv2d_weight_grad)


# %% tags=["solution", "hide-input"]
def conv2d_weight_grad(x, upstream, kernel_size, stride, padding):
    k, s = kernel_size, stride
    x_pad = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    _, n_out, oh, ow = upstream.shape
    grad = np.zeros((n_out, x.shape[1], k, k))
    for u in range(k):
        for v in range(k):
            # the input entries that tap (u, v) met, one per output position: (N, C, OH, OW)
            seen = x_pad[:, :, u : u + s * (oh - 1) + 1 : s, v : v + s * (ow - 1) + 1 : s]
            grad[:, :, u, v] = np.einsum("noij,ncij->oc", upstream, seen)
    return grad


check("ch04.conv2d_weight_grad", conv2d_weight_grad)

# %% [markdown]
# ### Exercise 3: the backward of max pooling (2 points)
#
# Write `max_pool2d_backward(x, upstream, kernel_size, stride)`: `x` of shape `(N, C, H, W)` with
# distinct entries (no ties), no padding, $k \times k$ windows starting every `stride` entries,
# and `upstream` $= \partial L/\partial y$ of shape `(N, C, OH, OW)` for
# `y = F.max_pool2d(x, k, stride)`. Return $\partial L/\partial x$ (shape of `x`). The strides
# in the check include overlapping windows (`stride < kernel_size`).


# %%
def max_pool2d_backward(x, upstream, kernel_size, stride):
    """dL/dx of max pooling with k x k windows and the given stride."""
    raise NotImplementedError  # your code here


check("ch04.max_pool2d_backward", max_pool2d_backward)


# %% tags=["solution", "hide-input"]
def max_pool2d_backward(x, upstream, kernel_size, stride):
    k, s = kernel_size, stride
    grad = np.zeros_like(x)
    n_batch, channels, oh, ow = upstream.shape
    for n in range(n_batch):
        for c in range(channels):
            for i in range(oh):
                for j in range(ow):
                    window = x[n, c, s * i : s * i + k, s * j : s * j + k]
                    u, v = np.unravel_index(np.argmax(window), window.shape)
                    grad[n, c, s * i + u, s * j + v] += upstream[n, c, i, j]  # += : windows may overlap
    return grad


check("ch04.max_pool2d_backward", max_pool2d_backward)

# %% [markdown]
# ## Open questions
#
# 1. im2col copies each input pixel into up to $k^2$ columns. For a batch of 128 images of
#    $3 \times 224 \times 224$ and a $3 \times 3$ kernel, how large is the column matrix in
#    float32, and how would you convolve without building it all at once (by batch chunks, by
#    taps accumulating $k^2$ smaller GEMMs, or with an FFT)? Which of these keeps the backward as
#    simple as $G\,\text{cols}^\top$?
# 2. A one-weight ReLU residual block inserted at $W = b = 0$ receives no gradient (section 5).
#    What would you change so that such an inserted block can start learning, while still
#    leaving the network's function unchanged at insertion: a different activation, a different
#    form of the block, or a non-zero but function-preserving initialisation?
