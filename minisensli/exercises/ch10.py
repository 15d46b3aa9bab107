"""Exercises of chapter 10 (when to insert): the threshold rule.

ch10.scaled_score      ||G||_F^2 / (number of entries) of an averaged gradient G
ch10.threshold_choice  which virtual site the threshold rule inserts at (an index), or None

The oracle is the package: minisensli.sensli.score(G, "fro_scaled") and
minisensli.sensli.select(..., "threshold") on a SensitivityResult built from the same
gradients. Layers have different numbers of entries (so unscaled scores choose differently),
and every example first makes every layer exactly equally sensitive (so ">=" and ">" differ).
"""

from __future__ import annotations

import operator

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from ..sensli import SensitivityResult, Site, SiteScore, score, select
from ._asserts import assert_close
from ._core import exercise

_ENTRIES = st.floats(-2, 2, allow_nan=False, allow_infinity=False)


@exercise("ch10.scaled_score", max_examples=30, points=1, forbid=("minisensli.sensli.norms.score",))
def scaled_score(answer, case):
    ndim = case.draw(st.sampled_from([2, 4]), "dense (2) or conv (4) weight")
    if ndim == 2:
        shape = case.draw(st.tuples(st.integers(1, 6), st.integers(2, 6)), "shape")
    else:
        shape = case.draw(st.tuples(st.integers(1, 4), st.integers(1, 4), st.just(3), st.just(3)), "shape")
    grad = case.draw(hnp.arrays(np.float64, shape, elements=_ENTRIES), "G")
    assert_close(answer(grad.copy()), score(grad, "fro_scaled"), "scaled score ||G||_F^2 / G.size")


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
    try:
        index = operator.index(got)
    except TypeError as exc:
        raise AssertionError(f"{where}expected an int site index, got {type(got).__name__}") from exc
    assert index == expected, f"{where}the rule inserts at site {expected}, got {index}"


def _gradient(shape, magnitude):
    """A fixed, varied pattern of entries (signs and sizes differ) times a magnitude."""
    size = int(np.prod(shape))
    return magnitude * np.cos(1.0 + 2.0 * np.arange(size)).reshape(shape)


@exercise(
    "ch10.threshold_choice",
    max_examples=40,
    points=2,
    forbid=("minisensli.sensli.selection.select", "minisensli.sensli.norms.score"),
)
def threshold_choice(answer, case):
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
