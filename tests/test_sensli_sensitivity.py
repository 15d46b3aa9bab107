"""Sensitivities: closed form == autograd == finite differences; scores and their norms."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minisensli as ms
from minisensli import nn, sensli
from minisensli.sensli.sensitivity import extended_model
from tests.sensli_cases import SITE_KINDS, make_loader, make_model, relative_error


@st.composite
def sensitivity_case(draw):
    kind = draw(st.sampled_from(SITE_KINDS))
    small = kind in ("conv", "residual_conv")
    width = draw(st.integers(1, 3 if small else 5))
    depth = draw(st.integers(1, 3))
    weights = draw(st.sampled_from([1, 2]))
    variant = draw(st.sampled_from(["v1", "v2"]))
    activation = draw(st.sampled_from(["tanh", "relu"]))
    batch_size = draw(st.integers(1, 6))
    batches = draw(st.integers(1, 3))
    n = draw(st.integers(batch_size * (batches - 1) + 1, batch_size * batches))  # last batch may be smaller
    return kind, width, depth, weights, variant, activation, batch_size, n, draw(st.integers(0, 10_000))


@given(case=sensitivity_case())
def test_closed_form_equals_autograd(case):
    kind, width, depth, weights, variant, activation, batch_size, n, seed = case
    model = make_model(kind, width, depth, seed, weights, activation)
    loader = make_loader(kind, n, batch_size, seed)
    options = {"kind": kind, "variant": variant, "weights": weights} if kind.startswith("residual") else {}
    existing = bool(seed % 2)  # both the lean pass and the one that also scores existing weights
    closed = sensli.sensitivities(model, loader, method="closed_form", score_existing=existing, **options)
    auto = sensli.sensitivities(model, loader, method="autograd", score_existing=existing, **options)
    assert [s.site for s in closed] == [s.site for s in auto]
    for c, a in zip(closed, auto):
        assert set(c.multipliers) == set(a.multipliers)
        for name in c.multipliers:
            assert relative_error(c.multipliers[name], a.multipliers[name]) <= 1e-10, (c.site, name)
        assert c.score == pytest.approx(a.score, rel=1e-10, abs=1e-300)
    if existing:
        assert set(closed.existing) == set(auto.existing)
        for name in closed.existing:
            assert closed.existing[name] == pytest.approx(auto.existing[name], rel=1e-10, abs=1e-300)
    else:
        assert closed.existing is None and auto.existing is None


FD_CASES = [
    ("dense", "v1", 2),
    ("conv", "v1", 2),
    ("residual_dense", "v1", 2),
    ("residual_dense", "v2", 2),
    ("residual_dense", "v1", 1),
    ("residual_conv", "v1", 2),
    ("residual_conv", "v2", 2),
    ("residual_conv", "v1", 1),
]


@pytest.mark.parametrize("kind,variant,weights", FD_CASES)
def test_autograd_multipliers_equal_finite_differences(kind, variant, weights):
    """d/dphi of the mean loss over all examples of the extended network (each minibatch's mean
    loss weighted by its size; the last batch here is short), at the identity point.

    Dense and conv virtual layers sit on ReLU kinks (inactive units), where relu'(0) = 0 equals
    the left derivative: those are checked with backward differences; residual ones centrally.
    """
    model = make_model(kind, 3, 2, seed := 7, weights=weights, activation="tanh")
    loader = make_loader(kind, 7, 3, seed)
    options = {"variant": variant, "weights": weights} if kind.startswith("residual") else {}
    sites = sensli.candidate_sites(model, **options)
    result = sensli.sensitivities(model, loader, method="autograd", sites=sites)
    extended, virtual = extended_model(model, sites)
    params = [p for modules in virtual for p in modules[0].parameters()]
    batches = list(loader)

    def mean_loss(*_):
        total = 0
        for x, y in batches:
            total = total + len(y) * ms.functional.cross_entropy(extended(x), y)
        return total / sum(len(y) for _, y in batches)

    mode = "backward" if kind in ("dense", "conv") else "central"
    numeric = ms.numerical_gradients(mean_loss, params, np.float64(1.0), eps=1e-7, mode=mode)
    expected = [r.multipliers[name] for r, modules in zip(result, virtual) for name, _ in modules[0].named_parameters()]
    for got, want in zip(numeric, expected):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-8)
    assert ms.gradcheck(mean_loss, params, mode=mode, eps=1e-7)


def test_dense_closed_form_is_masked_outer_product():
    x = np.array([[1.0, 0.0], [2.0, 3.0]])
    d = np.array([[0.5, -1.0], [1.0, 2.0]])
    got = sensli.dense_multipliers(x, d)
    masked = d * (x > 0)
    np.testing.assert_array_equal(got["weight"], masked.T @ x)
    np.testing.assert_array_equal(got["bias"], [1.5, 2.0])


def test_averaging_happens_before_squaring():
    model = make_model("dense", 4, 2, 3)
    full = sensli.sensitivities(model, make_loader("dense", 12, 12, 0))
    batched = sensli.sensitivities(model, make_loader("dense", 12, 4, 0))
    assert batched.batches == 3
    for a, b in zip(full, batched):  # equal batch sizes: the mean of gradients is the full-batch gradient
        np.testing.assert_allclose(a.multipliers["weight"], b.multipliers["weight"], rtol=1e-12)
        assert a.score == pytest.approx(b.score, rel=1e-12)


def test_scores_use_the_norm_of_the_scored_weight():
    model = make_model("residual_dense", 3, 2, 0)
    result = sensli.sensitivities(model, make_loader("residual_dense", 8, 4, 0), norm="fro_scaled")
    for s in result:
        g = s.multipliers["outer.weight"]
        assert s.score == pytest.approx((g**2).sum() / g.size)
        assert s.scaled_score == s.score
        assert not np.any(s.multipliers["inner.weight"])  # cut off by W2 = 0 (variant v1)


@pytest.mark.parametrize("h, w", [(4, 4), (3, 5), (2, 2), (1, 1), (2, 6)])
def test_spectral_norm_of_conv_kernel_matches_explicit_circular_operator(h, w):
    """Also on maps smaller than the kernel, where taps wrap onto the same pixel."""
    rng = np.random.default_rng(0)
    kernel = rng.standard_normal((2, 3, 3, 3))
    matrix = np.zeros((2 * h * w, 3 * h * w))
    for o in range(2):
        for i in range(3):
            for y in range(h):
                for x in range(w):
                    for p in range(3):
                        for q in range(3):
                            # the FFT convention: out[y, x] += K[p, q] * in[(y - p) % h, (x - q) % w]
                            column = i * h * w + ((y - p) % h) * w + (x - q) % w
                            matrix[o * h * w + y * w + x, column] += kernel[o, i, p, q]
    expected = np.linalg.norm(matrix, 2) ** 2
    assert sensli.spectral_norm_squared(kernel, (h, w)) == pytest.approx(expected, rel=1e-10)
    dense = rng.standard_normal((3, 5))
    assert sensli.spectral_norm_squared(dense) == pytest.approx(np.linalg.norm(dense, 2) ** 2)


def test_default_norms_and_existing_weights():
    cnn = make_model("conv", 2, 2, 0)
    result = sensli.sensitivities(cnn, make_loader("conv", 6, 3, 0), score_existing=True)
    assert all(s.norm == "fro_scaled" and s.feature_shape == (4, 4) for s in result)
    assert set(result.existing) == {"0.weight", "2.weight"}
    fnn = make_model("dense", 3, 2, 0)
    assert sensli.sensitivities(fnn, make_loader("dense", 6, 3, 0))[0].norm == "fro"


def test_sensitivity_pass_leaves_model_and_grads_unchanged():
    model = make_model("dense", 3, 2, 1)
    before = model.state_dict()
    model[0].weight.grad = np.full((3, 3), 7.0)
    for method in ("autograd", "closed_form"):
        for existing in (False, True):
            sensli.sensitivities(model, make_loader("dense", 6, 3, 0), method=method, score_existing=existing)
    assert all(p.requires_grad for p in model.parameters())
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(value, before[name])
    np.testing.assert_array_equal(model[0].weight.grad, np.full((3, 3), 7.0))
    assert model[2].weight.grad is None and len(model) == 5


def test_one_weight_relu_block_has_zero_sensitivity():
    model = make_model("residual_dense", 3, 2, 0, weights=1, activation="relu")
    result = sensli.sensitivities(model, make_loader("residual_dense", 6, 3, 0))
    assert all(s.score == 0.0 for s in result)  # relu'(0) = 0: not a bug, see the reference


def test_sensitivity_errors():
    model = make_model("dense", 3, 2, 0)
    loader = make_loader("dense", 6, 3, 0)
    with pytest.raises(ValueError, match="method must be one of"):
        sensli.sensitivities(model, loader, method="magic")
    with pytest.raises(ValueError, match="norm must be one of"):
        sensli.sensitivities(model, loader, norm="l1")
    with pytest.raises(ValueError, match="no candidate site"):
        sensli.sensitivities(nn.Sequential(nn.Dense(3, 3)), loader)


def test_empty_loader_is_an_error():
    model = make_model("dense", 3, 2, 0)

    class Empty:
        def __iter__(self):
            return iter(())

    for method in ("closed_form", "autograd"):
        with pytest.raises(ValueError, match="the loader yielded no batch"):
            sensli.sensitivities(model, Empty(), method=method)


def test_closed_form_reuses_only_the_columns_of_a_same_padded_3x3_convolution():
    from minisensli.sensli.closed_form import conv_multipliers, forward_columns  # noqa: PLC0415

    rng = np.random.default_rng(0)
    x = ms.Tensor(np.maximum(rng.standard_normal((2, 3, 5, 5)), 0), requires_grad=True)
    same = nn.Conv2d(3, 4, 3, padding=1)
    cols = forward_columns(same, same(x))
    assert cols is not None and cols.shape == (27, 50)
    assert forward_columns(nn.Conv2d(3, 4, 3, padding=0), nn.Conv2d(3, 4, 3, padding=0)(x)) is None
    assert forward_columns(nn.Conv2d(3, 4, 3, padding=1, stride=2), nn.Conv2d(3, 4, 3, padding=1, stride=2)(x)) is None
    with ms.no_grad():
        assert forward_columns(same, same(x)) is None  # nothing recorded, nothing to reuse
    d = rng.standard_normal((2, 3, 5, 5))
    reused, computed = conv_multipliers(x.data, d, cols), conv_multipliers(x.data, d)
    np.testing.assert_allclose(reused["weight"], computed["weight"], rtol=1e-12)


@given(
    shape=st.tuples(st.integers(1, 3), st.integers(1, 3), st.integers(1, 5), st.integers(1, 5)),
    channel_major=st.booleans(),
    spare=st.integers(-1, 7),
    seed=st.integers(0, 10_000),
)
def test_conv_multipliers_from_the_masked_gradient_and_in_a_scratch_buffer(shape, channel_major, spare, seed):
    """The pass's fast inputs give the general formula's multipliers: the masked gradient
    d * 1[x > 0] handed over (from the ReLU's backward) instead of d, and the columns built in a
    scratch array (a used forward column buffer, any content, room to spare) instead of new
    memory; a scratch that is too small or of another dtype is left alone. Both against the
    im2col of the padded input (conv.im2col) and autograd through a virtual 3x3 convolution."""
    from minisensli.ops import conv  # noqa: PLC0415
    from minisensli.sensli.closed_form import conv_multipliers, correlate3x3  # noqa: PLC0415

    rng = np.random.default_rng(seed)
    n, c, h, w = shape
    x = np.maximum(rng.standard_normal(shape), 0)
    if channel_major:  # as conv outputs and their ReLU are
        x = np.ascontiguousarray(x.transpose(1, 0, 2, 3)).transpose(1, 0, 2, 3)
    d = rng.standard_normal(shape)
    general = conv_multipliers(x, d)
    scratch = rng.standard_normal(c * 9 * n * h * w + spare)  # spare < 0: one entry too few
    before = scratch.copy()
    fast = conv_multipliers(x, None, masked=d * (x > 0), scratch=scratch)
    for name in ("weight", "bias"):
        np.testing.assert_allclose(fast[name], general[name], rtol=1e-12, atol=1e-12)
    if spare < 0:
        np.testing.assert_array_equal(scratch, before)
    other = before.astype(np.float32)
    np.testing.assert_allclose(correlate3x3(x, d, scratch=other), correlate3x3(x, d), rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(other, before.astype(np.float32))
    cols = conv.im2col(conv.pad_spatial(x, (1, 1)), (3, 3), (1, 1)).reshape(c * 9, -1)
    masked = (d * (x > 0)).transpose(1, 0, 2, 3).reshape(c, -1)
    np.testing.assert_allclose(fast["weight"], (masked @ cols.T).reshape(c, c, 3, 3), rtol=1e-12, atol=1e-12)
    # autograd: the weight gradient of relu(conv(x, K) + b) at the dirac K, b = 0, for upstream d
    dirac = np.zeros((c, c, 3, 3))
    dirac[np.arange(c), np.arange(c), 1, 1] = 1
    kernel, bias = ms.Tensor(dirac, requires_grad=True), ms.Tensor(np.zeros(c), requires_grad=True)
    (ms.functional.relu(ms.functional.conv2d(ms.Tensor(x), kernel, bias, padding=1)) * ms.Tensor(d)).sum().backward()
    np.testing.assert_allclose(fast["weight"], kernel.grad, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(fast["bias"], bias.grad, rtol=1e-10, atol=1e-12)
