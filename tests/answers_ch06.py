"""Answers to the chapter 6 exercises: the correct one and mistakes a student would plausibly make."""

import numpy as np


def _kkt(a_mat, b, c_mat, c, *, sign=-1.0, hessian_factor=1.0, b_sign=1.0):
    n, m = a_mat.shape[0], c_mat.shape[0]
    kkt = np.block([[hessian_factor * a_mat, sign * c_mat.T], [c_mat, np.zeros((m, m))]])
    solution = np.linalg.solve(kkt, np.concatenate([b_sign * b, c]))
    return solution[:n], solution[n:]


def kkt_solve(a_mat, b, c_mat, c):
    return _kkt(a_mat, b, c_mat, c)


def kkt_solve_plus_convention(a_mat, b, c_mat, c):
    return _kkt(a_mat, b, c_mat, c, sign=1.0)  # L = f + lam (g - c): lam has the opposite sign


def kkt_solve_gradient_2ax(a_mat, b, c_mat, c):
    return _kkt(a_mat, b, c_mat, c, hessian_factor=2.0)  # grad of 1/2 x^T A x taken as 2 A x


def kkt_solve_gradient_ax_plus_b(a_mat, b, c_mat, c):
    return _kkt(a_mat, b, c_mat, c, b_sign=-1.0)  # grad f written as A x + b


def _newton(x, lam, grad_f, hess_f, g, grad_g, hess_g, c, *, curvature=True, plus=False, step_sign=-1.0):
    n = x.shape[0]
    s = 1.0 if plus else -1.0  # the Lagrangian f + s lam (g - c)
    residual = np.concatenate([grad_f(x) + s * lam * grad_g(x), [g(x) - c]])
    jac = np.zeros((n + 1, n + 1))
    jac[:n, :n] = hess_f(x) + (s * lam * hess_g(x) if curvature else 0.0)
    jac[:n, n] = s * grad_g(x)
    jac[n, :n] = grad_g(x)
    delta = np.linalg.solve(jac, step_sign * residual)
    return x + delta[:n], lam + float(delta[n])


def newton_kkt_step(x, lam, grad_f, hess_f, g, grad_g, hess_g, c):
    return _newton(x, lam, grad_f, hess_f, g, grad_g, hess_g, c)


def newton_without_constraint_curvature(x, lam, grad_f, hess_f, g, grad_g, hess_g, c):
    return _newton(x, lam, grad_f, hess_f, g, grad_g, hess_g, c, curvature=False)


def newton_plus_convention(x, lam, grad_f, hess_f, g, grad_g, hess_g, c):
    return _newton(x, lam, grad_f, hess_f, g, grad_g, hess_g, c, plus=True)


def newton_solves_j_delta_equals_f(x, lam, grad_f, hess_f, g, grad_g, hess_g, c):
    return _newton(x, lam, grad_f, hess_f, g, grad_g, hess_g, c, step_sign=1.0)


ANSWERS = {
    "ch06.kkt_solve": {
        "correct": kkt_solve,
        "wrong": {
            "Lagrangian f + lam (g - c): multiplier of the opposite sign": kkt_solve_plus_convention,
            "gradient of 1/2 x^T A x taken as 2 A x": kkt_solve_gradient_2ax,
            "gradient of f written as A x + b": kkt_solve_gradient_ax_plus_b,
        },
    },
    "ch06.newton_kkt_step": {
        "correct": newton_kkt_step,
        "wrong": {
            "Hessian of f alone (no -lam hess g term)": newton_without_constraint_curvature,
            "Lagrangian f + lam (g - c) with the given lam": newton_plus_convention,
            "solves J delta = F (steps uphill)": newton_solves_j_delta_equals_f,
        },
    },
}
