"""ms.save writes only models that ms.load gives back exactly; the rest is refused with a message."""

import numpy as np
import pytest

import minisensli as ms
from minisensli import nn


def test_save_refuses_a_module_used_twice(tmp_path):
    shared = nn.Dense(3, 3)
    model = nn.Sequential(shared, nn.ReLU(), shared)
    with pytest.raises(ValueError, match=r"same Dense object sits at '0' and at '2'.*shared modules"):
        ms.save(model, tmp_path / "m.npz")
    assert list(tmp_path.iterdir()) == []


def test_save_refuses_a_module_shared_inside_a_residual_block(tmp_path):
    block = nn.ResidualDense(4, weights=2)
    model = nn.Sequential(nn.Dense(2, 4), block, block, nn.Dense(4, 2))
    with pytest.raises(ValueError, match="same ResidualDense object sits at '1' and at '2'"):
        ms.save(model, tmp_path / "m.npz")
    assert list(tmp_path.iterdir()) == []


def test_save_refuses_a_parameter_shared_between_layers(tmp_path):
    model = nn.Sequential(nn.Dense(3, 3), nn.ReLU(), nn.Dense(3, 3))
    model[2].weight = model[0].weight  # tied weights: a file would load them as two
    with pytest.raises(ValueError, match=r"differ at \['2.weight'\]"):
        ms.save(model, tmp_path / "m.npz")
    assert list(tmp_path.iterdir()) == []


def test_save_refuses_a_parameter_its_config_does_not_describe(tmp_path):
    model = nn.Sequential(nn.Dense(3, 3))
    model[0].weight = nn.Parameter(np.zeros((5, 3)))  # the config still says 3 -> 3
    with pytest.raises(ValueError, match=r"names or shapes differ at \['0.weight'\]"):
        ms.save(model, tmp_path / "m.npz")


def test_saving_does_not_consume_the_initialisation_draws(tmp_path):
    ms.manual_seed(7)
    ms.save(nn.Sequential(nn.Dense(2, 2)), tmp_path / "a.npz")
    after_save = nn.Dense(3, 3).weight.data
    ms.manual_seed(7)
    nn.Sequential(nn.Dense(2, 2))
    without_save = nn.Dense(3, 3).weight.data
    np.testing.assert_array_equal(after_save, without_save)


def test_a_reloadable_model_still_round_trips(tmp_path):
    model = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Dense(8, 3))
    ms.save(model, tmp_path / "m.npz")
    loaded = ms.load(tmp_path / "m.npz")
    for (name, p), (other, q) in zip(model.named_parameters(), loaded.named_parameters()):
        assert name == other
        np.testing.assert_array_equal(p.data, q.data)
