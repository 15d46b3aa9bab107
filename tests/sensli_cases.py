"""Small networks of every site kind and random data, shared by the SensLI tests."""

import numpy as np

import minisensli as ms
from minisensli import data, nn

SITE_KINDS = ("dense", "residual_dense", "conv", "residual_conv")


def make_model(kind: str, width: int, depth: int, rng_seed: int, weights: int = 2, activation: str = "tanh"):
    """A model whose candidate sites are of ``kind``; ``depth`` hidden layers or blocks."""
    ms.manual_seed(rng_seed)
    if kind == "dense":
        layers = [nn.Dense(3, width), nn.ReLU()]
        for _ in range(depth - 1):
            layers += [nn.Dense(width, width), nn.ReLU()]
        return nn.Sequential(*layers, nn.Dense(width, 3))
    if kind == "residual_dense":
        blocks = [nn.ResidualDense(width, weights=weights, activation=activation, h=0.7) for _ in range(depth - 1)]
        return nn.Sequential(nn.Dense(3, width), nn.Tanh(), *blocks, nn.Dense(width, 3))
    if kind == "conv":
        layers = [nn.Conv2d(2, width, 3, padding=1), nn.ReLU()]
        for _ in range(depth - 1):
            layers += [nn.Conv2d(width, width, 3, padding=1), nn.ReLU()]
        return nn.Sequential(*layers, nn.MaxPool2d(2), nn.Flatten(), nn.Dense(width * 4, 3))
    blocks = [nn.ResidualConv(width, weights=weights, activation=activation, h=0.7) for _ in range(depth - 1)]
    return nn.Sequential(
        nn.Conv2d(2, width, 3, padding=1), nn.Tanh(), *blocks, nn.MaxPool2d(2), nn.Flatten(), nn.Dense(width * 4, 3)
    )


def make_loader(kind: str, n: int, batch_size: int, seed: int):
    rng = np.random.default_rng(seed)
    shape = (n, 3) if kind in ("dense", "residual_dense") else (n, 2, 4, 4)
    inputs = rng.standard_normal(shape)
    labels = rng.integers(0, 3, n)
    return data.DataLoader(data.TensorDataset(inputs, labels), batch_size=batch_size)


def relative_error(a, b) -> float:
    scale = max(np.linalg.norm(b), np.linalg.norm(a))
    return 0.0 if scale == 0 else float(np.linalg.norm(a - b) / scale)
