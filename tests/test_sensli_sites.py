"""Candidate sites follow the reference: positions, kinds, widths, refusals."""

import pytest

from minisensli import nn, sensli


def positions(model, **options):
    return [s.position for s in sensli.candidate_sites(model, **options)]


def test_fnn_has_one_site_per_hidden_layer_and_none_at_the_ends():
    fnn = nn.Sequential(nn.Dense(2, 4), nn.ReLU(), nn.Dense(4, 5), nn.ReLU(), nn.Dense(5, 2))
    sites = sensli.candidate_sites(fnn)
    assert [(s.position, s.kind, s.width) for s in sites] == [(2, "dense", 4), (4, "dense", 5)]
    one_hidden = nn.Sequential(nn.Dense(2, 5), nn.ReLU(), nn.Dense(5, 2))
    assert positions(one_hidden) == [2]


def test_resnet_sites_before_every_block_and_after_the_last():
    resnet = nn.Sequential(
        nn.Dense(2, 3), nn.Tanh(), nn.ResidualDense(3, h=0.5), nn.ResidualDense(3, h=0.5), nn.Dense(3, 2)
    )
    sites = sensli.candidate_sites(resnet)
    assert [s.position for s in sites] == [2, 3, 4]
    assert all(s.kind == "residual_dense" and s.weights == 2 and s.h == 0.5 and s.activation == "tanh" for s in sites)
    assert sites[0].scored_parameter == "outer.weight"
    no_blocks = nn.Sequential(nn.Dense(2, 3), nn.Tanh(), nn.Dense(3, 2))
    assert positions(no_blocks, kind="residual_dense") == [2]
    v2 = sensli.candidate_sites(no_blocks, kind="residual_dense", variant="v2")[0]
    assert v2.scored_parameter == "inner.weight"


def test_cnn_sites_after_each_conv_relu_and_none_in_the_classifier():
    cnn = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(4, 8, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Dense(8, 6),
        nn.ReLU(),
        nn.Dense(6, 10),
    )
    sites = sensli.candidate_sites(cnn)
    assert [(s.position, s.kind, s.width) for s in sites] == [(2, "conv", 4), (5, "conv", 8)]


def test_conv_residual_sites():
    model = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.ResidualConv(4), nn.Flatten(), nn.Dense(4 * 16, 2)
    )
    assert [(s.position, s.kind) for s in sensli.candidate_sites(model)] == [(2, "residual_conv"), (3, "residual_conv")]


def test_dense_site_after_tanh_is_refused_with_reason():
    fnn = nn.Sequential(nn.Dense(2, 4), nn.Tanh(), nn.Dense(4, 2))
    with pytest.raises(ValueError, match=r"act\(act\(z\)\) != act\(z\) for tanh"):
        sensli.candidate_sites(fnn)


def test_site_errors():
    with pytest.raises(TypeError, match="expected an nn.Sequential"):
        sensli.candidate_sites(nn.Dense(2, 2))
    model = nn.Sequential(nn.Dense(2, 4), nn.ReLU(), nn.Dense(4, 2))
    with pytest.raises(ValueError, match="unknown kind 'lstm'"):
        sensli.candidate_sites(model, kind="lstm")
    with pytest.raises(ValueError, match="variant: .v3. is not allowed; choose one of"):
        sensli.candidate_sites(model, variant="v3")
