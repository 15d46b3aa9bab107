"""The engine never gives a silently wrong result: in-place changes between forward and backward
are refused (version counters), every leaf owns its .grad, special values and float16 sums are
right, and empty, 0-d, text or object inputs get errors that name the op (issue 20, item 1)."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minisensli as ms
import minisensli.functional as F
from tests.strategies import arrays, broadcastable_pair, shapes, tensor

# ---------------------------------------------------------------- version counters


def test_optimizer_step_between_forward_and_backward_is_refused_naming_the_op():
    ms.manual_seed(0)
    layer = ms.nn.Dense(3, 2)
    opt = ms.optim.SGD(layer.parameters(), lr=0.1)
    x = ms.Tensor(np.ones((4, 3)))
    stale = layer(x).sum()
    layer(x).sum().backward()
    opt.step()
    with pytest.raises(RuntimeError, match=r"input 1 .* of Linear was modified in place"):
        stale.backward()


@pytest.mark.parametrize("optimizer", ["SGD", "Adam"])
def test_every_optimizer_bumps_the_version_of_what_it_updates(optimizer):
    w = tensor([1.0, 2.0])
    y = (w * w).sum()
    w.grad = np.ones(2)
    getattr(ms.optim, optimizer)([w], lr=0.1).step()
    with pytest.raises(RuntimeError, match="Mul was modified in place"):
        y.backward()


@given(data=st.data())
def test_an_in_place_write_to_a_saved_tensor_is_caught_whatever_the_op(data):
    ops = {
        "Mul": lambda t: t * t,
        "Tanh": lambda t: t.tanh(),
        "Exp": lambda t: t.exp(),
        "MatMul": lambda t: t @ t.T,
        "Log": lambda t: (t * t + 1).log(),
    }
    name = data.draw(st.sampled_from(sorted(ops)))
    x = tensor(data.draw(arrays(shapes(min_dims=2, max_dims=2))))
    y = ops[name](x)
    target = x if name in ("Mul", "MatMul") else y
    if name == "Log":  # the saved input of Log is an intermediate result: modify that one
        target = y._ctx.parents[0]
    target.data += 1.0  # through the API: the property bumps the version
    with pytest.raises(RuntimeError, match="modified in place"):
        y.sum().backward()


def test_a_write_through_a_view_counts_for_the_tensor_it_views():
    w = tensor(np.arange(6.0).reshape(2, 3))
    x = tensor(np.ones((4, 3)))
    y = (x @ w.T).sum()  # MatMul saved w.T, a view of w's array
    w.data -= 0.5
    with pytest.raises(RuntimeError, match="MatMul was modified in place"):
        y.backward()
    d = w.detach()
    z = (d * x[:2]).sum() if False else (x @ d.T).sum()
    w.data *= 2.0  # the detached tensor shares the memory, so its version moves too
    with pytest.raises(RuntimeError, match="modified in place"):
        z.backward()


def test_changing_an_input_that_was_not_saved_is_allowed_and_right():
    a, b = tensor([1.0, 2.0]), tensor([3.0, 4.0])
    y = ((a + b) * 2.0).sum()  # Add saves nothing
    a.data += 10.0
    y.backward()
    np.testing.assert_array_equal(a.grad, [2.0, 2.0])


def test_replacing_data_with_a_new_array_keeps_the_saved_one_valid():
    w = tensor([1.0, 2.0])
    y = (w * w).sum()
    w.data = np.array([5.0, 5.0])  # a new array: the old one, saved by Mul, is unchanged
    y.backward()
    np.testing.assert_array_equal(w.grad, [2.0, 4.0])


def test_training_loop_with_backward_before_step_is_unaffected():
    ms.manual_seed(1)
    model = ms.nn.Sequential(ms.nn.Dense(2, 3), ms.nn.ReLU(), ms.nn.Dense(3, 2))
    opt = ms.optim.Adam(model.parameters(), lr=0.01)
    x, y = ms.Tensor(np.random.default_rng(0).standard_normal((5, 2))), np.array([0, 1, 1, 0, 1])
    for _ in range(3):
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()


# ---------------------------------------------------------------- one .grad array per leaf


@given(shapes_=broadcastable_pair())
def test_no_two_leaves_share_a_grad_array(shapes_):
    a, b = tensor(np.ones(shapes_[0])), tensor(np.ones(shapes_[1]))
    c = tensor(np.ones(np.broadcast_shapes(*shapes_)))
    ((a + b) * c).sum().backward()
    grads = [a.grad, b.grad, c.grad]
    for i in range(3):
        for j in range(i + 1, 3):
            assert not np.shares_memory(grads[i], grads[j])
    assert all(isinstance(g, np.ndarray) for g in grads)
    before = b.grad.copy()
    a.grad[...] = 7.0
    np.testing.assert_array_equal(b.grad, before)


def test_backward_does_not_hand_the_callers_gradient_to_a_leaf():
    x = tensor([1.0, 2.0])
    g = np.array([0.5, 0.25])
    x.backward(g)
    assert x.grad is not g and not np.shares_memory(x.grad, g)
    x.grad[0] = 9.0
    assert g[0] == 0.5
    y = tensor([1.0, 2.0])
    h = np.array([1.0, 1.0])
    (y * 1.0).backward(h)  # Mul hands grad * 1.0, a new array; a plain pass-through op would hand h
    (y**1).backward(h)  # Pow with p = 1 passes the gradient through
    assert not np.shares_memory(y.grad, h)


def test_grad_results_own_their_arrays():
    a, b = tensor([1.0]), tensor([2.0])
    ga, gb = ms.grad((a + b).sum(), [a, b])
    assert not np.shares_memory(ga.data, gb.data)


# ---------------------------------------------------------------- special values, float16


def test_x_to_the_zero_has_derivative_zero_everywhere_including_zero():
    x = tensor([0.0, -1.5, 2.0])
    (x**0).sum().backward()
    np.testing.assert_array_equal(x.grad, [0.0, 0.0, 0.0])
    x.grad = None
    (x**1).sum().backward()
    np.testing.assert_array_equal(x.grad, [1.0, 1.0, 1.0])


@given(values=hnp.arrays(np.float16, st.integers(1, 3000), elements=st.floats(0, 20, width=16)))
def test_float16_sum_and_mean_accumulate_in_float32(values):
    t = ms.Tensor(values)
    exact = values.astype(np.float64)
    assert t.sum().dtype == np.float16 and t.mean().dtype == np.float16
    np.testing.assert_allclose(float(t.sum().item()), exact.sum(), rtol=2e-3)
    np.testing.assert_allclose(float(t.mean().item()), exact.mean(), rtol=2e-3, atol=1e-3)


@given(
    logits=hnp.arrays(np.float16, (4, 3), elements=st.floats(-300, 300, width=16)),
    labels=st.lists(st.integers(0, 2), min_size=4, max_size=4),
)
def test_float16_cross_entropy_and_softmax_match_float32(logits, labels):
    y = np.array(labels)
    z16 = ms.Tensor(logits, requires_grad=True)
    z32 = ms.Tensor(logits.astype(np.float32), requires_grad=True)
    l16, l32 = F.cross_entropy(z16, y), F.cross_entropy(z32, y)
    assert l16.dtype == np.float16 and np.isfinite(l16.item())
    np.testing.assert_allclose(l16.item(), l32.item(), rtol=2e-3, atol=1e-2)
    l16.backward()
    l32.backward()
    assert z16.grad.dtype == np.float16
    np.testing.assert_allclose(z16.grad.astype(np.float32), z32.grad, atol=2e-3)
    for fn in (F.softmax, F.log_softmax):
        np.testing.assert_allclose(fn(z16).data.astype(np.float32), fn(z32).data, rtol=1e-2, atol=2e-3)


def test_float16_cross_entropy_of_large_logits_is_finite():
    z = ms.Tensor(np.array([[0.0, 30.0, 0.0]] * 4, dtype=np.float16))
    assert F.cross_entropy(z, np.zeros(4, dtype=int)).item() == pytest.approx(30.0, rel=1e-3)
    mse = F.mse_loss(ms.Tensor(np.full(1000, 200.0, dtype=np.float16)), ms.Tensor(np.zeros(1000, dtype=np.float16)))
    assert np.isfinite(mse.item()) and mse.item() == pytest.approx(40000, rel=1e-2)


# ---------------------------------------------------------------- empty and 0-d tensors


@given(shape=hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=3), data=st.data())
def test_reductions_over_empty_axes_give_numpy_results_or_errors_naming_the_op(shape, data):
    x = ms.Tensor(np.zeros(shape))
    axis = data.draw(st.sampled_from([None, *range(len(shape))]))
    reduced = range(len(shape)) if axis is None else [axis]
    empty_reduction = any(shape[a] == 0 for a in reduced)
    np.testing.assert_array_equal(x.sum(axis=axis).data, np.zeros(shape).sum(axis=axis))
    for op in ("mean", "max", "min"):
        if empty_reduction:
            with pytest.raises(ValueError, match=f"{op}: cannot reduce over an empty axis"):
                getattr(x, op)(axis=axis)
        else:
            assert getattr(x, op)(axis=axis).shape == getattr(np.zeros(shape), op)(axis=axis).shape


@given(shape=hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=3))
def test_softmax_of_empty_tensors(shape):
    x = ms.Tensor(np.zeros(shape))
    for op in ("softmax", "log_softmax"):
        if shape[-1] == 0:
            with pytest.raises(ValueError, match=f"{op}: axis -1 of shape .* is empty"):
                getattr(F, op)(x)
        else:
            assert getattr(F, op)(x).shape == shape


def test_zero_d_tensors_through_reductions_and_softmax():
    x = ms.Tensor(np.array(2.0), requires_grad=True)
    for op in ("sum", "mean", "max", "min"):
        assert getattr(x, op)().item() == 2.0
        with pytest.raises(ValueError, match=f"{op}: axis 0 is out of range for a tensor with 0 dimensions"):
            getattr(x, op)(axis=0)
    for op in ("softmax", "log_softmax"):
        with pytest.raises(ValueError, match=f"{op}: expected a tensor with at least one axis"):
            getattr(F, op)(x)
    x.sum().backward()
    assert x.grad.shape == ()


def test_cross_entropy_without_classes_and_empty_mse_are_named():
    with pytest.raises(ValueError, match=r"cross_entropy: .* no classes"):
        F.cross_entropy(ms.Tensor(np.zeros((3, 0))), np.zeros(3, dtype=int))


# ---------------------------------------------------------------- inputs that are not numbers


@pytest.mark.parametrize(
    "data, what",
    [
        (["a", "b"], "text"),
        (np.array([b"x"]), "bytes"),
        (np.array([1, None], dtype=object), "Python objects"),
        (np.array([1 + 2j]), "complex numbers"),
    ],
)
def test_tensors_of_text_objects_or_complex_numbers_are_refused(data, what):
    with pytest.raises(TypeError, match=f"Tensor: data must be numbers .*{what}"):
        ms.Tensor(data)


@pytest.mark.parametrize("axes", [(1.0, 0.0), (0.5, 1), ("1", "0"), ((0, 1.0),)])
def test_transpose_refuses_non_integer_axes(axes):
    with pytest.raises(TypeError, match="transpose: axes must be integers"):
        ms.Tensor(np.zeros((2, 3))).transpose(*axes)


def test_transpose_accepts_numpy_integers():
    t = ms.Tensor(np.zeros((2, 3))).transpose(np.int64(1), np.int64(0))
    assert t.shape == (3, 2)
