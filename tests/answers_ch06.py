"""Answers to the chapter 6 exercises: the correct one and mistakes a student would plausibly make."""

import numpy as np


def f_star_curvature(a_mat, c_mat):
    # x = A^-1 (b + C^T lam) and C x = c give lam(c) = S^-1 (c - C A^-1 b), S = C A^-1 C^T;
    # lam = df*/dc, so d2f*/dc2 = dlam/dc = S^-1
    return np.linalg.inv(c_mat @ np.linalg.solve(a_mat, c_mat.T))


def f_star_curvature_without_inverse(a_mat, c_mat):
    return c_mat @ np.linalg.solve(a_mat, c_mat.T)  # dc/dlam instead of dlam/dc


def f_star_curvature_with_a_not_its_inverse(a_mat, c_mat):
    return np.linalg.inv(c_mat @ a_mat @ c_mat.T)  # the Hessian of f where its inverse belongs


def f_star_curvature_sign(a_mat, c_mat):
    return -np.linalg.inv(c_mat @ np.linalg.solve(a_mat, c_mat.T))  # the other sign convention for lam


def f_star_curvature_ignoring_a(a_mat, c_mat):
    return np.linalg.inv(c_mat @ c_mat.T)  # as if a_mat were the identity


def one_sided_slope(a, d, dv, e):
    u = a @ dv.T + e
    return float((d * np.where(a > 0, u, np.maximum(u, 0.0))).sum())


def one_sided_slope_gradient_only(a, d, dv, e):
    return float((d * (a > 0) * (a @ dv.T + e)).sum())  # <G_V, dv> + <g_c, e>: the switch-on term forgotten


def one_sided_slope_central(a, d, dv, e):
    u = a @ dv.T + e
    return float((d * np.where(a > 0, u, 0.5 * u)).sum())  # the central difference: half of u at the kink


def one_sided_slope_sign(a, d, dv, e):
    u = a @ dv.T + e
    return float((d * np.where(a > 0, u, np.maximum(-u, 0.0))).sum())  # the chapter's -(...) for a step along -G


def one_sided_slope_transposed(a, d, dv, e):
    u = a @ dv + e  # a V instead of a V^T
    return float((d * np.where(a > 0, u, np.maximum(u, 0.0))).sum())


def one_sided_slope_isclose_kink(a, d, dv, e):
    u = a @ dv.T + e
    kink = np.isclose(a, 0)  # "zero up to round-off": a tiny active unit (a = 1e-10) taken for a kink
    return float((d * np.where(kink, np.maximum(u, 0.0), u)).sum())


ANSWERS = {
    "ch06.f_star_curvature": {
        "correct": f_star_curvature,
        "wrong": {
            "c_mat a_mat^-1 c_mat^T without the inverse": f_star_curvature_without_inverse,
            "(c_mat a_mat c_mat^T)^-1: a_mat instead of a_mat^-1": f_star_curvature_with_a_not_its_inverse,
            "sign flipped": f_star_curvature_sign,
            "a_mat forgotten: (c_mat c_mat^T)^-1": f_star_curvature_ignoring_a,
        },
    },
    "ch06.one_sided_slope": {
        "correct": one_sided_slope,
        "wrong": {
            "gradient only (no switch-on term)": one_sided_slope_gradient_only,
            "central difference at the kink (u / 2)": one_sided_slope_central,
            "sign of the switch-on argument": one_sided_slope_sign,
            "transposed direction a dv": one_sided_slope_transposed,
            "kinks found by np.isclose(a, 0)": one_sided_slope_isclose_kink,
        },
    },
}
