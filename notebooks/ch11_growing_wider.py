# %% [markdown]
# # Chapter 11 — Growing wider: width sites, GradMax, and a head-to-head study
#
# *Reading time: about 25 min; exercises: about 45 min.*
#
# SensLI grows a network **deeper**: it inserts a layer where the multiplier of "this layer is
# the identity" is largest. Almost every other growth method grows it **wider**: Net2Net's
# Net2WiderNet, neuron splitting, Firefly, GradMax. The constrained-optimisation view of
# chapter 6 covers both. This capstone chapter derives the width multiplier, derives the
# GradMax choice of the new units' fan-in, implements a width site end to end (multiplier,
# checks against autograd and finite differences, function-preserving insertion, a growth
# step), and then runs a small head-to-head study of depth against width and reads it with the
# paired statistics of chapter 9.
#
# **Prerequisites:** chapters 6 (multipliers are gradients at the feasible point), 7 (closed
# forms, checked three ways), 8 (sites, `sensitivities`, `grow`) and 9 (seeds and paired
# comparisons). **Package modules:** `minisensli/sensli/widening.py`, `fan_in.py`,
# `closed_form.width_multipliers`, `norms.py` (`"per_parameter"`), and
# `minisensli/experiments/width_study.py` for the full 30-seed study (README).

# %%
import matplotlib.pyplot as plt
import numpy as np
from scipy import stats

import minisensli as ms
from minisensli import data, nn, sensli
from minisensli.exercises import check

ms.set_default_dtype("float64")
split = data.spirals()
train = data.DataLoader(split.train, batch_size=450)  # full batch, as the paper
test = data.DataLoader(split.test, batch_size=150)
ms.manual_seed(0)
net = nn.Sequential(nn.Dense(2, 5), nn.ReLU(), nn.Dense(5, 2))  # the 2-5-2 start of Exp2
print(net)

# %% [markdown]
# ## 1. A width site and why it changes nothing
#
# Take a hidden Dense layer $W_1$ (width $w$) with activation $\sigma$, followed by a Dense
# layer $W_2$ (out × $w$). Add $k$ units: fan-in $U$ ($k$ × in), bias $c$ and fan-out $V$
# (out × $k$), i.e. $k$ new rows of $W_1$ and $b_1$, and $k$ new columns of $W_2$. With rows of
# samples, the next layer's output becomes
#
# $$y = \sigma(x W_1^\top + b_1)\, W_2^\top + b_2 \;+\; \sigma(x U^\top + c)\, V^\top .$$
#
# At $V = 0$ the last term is zero **whatever $U$, $c$ and $\sigma$ are**. A depth insertion
# needed an exact identity (ReLU after ReLU, chapter 7); a width insertion needs nothing. The
# virtual parameters are $(U, c, V)$ held at $(U_0, c_0, 0)$, and the choice of $U_0, c_0$ is
# free: it is a *family* of feasible points, each with its own multiplier.
#
# By hand, with NumPy, then with the package:

# %%
x = split.train.arrays[0][:7]
k = 3
rng = np.random.default_rng(1)
u0, c0 = rng.uniform(-0.7, 0.7, (k, 2)), rng.uniform(-0.7, 0.7, k)
w1, b1, w2, b2 = net[0].weight.data, net[0].bias.data, net[2].weight.data, net[2].bias.data
hidden = np.maximum(x @ np.vstack([w1, u0]).T + np.concatenate([b1, c0]), 0)  # w + k units
by_hand = hidden @ np.hstack([w2, np.zeros((2, k))]).T + b2
site = sensli.candidate_sites(net, kind="width", neurons=k)[0]
wider = sensli.insert(net, site, {"fan_in": u0, "fan_in_bias": c0})
print(site, "->", wider[0], wider[2])
print("max |difference| by hand:", np.abs(by_hand - net(ms.Tensor(x)).data).max())
print("max |difference| package:", np.abs(wider(ms.Tensor(x)).data - net(ms.Tensor(x)).data).max())

# %% [markdown]
# ## 2. The multiplier, derived and checked three ways
#
# Let $g = \partial \ell / \partial y$, the gradient at the next layer's output (it carries the
# $1/N$ of the mean loss) and $a = \sigma(x U^\top + c)$ ($N \times k$). Since
# $y_{no} \mathrel{+}= \sum_j V_{oj} a_{nj}$,
#
# $$\frac{\partial \ell}{\partial V} = g^\top a \quad (\text{out} \times k), \qquad
# \frac{\partial \ell}{\partial U} = \big((g V) \odot \sigma'(\cdot)\big)^\top x = 0, \qquad
# \frac{\partial \ell}{\partial c} = 0 .$$
#
# $V = 0$ cuts every path from $U$ and $c$ to the loss. As for a depth site, $g$ comes from
# one forward and backward pass of the **original** network. Check it against autograd on the
# widened network and against finite differences. The loss is smooth in $V$ at $V = 0$ ($V$
# enters linearly before the next activation), so central differences apply here; for a depth
# site chapter 7 needed one-sided ones at the ReLU kinks.

# %%
inputs, labels = next(iter(train))
h = net[0:2](inputs)  # x is the input of layer 0; we need g at the output of layer 2
out = net[2](h).detach().requires_grad_()
nn.CrossEntropyLoss()(out, labels).backward()
g, x_all = out.grad, inputs.data
closed = g.T @ np.maximum(x_all @ u0.T + c0, 0)

widened = sensli.insert(net, site, {"fan_in": u0, "fan_in_bias": c0})
widened.zero_grad()
nn.CrossEntropyLoss()(widened(inputs), labels).backward()
auto = widened[2].weight.grad[:, -k:]


def loss_at(v):
    trial = widened.copy()
    trial[2].weight.data[:, -k:] = v
    return float(nn.CrossEntropyLoss()(trial(inputs), labels).data)


eps, numeric = 1e-6, np.zeros_like(closed)
for index in np.ndindex(*closed.shape):
    step = np.zeros_like(closed)
    step[index] = eps
    numeric[index] = (loss_at(step) - loss_at(-step)) / (2 * eps)
print("closed form vs autograd:", np.abs(closed - auto).max())
print("closed form vs central differences:", np.abs(closed - numeric).max())
print("fan-in gradient at V = 0:", np.abs(widened[0].weight.grad[-k:]).max())
package = sensli.sensitivities(net, train, sites=[site], fan_in_seed=0)[0]
print(package)

# %% [markdown]
# ## 3. Which fan-in? GradMax
#
# The multiplier depends on $U$. GradMax (Evci et al., ICLR 2022) picks $U$ to make it as
# large as possible: the new units then start where the loss is most sensitive to them.
# Take $c = 0$ and pretend $\sigma$ is linear with slope 1 near 0 (small new units). Then
# $\sigma(x U^\top) \approx x U^\top$ and
#
# $$\frac{\partial \ell}{\partial V} \approx g^\top x\, U^\top = M U^\top,
# \qquad M = g^\top x \ (\text{out} \times \text{in}).$$
#
# Bound $U$ by orthogonal rows of norm $s$, $U U^\top = s^2 I$. With $U = sP$ (orthonormal rows),
# $\lVert M U^\top \rVert_F^2 = s^2 \operatorname{tr}(P M^\top M P^\top) \le s^2(\sigma_1^2 + \dots + \sigma_k^2)$
# (Ky Fan), with equality at the **top-$k$ right singular vectors** of $M$. Without the
# orthogonality, all rows would point along $v_1$: $k$ copies of one unit, which get
# identical updates forever. $M$ has rank at most $\min(\text{in}, \text{out})$, so at most that
# many directions carry any gain. The package uses $\min(k, \text{in}, \text{out})$ singular
# directions and gives any further units the random fan-in.
#
# **Where ReLU differs.** $\operatorname{relu}(xU^\top)$ is not linear in $U$. What is exact:
# $\operatorname{relu}(z) - \operatorname{relu}(-z) = z$, so with $a(u) = g^\top \operatorname{relu}(x u)$,
# the exact multiplier of one unit, $M u = a(u) - a(-u)$. The singular directions maximise the
# multiplier of the *pair* $(v, -v)$ exactly; one unit gets one of the two, and the package
# keeps the sign with the larger exact multiplier, which is at least $\lVert M v\rVert/2$.

# %%
m = g.T @ x_all
_, sigma, vt = np.linalg.svd(m)
s = 1 / np.sqrt(3)  # the expected row norm of the layer's own initialisation
for u in (vt[0], -vt[0], vt[1]):
    a_plus, a_minus = g.T @ np.maximum(x_all @ (s * u), 0), g.T @ np.maximum(-x_all @ (s * u), 0)
    print(
        f"||M u|| = {np.linalg.norm(m @ (s * u)):.3e}   ||a(u) - a(-u) - M u|| = "
        f"{np.linalg.norm(a_plus - a_minus - m @ (s * u)):.1e}   ||a(u)|| = {np.linalg.norm(a_plus):.3e}"
    )
gradmax_site = sensli.candidate_sites(net, kind="width", neurons=k, fan_in="gradmax")[0]
chosen = sensli.sensitivities(net, train, sites=[gradmax_site])[0]
print("package's first two rows (up to sign) = s v_1, s v_2:")
print(np.round(chosen.values["fan_in"][:2], 6), "\n", np.round(s * vt[:2], 6))
directions = np.random.default_rng(0).standard_normal((2000, 2))
directions = s * directions / np.linalg.norm(directions, axis=1, keepdims=True)
print(
    f"one unit, ||M u||^2: gradmax s^2 sigma_1^2 = {s**2 * sigma[0] ** 2:.4e}, best of 2000 random directions "
    f"{max(np.linalg.norm(m @ d) ** 2 for d in directions):.4e}"
)
basis = np.linalg.qr(np.random.default_rng(1).standard_normal((2, 2)))[0]
print(
    f"two units, ||M U^T||^2: gradmax {s**2 * (sigma[:2] ** 2).sum():.4e}, a random orthogonal pair "
    f"{np.linalg.norm(m @ (s * basis).T) ** 2:.4e}"
)

# %% [markdown]
# No direction beats $v_1$, and a second unit adds nothing to the surrogate: $\sigma_2 = 0$ (the
# third line above: $\lVert M v_2\rVert \approx 10^{-18}$). With two classes the softmax gradient
# has $g_{n,1} = -g_{n,0}$ for every sample, so $M = g^\top x$ has rank one. Whenever $k$ exceeds
# the rank, the surrogate cannot rank the further directions (with $k$ = in, every orthogonal
# $U$ gives the same value $s^2 \lVert M \rVert_F^2$). GradMax's choice matters most when $k$ is
# small against $\min(\text{in}, \text{out})$, as on the digits (in 64, out 10); on spirals its
# first unit, and the exact ReLU sign choice, are what distinguish it from a random fan-in.

# %% [markdown]
# ## 4. One growth step, and comparing depth with width
#
# A depth site adds $w^2 + w$ parameters, a width site $k(\text{in} + 1 + \text{out})$. Their
# multipliers' norms are not comparable as they stand. One gradient step of size $\eta$ on
# the freed parameters lowers the loss by about $\eta \lVert G \rVert^2$; `grow` with several
# kinds divides this predicted decrease by the number of added parameters (`"per_parameter"`).
# It does not change when hidden units are permuted (the multipliers permute with them). On
# the 2-5-2 net, $k = 6$ width units add $6 \cdot (2 + 1 + 2) = 30$ parameters, exactly the
# $5 \cdot 5 + 5$ of a depth insertion.

# %%
both = sensli.sensitivities(net, train, kinds=("dense", "width"), neurons=6, fan_in="gradmax")
print(both)
best = sensli.select(both, "abs max")
grown = sensli.insert(net, best.site, best.values)
print("inserted:", best.site, "| parameters", net.num_parameters(), "->", grown.num_parameters())
print("max |output difference|:", np.abs(grown(ms.Tensor(x)).data - net(ms.Tensor(x)).data).max())

# %% [markdown]
# ## 5. A head-to-head study, at reduced seeds
#
# Same start weights per seed, same data, same epochs: small net, depth only (SensLI), width
# only with random fan-in, width only with GradMax fan-in, and both kinds under
# `"per_parameter"`. A reduced budget (150 + 600 epochs, 6 seeds) keeps this chapter fast; the
# README reports the full study (30 seeds, 450 + 1,400 epochs, and the final architectures
# trained from scratch) with `minisensli run spirals-study-*` and
# `python -m minisensli.experiments.width_study`.

# %%
SEEDS = range(6)
VARIANTS = {
    "depth": {"kinds": ("dense",)},
    "width random": {"kinds": ("width",), "site_options": {"neurons": 6, "fan_in": "random"}},
    "width gradmax": {"kinds": ("width",), "site_options": {"neurons": 6, "fan_in": "gradmax"}},
    "both": {"kinds": ("dense", "width"), "site_options": {"neurons": 6, "fan_in": "gradmax"}},
}
final = {name: [] for name in ["small", *VARIANTS]}
curves = {name: [] for name in final}
for seed in SEEDS:
    ms.manual_seed(seed)
    start = nn.Sequential(nn.Dense(2, 5), nn.ReLU(), nn.Dense(5, 2))
    small = start.copy()
    history = ms.fit(small, train, ms.optim.SGD(small.parameters(), lr=0.2), 750, progress=False)
    final["small"].append(history.train_loss[-1])
    curves["small"].append(history.minibatch_losses)
    for name, options in VARIANTS.items():
        result = sensli.grow(start, train, epochs=[150, 600], lr=0.2, seed=seed, progress=False, **options)
        final[name].append(result.history.train_loss[-1])
        curves[name].append(result.minibatch_losses)
print({name: f"median final loss {np.median(values):.3f}" for name, values in final.items()})

# %%
fig, (ax_curve, ax_final) = plt.subplots(1, 2, figsize=(11, 3.8))
for i, (name, runs) in enumerate(curves.items()):
    ax_curve.plot(np.median(np.array(runs), axis=0), color=f"C{i}", label=name)
    ax_final.scatter(np.full(len(SEEDS), i), final[name], color=f"C{i}", s=12)
for seed in SEEDS:  # one line per seed: the pairing
    ax_final.plot(range(len(final)), [final[n][seed] for n in final], color="0.8", lw=0.8, zorder=0)
ax_curve.axvline(150, ls=":", color="k")
ax_curve.set(yscale="log", xlabel="iteration", ylabel="training loss (median over seeds)")
ax_curve.legend(fontsize=8)
ax_final.set_xticks(range(len(final)), list(final), rotation=20)
ax_final.set(yscale="log", ylabel="final training loss", title="each seed (grey: the same seed)")
fig.tight_layout()
plt.show()

# %% [markdown]
# Read it as chapter 9 taught: per seed, then paired. With 6 seeds the smallest two-sided
# Wilcoxon p is $2/2^6 \approx 0.031$: six wins out of six is the strongest possible evidence.


# %%
def paired(a, b):
    d = np.array(final[a]) - np.array(final[b])
    p = stats.wilcoxon(d).pvalue if np.any(d) else 1.0
    return f"{a:>13} vs {b:<13}: {np.sum(d < 0)} wins / {np.sum(d > 0)} losses, median {np.median(d):+.4f}, p {p:.3f}"


for a, b in [
    ("width random", "depth"),
    ("width gradmax", "depth"),
    ("width gradmax", "width random"),
    ("both", "depth"),
    ("depth", "small"),
    ("width gradmax", "small"),
]:
    print(paired(a, b))

# %% [markdown]
# What to take from six seeds: a direction at best. The study in the README repeats this with
# 30 seeds, the paper's epochs, and the digits FNN, and adds the final architectures trained
# from scratch; its tables, not these six seeds, are what the package's documentation claims.
#
# ## Summary
#
# - A width site adds $k$ units with fan-out $V = 0$: the function is unchanged for any fan-in
#   and any activation. Its multiplier is $\partial\ell/\partial V = g^\top \sigma(xU^\top + c)$,
#   with $g$ the gradient at the next layer's output, from one pass of the original network;
#   the fan-in's multipliers are zero at $V = 0$.
# - GradMax: under $UU^\top = s^2 I$, the linear surrogate $\lVert M U^\top\rVert_F$, $M = g^\top x$, is
#   maximised by the top-$k$ right singular vectors of $M$ (Ky Fan). For ReLU this maximises
#   exactly the multiplier of the pair $(v, -v)$; one unit keeps at least half of it.
# - Depth and width sites compete fairly under the predicted first-order loss decrease per
#   added parameter, a score that hidden-unit permutations leave unchanged.
#
# ## Exercises
#
# ### Exercise 1: widen the weights (2 points)
#
# Write `widen_weights(w1, b1, w2, u, c)`: the weights after adding
# the $k$ units of fan-in `u` ($k$ × in) and bias `c` to the layer `w1` ($w$ × in), `b1` ($w$),
# with fan-out zero into `w2` (out × $w$). Return `(w1_new, b1_new, w2_new)`, new units after
# the old ones.


# %%
def widen_weights(w1, b1, w2, u, c):
    """((w + k) x in, (w + k,), out x (w + k)): the old weights, then the new units."""
    raise NotImplementedError  # your code here


check("ch11.widen_weights", widen_weights)


# %% tags=["solution", "hide-input"]
def widen_weights(w1, b1, w2, u, c):
    v = np.zeros((w2.shape[0], u.shape[0]))
    return np.vstack([w1, u]), np.concatenate([b1, c]), np.hstack([w2, v])


check("ch11.widen_weights", widen_weights)

# %% [markdown]
# ### Exercise 2: the width multiplier (2 points)
#
# Write `width_multiplier(x, g, u, c)` for ReLU units: the
# averaged gradient $\partial\ell/\partial V$ (out × $k$) at $V = 0$, with `x` the widened
# layer's input ($N$ × in), `g` the gradient at the next layer's output ($N$ × out, already
# divided by $N$), `u` ($k$ × in), `c` ($k$).


# %%
def width_multiplier(x, g, u, c):
    """dl/dV at V = 0 (out x k)."""
    raise NotImplementedError  # your code here


check("ch11.width_multiplier", width_multiplier)


# %% tags=["solution", "hide-input"]
def width_multiplier(x, g, u, c):
    return g.T @ np.maximum(x @ u.T + c, 0)


check("ch11.width_multiplier", width_multiplier)

# %% [markdown]
# ### Exercise 3: the GradMax fan-in (3 points)
#
# Write `gradmax_fan_in(x, g, k, s)`: the fan-in $U$ ($k$ × in)
# with orthogonal rows of norm `s` that maximises $\lVert M U^\top \rVert_F$ for $M = g^\top x$
# ($k \le \min(\text{in}, \text{out})$). Any signs of the rows are accepted.


# %%
def gradmax_fan_in(x, g, k, s):
    """Rows: s times the top-k right singular vectors of g^T x."""
    raise NotImplementedError  # your code here


check("ch11.gradmax_fan_in", gradmax_fan_in)


# %% tags=["solution", "hide-input"]
def gradmax_fan_in(x, g, k, s):
    _, _, vt = np.linalg.svd(g.T @ x)
    return s * vt[:k]


check("ch11.gradmax_fan_in", gradmax_fan_in)

# %% [markdown]
# ## Open questions
#
# - For ReLU, GradMax maximises a surrogate. Could you maximise the exact ReLU multiplier
#   $\lVert g^\top \operatorname{relu}(XU^\top)\rVert$ over the sphere (it is not concave), and
#   would units chosen that way train better?
# - The per-parameter criterion compares one first-order step. A width insertion's $U$ starts
#   with zero gradient (it only moves once $V \ne 0$), a depth insertion's whole layer moves at
#   once. Which second-order effects does the criterion miss, and how would you measure them?
