"""Second (and third) derivatives through the recorded backward pass: every op's double backward
against finite differences of its first derivative (gradgradcheck, float64), compositions,
Hessian-vector products against explicit Hessians, and the semantics of ms.grad."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minisensli as ms
import minisensli.functional as F
from tests.strategies import (
    arrays,
    away_from_zero,
    broadcastable_pair,
    distinct_arrays,
    positive_arrays,
    shapes,
    tensor,
)

SMALL = shapes(min_dims=1, max_dims=2, max_side=3)


def check(fn, *inputs):
    assert ms.gradgradcheck(fn, list(inputs), atol=1e-5, rtol=1e-4)


# ---------------------------------------------------------------- every op, against differences


@pytest.mark.parametrize("name", ["add", "sub", "mul", "div"])
@settings(max_examples=10)
@given(data=st.data())
def test_binary_ops_second_derivatives_with_broadcasting(name, data):
    shape_a, shape_b = data.draw(broadcastable_pair(max_dims=2))
    a = tensor(data.draw(arrays(shape_a)))
    b = tensor(data.draw(away_from_zero(shape_b, gap=0.4) if name == "div" else arrays(shape_b)))
    op = {"add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b, "div": lambda a, b: a / b}
    check(op[name], a, b)


UNARY = {
    "neg": (lambda t: -t, arrays),
    "exp": (lambda t: t.exp(), arrays),
    "log": (lambda t: t.log(), positive_arrays),
    "sqrt": (lambda t: t.sqrt(), positive_arrays),
    "tanh": (lambda t: t.tanh(), arrays),
    "sigmoid": (lambda t: t.sigmoid(), arrays),
    "relu": (lambda t: t.relu(), away_from_zero),
    "pow3": (lambda t: t**3, arrays),
    "pow-1.5": (lambda t: t**-1.5, positive_arrays),
    "pow0": (lambda t: t**0 * t, arrays),
    "rpow": (lambda t: 2.0**t, arrays),
    "softmax": (lambda t: F.softmax(t, axis=-1), arrays),
    "log_softmax": (lambda t: F.log_softmax(t, axis=0), arrays),
    "sum": (lambda t: (t * t).sum(axis=0), arrays),
    "mean": (lambda t: (t * t).mean(axis=-1, keepdims=True), arrays),
    "max": (lambda t: (t * t * t).max(axis=0), distinct_arrays),
    "min": (lambda t: (t * t * t).min(), distinct_arrays),
    "reshape": (lambda t: (t * t).reshape(-1), arrays),
    "transpose": (lambda t: (t * t).T, arrays),
    "getitem": (lambda t: (t * t)[..., [0, 0]], arrays),
    "pad": (lambda t: F.pad(t * t, 1), arrays),
    "concatenate": (lambda t: ms.concatenate([t * t, t.exp()], axis=0), arrays),
    "stack": (lambda t: ms.stack([t * t, t], axis=-1), arrays),
    "astype": (lambda t: (t * t).astype("float32").astype("float64"), arrays),
}


@pytest.mark.parametrize("name", sorted(UNARY))
@settings(max_examples=10)
@given(data=st.data())
def test_unary_ops_second_derivatives(name, data):
    fn, values = UNARY[name]
    x = tensor(data.draw(values(SMALL)))
    if name == "astype":  # a float32 round trip: compare with float32's precision
        assert ms.gradgradcheck(fn, [x], eps=1e-3, atol=1e-3, rtol=1e-2)
    else:
        check(fn, x)


@given(data=st.data())
def test_matmul_second_derivatives_for_every_operand_rank(data):
    n, k, m = data.draw(st.tuples(*[st.integers(1, 3)] * 3))
    shape_a = data.draw(st.sampled_from([(k,), (n, k), (2, n, k)]))
    shape_b = data.draw(st.sampled_from([(k,), (k, m), (2, k, m)]))
    check(lambda a, b: a @ b, tensor(data.draw(arrays(shape_a))), tensor(data.draw(arrays(shape_b))))


@given(data=st.data())
def test_linear_second_derivatives(data):
    n, i, o = data.draw(st.tuples(*[st.integers(1, 3)] * 3))
    x, w, b = (tensor(data.draw(arrays(s))) for s in [(n, i), (o, i), (o,)])
    check(lambda x, w, b: F.linear(x, w, b).tanh(), x, w, b)


@settings(max_examples=8)
@given(data=st.data())
def test_conv2d_second_derivatives(data):
    stride = data.draw(st.sampled_from([1, 2]))
    padding = data.draw(st.sampled_from([0, 1]))
    x = tensor(data.draw(arrays((1, 2, 4, 4))))
    w = tensor(data.draw(arrays((2, 2, 3, 3))))
    b = tensor(data.draw(arrays((2,))))
    check(lambda x, w, b: F.conv2d(x, w, b, stride=stride, padding=padding).tanh(), x, w, b)


@settings(max_examples=8)
@given(x=distinct_arrays((1, 2, 4, 4)), padding=st.sampled_from([0, 1]))
def test_max_pool2d_second_derivatives(x, padding):
    check(lambda t: F.max_pool2d(t * t * t, 2, stride=2 - padding, padding=padding), tensor(x))  # cubes keep ties away


@settings(max_examples=8)
@given(x=arrays((1, 2, 4, 4)), padding=st.sampled_from([0, 1]))
def test_avg_pool2d_second_derivatives(x, padding):
    check(lambda t: F.avg_pool2d(t * t, 2, stride=1, padding=padding), tensor(x))


@given(logits=arrays((4, 3), -3, 3), labels=st.lists(st.integers(0, 2), min_size=4, max_size=4))
def test_cross_entropy_second_derivatives(logits, labels):
    check(lambda z: F.cross_entropy(z, np.array(labels)), tensor(logits))


@given(p=arrays((3, 2)), t=arrays((3, 2)))
def test_mse_second_derivatives(p, t):
    check(lambda p, t: F.mse_loss(p * p, t), tensor(p), tensor(t))


# ---------------------------------------------------------------- compositions and nets


def test_gradgradcheck_on_a_small_residual_network():
    rng = np.random.default_rng(0)
    x = tensor(rng.standard_normal((3, 2)))
    w1, w2 = tensor(rng.standard_normal((2, 2))), tensor(rng.standard_normal((2, 2)))

    def net(x, w1, w2):
        h = x + F.linear(x, w1).tanh()
        return F.cross_entropy(h + F.linear(h, w2).sigmoid(), np.array([0, 1, 1]))

    check(net, x, w1, w2)


class _CubeWrongSecond(ms.Function):
    """x**3 whose first derivative is right and whose recorded backward is wrong: in its
    dependence on x (``wrong_in = "x"``) or on the upstream gradient u (``"u"``, detached)."""

    wrong_in = "x"

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x**3

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_arrays
        if isinstance(x, ms.Tensor) and ctx.function.wrong_in == "x":  # 3 x^2 written as a constant, off by x
            return (grad * 3 * (x * x).detach() + grad * x * 0.5,)
        if isinstance(x, ms.Tensor):
            return (grad.detach() * 3 * x * x,)
        return (grad * 3 * x * x,)


@pytest.mark.parametrize(
    "wrong_in, names",
    [("x", ["input 0 of fn", "the double backward"]), ("u", ["the upstream gradient u", "grad_outputs"])],
)
def test_gradgradcheck_reports_a_wrong_double_backward_and_where(wrong_in, names):
    cube = type("Cube", (_CubeWrongSecond,), {"wrong_in": wrong_in})
    assert ms.gradcheck(cube.apply, [tensor([0.5, -1.0])])
    with pytest.raises(ms.GradcheckError) as info:
        ms.gradgradcheck(cube.apply, [tensor([0.5, -1.0])])
    message = str(info.value)
    assert message.startswith("gradgradcheck: second derivatives disagree for ")
    assert all(name in message for name in names), message


def test_hvp_equals_explicit_hessian_times_v():
    rng = np.random.default_rng(1)
    x = tensor(rng.standard_normal(4))
    a = rng.standard_normal((4, 4))

    def f(x):
        return (ms.Tensor(a) @ x).tanh().sum() + (x * x * x).sum()

    h = ms.hessian(f, x)
    assert h.shape == (4, 4)
    np.testing.assert_allclose(h.data, h.data.T, atol=1e-12)
    for _ in range(3):
        v = rng.standard_normal(4)
        value, hv = ms.hvp(f, x, v)
        np.testing.assert_allclose(hv.data, h.data @ v, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(value.data, f(x).data)
    # the Hessian of tanh(Ax).sum() + sum x^3 in closed form
    t = np.tanh(a @ x.data)
    expected = a.T @ np.diag(-2 * t * (1 - t**2)) @ a + np.diag(6 * x.data)
    np.testing.assert_allclose(h.data, expected, rtol=1e-10, atol=1e-12)


def test_hvp_and_hessian_with_several_inputs():
    rng = np.random.default_rng(2)
    w, b = tensor(rng.standard_normal((2, 3))), tensor(rng.standard_normal(2))
    x = rng.standard_normal((5, 3))

    def f(w, b):
        return F.cross_entropy(F.linear(ms.Tensor(x), w, b), np.array([0, 1, 1, 0, 1]))

    blocks = ms.hessian(f, (w, b))
    full = np.block([[blocks[i][j].data.reshape(w.size if i == 0 else 2, -1) for j in range(2)] for i in range(2)])
    v = [rng.standard_normal((2, 3)), rng.standard_normal(2)]
    _, (hw, hb) = ms.hvp(f, (w, b), v)
    flat = full @ np.concatenate([v[0].ravel(), v[1]])
    np.testing.assert_allclose(np.concatenate([hw.data.ravel(), hb.data]), flat, rtol=1e-10, atol=1e-12)


def test_third_derivative_of_tanh_as_dezero_shows_it():
    x = ms.Tensor(np.array(1.0), requires_grad=True)
    y = x.tanh()
    y.backward(create_graph=True)
    derivatives = [x.grad.data.item()]
    for _ in range(2):
        gx = x.grad
        x.grad = None
        gx.backward(create_graph=True)
        derivatives.append(x.grad.data.item())
    t = np.tanh(1.0)
    expected = [1 - t**2, -2 * t * (1 - t**2), -2 * (1 - t**2) ** 2 + 4 * t**2 * (1 - t**2)]
    np.testing.assert_allclose(derivatives, expected, rtol=1e-14)
    assert isinstance(x.grad, ms.Tensor) and x.grad.requires_grad


# ---------------------------------------------------------------- semantics of ms.grad


def test_grad_returns_without_touching_dot_grad_and_accepts_grad_outputs():
    x = tensor([1.0, 2.0])
    y = x * x
    (g,) = ms.grad(y, x, grad_outputs=np.array([1.0, -1.0]))
    np.testing.assert_allclose(g.data, [2.0, -4.0])
    assert x.grad is None and not g.requires_grad


def test_create_graph_defaults_retain_graph_and_explicit_false_frees_it():
    x = tensor([0.3, -0.7])
    y = (x.tanh() * x).sum()
    (g,) = ms.grad(y, x, create_graph=True)
    (g_again,) = ms.grad(y, x)  # the graph was retained by create_graph=True
    np.testing.assert_allclose(g.data, g_again.data)
    z = (x.exp() * x).sum()
    (gz,) = ms.grad(z, x, create_graph=True, retain_graph=False)
    with pytest.raises(RuntimeError, match="already freed"):
        ms.grad(gz.sum(), x)


def test_retain_graph_lets_several_second_derivatives_share_one_first():
    x = tensor([0.5, 1.5])
    (g,) = ms.grad((x**3).sum(), x, create_graph=True)
    (h0,) = ms.grad(g[0], x, retain_graph=True)
    (h1,) = ms.grad(g[1], x)
    np.testing.assert_allclose(np.stack([h0.data, h1.data]), np.diag(6 * x.data))


def test_create_graph_records_inside_no_grad_and_plain_backward_records_nothing():
    x = tensor([0.4, 0.9])
    y = (x.sin() if hasattr(x, "sin") else x.tanh()).sum()
    with ms.no_grad():
        (g,) = ms.grad(y, x, create_graph=True, retain_graph=True)
    assert g.requires_grad  # the backward pass runs with grad mode = create_graph, as in PyTorch
    (g_plain,) = ms.grad(y, x)
    assert not g_plain.requires_grad
    assert ms.is_grad_enabled()


def test_leaf_used_twice_gets_the_sum_of_both_paths_at_second_order():
    x = tensor([0.7])
    y = (x * x.exp()).sum()  # x enters twice
    (g,) = ms.grad(y, x, create_graph=True)
    (h,) = ms.grad(g.sum(), x)
    np.testing.assert_allclose(g.data, (1 + x.data) * np.exp(x.data))
    np.testing.assert_allclose(h.data, (2 + x.data) * np.exp(x.data))


def test_allow_unused_gives_none_and_its_absence_an_error():
    x, unused = tensor([1.0]), tensor([2.0])
    y = (x * 3).sum()
    with pytest.raises(RuntimeError, match="input 1 .* was not used"):
        ms.grad(y, [x, unused], retain_graph=True)
    gx, gu = ms.grad(y, [x, unused], allow_unused=True)
    assert gu is None and gx.data.tolist() == [3.0]


def test_grad_of_intermediate_tensors_and_several_outputs():
    x = tensor([1.0, 2.0])
    h = x * 2
    a, b = (h * h).sum(), h.sum()
    gh, gx = ms.grad([a, b], [h, x])
    np.testing.assert_allclose(gh.data, 2 * h.data + 1)
    np.testing.assert_allclose(gx.data, 2 * (2 * h.data + 1))


def test_grad_errors_name_the_problem():
    x = tensor([1.0])
    with pytest.raises(RuntimeError, match="input 0 does not require grad"):
        ms.grad((x * 2).sum(), ms.Tensor([1.0]))
    with pytest.raises(RuntimeError, match="output 0 does not require grad"):
        ms.grad(ms.Tensor([1.0]).sum(), x)
    with pytest.raises(RuntimeError, match="non-scalar"):
        ms.grad(tensor([1.0, 2.0]) * 2, x)


def test_backward_create_graph_makes_grad_a_tensor_with_a_graph():
    x = tensor([0.2, -0.4])
    (x.exp() * x).sum().backward(create_graph=True)
    assert isinstance(x.grad, ms.Tensor) and x.grad.requires_grad
    first = x.grad
    x.grad = None
    first.sum().backward()
    np.testing.assert_allclose(x.grad, (2 + x.data) * np.exp(x.data))


def test_an_array_only_backward_is_named_when_differentiated_twice():
    class ArrayOnly(ms.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return np.sin(x)

        @staticmethod
        def backward(ctx, grad):
            (x,) = ctx.saved_arrays
            return (grad * np.cos(x),)  # np.cos of a Tensor: not recordable

    x = tensor([0.5])
    ArrayOnly.apply(x).sum().backward()  # first order works
    np.testing.assert_allclose(x.grad, np.cos(0.5))
    with pytest.raises(RuntimeError, match="double backward is not supported by ArrayOnly"):
        ms.grad(ArrayOnly.apply(x).sum(), x, create_graph=True)


def test_hvp_of_a_function_linear_in_its_input_is_zero():
    x = tensor([1.0, 2.0])
    _, hv = ms.hvp(lambda t: (t * 3).sum(), x, np.ones(2))
    np.testing.assert_array_equal(hv.data, [0.0, 0.0])
