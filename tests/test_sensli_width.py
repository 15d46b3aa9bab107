"""Width sites: multipliers (closed form == autograd == finite differences), GradMax fan-in,
function-preserving widening, comparable scores, growth and saving of widened models."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minisensli as ms
from minisensli import nn, sensli
from minisensli.sensli.fan_in import ROW_NORM
from minisensli.sensli.sensitivity import widened_model
from minisensli.sensli.widening import widened_parameters
from tests.sensli_cases import make_loader, relative_error


def width_net(widths, activation="relu", seed=0, inputs=3, classes=3):
    """Dense(inputs, w1), act, Dense(w1, w2), act, ..., Dense(wL, classes)."""
    ms.manual_seed(seed)
    act = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}[activation]
    sizes = [inputs, *widths]
    layers = []
    for a, b in zip(sizes, sizes[1:]):
        layers += [nn.Dense(a, b), act()]
    return nn.Sequential(*layers, nn.Dense(sizes[-1], classes))


@st.composite
def width_case(draw):
    widths = draw(st.lists(st.integers(1, 5), min_size=1, max_size=3))
    activation = draw(st.sampled_from(["relu", "tanh", "sigmoid"]))
    neurons = draw(st.sampled_from(["match", 1, 2, 4]))
    fan_in = draw(st.sampled_from(["random", "gradmax"]))
    batch_size = draw(st.integers(1, 6))
    batches = draw(st.integers(1, 3))
    n = draw(st.integers(batch_size * (batches - 1) + 1, batch_size * batches))
    return widths, activation, neurons, fan_in, batch_size, n, draw(st.integers(0, 10_000))


@given(case=width_case())
def test_width_closed_form_equals_autograd(case):
    widths, activation, neurons, fan_in, batch_size, n, seed = case
    model = width_net(widths, activation, seed)
    loader = make_loader("dense", n, batch_size, seed)
    options = {"kind": "width", "neurons": neurons, "fan_in": fan_in, "fan_in_seed": seed}
    closed = sensli.sensitivities(model, loader, method="closed_form", **options)
    auto = sensli.sensitivities(model, loader, method="autograd", **options)
    assert [s.site for s in closed] == [s.site for s in auto] and len(closed) == len(widths)
    for c, a in zip(closed, auto):
        for name in ("fan_in", "fan_in_bias"):
            np.testing.assert_array_equal(c.values[name], a.values[name])
        assert set(c.multipliers) == set(a.multipliers) == {"fan_in", "fan_in_bias", "fan_out"}
        for name in c.multipliers:
            assert relative_error(c.multipliers[name], a.multipliers[name]) <= 1e-10, (c.site, name)
        assert not np.any(c.multipliers["fan_in"]) and not np.any(c.multipliers["fan_in_bias"])  # V = 0 cuts them
        assert c.score == pytest.approx(a.score, rel=1e-10, abs=1e-300)
        layer, following = model[c.site.position], model[c.site.position + 2]
        assert c.multipliers["fan_out"].shape == (following.out_features, c.site.neurons)
        assert c.added_parameters == c.site.neurons * (layer.in_features + 1 + following.out_features)


@pytest.mark.parametrize("activation", ["relu", "tanh"])
@pytest.mark.parametrize("fan_in", ["random", "gradmax"])
def test_width_multipliers_equal_finite_differences(activation, fan_in):
    """d/dtheta of the size-weighted mean loss of the widened network, at V = 0, for every
    parameter of the two widened layers (the new rows and columns included). The loss is
    constant in U and c at V = 0 and smooth in V (V enters linearly before the next
    activation, whose inputs are not at a kink for this data), so central differences apply;
    the ReLU kinks sit in the old rows, where backward differences (relu'(0) = 0) are used."""
    model = width_net([3, 4], activation, seed=3)
    loader = make_loader("dense", 7, 3, 5)  # the last batch is short
    result = sensli.sensitivities(model, loader, kind="width", neurons=2, fan_in=fan_in, method="autograd")
    sites = [s.site for s in result]
    widened = widened_model(model, sites, [s.values for s in result])
    batches = list(loader)

    def mean_loss(*_):
        total = 0
        for x, y in batches:
            total = total + len(y) * ms.functional.cross_entropy(widened(x), y)
        return total / sum(len(y) for _, y in batches)

    params = widened.parameters()
    for mode in ("central", "backward"):
        numeric = dict(zip(map(id, params), ms.numerical_gradients(mean_loss, params, np.float64(1.0), 1e-7, mode)))
        for s in result:
            layer_in, following_out = model[s.site.position].in_features, model[s.site.position + 2].out_features
            for name, (p, index) in widened_parameters(widened, s.site, layer_in, following_out).items():
                np.testing.assert_allclose(numeric[id(p)][index], s.multipliers[name], rtol=1e-5, atol=1e-8)


def test_width_closed_form_formula():
    rng = np.random.default_rng(0)
    x, g = rng.standard_normal((5, 3)), rng.standard_normal((5, 2))
    u, c = rng.standard_normal((4, 3)), rng.standard_normal(4)
    got = sensli.width_multipliers(x, g, u, c, "relu")
    np.testing.assert_allclose(got["fan_out"], g.T @ np.maximum(x @ u.T + c, 0))
    assert got["fan_in"].shape == (4, 3) and got["fan_in_bias"].shape == (4,)


@pytest.mark.parametrize("fan_in", ["random", "gradmax"])
@pytest.mark.parametrize("activation", ["relu", "sigmoid"])
def test_width_insertion_preserves_function_and_leaves_model_alone(fan_in, activation):
    model = width_net([4, 3], activation, seed=1)
    before = model.state_dict()
    loader = make_loader("dense", 9, 9, 2)
    x = next(iter(loader))[0]
    old_out = model(x).data
    for s in sensli.sensitivities(model, loader, kind="width", neurons=3, fan_in=fan_in):
        new = sensli.insert(model, s.site, s.values)
        np.testing.assert_allclose(new(x).data, old_out, rtol=0, atol=1e-10)
        assert new[s.site.position].out_features == model[s.site.position].out_features + 3
        assert new[s.site.position + 2].in_features == model[s.site.position + 2].in_features + 3
        assert new.num_parameters() == model.num_parameters() + s.added_parameters
        np.testing.assert_array_equal(new[s.site.position].weight.data[-3:], s.values["fan_in"])
        np.testing.assert_array_equal(new[s.site.position + 2].weight.data[:, -3:], 0)
        for p in new.parameters():  # training the new model does not reach the old one
            p.data += 1.0
    assert len(model) == 5 and list(model.state_dict()) == list(before)
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(value, before[name])


def test_insert_width_without_values():
    model = width_net([4], seed=0)
    site = sensli.candidate_sites(model, kind="width", neurons=2)[0]
    a, b = sensli.insert(model, site, seed=5), sensli.insert(model, site, seed=5)
    np.testing.assert_array_equal(a[0].weight.data, b[0].weight.data)  # seeded
    bound = 1 / np.sqrt(3)
    assert np.all(np.abs(a[0].weight.data[-2:]) <= bound)
    gradmax = sensli.candidate_sites(model, kind="width", neurons=2, fan_in="gradmax")[0]
    with pytest.raises(ValueError, match="takes its fan-in from the data"):
        sensli.insert(model, gradmax)
    with pytest.raises(ValueError, match="must have shape"):
        sensli.insert(model, site, {"fan_in": np.zeros((3, 3)), "fan_in_bias": np.zeros(2)})


def test_width_sites_and_errors():
    model = width_net([4, 2], seed=0, inputs=3, classes=2)
    sites = sensli.candidate_sites(model, kind="width")
    assert [s.position for s in sites] == [0, 2]  # hidden layers only, never the output layer
    # k (in + 1 + out) closest to w^2 + w: (16 + 4) / (3 + 1 + 2) -> 3; (4 + 2) / (4 + 1 + 2) -> 1
    assert [s.neurons for s in sites] == [3, 1]
    both = sensli.candidate_sites(model, kinds=("dense", "width"))
    assert [s.label for s in both] == ["dense@2", "dense@4", "width@0", "width@2"]
    with pytest.raises(ValueError, match="fan_in"):
        sensli.candidate_sites(model, kind="width", fan_in="magic")
    with pytest.raises(ValueError, match="neurons"):
        sensli.candidate_sites(model, kind="width", neurons=0)
    with pytest.raises(ValueError, match="kinds"):
        sensli.candidate_sites(model, kinds=("dense", "dense"))
    loader = make_loader("dense", 6, 3, 0)
    with pytest.raises(ValueError, match="score_existing"):
        sensli.sensitivities(model, loader, kinds=("dense", "width"), score_existing=True)
    assert str(sites[0]) == "width@0 (width 4 + 3, random fan-in)"


def test_gradmax_maximises_the_linear_surrogate_and_bounds_the_relu_multiplier():
    """||M U^T||_F over orthogonal rows of norm s: the singular directions beat random
    orthogonal ones; and each ReLU unit's exact multiplier is at least ||M v|| / 2."""
    model = width_net([6, 5], "relu", seed=4, inputs=6, classes=4)
    loader = ms.data.DataLoader(
        ms.data.TensorDataset(np.random.default_rng(1).standard_normal((30, 6)), np.arange(30) % 4), batch_size=10
    )
    site = sensli.candidate_sites(model, kind="width", neurons=3, fan_in="gradmax")[0]
    x, y = next(iter(ms.data.DataLoader(loader.dataset, batch_size=30)))
    h = model[0:3]  # up to the next Dense's output: g = dl/d(that output)
    out = h(x).detach().requires_grad_()
    loss = ms.functional.cross_entropy(model[3:](out), y)
    loss.backward()
    m = out.grad.T @ x.data
    result = sensli.sensitivities(model, loader, sites=[site])[0]
    u = result.values["fan_in"]
    np.testing.assert_allclose(np.linalg.norm(u, axis=1), ROW_NORM)
    np.testing.assert_allclose(u @ u.T, ROW_NORM**2 * np.eye(3), atol=1e-12)
    best = np.linalg.norm(m @ u.T)
    rng = np.random.default_rng(0)
    for _ in range(50):
        q, _ = np.linalg.qr(rng.standard_normal((6, 3)))
        assert np.linalg.norm(m @ (ROW_NORM * q)) <= best + 1e-12
    sigma = np.linalg.svd(m, compute_uv=False)
    assert best**2 == pytest.approx(ROW_NORM**2 * (sigma[:3] ** 2).sum(), rel=1e-10)
    exact = result.multipliers["fan_out"]
    np.testing.assert_allclose(exact, out.grad.T @ np.maximum(x.data @ u.T, 0), rtol=1e-10, atol=1e-14)
    for j in range(3):
        assert np.linalg.norm(exact[:, j]) >= np.linalg.norm(m @ u[j]) / 2 - 1e-12
        flipped = out.grad.T @ np.maximum(-x.data @ u[j], 0)
        assert np.linalg.norm(exact[:, j]) >= np.linalg.norm(flipped) - 1e-12  # the larger sign is kept


def _permuted(model, seed):
    """The same function with the units of every hidden layer permuted."""
    rng = np.random.default_rng(seed)
    new = model.copy()
    dense = [i for i, m in enumerate(new) if isinstance(m, nn.Dense)]
    for i, j in zip(dense, dense[1:]):
        perm = rng.permutation(new[i].out_features)
        new[i].weight.data = new[i].weight.data[perm]
        new[i].bias.data = new[i].bias.data[perm]
        new[j].weight.data = new[j].weight.data[:, perm]
    return new


def test_scores_do_not_change_when_hidden_units_are_permuted():
    """per_parameter (and fro) scores of depth and gradmax width sites, and of random width
    sites on the first layer (whose inputs the permutation does not touch), are invariant."""
    model = width_net([5, 4, 3], "relu", seed=2)
    permuted = _permuted(model, 9)
    loader = make_loader("dense", 12, 4, 3)
    x = next(iter(loader))[0]
    np.testing.assert_allclose(permuted(x).data, model(x).data, rtol=1e-12, atol=1e-12)
    for fan_in in ("gradmax", "random"):
        a = sensli.sensitivities(model, loader, kinds=("dense", "width"), fan_in=fan_in)
        b = sensli.sensitivities(permuted, loader, kinds=("dense", "width"), fan_in=fan_in)
        assert a[0].norm == "per_parameter"
        for sa, sb in zip(a, b):
            if sa.kind == "width" and fan_in == "random" and sa.site.position > 0:
                continue  # random fan-in is drawn in the unpermuted coordinates: invariant in law only
            assert sa.score == pytest.approx(sb.score, rel=1e-9), sa.site
            assert sa.decrease == pytest.approx(sb.decrease, rel=1e-9)


def test_per_parameter_score_is_the_decrease_per_added_parameter():
    model = width_net([4, 4], seed=0)
    result = sensli.sensitivities(model, make_loader("dense", 8, 4, 0), kinds=("dense", "width"))
    for s in result:
        total = sum(float((g**2).sum()) for g in s.multipliers.values())
        assert s.score == pytest.approx(total / s.added_parameters)
        if s.kind == "dense":
            expected = 4 * 4 + 4
        else:
            layer, following = model[s.site.position], model[s.site.position + 2]
            expected = s.site.neurons * (layer.in_features + 1 + following.out_features)
        assert s.added_parameters == expected


@pytest.mark.parametrize("kinds", [("width",), ("dense", "width")])
def test_grow_wider_and_save_load_round_trip(kinds, tmp_path):
    model = width_net([4], seed=0)
    data = ms.data.TensorDataset(np.random.default_rng(0).standard_normal((24, 3)), np.arange(24) % 3)
    loader = ms.data.DataLoader(data, batch_size=8)
    result = sensli.grow(
        model,
        loader,
        loader,
        epochs=[2, 2, 2],
        lr=0.1,
        kinds=kinds,
        site_options={"fan_in": "gradmax", "neurons": 2},
        progress=False,
    )
    assert len(result.insertions) == 2 and all(r.chosen is not None for r in result.insertions)
    assert model[0].out_features == 4 and len(model) == 3  # untouched
    grown = result.model
    assert grown.num_parameters() > model.num_parameters()
    if kinds == ("width",):
        assert all(r.chosen.kind == "width" for r in result.insertions) and len(grown) == 3
        assert grown[0].out_features == 8
    record = result.insertions[0].as_dict()
    assert record["sites"][0].split("@")[0] in kinds
    path = tmp_path / "wide.npz"
    ms.save(grown, path)
    back = ms.load(path)
    assert repr(back) == repr(grown)
    x = data.arrays[0]
    np.testing.assert_array_equal(back(ms.Tensor(x)).data, grown(ms.Tensor(x)).data)


def test_grow_refuses_threshold_with_width_sites_before_training():
    model = width_net([4], seed=0)
    loader = make_loader("dense", 6, 3, 0)
    with pytest.raises(ValueError, match="threshold"):
        sensli.grow(model, loader, epochs=[1, 1], mode="threshold", kinds=("dense", "width"), progress=False)


def test_several_passes_move_a_shuffling_loader_as_one_pass():
    """Depth + width sites with a GradMax fan-in take four passes; a shuffling loader must come
    out of them where one pass (a depth-only selection) leaves it, or later epochs' minibatch
    orders, and so the pairing of growth runs by seed, would depend on the kinds scored."""
    model = width_net([4], seed=0)
    data = ms.data.TensorDataset(np.random.default_rng(0).standard_normal((12, 3)), np.arange(12) % 3)
    one = ms.data.DataLoader(data, batch_size=5, shuffle=True, seed=3)
    many = ms.data.DataLoader(data, batch_size=5, shuffle=True, seed=3)
    sensli.sensitivities(model, one, kind="dense")
    result = sensli.sensitivities(model, many, kinds=("dense", "width"), fan_in="gradmax")
    np.testing.assert_array_equal(next(iter(one))[1].data, next(iter(many))[1].data)
    unshuffled = ms.data.DataLoader(data, batch_size=12)
    again = sensli.sensitivities(model, unshuffled, kinds=("dense", "width"), fan_in="gradmax")
    for a, b in zip(result, again):  # scores do not depend on the order or the batching
        assert a.score == pytest.approx(b.score, rel=1e-10)


def test_width_site_of_a_layer_without_bias():
    ms.manual_seed(0)
    model = nn.Sequential(nn.Dense(3, 4, bias=False), nn.ReLU(), nn.Dense(4, 3))
    loader = make_loader("dense", 8, 4, 0)
    closed = sensli.sensitivities(model, loader, kind="width", neurons=2)
    auto = sensli.sensitivities(model, loader, kind="width", neurons=2, method="autograd")
    assert not np.any(closed[0].values["fan_in_bias"])
    for name in closed[0].multipliers:
        np.testing.assert_allclose(closed[0].multipliers[name], auto[0].multipliers[name], rtol=1e-10)
    x = next(iter(loader))[0]
    wider = sensli.insert(model, closed[0].site, closed[0].values)
    assert wider[0].bias is None and wider[0].out_features == 6
    np.testing.assert_allclose(wider(x).data, model(x).data, rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="no bias"):
        sensli.insert(model, closed[0].site, {"fan_in": np.ones((2, 3)), "fan_in_bias": np.ones(2)})
