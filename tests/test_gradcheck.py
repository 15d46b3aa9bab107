"""gradcheck and numerical_gradients as library features."""

import numpy as np
import pytest

import minisensli as ms


class WrongBackward(ms.Function):
    """Square with a backward that is off by a factor of 1.5 (for the failure report)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_arrays
        return (3 * x * grad,)


def test_gradcheck_passes_for_correct_gradient():
    x = ms.Tensor(np.array([[0.3, -1.2], [2.0, 0.7]]), requires_grad=True)
    assert ms.gradcheck(lambda t: (t * t).tanh(), [x])


def test_gradcheck_failure_names_input_entry_and_values():
    x = ms.Tensor(np.array([1.0, 2.0]), requires_grad=True)
    w = ms.Tensor(np.array([0.5, 0.5]), requires_grad=True)
    with pytest.raises(
        ms.GradcheckError,
        match=r"gradient of input 1 \(shape \(2,\)\) is wrong at entry \(\d,\): "
        r"analytic .*, numerical",
    ):
        ms.gradcheck(lambda a, b: a * WrongBackward.apply(b), [x, w])


def test_gradcheck_refuses_float32_inputs():
    x = ms.Tensor(np.ones(2, dtype=np.float32), requires_grad=True)
    with pytest.raises(TypeError, match="input 0 is float32"):
        ms.gradcheck(lambda t: t * 2, [x])


def test_gradcheck_needs_an_input_with_grad():
    with pytest.raises(ValueError, match="nothing to check"):
        ms.gradcheck(lambda t: t * 2, [ms.Tensor(np.ones(2))])


def test_gradcheck_restores_existing_grads_and_values():
    x = ms.Tensor(np.array([1.0, 2.0]), requires_grad=True)
    x.grad = np.array([7.0, 7.0])
    ms.gradcheck(lambda t: t**3, [x])
    np.testing.assert_array_equal(x.grad, [7.0, 7.0])
    np.testing.assert_array_equal(x.data, [1.0, 2.0])


def test_one_sided_differences_match_relu_convention_at_kink():
    x = ms.Tensor(np.array([0.0, 1.0]), requires_grad=True)
    with pytest.raises(ms.GradcheckError):
        ms.gradcheck(lambda t: t.relu(), [x])  # central difference gives 0.5 at the kink
    assert ms.gradcheck(lambda t: t.relu(), [x], mode="backward")


def test_numerical_gradients_modes_agree_on_smooth_function():
    x = ms.Tensor(np.array([0.4, -0.3]), requires_grad=True)
    up = np.array([1.0, 2.0])
    grads = {
        m: ms.numerical_gradients(lambda t: t.exp(), [x], up, eps=1e-7, mode=m)[0]
        for m in ("central", "forward", "backward")
    }
    for g in grads.values():
        np.testing.assert_allclose(g, up * np.exp(x.data), rtol=1e-5)
