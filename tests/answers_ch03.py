"""Answers to the chapter 3 exercises: one correct, and wrong ones a reader would plausibly write."""

import numpy as np

# --- ch03.central_difference --------------------------------------------------------------


def central_difference(f, x, eps):
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        original = x[i]
        x[i] = original + eps
        plus = f(x)
        x[i] = original - eps
        minus = f(x)
        x[i] = original
        grad[i] = (plus - minus) / (2 * eps)
    return grad


def forward_difference(f, x, eps):
    grad = np.zeros_like(x)
    base = f(x)
    for i in np.ndindex(x.shape):
        original = x[i]
        x[i] = original + eps
        grad[i] = (f(x) - base) / eps
        x[i] = original
    return grad


def central_difference_over_eps(f, x, eps):
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        original = x[i]
        x[i] = original + eps
        plus = f(x)
        x[i] = original - eps
        minus = f(x)
        x[i] = original
        grad[i] = (plus - minus) / eps
    return grad


def central_difference_without_restoring(f, x, eps):
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        x[i] += eps
        plus = f(x)
        x[i] -= 2 * eps
        minus = f(x)
        grad[i] = (plus - minus) / (2 * eps)
    return grad


def central_difference_all_entries_at_once(f, x, eps):
    return np.full_like(x, (f(x + eps) - f(x - eps)) / (2 * eps))


# --- ch03.within_tolerance ----------------------------------------------------------------


def within_tolerance(analytic, numeric, atol, rtol):
    return np.abs(analytic - numeric) <= atol + rtol * np.abs(numeric)


def within_tolerance_strict(analytic, numeric, atol, rtol):
    return np.abs(analytic - numeric) < atol + rtol * np.abs(numeric)


def within_tolerance_relative_to_analytic(analytic, numeric, atol, rtol):
    return np.abs(analytic - numeric) <= atol + rtol * np.abs(analytic)


def within_tolerance_max_not_sum(analytic, numeric, atol, rtol):
    return np.abs(analytic - numeric) <= np.maximum(atol, rtol * np.abs(numeric))


def within_tolerance_signed_difference(analytic, numeric, atol, rtol):
    return analytic - numeric <= atol + rtol * np.abs(numeric)


# --- ch03.backward_is_correct -------------------------------------------------------------


def _numerical_vjp(f, x, upstream, eps=1e-6):
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        original = x[i]
        x[i] = original + eps
        plus = np.sum(upstream * f(x))
        x[i] = original - eps
        minus = np.sum(upstream * f(x))
        x[i] = original
        grad[i] = (plus - minus) / (2 * eps)
    return grad


def backward_is_correct(f, f_backward, x):
    upstream = np.random.default_rng(0).standard_normal(np.shape(f(x)))
    analytic = f_backward(x, upstream)
    numeric = _numerical_vjp(f, x, upstream)
    return bool(np.all(np.abs(analytic - numeric) <= 1e-6 + 1e-4 * np.abs(numeric)))


def backward_is_correct_with_ones(f, f_backward, x):
    upstream = np.ones(np.shape(f(x)))
    analytic = f_backward(x, upstream)
    numeric = _numerical_vjp(f, x, upstream)
    return bool(np.all(np.abs(analytic - numeric) <= 1e-6 + 1e-4 * np.abs(numeric)))


def backward_is_correct_exact_comparison(f, f_backward, x):
    upstream = np.random.default_rng(0).standard_normal(np.shape(f(x)))
    return bool(np.array_equal(f_backward(x, upstream), _numerical_vjp(f, x, upstream)))


def backward_is_always_correct(f, f_backward, x):
    return True


def tanh_double_backward(x, g, v):
    # tanh's backward is G(x, g) = g (1 - y^2), y = tanh(x); its backward with upstream v:
    # dG/dx = g (-2 y)(1 - y^2) and dG/dg = 1 - y^2, each times v
    y = np.tanh(x)
    return v * g * (-2 * y) * (1 - y**2), v * (1 - y**2)


def tanh_double_backward_no_two(x, g, v):
    y = np.tanh(x)
    return -v * g * y * (1 - y**2), v * (1 - y**2)  # d(y^2)/dy = y: the factor 2 lost


def tanh_double_backward_without_chain(x, g, v):
    y = np.tanh(x)
    return v * g * (-2 * y), v * (1 - y**2)  # d(1 - y^2)/dy, without dy/dx = 1 - y^2


def tanh_double_backward_y_constant(x, g, v):
    y = np.tanh(x)
    return np.zeros_like(x), v * (1 - y**2)  # the saved output treated as a constant (detached)


def tanh_double_backward_g_twice(x, g, v):
    y = np.tanh(x)
    return v * g * (-2 * y) * (1 - y**2), v * g * (1 - y**2)  # d/dg keeps g: G differentiated as if quadratic


ANSWERS = {
    "ch03.central_difference": {
        "correct": central_difference,
        "wrong": {
            "forward difference (error O(eps))": forward_difference,
            "divides by eps instead of 2 eps": central_difference_over_eps,
            "leaves x perturbed (x[i] ends at x[i] - eps)": central_difference_without_restoring,
            "perturbs every entry at once": central_difference_all_entries_at_once,
        },
    },
    "ch03.within_tolerance": {
        "correct": within_tolerance,
        "wrong": {
            "< instead of <=": within_tolerance_strict,
            "relative to |analytic| instead of |numeric|": within_tolerance_relative_to_analytic,
            "max(atol, rtol |n|) instead of the sum": within_tolerance_max_not_sum,
            "no absolute value on the difference": within_tolerance_signed_difference,
        },
    },
    "ch03.backward_is_correct": {
        "correct": backward_is_correct,
        "wrong": {
            "upstream gradient of ones (sums the outputs)": backward_is_correct_with_ones,
            "exact equality with finite differences": backward_is_correct_exact_comparison,
            "always True": backward_is_always_correct,
        },
    },
    "ch03.tanh_double_backward": {
        "correct": tanh_double_backward,
        "wrong": {
            "factor 2 of d(y^2)/dy lost": tanh_double_backward_no_two,
            "chain rule through y = tanh(x) forgotten": tanh_double_backward_without_chain,
            "saved output y treated as a constant": tanh_double_backward_y_constant,
            "d/dg keeps g": tanh_double_backward_g_twice,
        },
    },
}
