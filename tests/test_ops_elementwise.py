"""Elementwise ops: forward against NumPy, gradients by gradcheck with broadcasting (float64)."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minisensli as ms
import minisensli.functional as F
from tests.strategies import arrays, away_from_zero, broadcastable_pair, positive_arrays, shapes, tensor

BINARY = {
    "add": (lambda a, b: a + b, np.add),
    "sub": (lambda a, b: a - b, np.subtract),
    "mul": (lambda a, b: a * b, np.multiply),
}


@pytest.mark.parametrize("name", sorted(BINARY))
@given(data=st.data())
def test_binary_op_forward_and_gradient_with_broadcasting(name, data):
    shape_a, shape_b = data.draw(broadcastable_pair())
    a = tensor(data.draw(arrays(shape_a)))
    b = tensor(data.draw(arrays(shape_b)))
    op, reference = BINARY[name]
    np.testing.assert_allclose(op(a, b).data, reference(a.data, b.data), rtol=1e-15)
    assert ms.gradcheck(op, [a, b])


@given(data=st.data())
def test_div_forward_and_gradient_with_broadcasting(data):
    shape_a, shape_b = data.draw(broadcastable_pair())
    a = tensor(data.draw(arrays(shape_a)))
    b = tensor(data.draw(away_from_zero(shape_b, gap=0.3)))
    np.testing.assert_allclose((a / b).data, a.data / b.data, rtol=1e-15)
    assert ms.gradcheck(lambda a, b: a / b, [a, b])


@given(x=arrays(shapes()))
def test_neg(x):
    t = tensor(x)
    np.testing.assert_array_equal((-t).data, -x)
    assert ms.gradcheck(lambda t: -t, [t])


@given(x=positive_arrays(shapes()), p=st.sampled_from([2, 3, 0.5, -1.0, 1.7]))
def test_pow_scalar_exponent(x, p):
    t = tensor(x)
    np.testing.assert_allclose((t**p).data, x**p, rtol=1e-15)
    assert ms.gradcheck(lambda t: t**p, [t])


@given(x=arrays(shapes(), -2, 2), base=st.sampled_from([2.0, 0.5, np.e]))
def test_rpow_scalar_base(x, base):
    t = tensor(x)
    np.testing.assert_allclose((base**t).data, base**x, rtol=1e-14)
    assert ms.gradcheck(lambda t: base**t, [t])


UNARY = {
    "exp": (F.exp, np.exp, arrays),
    "log": (F.log, np.log, positive_arrays),
    "sqrt": (F.sqrt, np.sqrt, positive_arrays),
    "tanh": (F.tanh, np.tanh, arrays),
    "sigmoid": (F.sigmoid, lambda x: 1 / (1 + np.exp(-x)), arrays),
    "relu": (F.relu, lambda x: np.maximum(x, 0), away_from_zero),
}


@pytest.mark.parametrize("name", sorted(UNARY))
@given(data=st.data())
def test_unary_op_forward_and_gradient(name, data):
    op, reference, values = UNARY[name]
    x = data.draw(values(shapes()))
    t = tensor(x)
    np.testing.assert_allclose(op(t).data, reference(x), rtol=1e-14)
    assert ms.gradcheck(op, [t])


def test_tensor_methods_match_functional():
    x = tensor([[0.5, -1.0], [2.0, 0.25]])
    for name in ("exp", "tanh", "sigmoid", "relu"):
        np.testing.assert_array_equal(getattr(x, name)().data, getattr(F, name)(x).data)


def test_sigmoid_is_accurate_for_large_negative_inputs():
    x = np.array([-40.0, -700.0, 40.0, 700.0])
    out = F.sigmoid(ms.Tensor(x)).data
    np.testing.assert_allclose(out[:1], np.exp(-40.0) / (1 + np.exp(-40.0)), rtol=1e-15)
    assert out[1] >= 0 and out[3] == 1.0 and np.all(np.isfinite(out))


def test_relu_gradient_at_zero_is_zero():
    x = ms.Tensor([0.0, 1.0, -1.0], requires_grad=True)
    F.relu(x).sum().backward()
    np.testing.assert_array_equal(x.grad, [0.0, 1.0, 0.0])


def test_operators_with_scalars_and_arrays_on_either_side():
    x = tensor([1.0, 2.0])
    arr = np.array([3.0, 4.0])
    np.testing.assert_allclose((2 + x).data, [3, 4])
    np.testing.assert_allclose((2 - x).data, [1, 0])
    np.testing.assert_allclose((2 / x).data, [2, 1])
    np.testing.assert_allclose((arr * x).data, [3, 8])
    np.testing.assert_allclose((x - arr).data, [-2, -2])
    assert isinstance(arr * x, ms.Tensor)
    y = (arr / x).sum()
    y.backward()
    np.testing.assert_allclose(x.grad, -arr / x.data**2)


def test_binary_shape_mismatch_names_op_and_shapes():
    with pytest.raises(ValueError, match=r"mul: shapes \(2, 3\) and \(4,\) cannot be broadcast"):
        tensor(np.ones((2, 3))) * tensor(np.ones(4))


def test_non_numeric_operand_is_a_type_error():
    with pytest.raises(TypeError, match="add"):
        tensor([1.0]) + "a"


def test_tensor_exponent_is_refused_with_hint():
    with pytest.raises(TypeError, match="exponent must be a Python scalar"):
        tensor([1.0]) ** tensor([2.0])


def test_integer_division_gives_floats():
    out = ms.Tensor(np.array([1, 2])) / ms.Tensor(np.array([2, 4]))
    np.testing.assert_allclose(out.data, [0.5, 0.5])
    assert out.dtype == np.float64
