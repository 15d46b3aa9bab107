"""Every op keeps the precision it is given: float32 in, float32 out and float32 gradients."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minisensli as ms
import minisensli.functional as F

LABELS = np.array([0, 2, 1])

OPS = {
    "add": (lambda a, b: a + b, [(3, 4), (4,)]),
    "sub": (lambda a, b: 2.0 - a - b, [(3, 4), (3, 1)]),
    "mul": (lambda a, b: a * b * 3, [(3, 4), (1, 4)]),
    "div": (lambda a, b: a / (b * b + 1), [(3, 4), (4,)]),
    "pow": (lambda a: (a * a + 1) ** 1.5, [(3, 4)]),
    "rpow": (lambda a: 2.0**a, [(3, 4)]),
    "exp_log_sqrt": (lambda a: ((a * a + 1).log() + (a * a + 1).sqrt()).exp(), [(3, 4)]),
    "activations": (lambda a: a.relu() + a.tanh() + a.sigmoid(), [(3, 4)]),
    "reductions": (lambda a: a.sum(axis=0) + a.mean(axis=0) + a.max(axis=0) + a.min(axis=0), [(3, 4)]),
    "shape": (lambda a: ms.concatenate([a.T.reshape(2, 6), F.pad(a[1:], 1).reshape(-1, 6)[:2]], axis=0), [(3, 4)]),
    "matmul": (lambda a, b: a @ b, [(2, 3, 4), (4, 5)]),
    "linear": (lambda x, w, b: F.linear(x, w, b), [(3, 4), (5, 4), (5,)]),
    "softmax": (lambda a: F.softmax(a, axis=0) + F.log_softmax(a, axis=1), [(3, 4)]),
    "cross_entropy": (lambda a: F.cross_entropy(a, LABELS), [(3, 4)]),
    "mse": (lambda a, b: F.mse_loss(a, b), [(3, 4), (3, 4)]),
    "conv_pool": (
        lambda x, k: F.avg_pool2d(F.max_pool2d(F.conv2d(x, k, padding=1), 2, 1), 2),
        [(1, 2, 5, 5), (3, 2, 3, 3)],
    ),
}


@pytest.mark.parametrize("name", sorted(OPS))
@given(dtype=st.sampled_from([np.float32, np.float64]), seed=st.integers(0, 2**16))
def test_op_keeps_dtype_in_forward_and_backward(name, dtype, seed):
    fn, shapes = OPS[name]
    rng = np.random.default_rng(seed)
    inputs = [ms.Tensor(rng.standard_normal(s).astype(dtype), requires_grad=True) for s in shapes]
    out = fn(*inputs)
    assert out.dtype == dtype
    out.backward(np.ones(out.shape, dtype=dtype))
    for t in inputs:
        assert t.grad is not None and t.grad.dtype == dtype and t.grad.shape == t.shape
