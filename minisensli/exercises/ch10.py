"""Exercises of chapter 10 (when to insert): the multiplier of a linear site, the threshold rule.

ch10.linear_site_multiplier  the multiplier of a virtual linear layer (no activation) before an
                             existing Dense layer, from that layer's weight and gradient alone
ch10.insertion_bar           how large site 0's scaled score must be for the rule to insert there
                             (the best site's own score is part of the mean it must exceed)

linear_site_multiplier's oracle is autograd on the explicitly extended network: small nets with
drawn widths (the layer's width and output size differ), minibatch sizes, several minibatches
averaged, and sometimes more layers after the next Dense. insertion_bar's is the package,
minisensli.sensli.score(G, "fro_scaled") and minisensli.sensli.select(..., "threshold") on a
SensitivityResult built from the same gradients; layers have different numbers of entries (so
unscaled scores choose differently)."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from .. import functional as F
from ..autograd import Tensor
from ..sensli import SensitivityResult, Site, SiteScore, score, select
from ._asserts import assert_close, assert_scalar
from ._core import exercise


def _scaled(g: np.ndarray) -> float:
    return float((g**2).sum() / g.size)


def _bar(virtual: list, existing: list, tau: float) -> float:
    """The infimum of site 0's scaled score s at which the rule inserts at site 0, all other
    scores fixed: s >= every other virtual score (ties go to the first site) and
    s > tau (s + R) / (P + E), i.e. s (P + E - tau) > tau R; never (inf) when P + E <= tau."""
    others = [_scaled(g) for g in virtual[1:]]
    rest = sum(others) + sum(_scaled(g) for g in existing)
    count = len(virtual) + len(existing)
    if count <= tau:
        return float("inf")
    return max([tau * rest / (count - tau), *others])


@exercise("ch10.insertion_bar", max_examples=40, points=3, forbid=("minisensli.sensli.selection.select",))
def insertion_bar(answer, case):
    widths = case.draw(st.lists(st.integers(1, 4), min_size=1, max_size=3), "virtual widths")
    shapes = case.draw(
        st.lists(st.tuples(st.integers(1, 4), st.integers(1, 4)), min_size=1, max_size=3), "existing shapes"
    )
    levels = st.sampled_from([0.05, 0.3, 1.0, 3.0])
    v_levels = case.draw(st.lists(levels, min_size=len(widths), max_size=len(widths)), "virtual magnitudes")
    e_levels = case.draw(st.lists(levels, min_size=len(shapes), max_size=len(shapes)), "existing magnitudes")
    tau = case.draw(st.sampled_from([1.0, 0.5, 1.5, 2.0, 3.0]), "tau")
    virtual = case.show([_gradient((w, w), m) for w, m in zip(widths, v_levels)], "virtual")
    existing = case.show([_gradient(s, m) for s, m in zip(shapes, e_levels)], "existing")
    got = answer([g.copy() for g in virtual], [g.copy() for g in existing], tau)
    expected = _bar(virtual, existing, tau)
    what = "the smallest scaled score of site 0 at which the rule inserts there"
    if np.isinf(expected):
        if not (isinstance(got, (int, float, np.floating)) and np.isposinf(got)):
            raise AssertionError(f"{what}: no score is enough here (return float('inf')), got {got!r}")
        return
    assert_scalar(got, expected, what, rtol=1e-9, atol=1e-12)
    # the checker's own sanity check against the package: just above the bar it inserts at site 0,
    # just below it does not (the other sites' gradients unchanged)
    base = virtual[0] / np.sqrt(_scaled(virtual[0]))  # scaled score 1
    for factor, inserts in ((1 + 1e-6, True), (1 - 1e-6, False)):
        moved = [base * np.sqrt(expected * factor), *virtual[1:]]
        assert (_package_choice(moved, existing, tau) == 0) == inserts, "checker: bar disagrees with sensli.select"


def _package_choice(virtual, existing, tau):
    sites = [
        SiteScore(
            Site(position=2 * i + 2, kind="dense", width=g.shape[0], activation="relu"),
            score(g, "fro"),
            "fro",
            score(g, "fro_scaled"),
            {"weight": g},
        )
        for i, g in enumerate(virtual)
    ]
    result = SensitivityResult(
        sites,
        {f"existing {j}": score(g, "fro_scaled") for j, g in enumerate(existing)},
        method="closed_form",
        batches=1,
        seconds=0.0,
    )
    chosen = select(result, "threshold", threshold=tau)
    return None if chosen is None else sites.index(chosen)


def _gradient(shape, magnitude):
    """A fixed, varied pattern of entries (signs and sizes differ) times a magnitude."""
    size = int(np.prod(shape))
    return magnitude * np.cos(1.0 + 2.0 * np.arange(size)).reshape(shape)


def _linear_site(rng, width, out, batch_sizes, tail):
    """A small net x -> relu(x W1^T + b1) = a -> a W^T + b (-> tanh -> Dense, when ``tail``) with a
    cross-entropy loss, and its minibatches. Returns W, the averaged dL/dW and the averaged dL/dV of
    a virtual linear layer a -> a V^T + c at V = I, c = 0 inserted before W, both by autograd on
    the extended network (at the identity it computes the original network's function)."""
    inputs = int(rng.integers(1, 4))
    w1, b1 = rng.normal(size=(width, inputs)), rng.normal(size=width) * 0.5
    w, b = rng.normal(size=(out, width)), rng.normal(size=out) * 0.5
    classes = int(rng.integers(2, 4)) if tail else out
    w3, b3 = rng.normal(size=(classes, out)), rng.normal(size=classes) * 0.5
    grad_v, grad_w = np.zeros((width, width)), np.zeros((out, width))
    for size in batch_sizes:
        x, labels = rng.normal(size=(size, inputs)), rng.integers(0, classes, size)
        v, c = Tensor(np.eye(width), requires_grad=True), Tensor(np.zeros(width), requires_grad=True)
        weight = Tensor(w.copy(), requires_grad=True)
        a = F.relu(F.linear(Tensor(x), Tensor(w1), Tensor(b1)))
        z = F.linear(F.linear(a, v, c), weight, Tensor(b))
        if tail:
            z = F.linear(F.tanh(z), Tensor(w3), Tensor(b3))
        F.cross_entropy(z, labels).backward()
        grad_v, grad_w = grad_v + v.grad, grad_w + weight.grad
    return w, grad_w / len(batch_sizes), grad_v / len(batch_sizes)


def _compare_site(answer, w, g, expected, what):
    got = answer(w.copy(), g.copy())
    assert_close(got, expected, what, rtol=1e-7, atol=1e-10)


@exercise("ch10.linear_site_multiplier", max_examples=30, points=3)
def linear_site_multiplier(answer, case):
    # fixed first: a wider layer before a narrower one (w = 3, out = 2: the multiplier is 3x3, neither
    # W nor G is), two minibatches of different sizes, a product that is not symmetric
    w0, g0, v0 = _linear_site(np.random.default_rng(7), 3, 2, [4, 2], tail=False)
    case.show(w0, "w_next")
    case.show(g0, "g_next")
    _compare_site(answer, w0, g0, v0, "the linear site's multiplier dL/dV (w = 3 before out = 2)")
    case.drawn.clear()
    width = case.draw(st.integers(1, 5), "width w")
    out = case.draw(st.integers(2, 5), "out")
    batch_sizes = case.draw(st.lists(st.integers(1, 6), min_size=1, max_size=3), "minibatch sizes")
    tail = case.draw(st.booleans(), "more layers after the next Dense")
    w, g, v = _linear_site(case.rng(), width, out, batch_sizes, tail)
    case.show(w, "w_next")
    case.show(g, "g_next")
    _compare_site(answer, w, g, v, "the linear site's multiplier dL/dV (averaged over the minibatches)")
