# %% [markdown]
# # Chapter 7 — Virtual layers and their closed-form sensitivities
#
# *Reading time: about 50 min; exercises: about 45 min.*
#
# Chapter 6 showed that the Lagrange multiplier of "this virtual layer stays the identity"
# is the loss gradient w.r.t. the virtual layer's parameters. Here we derive that gradient
# **in closed form** for every kind of virtual layer SensLI uses, so that it costs one
# forward and one backward pass of the *original* network and a small matrix product per
# site. For each kind you will see
#
# - the virtual layer, why it is the identity, and where it is **not** (Dense after tanh,
#   residual blocks whose activation has $\sigma(0) \ne 0$);
# - the derivation of its multiplier, implemented in a few lines of NumPy;
# - the formula checked three ways: closed form (ours, then the package's) vs autograd on the
#   extended network vs finite differences — one-sided where a ReLU kink demands it, with the
#   reason shown numerically.
#
# The kinds: **Dense after ReLU**, **residual blocks** (two weights in the variants v1 and
# v2, and one weight), **Conv2d with a dirac kernel**, and the convolutional residual blocks.
# The chapter ends by timing the closed form against autograd.
#
# **You need** chapter 3 (finite differences, kinks), chapter 4 (Dense, Conv2d, residual
# blocks) and chapter 6 (multipliers). **Package modules**: `minisensli/sensli/virtual.py`
# (the virtual layers), `minisensli/sensli/closed_form.py` (the formulas),
# `minisensli/sensli/sensitivity.py` (both passes, `extended_model`). The book page
# *Derivations of the multipliers* collects every formula in one place.
#
# **Notation** (the package's): rows are samples. For one minibatch with batch-mean loss
# $\ell$, $x$ is the activation entering the site in the original network and
# $d = \partial\ell/\partial x$ its gradient, which already carries the factor $1/|B|$.

# %%
import time

import matplotlib.pyplot as plt
import numpy as np

import minisensli as ms
import minisensli.functional as F
from minisensli import data, nn, sensli
from minisensli.exercises import check

ms.set_default_dtype("float64")
ms.manual_seed(0)
rng = np.random.default_rng(0)

X = rng.standard_normal((12, 3))
Y = rng.integers(0, 3, 12)
x_in, y_in = ms.Tensor(X), ms.Tensor(Y)
loader = data.DataLoader(data.TensorDataset(X, Y), batch_size=12)  # one full batch


def capture(model, position, x=x_in, y=y_in):
    """The activation entering position ``position`` of the original model and the gradient
    of the batch-mean loss w.r.t. it: one forward and one backward pass."""
    h = model[:position](x).detach().requires_grad_()
    F.cross_entropy(model[position:](h), y).backward()
    return h.data, h.grad


# %% [markdown]
# ## 1. Dense after ReLU
#
# A hidden layer ends with a ReLU, so its output $a$ (the $x$ of the notation above)
# satisfies $a \ge 0$. The virtual layer after it is
#
# $$a \mapsto \operatorname{relu}(a V^\top + c), \qquad V = I\ (\text{width} \times \text{width}),\quad c = 0 .$$
#
# **Why it is the identity:** $a I^\top + 0 = a$ and $\operatorname{relu}(a) = a$ for $a \ge 0$.
# Both steps are exact in floating point (products with 1 and 0, sums with 0), so inserting
# it changes no output bit. Our net: two hidden ReLU layers of width 4, hence two candidate
# sites (positions 2 and 4 of the `Sequential`).

# %%
model = nn.Sequential(nn.Dense(3, 4), nn.ReLU(), nn.Dense(4, 4), nn.ReLU(), nn.Dense(4, 3))
print(sensli.candidate_sites(model))


def identity_dense(width):
    layer = nn.Dense(width, width)
    layer.weight.data = np.eye(width)
    layer.bias.data = np.zeros(width)
    return layer


virtual = identity_dense(4)
extended = model.with_inserted(2, virtual, nn.ReLU())
with ms.no_grad():
    difference = np.abs(extended(x_in).data - model(x_in).data).max()
print("max |extended - original| =", difference)
assert difference == 0.0

# %% [markdown]
# **Where it is not the identity.** After a tanh the activation takes negative values, and
# $\tanh(\tanh(z)) \ne \tanh(z)$; a ReLU in the virtual layer would instead cut the negative
# part. Either way the network's function changes, so the multiplier would not describe the
# network we have. The package refuses such a site with a message.

# %%
model_tanh = nn.Sequential(nn.Dense(3, 4), nn.Tanh(), nn.Dense(4, 3))
with ms.no_grad():
    before = model_tanh(x_in).data
    for act in (nn.Tanh(), nn.ReLU()):
        after = model_tanh.with_inserted(2, identity_dense(4), act)(x_in).data
        change = np.abs(after - before).max()
        print(f"V = I followed by {type(act).__name__} after a tanh: max output change {change:.3f}")
        assert change > 1e-3
try:
    sensli.candidate_sites(model_tanh)
except ValueError as err:
    print("package:", err)

# %% [markdown]
# ### The multiplier, and check 1: our formula against the package's
#
# Name the pre-activation $z = a V^\top + c$ and the output $u = \operatorname{relu}(z)$.
# The gradient that arrives at $u$ is $d$: everything after the virtual layer is the
# original network, fed the same values (section 2 makes this precise). Through the ReLU,
# $\partial\ell/\partial z = d \odot m$ with the mask $m = \mathbb 1[z > 0] = \mathbb 1[a > 0]$
# at the identity ($\operatorname{relu}'(0) := 0$). Since $z_{ni} = \sum_j V_{ij} a_{nj} + c_i$,
#
# $$\frac{\partial \ell}{\partial V_{ij}} = \sum_n (d \odot m)_{ni}\, a_{nj}
# \quad\Longrightarrow\quad
# \frac{\partial \ell}{\partial V} = (d \odot m)^\top a, \qquad
# \frac{\partial \ell}{\partial c} = \sum_n (d \odot m)_{n} .$$
#
# The sum over samples $n$ is the batch; $d$ already holds the $1/|B|$ of the mean. A side
# remark the check below confirms: $\sum_n (d \odot m)_n$ is *also* the gradient of the
# bias of the Dense layer before the site (its pre-activation has the same mask), so the
# virtual bias says nothing new — one reason SensLI scores only the weight.


# %%
def dense_multipliers(a, d):
    masked = d * (a > 0)
    return {"weight": masked.T @ a, "bias": masked.sum(axis=0)}


a, d = capture(model, 2)
ours = dense_multipliers(a, d)
package = sensli.dense_multipliers(a, d)
for name in ("weight", "bias"):
    np.testing.assert_allclose(ours[name], package[name], rtol=1e-14, atol=1e-18)

model.zero_grad()
F.cross_entropy(model(x_in), y_in).backward()
np.testing.assert_allclose(ours["bias"], model[0].bias.grad, rtol=1e-12, atol=1e-18)
print("inactive entries of a:", int((a == 0).sum()), "of", a.size)
print("dl/dV (closed form):\n", np.round(ours["weight"], 5))

# %% [markdown]
# ### Check 2: autograd on the extended network
#
# The extended network above contains `virtual` with $V = I$, $c = 0$. Backpropagating its
# loss gives $\partial\ell/\partial V$ directly. The package does the same thing for every
# site at once with `sensitivities(..., method="autograd")` (it builds the extended network
# with `sensli.extended_model`), and the closed form with `method="closed_form"`.

# %%
model.zero_grad()
F.cross_entropy(extended(x_in), y_in).backward()
np.testing.assert_allclose(virtual.weight.grad, ours["weight"], rtol=1e-12, atol=1e-18)
np.testing.assert_allclose(virtual.bias.grad, ours["bias"], rtol=1e-12, atol=1e-18)

by_autograd = sensli.sensitivities(model, loader, method="autograd")
by_formula = sensli.sensitivities(model, loader, method="closed_form")
for auto, closed in zip(by_autograd, by_formula):
    np.testing.assert_allclose(closed.multipliers["weight"], auto.multipliers["weight"], rtol=1e-10, atol=1e-18)
    print(f"{closed.site.label}: score closed form {closed.score:.6e}, autograd {auto.score:.6e}")
np.testing.assert_allclose(by_formula[0].multipliers["weight"], ours["weight"], rtol=1e-12)

# %% [markdown]
# ### Check 3: finite differences, and the kink
#
# For an entry with $a_{ni} = 0$ (unit $i$ inactive for sample $n$), move $V_{ij}$ by
# $\pm\varepsilon$: then $z_{ni} = \pm\varepsilon\, a_{nj}$. Up, the unit switches on (if
# $a_{nj} > 0$) and the loss changes by $\varepsilon\, d_{ni} a_{nj}$; down, it stays off and
# nothing changes. The loss has a kink there: its right derivative contains
# $d_{ni} a_{nj}$, its left derivative does not. The convention $\operatorname{relu}'(0) = 0$
# picks the **left** one, so
#
# - the **backward** difference $(\ell(V) - \ell(V - \varepsilon e_{ij}))/\varepsilon$ must
#   match the closed form (downward moves never switch a unit on, because $a \ge 0$);
# - the **central** difference averages the two sides and is off by exactly half the
#   switch-on slope: $\tfrac12 \sum_n \mathbb 1[a_{ni} = 0]\, d_{ni}\, a_{nj} = \tfrac12\bigl((d \odot \mathbb 1[a = 0])^\top a\bigr)_{ij}$.
#
# Both statements are checked below; the second would fail if the explanation were wrong.


# %%
def extended_loss(*_):
    return F.cross_entropy(extended(x_in), y_in)


params = [virtual.weight, virtual.bias]
backward_fd = ms.numerical_gradients(extended_loss, params, np.float64(1.0), eps=1e-7, mode="backward")
central_fd = ms.numerical_gradients(extended_loss, params, np.float64(1.0), eps=1e-7, mode="central")
np.testing.assert_allclose(backward_fd[0], ours["weight"], rtol=1e-5, atol=1e-8)
np.testing.assert_allclose(backward_fd[1], ours["bias"], rtol=1e-5, atol=1e-8)

half_switch_on = 0.5 * (d * (a == 0)).T @ a
mismatch = central_fd[0] - ours["weight"]
print(f"central - closed form: max |.| = {np.abs(mismatch).max():.2e}")
np.testing.assert_allclose(mismatch, half_switch_on, atol=1e-7)
assert np.abs(mismatch).max() > 1e-3  # the central difference really does not match

# %%
fig, axes = plt.subplots(1, 3, figsize=(11.5, 3.6), constrained_layout=True)
panels = [
    (ours["weight"], "closed form $(d \\odot m)^\\top a$"),
    (backward_fd[0] - ours["weight"], "backward difference − closed form"),
    (mismatch, "central difference − closed form"),
]
limit = np.abs(ours["weight"]).max()
for ax, (values, title) in zip(axes, panels):
    image = ax.imshow(values, cmap="RdBu_r", vmin=-limit, vmax=limit)
    ax.set(xlabel="j (input unit)", xticks=range(4), yticks=range(4))
    ax.set_title(title, fontsize=9)
axes[0].set_ylabel("i (output unit)")
fig.colorbar(image, ax=axes, shrink=0.8)
plt.show()

# %% [markdown]
# The middle panel is blank (agreement to about $10^{-9}$); the right panel is nonzero in the
# rows of units that are inactive for some samples — exactly half the switch-on slope.
# When you gradient-check a ReLU virtual layer, either use backward differences or data on
# which every unit at the site is active, and say which.
#
# ## 2. Why one forward and one backward pass of the original network suffice
#
# The closed form needs $x$ and $d$ at the site. Two facts make the original network's
# values the right ones, even in the *fully* extended network with a virtual layer at every
# site:
#
# 1. **Forward:** every virtual layer is the identity, so each layer of the extended network
#    sees the same input as in the original; $x$ is the same.
# 2. **Backward:** the gradient arriving at a virtual layer's *output* is $d$. Everything
#    after it is the original network (with further identity layers). Passing back through a
#    later virtual Dense layer multiplies by its Jacobian: $g \mapsto (g \odot m) V = g \odot m$,
#    which differs from $g$ only where $a = 0$ — and there the original ReLU in front of it
#    masks the gradient anyway. So every gradient at a pre-activation, and every parameter
#    gradient, is the same as in the original network. For residual blocks at the identity,
#    the branch's derivative w.r.t. its input is 0 (it is multiplied by $W_2 = 0$, or by
#    $W_1 = 0$), so the block passes the gradient through unchanged.
#
# The check: the fully extended network (both sites), with the gradient at each virtual
# layer's output kept, against $d$ from the original network.

# %%
sites = sensli.candidate_sites(model)
full, virtual_layers = sensli.extended_model(model, sites)
closing = {id(modules[-1]): site for site, modules in zip(sites, virtual_layers)}  # the ReLU ending each
kept = {}
h = x_in
for layer in full:
    h = layer(h)
    if id(layer) in closing:
        kept[closing[id(layer)]] = h.retain_grad()
F.cross_entropy(h, y_in).backward()
for site in sites:
    _, d_original = capture(model, site.position)
    np.testing.assert_allclose(kept[site].grad, d_original, rtol=1e-12, atol=1e-18)
    print(f"{site.label}: the gradient at the virtual layer's output equals d of the original network")

# %% [markdown]
# ## 3. Residual blocks
#
# A residual block keeps the width and adds a branch with step size $h$:
#
# $$\text{two weights: } y = x + h\,\sigma(x W_1^\top + b)\,W_2^\top,$$
#
# $$\text{one weight: } y = x + h\,\sigma(x W^\top + b).$$
#
# It is the identity when the branch is zero. Three ways to get there (the package's
# constants; the scale 0.8 is the reference code's choice):
#
# | form | values | identity because | needs |
# |---|---|---|---|
# | two weights, **v1** | $W_2 = 0$, $W_1 = 0.8 I$, $b = 0$ | the branch ends in $W_2 = 0$ | nothing |
# | two weights, **v2** | $W_1 = 0$, $b = 0$, $W_2 = 0.8 I$ | $\sigma(0) = 0$ | $\sigma(0) = 0$ |
# | one weight | $W = 0$, $b = 0$ | $\sigma(0) = 0$ | $\sigma(0) = 0$ |
#
# Let $s = \sigma(x W_1^\top + b)$, so the branch is $h\, s W_2^\top$; the gradient at the
# block's output is $d$ (section 2).
#
# **v1.** $\partial\ell/\partial W_2 = h\, d^\top s = h\, d^\top \sigma(0.8\,x)$. Behind $W_2$
# the gradient is $\partial\ell/\partial s = h\, d\, W_2 = 0$, so
# $\partial\ell/\partial W_1 = 0$ and $\partial\ell/\partial b = 0$: **the score uses $W_2$.**
# (With $W_1 = 0$ instead of $0.8 I$, $s = \sigma(0)$ would vanish for tanh and so would
# the multiplier: that is why v1 starts $W_1$ at a scaled identity.)
#
# **v2.** $\partial\ell/\partial s = h\, d\, W_2 = 0.8\, h\, d$; through $\sigma$ at $0$,
# $\partial\ell/\partial(\text{pre-activation}) = 0.8\, h\, \sigma'(0)\, d$, hence
#
# $$\frac{\partial \ell}{\partial W_1} = 0.8\, h\, \sigma'(0)\, d^\top x, \qquad
#   \frac{\partial \ell}{\partial b} = 0.8\, h\, \sigma'(0) \sum_n d_n,$$
#
# $$\frac{\partial \ell}{\partial W_2} = h\, d^\top \sigma(0) = 0 .$$
#
# **The score uses $W_1$.** **One weight:** the same without the 0.8:
# $\partial\ell/\partial W = h\,\sigma'(0)\, d^\top x$, $\partial\ell/\partial b = h\,\sigma'(0)\sum_n d_n$.
#
# For tanh, $\sigma'(0) = 1$. For ReLU, $\sigma'(0) = 0$: **v2 and one-weight ReLU blocks have
# zero multipliers** — a property of the formula, not a bug (more on it below).

# %%
ACTIVATIONS = {"tanh": (np.tanh, 1.0), "relu": (lambda v: np.maximum(v, 0.0), 0.0)}  # sigma, sigma'(0)


def residual_multipliers(x, d, weights, variant, h, activation):
    sigma, slope = ACTIVATIONS[activation]
    width = x.shape[1]
    if weights == 2 and variant == "v1":
        return {
            "inner.weight": np.zeros((width, width)),
            "inner.bias": np.zeros(width),
            "outer.weight": h * d.T @ sigma(0.8 * x),
        }
    scale = h * slope * (0.8 if weights == 2 else 1.0)
    grads = {"inner.weight": scale * d.T @ x, "inner.bias": scale * d.sum(axis=0)}
    if weights == 2:
        grads["outer.weight"] = np.zeros((width, width))
    return grads


FORMS = [(2, "v1"), (2, "v2"), (1, "v1")]  # (weights, variant); one-weight blocks ignore the variant

# %% [markdown]
# The test network: a Dense + tanh layer of width 4 and the output layer. Its one residual
# site is after the tanh (position 2); `candidate_sites(kind="residual_dense", ...)` describes
# the new block. We check our formula against the package's, against autograd on the extended
# network, and against **central** differences: with tanh everything is smooth at the
# identity, so no one-sided difference is needed.

# %%
model_res = nn.Sequential(nn.Dense(3, 4), nn.Tanh(), nn.Dense(4, 3))
x_site, d_site = capture(model_res, 2)


def residual_site(weights, variant, activation, h=0.5):
    return sensli.candidate_sites(
        model_res, kind="residual_dense", weights=weights, variant=variant, activation=activation, h=h
    )[0]


def fd_multipliers(model, site, inputs, mode, eps=1e-6):
    """Finite differences of the loss of the extended network w.r.t. the virtual parameters."""
    ext, virtual_per_site = sensli.extended_model(model, [site])
    names, tensors = zip(*virtual_per_site[0][0].named_parameters())  # the first module of the site's layer
    numeric = ms.numerical_gradients(
        lambda *_: F.cross_entropy(ext(inputs), y_in), list(tensors), np.float64(1.0), eps=eps, mode=mode
    )
    return dict(zip(names, numeric))


# %%
for weights, variant in FORMS:
    site = residual_site(weights, variant, "tanh")
    ours = residual_multipliers(x_site, d_site, weights, variant, site.h, "tanh")
    package = sensli.residual_dense_multipliers(x_site, d_site, site)
    auto = sensli.sensitivities(model_res, loader, method="autograd", sites=[site])[0].multipliers
    numeric = fd_multipliers(model_res, site, x_in, "central")
    assert set(ours) == set(package) == set(auto) == set(numeric)
    for name in ours:
        np.testing.assert_allclose(ours[name], package[name], rtol=1e-12, atol=1e-18)
        np.testing.assert_allclose(auto[name], ours[name], rtol=1e-10, atol=1e-16)
        np.testing.assert_allclose(numeric[name], ours[name], rtol=1e-5, atol=1e-9)
    scored = site.scored_parameter
    print(
        f"{weights} weight(s) {variant if weights == 2 else '  '}: scored {scored:12s} "
        f"||G||^2 = {(ours[scored] ** 2).sum():.4e}; three ways agree"
    )

# %% [markdown]
# ### ReLU blocks: zero multipliers, but not a flat loss
#
# With ReLU, v1 still works ($\operatorname{relu}(0.8\,x)$ is not zero), while v2 and the
# one-weight block get exactly zero multipliers from both the formula and autograd. Does the
# loss really not change? Finite differences say otherwise. At $W = 0$, $b = 0$ the
# pre-activation is exactly 0 for every sample, the kink of the ReLU. Moving $W_{ij}$ by
# $\pm\varepsilon$ gives $z_{ni} = \pm\varepsilon\, x_{nj}$, positive for the samples where
# $x_{nj}$ has the sign of the move — and after a tanh, $x$ has both signs. So the loss
# changes to first order whichever way $W_{ij}$ moves: *no* one-sided difference matches
# the zero, unlike the Dense site where $a \ge 0$ made the backward difference exact.
# Only for the bias $b$ does moving down keep every unit off (backward difference $= 0$).

# %%
for weights, variant in FORMS:
    site = residual_site(weights, variant, "relu")
    ours = residual_multipliers(x_site, d_site, weights, variant, site.h, "relu")
    auto = sensli.sensitivities(model_res, loader, method="autograd", sites=[site])[0]
    scored = site.scored_parameter
    np.testing.assert_allclose(auto.multipliers[scored], ours[scored], rtol=1e-10, atol=1e-16)
    slopes = {
        mode: np.abs(fd_multipliers(model_res, site, x_in, mode)[scored]).max() for mode in ("backward", "forward")
    }
    print(
        f"relu, {weights} weight(s) {variant if weights == 2 else '  '}: score {auto.score:.2e}; "
        f"max |finite difference| of {scored}: backward {slopes['backward']:.1e}, forward {slopes['forward']:.1e}"
    )
    if scored == "inner.weight":
        assert auto.score == 0.0 and min(slopes.values()) > 1e-3
bias_fd = fd_multipliers(model_res, residual_site(1, "v1", "relu"), x_in, "backward")["inner.bias"]
assert np.abs(bias_fd).max() < 1e-8

# %% [markdown]
# So "zero sensitivity" for ReLU v2 and one-weight blocks is what the convention
# $\operatorname{relu}'(0) = 0$ yields at a point where *every* unit sits on its kink; the
# reference implementation and the paper use tanh for these forms ($\sigma'(0) = 1$).
# A sigmoid is worse: $\sigma(0) = \tfrac12 \ne 0$, so v2 and one-weight sigmoid blocks are not
# even the identity, and the package refuses them:

# %%
try:
    sensli.virtual_modules(residual_site(2, "v2", "sigmoid"), "float64")
except ValueError as err:
    print("package:", err)

# %% [markdown]
# ## 4. Conv2d after Conv2d + ReLU
#
# In a CNN the virtual layer is a 3×3 convolution with $C \to C$ channels, padding 1, the
# **dirac kernel** $K_{oipq} = \mathbb 1[o = i]\,\mathbb 1[p = q = 1]$ and zero bias, followed by a
# ReLU. The centre tap copies channel $i$ to channel $i$; the other taps are zero, so the
# zero padding never mixes in anything; and the input is a ReLU output, $\ge 0$. With
# $g = d \odot \mathbb 1[a > 0]$ and the cross-correlation
# $z_{noyx} = \sum_{i,p,q} K_{oipq}\, a^{\text{pad}}_{n,i,y+p,x+q} + c_o$ (chapter 4),
#
# $$\frac{\partial \ell}{\partial K_{oipq}} = \sum_{n,y,x} g_{noyx}\; a^{\text{pad}}_{n,i,y+p,x+q},
#   \qquad \frac{\partial \ell}{\partial c_o} = \sum_{n,y,x} g_{noyx} :$$
#
# the Dense formula $(d \odot m)^\top a$ with the sum over samples extended to samples *and*
# pixels, once per tap $(p, q)$. It is a **correlation** of the padded input with $g$ (no
# kernel flip), and the padding matters: the taps at the border read zeros.
#
# The test CNN: two Conv + ReLU stages with 3 channels on 4×4 images, a max-pool and a
# Dense classifier; two candidate sites.

# %%
model_cnn = nn.Sequential(
    nn.Conv2d(2, 3, 3, padding=1),
    nn.ReLU(),
    nn.Conv2d(3, 3, 3, padding=1),
    nn.ReLU(),
    nn.MaxPool2d(2),
    nn.Flatten(),
    nn.Dense(12, 3),
)
images = rng.standard_normal((12, 2, 4, 4))
x_img = ms.Tensor(images)
loader_img = data.DataLoader(data.TensorDataset(images, Y), batch_size=12)
print(sensli.candidate_sites(model_cnn))

dirac = np.zeros((3, 3, 3, 3))
dirac[np.arange(3), np.arange(3), 1, 1] = 1.0
a_img, d_img = capture(model_cnn, 2, x_img)
with ms.no_grad():
    copied = F.relu(F.conv2d(ms.Tensor(a_img), ms.Tensor(dirac), ms.Tensor(np.zeros(3)), padding=1)).data
assert np.array_equal(copied, a_img)
print("dirac 3x3 conv + ReLU reproduces the activation exactly; inactive entries:", int((a_img == 0).sum()))


# %%
def correlate3x3(a, g):
    """sum_{n,y,x} g[n, o, y, x] * a_pad[n, i, y + p, x + q] -> (O, C, 3, 3), padding 1."""
    a_pad = np.pad(a, ((0, 0), (0, 0), (1, 1), (1, 1)))
    height, width = a.shape[2:]
    out = np.zeros((g.shape[1], a.shape[1], 3, 3))
    for p in range(3):
        for q in range(3):
            out[:, :, p, q] = np.einsum("noyx,niyx->oi", g, a_pad[:, :, p : p + height, q : q + width])
    return out


def conv_multipliers(a, d):
    g = d * (a > 0)
    return {"weight": correlate3x3(a, g), "bias": g.sum(axis=(0, 2, 3))}


# %% [markdown]
# The three checks for the first conv site. Finite differences are **backward** ones, for the
# reason of section 1 (the dirac layer's ReLU sits on kinks wherever $a = 0$); the central
# ones are printed to show the mismatch once more.

# %%
site_conv = sensli.candidate_sites(model_cnn)[0]
ours = conv_multipliers(a_img, d_img)
package = sensli.conv_multipliers(a_img, d_img)
auto = sensli.sensitivities(model_cnn, loader_img, method="autograd")[0].multipliers
backward_fd = fd_multipliers(model_cnn, site_conv, x_img, "backward", eps=1e-7)
central_fd = fd_multipliers(model_cnn, site_conv, x_img, "central", eps=1e-7)
for name in ("weight", "bias"):
    np.testing.assert_allclose(package[name], ours[name], rtol=1e-12, atol=1e-18)
    np.testing.assert_allclose(auto[name], ours[name], rtol=1e-10, atol=1e-16)
    np.testing.assert_allclose(backward_fd[name], ours[name], rtol=1e-5, atol=1e-8)
print(
    f"kernel multiplier: |closed form| max {np.abs(ours['weight']).max():.3e}; "
    f"central difference off by up to {np.abs(central_fd['weight'] - ours['weight']).max():.1e}"
)
assert np.abs(central_fd["weight"] - ours["weight"]).max() > 1e-4

# %% [markdown]
# **Convolutional residual blocks** use 3×3 "same" convolutions for $W_1$, $W_2$ (and $W$),
# with $0.8$ times the dirac kernel where the dense blocks use $0.8 I$. Every outer product
# $d^\top v$ of section 3 becomes the correlation of $v$ with $d$: v1,
# $\partial\ell/\partial W_2 = h\,\operatorname{corr}(\sigma(0.8\,x), d)$; v2,
# $\partial\ell/\partial W_1 = 0.8\,h\,\sigma'(0)\operatorname{corr}(x, d)$; one weight,
# $\partial\ell/\partial W = h\,\sigma'(0)\operatorname{corr}(x, d)$. (For v1, $0.8\,$dirac
# maps $x$ to $0.8\,x$ pixel by pixel, so $s = \sigma(0.8\,x)$ as before.) Checked with our
# `correlate3x3`, the package and autograd, on a tanh CNN, and by central differences (smooth).

# %%
model_rc = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.Tanh(), nn.MaxPool2d(2), nn.Flatten(), nn.Dense(12, 3))
x_rc, d_rc = capture(model_rc, 2, x_img)
for weights, variant in FORMS:
    site = sensli.candidate_sites(model_rc, kind="residual_conv", weights=weights, variant=variant, h=0.5)[0]
    if weights == 2 and variant == "v1":
        ours_scored = site.h * correlate3x3(np.tanh(0.8 * x_rc), d_rc)
    else:
        ours_scored = site.h * (0.8 if weights == 2 else 1.0) * correlate3x3(x_rc, d_rc)
    name = site.scored_parameter
    package = sensli.residual_conv_multipliers(x_rc, d_rc, site)[name]
    auto = sensli.sensitivities(model_rc, loader_img, method="autograd", sites=[site])[0].multipliers[name]
    ext, virtual_per_site = sensli.extended_model(model_rc, [site])
    scored_param = dict(virtual_per_site[0][0].named_parameters())[name]
    numeric = ms.numerical_gradients(lambda *_: F.cross_entropy(ext(x_img), y_in), [scored_param], np.float64(1.0))[0]
    for other in (package, auto, numeric):
        np.testing.assert_allclose(other, ours_scored, rtol=1e-5 if other is numeric else 1e-10, atol=1e-10)
    print(f"residual_conv, {weights} weight(s) {variant if weights == 2 else '  '}: {name} agrees three ways")

# %% [markdown]
# ## 5. What the closed form saves
#
# Autograd on the extended network runs every virtual layer forward and backward: per Dense
# site a width × width product forward, and two backward (input and weight gradient); per
# conv site a full $C \to C$ 3×3 convolution each way. The closed form runs the original
# network once forward and once backward and then, per site, one product (Dense) or one
# im2col GEMM (conv). The package's `sensitivities` does both; we time them on a Dense net
# with three sites and a CNN with two sites (best of three, since the machine is shared).


# %%
def best_time(model, loader, method, repeats=3):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        sensli.sensitivities(model, loader, method=method)
        times.append(time.perf_counter() - start)
    return min(times)


ms.manual_seed(1)
spirals = data.spirals()
dense_net = nn.Sequential(
    nn.Dense(2, 64), nn.ReLU(), nn.Dense(64, 64), nn.ReLU(), nn.Dense(64, 64), nn.ReLU(), nn.Dense(64, 2)
)
dense_loader = data.DataLoader(spirals.train, batch_size=45)
cnn = nn.Sequential(
    nn.Conv2d(1, 4, 3, padding=1),
    nn.ReLU(),
    nn.MaxPool2d(2),
    nn.Conv2d(4, 8, 3, padding=1),
    nn.ReLU(),
    nn.MaxPool2d(2),
    nn.Flatten(),
    nn.Dense(8 * 4, 10),
)
cnn_loader = data.DataLoader(
    data.TensorDataset(rng.standard_normal((32, 1, 8, 8)), rng.integers(0, 10, 32)), batch_size=16
)

# %%
for label, net, net_loader in (("Dense, 3 sites", dense_net, dense_loader), ("CNN, 2 sites", cnn, cnn_loader)):
    closed, auto = best_time(net, net_loader, "closed_form"), best_time(net, net_loader, "autograd")
    print(
        f"{label}: closed form {1e3 * closed:.1f} ms, autograd {1e3 * auto:.1f} ms, "
        f"ratio autograd/closed {auto / closed:.2f}"
    )

# %% [markdown]
# The ratio is modest for these small nets, because much of either pass is the original
# network's own forward and backward pass and Python overhead; it grows with the number and
# width of the sites, since autograd's extra work is one full layer per site. More important
# than speed: the two passes are *independent* computations of the same numbers, so each
# checks the other (the package's tests compare them to $10^{-10}$).
#
# ## Summary
#
# - Every virtual layer is the identity by construction: Dense $V = I$ and conv dirac kernels
#   after a ReLU (because $a \ge 0$); residual blocks with a zero branch (v1: $W_2 = 0$;
#   v2 and one weight: need $\sigma(0) = 0$). Dense after tanh is not the identity.
# - Multipliers in closed form, with $d$ the gradient at the site in the original network:
#   Dense $(d \odot m)^\top a$; conv the correlation of the padded input with $d \odot m$;
#   residual v1 $h\, d^\top \sigma(0.8\,x)$ for $W_2$; v2 $0.8\,h\,\sigma'(0)\, d^\top x$ for $W_1$;
#   one weight $h\,\sigma'(0)\, d^\top x$.
# - One forward and one backward pass of the original network give $x$ and $d$ for every
#   site at once, because identity layers change neither values nor gradients.
# - Checked three ways: closed form = autograd (to round-off) = finite differences, which must
#   be **backward** differences at ReLU kinks (central ones are off by half the switch-on
#   slope). ReLU v2/one-weight blocks have zero multipliers by the $\operatorname{relu}'(0) = 0$
#   convention, though the loss is not flat there.
#
# ## Exercises
#
# ### Exercise 1: the v2 multipliers for any activation and any outer weight (3 points)
#
# Section 3 derived the v2 multipliers for $W_2 = 0.8 I$ and tanh. Redo the derivation for the
# two-weight block $y = x + h\,\sigma(x W_1^\top + b)\,W_2^\top$ at $W_1 = 0$, $b = 0$ with
# **any** outer weight $W_2$ (a (w, w) matrix, not symmetric) and **any** smooth activation with
# $\sigma(0) = 0$, whose slope $\sigma'(0)$ need not be 1. Write
# `v2_multipliers(x, d, h, W2, sigma)`: `x` (N, w) is the block's input, `d` (N, w) the
# gradient at its output, `h` a float, `sigma` a NumPy function (the checker uses, among
# others, $3\tanh(z/2)$, $\sin 2z$ and $\arctan(z)/2$). Return the tuple
# `(dW1, db)` of $\partial\ell/\partial W_1$ (w, w) and $\partial\ell/\partial b$ (w,).
# Where the chapter wrote $0.8\,d$, decide whether the general form is $d\,W_2$ or
# $d\,W_2^\top$, and get $\sigma'(0)$ from `sigma` (on paper for the examples, or numerically:
# `sigma` is smooth, so a central difference is fine here).


# %%
def v2_multipliers(x, d, h, W2, sigma):
    """(N, w), (N, w), float, (w, w), callable -> (dl/dW1 (w, w), dl/db (w,)) at W1 = 0, b = 0."""
    raise NotImplementedError  # your code here


check("ch07.v2_multipliers", v2_multipliers)


# %% tags=["solution", "hide-input"]
def v2_multipliers(x, d, h, W2, sigma):
    eps = 1e-5
    slope0 = (sigma(np.float64(eps)) - sigma(np.float64(-eps))) / (2 * eps)  # sigma'(0)
    # branch h s W2^T with s = sigma(z): dl/ds = h d W2 (rows = samples); at z = 0, dl/dz = sigma'(0) dl/ds
    g = slope0 * h * (d @ W2)
    return g.T @ x, g.sum(axis=0)


check("ch07.v2_multipliers", v2_multipliers)
# the package's v2 site (W2 = 0.8 I, tanh) is the special case
site_v2 = residual_site(2, "v2", "tanh")
ours_v2 = v2_multipliers(x_site, d_site, site_v2.h, 0.8 * np.eye(4), np.tanh)
np.testing.assert_allclose(ours_v2[0], sensli.residual_dense_multipliers(x_site, d_site, site_v2)["inner.weight"])

# %% [markdown]
# ### Exercise 2: the slope a zero multiplier hides (3 points)
#
# The one-weight ReLU block $y = x + h\,\operatorname{relu}(x W^\top + b)$ at $W = 0$, $b = 0$
# has multiplier exactly zero (section 3), yet the finite differences there moved. Write
# `relu_block_slope(x, d, h, D, e)` returning the one-sided directional derivative
#
# $$\lim_{t \to 0^+} \frac{\ell(tD,\ t e) - \ell(0, 0)}{t}$$
#
# as a float: `x` (N, w) the block's input (after a tanh, so of both signs), `d` (N, w) the
# gradient at its output, `h` a float, `D` (w, w) and `e` (w,) the direction. Every unit sits on
# the kink at $t = 0$; work out which ones a small step $t > 0$ switches on and what they add.
# (Compare with a central difference: which of the two does autograd's zero resemble?)


# %%
def relu_block_slope(x, d, h, D, e):
    """(N, w), (N, w), float, (w, w), (w,) -> the one-sided directional derivative at W = 0, b = 0."""
    raise NotImplementedError  # your code here


check("ch07.relu_block_slope", relu_block_slope)


# %% tags=["solution", "hide-input"]
def relu_block_slope(x, d, h, D, e):
    # the pre-activation is t (x D^T + e): for t > 0 a unit is on exactly where x D^T + e > 0,
    # and then adds h t (x D^T + e) to the output
    switched_on = np.maximum(x @ D.T + e, 0.0)
    return float(h * (d * switched_on).sum())


check("ch07.relu_block_slope", relu_block_slope)


# %% [markdown]
# ### Exercise 3: a 1×1 virtual convolution (2 points)
#
# A cheaper virtual layer for a CNN: a **1×1** convolution with $C \to C$ channels (no padding
# needed), kernel $K_{oi00} = \mathbb 1[o = i]$ and zero bias, followed by a ReLU, inserted after a
# Conv + ReLU. Derive its multipliers from the 3×3 formula of section 4 (which taps are left, and
# what happens to the padding?) and write `conv1x1_multipliers(a, d)`: `a` (N, C, H, W) is the ReLU
# output entering the site (some entries exactly 0), `d` (N, C, H, W) the gradient of the
# batch-mean loss w.r.t. it. Return the tuple `(dK, dc)`, shapes (C, C, 1, 1) and (C,), with
# $\operatorname{relu}'(0) = 0$. The checker compares with autograd through `F.conv2d`.


# %%
def conv1x1_multipliers(a, d):
    """(N, C, H, W), (N, C, H, W) -> (dl/dK (C, C, 1, 1), dl/dc (C,)) at the dirac 1x1 kernel."""
    raise NotImplementedError  # your code here


check("ch07.conv1x1_multipliers", conv1x1_multipliers)


# %% tags=["solution", "hide-input"]
def conv1x1_multipliers(a, d):
    # one tap, at offset 0: the 3x3 formula's sum over pixels with p = q = 0 and no padding;
    # at the identity the virtual ReLU passes d where a > 0 and blocks it where a = 0
    passed = d * (a > 0)
    n, c, height, width = a.shape
    per_pixel = passed.transpose(1, 0, 2, 3).reshape(c, -1)  # (C, N H W): one column per sample and pixel
    inputs = a.transpose(1, 0, 2, 3).reshape(c, -1)
    return (per_pixel @ inputs.T)[:, :, None, None], per_pixel.sum(axis=1)


check("ch07.conv1x1_multipliers", conv1x1_multipliers)


# %% [markdown]
# ## Open questions
#
# 1. At ReLU v2 and one-weight blocks the multiplier is zero while the one-sided slopes are
#    not. Would a score built from one-sided directional derivatives (the largest decrease
#    over directions that switch units on) rank sites differently, and is it worth its cost?
# 2. The Dense virtual bias multiplier equals the existing bias gradient of the layer before
#    the site. Which other parts of a multiplier can the *existing* network already realise
#    without a new layer, and should a score subtract them?
