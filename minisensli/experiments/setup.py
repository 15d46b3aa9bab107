"""From a validated Config to the objects of a run: data loaders, the start model, the
optimizer and scheduler factories, and the SensLI site options."""

from __future__ import annotations

from typing import Any

from .. import backend, data, nn, optim
from ..nn.activation import activation_from_name
from ..serialization import build, describe
from .config import Config, ConfigError


def datasets(config: Config) -> data.Split:
    """The train/test split the config names (generated or shipped; nothing is downloaded)."""
    d = config.data
    if d["name"] == "spirals":
        return data.spirals(
            n_per_class=d["n_per_class"],
            r0=d["r0"],
            circles=d["circles"],
            noise=d["noise"],
            train_fraction=d["train_fraction"],
            seed=d["split_seed"],
        )
    split = data.digits(train_fraction=d["train_fraction"], seed=d["split_seed"])
    if not d["flatten"]:
        return split
    flat = [data.TensorDataset(ds.arrays[0].reshape(len(ds), -1), ds.arrays[1]) for ds in split]
    return data.Split(*flat)


def loaders(config: Config, split: data.Split, seed: int) -> tuple[data.DataLoader, data.DataLoader]:
    """Train loader (shuffled with the run's seed unless it is full batch) and test loader."""
    d = config.data
    full_batch = d["batch_size"] >= len(split.train)
    device = config.training["device"]
    train = data.DataLoader(split.train, batch_size=d["batch_size"], shuffle=not full_batch, seed=seed, device=device)
    test = data.DataLoader(split.test, batch_size=d["test_batch_size"], device=device)
    return train, test


def input_and_classes(split: data.Split) -> tuple[tuple[int, ...], int]:
    inputs, labels = split.train.arrays
    return tuple(inputs.shape[1:]), int(labels.max()) + 1


def check_device(config: Config) -> None:
    """Fail before any work when the config asks for a GPU this machine does not have."""
    try:
        backend.module_for_device(config.training["device"])
    except RuntimeError as err:
        raise ConfigError(f"training.device: {err}") from None


def check_data(config: Config) -> None:
    """Build the config's data and loaders once, before any work: what the config layer cannot see
    (a split or a batch that would be empty) fails here with a ConfigError, not half-way through a run."""
    try:
        split = datasets(config)
        loaders(config, split, 0)
    except ValueError as err:
        raise ConfigError(f"[data]: {err}") from None


def build_model(config: Config, split: data.Split) -> nn.Sequential:
    """The start architecture, initialised from the current init generator (ms.manual_seed),
    on the config's device."""
    model = _architecture(config, split).to(config.training["device"])
    assert isinstance(model, nn.Sequential)
    return model


def _architecture(config: Config, split: data.Split) -> nn.Sequential:
    m = config.model
    in_shape, classes = input_and_classes(split)
    act = m["activation"]
    if m["type"] == "fnn":
        widths = [in_shape[0], *m["hidden"]]
        layers: list[nn.Module] = []
        for a, b in zip(widths[:-1], widths[1:]):
            layers += [nn.Dense(a, b), activation_from_name(act)]
        return nn.Sequential(*layers, nn.Dense(widths[-1], classes))
    if m["type"] == "resnet":
        blocks = [nn.ResidualDense(m["width"], weights=2, activation=act, h=m["h"]) for _ in range(m["blocks"])]
        return nn.Sequential(
            nn.Dense(in_shape[0], m["width"]), activation_from_name(act), *blocks, nn.Dense(m["width"], classes)
        )
    channels, (height, width) = [in_shape[0], *m["channels"]], in_shape[1:]
    layers = []
    for a, b in zip(channels[:-1], channels[1:]):
        layers += [nn.Conv2d(a, b, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
        height, width = height // 2, width // 2
    if height < 1 or width < 1:
        raise ValueError(
            f"model.channels: {len(m['channels'])} pooling stages shrink the {in_shape[1:]} images "
            "to nothing; use fewer stages"
        )
    dims = [channels[-1] * height * width, *m["classifier"]]
    layers.append(nn.Flatten())
    for a, b in zip(dims[:-1], dims[1:]):
        layers += [nn.Dense(a, b), nn.ReLU()]
    return nn.Sequential(*layers, nn.Dense(dims[-1], classes))


def optimizer_factory(config: Config) -> tuple[str, dict[str, Any]]:
    """(optimizer name, its options) for sensli.grow and the baselines."""
    t = config.training
    options: dict[str, Any] = {"weight_decay": t["weight_decay"]}
    if t["optimizer"] == "sgd":
        options["momentum"] = t["momentum"]
    return t["optimizer"], options


def make_optimizer(config: Config, params: list, lr: float) -> optim.Optimizer:
    name, options = optimizer_factory(config)
    return (optim.SGD if name == "sgd" else optim.Adam)(params, lr=lr, **options)


def scheduler_factory(config: Config) -> Any:
    """A callable(optimizer) -> scheduler, or None."""
    t = config.training
    if t["scheduler"] == "step":
        return lambda opt: optim.StepLR(opt, step_size=t["step_size"], gamma=t["gamma"])
    if t["scheduler"] == "multistep":
        return lambda opt: optim.MultiStepLR(opt, milestones=t["milestones"], gamma=t["gamma"])
    return None


def site_options(config: Config) -> dict[str, Any]:
    """How candidate sites are found: residual blocks for ResNets; for fnn models the config's
    [sensli] kinds with the width settings (neurons, fan_in) when given; automatic otherwise."""
    if config.model["type"] == "resnet":
        return {"kind": "residual_dense", "variant": config.sensli["variant"]}
    if config.sensli["kinds"]:
        neurons = config.sensli["neurons"] or "match"
        return {"kinds": tuple(config.sensli["kinds"]), "neurons": neurons, "fan_in": config.sensli["fan_in"]}
    return {}


def sensitivity_norm(config: Config) -> str | None:
    return None if config.sensli["norm"] == "default" else config.sensli["norm"]


def fresh_copy(model: nn.Sequential, seed: int) -> nn.Sequential:
    """The same architecture with new weights drawn from a generator seeded with ``seed``."""
    previous = backend.init_rng()
    backend.manual_seed(seed)
    try:
        fresh = build(describe(model))
    finally:
        backend.set_init_rng(previous)
    reference = model.parameters()[0]
    moved = fresh.to(reference.device, reference.dtype)
    assert isinstance(moved, nn.Sequential)
    return moved
