# %% [markdown]
# # Chapter 6 — Constrained optimisation and Lagrange multipliers
#
# *Reading time: about 65 min; exercises: about 60 min.*
#
# SensLI decides where to insert a layer by reading off a **Lagrange multiplier**. This
# chapter builds the idea from the ground up, away from networks first:
#
# - a quadratic with one linear constraint, solved by hand (with exact fractions) and as a
#   linear system with NumPy;
# - the Karush–Kuhn–Tucker (KKT) conditions, and a non-quadratic problem solved by Newton's
#   method on the KKT system, checked against `scipy.optimize`;
# - the multiplier as the **sensitivity of the optimal value** to the constraint, verified
#   by solving the problem again at a shifted constraint;
# - the step to networks: training a network with a *virtual* identity layer under the
#   constraint "the layer stays the identity" is such a problem, and its multiplier is the
#   loss gradient w.r.t. the virtual parameters. We check what that number promises, and
#   what it does not.
# - second derivatives from the engine: Newton's method with Hessian-vector products instead of
#   a hand-written Hessian, and the curvature along the multiplier, which turns SensLI's
#   first-order promise into a second-order prediction of the decrease, for every site.
#
# **You need** chapters 1–5 (autograd, gradient checks with their higher-order section, layers, training) and basic calculus
# (gradients, the chain rule, Newton's method).
#
# **Package modules**: the idea behind `minisensli/sensli/sensitivity.py` (its docstring
# says "the multiplier is the loss gradient dL/dphi_p at phi0"); the virtual layers
# themselves are in `minisensli/sensli/virtual.py` (chapter 7).

# %%
from fractions import Fraction

import matplotlib.pyplot as plt
import numpy as np
import scipy.optimize

import minisensli as ms
import minisensli.functional as F
from minisensli import data, nn, optim, sensli
from minisensli.exercises import check

ms.set_default_dtype("float64")
ms.manual_seed(0)
rng = np.random.default_rng(0)

# %% [markdown]
# ## 1. A quadratic with a linear constraint, by hand
#
# Minimise
#
# $$f(x, y) = (x - 2)^2 + 2\,(y - 1)^2 \quad\text{subject to}\quad g(x, y) = x + y = c, \qquad c = 1.$$
#
# Without the constraint the minimum is at $(2, 1)$, where $g = 3 \ne 1$. On the line
# $x + y = 1$ picture walking along the line while watching the level sets of $f$: as long
# as the line crosses a level set, walking one way lowers $f$. At the constrained minimum the
# line *touches* a level set, so the level set's normal $\nabla f$ is parallel to the line's
# normal $\nabla g$:
#
# $$\nabla f(x^*) = \lambda\, \nabla g(x^*), \qquad g(x^*) = c .$$
#
# **Sign convention (used throughout the course).** We write the Lagrangian as
# $\mathcal L(x, \lambda) = f(x) - \lambda\,(g(x) - c)$. Its stationarity in $x$ is the
# equation above, and with this sign $\lambda = \mathrm{d}f^*/\mathrm{d}c$ (section 3). Many
# books write $f + \lambda (g - c)$ instead; their $\lambda$ is ours with the opposite sign.
# SensLI only uses the *size* of the multiplier, but a sign error would still break the
# checks below, so we fix one convention.
#
# By hand: $\nabla f = (2(x-2),\ 4(y-1))$ and $\nabla g = (1, 1)$, so
# $2(x-2) = \lambda$, $4(y-1) = \lambda$, $x + y = c$. The first two give
# $x = 2 + \lambda/2$ and $y = 1 + \lambda/4$; the third then gives
# $3 + \tfrac34\lambda = c$, i.e. $\lambda = \tfrac43 (c - 3)$. For $c = 1$:
#
# $$\lambda = -\tfrac83,\qquad x^* = \tfrac23,\qquad y^* = \tfrac13,\qquad f^* = \tfrac{16}{9} + \tfrac{8}{9} = \tfrac83 .$$
#
# Exact fractions make the check free of round-off: every KKT equation must hold *exactly*.


# %%
def f_quad(x, y):
    return (x - 2) ** 2 + 2 * (y - 1) ** 2


def grad_f_quad(x, y):
    return (2 * (x - 2), 4 * (y - 1))


lam_hand, x_hand, y_hand = Fraction(-8, 3), Fraction(2, 3), Fraction(1, 3)
gx, gy = grad_f_quad(x_hand, y_hand)
assert (gx, gy) == (lam_hand * 1, lam_hand * 1)  # grad f = lambda * grad g, with grad g = (1, 1)
assert x_hand + y_hand == 1  # the constraint
assert f_quad(x_hand, y_hand) == Fraction(8, 3)
print(f"x* = ({x_hand}, {y_hand}), lambda = {lam_hand}, f* = {f_quad(x_hand, y_hand)}")

# %% [markdown]
# ### The same problem as one linear system
#
# Any quadratic objective can be written $f(x) = \tfrac12 x^\top A x - b^\top x + \text{const}$,
# here with $A = \operatorname{diag}(2, 4)$, $b = (4, 4)$ and const $= 6$. With $m$ linear
# constraints $C x = c$ ($C$ of shape $m \times n$), stationarity $\nabla f = C^\top \lambda$
# reads $A x - b - C^\top \lambda = 0$, and together with the constraints it is one linear
# system in $(x, \lambda)$ — the **KKT system**:
#
# $$\begin{pmatrix} A & -C^\top \\ C & 0 \end{pmatrix} \begin{pmatrix} x \\ \lambda \end{pmatrix} = \begin{pmatrix} b \\ c \end{pmatrix}.$$
#
# It has a unique solution when the rows of $C$ are linearly independent and $A$ is positive
# definite on the directions the constraints allow ($C d = 0$). Here $C = (1\ \ 1)$.

# %%
A = np.diag([2.0, 4.0])
b = np.array([4.0, 4.0])
C = np.array([[1.0, 1.0]])


def solve_qp(A, b, C, c):
    """min 1/2 x^T A x - b^T x  s.t.  C x = c  ->  (x, lambda), with grad f = C^T lambda."""
    n, m = A.shape[0], C.shape[0]
    kkt = np.block([[A, -C.T], [C, np.zeros((m, m))]])
    solution = np.linalg.solve(kkt, np.concatenate([b, np.atleast_1d(c)]))
    return solution[:n], solution[n:]


x_np, lam_np = solve_qp(A, b, C, 1.0)
np.testing.assert_allclose(x_np, [2 / 3, 1 / 3], rtol=1e-14)
np.testing.assert_allclose(lam_np, [-8 / 3], rtol=1e-14)
print("numpy:", x_np, lam_np)

# %% [markdown]
# A solution of the KKT system is a *stationary point* of the Lagrangian; it is a minimum
# because the curvature of $f$ along the line is positive: with $d = (1, -1)$ spanning
# $\{C d = 0\}$, $d^\top A d = 6 > 0$. (This second-order check matters: a maximum on the
# constraint satisfies the same first-order equations.)

# %%
d_tangent = np.array([1.0, -1.0])
assert C @ d_tangent == 0 and d_tangent @ A @ d_tangent > 0
print("curvature along the constraint:", d_tangent @ A @ d_tangent)

# %% [markdown]
# ## 2. The KKT conditions
#
# For $\min f(x)$ subject to $m$ equality constraints $g_i(x) = c_i$, with $f$ and $g$ smooth:
# if $x^*$ is a local minimum and the gradients $\nabla g_1(x^*), \dots, \nabla g_m(x^*)$ are
# linearly independent (the *linear independence constraint qualification*), then there is
# a unique $\lambda \in \mathbb R^m$ with
#
# $$\nabla f(x^*) = \sum_{i=1}^m \lambda_i \nabla g_i(x^*), \qquad g(x^*) = c .$$
#
# A sufficient second-order condition for a strict local minimum: the Hessian of the
# Lagrangian, $\nabla^2 f - \sum_i \lambda_i \nabla^2 g_i$, is positive definite on the
# tangent directions $\{d : \nabla g_i(x^*)^\top d = 0 \text{ for all } i\}$. Inequality
# constraints add the conditions $\lambda_i \ge 0$ and "$\lambda_i = 0$ where the
# constraint is not active"; SensLI only has equality constraints, so we stop here.
#
# ## 3. The multiplier is the slope of the optimal value
#
# Let $x^*(c)$ be the solution for the constraint value $c$ and $f^*(c) = f(x^*(c))$. When
# $x^*(c)$ is differentiable (the implicit function theorem applied to the KKT system gives
# this under the second-order condition), the chain rule gives
#
# $$\frac{\mathrm{d} f^*}{\mathrm{d} c} = \nabla f(x^*)^\top \frac{\mathrm{d} x^*}{\mathrm{d} c}
#   = \lambda\, \nabla g(x^*)^\top \frac{\mathrm{d} x^*}{\mathrm{d} c}
#   = \lambda\, \frac{\mathrm{d}}{\mathrm{d} c}\, g(x^*(c)) = \lambda \cdot 1 ,$$
#
# because $g(x^*(c)) = c$ for every $c$. In words: **$\lambda$ says how fast the best
# achievable value changes when the constraint is relaxed.** For our quadratic,
# $f^*(c) = \tfrac23 (c - 3)^2$ and indeed $\mathrm{d}f^*/\mathrm{d}c = \tfrac43 (c - 3) = \lambda(c)$.
#
# The check: solve again at $c \pm \varepsilon$ and take the central difference
# $\bigl(f^*(c+\varepsilon) - f^*(c-\varepsilon)\bigr) / (2\varepsilon)$. Since $f^*$ is a
# quadratic in $c$ here, the central difference is exact up to round-off.


# %%
def f_star_quad(c):
    x_opt, _ = solve_qp(A, b, C, c)
    return f_quad(*x_opt)


eps = 1e-3
slope = (f_star_quad(1 + eps) - f_star_quad(1 - eps)) / (2 * eps)
print(f"lambda = {lam_np[0]:.12f}, re-solved slope = {slope:.12f}")
np.testing.assert_allclose(slope, lam_np[0], rtol=1e-9)

# %% [markdown]
# ## 4. A non-quadratic problem: Newton's method on the KKT system
#
# Now a curved valley and a curved constraint:
#
# $$f(x, y) = (x - 1)^2 + 5\,(y - x^2)^2 \quad\text{subject to}\quad g(x, y) = x^2 + y^2 = c, \qquad c = 1 .$$
#
# The unconstrained minimum $(1, 1)$ lies outside the unit circle, so the constraint is
# felt. Stationarity is no longer linear; we solve $F(x, \lambda) = 0$ with
#
# $$F(x, \lambda) = \begin{pmatrix} \nabla f(x) - \lambda \nabla g(x) \\ g(x) - c \end{pmatrix},
# \qquad
# J(x, \lambda) = \begin{pmatrix} \nabla^2 f(x) - \lambda \nabla^2 g(x) & -\nabla g(x) \\ \nabla g(x)^\top & 0 \end{pmatrix}$$
#
# by Newton's method, $J\,\delta = -F$, $(x, \lambda) \leftarrow (x, \lambda) + \delta$. Note the
# term $-\lambda \nabla^2 g$: the curvature of the *constraint* enters the Hessian of the
# Lagrangian. For a quadratic with linear constraints one Newton step lands on the solution
# (the KKT system of section 1 *is* that step). Near a solution the residual roughly
# squares at every step — quadratic convergence, printed and asserted below (a wrong Hessian
# still converges, but only linearly, and fails the assertion).


# %%
def f_valley(p):
    return (p[0] - 1) ** 2 + 5 * (p[1] - p[0] ** 2) ** 2


def grad_f_valley(p):
    return np.array([2 * (p[0] - 1) - 20 * p[0] * (p[1] - p[0] ** 2), 10 * (p[1] - p[0] ** 2)])


def hess_f_valley(p):
    return np.array([[2 - 20 * (p[1] - p[0] ** 2) + 40 * p[0] ** 2, -20 * p[0]], [-20 * p[0], 10.0]])


def g_circle(p):
    return p[0] ** 2 + p[1] ** 2


def grad_g_circle(p):
    return 2 * np.asarray(p, dtype=float)


def hess_g_circle(p):
    return 2 * np.eye(2)


# %%
def newton_kkt(c, start, steps=20, verbose=False, history=None):
    """Newton's method on F(x, lambda) = 0 for the valley problem; returns (x, lambda).
    Appends max |F| of every step to `history` if one is given."""
    p, lam = np.array(start[:2], dtype=float), float(start[2])
    for k in range(steps):
        residual = np.concatenate([grad_f_valley(p) - lam * grad_g_circle(p), [g_circle(p) - c]])
        if history is not None:
            history.append(np.abs(residual).max())
        if verbose:
            print(f"step {k}: |F| = {np.abs(residual).max():.2e}")
        if np.abs(residual).max() < 1e-14:
            break
        jac = np.block(
            [
                [hess_f_valley(p) - lam * hess_g_circle(p), -grad_g_circle(p)[:, None]],
                [grad_g_circle(p)[None, :], np.zeros((1, 1))],
            ]
        )
        delta = np.linalg.solve(jac, -residual)
        p, lam = p + delta[:2], lam + delta[2]
    return p, lam


residuals = []
p_star, lam_valley = newton_kkt(1.0, (0.5, 0.5, 0.0), verbose=True, history=residuals)
print("x* =", p_star, " lambda =", lam_valley, " f* =", f_valley(p_star))
# quadratic convergence: once |F| is small, the next |F| is at most ~|F|^2 (down to round-off).
# A wrong Hessian (of f, or without -lam hess g) still converges, but only linearly: this fails.
for r_now, r_next in zip(residuals, residuals[1:]):
    if r_now < 1e-2 and r_next > 1e-13:
        assert r_next <= 10 * r_now**2, (r_now, r_next)

# %% [markdown]
# Is this the minimum, and the right one? Three independent checks: SciPy's SLSQP solver
# (a different algorithm) finds the same point; scanning $f$ along the whole circle finds
# nothing lower; and the curvature of the Lagrangian along the circle's tangent
# $t = (-y, x)$ is positive. SciPy does not report the multiplier of SLSQP, but at a KKT
# point it follows from the gradients: $\lambda = \nabla g^\top \nabla f / \lVert\nabla g\rVert^2$.

# %%
res = scipy.optimize.minimize(
    f_valley,
    [0.5, 0.5],
    method="SLSQP",
    constraints={"type": "eq", "fun": lambda p: g_circle(p) - 1.0},
    options={"ftol": 1e-14, "maxiter": 200},
)
lam_scipy = grad_g_circle(res.x) @ grad_f_valley(res.x) / (grad_g_circle(res.x) @ grad_g_circle(res.x))
np.testing.assert_allclose(res.x, p_star, atol=1e-6)
np.testing.assert_allclose(lam_scipy, lam_valley, atol=1e-5)

angles = np.linspace(0, 2 * np.pi, 20001)
on_circle = f_valley(np.stack([np.cos(angles), np.sin(angles)]))
assert f_valley(p_star) <= on_circle.min() + 1e-12

t = np.array([-p_star[1], p_star[0]])
curvature = t @ (hess_f_valley(p_star) - lam_valley * hess_g_circle(p_star)) @ t
assert curvature > 0
print(f"scipy x* = {res.x}, lambda from its gradients = {lam_scipy:.8f}; curvature along the circle {curvature:.2f}")

# %% [markdown]
# Now the sensitivity claim on this problem, where $f^*$ is not a quadratic in $c$:
# re-solve at $c \pm \varepsilon$ (warm-started at the current solution) and compare the
# central difference with $\lambda$. The error of a central difference is
# $O(\varepsilon^2)$, so with $\varepsilon = 10^{-4}$ we expect about eight matching digits.


# %%
def f_star_valley(c):
    p, _ = newton_kkt(c, (*p_star, lam_valley))
    return f_valley(p)


eps = 1e-4
slope = (f_star_valley(1 + eps) - f_star_valley(1 - eps)) / (2 * eps)
print(f"lambda = {lam_valley:.10f}, (f*(c+eps) - f*(c-eps)) / (2 eps) = {slope:.10f}")
np.testing.assert_allclose(slope, lam_valley, rtol=1e-6)

# %% [markdown]
# The picture of both problems: level sets of $f$, the constraint, the optimum, and the
# unit vectors along $\nabla f$ and $\nabla g$ there. They lie on one line, as the KKT
# condition says; they point in *opposite* directions because $\lambda < 0$ in both problems
# (growing $c$ moves the constraint towards the unconstrained minimum, so $f^*$ falls).


# %%
def draw_problem(ax, f, grad_f, grad_g, point, box, constraint, title):
    xs, ys = np.meshgrid(np.linspace(*box[:2], 300), np.linspace(*box[2:], 300))
    ax.contour(xs, ys, f(np.stack([xs, ys])), levels=np.geomspace(0.02, 30, 18), cmap="viridis", linewidths=0.8)
    ax.plot(*constraint, "k-", lw=1.5, label="constraint $g = c$")
    for vec, colour, name in ((grad_f(point), "C3", r"$\nabla f$"), (grad_g(point), "C0", r"$\nabla g$")):
        unit = 0.6 * vec / np.linalg.norm(vec)
        ax.annotate("", point + unit, point, arrowprops={"arrowstyle": "->", "color": colour, "lw": 2})
        ax.text(*(point + 1.15 * unit), name, color=colour, fontsize=12, ha="center", va="center")
    ax.plot(*point, "ko", ms=6)
    ax.set(xlim=box[:2], ylim=box[2:], aspect="equal", title=title, xlabel="x", ylabel="y")
    ax.legend(loc="lower left", fontsize=8)


fig, axes = plt.subplots(1, 2, figsize=(10, 4.6))
line = np.array([[-1.0, 3.0], [2.0, -2.0]])
draw_problem(
    axes[0],
    lambda p: f_quad(p[0], p[1]),
    lambda p: np.array(grad_f_quad(*p)),
    lambda p: np.ones(2),
    x_np,
    (-1, 3, -1.5, 2.5),
    line,
    r"quadratic, $x + y = 1$",
)
draw_problem(
    axes[1],
    f_valley,
    grad_f_valley,
    grad_g_circle,
    p_star,
    (-1.5, 1.5, -1.5, 1.5),
    np.stack([np.cos(angles), np.sin(angles)]),
    r"valley, $x^2 + y^2 = 1$",
)
plt.tight_layout()
plt.show()

# %% [markdown]
# And the statement of section 3 as a picture: the optimal value $f^*(c)$ of the valley
# problem over a range of constraint values, with the line of slope $\lambda$ through
# $c = 1$. The line is tangent to the curve: $\lambda$ predicts $f^*$ to *first order*, and
# the prediction degrades as $c$ moves away (the curve bends).

# %%
cs = np.linspace(0.3, 1.9, 33)
f_stars, state = [], (*p_star, lam_valley)
for c_value in cs[cs >= 1]:  # continue the solution outwards from c = 1, warm-starting each solve
    p, lam = newton_kkt(c_value, state)
    f_stars.append(f_valley(p))
    state = (*p, lam)
lower, state = [], (*p_star, lam_valley)
for c_value in cs[cs < 1][::-1]:
    p, lam = newton_kkt(c_value, state)
    lower.append(f_valley(p))
    state = (*p, lam)
f_stars = np.array(lower[::-1] + f_stars)

fig, ax = plt.subplots(figsize=(6, 3.8))
ax.plot(cs, f_stars, "C0-", lw=2, label=r"$f^*(c)$ (re-solved)")
ax.plot(cs, f_valley(p_star) + lam_valley * (cs - 1), "C3--", label=r"$f^*(1) + \lambda\,(c - 1)$")
ax.plot(1, f_valley(p_star), "ko")
ax.set(xlabel="constraint value c", ylabel="optimal value", title="the multiplier is the slope of $f^*$")
ax.legend()
plt.show()

# %% [markdown]
# ## 5. From a toy problem to a network
#
# Take a trained network and imagine a new layer after its hidden ReLU: a **virtual
# layer** $a \mapsto \operatorname{relu}(a V^\top + c)$ with parameters $V$ (width × width)
# and $c$. At $V = I$, $c = 0$ it is the identity, because $a \ge 0$ after a ReLU and
# $\operatorname{relu}(a) = a$ there (chapter 7 treats every kind of virtual layer). Write
# $\theta$ for the network's own parameters and $\ell(\theta, V, c)$ for the loss of the
# *extended* network. Training the extended network under the constraints
# "the virtual layer stays the identity" is the problem
#
# $$\min_{\theta, V, c}\ \ell(\theta, V, c) \quad\text{subject to}\quad V = I,\ \ c = 0 ,$$
#
# with one equality constraint per entry of $V$ and $c$. Its optimal value is the loss the
# *original* network can reach. With multipliers $\Lambda$ (same shape as $V$) and $\mu$,
# the Lagrangian is $\ell - \langle \Lambda, V - I \rangle - \langle \mu, c \rangle$ and the
# KKT conditions are
#
# $$\nabla_\theta \ell = 0, \qquad \nabla_V \ell = \Lambda, \qquad \nabla_c \ell = \mu \qquad \text{at } V = I,\ c = 0 .$$
#
# The constraint functions are the parameters themselves, so their gradients are unit
# vectors and **the multipliers are simply the loss gradients w.r.t. the virtual
# parameters**, one backward pass. By section 3, $\Lambda_{ij}$ is the rate at which the
# best reachable loss would change if the constraint $V_{ij} = \delta_{ij}$ were moved: a
# large $\lVert\Lambda\rVert$ promises that freeing this layer lowers the loss quickly.
#
# A real network is never trained to an exact stationary point ($\nabla_\theta \ell \ne 0$).
# $\Lambda = \nabla_V \ell$ is then the *least-squares multiplier estimate*: the $\Lambda$
# that best satisfies the stationarity equations, which here means it satisfies the
# $V$-block exactly. SensLI uses it as it is.
#
# A tiny example: the paper's spirals with one hidden layer of 5 ReLU units, trained for
# 300 full-batch epochs (on 2 cores, a fraction of a second).

# %%
split = data.spirals()
loader = data.DataLoader(split.train, batch_size=len(split.train))
x, y = next(iter(loader))
model = nn.Sequential(nn.Dense(2, 5), nn.ReLU(), nn.Dense(5, 2))
history = ms.fit(model, loader, optim.SGD(model.parameters(), lr=0.2), epochs=300, progress=False)
print(f"training loss: first epoch {history.train_loss[0]:.4f}, after 300 epochs {history.train_loss[-1]:.4f}")
assert 0.74 < history.train_loss[0] < 0.8  # the prose below says "from 0.77"
assert 0.63 < history.train_loss[-1] < 0.69  # ... "to 0.66"


def extended_loss(V, c):
    """Loss of the network with the virtual layer relu(a V^T + c) after its hidden ReLU."""
    a = model[1](model[0](x))  # (450, 5), a >= 0
    return F.cross_entropy(model[2](F.relu(F.linear(a, V, c))), y)


V = ms.Tensor(np.eye(5), requires_grad=True)
c_virtual = ms.Tensor(np.zeros(5), requires_grad=True)
with ms.no_grad():
    np.testing.assert_allclose(extended_loss(V, c_virtual).item(), F.cross_entropy(model(x), y).item(), rtol=1e-14)

# %% [markdown]
# The extended network computes the same loss (checked above). One backward pass gives the
# multipliers $G_V = \nabla_V \ell$ and $g_c = \nabla_c \ell$, and, as a side product, the
# gradient w.r.t. the network's own parameters. That one is not zero, and not much smaller
# than $G_V$ (printed below): after 300 epochs the loss has only fallen from 0.77 to 0.66, so
# we are not at a stationary point, and $G_V$ is the least-squares estimate described above,
# a rate at the current weights. The package computes the same $G_V$ with
# `sensli.sensitivities(..., method="autograd")`, which builds this extended network
# itself; with one full batch its "averaged" multiplier is exactly our gradient.

# %%
model.zero_grad()
loss0 = extended_loss(V, c_virtual)
loss0.backward()
G, g_c = V.grad.copy(), c_virtual.grad.copy()
print(f"||G_V|| = {np.linalg.norm(G):.3e}, ||g_c|| = {np.linalg.norm(g_c):.3e}")
print("||grad|| of the network's own parameters:", [f"{np.linalg.norm(p.grad):.1e}" for p in model.parameters()])

result = sensli.sensitivities(model, loader, method="autograd")
np.testing.assert_allclose(result[0].multipliers["weight"], G, rtol=1e-12, atol=1e-15)
np.testing.assert_allclose(result[0].multipliers["bias"], g_c, rtol=1e-12, atol=1e-15)
print(f"package: site {result[0].site.label}, score ||G_V||_F^2 = {result[0].score:.3e}")

# %% [markdown]
# ### What the multiplier promises: a first-order decrease
#
# Free the layer and take one small step against the multiplier: $V = I - \varepsilon G_V$,
# $c = -\varepsilon g_c$. If $\ell$ were differentiable there, Taylor's theorem would give
#
# $$\ell(I, 0) - \ell(I - \varepsilon G_V,\ -\varepsilon g_c) = \varepsilon \bigl(\lVert G_V\rVert^2 + \lVert g_c\rVert^2\bigr) + O(\varepsilon^2).$$
#
# We measure the left side for a range of $\varepsilon$ and divide by $\varepsilon$ times the
# bracket. The ratio should tend to 1 as $\varepsilon \to 0$. It does not:

# %%
naive = (G**2).sum() + (g_c**2).sum()
epsilons = np.logspace(-2, 2.5, 19)
decrease = []
with ms.no_grad():
    for e in epsilons:
        decrease.append(loss0.item() - extended_loss(ms.Tensor(np.eye(5) - e * G), ms.Tensor(-e * g_c)).item())
decrease = np.array(decrease)
print(
    "decrease / (eps (||G_V||^2 + ||g_c||^2)) for the three smallest eps:",
    np.round(decrease[:3] / (epsilons[:3] * naive), 5),
)
assert 0.74 < decrease[0] / (epsilons[0] * naive) < 0.8  # "near 0.77", clearly not 1: the next cell explains why

# %% [markdown]
# The ratio settles near 0.77, not 1. The reason is the ReLU *behind* the virtual layer.
# For a unit with $a_{ni} = 0$ (inactive for sample $n$) its pre-activation becomes
# $z_{ni} = -\varepsilon\,(a G_V^\top + g_c)_{ni}$. Where that is negative the unit stays off
# and nothing changes. Where it is positive the unit **switches on** and adds
# $d_{ni} \cdot \varepsilon \max\bigl(0, -(a G_V^\top + g_c)_{ni}\bigr)$ to the loss, with
# $d = \partial\ell/\partial a$ — a change of first order in $\varepsilon$ that the gradient
# cannot see, because autograd uses $\operatorname{relu}'(0) = 0$. The loss is not
# differentiable at the identity; it is only piecewise smooth. Adding the switch-on term,
#
# $$\text{decrease} \approx \varepsilon \Bigl(\lVert G_V\rVert^2 + \lVert g_c\rVert^2 - \sum_{n, i:\ a_{ni} = 0} d_{ni} \max\bigl(0, -(a G_V^\top + g_c)_{ni}\bigr)\Bigr),$$
#
# and this corrected prediction must give a ratio that tends to 1:

# %%
a_hidden = model[1](model[0](x)).detach().requires_grad_()
F.cross_entropy(model[2](a_hidden), y).backward()
a_np, d_np = a_hidden.data, a_hidden.grad
switch_on = (d_np * (a_np == 0) * np.maximum(0.0, -(a_np @ G.T + g_c))).sum()
corrected = naive - switch_on
print(f"inactive (sample, unit) pairs: {(a_np == 0).mean():.0%}; naive slope {naive:.4e}, corrected {corrected:.4e}")
ratio = decrease / (epsilons * corrected)
print("corrected ratio for the three smallest eps:", np.round(ratio[:3], 6))
np.testing.assert_allclose(ratio[0], 1.0, atol=1e-3)

# %%
fig, ax = plt.subplots(figsize=(6.5, 3.8))
ax.semilogx(
    epsilons,
    decrease / (epsilons * naive),
    "C0o-",
    label=r"measured / $\varepsilon\,(\|G_V\|^2 + \|g_c\|^2)$ (multiplier alone)",
)
ax.semilogx(epsilons, ratio, "C3s-", label="measured / corrected first-order prediction")
ax.axhline(1.0, color="gray", lw=0.8, ls=":")
ax.set(
    xlabel=r"step size $\varepsilon$",
    ylabel="ratio",
    ylim=(-0.5, 1.2),
    title="loss decrease after a step against the multiplier",
)
ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# Read the figure from the left: for small steps the measured decrease is a fixed fraction
# of $\varepsilon \lVert G\rVert^2$ (blue) and exactly the corrected first-order prediction
# (red). For larger steps the second-order terms take over, and far enough out the "step
# along the multiplier" *raises* the loss.
#
# So what does the multiplier promise, and what not?
#
# - **First order only.** $\lVert G\rVert^2$ is a rate at $\varepsilon \to 0$; it says nothing
#   about how far the step can go before the curvature wins (the right part of the figure).
# - **At the current point.** $G$ is computed for the present $\theta$. After insertion,
#   training moves $\theta$ and the new layer together, over many steps; the eventual gain
#   can be larger or smaller. The multiplier ranks candidate positions; it does not forecast
#   the loss after training.
# - **Up to kinks.** At a ReLU site the loss is only piecewise smooth at the identity, and
#   the gradient (with $\operatorname{relu}'(0) = 0$) ignores units that a step would switch
#   on. Chapter 7 meets the same effect in finite differences, and treats it there.
# - **As a sensitivity of the optimum** it needs a KKT point; away from one it is the
#   gradient of the current loss, which is how SensLI uses it (after a phase of training).

# %% [markdown]
# ## 6. Second derivatives from the engine
#
# Chapter 3's last section taught the engine to record its own backward pass, so that a
# gradient can be differentiated again: `ms.grad(..., create_graph=True)`, and
# `ms.hvp(f, x, v)`, the Hessian-vector product $H v$ for the cost of about two gradients.
# Two uses here: Newton's method without a hand-written Hessian, and the second-order
# view of what the multiplier promises.
#
# ### Newton's method with Hessian-vector products
#
# Section 4 typed $\nabla^2 f$ and $\nabla^2 g$ by hand. The Jacobian of the KKT system needs
# them only through the Hessian of the Lagrangian, $\nabla^2 \mathcal L = \nabla^2 f - \lambda
# \nabla^2 g$, and its column $k$ is one Hessian-vector product, $\nabla^2 \mathcal L\, e_k$ =
# `ms.hvp(lagrangian, x, e_k)`. The gradients $\nabla f$ and $\nabla g$ come from `ms.grad`.
# The functions `f_valley` and `g_circle` of section 4 are written with indexing, `-`, `*` and
# `**`, which Tensors support, so the engine differentiates them as they are. Same start,
# same stopping rule: the iterates must be those of section 4, to round-off.


# %%
def engine_gradient(fn, p):
    q = ms.Tensor(np.array(p, dtype=float), requires_grad=True)
    (gradient,) = ms.grad(fn(q), [q])
    return gradient.data


def lagrangian_hessian_by_hvp(p, lam):
    """Column k is H_L e_k, one Hessian-vector product of L = f - lam g each (n of them for n unknowns)."""
    point = ms.Tensor(np.array(p, dtype=float))
    columns = [ms.hvp(lambda q: f_valley(q) - lam * g_circle(q), point, unit)[1].data for unit in np.eye(len(p))]
    return np.stack(columns, axis=1)


def newton_kkt_hvp(c, start, steps=20):
    """Section 4's Newton method, with every derivative from the engine; returns the iterates."""
    p, lam, iterates = np.array(start[:2], dtype=float), float(start[2]), []
    for _ in range(steps):
        iterates.append((p.copy(), lam))
        grad_g = engine_gradient(g_circle, p)
        residual = np.concatenate([engine_gradient(f_valley, p) - lam * grad_g, [g_circle(p) - c]])
        if np.abs(residual).max() < 1e-14:
            break
        jac = np.block([[lagrangian_hessian_by_hvp(p, lam), -grad_g[:, None]], [grad_g[None, :], np.zeros((1, 1))]])
        delta = np.linalg.solve(jac, -residual)
        p, lam = p + delta[:2], lam + delta[2]
    return iterates


# %%
iterates = newton_kkt_hvp(1.0, (0.5, 0.5, 0.0))
for k, (p_k, lam_k) in enumerate(iterates):
    p_hand, lam_hand_k = newton_kkt(1.0, (0.5, 0.5, 0.0), steps=k)  # section 4's method stopped after k steps
    np.testing.assert_allclose(p_k, p_hand, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(lam_k, lam_hand_k, rtol=1e-12, atol=1e-14)
np.testing.assert_allclose(
    lagrangian_hessian_by_hvp(p_star, lam_valley),
    hess_f_valley(p_star) - lam_valley * hess_g_circle(p_star),
    rtol=1e-13,
)
print(f"{len(iterates)} iterates, equal to section 4's; last: x = {iterates[-1][0]}, lambda = {iterates[-1][1]:.12f}")

# %% [markdown]
# The engine's Newton method walks through exactly the same points. For two unknowns the
# Hessian is two products; for $n$ unknowns it is $n$ of them, which is why large problems
# never form it and solve $J\,\delta = -F$ with an iterative method (conjugate gradients,
# MINRES) that only asks for products $J v$: one Hessian-vector product each.
#
# ### The second-order view of SensLI's promise
#
# Back to the network of section 5. Along the step against the multiplier, write
# $\varphi(t) = \ell(I - t G_V,\ -t g_c)$ and stack the multipliers into one vector
# $G = (G_V, g_c)$. Where $\ell$ is twice differentiable, Taylor's formula to second order is
#
# $$\varphi(0) - \varphi(t) \approx t\, s - \tfrac12 t^2 \kappa, \qquad
#   s = \lVert G_V\rVert^2 + \lVert g_c\rVert^2, \qquad \kappa = G^\top H G ,$$
#
# with $H$ the Hessian of the loss of the extended network w.r.t. the virtual parameters.
# $\kappa$ is the **curvature along the multiplier direction**, and it costs one
# Hessian-vector product: $\kappa = \langle G, H G\rangle$ with $H G$ = `ms.hvp(extended_loss,
# [V, c], [G_V, g_c])`. If $\kappa > 0$ the quadratic model is largest at
#
# $$t^* = \frac{s}{\kappa}, \qquad \text{predicted decrease} \quad \frac{s^2}{2\kappa};$$
#
# if $\kappa \le 0$ the model has no maximum along the ray and predicts an unbounded decrease
# (exercise 3 treats that case). The cell computes $\kappa$ and confirms the product against
# the full Hessian from `ms.hessian` (30 Hessian-vector products, one per virtual parameter).

# %%
point = [ms.Tensor(np.eye(5)), ms.Tensor(np.zeros(5))]
_, (HG_V, Hg_c) = ms.hvp(extended_loss, point, [G, g_c])
kappa = (G * HG_V.data).sum() + (g_c * Hg_c.data).sum()
blocks = ms.hessian(extended_loss, point)
H_full = np.block([[blocks[i][j].data.reshape(V.size if i == 0 else 5, -1) for j in range(2)] for i in range(2)])
G_flat = np.concatenate([G.ravel(), g_c])
np.testing.assert_allclose(G_flat @ H_full @ G_flat, kappa, rtol=1e-10)
t_star, predicted = naive / kappa, naive**2 / (2 * kappa)
print(f"s = {naive:.4e}, kappa = {kappa:.4e}, t* = {t_star:.1f}, predicted decrease s^2/(2 kappa) = {predicted:.3e}")
assert kappa > 0

# %% [markdown]
# Does the curvature explain the ratio of 0.77? **No, and it cannot**: the curvature term is
# of order $t^2$, and the ratio is a first-order effect that is there for the smallest steps.
# It is the switch-on term of section 5, a kink: units with $a_{ni} = 0$ behind the virtual
# layer that the step turns on. A Hessian is a derivative of the gradient, and at the kink the
# engine differentiates with $\operatorname{relu}'(0) = 0$ and $\operatorname{relu}'' = 0$:
# for $H$ those units are off, in both directions, so neither their first-order switch-on nor
# their curvature once on appears in $\kappa$. What the curvature does explain is the *bend*
# of the measured curve in the figure of section 5. Combine the two: the corrected slope
# $s_c$ of section 5 for the first-order part and $\kappa$ for the second-order part,
#
# $$\varphi(0) - \varphi(t) \approx t\, s_c - \tfrac12 t^2 \kappa ,$$
#
# and compare with the measured decrease.

# %%
with ms.no_grad():
    measured = np.array(
        [loss0.item() - extended_loss(ms.Tensor(np.eye(5) - t * G), ms.Tensor(-t * g_c)).item() for t in epsilons]
    )
np.testing.assert_allclose(measured, decrease, rtol=1e-12)  # the same steps as section 5
quadratic = epsilons * corrected - 0.5 * epsilons**2 * kappa
for t, m, q in list(zip(epsilons, measured, quadratic))[::3]:
    print(f"t = {t:8.3g}: measured {m: .3e}, first order {t * corrected: .3e}, with curvature {q: .3e}")
t_c = corrected / kappa
with ms.no_grad():
    at_t_c = loss0.item() - extended_loss(ms.Tensor(np.eye(5) - t_c * G), ms.Tensor(-t_c * g_c)).item()
print(f"t_c = s_c / kappa = {t_c:.1f}: predicted {corrected**2 / (2 * kappa):.3e}, measured {at_t_c:.3e}")
assert 0.8 < at_t_c / (corrected**2 / (2 * kappa)) < 1.2

# %%
fig, ax = plt.subplots(figsize=(6.5, 3.8))
ax.semilogx(epsilons, measured, "ko", ms=4, label="measured decrease")
ax.semilogx(epsilons, epsilons * corrected, "C0--", label=r"first order, $t\,s_c$")
ax.semilogx(epsilons, quadratic, "C3-", label=r"with curvature, $t\,s_c - \frac{1}{2} t^2 \kappa$")
ax.axvline(t_c, color="gray", lw=0.8, ls=":")
ax.set(
    xlabel="step size t",
    ylabel="loss decrease",
    ylim=(-2 * predicted, 2 * predicted),
    title="the step against the multiplier, one hidden layer of 5",
)
ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# On this network the quadratic model with the corrected slope follows the measurement up to
# the model's optimal step $t_c = s_c/\kappa$ (dotted), and predicts the decrease there to
# within the bounds asserted above. Beyond it the two part: along the way more units cross
# their kink (active ones switch off, others on), and the Hessian at $t = 0$ knows nothing of
# kinks it has not reached.
#
# ### Every site of the paper's spirals net
#
# The paper's spirals network has two hidden ReLU layers of 4 (chapter 9) and so two candidate
# sites, at positions 2 and 4. For each, the same numbers: the rate $s = \lVert G\rVert^2$ that
# SensLI ranks by, the corrected rate $s_c$, the curvature $\kappa$ from one Hessian-vector
# product, the predicted decrease $s^2/(2\kappa)$ at $t^* = s/\kappa$, and, measured on a grid
# of steps, the decrease at $t^*$ and the best decrease along the ray.


# %%
def site_functions(model, position):
    """The loss (V, c) -> l of the model with relu(h V^T + c) inserted at `position`, and the
    (fixed) input h of that layer."""
    with ms.no_grad():
        h = nn.Sequential(*model.layers[:position])(x)
    rest = nn.Sequential(*model.layers[position:])
    return (lambda V, c: F.cross_entropy(rest(F.relu(F.linear(h, V, c))), y)), h.data


def second_order_row(model, position):
    loss, h = site_functions(model, position)
    width = h.shape[1]
    V_id, c_id = ms.Tensor(np.eye(width), requires_grad=True), ms.Tensor(np.zeros(width), requires_grad=True)
    G_s, g_s = (t.data for t in ms.grad(loss(V_id, c_id), [V_id, c_id]))
    _, (HG_s, Hg_s) = ms.hvp(loss, [V_id, c_id], [G_s, g_s])
    s, kappa_s = (G_s**2).sum() + (g_s**2).sum(), (G_s * HG_s.data).sum() + (g_s * Hg_s.data).sum()
    a = ms.Tensor(h, requires_grad=True)
    F.cross_entropy(nn.Sequential(*model.layers[position:])(a), y).backward()
    s_c = s - (a.grad * (h == 0) * np.maximum(0.0, -(h @ G_s.T + g_s))).sum()
    with ms.no_grad():
        phi = [loss(ms.Tensor(np.eye(width) - t * G_s), ms.Tensor(-t * g_s)).item() for t in (0.0, s / kappa_s)]
        steps = np.geomspace(1e-3, 1e3, 121)
        along = np.array([loss(ms.Tensor(np.eye(width) - t * G_s), ms.Tensor(-t * g_s)).item() for t in steps])
    return {
        "s": s,
        "s_c": s_c,
        "kappa": kappa_s,
        "t*": s / kappa_s,
        "predicted": s**2 / (2 * kappa_s),
        "measured at t*": phi[0] - phi[1],
        "best measured": phi[0] - along.min(),
        "best t": steps[along.argmin()],
    }


ms.manual_seed(0)
paper_net = nn.Sequential(nn.Dense(2, 4), nn.ReLU(), nn.Dense(4, 4), nn.ReLU(), nn.Dense(4, 2))
ms.fit(paper_net, loader, optim.SGD(paper_net.parameters(), lr=0.2), epochs=450, progress=False)
rows = {position: second_order_row(paper_net, position) for position in (2, 4)}
for key in rows[2]:
    print(f"{key:>15s}: " + "   ".join(f"site {p}: {row[key]:.3e}" for p, row in rows.items()))
best_rate = max(rows, key=lambda p: rows[p]["s"])
best_predicted = max(rows, key=lambda p: rows[p]["predicted"])
best_measured = max(rows, key=lambda p: rows[p]["best measured"])
print(
    f"largest rate s: site {best_rate}; largest predicted decrease: site {best_predicted}; largest measured: site {best_measured}"
)
assert (best_rate, best_predicted, best_measured) == (4, 2, 2)
assert all(row["measured at t*"] < row["predicted"] / 2 for row in rows.values())  # the model overshoots

# %% [markdown]
# Three readings of the table:
#
# - **The ranking can flip.** SensLI ranks by the rate $s$ and picks site 4. Site 4's loss
#   is much more curved along its multiplier, so its quadratic model stops early ($t^*$ is
#   small) and promises less; site 2's rate is smaller but lasts longer. The second-order
#   prediction prefers site 2, and so does the measured best decrease along the ray. One
#   trained network is an anecdote, not a statistic: the package's experimental
#   `sensitivities(..., second_order=True)` computes these numbers for every site, and the
#   README compares selecting by them with SensLI's rule over 30 seeds of this setting: the
#   two rules choose different sites in half of the seeds, and the paired comparison of the
#   final losses finds no significant difference.
# - **The size is not right.** At both sites the measured decrease at $t^*$ is less than half
#   the prediction (asserted). The Hessian is taken at $t = 0$, at the kinks: it misses the
#   units that switch on (first order, as in section 5; $s_c < s$ in the table) and every kink
#   crossed along the way. The quadratic model is a local model of a piecewise smooth function,
#   good on the network with one hidden layer of 5, optimistic here.
# - **Neither is what training does.** A step along $-G$ with everything else fixed is not
#   training the extended network; both numbers are proxies computed at the current weights.


# %% [markdown]
# ## Summary
#
# - At a constrained minimum, $\nabla f = \sum_i \lambda_i \nabla g_i$ and $g = c$ (KKT); for a
#   quadratic with linear constraints that is one linear system, otherwise Newton's method on
#   the KKT system solves it, with the constraint's curvature in the Lagrangian's Hessian.
# - With $\mathcal L = f - \lambda^\top (g - c)$, the multiplier is the slope of the optimal
#   value: $\lambda = \mathrm{d}f^*/\mathrm{d}c$, verified by re-solving at $c \pm \varepsilon$.
# - Training a network with a virtual identity layer under "the layer stays the identity" has
#   multipliers equal to the loss gradient w.r.t. the virtual parameters: one backward pass.
# - That gradient promises a first-order decrease at the current point; at ReLU sites units
#   that switch on add a term it cannot see, and it never forecasts the gain after training.
# - The engine's Hessian-vector products (`ms.hvp`, about two gradients each) replace a
#   hand-written Hessian: Newton's method on the KKT system takes the same steps. Along $-G$
#   the curvature $\kappa = G^\top H G$ (one product) gives the quadratic model
#   $t s - \tfrac12 t^2 \kappa$, best at $t^* = s/\kappa$; it explains the bend of the
#   decrease, not the first-order ratio (a kink the Hessian cannot see), and it can rank sites
#   differently from $\lVert G\rVert^2$.
#
# ## Exercises
#
# ### Exercise 1: the curvature of the optimal value (3 points)
#
# Section 3 showed that $\lambda = \mathrm{d}f^*/\mathrm{d}c$ for
# $\min_x \tfrac12 x^\top A x - b^\top x$ subject to $C x = c$. Go one derivative further:
# write `f_star_curvature(A, C)` returning the Hessian $\mathrm{d}^2 f^*/\mathrm{d}c^2$, an
# (m, m) array, for `A` (n, n) symmetric positive definite and `C` (m, n) with independent rows.
# Derive it on paper first: solve the KKT system of section 1 for $x$ in terms of $\lambda$,
# put that into $C x = c$, and read off how $\lambda$ moves with $c$. (It does not depend on $b$
# or $c$: $f^*$ is a quadratic in $c$.) The checker also re-solves the problem at
# $c \pm \varepsilon$ in every coordinate pair and compares second differences with the answer.


# %%
def f_star_curvature(A, C):
    """(n, n) SPD, (m, n) -> d2 f*/dc2, an (m, m) array."""
    raise NotImplementedError  # your code here


check("ch06.f_star_curvature", f_star_curvature)


# %% tags=["solution", "hide-input"]
def f_star_curvature(A, C):
    # stationarity A x - b = C^T lam gives x = A^-1 (b + C^T lam); then C x = c reads
    # S lam = c - C A^-1 b with S = C A^-1 C^T, so dlam/dc = S^-1, and lam = df*/dc
    schur = C @ np.linalg.solve(A, C.T)
    return np.linalg.inv(schur)


check("ch06.f_star_curvature", f_star_curvature)

# %% [markdown]
# ### Exercise 2: the one-sided slope in any direction (3 points)
#
# Section 5 corrected the first-order decrease for *one* direction, the step against the
# multiplier. Generalise it: the virtual layer $\operatorname{relu}(a V^\top + c)$ sits after a
# ReLU (so $a \ge 0$, some entries exactly 0), and $d = \partial\ell/\partial a$ is the
# gradient of the loss at the virtual layer's output (= at `a`, since the layer is the identity
# there) in the original network. Write `one_sided_slope(a, d, D, e)`
# returning the one-sided directional derivative
#
# $$\lim_{t \to 0^+} \frac{\ell(I + tD,\ t e) - \ell(I, 0)}{t}$$
#
# as a float, for any direction `D` (w, w), `e` (w,). To first order the loss changes by
# $\sum_{n,i} d_{ni}$ times the change of the layer's output $(n, i)$; work out that change
# separately for active units ($a_{ni} > 0$) and for units on the kink ($a_{ni} = 0$, exactly:
# an entry of $10^{-10}$ is active), where only one side of the ReLU is ever reached. Afterwards,
# compare your formula with a one-sided difference of the real loss of section 5's network
# (`extended_loss` with `a_np`, `d_np`, a small $t$) in a random direction.


# %%
def one_sided_slope(a, d, D, e):
    """a (N, w) >= 0, d (N, w), D (w, w), e (w,) -> the one-sided directional derivative (a float)."""
    raise NotImplementedError  # your code here


check("ch06.one_sided_slope", one_sided_slope)


# %% tags=["solution", "hide-input"]
def one_sided_slope(a, d, D, e):
    rate = a @ D.T + e  # d/dt of the pre-activation a (I + tD)^T + t e
    # active units follow the rate both ways; a unit on the kink moves only when the rate is positive
    change = np.where(a > 0, rate, np.maximum(rate, 0.0))
    return float((d * change).sum())


check("ch06.one_sided_slope", one_sided_slope)
# on section 5's network, in a random direction, against a one-sided difference of the real loss
direction_rng = np.random.default_rng(1)
D_dir, e_dir = direction_rng.standard_normal((5, 5)), direction_rng.standard_normal(5)
t_small = 1e-7
with ms.no_grad():
    moved = extended_loss(ms.Tensor(np.eye(5) + t_small * D_dir), ms.Tensor(t_small * e_dir)).item()
measured_slope = (moved - loss0.item()) / t_small
print(f"one-sided difference {measured_slope:.6f}, formula {one_sided_slope(a_np, d_np, D_dir, e_dir):.6f}")
np.testing.assert_allclose(measured_slope, one_sided_slope(a_np, d_np, D_dir, e_dir), rtol=1e-4)


# %% [markdown]
# ### Exercise 3: the best step of the quadratic model (2 points)
#
# Section 6 maximised the quadratic model $m(t) = t\,s - \tfrac12 t^2 \kappa$ of the decrease
# along $-G$ for $\kappa > 0$ and an unlimited step. A real step is limited (a trust region,
# or the range where the model is believed), and the curvature can be zero or negative. Write
# `best_quadratic_step(s, kappa, t_max)` returning the pair `(t, decrease)`: the step
# $t \in [0, t_{\max}]$ that maximises $m$, and $m(t)$, for a rate $s > 0$, any float
# `kappa` and $t_{\max} > 0$. Work out the cases on paper first: where is the top of the
# parabola, and what does $m$ do on the ray when $\kappa \le 0$?


# %%
def best_quadratic_step(s, kappa, t_max):
    """rate s > 0, curvature kappa, bound t_max > 0 -> (t, t s - t^2 kappa / 2) with t in [0, t_max] best."""
    raise NotImplementedError  # your code here


check("ch06.best_quadratic_step", best_quadratic_step)


# %% tags=["solution", "hide-input"]
def best_quadratic_step(s, kappa, t_max):
    # kappa > 0: a parabola with its top at s / kappa, clipped to the bound; kappa <= 0: m grows
    # on the whole ray (m' = s - t kappa > 0), so the bound is the best step
    t = min(s / kappa, t_max) if kappa > 0 else t_max
    return t, t * s - 0.5 * t * t * kappa


check("ch06.best_quadratic_step", best_quadratic_step)


# %% [markdown]
# ### Exercise 4: a Hessian-vector product by differences of gradients (3 points)
#
# Section 6 took the curvature $G^\top H G$ from `ms.hvp`, which needs an engine that records
# its backward pass. With gradients alone, $Hv$ is the directional derivative of the gradient
# along $v$. Write `hvp_by_differences(grad_f, x, v)`: `grad_f` maps a float64 array of the
# shape of `x` to the gradient of a smooth scalar function there; return $H v$ (shape of `x`)
# from differences of gradients along $v$, accurate to about nine digits of
# $\max_i |(Hv)_i|$. `ms.hvp` and `ms.hessian` are switched off. The check draws $v$ with
# lengths from $10^{-3}$ to $10^{3}$: choose the rule and the step with the error analysis of
# chapter 3, section 1, remembering that the step actually taken in $x$ is the step times
# $\lVert v\rVert$.


# %%
def hvp_by_differences(grad_f, x, v):
    """H v of the function whose gradient is grad_f, at x, by differences of gradients."""
    raise NotImplementedError  # your code here


check("ch06.hvp_by_differences", hvp_by_differences)


# %% tags=["solution", "hide-input"]
def hvp_by_differences(grad_f, x, v):
    # g(x + h v) = g + h H v + h^2/2 (...) + O(h^3): the central difference cancels the h^2 term;
    # the step in x is h |v|, so its optimum u^(1/3) means h = u^(1/3) / |v|
    h = np.cbrt(np.finfo(np.float64).eps / 2) / np.linalg.norm(v)
    return (grad_f(x + h * v) - grad_f(x - h * v)) / (2 * h)


check("ch06.hvp_by_differences", hvp_by_differences)


# %% [markdown]
# ## Open questions
#
# 1. The multiplier of the virtual layer compares *rates*; section 6 added the curvature
#    along $-G$, one Hessian-vector product per site, and on one network the ranking flipped.
#    But the curvature is taken at the kinks and overshoots the measured decrease. Would a
#    score from a few measured points of $\varphi(t)$ (a line search per site, a few forward
#    passes) rank better than $s^2/(2\kappa)$, and is either a better predictor of the loss
#    *after training* the inserted layer, which is what SensLI cares about?
# 2. At a ReLU site the loss has a kink at the identity, and the switch-on term above was
#    almost a quarter of the first-order decrease. Is the $\operatorname{relu}'(0) = 0$ gradient the
#    right quantity to rank sites by, or should a score account for units that a step would
#    switch on?
