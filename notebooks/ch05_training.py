# %% [markdown]
# # Chapter 5 — Training
#
# *Reading time: about 45 min; exercises: about 60 min.*
#
# The previous chapters built tensors that remember how they were computed, operations with
# their backward passes, gradient checks and layers. A network with gradients is not yet a
# trained network. This chapter adds the three missing pieces and then trains real models:
#
# 1. **the loss**: softmax and cross-entropy, computed without overflow, and its gradient;
# 2. **the optimizers**: SGD with momentum and weight decay, and Adam, written as update rules
#    on plain arrays, plus a learning-rate schedule;
# 3. **the training loop**: minibatches from a `DataLoader`, `zero_grad`, `backward`, `step`;
#    then `ms.fit` on the two spirals of the SensLI paper and on the bundled 8x8 digits, and
#    saving and loading a trained model.
#
# Each piece is written by hand first and then asserted equal to the package's version.
#
# **Prerequisites:** chapters 1–4 (the `Tensor`, `backward`, `ms.gradcheck`, `nn.Dense`,
# `nn.Sequential`).
#
# **Package modules:** `minisensli/ops/activation.py` and `minisensli/ops/loss.py`
# (`F.log_softmax`, `F.cross_entropy`), `minisensli/optim/` (`SGD`, `Adam`, `StepLR`),
# `minisensli/data/` (`spirals`, `digits`, `DataLoader`), `minisensli/train.py` (`fit`,
# `History`, `evaluate`) and `minisensli/serialization.py` (`ms.save`, `ms.load`).

# %%
import json
import pathlib
import tempfile

import matplotlib.pyplot as plt
import numpy as np

import minisensli as ms
import minisensli.functional as F
from minisensli import data, nn, optim
from minisensli.exercises import check

ms.set_default_dtype("float64")
rng = np.random.default_rng(5)

# %% [markdown]
# ## 1. From logits to a loss
#
# A classifier with $C$ classes ends in a layer that outputs $C$ real numbers per example, the
# **logits** $z \in \mathbb{R}^C$. Softmax turns them into probabilities,
#
# $$p_k = \operatorname{softmax}(z)_k = \frac{e^{z_k}}{\sum_{j=1}^C e^{z_j}},$$
#
# and the **cross-entropy** of an example with true class $y$ is the negative log-probability
# that the model gives to that class, averaged over a batch of $N$ examples:
#
# $$L = -\frac{1}{N}\sum_{n=1}^N \log p_{n, y_n}
#     = \frac{1}{N}\sum_{n=1}^N \Bigl(-z_{n,y_n} + \log \sum_j e^{z_{n,j}}\Bigr).$$
#
# Two sanity facts follow: $L \ge 0$, and a model that outputs equal logits (it knows
# nothing) pays exactly $\log C$ per example.
#
# The formula is short; the trouble is floating point. `float64` overflows above
# $e^{709}$ and underflows to 0 below $e^{-745}$. Logits of size a few hundred are rare at
# initialisation but do happen during training with a too-large learning rate. Let us see
# what the naive code, the formula typed as written, does with them.


# %%
def softmax_naive(z):
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def log_softmax_naive(z):
    return np.log(softmax_naive(z))


z_small = np.array([[1.0, 2.0, 3.0]])
z_big = z_small + 999.0  # the same differences, shifted: the same probabilities
z_low = z_small - 1003.0  # shifted the other way
z_tail = np.array([[0.0, -800.0]])  # one class is hopeless, but log p is a finite -800

with np.errstate(over="ignore", under="ignore", divide="ignore", invalid="ignore"):
    naive = {
        name: log_softmax_naive(z) for name, z in [("small", z_small), ("big", z_big), ("low", z_low), ("tail", z_tail)]
    }
for name, value in naive.items():
    print(f"{name:>5}: {value}")

assert np.all(np.isnan(naive["big"]))  # exp(1000) = inf, and inf / inf = nan
assert np.all(np.isnan(naive["low"]))  # exp(-1000) = 0, and 0 / 0 = nan
assert naive["tail"][0, 1] == -np.inf  # exp(-800) = 0, and log 0 = -inf

# %% [markdown]
# Three different failures: **overflow** (`inf / inf = nan`), **underflow of every term**
# (`0 / 0 = nan`) and **underflow of one term** (`log 0 = -inf`; the cross-entropy of that
# example would be `inf`). In training you would notice it as a loss that suddenly prints
# `nan` and never recovers, because a single `nan` in a gradient spreads to every weight it
# touches.
#
# ### The stable form: log-sum-exp
#
# Softmax does not change when the same constant $m$ is subtracted from every logit:
# multiply numerator and denominator by $e^{-m}$. Taking logs,
#
# $$\log \operatorname{softmax}(z)_k = z_k - m - \log \sum_j e^{z_j - m}
#   \qquad\text{for any } m.$$
#
# Choose $m = \max_j z_j$. Then every exponent is $\le 0$, so nothing overflows; the largest
# term is exactly $e^0 = 1$, so the sum lies in $[1, C]$ and the logarithm never sees 0. Terms
# that still underflow are negligible next to that 1, so losing them costs nothing. The
# quantity $m + \log\sum_j e^{z_j - m} = \log \sum_j e^{z_j}$ is the **log-sum-exp**.
#
# Below, the rows of a 2-D array of logits (axis 1, the class axis); the package's
# `F.log_softmax` takes any axis.


# %%
def log_softmax(z):
    """Stable log-softmax over the rows of z (N, C): z - m - log(sum(exp(z - m)))."""
    m = z.max(axis=1, keepdims=True)  # (N, 1): keepdims so that it broadcasts over C
    shifted = z - m  # every entry <= 0
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


for z in (z_small, z_big, z_low, z_tail):
    ours = log_softmax(z)
    assert np.all(np.isfinite(ours))
    np.testing.assert_allclose(ours, F.log_softmax(ms.Tensor(z), axis=1).data, rtol=1e-13, atol=1e-13)

np.testing.assert_allclose(log_softmax(z_big), log_softmax(z_small), rtol=1e-13)  # shift invariance
assert log_softmax(z_tail)[0, 1] == -800.0  # exact, not -inf

# on ordinary logits the naive and the stable form agree
z_random = rng.normal(scale=3.0, size=(5, 4))
np.testing.assert_allclose(log_softmax(z_random), log_softmax_naive(z_random), rtol=1e-12)
print("stable log-softmax:", log_softmax(z_big).round(4), log_softmax(z_tail))

# %% [markdown]
# The cross-entropy picks, in each row $n$, the entry of the label $y_n$:
# `log_probs[np.arange(N), labels]` (fancy indexing with two index arrays selects one entry
# per row). The package's `F.cross_entropy` takes raw logits and integer labels, as
# PyTorch's does: never pass it probabilities.


# %%
def cross_entropy(z, labels):
    n = z.shape[0]
    return -log_softmax(z)[np.arange(n), labels].mean()


logits = rng.normal(scale=3.0, size=(6, 4))
labels = rng.integers(0, 4, size=6)

ours = cross_entropy(logits, labels)
package = F.cross_entropy(ms.Tensor(logits), labels).item()
assert abs(ours - package) <= 1e-13 * abs(package)

# large logits: still finite, still equal
big = 400.0 * logits
assert np.isfinite(cross_entropy(big, labels))
np.testing.assert_allclose(cross_entropy(big, labels), F.cross_entropy(ms.Tensor(big), labels).item(), rtol=1e-13)

# equal logits cost exactly log C per example
assert np.isclose(cross_entropy(np.zeros((6, 4)), labels), np.log(4))
print(f"cross-entropy {ours:.6f} (package {package:.6f}); uniform guess {np.log(4):.6f} = log 4")

# %% [markdown]
# ## 2. The gradient of the loss: softmax minus one-hot
#
# Differentiate one example's term $\ell_n = -z_{n,y_n} + \log\sum_j e^{z_{n,j}}$ with respect
# to its logit $z_{n,k}$. The first term gives $-1$ when $k = y_n$ and $0$ otherwise; the
# second gives $e^{z_{n,k}}/\sum_j e^{z_{n,j}} = p_{n,k}$. With the mean over the batch,
#
# $$\frac{\partial L}{\partial z_{n,k}} = \frac{p_{n,k} - [k = y_n]}{N},
# \qquad\text{i.e.}\qquad \nabla_z L = \frac{\operatorname{softmax}(z) - \operatorname{onehot}(y)}{N}.$$
#
# What this says: the correct logit is pushed up by $(1 - p_{n,y_n})/N$, every other logit
# down by $p_{n,k}/N$, each row of the gradient sums to zero, and no entry exceeds $1/N$ in
# size, however large the logits. Forward and backward share the softmax, which is why the
# package's `CrossEntropy` saves the log-probabilities for its backward.
#
# The check: the formula against the engine's backward and against central differences.


# %%
def cross_entropy_grad(z, labels):
    n = z.shape[0]
    onehot = np.zeros_like(z)
    onehot[np.arange(n), labels] = 1.0
    return (np.exp(log_softmax(z)) - onehot) / n


z_t = ms.Tensor(logits, requires_grad=True)
F.cross_entropy(z_t, labels).backward()
np.testing.assert_allclose(cross_entropy_grad(logits, labels), z_t.grad, rtol=1e-12, atol=1e-15)

(numeric,) = ms.numerical_gradients(lambda z: F.cross_entropy(z, labels), [z_t], upstream=np.array(1.0))
np.testing.assert_allclose(z_t.grad, numeric, rtol=1e-6, atol=1e-9)

grad = cross_entropy_grad(logits, labels)
np.testing.assert_allclose(grad.sum(axis=1), 0.0, atol=1e-15)  # rows sum to zero
assert np.abs(cross_entropy_grad(big, labels)).max() <= 1 / len(labels)  # bounded by 1/N
print("gradient of row 0:", grad[0].round(4), " label:", labels[0])

# %% [markdown]
# ## 3. Optimizers are update rules on arrays
#
# An optimizer never sees the network: only each parameter's array $p$ and its gradient
# $g = \partial L/\partial p$, plus whatever state it keeps between steps. The package follows
# PyTorch's conventions exactly, so that a reader can compare the two.
#
# **SGD with momentum and weight decay** (`optim.SGD(params, lr, momentum, weight_decay)`):
#
# $$g \leftarrow g + \lambda p, \qquad v \leftarrow \mu v + g \ \ (v \leftarrow g \text{ on the first step}),
# \qquad p \leftarrow p - \eta v.$$
#
# Weight decay $\lambda$ is the gradient of the penalty $\tfrac{\lambda}{2}\lVert p\rVert^2$
# added to the loss. The buffer $v_t = \sum_{s \le t} \mu^{t-s} g_s$ is a running sum of past
# gradients: along a direction where the gradient keeps its sign the step grows towards
# $\eta/(1-\mu)$ times the gradient; along one where it flips from step to step, the terms cancel.
#
# A second form is common in textbooks: $v \leftarrow \mu v + \eta g$, $p \leftarrow p - v$.
# With a constant $\eta$ the two produce the same parameters ($v_{\text{textbook}} = \eta
# v_{\text{PyTorch}}$), but when a schedule changes $\eta$ they differ: in PyTorch's form the
# new learning rate scales the whole accumulated step at once. The cell checks both claims.


# %%
def sgd_step(p, g, buf, lr, momentum=0.0, weight_decay=0.0):
    """One SGD step on arrays; returns (new p, new momentum buffer). buf is None at first."""
    g = g + weight_decay * p
    if momentum:
        buf = g.copy() if buf is None else momentum * buf + g
        g = buf
    return p - lr * g, buf


def textbook_momentum(p, grads, lrs, mu):
    v = np.zeros_like(p)
    for g, lr in zip(grads, lrs):
        v = mu * v + lr * g
        p = p - v
    return p


def pytorch_momentum(p, grads, lrs, mu):
    buf = None
    for g, lr in zip(grads, lrs):
        p, buf = sgd_step(p, g, buf, lr, momentum=mu)
    return p


p0, grads = rng.normal(size=3), [rng.normal(size=3) for _ in range(6)]
same = pytorch_momentum(p0, grads, [0.1] * 6, 0.9), textbook_momentum(p0, grads, [0.1] * 6, 0.9)
np.testing.assert_allclose(*same, rtol=1e-12)  # constant lr: identical
dropped = [0.1] * 3 + [0.01] * 3  # lr divided by 10 after 3 steps
differ = pytorch_momentum(p0, grads, dropped, 0.9), textbook_momentum(p0, grads, dropped, 0.9)
assert not np.allclose(*differ)
print("after an lr drop, PyTorch form:", differ[0].round(4), " textbook form:", differ[1].round(4))

# %% [markdown]
# Now the real test: two copies of the same small network, one trained by `optim.SGD`, the
# other by `sgd_step` applied to its parameter arrays. Both take their gradients from the
# engine on the same batch; after several steps their parameters must agree to round-off.

# %%
x_batch = rng.normal(size=(16, 2))
y_batch = rng.integers(0, 3, size=16)


def make_net(seed):
    ms.manual_seed(seed)
    return nn.Sequential(nn.Dense(2, 8), nn.Tanh(), nn.Dense(8, 3))


def batch_gradients(net):
    """The gradient arrays of the loss on the fixed batch, one per parameter."""
    net.zero_grad()
    F.cross_entropy(net(ms.Tensor(x_batch)), y_batch).backward()
    return [p.grad for p in net.parameters()]


def assert_same_parameters(a, b):
    for (name, pa), pb in zip(a.named_parameters(), b.parameters()):
        np.testing.assert_allclose(pa.data, pb.data, rtol=1e-12, atol=1e-14, err_msg=name)


# %%
by_hand, by_package = make_net(1), make_net(1)
start = [p.data.copy() for p in by_hand.parameters()]
opt = optim.SGD(by_package.parameters(), lr=0.2, momentum=0.9, weight_decay=1e-2)
buffers = [None] * len(start)

for _ in range(8):
    batch_gradients(by_package)
    opt.step()
    for i, (p, g) in enumerate(zip(by_hand.parameters(), batch_gradients(by_hand))):
        p.data, buffers[i] = sgd_step(p.data, g, buffers[i], lr=0.2, momentum=0.9, weight_decay=1e-2)

assert_same_parameters(by_hand, by_package)
moved = max(np.abs(p.data - s).max() for p, s in zip(by_hand.parameters(), start))
print(f"8 SGD steps: hand-written == optim.SGD; largest parameter change {moved:.3f}")

# %% [markdown]
# **Adam** (`optim.Adam(params, lr, betas=(β1, β2), eps, weight_decay)`) keeps two running
# averages per entry, of the gradient and of its square, and divides one by the square root
# of the other, so every parameter gets a step of about $\eta$ whatever the scale of its
# gradient. At step $t = 1, 2, \dots$:
#
# $$g \leftarrow g + \lambda p,\quad m \leftarrow \beta_1 m + (1-\beta_1) g,\quad
#   v \leftarrow \beta_2 v + (1-\beta_2) g^2,$$
# $$\hat m = \frac{m}{1-\beta_1^t},\quad \hat v = \frac{v}{1-\beta_2^t},\quad
#   p \leftarrow p - \eta\,\frac{\hat m}{\sqrt{\hat v} + \epsilon}.$$
#
# Why the **bias correction**: $m$ and $v$ start at 0, so early on they are pulled towards
# 0. Unrolling the recursion, $m_t = (1-\beta_1)\sum_{s\le t}\beta_1^{t-s} g_s$; for a
# constant gradient this is exactly $(1-\beta_1^t)\,g$, and dividing by $1-\beta_1^t$ gives $g$
# back. Without the correction the first step would be
# $\eta (1-\beta_1)/\sqrt{1-\beta_2} \approx 3.16\,\eta$ for the default betas, not $\eta$.
# (The weight decay here is PyTorch's `Adam` rule, an L2 term added to the gradient; the
# decoupled variant, AdamW, is an exercise.)


# %%
def adam_step(p, g, m, v, t, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
    """Adam step number t (t = 1 first) on arrays; returns (new p, new m, new v)."""
    b1, b2 = betas
    g = g + weight_decay * p
    m = b1 * m + (1 - b1) * g
    v = b2 * v + (1 - b2) * g * g
    m_hat = m / (1 - b1**t)
    v_hat = v / (1 - b2**t)
    return p - lr * m_hat / (np.sqrt(v_hat) + eps), m, v


# the bias-correction claims, on a constant gradient
g_const, p_c, m_c, v_c = np.array([0.3, -2.0]), np.zeros(2), np.zeros(2), np.zeros(2)
for t in range(1, 6):
    p_c, m_c, v_c = adam_step(p_c, g_const, m_c, v_c, t, lr=0.01)
    np.testing.assert_allclose(m_c, (1 - 0.9**t) * g_const, rtol=1e-12)
    np.testing.assert_allclose(p_c, -0.01 * t * np.sign(g_const), rtol=1e-6)  # steps of exactly lr
uncorrected = 0.01 * (1 - 0.9) * g_const / np.sqrt((1 - 0.999) * g_const**2)
print("first step without bias correction:", uncorrected.round(4), "instead of", (0.01 * np.sign(g_const)))

# %%
by_hand, by_package = make_net(2), make_net(2)
opt = optim.Adam(by_package.parameters(), lr=0.05, betas=(0.9, 0.99), weight_decay=1e-3)
moments = [(np.zeros_like(p.data), np.zeros_like(p.data)) for p in by_hand.parameters()]

for t in range(1, 9):
    batch_gradients(by_package)
    opt.step()
    for i, (p, g) in enumerate(zip(by_hand.parameters(), batch_gradients(by_hand))):
        p.data, m, v = adam_step(p.data, g, *moments[i], t, lr=0.05, betas=(0.9, 0.99), weight_decay=1e-3)
        moments[i] = (m, v)

assert_same_parameters(by_hand, by_package)
np.testing.assert_allclose(moments[0][0], opt.state[0]["exp_avg"], rtol=1e-12)
print("8 Adam steps: hand-written == optim.Adam")

# %% [markdown]
# ### What momentum and Adam buy: a narrow valley
#
# On $f(x, y) = \tfrac12(x^2 + 25 y^2)$ the curvature along $y$ is 25 times that along $x$.
# Plain gradient descent is stable only for $\eta < 2/25$, and at such a step it crawls
# along $x$. Momentum lets the steps along the valley accumulate; Adam rescales each
# coordinate by its own gradient size. The same hand-written rules, 60 steps each.

# %%
curvature = np.array([1.0, 25.0])
grad_f = lambda p: curvature * p
start_point = np.array([-4.0, 1.0])


def trajectory(update, steps=60):
    p, state, path = start_point.copy(), None, [start_point.copy()]
    for t in range(1, steps + 1):
        p, state = update(p, grad_f(p), state, t)
        path.append(p.copy())
    return np.array(path)


def adam_update(p, g, state, t):
    m, v = state if state is not None else (np.zeros(2), np.zeros(2))
    p, m, v = adam_step(p, g, m, v, t, lr=0.3)
    return p, (m, v)


paths = {
    "SGD, lr 0.07": trajectory(lambda p, g, s, t: sgd_step(p, g, s, lr=0.07)),
    "SGD + momentum 0.8, lr 0.02": trajectory(lambda p, g, s, t: sgd_step(p, g, s, lr=0.02, momentum=0.8)),
    "Adam, lr 0.3": trajectory(adam_update),
}
distances = {name: np.linalg.norm(path[-1]) for name, path in paths.items()}
for name, distance in distances.items():
    print(f"{name:>28}: distance to the minimum after 60 steps {distance:.1e}")
assert distances["SGD + momentum 0.8, lr 0.02"] < distances["SGD, lr 0.07"] / 10

# %%
xs, ys = np.meshgrid(np.linspace(-4.5, 1.5, 200), np.linspace(-1.5, 1.5, 200))
fig, ax = plt.subplots(figsize=(8, 4))
ax.contour(xs, ys, 0.5 * (xs**2 + 25 * ys**2), levels=np.geomspace(0.01, 40, 14), colors="0.8", linewidths=0.8)
for (name, path), colour in zip(paths.items(), ["C0", "C1", "C2"]):
    ax.plot(path[:, 0], path[:, 1], ".-", color=colour, label=name, markersize=3, linewidth=1)
ax.plot(0, 0, "k*", markersize=10)
ax.set(xlabel="$x$", ylabel="$y$", title=r"60 steps on $\frac{1}{2}(x^2 + 25y^2)$ from $(-4, 1)$")
ax.set_aspect("equal")
ax.legend(loc="upper right", fontsize=8)
plt.show()

# %% [markdown]
# Plain SGD zig-zags across the steep direction and then crawls along the flat one: each step
# shrinks $x$ only by the factor $1 - 0.07 = 0.93$. Momentum, with a step more than three times
# smaller, overshoots but ends more than ten times closer. Adam first heads diagonally (its
# early steps are about $\eta$ in *each* coordinate, whatever the curvature), overshoots along
# $x$ and circles back in. Which method wins depends on the learning rates chosen; what the
# picture shows is *how* each one moves.
#
# ### Learning-rate schedules
#
# A schedule changes $\eta$ between epochs: large steps early to make progress, small ones
# late to settle. `optim.StepLR(optimizer, step_size, gamma)` multiplies the learning rate by
# $\gamma$ every $s$ = `step_size` epochs, so epoch $e = 0, 1, \dots$ trains with
# $\eta_e = \eta_0\,\gamma^{\lfloor e/s\rfloor}$; `scheduler.step()` is called once at the end
# of every epoch (`ms.fit` does it for you).

# %%
opt = optim.SGD(make_net(0).parameters(), lr=0.5)
scheduler = optim.StepLR(opt, step_size=3, gamma=0.1)
lrs = []
for _ in range(8):
    lrs.append(opt.lr)  # the rate this epoch trains with
    scheduler.step()  # at the end of the epoch
expected = [0.5 * 0.1 ** (e // 3) for e in range(8)]
np.testing.assert_allclose(lrs, expected, rtol=1e-15)
print("StepLR(step_size=3, gamma=0.1):", [f"{lr:g}" for lr in lrs])

# %% [markdown]
# ## 4. The training loop
#
# The SensLI paper's first test problem: two interleaved spirals in the plane, 300 points each,
# 450 for training and 150 for testing (`data.spirals()` with the paper's defaults). A
# `DataLoader` cuts a dataset into minibatches of `Tensor`s; with `shuffle=True` it draws a new
# order every epoch from its own generator, so the same `seed` gives the same batches.
#
# One **epoch** is one pass over the shuffled training set. For each minibatch:
# forward, loss, **`zero_grad`** (gradients accumulate in `.grad`, chapter 1, so the previous
# step's must go), **`backward`**, **`step`**. We record each loss before its update.

# %%
spirals = data.spirals()
print(spirals.train, spirals.test, sep="\n")


def spiral_net(seed, width=16):
    ms.manual_seed(seed)
    return nn.Sequential(nn.Dense(2, width), nn.Tanh(), nn.Dense(width, width), nn.Tanh(), nn.Dense(width, 2))


def train_by_hand(model, loader, optimizer, epochs):
    losses = []
    for _ in range(epochs):
        for inputs, targets in loader:
            loss = F.cross_entropy(model(inputs), targets)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
    return losses


# %% [markdown]
# `ms.fit(model, train_loader, optimizer, epochs, scheduler, test_loader, progress=False)` is
# the same loop plus bookkeeping: it stops with a clear error if the loss becomes `nan`,
# steps the scheduler after every epoch, evaluates on the test set, and returns a `History`.
# Started from the same weights with the same batches, it must reproduce our losses and
# parameters exactly, not approximately.

# %%
hand_net, fit_net = spiral_net(3), spiral_net(3)
hand_losses = train_by_hand(
    hand_net,
    data.DataLoader(spirals.train, 32, shuffle=True, seed=7),
    optim.Adam(hand_net.parameters(), lr=0.01),
    epochs=3,
)
history = ms.fit(
    fit_net,
    data.DataLoader(spirals.train, 32, shuffle=True, seed=7),
    optim.Adam(fit_net.parameters(), lr=0.01),
    3,
    progress=False,
)

np.testing.assert_array_equal(hand_losses, history.minibatch_losses)
for p, q in zip(hand_net.parameters(), fit_net.parameters()):
    np.testing.assert_array_equal(p.data, q.data)
print(f"{len(hand_losses)} steps (3 epochs of {len(hand_losses) // 3} batches): identical losses and weights")
print("History fields:", ", ".join(history.as_dict()))

# %% [markdown]
# Now a real run: Adam with learning rate 0.02, divided by 5 after 100 epochs, 150 epochs in
# all, evaluated on the test set after every epoch.

# %%
model = spiral_net(0)
optimizer = optim.Adam(model.parameters(), lr=0.02)
scheduler = optim.StepLR(optimizer, step_size=100, gamma=0.2)
train_loader = data.DataLoader(spirals.train, batch_size=32, shuffle=True, seed=0)
test_loader = data.DataLoader(spirals.test, batch_size=150)

history = ms.fit(model, train_loader, optimizer, 150, scheduler, test_loader, progress=False)

np.testing.assert_allclose(history.lrs, [0.02 * 0.2 ** (e // 100) for e in range(150)])
test_loss, test_error = ms.evaluate(model, test_loader)
assert test_loss == history.test_loss[-1] and test_error <= 0.02
print(
    f"after 150 epochs ({history.wall_time:.1f} s): train loss {history.train_loss[-1]:.4f}, "
    f"test loss {test_loss:.4f}, test error {test_error:.1%}"
)

# %% [markdown]
# The picture: the loss curves (per epoch, logarithmic axis) and the decision boundary,
# the network's probability of class 1 evaluated on a grid over the plane, with the training
# points on top.

# %%
grid = np.linspace(-1.8, 1.8, 181)
gx, gy = np.meshgrid(grid, grid)
with ms.no_grad():
    prob = F.softmax(model(ms.Tensor(np.stack([gx.ravel(), gy.ravel()], axis=1))), axis=1).data[:, 1]

fig, (ax_loss, ax_plane) = plt.subplots(1, 2, figsize=(11, 4.5))
epochs = np.arange(1, len(history.train_loss) + 1)
ax_loss.semilogy(epochs, history.train_loss, label="train (mean over the epoch's minibatches)")
ax_loss.semilogy(epochs, history.test_loss, label="test (after the epoch)")
ax_loss.axvline(100, color="0.6", linestyle=":", label="StepLR: lr × 0.2")
ax_loss.set(xlabel="epoch", ylabel="cross-entropy", title="Loss on the spirals")
ax_loss.legend(fontsize=8)

shading = ax_plane.contourf(gx, gy, prob.reshape(gx.shape), levels=np.linspace(0, 1, 11), cmap="RdBu_r", alpha=0.45)
fig.colorbar(shading, ax=ax_plane, label="p(class 1)", shrink=0.8)
ax_plane.contour(gx, gy, prob.reshape(gx.shape), levels=[0.5], colors="k", linewidths=1)
x_train, y_train = spirals.train[:]
for label, colour in [(0, "C0"), (1, "C3")]:
    ax_plane.scatter(
        *x_train[y_train == label].T, s=10, color=colour, edgecolors="w", linewidths=0.3, label=f"class {label}"
    )
ax_plane.set(title="Decision boundary (black: p = 0.5)", xlabel="$x_1$", ylabel="$x_2$")
ax_plane.set_aspect("equal")
ax_plane.legend(fontsize=8, loc="lower right")
plt.show()

# %% [markdown]
# The test points lie on the same two curves as the training points (the paper's spirals have
# no noise), so the test loss follows the training loss closely; the boundary winds between
# the arms and is unconstrained outside them. The spikes are typical of Adam at a constant
# learning rate (a step that overshoots, then recovers); after the drop at epoch 100 the
# smaller steps let the loss settle.
#
# ## 5. A small image problem: 8x8 digits
#
# `data.digits()` ships 1,797 handwritten digits as (N, 1, 8, 8) images in $[0, 1]$, split
# 1,348 / 449. A flatten layer and one hidden layer of 32 units already classify most of them;
# on 2 cores, ten epochs take a fraction of a second.

# %%
digits = data.digits()
ms.manual_seed(0)
digit_model = nn.Sequential(nn.Flatten(), nn.Dense(64, 32), nn.ReLU(), nn.Dense(32, 10))
digit_history = ms.fit(
    digit_model,
    data.DataLoader(digits.train, 64, shuffle=True, seed=0),
    optim.Adam(digit_model.parameters(), lr=0.01),
    10,
    test_loader=data.DataLoader(digits.test, 449),
    progress=False,
)

test_images, test_labels = digits.test[:]
with ms.no_grad():
    predicted = digit_model(ms.Tensor(test_images)).data.argmax(axis=1)
wrong = np.flatnonzero(predicted != test_labels)
assert np.isclose(len(wrong) / len(test_labels), digit_history.test_error[-1])
print(
    f"{digit_model.num_parameters()} parameters, {digit_history.wall_time:.1f} s; test error "
    f"{digit_history.test_error[-1]:.1%} ({len(wrong)} of {len(test_labels)} test digits wrong)"
)

# %%
fig, axes = plt.subplots(1, 8, figsize=(10, 1.8))
for ax, index in zip(axes, wrong[:8]):
    ax.imshow(test_images[index, 0], cmap="gray_r")
    ax.set_title(f"true {test_labels[index]}, said {predicted[index]}", fontsize=8)
for ax in axes:
    ax.axis("off")
fig.suptitle("Misclassified test digits", fontsize=10)
plt.show()

# %% [markdown]
# ## 6. Saving and loading
#
# `ms.save(model, path)` writes one `.npz` file: one array per parameter and the architecture
# as a JSON text (each module's `config()`), stored as bytes. `ms.load(path)` rebuilds the
# modules from that description and copies the weights in, bit for bit.
#
# The file contains **no pickle**. PyTorch's `torch.save` pickles Python objects, and loading
# a pickle can run arbitrary code; here the file holds only numeric arrays and a JSON text,
# and `np.load(..., allow_pickle=False)` (which refuses any pickled entry) reads all of it.

# %%
with tempfile.TemporaryDirectory() as folder:
    path = pathlib.Path(folder) / "digits_mlp.npz"
    ms.save(digit_model, path)
    restored = ms.load(path)
    with np.load(path, allow_pickle=False) as archive:  # raises if any entry were pickled
        contents = {key: (archive[key].dtype, archive[key].shape) for key in archive.files}
        meta = json.loads(bytes(archive["__minisensli__"]).decode("utf-8"))
    size = path.stat().st_size

with ms.no_grad():
    np.testing.assert_array_equal(restored(ms.Tensor(test_images)).data, digit_model(ms.Tensor(test_images)).data)
for (name, p), q in zip(digit_model.named_parameters(), restored.parameters()):
    assert p.dtype == q.dtype and np.array_equal(p.data, q.data), name

print(f"{size} bytes; entries:")
for key, (dtype, shape) in contents.items():
    print(f"  {key:<20} {str(dtype):<8} {shape}")
print("architecture:", [(child["type"], child["config"]) for child in meta["architecture"]["children"]])

# %% [markdown]
# ## Summary
#
# - **Cross-entropy** of logits $z$ and labels $y$ is $\frac1N\sum_n(-z_{n,y_n} + \log\sum_j
#   e^{z_{n,j}})$. Typed naively it overflows (`nan`) or underflows (`-inf`) for logits of a few
#   hundred; subtracting the row maximum before `exp` (log-sum-exp) fixes both and changes
#   nothing mathematically. Our version equals `F.log_softmax` and `F.cross_entropy`.
# - Its gradient is $(\operatorname{softmax}(z) - \operatorname{onehot}(y))/N$: rows sum to
#   zero and entries are bounded by $1/N$. Checked against the engine and finite differences.
# - **Optimizers** are update rules on arrays with a little state. PyTorch's SGD keeps
#   $v \leftarrow \mu v + g$ and steps $p \leftarrow p - \eta v$, with weight decay added to
#   the gradient; Adam divides bias-corrected first moments by the root of bias-corrected second
#   moments. Our hand-written rules reproduce `optim.SGD` and `optim.Adam` to round-off.
# - `StepLR` multiplies the learning rate by $\gamma$ every `step_size` epochs.
# - The **training loop** is forward, loss, `zero_grad`, `backward`, `step` per minibatch;
#   `ms.fit` is that loop (bit-identical) plus evaluation, a scheduler and a `History`.
# - A small MLP separates the spirals and classifies the 8x8 digits with a few percent error;
#   `ms.save` / `ms.load` round-trip a model exactly through a pickle-free `.npz` file.
#
# ## Exercises
#
# Each exercise is checked against the package on many random inputs. Unsolved, a check
# reports "not attempted"; a wrong answer prints the smallest input it found that fails.
#
# ### Exercise 1: log-sum-exp along any axis (2 points)
#
# Write `logsumexp(z, axis)` for a float64 array
# `z` of any number of dimensions and an `axis` (possibly negative). Return the NumPy array
# $\log\sum_j e^{z_j}$ along that axis, with that axis removed (the shape of
# `z.sum(axis=axis)`). It must stay finite and accurate for entries of size $10^4$, positive
# or negative, and for slices that differ from each other by thousands.


# %%
def logsumexp(z, axis):
    """log(sum(exp(z), axis)) without overflow; the axis is removed from the shape."""
    raise NotImplementedError  # your code here


check("ch05.logsumexp", logsumexp)


# %% tags=["solution", "hide-input"]
def logsumexp(z, axis):
    m = z.max(axis=axis, keepdims=True)
    out = m + np.log(np.exp(z - m).sum(axis=axis, keepdims=True))
    return np.squeeze(out, axis=axis)


check("ch05.logsumexp", logsumexp)

# %% [markdown]
# ### Exercise 2: cross-entropy with soft targets (2 points)
#
# Label smoothing and distillation train
# against a probability distribution per example instead of a single class: with targets
# $T \in [0,1]^{N\times C}$ whose rows sum to 1, the loss is
# $L = -\frac1N\sum_{n,k} T_{n,k}\log\operatorname{softmax}(z_n)_k$ (a one-hot $T$ gives back
# `F.cross_entropy`). Derive $\partial L/\partial z$ and write
# `soft_cross_entropy_grad(logits, targets)` returning it as an (N, C) array. Logits may be as
# large as $\pm 10^3$. (The checker compares with the engine's backward through
# `F.log_softmax`.)


# %%
def soft_cross_entropy_grad(logits, targets):
    """dL/dlogits (N, C) of L = -mean_n sum_k targets[n, k] * log_softmax(logits)[n, k]."""
    raise NotImplementedError  # your code here


check("ch05.soft_cross_entropy_grad", soft_cross_entropy_grad)


# %% tags=["solution", "hide-input"]
def soft_cross_entropy_grad(logits, targets):
    shifted = logits - logits.max(axis=1, keepdims=True)
    probs = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
    return (probs - targets) / logits.shape[0]  # uses sum_k T[n, k] = 1


check("ch05.soft_cross_entropy_grad", soft_cross_entropy_grad)

# %% [markdown]
# ### Exercise 3: one step of SGD with Nesterov momentum (2 points)
#
# PyTorch's `SGD(nesterov=True)`
# (not in minisensli's `optim`) changes only the last line of the rule above: with weight
# decay added to the gradient, $g \leftarrow g + \lambda p$, the buffer is updated as before,
# $v \leftarrow \mu v + g$ ($v \leftarrow g$ on the first step, when `buf` is None), and the step
# "looks ahead" along the new buffer: $p \leftarrow p - \eta\,(g + \mu v)$. Write
# `sgd_nesterov_step(p, g, buf, lr, momentum, weight_decay)` returning the tuple
# `(new_p, new_buf)` of NumPy arrays.


# %%
def sgd_nesterov_step(p, g, buf, lr, momentum, weight_decay):
    """One Nesterov SGD step (PyTorch's convention); buf is None on the first step."""
    raise NotImplementedError  # your code here


check("ch05.sgd_nesterov_step", sgd_nesterov_step)


# %% tags=["solution", "hide-input"]
def sgd_nesterov_step(p, g, buf, lr, momentum, weight_decay):
    g = g + weight_decay * p
    buf = g.copy() if buf is None else momentum * buf + g
    return p - lr * (g + momentum * buf), buf


check("ch05.sgd_nesterov_step", sgd_nesterov_step)

# %% [markdown]
# ### Exercise 4: one AdamW step (2 points)
#
# Adam's L2 weight decay passes through the division by
# $\sqrt{\hat v}$, so parameters with large gradients are barely decayed. AdamW (Loshchilov and
# Hutter, "Decoupled Weight Decay Regularization", ICLR 2019; PyTorch's `optim.AdamW`)
# decouples it: the moments see the plain gradient, and the decay is applied to the parameter
# directly, $p \leftarrow p - \eta\lambda p - \eta\,\hat m/(\sqrt{\hat v} + \epsilon)$, with
# $p$ on the right the value before the step and $\hat m, \hat v$ bias-corrected as in Adam.
# Write `adamw_step(p, g, m, v, t, lr, beta1, beta2, eps, weight_decay)` for step number
# `t` (1 for the first step; `m`, `v` are the moments after step `t - 1`), returning
# `(new_p, new_m, new_v)`.


# %%
def adamw_step(p, g, m, v, t, lr, beta1, beta2, eps, weight_decay):
    """One AdamW step (PyTorch's convention) on arrays; returns (new_p, new_m, new_v)."""
    raise NotImplementedError  # your code here


check("ch05.adamw_step", adamw_step)


# %% tags=["solution", "hide-input"]
def adamw_step(p, g, m, v, t, lr, beta1, beta2, eps, weight_decay):
    m = beta1 * m + (1 - beta1) * g
    v = beta2 * v + (1 - beta2) * g * g
    m_hat, v_hat = m / (1 - beta1**t), v / (1 - beta2**t)
    return p - lr * weight_decay * p - lr * m_hat / (np.sqrt(v_hat) + eps), m, v


check("ch05.adamw_step", adamw_step)

# %% [markdown]
# ## Open questions
#
# 1. The spirals network reaches a test error near zero, yet its decision boundary outside
#    the data is arbitrary. Train the same architecture from three different seeds and
#    compare the boundaries: which parts agree, and what does that say about what "the test
#    error" can and cannot measure on this problem?
# 2. With a constant learning rate, PyTorch's momentum form and the textbook form give the
#    same parameters, but not after a `StepLR` drop (section 3). Which behaviour would you
#    want right after the drop, and does it matter for SensLI, which builds a new optimizer
#    (with empty momentum buffers) after every insertion?
