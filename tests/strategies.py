"""Hypothesis strategies shared by the property tests (shapes, arrays, broadcastable pairs).

All arrays are float64 with moderate values, so finite differences with eps=1e-6 are
accurate to about 1e-9; ``away_from`` keeps values off kinks (relu at 0, ties of max).
"""

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minisensli as ms

SMALL_SIDE = 4


def shapes(min_dims: int = 0, max_dims: int = 3, min_side: int = 1, max_side: int = SMALL_SIDE):
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side)


def arrays(shape, low: float = -2.0, high: float = 2.0):
    """float64 arrays of ``shape`` (a tuple or a strategy) with entries in [low, high]."""
    return hnp.arrays(np.float64, shape, elements=st.floats(low, high, allow_nan=False, allow_infinity=False))


def distinct_arrays(shape):
    """float64 arrays whose entries differ pairwise by at least 0.05 (no ties for max)."""
    return hnp.arrays(np.float64, shape, elements=st.integers(-60, 60).map(lambda k: k / 20), unique=True)


def away_from_zero(shape, gap: float = 0.05):
    """float64 arrays with |x| >= gap (keeps relu and abs off their kink)."""
    magnitude = st.floats(gap, 2.0)
    return hnp.arrays(
        np.float64, shape, elements=st.tuples(magnitude, st.sampled_from([-1.0, 1.0])).map(lambda p: p[0] * p[1])
    )


def positive_arrays(shape, low: float = 0.2, high: float = 3.0):
    return arrays(shape, low, high)


@st.composite
def broadcastable_pair(draw, max_dims: int = 3):
    """Two shapes that broadcast together, including size-1 axes and missing leading axes."""
    pair = draw(hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=max_dims, max_side=3))
    return pair.input_shapes


def tensor(array, requires_grad: bool = True) -> ms.Tensor:
    return ms.Tensor(np.array(array, dtype=np.float64), requires_grad=requires_grad)
