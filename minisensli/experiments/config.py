"""Experiment configurations: TOML files, validated completely before any work starts.

A config has five tables; every key is optional except where noted, and unknown keys are
errors. Types and allowed values are listed in SCHEMA below; ``minisensli list`` shows the
built-in configs, and their files (minisensli/experiments/configs/*.toml) are commented examples.

    name = "spirals-fnn"                 # required: names the results folder
    description = "..."                  # one line, shown by `minisensli list`
    differs_from_paper = "..."           # what was changed against the paper, and why

    [data]        name = "spirals" | "digits", batch_size, test_batch_size, split_seed, train_fraction,
                  n_per_class, r0, circles, noise (spirals only), flatten (digits: images as vectors)
    [model]       type = "fnn" | "resnet" | "cnn", hidden (fnn), width + blocks + h (resnet),
                  channels + classifier (cnn), activation
    [training]    epochs (per phase), lr, optimizer = "sgd" | "adam", momentum, weight_decay,
                  lr_factor (after an insertion), max_insertions, scheduler = "none" | "step" |
                  "multistep", step_size, milestones, gamma, device = "cpu" | "gpu" (where the
                  models and the batches live; the CLI's --device overrides it)
    [sensli]      method = "closed_form" | "autograd", norm = "default" | "fro" | "fro_scaled" |
                  "spectral", variant = "v1" | "v2", threshold
    [comparison]  methods (any of "abs max", "abs min", "random", "threshold", "small", "big"), seeds
"""

from __future__ import annotations

import copy
import pathlib
import sys
from dataclasses import dataclass
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10: the backport with the same API
    import tomli as tomllib

CONFIG_DIR = pathlib.Path(__file__).parent / "configs"
DATASETS = ("spirals", "digits")
MODEL_TYPES = ("fnn", "resnet", "cnn")
ACTIVATIONS = ("relu", "tanh", "sigmoid")
OPTIMIZERS = ("sgd", "adam")
SCHEDULERS = ("none", "step", "multistep")
DEVICES = ("cpu", "gpu")
SENSITIVITY_METHODS = ("closed_form", "autograd")
NORM_CHOICES = ("default", "fro", "fro_scaled", "spectral")
VARIANTS = ("v1", "v2")
COMPARISON_METHODS = ("abs max", "abs min", "random", "threshold", "small", "big")
GROWTH_METHODS = ("abs max", "abs min", "random", "threshold")


class ConfigError(ValueError):
    """An invalid configuration; the message names the key and what is allowed."""


# key -> (expected type, default, allowed values or a check name)
Spec = tuple[Any, Any, Any]
SCHEMA: dict[str, dict[str, Spec]] = {
    "": {
        "name": (str, None, "required"),
        "description": (str, "", None),
        "differs_from_paper": (str, "", None),
    },
    "data": {
        "name": (str, "spirals", DATASETS),
        "batch_size": (int, 450, "positive"),
        "test_batch_size": (int, 150, "positive"),
        "split_seed": (int, 1, "non-negative"),
        "train_fraction": (float, 0.75, "fraction"),
        "n_per_class": (int, 300, "positive"),
        "r0": (float, 0.5, "non-negative"),
        "circles": (float, 1.0, "positive"),
        "noise": (float, 0.0, "non-negative"),
        "flatten": (bool, False, None),
    },
    "model": {
        "type": (str, "fnn", MODEL_TYPES),
        "hidden": (list, [5], "positive-list"),
        "width": (int, 3, "positive"),
        "blocks": (int, 1, "non-negative"),
        "h": (float, 1.0, "positive"),
        "channels": (list, [8, 16], "positive-list"),
        "classifier": (list, [], "positive-list-or-empty"),
        "activation": (str, "relu", ACTIVATIONS),
    },
    "training": {
        "epochs": (list, [450, 1400], "epochs"),
        "lr": (float, 0.1, "positive"),
        "optimizer": (str, "sgd", OPTIMIZERS),
        "momentum": (float, 0.0, "non-negative"),
        "weight_decay": (float, 0.0, "non-negative"),
        "lr_factor": (float, 1.0, "positive"),
        "max_insertions": (int, 1, "positive"),
        "scheduler": (str, "none", SCHEDULERS),
        "step_size": (int, 100000, "positive"),
        "milestones": (list, [], "positive-list-or-empty"),
        "gamma": (float, 0.1, "positive"),
        "device": (str, "cpu", DEVICES),
    },
    "sensli": {
        "method": (str, "closed_form", SENSITIVITY_METHODS),
        "norm": (str, "default", NORM_CHOICES),
        "variant": (str, "v1", VARIANTS),
        "threshold": (float, 1.0, "positive"),
    },
    "comparison": {
        "methods": (list, ["abs max", "abs min", "small", "big"], "methods"),
        "seeds": (list, [0, 1, 2, 3, 4], "seeds"),
    },
}


@dataclass
class Config:
    """A validated configuration: sections as dicts with every default filled in."""

    name: str
    description: str
    differs_from_paper: str
    data: dict[str, Any]
    model: dict[str, Any]
    training: dict[str, Any]
    sensli: dict[str, Any]
    comparison: dict[str, Any]
    source: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description, "differs_from_paper": self.differs_from_paper,
                **{s: copy.deepcopy(getattr(self, s)) for s in SCHEMA if s}}

    @property
    def total_epochs(self) -> int:
        return sum(self.phase_epochs)

    @property
    def phase_epochs(self) -> list[int]:
        epochs = self.training["epochs"]
        phases = self.training["max_insertions"] + 1
        return (epochs + [epochs[-1]] * phases)[:phases]


def _type_name(expected: Any) -> str:
    return {str: "a string", int: "an integer", float: "a number", bool: "true or false", list: "a list"}[expected]


def _check_value(where: str, value: Any, expected: Any, rule: Any) -> Any:
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
        raise ConfigError(f"{where}: expected {_type_name(expected)}, got {value!r}")
    if isinstance(rule, tuple):
        if value not in rule:
            raise ConfigError(f"{where}: {value!r} is not allowed; choose one of {list(rule)}")
    elif rule == "positive" and not value > 0:
        raise ConfigError(f"{where}: must be positive, got {value!r}")
    elif rule == "non-negative" and value < 0:
        raise ConfigError(f"{where}: must not be negative, got {value!r}")
    elif rule == "fraction" and not 0 < value < 1:
        raise ConfigError(f"{where}: must lie strictly between 0 and 1, got {value!r}")
    elif rule in ("positive-list", "positive-list-or-empty", "epochs", "seeds"):
        minimum = 0 if rule in ("epochs", "seeds") else 1
        if rule != "positive-list-or-empty" and not value:
            raise ConfigError(f"{where}: must not be empty")
        for item in value:
            if not isinstance(item, int) or isinstance(item, bool) or item < minimum:
                raise ConfigError(f"{where}: every entry must be an integer >= {minimum}, got {item!r}")
        if rule == "seeds" and len(set(value)) != len(value):
            raise ConfigError(f"{where}: seeds must be distinct, got {value}")
    elif rule == "methods":
        if not value:
            raise ConfigError(f"{where}: must name at least one method")
        for item in value:
            if item not in COMPARISON_METHODS:
                raise ConfigError(f"{where}: unknown method {item!r}; choose from {list(COMPARISON_METHODS)}")
    return value


def validate(raw: dict[str, Any], source: str = "") -> Config:
    """Check every key of a parsed TOML document and fill in defaults; raises ConfigError."""
    if not isinstance(raw, dict):
        raise ConfigError("config: expected a TOML table at the top level")
    sections: dict[str, dict[str, Any]] = {}
    top_keys = set(SCHEMA[""]) | {s for s in SCHEMA if s}
    for key in raw:
        if key not in top_keys:
            raise ConfigError(f"config: unknown key {key!r}; allowed top-level keys are {sorted(top_keys)}")
    for section, spec in SCHEMA.items():
        given = raw if section == "" else raw.get(section, {})
        if section and not isinstance(given, dict):
            raise ConfigError(f"[{section}]: expected a table, got {given!r}")
        values = {}
        for key, value in given.items():
            if section == "" and key in SCHEMA:
                continue
            if key not in spec:
                raise ConfigError(f"[{section or 'top level'}] unknown key {key!r}; allowed keys are {sorted(spec)}")
            expected, _, rule = spec[key]
            values[key] = _check_value(f"{section}.{key}" if section else key, value, expected, rule)
        for key, (_, default, rule) in spec.items():
            if key not in values:
                if rule == "required":
                    raise ConfigError(f"config: the key {key!r} is required")
                values[key] = copy.deepcopy(default)
        sections[section] = values
    config = Config(**sections[""], **{s: sections[s] for s in SCHEMA if s}, source=source)
    _check_consistency(config)
    return config


def _check_consistency(config: Config) -> None:
    """Rules that involve more than one key."""
    data, model, training = config.data, config.model, config.training
    methods = config.comparison["methods"]
    if model["type"] == "cnn" and data["name"] != "digits":
        raise ConfigError("model.type: 'cnn' needs image data; set data.name = 'digits'")
    if model["type"] == "cnn" and data["flatten"]:
        raise ConfigError("data.flatten: a 'cnn' model needs images, set flatten = false")
    if data["name"] == "digits" and model["type"] != "cnn" and not data["flatten"]:
        raise ConfigError("data.flatten: dense models on digits need flatten = true")
    if model["type"] in ("fnn", "cnn") and model["activation"] != "relu":
        raise ConfigError(f"model.activation: {model['type']} insertion is function-preserving only with 'relu', "
                          f"got {model['activation']!r} (use model.type = 'resnet' for tanh)")
    if "big" in methods and "abs max" not in methods:
        raise ConfigError("comparison.methods: 'big' is the final 'abs max' architecture trained from scratch, "
                          "so it needs 'abs max' in the list")
    if training["scheduler"] == "multistep" and not training["milestones"]:
        raise ConfigError("training.milestones: the 'multistep' scheduler needs at least one milestone")
    if len(training["epochs"]) > training["max_insertions"] + 1:
        raise ConfigError(f"training.epochs: {len(training['epochs'])} phases given but max_insertions = "
                          f"{training['max_insertions']} allows {training['max_insertions'] + 1}")


def load_config(path: str | pathlib.Path) -> Config:
    """Read and validate a TOML config file."""
    path = pathlib.Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError(f"cannot read config {path}: {err.strerror}") from err
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: not valid TOML: {err}") from err
    return validate(raw, source=str(path))


def builtin_names() -> list[str]:
    return sorted(p.stem for p in CONFIG_DIR.glob("*.toml"))


def resolve(name_or_path: str) -> Config:
    """A built-in experiment by name, or a TOML file by path."""
    if name_or_path in builtin_names():
        return load_config(CONFIG_DIR / f"{name_or_path}.toml")
    path = pathlib.Path(name_or_path)
    if path.suffix == ".toml" or path.exists():
        return load_config(path)
    raise ConfigError(f"unknown experiment {name_or_path!r}: not a built-in ({', '.join(builtin_names())}) "
                      "and not a .toml file")


def to_toml(config: Config) -> str:
    """The configuration as TOML text (every key, defaults filled in)."""
    def value(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, str):
            return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        return repr(v)

    data = config.as_dict()
    lines = [f"{k} = {value(data[k])}" for k in SCHEMA[""]]
    for section in (s for s in SCHEMA if s):
        lines += ["", f"[{section}]"] + [f"{k} = {value(v)}" for k, v in data[section].items()]
    return "\n".join(lines) + "\n"
