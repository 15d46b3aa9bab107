"""Exercises of chapter 10 (when to insert): the threshold rule.

ch10.threshold_choice  which virtual site the threshold rule inserts at (a Python int), or None
ch10.insertion_bar     how large site 0's scaled score must be for the rule to insert there (the best
                       site's own score is part of the mean it must exceed)

The oracle is the package: minisensli.sensli.score(G, "fro_scaled") and
minisensli.sensli.select(..., "threshold") on a SensitivityResult built from the same
gradients. Layers have different numbers of entries (so unscaled scores choose differently).
Every threshold_choice example meets two fixed cases (the mean over the existing weights alone
decides differently; two sites tie exactly for the best and the first wins), then a net whose
layers are all exactly equally sensitive (so ">=" and ">" differ), then drawn magnitudes."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from ..sensli import SensitivityResult, Site, SiteScore, score, select
from ._asserts import assert_scalar
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


def _compare(answer, virtual, existing, tau, where):
    expected = _package_choice(virtual, existing, tau)
    got = answer([g.copy() for g in virtual], [g.copy() for g in existing], tau)
    if expected is None:
        assert got is None, f"{where}the rule does not insert (returns None), got {got!r}"
        return
    assert got is not None, f"{where}the rule inserts at site {expected}, got None"
    if type(got) is not int:  # np.argmax gives np.int64: the statement asks for a Python int
        kind = f"{type(got).__module__}.{type(got).__name__}".removeprefix("builtins.")
        raise AssertionError(
            f"{where}return the site index as a Python int (e.g. int(np.argmax(...))), got {got!r} of type {kind}"
        )
    assert got == expected, f"{where}the rule inserts at site {expected}, got {got}"


def _gradient(shape, magnitude):
    """A fixed, varied pattern of entries (signs and sizes differ) times a magnitude."""
    size = int(np.prod(shape))
    return magnitude * np.cos(1.0 + 2.0 * np.arange(size)).reshape(shape)


@exercise("ch10.threshold_choice", max_examples=40, points=2, forbid=("minisensli.sensli.selection.select",))
def threshold_choice(answer, case):
    # a case the mean over the existing weights alone gets wrong: best virtual 1.0, the other 0.01,
    # existing 1.2 -> mean of the pool 0.737, insert at site 0 (the existing-only mean 1.2 says no)
    _compare(
        answer,
        [np.full((2, 2), 1.0), np.full((3, 3), 0.1)],
        [np.full((2, 3), np.sqrt(1.2))],
        1.0,
        "with virtual scaled scores [1.0, 0.01], existing [1.2] and tau = 1, ",
    )
    # two sites tied for the best (scaled scores exactly 1.0, different sizes): the first of them wins
    _compare(
        answer,
        [np.full((2, 2), 0.1), np.full((3, 3), 1.0), np.full((2, 2), 1.0)],
        [np.full((2, 3), 0.1)],
        1.0,
        "with virtual scaled scores [0.01, 1.0, 1.0] (sites 1 and 2 tied), existing [0.01] and tau = 1, ",
    )
    widths = case.draw(st.lists(st.integers(1, 5), min_size=1, max_size=4), "virtual widths")
    shapes = case.draw(
        st.lists(st.tuples(st.integers(1, 5), st.integers(1, 5)), min_size=1, max_size=4), "existing shapes"
    )
    # first every layer exactly equally sensitive: the best is not above the mean, no insertion
    _compare(
        answer,
        [np.full((w, w), 0.5) for w in widths],
        [np.full(s, 0.5) for s in shapes],
        1.0,
        "with every entry of every gradient 0.5 and tau = 1 (all layers equally sensitive), ",
    )
    # then one magnitude per layer: scores spread over orders of magnitude, as in a real net
    levels = st.sampled_from([0.05, 0.3, 1.0, 3.0])
    v_levels = case.draw(st.lists(levels, min_size=len(widths), max_size=len(widths)), "virtual magnitudes")
    e_levels = case.draw(st.lists(levels, min_size=len(shapes), max_size=len(shapes)), "existing magnitudes")
    tau = case.draw(st.sampled_from([1.0, 0.5, 1.5, 2.0, 0.9, 1.1]), "tau")
    virtual = case.show([_gradient((w, w), m) for w, m in zip(widths, v_levels)], "virtual")
    existing = case.show([_gradient(s, m) for s, m in zip(shapes, e_levels)], "existing")
    _compare(answer, virtual, existing, tau, "")
