"""matmul (2-D, batched with broadcasting, 1-D operands) and linear."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minisensli as ms
import minisensli.functional as F
from tests.strategies import arrays, tensor

side = st.integers(1, 4)


@st.composite
def matmul_shapes(draw):
    n, k, m = draw(side), draw(side), draw(side)
    kind = draw(st.sampled_from(["2d", "batched", "vec-vec", "vec-mat", "mat-vec", "broadcast"]))
    if kind == "2d":
        return (n, k), (k, m)
    if kind == "batched":
        b = draw(side)
        return (b, n, k), (b, k, m)
    if kind == "vec-vec":
        return (k,), (k,)
    if kind == "vec-mat":
        return (k,), (draw(side), k, m)
    if kind == "mat-vec":
        return (draw(side), n, k), (k,)
    return (draw(side), 1, n, k), (draw(side), k, m)


@given(pair=matmul_shapes(), data=st.data())
def test_matmul_forward_and_gradient(pair, data):
    a = tensor(data.draw(arrays(pair[0])))
    b = tensor(data.draw(arrays(pair[1])))
    np.testing.assert_allclose((a @ b).data, a.data @ b.data, rtol=1e-13, atol=1e-14)
    assert ms.gradcheck(lambda a, b: a @ b, [a, b])


@given(n=side, i=side, o=side, lead=st.sampled_from([(), (2,), (2, 3)]), bias=st.booleans(), data=st.data())
def test_linear_forward_and_gradient(n, i, o, lead, bias, data):
    x = tensor(data.draw(arrays(lead + (n, i))))
    w = tensor(data.draw(arrays((o, i))))
    b = tensor(data.draw(arrays((o,)))) if bias else None
    expected = x.data @ w.data.T + (b.data if bias else 0)
    np.testing.assert_allclose(F.linear(x, w, b).data, expected, rtol=1e-13, atol=1e-14)
    inputs = [x, w] + ([b] if bias else [])
    assert ms.gradcheck(lambda *ts: F.linear(*ts), inputs)


def test_matmul_errors_name_shapes():
    a = ms.Tensor(np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"matmul: shapes \(2, 3\) and \(4, 5\) are not aligned: 3 .* != 4"):
        a @ ms.Tensor(np.ones((4, 5)))
    with pytest.raises(ValueError, match="at least 1 dimension"):
        a @ ms.Tensor(np.float64(2.0))
    with pytest.raises(ValueError, match="matmul \\(batch axes\\)"):
        ms.Tensor(np.ones((2, 2, 3))) @ ms.Tensor(np.ones((3, 3, 1)))


def test_linear_errors_name_shapes():
    with pytest.raises(ValueError, match=r"linear: input of shape \(2, 3\) does not fit weight of shape \(4, 5\)"):
        F.linear(ms.Tensor(np.ones((2, 3))), ms.Tensor(np.ones((4, 5))))
    with pytest.raises(ValueError, match=r"linear: bias of shape \(3,\)"):
        F.linear(ms.Tensor(np.ones((2, 3))), ms.Tensor(np.ones((4, 3))), ms.Tensor(np.ones(3)))
    with pytest.raises(TypeError, match="linear: input is float32"):
        F.linear(ms.Tensor(np.ones((2, 3), np.float32)), ms.Tensor(np.ones((4, 3))))


def test_linear_result_reads_like_a_row_major_array():
    # A 2-D dense result is a transposed view (batch axis contiguous, see ops.linalg.Linear):
    # everything that reads memory order must still see the rows of x @ W^T + b.
    rng = np.random.default_rng(0)
    x, w, b = rng.standard_normal((5, 3)), rng.standard_normal((4, 3)), rng.standard_normal(4)
    y = F.linear(ms.Tensor(x), ms.Tensor(w), ms.Tensor(b))
    expected = x @ w.T + b
    np.testing.assert_allclose(y.reshape(-1).data, expected.reshape(-1), rtol=1e-14)
    np.testing.assert_allclose(y.reshape(2, 10).data, expected.reshape(2, 10), rtol=1e-14)
    np.testing.assert_allclose(y[1:3, ::2].data, expected[1:3, ::2], rtol=1e-14)
    one = F.linear(ms.Tensor(x[0]), ms.Tensor(w), ms.Tensor(b))  # a single example, shape (in,)
    assert one.shape == (4,)
    np.testing.assert_allclose(one.data, expected[0], rtol=1e-14)
