"""Second derivatives and Hessian-vector products against PyTorch (skipped without torch):
dense, convolutional and residual nets with pooling, under cross-entropy and MSE, in float64."""

import numpy as np
import pytest

import minisensli as ms
import minisensli.functional as F

torch = pytest.importorskip("torch")
TF = torch.nn.functional


def dense_net(lib, f, x, y, loss, p):
    h = f.linear(x, p[0], p[1]).tanh()
    h = h + 0.7 * f.linear(f.linear(h, p[2]).relu(), p[3])  # a residual block
    out = f.linear(h, p[4], p[5])
    return f.cross_entropy(out, y) if loss == "ce" else f.mse_loss(out.sigmoid(), y)


def conv_net(lib, f, x, y, loss, p, pool):
    h = f.conv2d(x, p[0], p[1], padding=1).tanh()
    h = h + 0.5 * f.conv2d(f.conv2d(h, p[2], padding=1).relu(), p[3], padding=1)  # a residual conv block
    h = f.max_pool2d(h, 2) if pool == "max" else f.avg_pool2d(h, 2)
    out = f.linear(h.reshape(h.shape[0], -1), p[4], p[5])
    return f.cross_entropy(out, y) if loss == "ce" else f.mse_loss(out, y)


def _setup(kind, loss, seed=0):
    rng = np.random.default_rng(seed)
    if kind == "dense":
        shapes = [(4, 3), (4,), (4, 4), (4, 4), (3, 4), (3,)]
        x = rng.standard_normal((6, 3))
        y_ce, y_mse = rng.integers(0, 3, 6), rng.uniform(0, 1, (6, 3))
    else:
        shapes = [(3, 2, 3, 3), (3,), (3, 3, 3, 3), (3, 3, 3, 3), (2, 12), (2,)]
        x = rng.standard_normal((2, 2, 4, 4))
        y_ce, y_mse = rng.integers(0, 2, 2), rng.standard_normal((2, 2))
    params = [rng.standard_normal(s) * 0.6 for s in shapes]
    return params, x, (y_ce if loss == "ce" else y_mse)


class TorchF:
    """The functional names the nets above use, on torch."""

    linear = staticmethod(TF.linear)
    conv2d = staticmethod(TF.conv2d)
    max_pool2d = staticmethod(TF.max_pool2d)
    avg_pool2d = staticmethod(TF.avg_pool2d)
    mse_loss = staticmethod(TF.mse_loss)

    @staticmethod
    def cross_entropy(z, y):
        return TF.cross_entropy(z, torch.as_tensor(y))


def _loss_fns(kind, loss, pool, x, y):
    if kind == "dense":
        ms_fn = lambda *p: dense_net(ms, F, ms.Tensor(x), y if loss == "ce" else ms.Tensor(y), loss, p)  # noqa: E731
        th_fn = lambda *p: dense_net(torch, TorchF, torch.tensor(x), y if loss == "ce" else torch.tensor(y), loss, p)  # noqa: E731
    else:
        ms_fn = lambda *p: conv_net(ms, F, ms.Tensor(x), y if loss == "ce" else ms.Tensor(y), loss, p, pool)  # noqa: E731
        th_fn = lambda *p: conv_net(  # noqa: E731
            torch, TorchF, torch.tensor(x), y if loss == "ce" else torch.tensor(y), loss, p, pool
        )
    return ms_fn, th_fn


CASES = [("dense", "ce", None), ("dense", "mse", None), ("conv", "ce", "max"), ("conv", "mse", "avg")]


@pytest.mark.parametrize("kind, loss, pool", CASES)
def test_hvp_matches_pytorch(kind, loss, pool):
    params, x, y = _setup(kind, loss)
    ms_fn, th_fn = _loss_fns(kind, loss, pool, x, y)
    v = [np.random.default_rng(5).standard_normal(p.shape) for p in params]
    value, hv = ms.hvp(ms_fn, [ms.Tensor(p) for p in params], v)
    t_value, t_hv = torch.autograd.functional.hvp(
        th_fn, tuple(torch.tensor(p) for p in params), tuple(torch.tensor(t) for t in v)
    )
    np.testing.assert_allclose(value.item(), t_value.item(), rtol=1e-12)
    for mine, theirs in zip(hv, t_hv):
        np.testing.assert_allclose(mine.data, theirs.numpy(), rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("kind, loss, pool", CASES)
def test_second_derivatives_of_a_gradient_penalty_match_pytorch(kind, loss, pool):
    """d/dparams of ||d loss/d params||^2 + ||d loss/d x||^2, through grad(..., create_graph=True)."""
    params, x, y = _setup(kind, loss, seed=1)
    ms_fn, th_fn = _loss_fns(kind, loss, pool, x, y)
    mp = [ms.Tensor(p, requires_grad=True) for p in params]
    tp = [torch.tensor(p, requires_grad=True) for p in params]
    m_grads = ms.grad(ms_fn(*mp), mp, create_graph=True)
    t_grads = torch.autograd.grad(th_fn(*tp), tp, create_graph=True)
    for a, b in zip(m_grads, t_grads):
        np.testing.assert_allclose(a.data, b.detach().numpy(), rtol=1e-10, atol=1e-12)
    m_pen = sum((g * g).sum() for g in m_grads)
    t_pen = sum((g * g).sum() for g in t_grads)
    m_second = ms.grad(m_pen, mp)
    t_second = torch.autograd.grad(t_pen, tp)
    for a, b in zip(m_second, t_second):
        np.testing.assert_allclose(a.data, b.numpy(), rtol=1e-8, atol=1e-10)


def test_hessian_of_a_small_dense_loss_matches_pytorch():
    params, x, y = _setup("dense", "ce", seed=2)
    ms_fn, th_fn = _loss_fns("dense", "ce", None, x, y)
    fixed = [ms.Tensor(p) for p in params]
    t_fixed = [torch.tensor(p) for p in params]

    def ms_last(w):
        return ms_fn(*fixed[:4], w, fixed[5])

    def th_last(w):
        return th_fn(*t_fixed[:4], w, t_fixed[5])

    h = ms.hessian(ms_last, ms.Tensor(params[4]))
    t_h = torch.autograd.functional.hessian(th_last, torch.tensor(params[4]))
    np.testing.assert_allclose(h.data, t_h.numpy(), rtol=1e-9, atol=1e-12)
