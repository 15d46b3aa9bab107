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
                  "spectral" | "per_parameter", variant = "v1" | "v2", threshold,
                  kinds = [] (the model's own kind) or any of "dense", "width" (fnn only: grow
                  deeper, wider, or both; with both the default norm is "per_parameter"),
                  neurons (units a width insertion adds; 0 = "match": about the parameters of a
                  dense insertion at the same layer), fan_in = "random" | "gradmax" (width sites)
    [comparison]  methods (any of "abs max", "abs min", "random", "threshold", "small", "big", and the
                  experimental "second order", not the paper's), seeds,
                  seconds_per_epoch (measured wall seconds per epoch of one run, selection included, with
                  two worker processes on the 2-core development machine; 0 = not measured; `minisensli
                  list` multiplies it by epochs x methods x seeds / 2 and adds FIXED_SECONDS to estimate the run time)
"""

from __future__ import annotations

import copy
import difflib
import math
import pathlib
import re
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
NORM_CHOICES = ("default", "fro", "fro_scaled", "spectral", "per_parameter")
SITE_KINDS = ("dense", "width")  # the kinds [sensli] kinds may name (fnn models)
FAN_IN_RULES = ("random", "gradmax")
VARIANTS = ("v1", "v2")
COMPARISON_METHODS = ("abs max", "abs min", "random", "threshold", "second order", "small", "big")
GROWTH_METHODS = ("abs max", "abs min", "random", "threshold", "second order")


# Sizes beyond these are typing errors, not experiments: each would need more memory or time
# than any machine has, so they are refused before the results folder is created.
MAX_WIDTH = 100_000  # units or channels of one layer
MAX_LIST = 1_000  # entries of hidden, channels, classifier, epochs, milestones, methods, seeds
MAX_COUNT = 10_000_000  # examples per class, epochs per phase, batch sizes, step sizes
MAX_BLOCKS = 10_000
MAX_INSERTIONS = 1_000
MAX_PARAMETERS = 1_000_000_000  # weights of the largest network a run can grow to (4 GB in float32)
MAX_CONFIG_BYTES = 1_000_000  # a TOML config is a few hundred bytes
DIGITS_SIZE = 8  # the shipped digits are 8 x 8 images of 10 classes
DIGITS_CLASSES = 10


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
        "kinds": (list, [], "kinds"),
        "neurons": (int, 0, "non-negative"),
        "fan_in": (str, "random", FAN_IN_RULES),
    },
    "comparison": {
        "methods": (list, ["abs max", "abs min", "small", "big"], "methods"),
        "seeds": (list, [0, 1, 2, 3, 4], "seeds"),
        "seconds_per_epoch": (float, 0.0, "non-negative"),
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
        return {
            "name": self.name,
            "description": self.description,
            "differs_from_paper": self.differs_from_paper,
            **{s: copy.deepcopy(getattr(self, s)) for s in SCHEMA if s},
        }

    @property
    def total_epochs(self) -> int:
        return sum(self.phase_epochs)

    @property
    def phase_epochs(self) -> list[int]:
        epochs = self.training["epochs"]
        phases = self.training["max_insertions"] + 1
        return (epochs + [epochs[-1]] * phases)[:phases]


# Beside the epochs, a run starts its worker processes, builds the data and draws the figures: measured
# on the 2-core development machine, the main job took 33.7 s where its epochs account for 29.6 s.
FIXED_SECONDS = 4.0


def expected_seconds(config: Config, workers: int = 2) -> float | None:
    """Estimated wall time of the whole comparison on ``workers`` local processes: the config's
    measured seconds per epoch of one run (measured with two workers on the 2-core development
    machine) times epochs x methods x seeds, over the number of runs that can go at once, plus
    FIXED_SECONDS (processes, data, figures); None where the config has no measurement. The one
    estimate: ``minisensli list``, ``minisensli run`` and the README (checked by a test) use it."""
    per_epoch = config.comparison["seconds_per_epoch"]
    if not per_epoch:
        return None
    runs = len(config.comparison["methods"]) * len(config.comparison["seeds"])
    return FIXED_SECONDS + per_epoch * config.total_epochs * runs / max(1, min(workers, runs))


def _type_name(expected: Any) -> str:
    return {str: "a string", int: "an integer", float: "a number", bool: "true or false", list: "a list"}[expected]


def _check_value(where: str, value: Any, expected: Any, rule: Any) -> Any:
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
        raise ConfigError(f"{where}: expected {_type_name(expected)}, got {value!r}")
    if expected is float and not math.isfinite(value):
        raise ConfigError(f"{where}: must be a finite number, got {value!r}")
    if expected is int and abs(value) > MAX_COUNT and not where.endswith("seed"):
        raise ConfigError(f"{where}: {value} is beyond any machine (at most {MAX_COUNT})")
    if expected is int and abs(value) >= 2**63:
        raise ConfigError(f"{where}: {value} does not fit a 64-bit integer")
    if expected is list and len(value) > MAX_LIST:
        raise ConfigError(f"{where}: {len(value)} entries, at most {MAX_LIST} are allowed")
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
        maximum = 2**63 - 1 if rule == "seeds" else MAX_COUNT if rule == "epochs" else MAX_WIDTH
        for item in value:
            if not isinstance(item, int) or isinstance(item, bool) or not minimum <= item <= maximum:
                raise ConfigError(
                    f"{where}: every entry must be an integer >= {minimum} and <= {maximum}, got {item!r}"
                )
        if rule == "seeds" and len(set(value)) != len(value):
            raise ConfigError(f"{where}: seeds must be distinct, got {value}")
        if rule == "epochs" and not any(value):
            raise ConfigError(f"{where}: every phase has 0 epochs, so nothing would be trained")
    elif rule == "kinds":
        for item in value:
            if not isinstance(item, str) or item not in SITE_KINDS:
                raise ConfigError(f"{where}: unknown site kind {item!r}; choose from {list(SITE_KINDS)}")
        if len(set(value)) != len(value):
            raise ConfigError(f"{where}: each kind may appear once, got {value}")
    elif rule == "methods":
        if not value:
            raise ConfigError(f"{where}: must name at least one method")
        for item in value:
            if not isinstance(item, str) or item not in COMPARISON_METHODS:
                raise ConfigError(f"{where}: unknown method {item!r}; choose from {list(COMPARISON_METHODS)}")
        if len(set(value)) != len(value):
            raise ConfigError(f"{where}: each method may appear once, got {value}")
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
    top = sections[""]
    config = Config(
        top["name"],
        top["description"],
        top["differs_from_paper"],
        **{s: sections[s] for s in SCHEMA if s},
        source=source,
    )
    check_run_name(config.name)
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
        raise ConfigError(
            f"model.activation: {model['type']} insertion is function-preserving only with 'relu', "
            f"got {model['activation']!r} (use model.type = 'resnet' for tanh)"
        )
    if "big" in methods and "abs max" not in methods:
        raise ConfigError(
            "comparison.methods: 'big' is the final 'abs max' architecture trained from scratch, "
            "so it needs 'abs max' in the list"
        )
    kinds = config.sensli["kinds"]
    if kinds and model["type"] != "fnn":
        raise ConfigError(f"sensli.kinds: {kinds} are sites of feed-forward nets; model.type is {model['type']!r}")
    if config.sensli["norm"] == "per_parameter" and not kinds:
        raise ConfigError("sensli.norm: 'per_parameter' compares sites of several kinds; set sensli.kinds")
    if "threshold" in methods and "width" in kinds:
        raise ConfigError("comparison.methods: the 'threshold' rule is defined for depth sites only, not 'width'")
    if training["scheduler"] == "multistep" and not training["milestones"]:
        raise ConfigError("training.milestones: the 'multistep' scheduler needs at least one milestone")
    if len(training["epochs"]) > training["max_insertions"] + 1:
        raise ConfigError(
            f"training.epochs: {len(training['epochs'])} phases given but max_insertions = "
            f"{training['max_insertions']} allows {training['max_insertions'] + 1}"
        )
    if training["max_insertions"] > MAX_INSERTIONS:
        raise ConfigError(f"training.max_insertions: {training['max_insertions']} is more than {MAX_INSERTIONS}")
    if model["blocks"] > MAX_BLOCKS:
        raise ConfigError(f"model.blocks: {model['blocks']} is more than {MAX_BLOCKS}")
    if model["type"] == "cnn" and DIGITS_SIZE >> len(model["channels"]) < 1:
        raise ConfigError(
            f"model.channels: {len(model['channels'])} conv stages, each followed by a 2x2 pooling, "
            f"shrink the {DIGITS_SIZE}x{DIGITS_SIZE} digits to nothing; use at most "
            f"{DIGITS_SIZE.bit_length() - 1} stages"
        )
    if data["name"] == "spirals":
        examples = 2 * data["n_per_class"]
        train = int(round(data["train_fraction"] * examples))
        if not 0 < train < examples:
            raise ConfigError(
                f"data.n_per_class: {data['n_per_class']} points per class ({examples} in all) with "
                f"train_fraction {data['train_fraction']} leave the {'training' if train == 0 else 'test'} set "
                "empty; use more points per class"
            )
    parameters = _largest_parameter_count(config)
    if parameters > MAX_PARAMETERS:
        raise ConfigError(
            f"model: the network would grow to about {parameters:.3g} weights, more than "
            f"{MAX_PARAMETERS:.0e}; use smaller layers or fewer insertions"
        )


def _largest_parameter_count(config: Config) -> int:
    """About how many weights the largest network of a run has (start model + every insertion)."""
    data, model = config.data, config.model
    spirals = data["name"] == "spirals"
    inputs, classes = (2, 2) if spirals else (DIGITS_SIZE * DIGITS_SIZE, DIGITS_CLASSES)
    insertions = config.training["max_insertions"]
    if model["type"] == "fnn":
        widths = [inputs, *model["hidden"], classes]
        largest = max(model["hidden"])
        added = largest * largest + largest
        if "width" in config.sensli["kinds"] and config.sensli["neurons"]:
            added = max(added, config.sensli["neurons"] * (max(widths) + 1 + max(widths)))
        return sum(a * b + b for a, b in zip(widths, widths[1:])) + insertions * added
    if model["type"] == "resnet":
        w = model["width"]
        return inputs * w + w * classes + (model["blocks"] + insertions) * (2 * w * w + w)
    channels = [1, *model["channels"]]
    convs = sum(9 * a * b + b for a, b in zip(channels, channels[1:])) + insertions * 9 * max(channels) ** 2
    side = DIGITS_SIZE >> len(model["channels"])
    dims = [channels[-1] * side * side, *model["classifier"], classes]
    return convs + sum(a * b + b for a, b in zip(dims, dims[1:]))


def load_config(path: str | pathlib.Path) -> Config:
    """Read and validate a TOML config file."""
    path = pathlib.Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_CONFIG_BYTES:
            raise ConfigError(f"config {path}: {size} bytes; a config file has at most {MAX_CONFIG_BYTES}")
        text = path.read_bytes().decode("utf-8")
    except OSError as err:
        raise ConfigError(f"cannot read config {path}: {err.strerror or err}") from err
    except UnicodeDecodeError as err:
        raise ConfigError(
            f"config {path}: not UTF-8 text ({err.reason} at byte {err.start}); save it as UTF-8"
        ) from None
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
    close = difflib.get_close_matches(name_or_path, builtin_names(), n=1, cutoff=0.5)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise ConfigError(
        f"unknown experiment {name_or_path!r}{hint} (not a built-in: {', '.join(builtin_names())}; "
        "and not a .toml file)"
    )


RUN_NAME_MAX_LENGTH = 100
_RUN_NAME = re.compile(r"\w[\w.+ -]*")


def check_run_name(name: str) -> str:
    """Return ``name`` if it can name a results folder inside --out, else raise ConfigError.

    Allowed: up to RUN_NAME_MAX_LENGTH letters, digits, '_', '-', '+', '.' and spaces, starting
    with a letter, digit or '_' and not ending in a space or dot; so no path separators, no '..'
    component, no absolute path, no NUL or control characters.
    """
    if not isinstance(name, str):
        raise ConfigError(f"name: expected a string, got {name!r}")
    shown = name if len(name) <= 60 else name[:57] + "..."
    if len(name) > RUN_NAME_MAX_LENGTH:
        raise ConfigError(
            f"name: {len(name)} characters ({shown!r}); a results folder name allows at most {RUN_NAME_MAX_LENGTH}"
        )
    if not _RUN_NAME.fullmatch(name) or name[-1] in " .":
        raise ConfigError(
            f"name: {shown!r} cannot name a results folder; use letters, digits, '_', '-', '+', '.' "
            "and spaces, starting with a letter, digit or '_' (no '/', '\\', '..', NUL or control "
            "characters)"
        )
    return name


def _toml_string(text: str) -> str:
    """A TOML basic string: backslash, quote and every control character escaped, as TOML requires."""
    named = {"\\": "\\\\", '"': '\\"', "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}
    out = []
    for char in text:
        if char in named:
            out.append(named[char])
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\u{ord(char):04X}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def to_toml(config: Config) -> str:
    """The configuration as TOML text (every key, defaults filled in); ``validate(tomllib.loads(...))``
    of the result gives back an equal configuration."""

    def value(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, str):
            return _toml_string(v)
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        if isinstance(v, float):
            return repr(v) if math.isfinite(v) else ("nan" if math.isnan(v) else ("inf" if v > 0 else "-inf"))
        return repr(v)

    data = config.as_dict()
    lines = [f"{k} = {value(data[k])}" for k in SCHEMA[""]]
    for section in (s for s in SCHEMA if s):
        lines += ["", f"[{section}]"] + [f"{k} = {value(v)}" for k, v in data[section].items()]
    return "\n".join(lines) + "\n"
