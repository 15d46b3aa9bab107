"""Exercises of chapter 6 (constrained optimisation and Lagrange multipliers).

ch06.kkt_solve        the KKT linear system of min 1/2 x^T A x - b^T x s.t. C x = c
ch06.newton_kkt_step  one Newton step on the KKT conditions with one curved constraint

Sign convention (the chapter's): L = f - lam^T (g - c), so grad f = sum_i lam_i grad g_i at a
solution and lam = df*/dc. The oracles solve the same systems with numpy, written out here.
The arrays come from a drawn seed (hypothesis then shrinks one integer, not dozens of entries,
so a wrong answer is reported quickly); they are shown in the report as drawn values.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import strategies as st

from ._asserts import as_array, assert_close, unpack
from ._core import exercise


@exercise("ch06.kkt_solve", max_examples=30, points=2)
def kkt_solve(answer, case):
    n = case.draw(st.integers(2, 4), "n")
    m = case.draw(st.integers(1, n - 1), "m")
    rng = case.rng()
    m_ = rng.uniform(-1, 1, (n, n))
    # A = M M^T + n I is symmetric positive definite; C = C0 + 4 [I 0] has independent rows
    a_mat = case.show(m_ @ m_.T + n * np.eye(n), "A")
    c_mat = case.show(rng.uniform(-1, 1, (m, n)) + 4 * np.eye(m, n), "C")
    b = case.show(rng.uniform(-3, 3, n), "b")
    c = case.show(rng.uniform(-3, 3, m), "c")
    x, lam = unpack(answer(a_mat.copy(), b.copy(), c_mat.copy(), c.copy()), "kkt_solve", ("x", "lam"))
    kkt = np.block([[a_mat, -c_mat.T], [c_mat, np.zeros((m, m))]])
    expected = np.linalg.solve(kkt, np.concatenate([b, c]))
    assert_close(x, expected[:n], "x", rtol=1e-8)
    assert_close(lam, expected[n:], "lam (convention: A x - b = C^T lam, so that lam = df*/dc)", rtol=1e-8)


def _problem(p_mat: Any, b_mat: Any, e: Any) -> dict[str, Any]:
    """f(x) = 1/2 x^T P x + sum cos(x_i); g(x) = 1/2 x^T B x + e^T x (a curved constraint)."""
    return {
        "grad_f": lambda x: p_mat @ x - np.sin(x),
        "hess_f": lambda x: p_mat - np.diag(np.cos(x)),
        "g": lambda x: float(0.5 * x @ b_mat @ x + e @ x),
        "grad_g": lambda x: b_mat @ x + e,
        "hess_g": lambda x: b_mat.copy(),
    }


@exercise("ch06.newton_kkt_step", max_examples=30, points=3)
def newton_kkt_step(answer, case):
    n = case.draw(st.integers(2, 4), "n")
    rng = case.rng()
    m_, b0 = rng.uniform(-1, 1, (n, n)), rng.uniform(-0.5, 0.5, (n, n))
    # P = M M^T + 10 I, |B_ij| <= 1 and |lam| <= 1 keep the Lagrangian's Hessian positive definite;
    # e_0 >= 5 keeps grad g = B x + e away from zero: the KKT matrix is always invertible.
    p_mat = case.show(m_ @ m_.T + 10 * np.eye(n), "P")
    b_mat = case.show(b0 + b0.T, "B")
    e = case.show(rng.uniform(-1, 1, n) + 6 * np.eye(n)[0], "e")
    x = case.show(rng.uniform(-1, 1, n), "x")
    lam = case.show(float(rng.uniform(-1, 1)), "lam")
    c = case.show(float(rng.uniform(-2, 2)), "c")
    fns = _problem(p_mat, b_mat, e)
    got = answer(x.copy(), lam, fns["grad_f"], fns["hess_f"], fns["g"], fns["grad_g"], fns["hess_g"], c)
    x_new, lam_new = unpack(got, "newton_kkt_step", ("x_new", "lam_new"))
    a = fns["grad_g"](x)
    jac = np.block([[fns["hess_f"](x) - lam * b_mat, -a[:, None]], [a[None, :], np.zeros((1, 1))]])
    residual = np.concatenate([fns["grad_f"](x) - lam * a, [fns["g"](x) - c]])
    delta = np.linalg.solve(jac, -residual)
    assert_close(x_new, x + delta[:n], "x_new", rtol=1e-8)
    lam_new = as_array(lam_new, "lam_new")
    if lam_new.size != 1:
        raise AssertionError(f"lam_new: expected a float, got an array of shape {lam_new.shape}")
    assert_close(lam_new.reshape(()), lam + delta[n], "lam_new (convention: grad f = lam grad g)", rtol=1e-8)
