# %% [markdown]
# # Chapter 3 — Gradient checking and property-based tests
#
# *Reading time: about 55 min; exercises: about 60 min.*
#
# Every `backward` in chapters 1 and 2 was written by hand, and a wrong one does not crash: the
# network trains a little worse, or not at all, and nothing tells you why. This chapter builds
# the tool that tells you: a comparison of `backward` with **finite differences**, done so that
# it catches real bugs and does not cry wolf.
#
# You will
# - derive the error of forward, backward and central differences from Taylor's formula and see
#   the three regimes (truncation, optimum, round-off) on a log-log plot;
# - see why the checks run in float64 and with a **random upstream gradient**;
# - meet kinks (ReLU at 0), where finite differences and autograd legitimately disagree;
# - rebuild `ms.numerical_gradients` and check it against the package, then use `ms.gradcheck`;
# - write a **property-based test** with hypothesis and watch it shrink a failure to a minimal
#   counter-example;
# - record the backward pass to get second and third derivatives, draw the gradient's graph,
#   check second derivatives with `ms.gradgradcheck`, and compute Hessian-vector products.
#
# **Prerequisites:** chapter 1 (the autograd engine, `Tensor.backward(gradient)`) and chapter 2
# (a new op as a `Function` with `forward` and `backward`).
#
# **Package modules:** `minisensli/gradcheck.py` (`ms.numerical_gradients`, `ms.gradcheck`), and
# in the test suite `tests/strategies.py` (shared hypothesis strategies) with the property tests
# that use them, e.g. `tests/test_ops_elementwise.py`; for section 7 `ms.grad` (in
# `minisensli/autograd.py`), `minisensli/higher_order.py` (`ms.hvp`, `ms.hessian`),
# `ms.gradgradcheck` and `minisensli/viz.py` (`ms.viz.draw`).

# %%
import matplotlib.pyplot as plt
import numpy as np
from hypothesis import find, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minisensli as ms
import minisensli.functional as F
from minisensli.exercises import check

ms.set_default_dtype("float64")
ms.manual_seed(0)
rng = np.random.default_rng(0)

# %% [markdown]
# ## 1. Three difference quotients, and what Taylor says about their error
#
# For a smooth $f$ and a step $\varepsilon > 0$, Taylor's formula around $x$ gives
#
# $$f(x \pm \varepsilon) = f(x) \pm \varepsilon f'(x) + \tfrac{\varepsilon^2}{2} f''(x)
#   \pm \tfrac{\varepsilon^3}{6} f'''(x) + O(\varepsilon^4).$$
#
# Divide the difference of two such values by the distance between the points:
#
# $$\text{forward: } \frac{f(x+\varepsilon) - f(x)}{\varepsilon} = f'(x) + \tfrac{\varepsilon}{2} f''(x) + O(\varepsilon^2),
# \qquad
# \text{backward: } \frac{f(x) - f(x-\varepsilon)}{\varepsilon} = f'(x) - \tfrac{\varepsilon}{2} f''(x) + O(\varepsilon^2),$$
#
# $$\text{central: } \frac{f(x+\varepsilon) - f(x-\varepsilon)}{2\varepsilon} = f'(x) + \tfrac{\varepsilon^2}{6} f'''(x) + O(\varepsilon^4).$$
#
# In the central difference the even terms cancel, so its **truncation error** is
# $O(\varepsilon^2)$ against $O(\varepsilon)$ for the one-sided ones. That is not the whole story:
# the computer evaluates $f$ with a relative error of about the unit round-off
# $u = 2^{-53} \approx 1.1\cdot 10^{-16}$ (NumPy's `finfo(float).eps` is $2u$). The numerator is a
# difference of two nearly equal numbers, so it carries an absolute error of order $u\,|f(x)|$
# whatever $\varepsilon$ is, and dividing by $\varepsilon$ turns it into a **round-off error**
# of order $u\,|f(x)|/\varepsilon$ that grows as $\varepsilon$ shrinks. The total,
# $C\varepsilon^p + u|f|/\varepsilon$, is smallest near $\varepsilon^\ast \approx u^{1/(p+1)}$:
# about $10^{-8}$ for one-sided differences ($p = 1$) and about $5\cdot 10^{-6}$ for central ones
# ($p = 2$). That is why `ms.gradcheck` uses central differences with `eps=1e-6`.
#
# We test this on $f = \exp$ at $x = 1$, where $f = f' = f'' = f''' = e$, so the predicted
# constants are $e/2$ (one-sided) and $e/6$ (central).


# %%
def forward_difference(f, x, eps):
    return (f(x + eps) - f(x)) / eps


def backward_difference(f, x, eps):
    return (f(x) - f(x - eps)) / eps


def central_difference_1d(f, x, eps):
    return (f(x + eps) - f(x - eps)) / (2 * eps)


x0, exact = 1.0, np.e
steps = np.logspace(-15, -1, 141)
errors = {
    name: np.abs(rule(np.exp, x0, steps) - exact)
    for name, rule in [
        ("forward", forward_difference),
        ("backward", backward_difference),
        ("central", central_difference_1d),
    ]
}
for eps in (1e-2, 1e-4, 1e-6):
    print(
        f"eps={eps:.0e}: forward error {abs(forward_difference(np.exp, x0, eps) - exact):.2e} "
        f"(predicted {eps * np.e / 2:.2e}), central error "
        f"{abs(central_difference_1d(np.exp, x0, eps) - exact):.2e} (predicted {eps**2 * np.e / 6:.2e})"
    )

# %% [markdown]
# The printed errors match the predictions, except the central one at $\varepsilon = 10^{-6}$:
# its truncation error ($4.5\cdot 10^{-13}$) is already smaller than the round-off error, which
# is what we measure there. The next cell checks slopes and constants numerically, so that a
# wrong derivation above would fail here.


# %%
def loglog_slope(eps, err, low, high):
    inside = (eps >= low) & (eps <= high)
    return np.polyfit(np.log(eps[inside]), np.log(err[inside]), 1)[0]


slope_forward = loglog_slope(steps, errors["forward"], 1e-6, 1e-2)
slope_central = loglog_slope(steps, errors["central"], 1e-3, 1e-1)
print(f"slope of the forward error: {slope_forward:.3f}, of the central error: {slope_central:.3f}")
assert abs(slope_forward - 1) < 0.02 and abs(slope_central - 2) < 0.02
# the constants of the leading terms: e/2 and e/6
np.testing.assert_allclose(forward_difference(np.exp, x0, 1e-5) - exact, 1e-5 * np.e / 2, rtol=1e-3)
np.testing.assert_allclose(central_difference_1d(np.exp, x0, 1e-3) - exact, 1e-6 * np.e / 6, rtol=1e-3)
# in the round-off regime the error is of order u |f| / eps, u = finfo.eps / 2
u = np.finfo(np.float64).eps / 2
small = steps <= 1e-12
ratio = np.median(errors["central"][small] * steps[small] / (u * np.e))
print(f"round-off regime: median error / (u |f| / eps) = {ratio:.2f}")
assert 0.05 < ratio < 5
best = steps[np.argmin(errors["central"])]
print(f"best step for central differences: {best:.1e}, error {errors['central'].min():.1e}")
assert 1e-7 <= best <= 1e-4

# %%
fig, ax = plt.subplots(figsize=(7, 4.5))
for name, marker in [("forward", "o"), ("backward", "s"), ("central", "^")]:
    ax.loglog(steps, errors[name], marker, ms=3, label=f"{name} difference")
ax.loglog(steps, steps * np.e / 2, "k--", lw=1, label=r"$\varepsilon\, e/2$  (slope 1)")
ax.loglog(steps, steps**2 * np.e / 6, "k-.", lw=1, label=r"$\varepsilon^2 e/6$  (slope 2)")
ax.loglog(steps, u * np.e / steps, "k:", lw=1.5, label=r"$u\,e/\varepsilon$  (slope $-1$, round-off)")
ax.axvline(1e-6, color="grey", lw=0.8)
ax.text(1.3e-6, 3e-13, "gradcheck's eps", fontsize=8, color="grey")
ax.set_ylim(1e-13, 1)
ax.set_xlabel(r"step $\varepsilon$")
ax.set_ylabel(r"$|$difference quotient $- f'(1)|$")
ax.set_title(r"Error of finite differences of $\exp$ at $x=1$ (float64)")
ax.legend(fontsize=8, loc="upper center")
plt.show()

# %% [markdown]
# Read the plot from right to left. At large $\varepsilon$ the truncation error dominates: the
# one-sided differences lie on the slope-1 line, the central one on the slope-2 line, orders of
# magnitude lower. As $\varepsilon$ shrinks, the round-off error $u e/\varepsilon$ (dotted)
# rises, and all three rules end up on the same noisy band: there the quotient is mostly
# rounding noise. The forward and backward markers coincide almost everywhere because their
# errors have the same size and opposite signs. The best central step (printed above) is a few
# times $10^{-6}$, as $u^{1/3}$ predicts, with an error of a few $10^{-12}$; `eps=1e-6` is a
# little left of it and still gives about ten correct digits, which is why gradcheck can afford
# tolerances like `rtol=1e-3, atol=1e-5`.
#
# ## 2. Why the checks run in float64
#
# In float32 the unit round-off is $u_{32} = 2^{-24} \approx 6\cdot 10^{-8}$. The same analysis
# puts the best central step near $u_{32}^{1/3} \approx 4\cdot 10^{-3}$ and the best achievable
# relative error near $u_{32}^{2/3} \approx 10^{-5}$. At `eps=1e-6` the round-off term
# $u_{32}/\varepsilon \approx 6\cdot 10^{-2}$ allows relative errors of several percent (about
# $1\%$ is measured below): a gradient that is wrong by a few percent would hide in that noise,
# and a correct one would fail a tight tolerance.


# %%
def relative_error_central(dtype, eps):
    x, step = dtype(x0), dtype(eps)
    quotient = (np.exp(x + step) - np.exp(x - step)) / (2 * step)
    return abs(float(quotient) - exact) / exact


for eps in (1e-6, 1e-4, 4e-3):
    e32, e64 = relative_error_central(np.float32, eps), relative_error_central(np.float64, eps)
    print(f"eps={eps:.0e}:  float32 relative error {e32:.1e}   float64 {e64:.1e}")
assert relative_error_central(np.float32, 1e-6) > 1e-3 > 1e-9 > relative_error_central(np.float64, 1e-6)
try:
    ms.gradcheck(lambda t: t.exp(), [ms.Tensor(np.ones(3, dtype=np.float32), requires_grad=True)])
except TypeError as error:
    print("ms.gradcheck refuses float32:", error)

# %% [markdown]
# ## 3. From one number to a whole array: `numerical_gradients` rebuilt
#
# An op maps input arrays to an output array $y = f(x)$. Its `backward` receives the gradient
# of the loss with respect to $y$, the **upstream gradient** $g$ (same shape as $y$), and returns
# $J^\top g$, where $J = \partial y / \partial x$ is the Jacobian. To check it we need no loss:
# $J^\top g$ is exactly the gradient of the scalar
#
# $$s(x) = \sum_k g_k\, f(x)_k$$
#
# with $g$ held fixed. Its finite differences perturb one entry $x_i$ at a time, by
# $\pm\varepsilon$, and evaluate $s$ twice: an input with $n$ entries costs $2n$ forward passes.
# That is why gradients are checked on small inputs (a few dozen entries), never on a real
# network. Rebuilt in NumPy, for one input array:


# %%
def numerical_gradient(f, x, upstream, eps=1e-6):
    """Central differences of s(x) = sum(upstream * f(x)), entry by entry; x is restored."""
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


W = rng.standard_normal((4, 3))
x_np = rng.standard_normal((2, 4))
g = rng.standard_normal((2, 3))  # the upstream gradient: random, not ones (section 4 says why)
mine = numerical_gradient(lambda a: np.tanh(a @ W), x_np.copy(), g)

x = ms.Tensor(x_np.copy(), requires_grad=True)
(package,) = ms.numerical_gradients(lambda t: (t @ W).tanh(), [x], g)
np.testing.assert_allclose(mine, package, rtol=1e-12, atol=1e-14)

(x @ W).tanh().backward(g)  # what backward computes: J^T g
np.testing.assert_allclose(x.grad, package, rtol=1e-7, atol=1e-9)
print("largest |backward - finite differences|:", f"{np.abs(x.grad - package).max():.1e}")

# %% [markdown]
# The rebuilt function agrees with the package to round-off, and the backward agrees with both
# to about $10^{-10}$. `ms.gradcheck(fn, inputs)` packages exactly this: it draws a random
# upstream gradient (seeded), runs `backward`, computes the central differences for **every**
# input that requires a gradient, and compares entry by entry with
# $|a - n| \le \texttt{atol} + \texttt{rtol}\,|n|$ (exercise 2 asks you to write that rule). It
# returns `True` or raises `GradcheckError` naming the input, the worst entry and both values.

# %%
b = ms.Tensor(rng.standard_normal(3), requires_grad=True)
Wt = ms.Tensor(W.T.copy(), requires_grad=True)  # Dense stores its weight as (out, in)
print("gradcheck of tanh(linear(x, W, b)):", ms.gradcheck(lambda x, w, b: F.linear(x, w, b).tanh(), [x, Wt, b]))


class SquareWithWrongBackward(ms.Function):
    """y = x^2, with the classic slip dy/dx = x (the factor 2 forgotten)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_arrays
        return (x * grad,)


try:
    ms.gradcheck(SquareWithWrongBackward.apply, [x])
except ms.GradcheckError as error:
    print(error)

# %% [markdown]
# The report names input 0, the worst entry, and two values whose ratio is exactly 2: enough to
# guess the bug.
#
# ## 4. Why the upstream gradient must be random
#
# A tempting shortcut is to check the gradient of `f(x).sum()`. That is the special case
# $g = \mathbf 1$, and it checks only $J^\top \mathbf 1$: for each input entry, the **sum** of
# its column of $J$. A wrong backward $J^\top g + E(g)$ with an error that sums to zero over the
# outputs, $E(\mathbf 1) = 0$, passes. Such bugs are not exotic:
#
# - **reversal** $y = x[{::}{-1}]$ whose backward forgets to reverse $g$: with $g = \mathbf 1$,
#   reversed or not, the answer is $\mathbf 1$;
# - **softmax**, $s = \mathrm{softmax}(x)$, whose exact backward is
#   $s \odot (g - \langle g, s\rangle)$. Centring $g$ with the plain mean instead of the
#   $s$-weighted one, $s \odot (g - \bar g)$, is wrong, yet for $g = \mathbf 1$ both give 0.
#
# We write both bugs as `Function`s and check them with the two kinds of upstream gradient.


# %%
class ReverseForgetful(ms.Function):
    @staticmethod
    def forward(ctx, x):
        return x[..., ::-1].copy()

    @staticmethod
    def backward(ctx, grad):
        return (grad,)  # bug: should be grad[..., ::-1]


class SoftmaxPlainMean(ms.Function):
    @staticmethod
    def forward(ctx, x):
        e = np.exp(x - x.max(axis=-1, keepdims=True))
        s = e / e.sum(axis=-1, keepdims=True)
        ctx.save_for_backward(s)
        return s

    @staticmethod
    def backward(ctx, grad):
        (s,) = ctx.saved_arrays
        return (s * (grad - grad.mean(axis=-1, keepdims=True)),)  # bug: needs sum(grad * s)


# %%
def worst_mismatch(fn, x, upstream):
    """max |backward - central differences| for one input and a given upstream gradient."""
    t = ms.Tensor(x.copy(), requires_grad=True)
    fn(t).backward(upstream)
    (numeric,) = ms.numerical_gradients(fn, [t], upstream)
    return np.abs(t.grad - numeric).max()


x_np = rng.standard_normal((3, 4))
for name, fn in [
    ("reverse, flip forgotten", ReverseForgetful.apply),
    ("softmax, plain mean", SoftmaxPlainMean.apply),
    ("softmax, the package's", lambda t: F.softmax(t, axis=-1)),
]:
    with_ones = worst_mismatch(fn, x_np, np.ones((3, 4)))
    with_random = worst_mismatch(fn, x_np, rng.standard_normal((3, 4)))
    print(f"{name:24s}  upstream ones: {with_ones:.1e}   random upstream: {with_random:.1e}")
    assert with_ones < 1e-8
    assert (with_random > 1e-2) == ("package" not in name)

# %% [markdown]
# With an all-ones upstream gradient both buggy backwards look perfect (errors of $10^{-10}$,
# pure finite-difference noise); with a random one they are off by 0.1 to 2 while the
# package's softmax stays at noise level. `ms.gradcheck` always uses a random upstream gradient,
# so it catches both:

# %%
for fn in (ReverseForgetful.apply, SoftmaxPlainMean.apply):
    try:
        ms.gradcheck(fn, [ms.Tensor(x_np.copy(), requires_grad=True)])
    except ms.GradcheckError as error:
        print(error)

# %% [markdown]
# ## 5. Kinks: ReLU at zero
#
# $\mathrm{relu}(x) = \max(x, 0)$ has no derivative at 0: the slope is 0 from the left and 1 from
# the right. At $x = 0$ the three difference quotients give
#
# $$\text{forward: } \frac{\varepsilon - 0}{\varepsilon} = 1, \qquad
#   \text{backward: } \frac{0 - 0}{\varepsilon} = 0, \qquad
#   \text{central: } \frac{\varepsilon - 0}{2\varepsilon} = \tfrac12 .$$
#
# minisensli, like PyTorch, uses the convention $\mathrm{relu}'(0) = 0$, which is the **backward**
# (left) difference. The central difference disagrees with it by $\tfrac12$, and that is not a
# bug in either. It matters for SensLI: a layer inserted as the identity, or with zero weights,
# puts pre-activations exactly at 0, on the kink.

# %%
x = ms.Tensor(np.array([-1.0, 0.0, 1.0]), requires_grad=True)
upstream = np.ones(3)
x.relu().backward(upstream)
numeric = {
    mode: ms.numerical_gradients(lambda t: t.relu(), [x], upstream, mode=mode)[0]
    for mode in ("forward", "backward", "central")
}
print(f"{'x':22s}", x.data)
print(f"{'autograd (convention)':22s}", x.grad)
for mode, values in numeric.items():
    print(f"{mode + ' difference':22s}", values)
assert x.grad[1] == 0 and numeric["backward"][1] == 0  # the convention is the left slope
np.testing.assert_allclose([numeric["forward"][1], numeric["central"][1]], [1.0, 0.5], atol=1e-9)
try:
    ms.gradcheck(lambda t: t.relu(), [x])
except ms.GradcheckError as error:
    print("central:", error)
print("with mode='backward':", ms.gradcheck(lambda t: t.relu(), [x], mode="backward"))

# %% [markdown]
# (gradcheck's report shows values multiplied by its random upstream gradient: at the kink the
# numerical value is half of that entry of the upstream gradient, the analytic one is 0.)
#
# The kink also spoils points **near** 0: if $|x| < \varepsilon$, the central difference
# straddles the kink and returns something between 0 and 1, while autograd returns 0 or 1. The
# figure shows the central quotient of ReLU as a function of $x$, in units of $\varepsilon$.

# %%
eps = 1e-6
xs = np.linspace(-3, 3, 241) * eps
central = (np.maximum(xs + eps, 0) - np.maximum(xs - eps, 0)) / (2 * eps)
autograd_slope = (xs > 0).astype(float)
fig, ax = plt.subplots(figsize=(6.5, 3.5))
ax.plot(xs / eps, central, label="central difference")
ax.plot(xs / eps, autograd_slope, "--", label="autograd (relu'(0) = 0)")
ax.axvspan(-1, 1, color="grey", alpha=0.15, label=r"$|x| < \varepsilon$: they disagree")
ax.set_xlabel(r"$x / \varepsilon$")
ax.set_ylabel("slope")
ax.set_title(r"ReLU near its kink ($\varepsilon = 10^{-6}$)")
ax.legend(fontsize=8)
plt.show()
disagree = np.abs(central - autograd_slope) > 1e-6
assert np.all(np.abs(xs[disagree]) < eps + 1e-15)

# %% [markdown]
# Inside the grey band the two disagree by up to $\tfrac12$; outside it they agree exactly.
# A random entry lands in that band with probability about $2\varepsilon\,p(0)$, where $p$ is
# the density it is drawn from ($0.8\,\varepsilon$ for a standard normal): tiny, but
# hypothesis likes 0 (it shrinks towards it), so the test suite draws ReLU inputs with
# `away_from_zero(shape, gap=0.05)` from `tests/strategies.py`, and the kink itself gets its own
# test with `mode="backward"` (`test_one_sided_differences_match_relu_convention_at_kink` in
# `tests/test_gradcheck.py`).
#
# ## 6. Property-based tests with hypothesis
#
# A unit test checks the inputs its author thought of. A **property** states something that must
# hold for *every* input of a kind, e.g. "for every float64 array of any shape with up to three
# axes and entries in $[-2, 2]$, the mean over the last axis passes gradcheck". The hypothesis
# library turns that sentence into a test: **strategies** describe the inputs, `@given` draws
# many of them, and when one fails, hypothesis **shrinks** it, searching for a smaller input that
# still fails, so you read the simplest counter-example instead of a random one.
#
# The project keeps its strategies in `tests/strategies.py` (MiniTorch's idea): `shapes`,
# `arrays`, `distinct_arrays` (no ties, for max), `away_from_zero` (off the kink), `positive_arrays`
# (for log and sqrt) and `broadcastable_pair`. A test then reads like its sentence, e.g. from
# `tests/test_ops_elementwise.py`:
#
# ```python
# @given(x=arrays(shapes()))
# def test_neg(x):
#     t = tensor(x)
#     np.testing.assert_array_equal((-t).data, -x)
#     assert ms.gradcheck(lambda t: -t, [t])
# ```
#
# `tests/` is not an installed package, so we rebuild the two strategies we need here. Settings:
# `derandomize=True` makes the draws depend only on the test (the same examples on every run,
# which a book needs), `database=None` stores no failures on disk, `deadline=None` turns off the
# per-example time limit (gradcheck is slow by design).

# %%
shapes = hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4)
arrays_of_any_shape = shapes.flatmap(
    lambda shape: hnp.arrays(np.float64, shape, elements=st.floats(-2, 2, allow_nan=False))
)
quiet = settings(derandomize=True, database=None, deadline=None, max_examples=25)
seen_shapes = []


@quiet
@given(x=arrays_of_any_shape)
def test_mean_over_last_axis(x):
    t = ms.Tensor(x, requires_grad=True)
    np.testing.assert_allclose(t.mean(axis=-1).data, x.mean(axis=-1), rtol=1e-14, atol=1e-15)
    assert ms.gradcheck(lambda t: t.mean(axis=-1), [t])
    seen_shapes.append(x.shape)


test_mean_over_last_axis()  # a passing property prints nothing
print(f"{len(seen_shapes)} examples passed; some shapes drawn: {sorted(set(seen_shapes))[:8]}")

# %% [markdown]
# Now a deliberately broken op. `MeanLastAxisBroken` divides by `shape[0]` where it should
# divide by `shape[-1]`. The bug is invisible on every 1-D input (there the first axis *is* the
# last one) and on square matrices, so a test with the usual hand-picked `np.ones(3)` or a
# `(3, 3)` matrix would pass.


# %%
class MeanLastAxisBroken(ms.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.shape = x.shape
        return x.mean(axis=-1)

    @staticmethod
    def backward(ctx, grad):
        n = ctx.shape[0]  # bug: the mean runs over the last axis, so this should be ctx.shape[-1]
        return (np.broadcast_to(grad[..., None], ctx.shape) / n,)


def gradient_is_wrong(x):
    try:
        ms.gradcheck(MeanLastAxisBroken.apply, [ms.Tensor(x, requires_grad=True)])
    except ms.GradcheckError:
        return True
    return False


print("hand-picked inputs flag it:", gradient_is_wrong(np.ones(3)), gradient_is_wrong(np.ones((3, 3))))

# %% [markdown]
# `hypothesis.find(strategy, condition)` searches for an input that satisfies the condition and
# returns the *smallest* it can find after shrinking. The same search runs when an `@given` test
# fails; there the shrunk input ends up in the exception's notes (and pytest prints it as
# "Falsifying example"). We show both, and both stay silent on stderr.

# %%
counter_example = find(
    arrays_of_any_shape, gradient_is_wrong, settings=settings(derandomize=True, database=None, max_examples=200)
)
print("minimal counter-example found by find():", repr(counter_example))
assert counter_example.ndim == 2 and counter_example.shape[0] != counter_example.shape[-1]
assert counter_example.size == 2 and not counter_example.any()


@quiet
@given(x=arrays_of_any_shape)
def test_broken_mean_over_last_axis(x):
    assert not gradient_is_wrong(x), "gradcheck failed"


try:
    test_broken_mean_over_last_axis()
except AssertionError as failure:
    print("the @given test failed;", failure.__notes__[0].replace("\n", " "))

# %% [markdown]
# Hypothesis's answer is a $1 \times 2$ (or $2 \times 1$) array of zeros: the fewest axes and
# entries for which the first axis differs from the last, with every value shrunk to 0. The
# values do not matter (the bug is in a shape), and the shrunk example says so at a glance; a
# random $3 \times 4 \times 2$ array of floats would not. That is the payoff of shrinking:
# the counter-example points at the cause.
#
# Properties come in a few flavours, all used in the project's tests:
# - **oracle**: compare with an independent implementation (finite differences for gradients;
#   NumPy for forwards; a six-fold loop for `conv2d` in `tests/test_ops_conv.py`);
# - **invariant**: something that must hold whatever the answer is (softmax rows sum to 1, a
#   layer inserted by SensLI leaves the network's outputs unchanged);
# - **round trip**: save then load gives the same model.

# %% [markdown]
# ## 7. Higher-order derivatives
#
# Everything so far checked first derivatives. Some uses need the derivative of a derivative:
# Newton's method (chapter 6 solves a KKT system with it), the curvature of the loss along a
# direction (chapter 6 asks it of SensLI's multiplier), gradient penalties. The engine gets
# them from one idea, DeZero's and PyTorch's: **record the backward pass**. Every op's
# `backward` is a formula such as `grad * (1 - y * y)` for tanh, written with operations that
# arrays and Tensors both have. `loss.backward(create_graph=True)` runs those formulas on
# Tensors, so they build a graph like any forward computation, and `x.grad` is a Tensor that
# can be differentiated again. Without `create_graph` (training) the same formulas run on
# raw arrays and record nothing.
#
# ### The gradient's graph, drawn
#
# `ms.viz.draw(t)` draws the recorded graph of a Tensor (left to right, from the leaves to the
# result): on the left the forward graph of $y = \tanh(x)$, on the right the graph that the
# recorded backward built for $\mathrm{d}y/\mathrm{d}x = 1 \cdot (1 - y^2)$.

# %%
x = ms.Tensor(np.array(0.5), requires_grad=True)
y = x.tanh()
y.backward(create_graph=True)
dy_dx = x.grad  # a Tensor with a graph, not a raw array
print("dy/dx =", dy_dx, "  ops of its graph:", ms.viz.graph(dy_dx).ops())
np.testing.assert_allclose(dy_dx.data, 1 - np.tanh(0.5) ** 2, rtol=1e-15)
assert ms.viz.graph(dy_dx).ops().count("Tanh") == 1  # the backward reuses y = tanh(x): the forward is in its graph
fig, axes = plt.subplots(1, 2, figsize=(10, 3), gridspec_kw={"width_ratios": [1, 2]})
ms.viz.draw(y, ax=axes[0], show_values=True, names={"x": x})
ms.viz.draw(dy_dx, ax=axes[1], show_values=True, names={"x": x})
plt.show()

# %% [markdown]
# The gradient's graph contains the forward graph (the saved output $y$ is a Tensor with its
# own history), then the backward formula: `y * y`, `1 - ...`, times the upstream gradient 1.
# Differentiating it again is an ordinary backward through that graph.
#
# ### The third derivative of tanh, as DeZero shows it
#
# With $y = \tanh x$: $y' = 1 - y^2$, $y'' = -2 y\,(1 - y^2)$, and
# $y''' = -2\,(1 - y^2)(1 - 3 y^2)$. `ms.grad(outputs, inputs, create_graph=True)` returns
# the gradient as a Tensor with a graph (PyTorch's `torch.autograd.grad`); three nested calls
# give the third derivative, which the cell compares with the closed forms, and the figure
# shows DeZero's picture of tanh and its derivatives.

# %%
xs = ms.Tensor(np.linspace(-4, 4, 201), requires_grad=True)
derivatives = [xs.tanh()]
for _ in range(3):  # the sum's gradient is the elementwise derivative: each entry depends on its own x only
    (d_next,) = ms.grad(derivatives[-1].sum(), [xs], create_graph=True)
    derivatives.append(d_next)
t = np.tanh(xs.data)
closed_forms = [t, 1 - t**2, -2 * t * (1 - t**2), -2 * (1 - t**2) * (1 - 3 * t**2)]
for engine, exact in zip(derivatives, closed_forms):
    np.testing.assert_allclose(engine.data, exact, rtol=1e-12, atol=1e-14)
print("graph sizes (ops) of tanh and its three derivatives:", [len(ms.viz.graph(d).ops()) for d in derivatives])
fig, ax = plt.subplots(figsize=(6.5, 3.5))
for k, d in enumerate(derivatives):
    ax.plot(xs.data, d.data, label=["y = tanh(x)", "y'", "y''", "y'''"][k])
ax.set(xlabel="x", title="tanh and its derivatives, by recording the backward pass three times")
ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# Each derivative's graph is larger than the last (printed above): the backward of a backward
# differentiates every op the first backward recorded.
#
# ### `gradgradcheck`: finite differences of first derivatives
#
# Second derivatives are checked the way first ones are, one level up. Fix a random upstream
# gradient $u$; the first derivative $G(x, u) = \nabla_x \sum u \odot f(x)$ is itself a
# function, computed by the recorded backward, and `ms.gradgradcheck(f, inputs)` runs
# `gradcheck` on it: the double backward against central differences of $G$, with its own
# random upstream gradient. A backward can be right at first order and wrong at second: the
# classic slip is to use a saved input as a **constant** (here `detach()`), which cuts the
# path through which the second derivative flows. `gradcheck` passes, `gradgradcheck` fails.


# %%
class SquareSavedAsConstant(ms.Function):
    """y = x^2 with backward 2 x grad, but x detached: right values, a wrong second derivative."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_arrays  # Tensors when the backward is recorded, arrays otherwise
        constant = x.detach() if isinstance(x, ms.Tensor) else x
        return (2 * constant * grad,)


z = ms.Tensor(rng.standard_normal(3), requires_grad=True)
print("gradcheck:", ms.gradcheck(SquareSavedAsConstant.apply, [z]))
try:
    ms.gradgradcheck(SquareSavedAsConstant.apply, [z])
except ms.GradcheckError as error:
    print("gradgradcheck:", error)
W3 = ms.Tensor(rng.standard_normal((3, 3)), requires_grad=True)
a3 = ms.Tensor(rng.standard_normal((2, 3)), requires_grad=True)
print("gradgradcheck of tanh(a @ W):", ms.gradgradcheck(lambda a, w: (a @ w).tanh(), [a3, W3]))

# %% [markdown]
# The failure names an entry whose analytic second derivative is 0: the detached $x$ made the
# gradient look constant in $x$, where the true one is $2u$.
#
# ### Hessian-vector products in about the cost of two gradients
#
# For a scalar $f$ with gradient $g(x)$ and a vector $v$, the Hessian-vector product is the
# gradient of a scalar:
#
# $$H v = \nabla_x \bigl( g(x)^\top v \bigr),$$
#
# because $\partial_i (\sum_j g_j v_j) = \sum_j \partial_i \partial_j f\, v_j$. So one
# backward with `create_graph=True` (giving $g$ with its graph), a dot product with $v$, and
# one more backward: a small constant times the cost of one gradient, whatever $n$ is, and $H$
# ($n \times n$ entries) is never formed. `ms.hvp(f, x, v)` does exactly that. The full
# Hessian `ms.hessian(f, x)` needs one such backward per entry of $x$, $n$ in all: fine for
# the 30 virtual parameters of chapter 6, out of the question for a network's weights. The
# cell checks the product against the full Hessian (exercise 4 of chapter 6 checks it with
# finite differences of gradients instead) and counts the backward passes each takes, on a
# function of $n = 100$ variables.

# %%
n = 100
A_mat = rng.standard_normal((n, n)) / np.sqrt(n)


def smooth(v):
    return ((ms.Tensor(A_mat) @ v).tanh() ** 2).sum()


point = ms.Tensor(rng.standard_normal(n))
direction = rng.standard_normal(n)
backward_passes = []  # count the engine's backward passes by wrapping the `grad` that hvp and hessian call
engine_grad = ms.higher_order.grad
ms.higher_order.grad = lambda *args, **kwargs: backward_passes.append(1) or engine_grad(*args, **kwargs)
try:
    _, Hv = ms.hvp(smooth, point, direction)
    hvp_passes = len(backward_passes)
    H = ms.hessian(smooth, point)
    hessian_passes = len(backward_passes) - hvp_passes
finally:
    ms.higher_order.grad = engine_grad
np.testing.assert_allclose(Hv.data, H.data @ direction, rtol=1e-10, atol=1e-12)
np.testing.assert_allclose(H.data, H.data.T, rtol=1e-10, atol=1e-12)  # a Hessian is symmetric
print(f"n = {n}: hvp ran {hvp_passes} backward passes, the full Hessian {hessian_passes}")
assert (hvp_passes, hessian_passes) == (2, n + 1)

# %% [markdown]
# The product takes two backward passes (the recorded one and its backward); the Hessian one
# recorded pass and then one backward per variable, $n + 1$ in all, each about as costly as a
# product's second pass. Chapter 6 uses both: the Hessian of a
# two-variable Lagrangian, column by column, and one product per SensLI site for the
# curvature along the multiplier.

# %% [markdown]
# ## Summary
#
# - Central differences have truncation error $\tfrac{\varepsilon^2}{6}f'''$, one-sided ones
#   $\tfrac{\varepsilon}{2}f''$; round-off adds about $u|f|/\varepsilon$. With float64 the
#   central rule at `eps=1e-6` gives about ten correct digits; float32 cannot do better than
#   about five, which is why `ms.gradcheck` refuses it.
# - `backward` computes $J^\top g$; `ms.numerical_gradients` differentiates
#   $s = \sum g \odot f(x)$ one entry at a time ($2n$ forward passes), and `ms.gradcheck` compares
#   the two with $|a - n| \le \texttt{atol} + \texttt{rtol}|n|$ for every input.
# - The upstream gradient must be random: summing the outputs ($g = \mathbf 1$) hides any error
#   that cancels over the outputs, like a forgotten flip or softmax centred by the plain mean.
# - At a kink the central difference gives the average of the one-sided slopes (½ for ReLU at
#   0); the convention $\mathrm{relu}'(0)=0$ equals the backward difference, so kinks are checked
#   with `mode="backward"` and random inputs are kept away from them.
# - Property-based tests state what holds for all inputs; hypothesis draws them, and shrinks a
#   failure to a minimal counter-example that points at the bug.
# - Recording the backward pass (`create_graph=True`, `ms.grad`) makes a gradient a Tensor
#   with a graph (`ms.viz.draw` shows it), so derivatives of any order come from the same
#   formulas; `ms.gradgradcheck` checks the second ones against differences of first ones and
#   catches a saved input used as a constant.
# - A Hessian-vector product $Hv = \nabla(g^\top v)$ costs a few gradients and never forms $H$;
#   the full Hessian costs one product per variable.
#
# ## Exercises
#
# ### Exercise 1: central differences of a function of an array (1 point)
#
# Write `central_difference(f, x, eps)`: `f` takes a float64 array of the shape of `x` and
# returns a Python float; return an array of the shape of `x` whose entry $i$ is
# $\bigl(f(x + \varepsilon e_i) - f(x - \varepsilon e_i)\bigr) / (2\varepsilon)$. You may perturb
# `x` in place, but every entry must be back to its value when you return. The check compares
# with `ms.numerical_gradients` for several functions, shapes and steps $\varepsilon \in
# \{10^{-2}, 10^{-3}, 10^{-4}\}$ (large enough that a forward difference is visibly worse).


# %%
def central_difference(f, x, eps):
    """Central differences of the scalar function f at x (same shape as x)."""
    raise NotImplementedError  # your code here


check("ch03.central_difference", central_difference)


# %% tags=["solution", "hide-input"]
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


check("ch03.central_difference", central_difference)

# %% [markdown]
# ### Exercise 2: gradcheck's tolerance rule (1 point)
#
# Write `within_tolerance(analytic, numeric, atol, rtol)`: two arrays of the same shape and two
# non-negative floats; return a **boolean** array of that shape, `True` where the entry passes
# gradcheck's rule $|a - n| \le \texttt{atol} + \texttt{rtol}\,|n|$ (the tolerance is relative to
# the *numerical* value, and an entry exactly on the boundary passes). The check uses values
# that are exact in binary, so boundary cases occur.


# %%
def within_tolerance(analytic, numeric, atol, rtol):
    """Boolean mask: True where |analytic - numeric| <= atol + rtol |numeric|."""
    raise NotImplementedError  # your code here


check("ch03.within_tolerance", within_tolerance)


# %% tags=["solution", "hide-input"]
def within_tolerance(analytic, numeric, atol, rtol):
    return np.abs(analytic - numeric) <= atol + rtol * np.abs(numeric)


check("ch03.within_tolerance", within_tolerance)

# %% [markdown]
# ### Exercise 3: an oracle for hand-written backwards (2 points)
#
# Write `backward_is_correct(f, f_backward, x)`, returning `True` or `False`. `f` maps a float64
# array `x` (shape `(n,)` or `(m, n)`) to an array `y`; `f_backward(x, upstream)` claims to
# return $J^\top$`upstream` (shape of `x`) for any `upstream` of the shape of `y`. Decide with
# finite differences (NumPy only; your `central_difference` or the `numerical_gradient` of
# section 3 help) whether the claim holds, with a tolerance that accepts finite-difference noise
# (around $10^{-9}$) and rejects errors of order $10^{-2}$. The check hands you right and wrong
# backwards of four ops; two of the wrong ones are the section-4 kind.


# %%
def backward_is_correct(f, f_backward, x):
    """True if f_backward(x, upstream) equals J^T upstream for f at x."""
    raise NotImplementedError  # your code here


check("ch03.backward_is_correct", backward_is_correct)


# %% tags=["solution", "hide-input"]
def backward_is_correct(f, f_backward, x):
    upstream = np.random.default_rng(0).standard_normal(np.shape(f(x)))  # random, not ones
    analytic = f_backward(x, upstream)
    numeric = numerical_gradient(f, x.copy(), upstream)
    return bool(np.all(within_tolerance(analytic, numeric, atol=1e-6, rtol=1e-4)))


check("ch03.backward_is_correct", backward_is_correct)

# %% [markdown]
# ### Exercise 4: the backward of tanh's backward (2 points)
#
# tanh's backward maps the upstream gradient $g$ to $G(x, g) = g \odot (1 - \tanh^2 x)$.
# When the backward is recorded, $G$ is a function of $x$ **and** of $g$, and the double
# backward receives an upstream gradient $v$ for it. Write `tanh_double_backward(x, g, v)`
# (three float64 arrays of one shape) returning the pair
# $\bigl(\nabla_x \textstyle\sum v \odot G,\ \nabla_g \sum v \odot G\bigr)$, in NumPy.
# Derive it on paper from section 7's $y'$ and $y''$; the check compares with the engine's
# recorded backward (with `ms.grad` and `ms.hvp` switched off while your function runs).


# %%
def tanh_double_backward(x, g, v):
    """(d/dx, d/dg) of sum(v * g * (1 - tanh(x)**2)), each of the shape of x."""
    raise NotImplementedError  # your code here


check("ch03.tanh_double_backward", tanh_double_backward)


# %% tags=["solution", "hide-input"]
def tanh_double_backward(x, g, v):
    y = np.tanh(x)
    local = 1 - y**2  # dy/dx
    return v * g * (-2 * y) * local, v * local  # d(1 - y^2)/dx = -2 y dy/dx; G is linear in g


check("ch03.tanh_double_backward", tanh_double_backward)

# %% [markdown]
# ## Open questions
#
# 1. `ms.gradcheck` costs two forward passes per input entry. Chainer's `check_backward` instead
#    compares one **directional derivative**: for a random direction $v$, the central difference
#    of $s(x + t v)$ at $t = 0$ against $\langle \nabla s, v\rangle$ from backward: two forward
#    passes in total. Which bugs can this miss, how likely is a miss for a random $v$, and how
#    would you choose the tolerance now that one number aggregates all entries?
# 2. Max-pooling and `max` have kinks wherever two entries tie. The test suite avoids them with
#    `distinct_arrays` (entries at least 0.05 apart). Which difference (`forward`, `backward`,
#    `central`) agrees with the package's tie rule (the first maximum gets the gradient), and is
#    there any single `mode` that works at every tie?
