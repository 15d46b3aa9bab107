"""The backward engine: ordering, accumulation, graph freeing, grad modes, errors."""

import numpy as np
import pytest

import minisensli as ms
from minisensli.autograd import unbroadcast


def test_backward_of_simple_expression():
    x = ms.Tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = (x * x + 3 * x).sum()
    y.backward()
    np.testing.assert_allclose(x.grad, 2 * x.data + 3)


def test_backward_accumulates_when_a_tensor_is_used_twice():
    x = ms.Tensor([2.0, -1.0], requires_grad=True)
    (x * x * x).sum().backward()  # x appears three times in one product chain
    np.testing.assert_allclose(x.grad, 3 * x.data**2)


def test_backward_accumulates_through_diamond():
    x = ms.Tensor([0.5, 1.5], requires_grad=True)
    a = x.exp()
    b = a * 2.0
    c = a * a
    d = (b + c).sum()
    d.backward()
    expected = 2 * np.exp(x.data) + 2 * np.exp(2 * x.data)
    np.testing.assert_allclose(x.grad, expected)


def test_backward_visits_each_node_once_in_deep_residual_chain():
    # 60 residual steps x <- x + x*w would take 2**60 path visits if nodes were revisited
    x = ms.Tensor([1.0], requires_grad=True)
    w = ms.Tensor([0.01], requires_grad=True)
    h = x
    for _ in range(60):
        h = h + h * w
    h.sum().backward()
    np.testing.assert_allclose(x.grad, (1.01) ** 60, rtol=1e-12)
    np.testing.assert_allclose(w.grad, 60 * (1.01) ** 59, rtol=1e-12)


def test_chain_of_ten_thousand_ops_has_no_recursion_error():
    x = ms.Tensor([1.0], requires_grad=True)
    h = x
    for _ in range(10_000):
        h = h * 1.0001
    h.sum().backward()
    np.testing.assert_allclose(x.grad, 1.0001**10_000, rtol=1e-9)


def test_leaf_gradients_accumulate_over_backward_calls():
    x = ms.Tensor([1.0, 2.0], requires_grad=True)
    (2 * x).sum().backward()
    (3 * x).sum().backward()
    np.testing.assert_allclose(x.grad, [5.0, 5.0])


def test_second_backward_through_freed_graph_raises():
    x = ms.Tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        y.backward()


def test_retain_graph_allows_second_backward():
    x = ms.Tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad, 4 * x.data)


def test_backward_from_non_scalar_needs_gradient():
    x = ms.Tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    with pytest.raises(RuntimeError, match=r"non-scalar tensor of shape \(2,\)"):
        y.backward()
    y.backward(np.array([1.0, -1.0]))
    np.testing.assert_allclose(x.grad, [2.0, -2.0])


def test_backward_gradient_shape_is_checked():
    x = ms.Tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(ValueError, match=r"gradient has shape \(3,\)"):
        (x * 2).backward(np.ones(3))


def test_backward_without_requires_grad_raises():
    with pytest.raises(RuntimeError, match="does not require grad"):
        ms.Tensor([1.0]).sum().backward()


def test_no_grad_records_nothing_and_restores_mode():
    x = ms.Tensor([1.0], requires_grad=True)
    with ms.no_grad():
        y = x * 2
        assert not ms.is_grad_enabled()
    assert ms.is_grad_enabled()
    assert not y.requires_grad and y.is_leaf


def test_no_grad_works_as_decorator():
    @ms.no_grad()
    def double(t):
        return t * 2

    assert not double(ms.Tensor([1.0], requires_grad=True)).requires_grad


def test_detach_cuts_the_graph_and_shares_data():
    x = ms.Tensor([1.0, 2.0], requires_grad=True)
    d = (x * 3).detach()
    assert not d.requires_grad and d.is_leaf
    y = (d * x).sum()
    y.backward()
    np.testing.assert_allclose(x.grad, d.data)


def test_requires_grad_propagates():
    a = ms.Tensor([1.0], requires_grad=True)
    b = ms.Tensor([2.0])
    assert (a + b).requires_grad
    assert not (b + b).requires_grad
    assert not (a + b).is_leaf


def test_gradient_only_for_inputs_that_need_it():
    a = ms.Tensor([1.0, 2.0], requires_grad=True)
    b = ms.Tensor([3.0, 4.0])
    (a * b).sum().backward()
    assert b.grad is None
    np.testing.assert_allclose(a.grad, b.data)


def test_retain_grad_keeps_intermediate_gradient():
    x = ms.Tensor([1.0, -2.0], requires_grad=True)
    h = (x * 3).retain_grad()
    (h * h).sum().backward()
    np.testing.assert_allclose(h.grad, 2 * h.data)


def test_leaf_grad_is_writable_even_after_broadcast_backward():
    x = ms.Tensor(np.ones((2, 3)), requires_grad=True)
    x.sum().backward()
    x.grad[0, 0] = 5.0  # would fail on a read-only broadcast view
    assert x.grad[1, 1] == 1.0


def test_integer_tensor_cannot_require_grad():
    with pytest.raises(TypeError, match="only floating-point tensors can require gradients, got dtype int64"):
        ms.Tensor(np.array([1, 2]), requires_grad=True)


def test_python_floats_take_default_dtype_and_arrays_keep_theirs():
    ms.set_default_dtype("float32")
    assert ms.Tensor([1.0, 2.0]).dtype == np.float32
    assert ms.Tensor(np.array([1.0])).dtype == np.float64
    assert ms.Tensor([1, 2]).dtype.kind == "i"


def test_scalars_keep_tensor_dtype():
    x = ms.Tensor(np.ones(3, dtype=np.float32), requires_grad=True)
    assert (x * 2.0).dtype == np.float32
    assert (1.5 - x).dtype == np.float32
    assert (np.ones(3) * x).dtype == np.float32  # a float64 constant adopts the tensor's dtype


def test_mixed_float_precision_between_tensors_is_an_error():
    a = ms.Tensor(np.ones(2, dtype=np.float32))
    b = ms.Tensor(np.ones(2, dtype=np.float64))
    with pytest.raises(TypeError, match="add: dtype mismatch float32 and float64"):
        a + b


def test_unbroadcast_sums_stretched_and_prepended_axes():
    g = np.arange(24.0).reshape(2, 3, 4)
    np.testing.assert_allclose(unbroadcast(g, (3, 1)), g.sum(axis=0).sum(axis=1, keepdims=True))
    np.testing.assert_allclose(unbroadcast(g, ()), g.sum())
    assert unbroadcast(g, (2, 3, 4)) is g


def test_repr_shows_values_and_grad_state():
    assert repr(ms.Tensor([1.0, 2.0], requires_grad=True)) == "Tensor([1., 2.], requires_grad=True)"
    x = ms.Tensor([1.0], requires_grad=True)
    assert "grad_fn=Mul" in repr(x * 2)


def test_item_and_len():
    assert ms.Tensor([[3.5]]).item() == 3.5
    assert len(ms.Tensor(np.zeros((4, 2)))) == 4
    with pytest.raises(ValueError, match="item"):
        ms.Tensor([1.0, 2.0]).item()


def test_custom_function_plugs_into_engine():
    class Cube(ms.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x**3

        @staticmethod
        def backward(ctx, grad):
            (x,) = ctx.saved_arrays
            return (3 * x**2 * grad,)

    x = ms.Tensor([1.0, 2.0], requires_grad=True)
    assert ms.gradcheck(lambda t: Cube.apply(t), [x])


def test_wrong_gradient_shape_from_custom_backward_is_reported():
    class Broken(ms.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, grad):
            return (grad.sum(),)

    x = ms.Tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match=r"Broken.backward returned a gradient of shape \(\)"):
        Broken.apply(x).sum().backward()


def test_wrong_number_of_gradients_from_custom_backward_is_reported():
    class TwoInputs(ms.Function):
        @staticmethod
        def forward(ctx, a, b):
            return a + b

        @staticmethod
        def backward(ctx, grad):
            return (grad,)

    a = ms.Tensor([1.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="TwoInputs.backward returned 1 gradients for 2 inputs"):
        TwoInputs.apply(a, a).sum().backward()


def test_an_op_result_waits_for_every_consumer_whatever_the_input_order():
    # a = c + tanh(c): the add lists c before tanh(c). A search that marked c as visited when it
    # was first pushed would process c before tanh(c) had delivered its share (a wrong gradient).
    for swap in (False, True):
        x = ms.Tensor(np.array([0.3, -1.2]), requires_grad=True)
        c = x * 2.0
        b = c.tanh()
        a = (b + c) if swap else (c + b)
        a.backward(np.ones(2))
        np.testing.assert_allclose(x.grad, 2.0 * (1.0 + (1.0 - np.tanh(2.0 * x.data) ** 2)), rtol=1e-14)


def test_backward_of_a_leaf_and_of_a_leaf_used_by_several_ops():
    x = ms.Tensor(np.array(1.5), requires_grad=True)
    x.backward()
    assert x.grad == 1.0 and x.grad.base is None
    w = ms.Tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = (w * 3.0).sum() + (w * w).sum() + w.sum()  # three paths end at the same leaf
    y.backward()
    np.testing.assert_allclose(w.grad, 3.0 + 2.0 * w.data + 1.0, rtol=1e-14)
