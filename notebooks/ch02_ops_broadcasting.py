# %% [markdown]
# # Chapter 2 — Ops and broadcasting
#
# *Reading time: about 40 min; exercises: about 45 min.*
#
# **What you build.** The backward passes of the operations a network is made of: elementwise ops
# with NumPy broadcasting (and why their gradients must be *summed back* to the input's shape),
# reductions (`sum`, `max` and its ties), the matrix product, and the shape ops (`reshape`,
# `transpose`, indexing). You write two new operations as `ms.Function` subclasses, `softplus` and a
# broadcasting `logaddexp`, and confirm them with `ms.gradcheck`.
#
# **You need.** Chapter 1 (the chain rule on a graph, `Function` and `Context`), NumPy arrays
# and their shapes.
#
# **Package modules.** `minisensli/ops/` (`elementwise.py`, `_operands.py`, `reduce.py`,
# `shape.py`, `linalg.py`), re-exported as `minisensli.functional`, and `unbroadcast` in
# `minisensli/autograd.py`.

# %%
import inspect

import matplotlib.pyplot as plt
import numpy as np

import minisensli as ms
import minisensli.functional as F
from minisensli.autograd import unbroadcast
from minisensli.exercises import check

ms.set_default_dtype("float64")
ms.manual_seed(0)
rng = np.random.default_rng(0)

# %% [markdown]
# ## 1. The broadcasting rules
#
# NumPy lets `a + b` combine arrays of different shapes when they are *broadcastable*:
#
# 1. line the shapes up **from the right**, and pad the shorter one on the left with axes of size 1;
# 2. on every axis the two sizes must be equal, or one of them must be 1;
# 3. on every axis the result takes the size that is not 1 (1 if both are); an operand with size
#    1 there is *stretched*: its single entry is reused along that axis. ("The larger size" is
#    almost the same rule, but wrong for an empty axis: `(1,)` with `(0,)` gives `(0,)`.)
#
# A bias `b` of shape `(4,)` added to a batch `x` of shape `(32, 4)` is the everyday case: `b` is
# padded to `(1, 4)` and stretched to `(32, 4)`, the same bias row for every example. Written out:


# %%
def broadcast_shape(s, t):
    """The shape of a + b for a of shape s and b of shape t, by the three rules."""
    n = max(len(s), len(t))
    s, t = (1,) * (n - len(s)) + tuple(s), (1,) * (n - len(t)) + tuple(t)  # rule 1
    out = []
    for i, (p, q) in enumerate(zip(s, t)):
        if p != q and 1 not in (p, q):  # rule 2
            raise ValueError(f"axis {i}: sizes {p} and {q} do not broadcast")
        out.append(q if p == 1 else p)  # rule 3
    return tuple(out)


pairs = [((3, 1), (1, 4)), ((32, 4), (4,)), ((2, 3, 4), (4,)), ((5, 1, 4), (3, 1)), ((), (2, 3)), ((1,), (0,))]
for s, t in pairs:
    assert broadcast_shape(s, t) == np.broadcast_shapes(s, t), (s, t)
    print(f"{str(s):>10} + {str(t):<7} -> {broadcast_shape(s, t)}")
for s, t in [((3, 2), (3,)), ((2, 3), (3, 2))]:
    try:
        np.broadcast_shapes(s, t)
    except ValueError:
        print(f"{str(s):>10} + {str(t):<7} -> error, and the package says:", end=" ")
    try:
        ms.Tensor(np.ones(s)) + ms.Tensor(np.ones(t))
    except ValueError as err:
        print(err)

# %% [markdown]
# The error names the operation and both shapes. `(3, 2) + (3,)` is the classic surprise: you
# might mean "add one number per row", but the rules align the `3` with the *last* axis, of size 2.
# Write `b[:, None]` (shape `(3, 1)`) to say "per row".
#
# ## 2. The backward of broadcasting: sum the gradient back
#
# Take $z = a + b$ with $a$ of shape $(3, 1)$ and $b$ of shape $(1, 4)$, so $z$ is $(3, 4)$ and
# $z_{ij} = a_{i} + b_{j}$ (dropping the size-1 indices). Given the upstream gradient
# $G = \partial L/\partial z$, also $(3, 4)$, the chain rule sums over every entry that $a_i$
# reached:
#
# $$\frac{\partial L}{\partial a_i} = \sum_j G_{ij}\,\frac{\partial z_{ij}}{\partial a_i} = \sum_j G_{ij},
# \qquad \frac{\partial L}{\partial b_j} = \sum_i G_{ij}.$$
#
# Stretching *copies* an entry; as in Chapter 1, a value used several times collects the gradient
# of every use. So the gradient of a broadcast input is $G$ **summed over the axes it was stretched
# along**, and it must come back in the input's own shape: `G.sum(axis=1, keepdims=True)` has shape
# `(3, 1)` like $a$; without `keepdims` it would be `(3,)`, which is not $a$'s shape. In general, to
# *un-broadcast* a gradient to an input of shape `shape`:
#
# 1. sum over the leading axes that rule 1 added (the input did not have them at all);
# 2. sum, with `keepdims=True`, over every axis where the input has size 1 and the gradient does not.

# %%
a = ms.Tensor(np.array([[1.0], [2.0], [3.0]]), requires_grad=True)  # (3, 1)
b = ms.Tensor(np.array([[10.0, 20.0, 30.0, 40.0]]), requires_grad=True)  # (1, 4)
G = rng.integers(-3, 4, size=(3, 4)).astype(float)  # upstream dL/dz
z = a + b
z.backward(G)
np.testing.assert_array_equal(a.grad, G.sum(axis=1, keepdims=True))  # (3, 1)
np.testing.assert_array_equal(b.grad, G.sum(axis=0, keepdims=True))  # (1, 4)

c = ms.Tensor(rng.standard_normal(4), requires_grad=True)  # (4,) meets (2, 3, 4)
d = ms.Tensor(rng.standard_normal((2, 3, 4)), requires_grad=True)
G3 = rng.standard_normal((2, 3, 4))
(c * d).backward(G3)
np.testing.assert_allclose(c.grad, (G3 * d.data).sum(axis=(0, 1)), rtol=1e-14)  # step 1 only
np.testing.assert_allclose(d.grad, G3 * c.data, rtol=1e-14)  # no broadcasting
print("a.grad =", a.grad.ravel(), " b.grad =", b.grad.ravel(), " shapes:", a.grad.shape, b.grad.shape)

# %% [markdown]
# For a product the local derivative enters before the sum: $\partial L/\partial c_k =
# \sum_{i,j} G_{ijk}\, d_{ijk}$, the gradient is formed at the broadcast shape $(2, 3, 4)$ and then
# summed down to $(4,)$. In the package every binary operation ends its backward with the same helper,
# `unbroadcast(grad, shape)` from `minisensli/autograd.py`; here is `Mul`:

# %%
from minisensli.ops.elementwise import Mul

print(inspect.getsource(Mul))
np.testing.assert_array_equal(unbroadcast(G, (3, 1)), G.sum(axis=1, keepdims=True))
np.testing.assert_array_equal(unbroadcast(G, (4,)), G.sum(axis=0))

# %% [markdown]
# The picture of the first example: the forward pass stretches $a$ along the columns and $b$ along
# the rows (pale entries are copies); the backward pass sums $G$ along the same axes.


# %%
def show_grid(ax, values, title, original=None):
    """A 2-D array as a grid of numbers; where `original` is False the entry is a (pale) copy."""
    values = np.asarray(values)
    original = np.ones(values.shape, bool) if original is None else original
    ax.imshow(np.where(original, 1.0, 0.25), cmap="Blues", vmin=0, vmax=3)
    for (i, j), v in np.ndenumerate(values):
        ax.text(j, i, f"{v:g}", ha="center", va="center", color="k" if original[i, j] else "0.6")
    for j in range(1, values.shape[1]):
        ax.axvline(j - 0.5, color="w", linewidth=2)
    for i in range(1, values.shape[0]):
        ax.axhline(i - 0.5, color="w", linewidth=2)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title, fontsize=9)


# %%
first_col, first_row = np.arange(4) == 0, np.arange(3) == 0
fig, axes = plt.subplots(2, 3, figsize=(9, 5))
show_grid(
    axes[0, 0], np.broadcast_to(a.data, (3, 4)), "a (3, 1), stretched along axis 1", np.broadcast_to(first_col, (3, 4))
)
show_grid(
    axes[0, 1],
    np.broadcast_to(b.data, (3, 4)),
    "b (1, 4), stretched along axis 0",
    np.broadcast_to(first_row[:, None], (3, 4)),
)
show_grid(axes[0, 2], z.data, "forward: z = a + b  (3, 4)")
show_grid(axes[1, 0], G, "upstream G = dL/dz  (3, 4)")
show_grid(axes[1, 1], a.grad, "dL/da = G.sum(axis=1,\nkeepdims=True)  (3, 1)")
show_grid(axes[1, 2], b.grad, "dL/db = G.sum(axis=0,\nkeepdims=True)  (1, 4)")
fig.suptitle("Broadcasting copies entries forward; backward sums the copies' gradients")
fig.tight_layout()
plt.show()

# %% [markdown]
# ## 3. A new operation: `softplus` as an `ms.Function`
#
# The package has no softplus, $\operatorname{softplus}(x) = \log(1 + e^x)$, a smooth cousin of
# ReLU. Its derivative is the logistic sigmoid,
#
# $$\frac{\mathrm{d}}{\mathrm{d}x}\log(1 + e^x) = \frac{e^x}{1 + e^x} = \sigma(x)
#   = \tfrac12\bigl(1 + \tanh\tfrac{x}{2}\bigr).$$
#
# Written as `log(1 + exp(x))` it overflows for $x \gtrsim 710$; the same value computed as
# $\max(x, 0) + \log(1 + e^{-|x|})$ never exponentiates a positive number. A `Function` subclass
# needs two static methods, exactly like the package's own ops (Chapter 1, section 10): `forward`
# saves what `backward` needs on the context, `backward` returns one gradient per input. (Written
# with NumPy calls such as `np.exp`, a backward works for first derivatives; the package's own
# ops write theirs with operations tensors have too, so that they can be differentiated twice.)
# (The package's ops ask `backend.get_array_module` for NumPy or CuPy; this chapter uses NumPy.)


# %%
class Softplus(ms.Function):
    """y = log(1 + exp(x)), computed without overflow;  dy/dx = sigmoid(x)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_arrays
        return (grad * 0.5 * (1 + np.tanh(x / 2)),)  # one gradient per input, in a tuple


def softplus(x):
    return Softplus.apply(x)


# %% [markdown]
# Three checks, each of which fails if a formula is wrong: the values and gradients agree with the
# same function composed from package ops, `(x.exp() + 1).log()`, where that composition is safe;
# `ms.gradcheck` compares backward with central differences (for a random upstream gradient); and
# the derivative equals the package's `F.sigmoid`. For $x = 1000$ the composition overflows, ours
# does not.

# %%
x = ms.Tensor(rng.uniform(-5, 5, size=(3, 4)), requires_grad=True)
x_ref = ms.Tensor(x.data.copy(), requires_grad=True)
upstream = rng.standard_normal((3, 4))
softplus(x).backward(upstream)
((x_ref.exp() + 1).log()).backward(upstream)
np.testing.assert_allclose(softplus(x).data, (x_ref.exp() + 1).log().data, rtol=1e-13)
np.testing.assert_allclose(x.grad, x_ref.grad, rtol=1e-12)
np.testing.assert_allclose(x.grad, upstream * F.sigmoid(x).data, rtol=1e-12)
assert ms.gradcheck(softplus, [x])

big = ms.Tensor([1000.0, -1000.0])
with np.errstate(over="ignore"):  # the composition overflows (NumPy would warn)
    print("composed:", (big.exp() + 1).log(), " softplus:", softplus(big))

# %% [markdown]
# What `gradcheck` does when the backward is wrong: it raises `GradcheckError` naming the input,
# the worst entry, and both values. Here the backward uses $\sigma(-x)$, a sign slip that is easy to
# make and invisible at $x = 0$.


# %%
class SoftplusWrong(Softplus):
    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_arrays
        return (grad * 0.5 * (1 + np.tanh(-x / 2)),)  # sigma(-x): wrong


try:
    ms.gradcheck(SoftplusWrong.apply, [x])
except ms.GradcheckError as err:
    print("GradcheckError:", err)

# %%
grid = ms.Tensor(np.linspace(-4, 4, 161), requires_grad=True)
y = softplus(grid)
y.backward(np.ones(grid.shape))  # dy/dx at every point (elementwise op)
fig, ax = plt.subplots(figsize=(6, 3.5))
ax.plot(grid.data, y.data, label="softplus(x)")
ax.plot(grid.data, F.relu(grid).data, "--", color="0.5", label="relu(x)")
ax.plot(grid.data, grid.grad, label="d softplus/dx from backward")
ax.plot(grid.data[::10], F.sigmoid(grid).data[::10], "o", ms=4, label="sigmoid(x)")
ax.set_xlabel("x")
ax.legend()
ax.set_title("A smooth ReLU; its derivative is the sigmoid")
plt.show()

# %% [markdown]
# ## 4. A binary operation with broadcasting: `logaddexp`
#
# $\operatorname{logaddexp}(a, b) = \log(e^a + e^b)$ (a smooth maximum, and the heart of the stable
# log-softmax of Chapter 5) has
#
# $$\frac{\partial}{\partial a}\log(e^a + e^b) = \frac{e^a}{e^a + e^b} = e^{a - y},\qquad
#   \frac{\partial}{\partial b} = e^{b - y},\qquad y = \log(e^a + e^b).$$
#
# With broadcasting inputs each gradient is formed at the output's shape and then un-broadcast to
# its input's shape, the last step of every binary op's backward.


# %%
class LogAddExp(ms.Function):
    """y = log(exp(a) + exp(b)) with broadcasting;  dy/da = exp(a - y), dy/db = exp(b - y)."""

    @staticmethod
    def forward(ctx, a, b):
        y = np.logaddexp(a, b)
        ctx.save_for_backward(a, b, y)
        return y

    @staticmethod
    def backward(ctx, grad):
        a, b, y = ctx.saved_arrays
        return unbroadcast(grad * np.exp(a - y), a.shape), unbroadcast(grad * np.exp(b - y), b.shape)


a = ms.Tensor(rng.standard_normal((3, 1)), requires_grad=True)
b = ms.Tensor(rng.standard_normal(4), requires_grad=True)
assert LogAddExp.apply(a, b).shape == (3, 4)
assert ms.gradcheck(LogAddExp.apply, [a, b])
np.testing.assert_allclose(LogAddExp.apply(a, b).data, (a.exp() + b.exp()).log().data, rtol=1e-13)
print("logaddexp: gradcheck passed for shapes", a.shape, "and", b.shape)

# %% [markdown]
# Forget the `unbroadcast` and the engine stops you: it checks that every gradient a backward
# returns has its input's shape. (A gradient that had the right shape but the wrong values, say
# from a sum over the wrong axis, is not caught by this check; that is what `gradcheck` is for.)


# %%
class LogAddExpNoUnbroadcast(LogAddExp):
    @staticmethod
    def backward(ctx, grad):
        a, b, y = ctx.saved_arrays
        return grad * np.exp(a - y), grad * np.exp(b - y)  # shape (3, 4) for both: wrong


try:
    LogAddExpNoUnbroadcast.apply(a, b).sum().backward()
except RuntimeError as err:
    print("RuntimeError:", err)

# %% [markdown]
# ## 5. Reductions: `sum`, `mean`, `max`
#
# A reduction is the mirror image of broadcasting. `x.sum(axis=1)` adds the entries along axis 1,
# so each of them receives the output's gradient unchanged: the backward *copies* (broadcasts) the
# gradient along the reduced axes. With `keepdims=False` the reduced axes are gone from the
# gradient, so they must be put back as size-1 axes **before** broadcasting; otherwise broadcasting
# aligns the gradient from the right, with the wrong axes. `mean` is `sum` divided by the number of
# entries averaged (Exercise 3 writes its backward).

# %%
x = ms.Tensor(rng.standard_normal((2, 3, 4)), requires_grad=True)
G = rng.standard_normal(3)  # gradient of x.sum(axis=(0, 2))
x.sum(axis=(0, 2)).backward(G)
expected = np.broadcast_to(G.reshape(1, 3, 1), x.shape)  # the size-1 axes first
np.testing.assert_array_equal(x.grad, expected)

sq = ms.Tensor(rng.standard_normal((3, 3)), requires_grad=True)
G = np.array([1.0, 2.0, 3.0])  # gradient of sq.sum(axis=1): one per row
sq.sum(axis=1).backward(G)
wrong = np.broadcast_to(G, (3, 3))  # (3,) aligned with the LAST axis
print("right:\n", sq.grad, "\nbroadcast without reshaping (silently wrong for a square input):\n", wrong)
assert not np.array_equal(sq.grad, wrong)
np.testing.assert_array_equal(sq.grad, np.broadcast_to(G[:, None], (3, 3)))

# %% [markdown]
# **Max.** $y = \max_j x_j$ depends on one entry only, the arg-max, so its whole gradient goes
# there: $\partial y/\partial x_j = 1$ if $j$ is the arg-max, else 0. Away from ties a mask built
# with `==` reproduces the package:

# %%
x = ms.Tensor(rng.standard_normal((4, 5)), requires_grad=True)
G = rng.standard_normal((4, 1))
x.max(axis=1, keepdims=True).backward(G)
mask = x.data == x.data.max(axis=1, keepdims=True)
assert mask.sum() == 4  # one maximum per row: no ties
np.testing.assert_array_equal(x.grad, mask * G)
print(x.grad.round(3) + 0.0)  # + 0.0 turns -0.0 into 0.0

# %% [markdown]
# **Ties.** At a tie the maximum is not differentiable: moving either tied entry up raises the
# maximum, moving it down does not. The package sends the gradient to the *first* arg-max (like
# NumPy's `argmax`), a valid choice of subgradient. The `==` mask sends the full gradient to *every*
# tied entry, so the gradients sum to 2 instead of 1. And central differences see the average of
# the two one-sided slopes, $\tfrac12$ for each tied entry, so `gradcheck` reports a mismatch at a
# tie even though the backward is fine. That is why the package's tests draw inputs without ties.

# %%
t = ms.Tensor([3.0, 3.0, 1.0], requires_grad=True)
t.max().backward()
mask = (t.data == t.data.max()).astype(float)
(numeric,) = ms.numerical_gradients(lambda v: v.max(), [t], np.array(1.0))
print("package:", t.grad, "| mask built with ==:", mask, "| central differences:", numeric)
np.testing.assert_array_equal(t.grad, [1.0, 0.0, 0.0])
np.testing.assert_allclose(numeric, [0.5, 0.5, 0.0], atol=1e-9)
try:
    ms.gradcheck(lambda v: v.max(), [t])
except ms.GradcheckError as err:
    print("GradcheckError:", err)

# %% [markdown]
# ## 6. The matrix product
#
# For $C = AB$ with $A$ of shape $(n, p)$ and $B$ of shape $(p, m)$, $C_{ij} = \sum_k A_{ik}B_{kj}$.
# An entry $A_{ik}$ appears in every $C_{ij}$ of row $i$, with coefficient $B_{kj}$, so
#
# $$\frac{\partial L}{\partial A_{ik}} = \sum_j G_{ij}B_{kj} = (G B^\top)_{ik},\qquad
#   \frac{\partial L}{\partial B_{kj}} = \sum_i A_{ik} G_{ij} = (A^\top G)_{kj}.$$
#
# The shapes leave no other choice: $G$ is $(n, m)$, and the only way to make an $(n, p)$ matrix
# from $G$ and $B$ is $G B^\top$, $(n, m)(m, p)$. When in doubt, write the shapes down. Checked
# against the package's backward and against central differences, with $n, p, m$ all different so
# that a missing transpose cannot hide:

# %%
A = ms.Tensor(rng.standard_normal((2, 3)), requires_grad=True)
B = ms.Tensor(rng.standard_normal((3, 4)), requires_grad=True)
G = rng.standard_normal((2, 4))
(A @ B).backward(G)
np.testing.assert_allclose(A.grad, G @ B.data.T, rtol=1e-13)
np.testing.assert_allclose(B.grad, A.data.T @ G, rtol=1e-13)
num_A, num_B = ms.numerical_gradients(lambda a, b: a @ b, [A, B], G)
np.testing.assert_allclose(A.grad, num_A, atol=1e-8)
np.testing.assert_allclose(B.grad, num_B, atol=1e-8)
print("dA (2, 3) = G (2, 4) @ B.T (4, 3);  dB (3, 4) = A.T (3, 2) @ G (2, 4): both match")

# %% [markdown]
# A dense layer is a matrix product plus a broadcast bias, $Y = XW^\top + b$ with $X$ of shape
# $(N, \text{in})$, $W$ of shape $(\text{out}, \text{in})$ and $b$ of shape $(\text{out},)$. The two
# rules of this chapter give its whole backward: $\partial L/\partial W = G^\top X$ (the product
# rule, transposed once more because $W$ enters as $W^\top$) and $\partial L/\partial b = \sum_n G_n$
# (the bias was broadcast over the batch). The package's `F.linear` fuses the two:

# %%
X = ms.Tensor(rng.standard_normal((5, 3)), requires_grad=True)
W = ms.Tensor(rng.standard_normal((2, 3)), requires_grad=True)
bias = ms.Tensor(rng.standard_normal(2), requires_grad=True)
G = rng.standard_normal((5, 2))
F.linear(X, W, bias).backward(G)
np.testing.assert_allclose(X.grad, G @ W.data, rtol=1e-13)
np.testing.assert_allclose(W.grad, G.T @ X.data, rtol=1e-13)
np.testing.assert_allclose(bias.grad, unbroadcast(G, (2,)), rtol=1e-13)
assert ms.gradcheck(F.linear, [X, W, bias])
print("linear: dX = G W, dW = G^T X, db = G summed over the batch")

# %% [markdown]
# ## 7. Shape operations
#
# `reshape`, `transpose` and indexing move entries without changing them, so each backward moves the
# gradient back the inverse way.
#
# - **reshape**: reshape the gradient back to the input's shape.
# - **transpose** with a permutation `axes`: apply the *inverse* permutation, `np.argsort(axes)`.
#   Applying `axes` again is right only when the permutation is its own inverse (a swap of two axes,
#   such as `.T` on a matrix); otherwise it is wrong, with the wrong shape as below, or silently with
#   the right shape when the permuted axes have equal sizes.
# - **indexing** `y = x[index]`: put each entry of the gradient back where it came from, into zeros
#   of `x`'s shape. An entry picked twice (`x[[0, 0]]`) must receive *both* gradients, and NumPy's
#   `out[index] += g` does not do that: it writes each repeated position once. `np.add.at` adds
#   every occurrence.

# %%
x = ms.Tensor(rng.standard_normal((2, 3, 4)), requires_grad=True)
axes = (1, 2, 0)
G = rng.standard_normal((3, 4, 2))
x.transpose(axes).backward(G)
np.testing.assert_array_equal(x.grad, G.transpose(np.argsort(axes)))
print(
    "inverse of",
    axes,
    "is",
    tuple(int(i) for i in np.argsort(axes)),
    "; applying",
    axes,
    "again gives shape",
    G.transpose(axes).shape,
    "instead of",
    x.shape,
)

x = ms.Tensor(rng.standard_normal((4, 3)), requires_grad=True)
index = [0, 2, 0]  # row 0 picked twice
G = np.ones((3, 3))
x[index].backward(G)
scattered = np.zeros((4, 3))
np.add.at(scattered, index, G)  # adds every occurrence
buffered = np.zeros((4, 3))
buffered[index] += G  # writes row 0 only once
np.testing.assert_array_equal(x.grad, scattered)
print("row sums of the gradient: package", x.grad.sum(axis=1), "| out[index] += g:", buffered.sum(axis=1))

x = ms.Tensor(rng.standard_normal((2, 6)), requires_grad=True)
assert ms.gradcheck(lambda v: v.reshape(3, 4)[1:, ::2], [x])

# %% [markdown]
# ## 8. Everything at once
#
# A composite of this chapter's operations, including our own `softplus` and `LogAddExp`, checked
# end to end. Any wrong backward on the way, or a missing un-broadcast, would make `gradcheck` fail.


# %%
def composite(x, W, c):
    h = softplus(x @ W + c)  # (5, 3) @ (3, 4) + (4,): matmul, broadcast add
    s = LogAddExp.apply(h, h.max(axis=1, keepdims=True))  # (5, 4) with (5, 1)
    return s.transpose(1, 0)[::2].mean(axis=0)  # transpose, getitem, mean -> (5,)


x = ms.Tensor(rng.standard_normal((5, 3)), requires_grad=True)
W = ms.Tensor(rng.standard_normal((3, 4)), requires_grad=True)
c = ms.Tensor(rng.standard_normal(4), requires_grad=True)
assert ms.gradcheck(composite, [x, W, c])
print("gradcheck passed for", composite(x, W, c).shape, "output, inputs", x.shape, W.shape, c.shape)

# %% [markdown]
# ## Summary
#
# - Broadcasting aligns shapes from the right, pads with size-1 axes, and stretches size-1 axes.
#   Stretching copies entries, so the backward **sums** the gradient over the stretched axes: over
#   the added leading axes, then over the size-1 axes with `keepdims=True`. Every binary op in the
#   package ends its backward with `unbroadcast`.
# - A new op is a `Function` subclass: `forward(ctx, *arrays)` saves what it needs with
#   `ctx.save_for_backward`, `backward(ctx, grad)` returns one gradient per input. `ms.gradcheck`
#   confirms it against central differences; the engine itself rejects gradients of the wrong shape.
# - Reductions are the mirror of broadcasting: their backward broadcasts the gradient back, after
#   putting the reduced axes back as size 1. `max` routes the gradient to the first arg-max; at ties
#   central differences see half on each tied entry, so gradient checks must avoid ties.
# - $C = AB$: $\partial L/\partial A = G B^\top$, $\partial L/\partial B = A^\top G$; the shapes
#   decide. Shape ops invert themselves: reshape back, inverse permutation, scatter-add.
#
# ## Exercises
#
# ### Exercise 1: un-broadcasting a gradient (2 points)
#
# Write `unbroadcast_grad(grad, shape)`. In the forward pass an
# input of shape `shape` (a tuple, possibly `()`) was broadcast to a larger shape; `grad` is the
# gradient with respect to the broadcast result, so it has the broadcast shape. Return the gradient
# with respect to the input, a NumPy array of shape `shape`. Do not call the package's `unbroadcast`.


# %%
def unbroadcast_grad(grad, shape):
    """Sum grad (broadcast shape) down to `shape`."""
    raise NotImplementedError  # your code here


check("ch02.unbroadcast", unbroadcast_grad)


# %% tags=["solution", "hide-input"]
def unbroadcast_grad(grad, shape):
    """Sum grad (broadcast shape) down to `shape`."""
    extra = grad.ndim - len(shape)
    grad = grad.sum(axis=tuple(range(extra)))  # the axes broadcasting added
    stretched = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    return grad.sum(axis=stretched, keepdims=True)  # the size-1 axes, kept


check("ch02.unbroadcast", unbroadcast_grad)

# %% [markdown]
# ### Exercise 2: the backward of a batched matrix product (2 points)
#
# Batched products: `A` has shape `(..., n, p)` (zero to
# two batch axes), `B` has shape `(p, m)` (one weight matrix shared by the whole batch), and
# `C = A @ B` has shape `(..., n, m)`. Write `matmul_backward(A, B, G)` returning the tuple
# `(dA, dB)` of NumPy arrays for the upstream gradient `G` of `C`'s shape: `dA` of `A`'s shape and
# `dB` of `B`'s shape. (Hint: `.T` reverses *all* axes of a 3-D array; `np.swapaxes(A, -1, -2)`
# swaps the last two.)


# %%
def matmul_backward(A, B, G):
    """(dL/dA, dL/dB) for C = A @ B, A (..., n, p), B (p, m), G = dL/dC (..., n, m)."""
    raise NotImplementedError  # your code here


check("ch02.matmul_backward", matmul_backward)


# %% tags=["solution", "hide-input"]
def matmul_backward(A, B, G):
    """(dL/dA, dL/dB) for C = A @ B, A (..., n, p), B (p, m), G = dL/dC (..., n, m)."""
    dA = G @ B.T
    per_example = np.swapaxes(A, -1, -2) @ G  # (..., p, m): one A^T G per batch entry
    dB = per_example.reshape(-1, *B.shape).sum(axis=0)  # B was shared: sum over the batch
    return dA, dB


check("ch02.matmul_backward", matmul_backward)

# %% [markdown]
# ### Exercise 3: the backward of a mean (2 points)
#
# For `y = x.mean(axis=axis, keepdims=keepdims)`, write
# `mean_backward(grad, in_shape, axis, keepdims)`: `grad` is $\partial L/\partial y$ (of `y`'s
# shape), `in_shape` is `x`'s shape, `axis` is a non-empty tuple of distinct non-negative axes in
# increasing order. Return $\partial L/\partial x$, a NumPy array of shape `in_shape`.


# %%
def mean_backward(grad, in_shape, axis, keepdims):
    """dL/dx for y = x.mean(axis=axis, keepdims=keepdims)."""
    raise NotImplementedError  # your code here


check("ch02.mean_backward", mean_backward)


# %% tags=["solution", "hide-input"]
def mean_backward(grad, in_shape, axis, keepdims):
    """dL/dx for y = x.mean(axis=axis, keepdims=keepdims)."""
    count = int(np.prod([in_shape[a] for a in axis]))  # entries averaged into each output
    if not keepdims:
        grad = grad.reshape([1 if i in axis else n for i, n in enumerate(in_shape)])
    return np.broadcast_to(grad / count, in_shape)


check("ch02.mean_backward", mean_backward)

# %% [markdown]
# ## Open questions
#
# 1. At a tie, the package gives the whole gradient of `max` to the first arg-max; splitting it
#    equally would also be a valid subgradient, and matches central differences. Which would you
#    choose for max pooling in a network, and can the choice change what training does? (Think of
#    ReLU at exactly 0, and of layers initialised so that many entries tie.)
# 2. The un-broadcast gradient of a bias of shape `(C,)` added to activations of shape
#    `(N, C, H, W)` is a sum over $N H W$ entries per channel. In float32, how large can $NHW$ get
#    before that sum loses digits that matter, and what would you change in `unbroadcast` if it did?
