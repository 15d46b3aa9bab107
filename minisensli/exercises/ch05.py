"""Exercises of chapter 5 (training): a stable log-sum-exp, the gradient of cross-entropy with
soft targets, one Nesterov-SGD step and one AdamW step.

The oracles are the package: ``F.log_softmax`` and the engine's backward for the first two;
``optim.SGD`` and ``optim.Adam``, started from the drawn state, for the optimizer steps (the
Nesterov look-ahead and AdamW's decoupled decay are one line added to the package's result).
Logits are drawn large and spread apart on purpose: a log-sum-exp without the max shift, or
with one global max, overflows or underflows on them.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from .. import functional as F
from .. import optim
from ..autograd import Tensor
from ._asserts import as_array, assert_close, unpack
from ._core import exercise


def _arrays(shape, low: float, high: float):
    return hnp.arrays(np.float64, shape, elements=st.floats(low, high, allow_nan=False, allow_infinity=False))


@st.composite
def _spread_logits(draw, shape: tuple[int, ...], axis: int):
    """base * scale + one offset per slice along ``axis`` (so slices differ by up to thousands)."""
    base = draw(_arrays(shape, -5.0, 5.0))
    scale = draw(st.sampled_from([1.0, 200.0]))
    offset_shape = tuple(1 if i == axis % len(shape) else n for i, n in enumerate(shape))
    offset = draw(st.one_of(st.just(np.zeros(offset_shape)), _arrays(offset_shape, -1e4, 1e4)))
    return base * scale + offset


def _call_quietly(answer, *args):
    """Call the answer without NumPy's overflow warnings (the verdict reports inf/nan instead)."""
    with np.errstate(all="ignore"):
        return answer(*(a.copy() if isinstance(a, np.ndarray) else a for a in args))


def _expected_logsumexp(z: np.ndarray, axis: int) -> np.ndarray:
    log_probs = F.log_softmax(Tensor(z), axis=axis).data
    # at the maximum of each slice, z - log_softmax(z) = m + log(sum(exp(z - m))) with one rounding
    top = np.expand_dims(z.argmax(axis=axis), axis)
    return np.squeeze(np.take_along_axis(z - log_probs, top, axis=axis), axis=axis)


# rows thousands apart, entries of size 2000: exp without a shift overflows, one global maximum
# underflows the first row to log(0) = -inf, and a maximum taken without keepdims is subtracted
# along the wrong axis (the array is square, so that broadcasts without an error)
_FAR_APART = np.array([[3.0, 5.0], [2000.0, 2003.0]])
# a spread of 2000 within one slice: a shift by the slice's mean (1000) or first entry still
# overflows exp, only the slice's maximum is safe
_SPREAD_WITHIN = np.array([[0.0, 2000.0], [2000.0, 0.0]])


def _compare_logsumexp(answer, z: np.ndarray, axis: int) -> None:
    got = as_array(_call_quietly(answer, z, axis), "logsumexp")
    assert_close(got, _expected_logsumexp(z, axis), f"logsumexp(z, axis={axis})", rtol=1e-10, atol=1e-9)


@exercise(
    "ch05.logsumexp",
    max_examples=40,
    points=2,
    forbid=(
        "minisensli.ops.activation.log_softmax_array",
        "minisensli.ops.activation.log_softmax",
        "scipy.special.logsumexp",
    ),
)
def logsumexp(answer, case):
    # the fixed case first: when it fails, the report shows this z rather than a shrunk borderline one
    _compare_logsumexp(answer, case.show(_FAR_APART.copy(), "z"), case.show(1, "axis"))
    _compare_logsumexp(answer, case.show(_SPREAD_WITHIN.copy(), "z"), case.show(1, "axis"))
    case.drawn.clear()
    shape = case.draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4), "shape")
    axis = case.draw(st.integers(-len(shape), len(shape) - 1), "axis")
    z = case.draw(_spread_logits(shape, axis), "z")
    _compare_logsumexp(answer, z, axis)


@st.composite
def _targets(draw, n: int, c: int):
    """Rows that sum to 1: either one-hot or soft (positive weights, normalised)."""
    if draw(st.booleans()):
        labels = draw(hnp.arrays(np.int64, (n,), elements=st.integers(0, c - 1)))
        return np.eye(c)[labels]
    weights = draw(_arrays((n, c), 0.0, 1.0)) + 1e-3
    return weights / weights.sum(axis=1, keepdims=True)


def _compare_soft_ce_grad(answer, logits: np.ndarray, targets: np.ndarray, what: str) -> None:
    n = logits.shape[0]
    z = Tensor(logits, requires_grad=True)
    loss = -(Tensor(targets) * F.log_softmax(z, axis=1)).sum() / n
    loss.backward()
    got = as_array(_call_quietly(answer, logits, targets), "soft_cross_entropy_grad")
    assert_close(got, z.grad, what, rtol=1e-9, atol=1e-12)


# logits of size 900: exp without the max shift overflows to inf, and inf / inf is nan
_LARGE_LOGITS = np.array([[900.0, 899.0, -900.0], [0.5, -0.5, 0.0]])


@exercise(
    "ch05.soft_cross_entropy_grad",
    max_examples=40,
    points=2,
    forbid=("minisensli.autograd.Tensor.backward", "minisensli.ops.activation.LogSoftmax.backward"),
)
def soft_cross_entropy_grad(answer, case):
    # the fixed case first: when it fails, the report shows these logits rather than a shrunk draw
    fixed = case.show(_LARGE_LOGITS.copy(), "logits")
    _compare_soft_ce_grad(answer, fixed, case.show(np.full((2, 3), 1 / 3), "targets"), "dL/dlogits for logits near 900")
    case.drawn.clear()
    n = case.draw(st.integers(1, 5), "N")
    c = case.draw(st.integers(2, 5), "C")
    scale = case.draw(st.sampled_from([1.0, 3.0, 300.0]), "scale")
    logits = case.draw(_arrays((n, c), -3.0, 3.0), "base logits") * scale
    targets = case.draw(_targets(n, c), "targets")
    z = Tensor(logits, requires_grad=True)
    loss = -(Tensor(targets) * F.log_softmax(z, axis=1)).sum() / n
    loss.backward()
    got = as_array(_call_quietly(answer, logits, targets), "soft_cross_entropy_grad")
    assert_close(got, z.grad, f"dL/dlogits for N={n}, C={c}, logits scaled by {scale}", rtol=1e-9, atol=1e-12)


def _arrays_of(result, what: str, names: tuple[str, ...]):
    return [as_array(value, name) for value, name in zip(unpack(result, what, names), names)]


_SHAPES = hnp.array_shapes(min_dims=1, max_dims=2, min_side=1, max_side=4)


@exercise("ch05.sgd_nesterov_step", max_examples=40, points=2, forbid=("minisensli.optim.SGD.step",))
def sgd_nesterov_step(answer, case):
    shape = case.draw(_SHAPES, "shape")
    p = case.draw(_arrays(shape, -2.0, 2.0), "p")
    g = case.draw(_arrays(shape, -2.0, 2.0), "g")
    buf = case.draw(st.one_of(st.none(), _arrays(shape, -2.0, 2.0)), "buf")
    lr = case.draw(st.sampled_from([0.01, 0.1, 0.5]), "lr")
    momentum = case.draw(st.sampled_from([0.5, 0.9]), "momentum")
    weight_decay = case.draw(st.sampled_from([0.0, 0.01, 0.1]), "weight_decay")

    param = Tensor(p.copy(), requires_grad=True)
    param.grad = g.copy()
    opt = optim.SGD([param], lr=lr, momentum=momentum, weight_decay=weight_decay)
    if buf is not None:
        opt.state[0] = {"momentum_buffer": buf.copy()}
    opt.step()
    new_buf = opt.state[0]["momentum_buffer"]
    expected_p = p - lr * (g + weight_decay * p + momentum * new_buf)

    got_p, got_buf = _arrays_of(
        _call_quietly(answer, p, g, buf, lr, momentum, weight_decay), "sgd_nesterov_step", ("new_p", "new_buf")
    )
    assert_close(got_buf, new_buf, "new_buf (v = momentum * v + g, with weight decay in g)", rtol=1e-10, atol=1e-12)
    assert_close(got_p, expected_p, "new_p", rtol=1e-10, atol=1e-12)


@exercise("ch05.adamw_step", max_examples=40, points=2, forbid=("minisensli.optim.Adam.step",))
def adamw_step(answer, case):
    shape = case.draw(_SHAPES, "shape")
    p = case.draw(_arrays(shape, -2.0, 2.0), "p")
    g = case.draw(_arrays(shape, -2.0, 2.0), "g")
    t = case.draw(st.integers(1, 30), "t")
    if t == 1:
        m, v = np.zeros(shape), np.zeros(shape)
    else:
        m = case.draw(_arrays(shape, -1.0, 1.0), "m")
        v = case.draw(_arrays(shape, 0.0, 2.0), "v")
    lr = case.draw(st.sampled_from([1e-3, 0.1]), "lr")
    beta1 = case.draw(st.sampled_from([0.9, 0.5]), "beta1")
    beta2 = case.draw(st.sampled_from([0.999, 0.9]), "beta2")
    eps = case.draw(st.sampled_from([1e-2, 1e-8]), "eps")  # shrinks to 1e-2, where a misplaced eps shows
    weight_decay = case.draw(st.sampled_from([0.0, 0.1, 0.5]), "weight_decay")

    param = Tensor(p.copy(), requires_grad=True)
    param.grad = g.copy()
    opt = optim.Adam([param], lr=lr, betas=(beta1, beta2), eps=eps)  # plain Adam: no decay in the moments
    opt.state[0] = {"exp_avg": m.copy(), "exp_avg_sq": v.copy()}
    opt.steps = t - 1
    opt.step()
    expected_p = param.data - lr * weight_decay * p  # the decoupled decay, on the value before the step

    args = (p, g, m, v, t, lr, beta1, beta2, eps, weight_decay)
    got_p, got_m, got_v = _arrays_of(_call_quietly(answer, *args), "adamw_step", ("new_p", "new_m", "new_v"))
    assert_close(got_m, opt.state[0]["exp_avg"], "new_m (from the plain gradient, no decay)", rtol=1e-10, atol=1e-12)
    assert_close(got_v, opt.state[0]["exp_avg_sq"], "new_v (from the plain gradient, no decay)", rtol=1e-10, atol=1e-12)
    assert_close(got_p, expected_p, "new_p", rtol=1e-9, atol=1e-12)
