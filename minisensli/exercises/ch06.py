"""Exercises of chapter 6 (constrained optimisation and Lagrange multipliers).

ch06.f_star_curvature  d^2 f*/dc^2 of min 1/2 x^T A x - b^T x s.t. C x = c: (C A^-1 C^T)^-1
ch06.one_sided_slope   the one-sided directional derivative of the loss at a virtual Dense + ReLU
                       layer at its identity, switch-on term included
ch06.best_quadratic_step  the best step of the quadratic model t s - t^2 kappa / 2 on [0, t_max],
                       for every sign of the curvature kappa
ch06.hvp_by_differences  H v by central differences of gradients along v, to about 9 digits

Sign convention (the chapter's): L = f - lam^T (g - c), so lam = df*/dc. The oracles are the
closed forms, written out here; the curvature is also confirmed by re-solving the KKT system
at c +- eps (second differences of f*), so a checker bug cannot hide behind a shared formula.
The arrays come from a drawn seed (hypothesis then shrinks one integer, not dozens of entries);
one_sided_slope also meets a fixed case with entries of a a hair above 0 (active, not kinks).
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from ..autograd import Tensor
from ..higher_order import hvp
from ._asserts import as_array, assert_close, assert_scalar
from ._core import exercise


def _f_star(a_mat: np.ndarray, b: np.ndarray, c_mat: np.ndarray, c: np.ndarray) -> float:
    n, m = a_mat.shape[0], c_mat.shape[0]
    kkt = np.block([[a_mat, -c_mat.T], [c_mat, np.zeros((m, m))]])
    x = np.linalg.solve(kkt, np.concatenate([b, c]))[:n]
    return float(0.5 * x @ a_mat @ x - b @ x)


@exercise("ch06.f_star_curvature", max_examples=30, points=3)
def f_star_curvature(answer, case):
    n = case.draw(st.integers(2, 4), "n")
    m = case.draw(st.integers(1, n - 1), "m")
    rng = case.rng()
    m_ = rng.uniform(-1, 1, (n, n))
    a_mat = case.show(m_ @ m_.T + 0.5 * np.eye(n), "A (symmetric positive definite)")
    c_mat = case.show(rng.uniform(-1, 1, (m, n)) + 2 * np.eye(m, n), "C (independent rows)")
    got = as_array(answer(a_mat.copy(), c_mat.copy()), "d2f*/dc2")
    expected = np.linalg.inv(c_mat @ np.linalg.solve(a_mat, c_mat.T))
    # the same matrix from re-solving: f* is quadratic in c, so second differences are exact up to round-off
    b, c0, eps = rng.uniform(-1, 1, n), rng.uniform(-1, 1, m), 1e-2
    unit = np.eye(m) * eps
    resolved = np.array(
        [
            [
                (
                    _f_star(a_mat, b, c_mat, c0 + unit[i] + unit[j])
                    - _f_star(a_mat, b, c_mat, c0 + unit[i] - unit[j])
                    - _f_star(a_mat, b, c_mat, c0 - unit[i] + unit[j])
                    + _f_star(a_mat, b, c_mat, c0 - unit[i] - unit[j])
                )
                / (4 * eps**2)
                for j in range(m)
            ]
            for i in range(m)
        ]
    )
    np.testing.assert_allclose(resolved, expected, rtol=1e-5, atol=1e-6)  # the checker's own sanity check
    assert_close(got, expected, "d2f*/dc2, an (m, m) matrix (the derivative of lam(c) = df*/dc)", rtol=1e-7)


def _relu_output(rng: np.random.Generator, n: int, w: int) -> np.ndarray:
    """A ReLU output: about half the entries exactly 0 (always a[0, 0]), the others positive."""
    a = np.maximum(rng.standard_normal((n, w)), 0.0)
    a[0, 0] = 0.0
    return a


def one_sided_slope_formula(a: np.ndarray, d: np.ndarray, dv: np.ndarray, dc: np.ndarray) -> float:
    u = a @ dv.T + dc  # d/dt of the pre-activation a (I + t D)^T + t e
    return float((d * np.where(a > 0, u, np.maximum(u, 0.0))).sum())


# entries of a a hair above 0 are active units, not kinks (np.isclose(a, 0) would call them kinks);
# the rate a D^T + e is negative at them, so treating them as kinks drops their -0.5 and -0.25 terms
_TINY_A = np.array([[0.0, 1e-10, 0.5], [3e-10, 0.0, 1.0]])
_TINY_D = np.array([[0.5, 1.0, -0.25], [0.25, -0.5, 0.5]])
_TINY_DV = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
_TINY_E = np.array([-1.0, -0.5, 0.5])


@exercise("ch06.one_sided_slope", max_examples=30, points=3)
def one_sided_slope(answer, case):
    n = case.draw(st.integers(2, 6), "N")
    w = case.draw(st.integers(2, 5), "w")
    rng = case.rng()
    a = case.show(_relu_output(rng, n, w), "a")
    d = case.show(rng.standard_normal((n, w)) / n, "d")
    dv = case.show(rng.standard_normal((w, w)), "D")
    dc = case.show(rng.standard_normal(w), "e")
    got = answer(a.copy(), d.copy(), dv.copy(), dc.copy())
    expected = one_sided_slope_formula(a, d, dv, dc)
    # the oracle against a one-sided difference of the linearised loss sum(d * relu(a V^T + c))
    t = 1e-7
    moved = (d * np.maximum(a @ (np.eye(w) + t * dv).T + t * dc, 0.0)).sum() - (d * a).sum()
    np.testing.assert_allclose(moved / t, expected, rtol=1e-5, atol=1e-9)
    assert_scalar(got, expected, "the slope lim (l(I + tD, te) - l(I, 0)) / t for t -> 0+", rtol=1e-8, atol=1e-12)
    # then the fixed case, reached once the answer is right on this example's drawn arrays (so a
    # failure here is about the tiny entries); the report shows these arrays, not the drawn ones
    case.drawn.clear()
    fixed = {"a": _TINY_A, "d": _TINY_D, "D": _TINY_DV, "e": _TINY_E}
    for label, value in fixed.items():
        case.show(value.copy(), label)
    assert_scalar(
        answer(*(v.copy() for v in fixed.values())),
        one_sided_slope_formula(*fixed.values()),
        "the slope with entries of a of 1e-10 and 3e-10 (active units: a kink is a == 0 exactly)",
        rtol=1e-8,
        atol=1e-12,
    )


def best_quadratic_step_formula(s: float, kappa: float, t_max: float) -> tuple[float, float]:
    """argmax and max of m(t) = t s - t^2 kappa / 2 over 0 <= t <= t_max (s > 0)."""
    t = min(s / kappa, t_max) if kappa > 0 else t_max
    return t, t * s - 0.5 * t * t * kappa


@exercise("ch06.best_quadratic_step", max_examples=40, points=2)
def best_quadratic_step(answer, case):
    rng = case.rng()
    s = case.show(float(10 ** rng.uniform(-6, 0)), "s")
    regime = case.draw(st.sampled_from(["inside", "bounded", "flat", "concave up"]), "regime")
    t_max = case.show(float(10 ** rng.uniform(-1, 2)), "t_max")
    # the curvature puts s / kappa inside [0, t_max], beyond it, or makes the model unbounded
    kappa = {
        "inside": s / (t_max * rng.uniform(0.1, 0.9)),
        "bounded": s / (t_max * rng.uniform(1.5, 10)),
        "flat": 0.0,
        "concave up": -s * rng.uniform(0.01, 2),
    }[regime]
    case.show(kappa, "kappa")
    got = answer(s, kappa, t_max)
    if not isinstance(got, tuple) or len(got) != 2:
        raise AssertionError(f"expected a pair (t, decrease), got {type(got).__name__}")
    t, decrease = best_quadratic_step_formula(s, kappa, t_max)
    # the oracle against a fine grid of the model over [0, t_max]
    grid = np.linspace(0.0, t_max, 20001)
    assert abs((grid * s - 0.5 * grid**2 * kappa).max() - decrease) <= 1e-6 * abs(decrease) + 1e-15
    assert_scalar(got[0], t, "the best step t in [0, t_max]", rtol=1e-9, atol=1e-15)
    assert_scalar(got[1], decrease, "the decrease t s - t^2 kappa / 2 at that step", rtol=1e-9, atol=1e-18)


# --- ch06.hvp_by_differences --------------------------------------------------------------

_SMOOTH = {
    "sum(tanh(A x)^2)": lambda t, a: ((Tensor(a) @ t).tanh() ** 2).sum(),
    "sum(exp(A x / 2))": lambda t, a: ((Tensor(a) @ t) * 0.5).exp().sum(),
    "sum((A x)^3) / 3": lambda t, a: ((Tensor(a) @ t) ** 3).sum() / 3,
}


@exercise("ch06.hvp_by_differences", max_examples=30, points=3, forbid=("minisensli.hvp", "minisensli.hessian"))
def hvp_by_differences(answer, case):
    n = case.draw(st.integers(1, 5), "n")
    name = case.draw(st.sampled_from(sorted(_SMOOTH)), "f")
    scale = case.draw(st.sampled_from([1e-3, 1.0, 1e3]), "|v| scale")
    rng = case.rng()
    a = rng.uniform(-1, 1, (n, n)) / np.sqrt(n)
    x = case.show(rng.uniform(-1, 1, n), "x")
    v = case.show(scale * rng.standard_normal(n), "v")
    formula = _SMOOTH[name]

    def grad_f(point):
        t = Tensor(np.array(point, dtype=np.float64), requires_grad=True)
        formula(t, a).backward()
        return t.grad

    got = answer(grad_f, x.copy(), v.copy())
    _, product = hvp(lambda t: formula(t, a), Tensor(x), v)
    assert isinstance(product, Tensor)  # one input: one Tensor
    expected = product.data
    size = np.abs(expected).max()
    assert_close(
        got, expected, f"H v for f = {name} (to about 9 digits of max|H v|)", rtol=0, atol=1e-9 * size + 1e-300
    )
