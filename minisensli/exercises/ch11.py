"""Exercises of chapter 11 (growing wider: width sites, GradMax, the head-to-head study).

ch11.widen_weights     the weights of a Dense layer and its successor with k new units, fan-out 0
ch11.width_multiplier  dl/dV = g^T relu(x U^T + c) at V = 0
ch11.gradmax_fan_in    the top-k right singular vectors of M = g^T x, rows of norm s

Oracles: the package (sensli.widen on a real network: outputs unchanged and the new rows and
columns in place; sensli.width_multipliers) and, for GradMax, the properties that define the
answer rather than one array (singular vectors have free signs): orthogonal rows of norm s and
||M U^T||_F^2 = s^2 (sigma_1^2 + ... + sigma_k^2), the Ky Fan maximum.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from ..autograd import Tensor
from ..nn import Dense, ReLU, Sequential
from ..sensli import Site, widen, width_multipliers
from ._asserts import as_array, assert_close, unpack
from ._core import exercise


@exercise("ch11.widen_weights", max_examples=25, points=2, forbid=("minisensli.sensli.widening.widen",))
def widen_weights(answer, case):
    n_in = case.draw(st.integers(1, 4), "in")
    w = case.draw(st.integers(1, 4), "w")
    out = case.draw(st.integers(1, 4), "out")
    k = case.draw(st.integers(1, 3), "k")
    rng = case.rng()
    w1 = case.show(rng.standard_normal((w, n_in)), "W1")
    b1 = case.show(rng.standard_normal(w), "b1")
    w2 = case.show(rng.standard_normal((out, w)), "W2")
    u = case.show(rng.standard_normal((k, n_in)), "U")
    c = case.show(rng.standard_normal(k), "c")
    got = unpack(answer(w1.copy(), b1.copy(), w2.copy(), u.copy(), c.copy()), "widen_weights", ("W1", "b1", "W2"))
    new_w1, new_b1, new_w2 = (as_array(v, name) for v, name in zip(got, ("W1", "b1", "W2")))
    first, second = Dense(n_in, w), Dense(w, out)
    assert first.bias is not None  # Dense has a bias unless asked not to
    first.weight.data, first.bias.data, second.weight.data = w1, b1, w2
    model = Sequential(first, ReLU(), second)
    site = Site(0, "width", w, "relu", neurons=k)
    expected = widen(model, site, u, c)
    assert_close(new_w1, expected[0].weight.data, "widened W1 ((w + k) x in: the old rows, then U)")
    assert_close(new_b1, expected[0].bias.data, "widened b1 (w + k: the old entries, then c)")
    assert_close(new_w2, expected[2].weight.data, "widened W2 (out x (w + k): the old columns, then V = 0)")
    x = rng.standard_normal((3, n_in))
    before, after = model(Tensor(x)).data, expected(Tensor(x)).data
    assert_close(after, before, "the widened network's output (function preserved)")


@exercise(
    "ch11.width_multiplier", max_examples=30, points=2, forbid=("minisensli.sensli.closed_form.width_multipliers",)
)
def width_multiplier(answer, case):
    n = case.draw(st.integers(1, 6), "N")
    n_in = case.draw(st.integers(1, 4), "in")
    out = case.draw(st.integers(1, 4), "out")
    k = case.draw(st.integers(1, 3), "k")
    rng = case.rng()
    x = case.show(rng.standard_normal((n, n_in)), "x")
    g = case.show(rng.standard_normal((n, out)) / n, "g")
    u = case.show(rng.standard_normal((k, n_in)), "U")
    c = case.show(rng.standard_normal(k), "c")
    expected = width_multipliers(x, g, u, c, "relu")["fan_out"]
    got = answer(x.copy(), g.copy(), u.copy(), c.copy())
    assert_close(got, expected, "dl/dV (out x k: rows = the next layer's units, columns = the new units)")


def _ky_fan(m: np.ndarray, k: int, s: float) -> float:
    sigma = np.linalg.svd(m, compute_uv=False)
    return s * s * float((sigma[:k] ** 2).sum())


@exercise("ch11.gradmax_fan_in", max_examples=30, points=3)
def gradmax_fan_in(answer, case):
    n = case.draw(st.integers(2, 8), "N")
    n_in = case.draw(st.integers(2, 5), "in")
    out = case.draw(st.integers(2, 5), "out")
    k = case.draw(st.integers(1, min(n_in, out)), "k")
    s = case.draw(st.sampled_from([1.0, 0.5, 2.0]), "s")
    rng = case.rng()
    # distinct singular values: x and g from random factors with well separated scales
    x = case.show(rng.standard_normal((n, n_in)) * (1.0 + np.arange(n_in)), "x")
    g = case.show(rng.standard_normal((n, out)) / n, "g")
    u = as_array(answer(x.copy(), g.copy(), k, s), "the fan-in U")
    if u.shape != (k, n_in):
        raise AssertionError(f"the fan-in U: shape {u.shape}, expected (k, in) = {(k, n_in)}")
    assert_close(u @ u.T, s * s * np.eye(k), "U U^T (rows orthogonal, each of norm s)", atol=1e-8)
    m = g.T @ x
    achieved = float(((m @ u.T) ** 2).sum())
    best = _ky_fan(m, k, s)
    if achieved < best * (1 - 1e-7) - 1e-12:
        raise AssertionError(
            f"||M U^T||_F^2 = {achieved:.6g} with M = g^T x, below the maximum s^2 (sigma_1^2 + ... + sigma_k^2) "
            f"= {best:.6g}: the rows are not the top-k right singular vectors of M"
        )
