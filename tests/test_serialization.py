"""ms.save / ms.load: exact round trips, changed architectures, damaged or foreign files."""

import numpy as np
import pytest

import minisensli as ms
from minisensli import nn


def round_trip(model, tmp_path, x):
    path = tmp_path / "model.npz"
    ms.save(model, path)
    loaded = ms.load(path)
    np.testing.assert_array_equal(loaded(x).data, model(x).data)  # bit-identical
    assert repr(loaded) == repr(model)
    return loaded


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_round_trip_mlp_with_residual_blocks(tmp_path, dtype):
    ms.set_default_dtype(dtype)
    model = nn.Sequential(
        nn.Dense(2, 3),
        nn.Tanh(),
        nn.ResidualDense(3, weights=2, h=0.5),
        nn.ResidualDense(3, weights=1, activation="relu"),
        nn.Dense(3, 2),
    )
    loaded = round_trip(model, tmp_path, ms.Tensor(np.random.default_rng(0).standard_normal((4, 2)).astype(dtype)))
    assert all(p.dtype == np.dtype(dtype) for p in loaded.parameters())


def test_round_trip_cnn(tmp_path):
    model = nn.Sequential(
        nn.Conv2d(1, 2, 3, padding=1),
        nn.ReLU(),
        nn.ResidualConv(2),
        nn.MaxPool2d(2),
        nn.AvgPool2d(2, stride=1),
        nn.Flatten(),
        nn.Dense(2, 3),
        nn.Sigmoid(),
    )
    round_trip(model, tmp_path, ms.Tensor(np.random.default_rng(1).standard_normal((2, 1, 4, 4))))


def test_round_trip_after_inserting_a_layer(tmp_path):
    model = nn.Sequential(nn.Dense(2, 4), nn.ReLU(), nn.Dense(4, 2))
    grown = model.with_inserted(2, nn.Dense(4, 4), nn.ReLU())
    loaded = round_trip(grown, tmp_path, ms.Tensor(np.ones((3, 2))))
    assert len(loaded) == 5


def test_save_refuses_module_without_config(tmp_path):
    class Custom(nn.Module):
        def forward(self, x):
            return x

    with pytest.raises(NotImplementedError, match="Custom does not implement config"):
        ms.save(nn.Sequential(Custom()), tmp_path / "m.npz")


def test_load_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        ms.load(tmp_path / "missing.npz")
    foreign = tmp_path / "foreign.npz"
    foreign.write_bytes(b"definitely not a zip file")
    with pytest.raises(ms.ModelFileError, match="not a minisensli model file"):
        ms.load(foreign)
    other = tmp_path / "other.npz"
    np.savez(other, weights=np.ones(3))
    with pytest.raises(ms.ModelFileError, match="no __minisensli__ entry"):
        ms.load(other)
    good = tmp_path / "good.npz"
    ms.save(nn.Sequential(nn.Dense(2, 2)), good)
    raw = good.read_bytes()
    damaged = tmp_path / "damaged.npz"
    damaged.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ms.ModelFileError):
        ms.load(damaged)
    arrays = dict(np.load(good))
    arrays["param:0.weight"] = np.ones((3, 3))
    mismatched = tmp_path / "mismatched.npz"
    np.savez(mismatched, **arrays)
    with pytest.raises(ms.ModelFileError, match="weights do not match the architecture: .*0.weight"):
        ms.load(mismatched)
