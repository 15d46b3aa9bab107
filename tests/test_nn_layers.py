"""Layers: forward against NumPy formulas, gradients with gradcheck (float64), Sequential."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minisensli as ms
from minisensli import nn
from tests.strategies import arrays, tensor
from tests.test_ops_conv import conv2d_reference


def params_then_input(module, x):
    """gradcheck arguments covering the input and every parameter (the module's own tensors)."""
    return (lambda x_, *params: module(x_)), [x, *module.parameters()]


@given(n=st.integers(1, 4), i=st.integers(1, 4), o=st.integers(1, 4), bias=st.booleans(), data=st.data())
def test_dense_forward_and_gradients(n, i, o, bias, data):
    layer = nn.Dense(i, o, bias=bias)
    x = tensor(data.draw(arrays((n, i))))
    expected = x.data @ layer.weight.data.T + (layer.bias.data if bias else 0)
    np.testing.assert_allclose(layer(x).data, expected, rtol=1e-13, atol=1e-14)
    fn, inputs = params_then_input(layer, x)
    assert ms.gradcheck(fn, inputs)


def test_dense_initialisation_bound_and_shapes():
    ms.manual_seed(0)
    layer = nn.Dense(16, 8)
    assert layer.weight.shape == (8, 16) and layer.bias.shape == (8,)
    assert np.abs(layer.weight.data).max() <= 1 / 4 and np.abs(layer.bias.data).max() <= 1 / 4
    assert np.abs(layer.weight.data).max() > 0.2  # really spread over the interval


def test_manual_seed_makes_initialisation_reproducible():
    ms.manual_seed(3)
    a = nn.Dense(3, 3).weight.data.copy()
    ms.manual_seed(3)
    np.testing.assert_array_equal(nn.Dense(3, 3).weight.data, a)


@given(stride=st.integers(1, 2), padding=st.integers(0, 1), bias=st.booleans(), data=st.data())
def test_conv2d_layer_forward_and_gradients(stride, padding, bias, data):
    layer = nn.Conv2d(2, 3, 3, stride=stride, padding=padding, bias=bias)
    x = tensor(data.draw(arrays((2, 2, 4, 5))))
    expected = conv2d_reference(x.data, layer.weight.data, layer.bias.data if bias else None, stride, padding)
    np.testing.assert_allclose(layer(x).data, expected, rtol=1e-12, atol=1e-13)
    fn, inputs = params_then_input(layer, x)
    assert ms.gradcheck(fn, inputs)


def test_conv2d_initialisation_bound():
    layer = nn.Conv2d(4, 2, 3)
    bound = 1 / np.sqrt(4 * 9)
    assert np.abs(layer.weight.data).max() <= bound and np.abs(layer.bias.data).max() <= bound


def test_pool_and_flatten_layers():
    x = tensor(np.arange(32.0).reshape(1, 2, 4, 4))
    assert nn.MaxPool2d(2)(x).shape == (1, 2, 2, 2)
    np.testing.assert_allclose(nn.AvgPool2d(2)(x).data[0, 0], [[2.5, 4.5], [10.5, 12.5]])
    assert nn.Flatten()(x).shape == (1, 32)


@pytest.mark.parametrize(
    "act,np_act",
    [(nn.ReLU, lambda v: np.maximum(v, 0)), (nn.Tanh, np.tanh), (nn.Sigmoid, lambda v: 1 / (1 + np.exp(-v)))],
)
def test_activation_modules(act, np_act):
    x = np.array([[-1.5, 0.3, 2.0]])
    np.testing.assert_allclose(act()(tensor(x)).data, np_act(x), rtol=1e-14)


@given(
    weights=st.sampled_from([1, 2]),
    activation=st.sampled_from(["tanh", "relu"]),
    h=st.sampled_from([1.0, 0.5]),
    data=st.data(),
)
def test_residual_dense_formula_and_gradients(weights, activation, h, data):
    block = nn.ResidualDense(3, weights=weights, activation=activation, h=h)
    x = tensor(data.draw(arrays((4, 3))))
    act = np.tanh if activation == "tanh" else (lambda v: np.maximum(v, 0))
    branch = act(x.data @ block.inner.weight.data.T + block.inner.bias.data)
    if weights == 2:
        branch = branch @ block.outer.weight.data.T
    np.testing.assert_allclose(block(x).data, x.data + h * branch, rtol=1e-13, atol=1e-14)
    fn, inputs = params_then_input(block, x)
    if activation == "relu":  # keep off the kink: nudge pre-activations that are near zero
        z = x.data @ block.inner.weight.data.T + block.inner.bias.data
        if np.abs(z).min() < 1e-4:
            return
    assert ms.gradcheck(fn, inputs)


@given(weights=st.sampled_from([1, 2]), data=st.data())
def test_residual_conv_formula_and_gradients(weights, data):
    block = nn.ResidualConv(2, weights=weights, activation="tanh", h=0.7)
    x = tensor(data.draw(arrays((1, 2, 3, 4))))
    branch = np.tanh(conv2d_reference(x.data, block.inner.weight.data, block.inner.bias.data, 1, 1))
    if weights == 2:
        branch = conv2d_reference(branch, block.outer.weight.data, None, 1, 1)
    np.testing.assert_allclose(block(x).data, x.data + 0.7 * branch, rtol=1e-12, atol=1e-13)
    fn, inputs = params_then_input(block, x)
    assert ms.gradcheck(fn, inputs)


def test_residual_block_parameter_names_and_errors():
    assert [n for n, _ in nn.ResidualDense(3).named_parameters()] == ["inner.weight", "inner.bias", "outer.weight"]
    assert [n for n, _ in nn.ResidualDense(3, weights=1).named_parameters()] == ["inner.weight", "inner.bias"]
    with pytest.raises(ValueError, match="weights must be 1 or 2"):
        nn.ResidualDense(3, weights=3)
    with pytest.raises(ValueError, match="unknown activation 'gelu'"):
        nn.ResidualConv(3, activation="gelu")
    with pytest.raises(ValueError, match="step size h: must be > 0"):
        nn.ResidualDense(3, h=0)


def test_sequential_indexing_slicing_iteration():
    layers = [nn.Dense(2, 3), nn.ReLU(), nn.Dense(3, 1)]
    m = nn.Sequential(*layers)
    assert len(m) == 3 and m[0] is layers[0] and m[-1] is layers[2]
    assert list(m) == layers
    head = m[:2]
    assert isinstance(head, nn.Sequential) and len(head) == 2 and head[0] is layers[0]
    x = tensor(np.ones((4, 2)))
    np.testing.assert_array_equal(m(x).data, m[2](m[:2](x)).data)


def test_sequential_with_inserted_returns_new_sequential():
    m = nn.Sequential(nn.Dense(2, 3), nn.ReLU(), nn.Dense(3, 1))
    extra = nn.Dense(3, 3)
    grown = m.with_inserted(2, extra, nn.ReLU())
    assert len(m) == 3 and len(grown) == 5 and grown[2] is extra
    assert m.with_inserted(-1, extra)[2] is extra  # like list.insert
    with pytest.raises(IndexError, match="position 7 is outside 0..3"):
        m.with_inserted(7, extra)
    with pytest.raises(TypeError, match="item 0 is a int, not a Module"):
        nn.Sequential(3)


def test_loss_modules():
    logits = tensor([[2.0, 0.5], [0.1, 0.3]])
    labels = np.array([0, 1])
    np.testing.assert_allclose(
        nn.CrossEntropyLoss()(logits, labels).item(), ms.functional.cross_entropy(logits, labels).item()
    )
    np.testing.assert_allclose(nn.MSELoss()(logits, tensor(np.zeros((2, 2)))).item(), np.mean(logits.data**2))
