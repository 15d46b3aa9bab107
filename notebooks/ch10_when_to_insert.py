# %% [markdown]
# # Chapter 10 — When to insert
#
# *Reading time: about 30 min; exercises: about 30 min.*
#
# SensLI answers *where* a layer should go: at the site whose multiplier is largest. It does
# not by itself say *when*. Insert too early and the new layer joins a network that has not
# yet learnt what its current layers can learn; insert too late and the epochs spent on the
# small network were partly wasted. This chapter looks at the two answers the paper's code
# gives:
#
# - a **rule** (`mode="threshold"`): at a selection point, insert only if the best virtual
#   layer is more sensitive, per weight, than the layers of the same kind on average, the
#   existing ones included; otherwise keep training and ask again later;
# - a **sweep**: insert after 50, 150 or 450 epochs with the same total budget, several
#   seeds each, and look at the final loss.
#
# You will compute the rule by hand (scaled scores of virtual and existing weights from one
# pass of autograd) and assert that it reaches the package's decision, watch the rule's ratio
# over training, run the sweep with every seed shown, and read the result honestly.
#
# **Prerequisites:** chapter 7 (the closed-form multiplier of a virtual Dense layer), chapter 8
# (sites, `sensli.sensitivities`, `sensli.select`, `sensli.grow`) and chapter 9 (seeds, paired
# comparisons). **Package modules:** `minisensli/sensli/selection.py` (the `"threshold"` rule),
# `minisensli/sensli/sensitivity.py` (`score_existing=True`), `minisensli/sensli/norms.py`
# (`"fro_scaled"`), `minisensli/sensli/growth.py`.

# %%
import matplotlib.pyplot as plt
import numpy as np

import minisensli as ms
from minisensli import data, nn, optim, sensli
from minisensli.exercises import check

ms.set_default_dtype("float64")
split = data.spirals()  # the paper's two spirals: 450 training and 150 test points
train = data.DataLoader(split.train, batch_size=450)  # full batch, as the paper
print(split.train, "|", train)

# %% [markdown]
# ## 1. The rule
#
# One pass over the training data, with no update, gives for every weight matrix $W$ of the
# extended network (virtual or existing) its averaged gradient
# $\bar G = \frac1K \sum_{k=1}^K \nabla_W \ell_k$ over the $K$ minibatches. For a virtual
# weight, $\bar G$ is the Lagrange multiplier of chapter 6; for an existing weight it is the
# ordinary gradient that training follows. Their **scaled scores** are mean squares per entry,
#
# $$\tilde s(W) = \frac{\lVert \bar G \rVert_F^2}{\text{number of entries of } W}.$$
#
# With virtual sites $p = 1 \dots P$ and existing weights $\ell = 1 \dots E$ of the same kind
# (here: all Dense weights), the **threshold rule** with factor $\tau$ ($= 1$ by default) is
#
# $$p^* = \arg\max_p \tilde s_p, \qquad \text{insert at } p^* \iff
# \tilde s_{p^*} > \tau \cdot \frac{1}{P + E}\Big(\sum_{p} \tilde s_p + \sum_{\ell} \tilde s_\ell\Big),$$
#
# and otherwise insert nothing. Why each part:
#
# - **Per entry.** $\lVert \bar G \rVert_F^2$ is a sum over entries, so a 5×5 virtual layer
#   would outscore a 2×5 existing one partly because it is bigger. Dividing by the number of
#   entries compares the mean squared gradient per weight.
# - **Against the existing weights.** To first order, a gradient step of size $\eta$ on $W$
#   lowers the loss by about $\eta \lVert \bar G \rVert_F^2$. The existing gradients measure what
#   the current network can still do by itself; a new layer is worth its parameters when its
#   multiplier promises more, per weight, than that. Early in training the existing
#   gradients are large and the rule says "wait"; near a stationary point of the small network
#   they shrink to zero while the multipliers need not, and the rule says "insert".
# - **A bounded ratio.** Because $\tilde s_{p^*}$ is itself in the mean, the ratio
#   $r = \tilde s_{p^*} / \text{mean}$ is at most $P + E$, reached when every other score is
#   zero.
#
# Where it comes from: the reference code's CNN part has this rule (`threshold_rel`, $\tau = 1$,
# the mean over existing and virtual convolutions), used for the CIFAR-10 runs with an
# operator-norm metric whose code is buggy; its feed-forward version is broken and unused, and
# the paper's "when to insert" figures for feed-forward nets are sweeps over the insertion
# epoch. minisensli implements the rule as stated above with the scaled Frobenius norm
# (`sensli/selection.py`).
#
# ## 2. The rule by hand
#
# Everything the rule needs comes from one forward and backward pass per minibatch of the
# *original* network. For a virtual Dense layer $a \mapsto \mathrm{ReLU}(a V^\top + c)$ at
# $V = I$, $c = 0$ behind the hidden activation $a$, chapter 7 derived
# $\partial L / \partial V = (\delta \odot \mathbb 1[a > 0])^\top a$ with $\delta = \partial L/\partial a$,
# the gradient that flows into $a$ in the original network. The existing weights' gradients
# are simply their `.grad` after the same backward pass.


# %%
def scaled(g):
    return float((g**2).sum() / g.size)


def rule_by_hand(model, loader, tau=1.0):
    """Scaled scores of every virtual Dense site (by position) and every existing Dense weight, and
    the threshold rule's choice (a site position or None), for a plain ReLU net."""
    dense = [i for i, m in enumerate(model) if isinstance(m, nn.Dense)]
    virtual = {i + 2: 0.0 for i in dense[:-1]}  # a site after each hidden Dense + ReLU
    existing = {f"{i}.weight": 0.0 for i in dense}
    batches = 0
    for inputs, labels in loader:
        batches += 1
        model.zero_grad()
        h, kept = inputs, {}
        for i, layer in enumerate(model):
            if i in virtual:
                kept[i] = h = h.retain_grad()  # the activation a entering site i
            h = layer(h)
        nn.CrossEntropyLoss()(h, labels).backward()
        for i, a in kept.items():
            virtual[i] = virtual[i] + (a.grad * (a.data > 0)).T @ a.data
        for i in dense:
            existing[f"{i}.weight"] = existing[f"{i}.weight"] + model[i].weight.grad
    v = {i: scaled(g / batches) for i, g in virtual.items()}
    e = {name: scaled(g / batches) for name, g in existing.items()}
    best, mean = max(v, key=v.get), np.mean(list(v.values()) + list(e.values()))
    return v, e, (best if v[best] > tau * mean else None), v[best] / mean


# %% [markdown]
# Now the package's version on the same networks: `sensitivities(..., score_existing=True)`
# scores the virtual sites and, in the same pass, the existing weights of the same kind
# (`result.existing`, already scaled); `select(result, "threshold")` returns the chosen
# `SiteScore` or `None`. We train a 2-5-2 net (one site) and a 2-4-4-2 net (two sites) for 150
# epochs and compare every number and the decision, for four values of $\tau$.


# %%
def start_model(seed, hidden=(5,)):
    ms.manual_seed(seed)
    widths = [2, *hidden]
    layers = [m for a, b in zip(widths[:-1], widths[1:]) for m in (nn.Dense(a, b), nn.ReLU())]
    return nn.Sequential(*layers, nn.Dense(widths[-1], 2))


for hidden in ((5,), (4, 4)):
    model = start_model(0, hidden)
    ms.fit(model, train, optim.SGD(model.parameters(), lr=0.2), 150, progress=False)
    result = sensli.sensitivities(model, train, score_existing=True)
    decisions = []
    for tau in (0.3, 0.5, 1.0, 2.0):
        v, e, choice, ratio = rule_by_hand(model, train, tau)
        np.testing.assert_allclose([v[s.site.position] for s in result], [s.scaled_score for s in result], rtol=1e-10)
        np.testing.assert_allclose([e[name] for name in result.existing], list(result.existing.values()), rtol=1e-10)
        package = sensli.select(result, "threshold", threshold=tau)
        assert choice == (None if package is None else package.site.position)
        decisions.append(f"tau {tau}: {package.site.label if package else 'none'}")
    print(
        f"hidden {hidden}: virtual { ({k: f'{x:.3g}' for k, x in v.items()}) }, "
        f"existing { ({k: f'{x:.3g}' for k, x in e.items()}) }"
    )
    print(f"    ratio {ratio:.3f} -> insertion at", "; ".join(decisions))

# %% [markdown]
# The rule by hand reaches the package's decision, with the same scores to 10 digits; $\tau$
# only moves the bar the ratio must clear.
#
# ## 3. The rule over the course of training
#
# What does the ratio $r = \tilde s_{p^*} / \text{mean}$ do while a 2-5-2 net trains? We train
# four seeds for 900 epochs at the paper's lr 0.2 and ask the rule at a few epochs along the
# way. Asking changes nothing: `sensitivities` updates no weight and leaves every `.grad` as
# it was, and plain SGD keeps no state between `fit` calls, so training in chunks is the same
# as training in one go. The same runs are therefore also our "never insert" baseline for the
# sweep in section 4, with their final losses kept.

# %%
SEEDS, TOTAL = [0, 1, 2, 3], 900
ASK_AT = [0, 25, 50, 100, 150, 250, 450, 650, 900]
ratios = np.zeros((len(SEEDS), len(ASK_AT)))
never = {}
for row, seed in enumerate(SEEDS):
    model = start_model(seed)
    opt, history, done = optim.SGD(model.parameters(), lr=0.2), ms.History(), 0
    for col, epoch in enumerate(ASK_AT):
        ms.fit(model, train, opt, epoch - done, progress=False, history=history)
        done = epoch
        result = sensli.sensitivities(model, train, score_existing=True)
        pool = [s.scaled_score for s in result] + list(result.existing.values())
        ratios[row, col] = max(s.scaled_score for s in result) / np.mean(pool)
    never[seed] = history.train_loss[-1]
print("ratio (rows: seeds; columns: epochs", ASK_AT, ")")
print(np.round(ratios, 2))
assert np.all(ratios[:, 0] < 1) and np.all(ratios[:, -1] > 1)  # what the next paragraph says
one_go = start_model(SEEDS[0])  # training in chunks with questions in between = training in one go
one_go_history = ms.fit(one_go, train, optim.SGD(one_go.parameters(), lr=0.2), TOTAL, progress=False)
assert one_go_history.train_loss[-1] == never[SEEDS[0]]

# %%
fig, ax = plt.subplots(figsize=(7, 4))
ax.plot(ASK_AT, ratios.T, color="C0", lw=0.8, alpha=0.6)
ax.plot(ASK_AT, np.median(ratios, axis=0), "o-", color="C0", lw=2.2, label="median over seeds; thin: each seed")
ax.axhline(1.0, color="k", ls="--", lw=1, label=r"$\tau = 1$: insert above this line")
bound = len(result) + len(result.existing)
ax.axhline(bound, color="0.5", ls=":", lw=1, label=f"upper bound P + E = {bound}")
ax.set(
    xlabel="epochs trained before asking",
    ylabel=r"ratio $\tilde s_{p^*}$ / mean of the pool",
    title="threshold rule on a 2-5-2 net (lr 0.2, full batch)",
    ylim=(0, 3.2),
)
ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# Early on, the existing weights are far more sensitive per entry than the would-be layer and
# the rule says "wait"; as the small network settles, its own gradients fade, the ratio climbs
# and crosses $\tau = 1$. Where it crosses differs from seed to seed (read it off the
# figure), so the rule's answer to "when" depends on the run, which a fixed schedule cannot do.
# The climb need not be steady: seed 1 crosses at 250 epochs and is back below 1 at 650, so
# asking once more can turn a "yes" into a "no".
#
# `grow(mode="threshold")` applies this rule at each selection point. Check one run against the
# table above: seed 0 asked after 50 epochs (a final phase of 0 epochs keeps it cheap).

# %%
growth = sensli.grow(start_model(0), train, epochs=[50, 0], lr=0.2, mode="threshold", progress=False)
record = growth.insertions[0]
print("epoch", record.epoch, "| chosen:", record.chosen, "| existing (scaled):", record.existing)
assert (record.chosen is not None) == (ratios[0, ASK_AT.index(50)] > 1.0)

# %% [markdown]
# ## 4. Sweeping the insertion time
#
# The paper's feed-forward "when to insert" experiment (Exp10) inserts a layer into the 2-5-2
# net after 150, 250, …, 850 of 1,850 epochs, multiplies the learning rate by 0.8 after the
# insertion, and shows **one run** per insertion time. We keep the net, the learning rate and
# the factor 0.8, halve the budget to 900 epochs to keep this chapter fast, insert after 50,
# 150 or 450 epochs, and run four seeds per insertion time. Every condition of a seed starts
# from the same weights, so the comparisons are paired, and the never-insert runs of section 3
# complete the picture.

# %%
TIMES = [50, 150, 450]
finals = np.zeros((len(SEEDS), len(TIMES) + 1))
for row, seed in enumerate(SEEDS):
    for col, t in enumerate(TIMES):
        grown = sensli.grow(
            start_model(seed), train, epochs=[t, TOTAL - t], lr=0.2, lr_factor=0.8, mode="abs max", progress=False
        )
        assert len(grown.history.train_loss) == TOTAL and len(grown.model) == 5  # one layer (Dense + ReLU) more
        finals[row, col] = grown.history.train_loss[-1]
    finals[row, -1] = never[seed]
labels = [f"after {t}" for t in TIMES] + ["never"]
print("final training loss (rows: seeds, columns:", labels, ")")
print(np.round(finals, 4))

# %%
fig, ax = plt.subplots(figsize=(7, 4.2))
xs = np.arange(len(labels))
decided = ratios[:, [ASK_AT.index(t) for t in TIMES]] > 1.0  # would the rule have inserted then?
for row, seed in enumerate(SEEDS):
    ax.plot(xs, finals[row], color=f"C{row}", lw=0.9, alpha=0.7, label=f"seed {seed}")
    ax.scatter(xs[:-1][decided[row]], finals[row, :-1][decided[row]], color=f"C{row}", s=30, zorder=3)
    ax.scatter(
        xs[:-1][~decided[row]], finals[row, :-1][~decided[row]], facecolor="white", edgecolor=f"C{row}", s=30, zorder=3
    )
ax.scatter(xs, np.median(finals, axis=0), marker="_", s=900, color="k", lw=2.5, zorder=2.5, label="median")
ax.set_xticks(xs, labels)
ax.set(yscale="log", xlabel="insertion (of 900 epochs)", ylabel="final training loss")
ax.set_title("insertion time vs final loss; filled: the rule would have inserted then", fontsize=10)
ax.legend(fontsize=8, ncol=3)
plt.show()

# %% [markdown]
# ## 5. Reading the sweep honestly
#
# Two numbers put the figure in proportion: how much the final loss changes between seeds for
# the same insertion time, and how much the median changes between insertion times. And, seed
# by seed, how often inserting at a given time beat never inserting:

# %%
between_seeds = np.median(finals.max(axis=0) / finals.min(axis=0))
medians = np.median(finals[:, :-1], axis=0)
between_times = medians.max() / medians.min()
print(f"between seeds, same condition: the worst run ends {between_seeds:.1f}x higher than the best (median)")
print(f"between insertion times: the worst median is {between_times:.2f}x the best median")
assert between_seeds > 2 * between_times  # the first point below rests on this
for col, label in enumerate(labels[:-1]):
    d = finals[:, col] - finals[:, -1]
    print(
        f"insert {label:>9} vs never: {np.sum(d < 0)} wins / {np.sum(d > 0)} losses of {len(SEEDS)}, "
        f"median paired difference {np.median(d):+.4f}"
    )

# %% [markdown]
# What this supports, and what it does not:
#
# - **The seed matters more than the schedule.** The runs of one seed tend to move together
#   across insertion times, and the gaps between seeds are larger than the gaps between
#   insertion times. Any ordering of the insertion times read from four seeds is an
#   ordering of noise until many more seeds (and paired tests, chapter 9) say otherwise; with
#   four seeds the Wilcoxon test cannot go below $p = 0.125$.
# - **Whether inserting helps at all** is the comparison with "never", and it is the same
#   question as Exp2 of chapter 9, where 30 seeds of the reference code and of minisensli
#   found a real gain (28 of 30 seeds) for insertion after 450 of 1,850 epochs. Our shorter
#   budget leaves less time after the insertion.
# - **The paper's Exp10 figure is one run per insertion time.** A single run per time is one
#   draw from a spread like the one printed above for four seeds; differences between such
#   draws cannot rank the insertion times.
# - **The rule and the sweep answer different questions.** The rule decides per run from
#   first-order information at one moment; the sweep measures the outcome. Our filled and
#   hollow markers are a first look at whether they agree, not evidence either way.
#
# ## Summary
#
# - The threshold rule compares per-entry sensitivities: insert at the best virtual site only
#   if its $\lVert\bar G\rVert_F^2/\text{entries}$ exceeds $\tau$ times the mean over the virtual and
#   existing weights of the same kind; otherwise wait. The ratio it tests is at most $P + E$.
# - Everything it needs comes from one pass of the original network: the multiplier
#   $(\delta \odot \mathbb 1[a>0])^\top a$ per site and the existing weights' own gradients. Our
#   hand-written rule matched `sensitivities(..., score_existing=True)` and
#   `select(..., "threshold")` to 10 digits and in every decision.
# - During training the ratio starts low (the small net still learns fast) and rises past 1
#   as the net settles; when depends on the seed.
# - A sweep of insertion times with several seeds per time, every seed drawn, shows spread
#   between seeds larger than the effect of the insertion time; single-run sweeps cannot rank
#   insertion times.
#
# ## Exercises
#
# ### Exercise 1: how sensitive must a site be? (3 points)
#
# The best site's own score is part of the mean it has to beat, so "exceeds $\tau$ times the mean"
# is not simply "exceeds $\tau$ times the others' mean". Write `insertion_bar(virtual, existing, tau)`:
# `virtual` is a list of the averaged multipliers of the virtual weights (one 2-D array per
# candidate site, in site order), `existing` a list of the averaged gradients of the existing
# weights of the same kind (2-D arrays of various shapes), `tau` a positive float. Keep every
# gradient but site 0's fixed and return the smallest scaled score $s$ of site 0 at which the rule
# inserts **at site 0** (the infimum: at the bar itself the strict "exceeds" may still say no), as
# a float. Derive it from the inequality of section 1 with $s$ on both sides; don't forget that
# site 0 must also be the arg-max (ties go to the first site), and return `float("inf")` when no
# score is enough (when is that?).


# %%
def insertion_bar(virtual, existing, tau):
    """The infimum of site 0's scaled score at which the threshold rule inserts at site 0."""
    raise NotImplementedError  # your code here


check("ch10.insertion_bar", insertion_bar)


# %% tags=["solution", "hide-input"]
def insertion_bar(virtual, existing, tau):
    def mean_square(g):
        return float((g**2).sum() / g.size)

    # s > tau (s + R) / (P + E)  <=>  s (P + E - tau) > tau R, with R the sum of the other scaled scores
    rivals = [mean_square(g) for g in virtual[1:]]
    rest = sum(rivals) + sum(mean_square(g) for g in existing)
    layers = len(virtual) + len(existing)
    if layers <= tau:
        return float("inf")  # s / mean(s, others) never exceeds P + E
    return max([tau * rest / (layers - tau), *rivals])


check("ch10.insertion_bar", insertion_bar)

# %% [markdown]
# ### Exercise 2: a virtual layer without activation (3 points)
#
# Chapter 7's virtual layer has a ReLU. Drop it: the virtual layer $a \mapsto a V^\top + c$ at
# $V = I$, $c = 0$ is inserted right before an existing Dense layer $z = a W^\top + b$ (weight $W$
# of shape out × w). Show that its multiplier $\partial L/\partial V$ (averaged over the minibatches,
# as $\bar G$ is) needs no activations at all: it is determined by that layer's weight $W$ and its
# averaged gradient $\bar G = \partial L/\partial W$ alone. Write `linear_site_multiplier(w_next, g_next)`
# that takes $W$ and $\bar G$ (NumPy arrays of shape out × w) and returns the multiplier (w × w).
# Derive it with the chain rule through $a$, and check your shapes: most of the checker's layers
# have out ≠ w, and it compares with autograd on small networks extended by the virtual layer, with
# several minibatches and sometimes more layers after the Dense one.


# %%
def linear_site_multiplier(w_next, g_next):
    """dL/dV (w x w) of a virtual linear layer at V = I, c = 0 before the Dense layer with weight w_next."""
    raise NotImplementedError  # your code here


check("ch10.linear_site_multiplier", linear_site_multiplier)


# %% tags=["solution", "hide-input"]
def linear_site_multiplier(w_next, g_next):
    # dL/dV = (dL/da)^T a with dL/da = delta W (delta = dL/dz), and G = delta^T a, so dL/dV = W^T G;
    # linear in G, so averaging over minibatches commutes with it
    return w_next.T @ g_next


check("ch10.linear_site_multiplier", linear_site_multiplier)

# %% [markdown]
# What the answer says: a linear virtual layer is redundant. $W V$ is again one linear map, so
# whatever $V$ can do to first order, a step on $W$ can do as well, and its multiplier is a
# function of $\bar G$: its Frobenius norm is at most the largest singular value of $W$ times
# $\lVert \bar G \rVert_F$, and it is exactly zero at any stationary point of the small network.
# The virtual layers of chapter 7 escape this only through the ReLU's mask $\mathbb 1[a > 0]$,
# which no existing weight has. Our 2-5-2 nets after 900 epochs at lr 0.2 are not at a stationary
# point (plain SGD at that rate keeps moving), so there the linear site's multiplier is of the
# same order as the ReLU site's:

# %%
try:
    for seed in SEEDS:
        model = start_model(seed)
        ms.fit(model, train, optim.SGD(model.parameters(), lr=0.2), TOTAL, progress=False)
        model.zero_grad()
        for inputs, labels in train:  # one full batch: the gradient is already the average
            nn.CrossEntropyLoss()(model(inputs), labels).backward()
        w, g = model[2].weight.data, model[2].weight.grad
        linear = np.linalg.norm(linear_site_multiplier(w, g))
        relu = np.linalg.norm(sensli.sensitivities(model, train)[0].multipliers["weight"])
        bound = np.linalg.norm(w, 2) * np.linalg.norm(g)
        assert linear <= bound * (1 + 1e-12)  # the bound of the paragraph above
        assert 0.2 < linear / relu < 5  # "of the same order" (0.96-1.9 measured; BLAS may move it a little)
        print(
            f"seed {seed}: |G| {np.linalg.norm(g):.2e}, linear site {linear:.2e} (bound {bound:.2e}), "
            f"ReLU site {relu:.2e}, ratio {linear / relu:.2f}"
        )
except NotImplementedError:
    print("solve exercise 2 first: this cell uses your linear_site_multiplier")

# %% [markdown]
# ## Open questions
#
# - The pool contains the virtual sites too, so the ratio is capped at $P + E$ and a net with
#   many candidate sites makes the bar harder to pass for a single good site. Is that a feature
#   or a flaw? What would change with the mean over the existing weights only, or with the
#   median of the pool?
# - How would you test whether the rule picks *better* insertion times than a fixed schedule:
#   which runs, how many seeds, which paired comparisons, and what would count as a win?
# - At a stationary point of the small network the linear site's multiplier is exactly zero. Is
#   the ReLU site's? Write the hidden activation as $a = \mathrm{ReLU}(x W_1^\top + b_1)$ and
#   compare the diagonal of $(\delta \odot \mathbb 1[a > 0])^\top a$ with the gradients of $W_1$ and
#   $b_1$; what must the masks of two hidden units look like for an off-diagonal entry to survive?
