# %% [markdown]
# # Chapter 8 — The insertion algorithm
#
# *Reading time: about 50 min; exercises: about 30 min.*
#
# Chapter 7 gave us, for every place where a layer *could* go, a Lagrange multiplier: the
# gradient of the loss with respect to the parameters of a virtual layer that sits there as the
# identity map. This chapter turns those multipliers into a decision and the decision into a
# bigger network. You will
#
# 1. list the **candidate sites** of a dense net, a ResNet and a small CNN, and read what a `Site` says;
# 2. insert a layer **without changing the network's function**: build the identity convolution by
#    hand, compare it with `sensli.insert`, and measure the change of the outputs for every site
#    kind (it must stay below $10^{-10}$ relative, in float64);
# 3. turn multipliers into **scores** — Frobenius squared and Frobenius squared per entry — and see
#    why the choice matters when sites differ in size (the spectral norm of a convolution, a third
#    choice, has its own optional appendix);
# 4. apply the **selection rules** (`"abs max"`, `"abs min"`, `"random"`, `"pos K"`, and a glimpse of
#    `"threshold"`);
# 5. do **one growth step by hand** on the spirals — train, score, select, insert, rebuild the
#    optimizer, train on — and then let `sensli.grow` do the same and check that it gets the very same numbers.
#
# **Prerequisites:** chapter 5 (training with `ms.fit`), chapter 6 (a Lagrange multiplier is
# the sensitivity of the optimal loss to a constraint), chapter 7 (virtual layers and their
# closed-form multipliers).
#
# **Package modules:** `minisensli.sensli.sites` (candidate sites), `.virtual` (identity values),
# `.insertion` (`insert`), `.sensitivity` and `.norms` (scores), `.selection` (`select`),
# `.growth` and `.plotting` (`grow`, `GrowthResult`).

# %%
import pathlib
import tempfile

import matplotlib.pyplot as plt
import numpy as np

import minisensli as ms
import minisensli.functional as F
from minisensli import data, nn, optim, sensli
from minisensli.exercises import check

ms.set_default_dtype("float64")

# %% [markdown]
# ## 1. Where can a layer go? Candidate sites
#
# All our models are `nn.Sequential` chains, so a place in the network is simply an index into
# the chain: a **site at position $p$** means "put the new modules in front of the module that is now
# at index $p$". Which positions qualify follows the SensLI reference code, and each rule has a reason:
#
# - **dense** (a plain feed-forward net): after every *hidden* `Dense` + ReLU pair. The new layer is
#   `Dense(w, w)` followed by ReLU. There is no site before the first hidden layer (the raw
#   inputs can be negative, and $\mathrm{relu}(x) \ne x$ there) and none after the output layer
#   (a ReLU would clip negative logits).
# - **residual_dense** (a ResNet): before every residual block and after the last one. A residual
#   block $x \mapsto x + h\,\sigma(x W_1^T + b) W_2^T$ is the identity as soon as $W_2 = 0$, whatever $\sigma$ is.
# - **conv** (a CNN): after every `Conv2d` + ReLU pair of the feature extractor (before its pooling),
#   none in the dense classifier. The new layer is a $3\times 3$ convolution with padding 1, then ReLU.
#
# Let us build one small model of each kind and ask `sensli.candidate_sites`.

# %%
ms.manual_seed(0)
cnn = nn.Sequential(
    nn.Conv2d(1, 2, 3, padding=1),
    nn.ReLU(),
    nn.MaxPool2d(2),
    nn.Conv2d(2, 6, 3, padding=1),
    nn.ReLU(),
    nn.MaxPool2d(2),
    nn.Flatten(),
    nn.Dense(24, 10),
)
mlp = nn.Sequential(nn.Dense(2, 4), nn.ReLU(), nn.Dense(4, 4), nn.ReLU(), nn.Dense(4, 2))
resnet = nn.Sequential(
    nn.Dense(2, 3),
    nn.Tanh(),
    nn.ResidualDense(3, activation="tanh"),
    nn.ResidualDense(3, activation="tanh"),
    nn.Dense(3, 2),
)

for name, net in [("mlp", mlp), ("resnet", resnet), ("cnn", cnn)]:
    print(f"{name}: {[f'{i}:{type(m).__name__}' for i, m in enumerate(net)]}")
    for site in sensli.candidate_sites(net):
        print(
            f"    {site.label:18s} width {site.width}  activation {site.activation:5s} "
            f"score from {site.scored_parameter!r}"
        )

assert [s.position for s in sensli.candidate_sites(mlp)] == [2, 4]  # after each hidden Dense + ReLU
assert [s.position for s in sensli.candidate_sites(resnet)] == [2, 3, 4]  # before each block, after the last
assert [s.position for s in sensli.candidate_sites(cnn)] == [2, 5]  # after each Conv + ReLU, before pooling

# %% [markdown]
# A `Site` is a small frozen record. `position` is where the new modules go, `kind` which
# virtual layer is used, `width` the number of features (or channels) at that point — the new layer is
# `width` $\to$ `width` — and `activation` the one the new layer uses. The residual kinds also carry the
# block's settings: `weights` (one- or two-weight block), the step size `h` and the `variant`
# (v1: outer weight $0$, inner $0.8 I$; v2: inner $0$, outer $0.8 I$). `scored_parameter` names the
# weight whose multiplier becomes the site's score: for v1 only $W_2$ (`outer.weight`) receives a
# gradient at the identity (everything behind $W_2 = 0$ is cut off, chapter 7); for v2 it is
# $W_1$ (`inner.weight`).
#
# Sites are refused where no identity exists. A dense layer after tanh cannot be inserted as
# the identity, because its output would be $\tanh(\tanh(z)) \ne \tanh(z)$; the same net can still
# grow residual blocks.

# %%
print(sensli.candidate_sites(resnet)[0])
print("v2 scores:", sensli.candidate_sites(resnet, variant="v2")[0].scored_parameter)

tanh_mlp = nn.Sequential(nn.Dense(2, 4), nn.Tanh(), nn.Dense(4, 2))
try:
    sensli.candidate_sites(tanh_mlp)
except ValueError as err:
    print("refused:", err)
z = np.linspace(-3, 3, 601)
print(f"max |tanh(tanh(z)) - tanh(z)| on [-3, 3]: {np.abs(np.tanh(np.tanh(z)) - np.tanh(z)).max():.3f}")
print("as a ResNet instead:", [s.label for s in sensli.candidate_sites(tanh_mlp, kind="residual_dense")])

# %% [markdown]
# ## 2. Inserting a layer without changing the function
#
# The new layer must start at values that make it the identity map on the inputs it will see —
# otherwise the insertion itself would throw away what the training achieved so far. For the
# plain kinds the input is a ReLU output, $a \ge 0$, and the new layer is a linear map
# followed by ReLU:
#
# - **dense:** $V = I$, $c = 0$ gives $\mathrm{relu}(a I^T + 0) = \mathrm{relu}(a) = a$;
# - **conv:** the *dirac* kernel $K[o, i, p, q] = 1$ if $o = i$ and $(p, q) = (1, 1)$ (the centre tap),
#   else $0$, with zero bias. With padding 1, output pixel $(y, x)$ of channel $o$ is
#   $\sum_{i,p,q} K[o,i,p,q]\, a_{\text{pad}}[i, y+p, x+q] = a_{\text{pad}}[o, y+1, x+1] = a[o, y, x]$:
#   the centre tap copies each channel, and the zero-padded border only ever meets zero weights;
# - **residual:** v1 sets $W_2 = 0$ so the branch vanishes, $x + h \cdot 0 = x$ (exact for any activation).
#
# The dense case needs nothing but `np.eye(width)` and zeros. Here we build the convolution by hand. `Sequential.with_inserted`
# puts modules into a chain; note that it *shares* the existing modules, so we copy the model first.


# %%
def dirac_kernel(channels):
    """(channels, channels, 3, 3): 1 at the centre tap of o == i, 0 elsewhere."""
    kernel = np.zeros((channels, channels, 3, 3))
    kernel[np.arange(channels), np.arange(channels), 1, 1] = 1.0
    return kernel


def insert_conv_by_hand(model, site):
    layer = nn.Conv2d(site.width, site.width, 3, padding=1)
    with ms.no_grad():
        layer.weight.data = dirac_kernel(site.width)
        layer.bias.data = np.zeros(site.width)
    return model.copy().with_inserted(site.position, layer, nn.ReLU())


images = ms.Tensor(np.random.default_rng(0).random((5, 1, 8, 8)))
for site in sensli.candidate_sites(cnn):
    mine, theirs = insert_conv_by_hand(cnn, site), sensli.insert(cnn, site)
    for (name, p), (name_pkg, q) in zip(mine.named_parameters(), theirs.named_parameters(), strict=True):
        assert name == name_pkg
        np.testing.assert_array_equal(p.data, q.data)
    np.testing.assert_array_equal(mine(images).data, cnn(images).data)
    print(f"{site.label}: {[type(m).__name__ for m in theirs]}")

# %% [markdown]
# Our hand-made insertion and `sensli.insert` agree parameter by parameter, and the outputs did
# not move at all. Now every site kind, on random inputs. We report the **max relative
# difference** $\max_j |f_{\text{new}}(x)_j - f(x)_j| \,/\, \max_j |f(x)_j|$ over all outputs of a batch.
# Expect exactly $0$ in most cases: multiplying by $1$ and adding products with $0$ are exact
# in floating point. The contract is $10^{-10}$ because a different summation order (a BLAS
# kernel, a GPU) may legitimately round differently. The residual forms include v2 and the
# one-weight block, which need $\sigma(0) = 0$ (true for tanh).


# %%
def max_relative_difference(new, old):
    return float(np.abs(new - old).max() / np.abs(old).max())


rng = np.random.default_rng(1)
points, pictures = ms.Tensor(rng.standard_normal((50, 2))), ms.Tensor(rng.random((20, 1, 8, 8)))
ms.manual_seed(1)
resconv = nn.Sequential(
    nn.Conv2d(1, 3, 3, padding=1), nn.ReLU(), nn.ResidualConv(3), nn.MaxPool2d(2), nn.Flatten(), nn.Dense(48, 10)
)
cases = [
    ("dense", mlp, points, {}),
    ("residual_dense v1", resnet, points, {}),
    ("residual_dense v2", resnet, points, {"variant": "v2"}),
    ("residual_dense 1 weight", resnet, points, {"weights": 1}),
    ("conv", cnn, pictures, {}),
    ("residual_conv v1", resconv, pictures, {}),
]
for name, net, x, options in cases:
    before = net(x).data
    for site in sensli.candidate_sites(net, **options):
        difference = max_relative_difference(sensli.insert(net, site)(x).data, before)
        print(f"{name:24s} {site.label:19s} max relative difference {difference:.1e}")
        assert difference <= 1e-10

# %% [markdown]
# ### Fresh parameters, and the old model untouched
#
# Preserving the function is half of the job. The new layer must also be **trainable** (its
# parameters appear in `grown.parameters()`, so an optimizer built from them updates them),
# and nothing may be **aliased** between the old and the new model: if the grown net shared a
# weight array with the old one, training the grown net would silently change the old net too
# (and a comparison "before vs after insertion" would compare a model with itself).
# `sensli.insert` deep-copies the model and adds freshly built modules. We check both claims,
# then take one SGD step on the grown net and confirm that the old net did not move.

# %%
site = sensli.candidate_sites(mlp)[1]
saved = mlp.state_dict()
grown = sensli.insert(mlp, site)
new_layer = grown[site.position]
print("new layer:", new_layer, "| trainable:", new_layer.weight.requires_grad, new_layer.bias.requires_grad)
assert new_layer.weight.requires_grad and new_layer.bias.requires_grad
assert len(grown.parameters()) == len(mlp.parameters()) + 2
old_ids = {id(p) for p in mlp.parameters()}
assert not any(id(p) in old_ids for p in grown.parameters())
assert not any(np.shares_memory(p.data, q.data) for p in grown.parameters() for q in mlp.parameters())

labels = ms.Tensor((points.data[:, 0] * points.data[:, 1] > 0).astype(np.int64))
step = optim.SGD(grown.parameters(), lr=0.5)
F.cross_entropy(grown(points), labels).backward()
step.step()
print(f"the new weight moved away from I by {np.abs(new_layer.weight.data - np.eye(4)).max():.2e}")
assert np.abs(new_layer.weight.data - np.eye(4)).max() > 0
for name, value in mlp.state_dict().items():
    np.testing.assert_array_equal(value, saved[name])
print("old model unchanged; with_inserted alone would share modules:", mlp.with_inserted(4)[0] is mlp[0])

# %% [markdown]
# ## 3. From multipliers to scores
#
# `sensli.sensitivities` makes one pass over a data loader **without updating anything** and
# returns one `SiteScore` per site. For a virtual parameter $\varphi_p$ and $K$ minibatches with
# batch-mean losses $\ell_k$ it keeps the **averaged multiplier**
#
# $$\bar G_p = \frac{1}{K}\sum_{k=1}^{K}
#   \frac{\partial \ell_k}{\partial \varphi_p}\Big|_{\varphi_p = \varphi_p^{\text{id}}},$$
#
# and the score is a norm of $\bar G$ of the site's scored weight (`norm=` picks it):
#
# - `"fro"`: $\|\bar G\|_F^2 = \sum_{ij} \bar G_{ij}^2$, the sum of squares;
# - `"fro_scaled"`: $\|\bar G\|_F^2 / \#\text{entries}$, the mean square entry (`SiteScore.scaled_score`
#   always holds it, whatever `norm` is);
# - `"spectral"`: $\sigma_{\max}(\bar G)^2$, the squared largest singular value of the linear map $\bar G$
#   defines; for a convolution that map is not the kernel itself, and the optional appendix
#   *The spectral norm of a convolution* derives and checks how the package computes it.
#
# Why average *before* squaring? With equal minibatches, $\bar G$ is the gradient of the loss
# on the whole training set, the multiplier of the full problem (chapter 6). Squaring first
# would measure $\frac1K\sum_k \|G_k\|_F^2 = \|\bar G\|_F^2 + \frac1K\sum_k \|G_k - \bar G\|_F^2$:
# the signal plus the minibatch noise, which says nothing about where the loss can fall.
# We check all this on `mlp` with five minibatches of ten points: the multiplier equals the mean
# of the per-minibatch multipliers (each from a one-batch "loader"), and the scores follow the formulas.

# %%
loader = data.DataLoader(data.TensorDataset(points, labels), batch_size=10)
result = sensli.sensitivities(mlp, loader)
per_batch = [sensli.sensitivities(mlp, [batch]) for batch in loader]
for j, entry in enumerate(result):
    mean_g = sum(r[j].multipliers["weight"] for r in per_batch) / len(per_batch)
    np.testing.assert_allclose(entry.multipliers["weight"], mean_g, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(entry.score, np.linalg.norm(mean_g, "fro") ** 2, rtol=1e-12)
    np.testing.assert_allclose(entry.scaled_score, np.linalg.norm(mean_g, "fro") ** 2 / mean_g.size, rtol=1e-12)
    np.testing.assert_allclose(sensli.score(mean_g, "spectral"), np.linalg.svd(mean_g)[1][0] ** 2, rtol=1e-12)
    square_first = np.mean([r[j].score for r in per_batch])
    print(
        f"{entry.site.label}: norm {entry.norm!r}, score {entry.score:.3e}, scaled {entry.scaled_score:.3e}, "
        f"multipliers {sorted(entry.multipliers)}; squared before averaging: {square_first:.3e}"
    )
    assert square_first >= entry.score

# %% [markdown]
# We score the CNN on 128 handwritten digits (8×8 images) in two minibatches, with both norms.

# %%
digits = data.digits()
digit_x, digit_y = digits.train[:128]
digit_loader = data.DataLoader(data.TensorDataset(digit_x, digit_y), batch_size=64)
by_norm = {norm: sensli.sensitivities(cnn, digit_loader, norm=norm) for norm in ("fro", "fro_scaled")}

# %% [markdown]
# ### Why the choice of norm matters: sites of different sizes
#
# The two CNN sites differ in size: the multiplier at `conv@2` is $2 \times 2 \times 3 \times 3$
# (36 entries), the one at `conv@5` is $6 \times 6 \times 3 \times 3$ (324 entries). Suppose every entry
# of both had the same spread $s$, so that neither site is more sensitive "per weight". Then
# $\mathbb{E}\|\bar G\|_F^2 = \#\text{entries} \cdot s^2$: Frobenius squared prefers the big site by
# a factor $324 / 36 = 9$ for no other reason than its size, while the per-entry score
# `fro_scaled` is the mean square entry and treats both alike. A quick simulation shows it;
# then the real multipliers, where the two norms indeed pick different sites.

# %%
noise = np.random.default_rng(4)
small = [noise.standard_normal((2, 2, 3, 3)) for _ in range(400)]
big = [noise.standard_normal((6, 6, 3, 3)) for _ in range(400)]
for norm in ("fro", "fro_scaled"):
    ratio = np.mean([sensli.score(g, norm) for g in big]) / np.mean([sensli.score(g, norm) for g in small])
    print(f"same-size entries, {norm:10s}: mean score big / small = {ratio:.2f}")

chosen = {norm: sensli.select(result_n, "abs max").site.label for norm, result_n in by_norm.items()}
for norm, result_n in by_norm.items():
    print(f"{norm:10s} scores {[f'{s:.2e}' for s in result_n.scores()]} -> chooses {chosen[norm]}")
assert chosen == {"fro": "conv@5", "fro_scaled": "conv@2"}

# %%
labels_cnn = [entry.site.label for entry in by_norm["fro"]]
fig, ax = plt.subplots(figsize=(7, 3.5))
winners = []
for k, (norm, result_n) in enumerate(by_norm.items()):
    values = np.array(result_n.scores())
    bars = ax.bar(
        np.arange(len(values)) + 0.3 * (k - 0.5),
        values / values.max(),
        width=0.28,
        label={"fro": "fro: squared Frobenius norm", "fro_scaled": "fro_scaled: squared Frobenius norm / entries"}[
            norm
        ],
        color=f"C{k}",
        alpha=0.85,
    )
    winners.append(bars[int(np.argmax(values))])
ax.legend(ncol=1, loc="upper center", fontsize=8)
for bar in winners:  # after the legend, so that its patches stay plain
    bar.set_edgecolor("k")
    bar.set_linewidth(2)
ax.set_xticks(
    range(len(labels_cnn)),
    [f"{lab}\n({w.multipliers['weight'].size} entries)" for lab, w in zip(labels_cnn, by_norm["fro"])],
)
ax.set_ylabel("score / largest score of that norm")
ax.set_ylim(0, 1.45)
ax.set_title("the same multipliers under two norms (black edge: chosen)")
plt.show()

# %% [markdown]
# Frobenius squared chooses the bigger site (so does the spectral norm, see the appendix); the per-entry score chooses the
# smaller one, whose weights are on average more sensitive. Which is "right" is a modelling choice:
# the package's default is `fro` for dense and residual sites (all sites of such a net have the same
# width, so the sizes agree) and `fro_scaled` for conv sites, whose sizes differ per stage
# (`sensli.default_norm`).
#
# ## 4. Selection rules
#
# `sensli.select(result, mode)` turns the scores into a decision and returns the chosen
# `SiteScore` (its `.site` goes to `insert`):
#
# - `"abs max"` — **SensLI**: the largest score (the "abs" is the reference code's name; scores are
#   squares, so never negative). On a tie, the first site.
# - `"abs min"` — the smallest score, the paper's comparison: if sensitivity means anything, inserting
#   where it is smallest should help least.
# - `"random"` (seeded by the `rng` you pass) and `"pos K"` (always the $K$-th site, counting from 0) — baselines that ignore the scores.
# - `"threshold"` — *whether* to insert at all (chapter 10): the arg-max site, but only if its scaled score
#   exceeds `threshold` times the mean scaled score over the existing weights of the same kind and
#   all virtual ones; otherwise `None`. It needs `score_existing=True`.

# %%
cnn_scores = by_norm["fro_scaled"]
for mode in ("abs max", "abs min", "random", "pos 1"):
    pick = sensli.select(cnn_scores, mode, rng=np.random.default_rng(0))
    print(f"{mode:8s} -> {pick.site.label}")
assert sensli.select(cnn_scores, "abs max").score == max(cnn_scores.scores())
assert sensli.select(cnn_scores, "abs min").score == min(cnn_scores.scores())

with_existing = sensli.sensitivities(cnn, digit_loader, score_existing=True)
print("scaled scores of the existing conv weights:", {k: f"{v:.2e}" for k, v in with_existing.existing.items()})
pool = [s.scaled_score for s in with_existing] + list(with_existing.existing.values())
best = max(with_existing, key=lambda s: s.scaled_score)
for tau in (1.0, 0.15):  # the default threshold, and a lower one that makes the rule insert
    decision = sensli.select(with_existing, "threshold", threshold=tau)
    print(
        f"threshold {tau}: best virtual {best.scaled_score:.2e} vs {tau} x mean of all "
        f"{tau * np.mean(pool):.2e} -> {'insert at ' + decision.site.label if decision else 'no insertion'}"
    )
    assert (decision is not None) == (best.scaled_score > tau * np.mean(pool))

# %% [markdown]
# ## 5. One growth step by hand
#
# Now the whole loop once, on the two-spirals problem of the paper (450 training points, 150 test
# points), with full-batch gradient descent: one step per epoch, so the loss curve has one point per
# epoch. The start is the paper's small net with two hidden layers of width 4 (two candidate sites), SGD with
# learning rate 0.2. To keep the chapter fast we train 300 epochs, insert, and train 300 more
# (the paper uses more; chapter 9 runs its settings).

# %%
spirals = data.spirals()
train_loader = data.DataLoader(spirals.train, batch_size=len(spirals.train))  # full batch
test_loader = data.DataLoader(spirals.test, batch_size=len(spirals.test))
EPOCHS, LR = (300, 300), 0.2

ms.manual_seed(0)
start = nn.Sequential(nn.Dense(2, 4), nn.ReLU(), nn.Dense(4, 4), nn.ReLU(), nn.Dense(4, 2))
model = start.copy()
optimizer = optim.SGD(model.parameters(), lr=LR)
history = ms.fit(model, train_loader, optimizer, EPOCHS[0], test_loader=test_loader, progress=False)
print(f"after {EPOCHS[0]} epochs: train loss {history.train_loss[-1]:.4f}, test error {history.test_error[-1]:.3f}")
print(
    f"(first epoch: train loss {history.train_loss[0]:.4f}; chance level on two balanced classes: ln 2 = {np.log(2):.4f})"
)
assert 0.6 < history.train_loss[-1] < 0.66 and history.train_loss[0] - history.train_loss[-1] < 0.1
assert 0.45 < history.test_error[-1] < 0.6  # about chance: the prose below says "53 %"

# %% [markdown]
# A test error of 53 % after 300 epochs is not a bug. Full batch means **one gradient step per
# epoch**, so this is 300 steps of plain gradient descent at learning rate 0.2 on a net whose
# loss starts at chance level ($\ln 2$ for two balanced classes): the loss has barely moved
# (printed above), and a classifier that has barely moved is right about half the time. The paper
# trains this start for 450 epochs before its first insertion and 1,400 after; we keep the chapter
# short, and the point of this section is the *mechanics* of one growth step — the insertion that
# leaves the loss unchanged and the optimizer that must be rebuilt — not a well-trained net.

# %% [markdown]
# Score the sites on the training data, choose by `"abs max"`, insert. The first check is the
# point of the whole construction: the grown net has **exactly the loss** the small net had.

# %%
scores = sensli.sensitivities(model, train_loader)
choice = sensli.select(scores, "abs max")
grown = sensli.insert(model, choice.site)
for entry in scores:
    print(f"{entry.site.label}: score {entry.score:.4e}{'   <- chosen' if entry is choice else ''}")

loss_small, _ = ms.evaluate(model, train_loader)
loss_grown, _ = ms.evaluate(grown, train_loader)
print(f"training loss before insertion {loss_small:.12f}, after {loss_grown:.12f}")
np.testing.assert_allclose(loss_grown, loss_small, rtol=1e-12)

# %% [markdown]
# ### Why the optimizer must be rebuilt
#
# An optimizer holds a **list of parameter objects** (and, with momentum or Adam, per-parameter state
# stored by the parameter's *index* in that list). After `insert`, both are wrong:
#
# 1. The old optimizer holds the *old* model's parameters. `insert` copied the model, so the grown net's
#    parameters are other objects: the old optimizer only ever touches the old model (whose parameters
#    get no gradient from the grown net's loss), and the grown net never trains. You would notice a loss
#    curve that goes flat right at the insertion.
# 2. State is matched by index, and inserting a layer shifts the indices: the momentum of the output
#    weight would be applied to the new layer's weight. Where the shapes happen to agree this goes
#    unnoticed; our `load_state_dict` catches a shape mismatch.
#
# So the reference code, and `sensli.grow`, build a new optimizer after each insertion (its state
# starts empty: the momentum of the old weights is forgotten too). Both failures, shown:

# %%
x_train, y_train = next(iter(train_loader))
before = grown.state_dict()
optimizer.zero_grad()
F.cross_entropy(grown(x_train), y_train).backward()
optimizer.step()  # the old optimizer: its parameters are the old model's, which got no gradient
unchanged = all(np.array_equal(value, grown.state_dict()[name]) for name, value in before.items())
print("grown net unchanged after a step of the old optimizer:", unchanged)
assert unchanged
grown.zero_grad()

old_params, new_params = model.parameters(), grown.parameters()
new_ids = {id(p) for p in grown[choice.site.position].parameters()}
for i, p in enumerate(new_params):
    old = str(tuple(old_params[i].shape)) if i < len(old_params) else "-"
    print(
        f"slot {i}: old parameter {old:7s} new parameter {str(tuple(p.shape)):7s}"
        f"{'  <- the inserted layer' if id(p) in new_ids else ''}"
    )

# %% [markdown]
# From the inserted layer on, every slot holds a different weight than before, so state kept by index
# would land on the wrong weight. With momentum the state dictionary is indexed exactly that way, and
# loading it into an optimizer of the grown net fails (here on a mismatched shape; where the
# shapes happened to agree it would load silently):

# %%
probe = model.copy()
heavy = optim.SGD(probe.parameters(), lr=LR, momentum=0.9)
F.cross_entropy(probe(x_train), y_train).backward()
heavy.step()  # now every parameter has a momentum buffer, stored by index
try:
    optim.SGD(grown.parameters(), lr=LR, momentum=0.9).load_state_dict(heavy.state_dict())
except ValueError as err:
    print("refused:", err)

# %% [markdown]
# With a fresh optimizer the grown net trains on, and `fit` appends to the same history. The
# first loss recorded after the insertion (computed before that step's update) must equal the loss
# of the small net at the end of phase 1: the loss curve is continuous across the insertion. For
# reference we also train the small net without insertion for the same 600 epochs, from the same
# initial weights.

# %%
new_optimizer = optim.SGD(grown.parameters(), lr=LR)
ms.fit(grown, train_loader, new_optimizer, EPOCHS[1], test_loader=test_loader, progress=False, history=history)
np.testing.assert_allclose(history.minibatch_losses[EPOCHS[0]], loss_small, rtol=1e-12)

fixed = start.copy()
fixed_history = ms.fit(
    fixed, train_loader, optim.SGD(fixed.parameters(), lr=LR), sum(EPOCHS), test_loader=test_loader, progress=False
)
print(f"final training loss: grown {history.train_loss[-1]:.4f}, fixed small net {fixed_history.train_loss[-1]:.4f}")
print(f"final test error:    grown {history.test_error[-1]:.3f}, fixed small net {fixed_history.test_error[-1]:.3f}")
for name, errors in (("grown", history.test_error), ("fixed small net", fixed_history.test_error)):
    last = np.array(errors[-100:])
    print(
        f"test error over the last 100 epochs, {name}: {last.min():.3f} to {last.max():.3f}, "
        f"median {np.median(last):.3f}"
    )

# %%
fig, (ax_loss, ax_err) = plt.subplots(1, 2, figsize=(11, 3.8))
ax_loss.plot(history.minibatch_losses, label=f"grown at {choice.site.label}")
ax_loss.plot(fixed_history.minibatch_losses, ls="--", color="grey", label="small net, no insertion")
ax_err.plot(history.test_error, label=f"grown at {choice.site.label}")
ax_err.plot(fixed_history.test_error, ls="--", color="grey", label="small net, no insertion")
for ax in (ax_loss, ax_err):
    ax.axvline(EPOCHS[0], ls=":", color="k")
    ax.set_xlabel("epoch (= step, full batch)")
    ax.legend()
ax_loss.set_yscale("log")
ax_loss.set_ylabel("training loss")
ax_err.set_ylabel("test error")
ax_loss.set_title("loss; dotted: insertion")
ax_err.set_title("test error")
fig.tight_layout()
plt.show()

# %% [markdown]
# The curve passes the insertion without a jump, as promised. Afterwards the loss falls faster but
# starts to oscillate: a step size that suits the small net can be too large for the deeper one (the
# reference can lower it after an insertion, `lr_factor` in `sensli.grow`). The test error of the
# grown net oscillates even more, from one epoch to the next, so its *final* value is one draw from
# a wide band: compare the ranges and medians printed above, not the last epoch. And this is one run
# with one seed. Whether growing beats not growing, on average and against the big net trained
# from scratch, is a question for many seeds: chapter 9.
#
# ## 6. The same with `sensli.grow`
#
# `sensli.grow` runs this loop: for each phase it builds a new optimizer, trains with `fit`, scores
# the sites on the training loader, selects by `mode`, inserts, and multiplies the learning rate by
# `lr_factor`; then it trains the last phase. It copies the input model, so `start` stays as it is.
# Given the same initial weights, the same loader and the same settings, it must reproduce our
# hand-made run **exactly**: the same losses at every step, the same scores, the same site.

# %%
start_state = start.state_dict()
result = sensli.grow(start, train_loader, test_loader, epochs=list(EPOCHS), lr=LR, mode="abs max", progress=False)
record = result.insertions[0]
print("chosen:", record.chosen.label, "| scores:", [f"{s:.4e}" for s in record.scores])
print(
    f"train {result.train_seconds:.2f} s, select {result.select_seconds:.3f} s; phases end at epochs",
    result.phase_end_epochs,
    "with test errors",
    result.phase_test_error,
)
print(result.model)

np.testing.assert_allclose(result.minibatch_losses, history.minibatch_losses, rtol=1e-12)
np.testing.assert_allclose(record.scores, scores.scores(), rtol=1e-12)
assert record.chosen == choice.site
for name, value in start.state_dict().items():
    np.testing.assert_array_equal(value, start_state[name])

# %% [markdown]
# `GrowthResult.plot(path=None)` draws the loss with the insertions marked and the scores of every
# site at each selection, and returns the matplotlib figure. Without a path the figure is shown here;
# with a path it is only written to the file (as `minisensli run` does for its figures). We show it
# and also save a copy into a temporary folder.

# %%
fig = result.plot()
with tempfile.TemporaryDirectory() as folder:
    fig.savefig(pathlib.Path(folder) / "growth.png", dpi=80)
    print("written:", sorted(p.name for p in pathlib.Path(folder).iterdir()))
plt.show()

# %% [markdown]
# More phases mean more insertions: with `epochs=[200, 200, 200]` (the default `max_insertions` is
# one less than the number of phases) the net grows twice. After the first insertion the net has three
# hidden layers, so the second selection scores three sites — the new layer's output is a candidate too.

# %%
twice = sensli.grow(start, train_loader, test_loader, epochs=[200, 200, 200], lr=LR, progress=False)
for rec in twice.insertions:
    print(
        f"epoch {rec.epoch}: sites {[s.label for s in rec.sites]}, scores {[f'{s:.2e}' for s in rec.scores]}"
        f" -> {rec.chosen.label}"
    )
print("layers:", [type(m).__name__ for m in twice.model], f"| final train loss {twice.history.train_loss[-1]:.4f}")
assert [len(rec.sites) for rec in twice.insertions] == [2, 3]
assert len(twice.model) == len(start) + 4

# %% [markdown]
# ## Summary
#
# - A **site** is a position in an `nn.Sequential` plus the kind of layer that can go there: after each
#   hidden Dense + ReLU, before and after each residual block, after each Conv + ReLU. Sites exist only
#   where an exact identity exists (ReLU for plain layers, any activation for v1 residual blocks).
# - **Insertion** copies the model and adds a fresh, trainable layer at its identity values (identity
#   matrix, dirac kernel, or a residual block with a zero outer weight). The outputs stay the same to
#   round-off ($0$ in practice, $\le 10^{-10}$ relative by contract), and the old model is never aliased.
# - A site's **score** is a norm of its averaged multiplier $\bar G$ (average over minibatches first,
#   then square). `fro` is $\|\bar G\|_F^2$, `fro_scaled` divides by the number of entries (the appendix adds
#   `spectral`). When sites differ in size, `fro` favours the big ones, and the norms can pick
#   different sites.
# - **Selection**: `"abs max"` is SensLI; `"abs min"`, `"random"` and `"pos K"` are baselines; `"threshold"`
#   decides whether to insert at all (chapter 10).
# - **One growth step** = train, score (no update), select, insert, **new optimizer** (the old one holds
#   the old parameters and index-keyed state), train on. `sensli.grow` does exactly this and reproduced our
#   hand-made run step for step.
#
# ## Exercises
#
# ### Exercise 1: the multiplier of the whole training set, from unequal minibatches (3 points)
#
# Section 3 averaged the per-minibatch multipliers with equal weights, which gives the multiplier of
# the whole training set only when all minibatches have the same size. With $N$ points in $K$
# minibatches of sizes $n_1, \dots, n_K$ (the last one often smaller), derive the gradient of the
# loss on the **whole** training set (the mean over all $N$ points) from the per-minibatch gradients
# $G_k$ of the minibatch *mean* losses. Write `full_data_score(grads, sizes, norm)`: `grads` is a
# list of $K$ arrays of one shape (a dense `(w, w)` or a conv `(c, c, 3, 3)` weight), `sizes` the
# list of the $n_k$, `norm` is `"fro"` or `"fro_scaled"`; return the score (one float) of the
# whole-set multiplier.


# %%
def full_data_score(grads, sizes, norm):
    """K arrays of one shape, K ints, 'fro' | 'fro_scaled' -> the score of the whole-set multiplier."""
    raise NotImplementedError  # your code here


check("ch08.full_data_score", full_data_score)


# %% tags=["solution", "hide-input"]
def full_data_score(grads, sizes, norm):
    # G_k = (1/n_k) sum of the gradients of minibatch k's points; the whole-set mean loss
    # has gradient (1/N) sum over all points = sum_k n_k G_k / N
    whole = sum(n_k * g_k for n_k, g_k in zip(sizes, grads)) / sum(sizes)
    squares = float((whole**2).sum())
    return squares / whole.size if norm == "fro_scaled" else squares


check("ch08.full_data_score", full_data_score)
# on `mlp` with minibatches of 16, 16, 16 and 2: our score against one full batch
uneven = data.DataLoader(data.TensorDataset(points, labels), batch_size=16)
sizes_uneven = [len(batch[1]) for batch in uneven]
grads_uneven = [sensli.sensitivities(mlp, [batch])[0].multipliers["weight"] for batch in uneven]
whole_batch = sensli.sensitivities(mlp, [(points, labels)])[0]
print("minibatch sizes", sizes_uneven, f"| whole-set score {whole_batch.score:.6e}")
np.testing.assert_allclose(full_data_score(grads_uneven, sizes_uneven, "fro"), whole_batch.score, rtol=1e-10)

# %% [markdown]
# ### Exercise 2: keep the momentum over an insertion (2 points)
#
# Section 5 threw the optimizer state away after the insertion. Keep it instead, re-indexed: an
# optimizer stores the state of its $i$-th parameter under the key $i$ (`optimizer.state`, a dict of
# dicts), in the order of `model.parameters()`. Write `reindex_state(state, params_per_module,
# position, inserted)`: `state` is the old optimizer's state dict, `params_per_module` the number of
# parameters of each module of the old `nn.Sequential` (for example `[2, 0, 1, 0, 2]` for Dense, ReLU,
# Dense without bias, ReLU, Dense), `position` the index at which the new modules are inserted
# (`Sequential.with_inserted(position, ...)`), `inserted` the numbers of parameters of the inserted
# modules (e.g. `[2, 0]` for a Dense and a ReLU). Return a new state dict for the grown network:
# every old parameter's state under its new index, and for the new layer's parameters an absent
# key (not `{}`: they start fresh). Don't modify `state` (build a new dict; the per-parameter
# entries may be shared with it): the checker verifies that it is unchanged. It builds real
# networks, some with a `Flatten` in front and some Dense layers without bias, and compares by
# parameter identity.


# %%
def reindex_state(state, params_per_module, position, inserted):
    """old state {i: {...}}, ints per module, int, ints per inserted module -> new state dict."""
    raise NotImplementedError  # your code here


check("ch08.reindex_state", reindex_state)


# %% tags=["solution", "hide-input"]
def reindex_state(state, params_per_module, position, inserted):
    first_moved = sum(params_per_module[:position])  # parameters before the insertion keep their index
    shift = sum(inserted)
    return {(i + shift if i >= first_moved else i): entry for i, entry in state.items()}


check("ch08.reindex_state", reindex_state)


# %% [markdown]
# ## Open questions
#
# 1. Exercise 2 keeps the old weights' state over an insertion and starts only the new layer fresh.
#    With momentum or Adam, would that help? Think about Adam's first steps for a parameter with empty
#    moments, whose update has size about `lr` whatever its gradient.
# 2. `fro` and `fro_scaled` chose different CNN sites above. On a CNN with three stages, which would
#    you expect SensLI to insert at under each norm, early or late in the feature extractor, and why?
