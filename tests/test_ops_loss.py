"""softmax, log_softmax, cross_entropy, mse_loss."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minisensli as ms
import minisensli.functional as F
from tests.strategies import arrays, shapes, tensor


def np_log_softmax(x, axis):
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


@given(x=arrays(shapes(min_dims=1), -5, 5), data=st.data())
def test_softmax_and_log_softmax(x, data):
    axis = data.draw(st.integers(-x.ndim, x.ndim - 1))
    t = tensor(x)
    np.testing.assert_allclose(F.log_softmax(t, axis=axis).data, np_log_softmax(x, axis), rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(F.softmax(t, axis=axis).data, np.exp(np_log_softmax(x, axis)), rtol=1e-13)
    assert ms.gradcheck(lambda t: F.softmax(t, axis=axis), [t])
    assert ms.gradcheck(lambda t: F.log_softmax(t, axis=axis), [t])


@given(n=st.integers(1, 5), c=st.integers(2, 5), data=st.data())
def test_cross_entropy(n, c, data):
    logits = data.draw(arrays((n, c), -5, 5))
    labels = np.array(data.draw(st.lists(st.integers(0, c - 1), min_size=n, max_size=n)))
    t = tensor(logits)
    expected = -np_log_softmax(logits, 1)[np.arange(n), labels].mean()
    np.testing.assert_allclose(F.cross_entropy(t, labels).item(), expected, rtol=1e-13)
    assert ms.gradcheck(lambda t: F.cross_entropy(t, labels), [t])


def test_cross_entropy_is_finite_for_huge_logits():
    logits = ms.Tensor(np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 1e4]]), requires_grad=True)
    loss = F.cross_entropy(logits, np.array([1, 2]))
    loss.backward()
    assert np.isfinite(loss.item()) and np.all(np.isfinite(logits.grad))
    np.testing.assert_allclose(loss.item(), (2e4 + np.log(2)) / 2)


@given(shape=shapes(min_dims=1), data=st.data())
def test_mse_loss(shape, data):
    p, t = tensor(data.draw(arrays(shape))), tensor(data.draw(arrays(shape)))
    np.testing.assert_allclose(F.mse_loss(p, t).item(), np.mean((p.data - t.data) ** 2), rtol=1e-14)
    assert ms.gradcheck(F.mse_loss, [p, t])


def test_cross_entropy_errors():
    logits = ms.Tensor(np.zeros((3, 4)))
    with pytest.raises(TypeError, match="cross_entropy: labels must be integer class indices, got dtype float64"):
        F.cross_entropy(logits, np.array([0.0, 1.0, 2.0]))
    with pytest.raises(ValueError, match=r"cross_entropy: labels of shape \(2,\) do not fit logits of shape \(3, 4\)"):
        F.cross_entropy(logits, np.array([0, 1]))
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 4\)"):
        F.cross_entropy(logits, np.array([0, 1, 4]))
    with pytest.raises(ValueError, match=r"expected logits of shape \(N, C\)"):
        F.cross_entropy(ms.Tensor(np.zeros(3)), np.array([0, 1, 2]))


def test_mse_loss_refuses_broadcasting():
    with pytest.raises(ValueError, match=r"mse_loss: prediction of shape \(3, 1\) and target of shape \(3,\)"):
        F.mse_loss(ms.Tensor(np.zeros((3, 1))), ms.Tensor(np.zeros(3)))


def test_cross_entropy_refuses_negative_labels_that_numpy_would_wrap():
    logits = ms.Tensor(np.zeros((3, 4)))
    for labels in ([0, 1, -1], [0, 1, -5]):
        with pytest.raises(ValueError, match=r"labels must lie in \[0, 4\)"):
            F.cross_entropy(logits, np.array(labels))


def test_cross_entropy_over_many_batch_sizes_keeps_its_row_indices_intact():
    # the row indices are kept per batch size (a bounded cache that is emptied past 64 sizes):
    # every size, first seen or seen again after the cache was emptied, gives the textbook value
    # and gradient, and the kept indices cannot be written through
    rng = np.random.default_rng(0)
    for n in [*range(1, 80), 3, 70, 1]:
        z = rng.standard_normal((n, 3))
        y = rng.integers(0, 3, n)
        logits = ms.Tensor(z, requires_grad=True)
        loss = F.cross_entropy(logits, y)
        log_p = z - z.max(axis=1, keepdims=True)
        log_p -= np.log(np.exp(log_p).sum(axis=1, keepdims=True))
        np.testing.assert_allclose(loss.data, -log_p[np.arange(n), y].mean(), rtol=1e-12)
        loss.backward()
        expected = np.exp(log_p)
        expected[np.arange(n), y] -= 1
        np.testing.assert_allclose(logits.grad, expected / n, rtol=1e-12, atol=1e-15)
    from minisensli.ops import loss as loss_module

    assert 0 < len(loss_module._ROWS) <= 64
    assert all(not rows.flags.writeable for rows in loss_module._ROWS.values())
