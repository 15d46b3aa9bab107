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


def best_quadratic_step(s, kappa, t_max):
    # m(t) = t s - t^2 kappa / 2: for kappa > 0 a parabola with its top at s / kappa (clipped to
    # the bound); for kappa <= 0 it grows on the whole ray, so the bound is the best step
    t = min(s / kappa, t_max) if kappa > 0 else t_max
    return t, t * s - 0.5 * t * t * kappa


def best_quadratic_step_unbounded(s, kappa, t_max):
    t = s / kappa if kappa > 0 else t_max  # the bound forgotten when the top lies beyond it
    return t, t * s - 0.5 * t * t * kappa


def best_quadratic_step_no_half(s, kappa, t_max):
    t = min(s / kappa, t_max) if kappa > 0 else t_max
    return t, t * s - t * t * kappa  # the 1/2 of Taylor's second-order term dropped


def best_quadratic_step_abs_curvature(s, kappa, t_max):
    k = abs(kappa) if kappa != 0 else 1e-300
    t = min(s / k, t_max)  # negative curvature treated as positive: stops where the model keeps rising
    return t, t * s - 0.5 * t * t * kappa


def best_quadratic_step_stay_put(s, kappa, t_max):
    if kappa <= 0:
        return 0.0, 0.0  # "no minimum, no step": but the model rises along the whole ray
    t = min(s / kappa, t_max)
    return t, t * s - 0.5 * t * t * kappa


def best_quadratic_step_s_squared(s, kappa, t_max):
    t = min(s / kappa, t_max) if kappa > 0 else t_max
    return t, s * s / (2 * kappa) if kappa > 0 else t * s  # the unclipped top's value, also when clipped


def hvp_by_differences(grad_f, x, v):
    # central differences of the gradient along v: (g(x + h v) - g(x - h v)) / (2h) = H v + O(h^2 |v|^3);
    # the step taken in x is h |v|, so h = u^(1/3) / |v| puts it at the optimum of section 1
    h = np.cbrt(np.finfo(np.float64).eps / 2) / np.linalg.norm(v)
    return (grad_f(x + h * v) - grad_f(x - h * v)) / (2 * h)


def hvp_by_differences_fixed_step(grad_f, x, v):
    h = 1e-5  # not scaled by |v|: far too large a step for a long v
    return (grad_f(x + h * v) - grad_f(x - h * v)) / (2 * h)


def hvp_by_differences_forward(grad_f, x, v):
    h = np.sqrt(np.finfo(np.float64).eps) / np.linalg.norm(v)  # forward differences: error O(h)
    return (grad_f(x + h * v) - grad_f(x)) / h


def hvp_by_differences_over_h(grad_f, x, v):
    h = np.cbrt(np.finfo(np.float64).eps / 2) / np.linalg.norm(v)
    return (grad_f(x + h * v) - grad_f(x - h * v)) / h  # 2h forgotten


def hvp_by_differences_unit_direction(grad_f, x, v):
    h = np.cbrt(np.finfo(np.float64).eps / 2)
    unit = v / np.linalg.norm(v)
    return (grad_f(x + h * unit) - grad_f(x - h * unit)) / (2 * h)  # H v / |v|: the length of v lost


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
    "ch06.best_quadratic_step": {
        "correct": best_quadratic_step,
        "wrong": {
            "bound ignored when s / kappa > t_max": best_quadratic_step_unbounded,
            "the 1/2 dropped": best_quadratic_step_no_half,
            "|kappa| for negative curvature": best_quadratic_step_abs_curvature,
            "no step when kappa <= 0": best_quadratic_step_stay_put,
            "s^2 / (2 kappa) even when clipped": best_quadratic_step_s_squared,
        },
    },
    "ch06.hvp_by_differences": {
        "correct": hvp_by_differences,
        "wrong": {
            "fixed step, not scaled by |v|": hvp_by_differences_fixed_step,
            "forward differences": hvp_by_differences_forward,
            "divides by h instead of 2h": hvp_by_differences_over_h,
            "unit direction (H v / |v|)": hvp_by_differences_unit_direction,
        },
    },
}
