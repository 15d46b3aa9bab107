"""Optimizers and schedules against the update formulas written out by hand."""

import numpy as np
import pytest

import minisensli as ms
from minisensli import optim


def quadratic_grad(p):
    """Set p.grad for the loss sum(p^3)/3 + sum(p): gradient p^2 + 1."""
    p.grad = p.data**2 + 1


def test_sgd_plain_momentum_and_weight_decay_match_formula():
    p = ms.Tensor(np.array([1.0, -2.0]), requires_grad=True)
    opt = optim.SGD([p], lr=0.1, momentum=0.9, weight_decay=0.01)
    ref, buf = p.data.copy(), None
    for _ in range(4):
        quadratic_grad(p)
        g = ref**2 + 1 + 0.01 * ref
        buf = g.copy() if buf is None else 0.9 * buf + g
        ref = ref - 0.1 * buf
        opt.step()
        np.testing.assert_allclose(p.data, ref, rtol=1e-14)


def test_sgd_without_momentum_is_gradient_descent():
    p = ms.Tensor(np.array([0.5]), requires_grad=True)
    opt = optim.SGD([p], lr=0.2)
    quadratic_grad(p)
    opt.step()
    np.testing.assert_allclose(p.data, [0.5 - 0.2 * 1.25])
    assert opt.state == {}


def test_adam_matches_formula():
    p = ms.Tensor(np.array([1.0, -0.5]), requires_grad=True)
    opt = optim.Adam([p], lr=0.01, betas=(0.8, 0.9), eps=1e-6, weight_decay=0.1)
    ref, m, v = p.data.copy(), 0.0, 0.0
    for t in range(1, 5):
        quadratic_grad(p)
        g = ref**2 + 1 + 0.1 * ref
        m = 0.8 * m + 0.2 * g
        v = 0.9 * v + 0.1 * g * g
        ref = ref - 0.01 * (m / (1 - 0.8**t)) / (np.sqrt(v / (1 - 0.9**t)) + 1e-6)
        opt.step()
        np.testing.assert_allclose(p.data, ref, rtol=1e-13)


def test_parameters_without_gradient_are_skipped():
    a = ms.Tensor(np.array([1.0]), requires_grad=True)
    b = ms.Tensor(np.array([1.0]), requires_grad=True)
    a.grad = np.array([1.0])
    optim.SGD([a, b], lr=0.5).step()
    assert a.data[0] == 0.5 and b.data[0] == 1.0


def test_step_and_multistep_schedules():
    p = ms.Tensor(np.array([1.0]), requires_grad=True)
    opt = optim.SGD([p], lr=1.0)
    sched = optim.StepLR(opt, step_size=2, gamma=0.5)
    lrs = []
    for _ in range(5):
        lrs.append(opt.lr)
        sched.step()
    assert lrs == [1.0, 1.0, 0.5, 0.5, 0.25]
    opt2 = optim.SGD([p], lr=1.0)
    sched2 = optim.MultiStepLR(opt2, milestones=[3, 1], gamma=0.1)
    lrs = []
    for _ in range(4):
        lrs.append(opt2.lr)
        sched2.step()
    np.testing.assert_allclose(lrs, [1.0, 0.1, 0.1, 0.01])


def test_optimizer_and_scheduler_state_dict_round_trip():
    p = ms.Tensor(np.array([1.0, 2.0]), requires_grad=True)
    opt = optim.Adam([p], lr=0.1)
    sched = optim.StepLR(opt, step_size=1, gamma=0.5)
    for _ in range(3):
        quadratic_grad(p)
        opt.step()
        sched.step()
    q = ms.Tensor(p.data.copy(), requires_grad=True)
    opt2 = optim.Adam([q], lr=0.1)
    sched2 = optim.StepLR(opt2, step_size=1, gamma=0.5)
    opt2.load_state_dict(opt.state_dict())
    sched2.load_state_dict(sched.state_dict())
    assert opt2.lr == opt.lr == 0.1 * 0.5**3
    quadratic_grad(p)
    quadratic_grad(q)
    opt.step()
    opt2.step()
    np.testing.assert_array_equal(p.data, q.data)


def test_optimizer_errors():
    p = ms.Tensor(np.array([1.0]), requires_grad=True)
    with pytest.raises(ValueError, match="SGD: lr: must be > 0.0, got 0"):
        optim.SGD([p], lr=0)
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.Adam([], lr=0.1)
    with pytest.raises(TypeError, match="parameter 0 is not a Tensor that requires grad"):
        optim.SGD([ms.Tensor([1.0])], lr=0.1)
    opt = optim.SGD([p], lr=0.1, momentum=0.9)
    p.grad = np.array([1.0])
    opt.step()
    state = opt.state_dict()
    state["state"][0]["momentum_buffer"] = np.ones(3)
    with pytest.raises(ValueError, match=r"momentum_buffer of parameter 0 has shape \(3,\)"):
        optim.SGD([p], lr=0.1, momentum=0.9).load_state_dict(state)
