"""Chapter 8 exercises: the insertion algorithm.

ch08.virtual_dense_init   the identity values of a virtual Dense layer (function preserving)
ch08.site_score           a site's score from per-minibatch multipliers ('fro' or 'fro_scaled')
ch08.select_abs_max       the "abs max" selection rule on a list of scores

The package is the oracle: sensli.virtual_modules, sensli.score and sensli.select.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from .. import nn, sensli
from ..autograd import Tensor, no_grad
from ._asserts import as_array, assert_close, unpack
from ._core import exercise


@exercise(
    "ch08.virtual_dense_init",
    max_examples=25,
    points=1,
    forbid=("minisensli.sensli.virtual.virtual_modules", "minisensli.sensli.virtual._identity_values"),
)
def virtual_dense_init(answer, case):
    in_features = case.draw(st.integers(1, 5), "in_features")
    width = case.draw(st.integers(1, 5), "width")
    seed = case.draw(st.integers(0, 2**16), "seed")
    rng = np.random.default_rng(seed)
    previous = nn.Dense(in_features, width, rng=rng).to(dtype="float64")
    model = nn.Sequential(previous, nn.ReLU(), nn.Dense(width, 3, rng=rng).to(dtype="float64"))
    weight, bias = unpack(answer(previous), "virtual_dense_init(previous)", ("weight", "bias"))
    for value, what in ((weight, "weight"), (bias, "bias")):
        if value is None:
            raise AssertionError(f"{what} is None: return arrays for both the weight and the bias")
    weight, bias = as_array(weight, "weight"), as_array(bias, "bias")
    if weight.shape != (width, width) or bias.shape != (width,):
        raise AssertionError(
            f"shapes: weight {weight.shape} and bias {bias.shape}, expected ({width}, {width}) "
            f"and ({width},): the new layer maps the {width} hidden units to {width} units"
        )
    new_layer = nn.Dense(width, width, rng=rng).to(dtype="float64")
    with no_grad():
        new_layer.weight.data, new_layer.bias.data = weight.copy(), bias.copy()
    grown = model.with_inserted(2, new_layer, nn.ReLU())
    x = Tensor(rng.standard_normal((8, in_features)) * 2)
    assert_close(
        grown(x).data,
        model(x).data,
        "outputs of the network with the new layer (they must not change)",
        rtol=1e-10,
        atol=1e-12,
    )
    site = sensli.candidate_sites(model)[0]
    expected = sensli.virtual_modules(site, "float64")[0]
    assert_close(weight, expected.weight.data, "weight (the values sensli.virtual_modules uses)")
    assert_close(bias, expected.bias.data, "bias (the values sensli.virtual_modules uses)")


def _weight_shapes() -> st.SearchStrategy:
    dense = st.integers(1, 4).map(lambda w: (w, w))
    conv = st.integers(1, 3).map(lambda c: (c, c, 3, 3))
    return st.one_of(dense, conv)


@exercise("ch08.site_score", max_examples=40, points=1, forbid=("minisensli.sensli.norms.score",))
def site_score(answer, case):
    shape = case.draw(_weight_shapes(), "shape")
    batches = case.draw(st.integers(2, 4), "batches")
    seed = case.draw(st.integers(0, 2**32 - 1), "seed")  # a seed, not arrays: shrinking stays fast
    grads = list(np.random.default_rng(seed).uniform(-1, 1, (batches, *shape)))
    norm = case.draw(st.sampled_from(["fro", "fro_scaled"]), "norm")
    got = as_array(answer([g.copy() for g in grads], norm), "score")
    if got.ndim != 0:
        raise AssertionError(f"the score is one number, got an array of shape {got.shape}")
    averaged = sum(grads) / batches
    assert_close(got, sensli.score(averaged, norm), f"score ({norm}) of the averaged multiplier", rtol=1e-9, atol=1e-12)


def _score_lists() -> st.SearchStrategy:
    tied = st.sampled_from([0.0, 0.25, 1.0, 2.0])
    spread = st.floats(0, 10, allow_nan=False, allow_infinity=False)
    return st.lists(st.one_of(tied, spread), min_size=1, max_size=6)


def _result(scores: list[float]) -> sensli.SensitivityResult:
    sites = [sensli.Site(2 * i + 2, "dense", 3, "relu") for i in range(len(scores))]
    entries = [sensli.SiteScore(site, s, "fro", s / 9, {}) for site, s in zip(sites, scores)]
    return sensli.SensitivityResult(entries, None, "closed_form", 1, 0.0)


@exercise("ch08.select_abs_max", max_examples=40, points=1, forbid=("minisensli.sensli.selection.select",))
def select_abs_max(answer, case):
    scores = case.draw(_score_lists(), "scores")
    got = answer(list(scores))
    if isinstance(got, bool) or not isinstance(got, (int, np.integer)):
        raise AssertionError(f"return the index (an int) of the chosen site, got {got!r} ({type(got).__name__})")
    result = _result(scores)
    chosen = sensli.select(result, "abs max")
    expected = next(i for i, entry in enumerate(result) if entry is chosen)
    if int(got) != expected:
        raise AssertionError(
            f"chose site {int(got)}, expected site {expected} (the largest score; on a tie, the first site with it)"
        )
