"""Insertion preserves the network's function, never changes its input model, and trains."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minisensli as ms
from minisensli import data, nn, sensli
from tests.sensli_cases import SITE_KINDS, make_loader, make_model, relative_error


def random_input(kind, n=5, seed=0):
    rng = np.random.default_rng(seed)
    return ms.Tensor(rng.standard_normal((n, 3) if kind in ("dense", "residual_dense") else (n, 2, 4, 4)))


@given(
    kind=st.sampled_from(SITE_KINDS),
    width=st.integers(1, 4),
    depth=st.integers(1, 3),
    weights=st.sampled_from([1, 2]),
    variant=st.sampled_from(["v1", "v2"]),
    seed=st.integers(0, 1000),
)
def test_insertion_preserves_outputs_at_every_site(kind, width, depth, weights, variant, seed):
    model = make_model(kind, width, depth, seed, weights)
    options = {"kind": kind, "weights": weights, "variant": variant} if kind.startswith("residual") else {}
    x = random_input(kind, seed=seed)
    before_state = model.state_dict()
    expected = model(x).data
    for site in sensli.candidate_sites(model, **options):
        grown = sensli.insert(model, site)
        assert len(grown) == len(model) + (2 if kind in ("dense", "conv") else 1)
        assert relative_error(grown(x).data, expected) <= 1e-10
    for name, value in model.state_dict().items():  # the input model is untouched
        np.testing.assert_array_equal(value, before_state[name])
    assert len(model) == len(make_model(kind, width, depth, seed, weights))


def test_inserted_layer_is_trainable_and_gets_the_scored_gradient():
    model = make_model("dense", 4, 2, 0)
    loader = make_loader("dense", 8, 8, 0)
    result = sensli.sensitivities(model, loader)
    chosen = sensli.select(result, "abs max")
    grown = sensli.insert(model, chosen.site)
    new_layer = grown[chosen.site.position]
    assert new_layer.weight.requires_grad and any(p is new_layer.weight for p in grown.parameters())
    x, y = next(iter(loader))
    ms.functional.cross_entropy(grown(x), y).backward()
    np.testing.assert_allclose(new_layer.weight.grad, chosen.multipliers["weight"], rtol=1e-10, atol=1e-15)
    assert chosen.score > 0 and np.any(new_layer.weight.grad != 0)


def test_new_residual_block_gets_gradient_on_outer_weight_only():
    model = make_model("residual_dense", 3, 2, 1)
    loader = make_loader("residual_dense", 6, 6, 1)
    chosen = sensli.select(sensli.sensitivities(model, loader), "abs max")
    grown = sensli.insert(model, chosen.site)
    block = grown[chosen.site.position]
    x, y = next(iter(loader))
    ms.functional.cross_entropy(grown(x), y).backward()
    assert np.any(block.outer.weight.grad != 0)
    assert not np.any(block.inner.weight.grad) and not np.any(block.inner.bias.grad)


def test_training_the_grown_model_leaves_the_old_one_alone():
    model = make_model("dense", 3, 1, 0)
    before = model.state_dict()
    grown = sensli.insert(model, sensli.candidate_sites(model)[0])
    for p in grown.parameters():
        p.data += 1.0
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(value, before[name])


def test_bad_site_is_refused_and_model_untouched():
    model = make_model("dense", 3, 2, 0)
    site = sensli.candidate_sites(model)[0]
    wrong_width = sensli.Site(site.position, "dense", 7, "relu")
    with pytest.raises(ValueError, match=r"insert: .* does not fit this model; valid dense sites are \['dense@2"):
        sensli.insert(model, wrong_width)
    with pytest.raises(ValueError, match="does not fit"):
        sensli.insert(model, sensli.Site(1, "dense", 3, "relu"))
    with pytest.raises(TypeError, match="expected a Site"):
        sensli.insert(model, 2)
    assert len(model) == 5


def test_grown_model_saves_and_loads(tmp_path):
    model = make_model("residual_conv", 2, 2, 0)
    grown = sensli.insert(model, sensli.candidate_sites(model)[1])
    ms.save(grown, tmp_path / "grown.npz")
    x = random_input("conv")
    np.testing.assert_array_equal(ms.load(tmp_path / "grown.npz")(x).data, grown(x).data)


def test_non_preserving_residual_form_is_refused():
    model = nn.Sequential(nn.Dense(2, 3), nn.Sigmoid(), nn.Dense(3, 2))
    site = sensli.candidate_sites(model, kind="residual_dense", variant="v2")[0]
    with pytest.raises(ValueError, match=r"two-weight v2 residual block with sigmoid is not the identity"):
        sensli.insert(model, site)


def test_insertion_does_not_shift_the_weights_of_layers_created_after_it():
    ms.manual_seed(0)
    model = nn.Sequential(nn.Dense(2, 4), nn.ReLU(), nn.Dense(4, 2))
    expected = nn.Dense(2, 2).weight.data.copy()
    ms.manual_seed(0)
    model = nn.Sequential(nn.Dense(2, 4), nn.ReLU(), nn.Dense(4, 2))
    sensli.insert(model, sensli.candidate_sites(model)[0])
    np.testing.assert_array_equal(nn.Dense(2, 2).weight.data, expected)


def test_plotting_to_a_file_keeps_the_matplotlib_backend(tmp_path):
    """In a notebook, switching to Agg would silently stop every later figure from showing."""
    import matplotlib
    import matplotlib.pyplot as plt

    previous = matplotlib.get_backend()
    matplotlib.use("svg")
    try:
        ms.manual_seed(0)
        model = nn.Sequential(nn.Dense(2, 4), nn.ReLU(), nn.Dense(4, 2))
        loader = data.DataLoader(data.spirals().train, batch_size=450)
        result = sensli.grow(model, loader, epochs=[2, 2], lr=0.1, progress=False)
        figures_before = plt.get_fignums()
        result.plot(tmp_path / "growth.png")
        assert matplotlib.get_backend() == "svg"
        assert plt.get_fignums() == figures_before  # nothing left open in pyplot
        assert (tmp_path / "growth.png").stat().st_size > 0
    finally:
        matplotlib.use(previous)
