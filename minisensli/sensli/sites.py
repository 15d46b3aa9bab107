"""Candidate insertion sites: where SensLI may put a new layer, and of which kind.

The model is a ``nn.Sequential``; a site is a position in it (new modules go before the
module now at that position). Which positions are candidates follows the reference code:

dense           plain feed-forward net (Dense, act, Dense, act, ..., Dense): after every hidden
                Dense + activation, so L hidden layers give L sites; none before the first hidden
                layer, none after the output layer. The new layer is Dense(w, w) + the same act.
residual_dense  ResNet (Dense, act, ResidualDense, ..., ResidualDense, Dense): before every
                block and after the last one (L = 1 + #blocks sites); with no block yet, after
                the first Dense + activation. The new layer is a ResidualDense block.
conv            CNN: after every Conv2d + activation pair of the feature part (before its pooling);
                none in the dense classifier. The new layer is Conv2d(c, c, 3, padding=1) + act.
residual_conv   CNN with ResidualConv blocks: before every block and after the last one.
width           grow a hidden Dense layer wider: every Dense at position i that is followed by an
                activation and then by a Dense (so not the output layer) is a site; ``position`` is
                i, the layer whose outputs grow. The new units get fan-in U (k x in), bias c and
                fan-out V (out x k) into the next Dense, held at V = 0: the function is unchanged
                whatever U, c and the activation (see widening.py). k = ``neurons``: an int, or
                "match" (default) for the k whose k (in + 1 + out) new parameters come closest to the
                w^2 + w of a dense insertion at the same layer (at least 1). The fan-in rule is
                ``fan_in``: "random" (the layer's own initialisation, seeded) or "gradmax" (fan_in.py).

With ``kind="auto"`` the kind follows the model: residual blocks present -> the residual kind,
convolutions present -> conv, otherwise dense. Another kind can be asked for explicitly
(``residual_dense`` on a net without blocks starts a ResNet after its first layer). Several kinds
at once: ``kinds=("dense", "width")`` lists the sites of each kind, kind by kind.
"""

from __future__ import annotations

from dataclasses import dataclass

from .. import checks
from ..nn import Conv2d, Dense, ResidualConv, ResidualDense, Sequential
from ..nn.activation import ACTIVATIONS, activation_name

KINDS = ("dense", "residual_dense", "conv", "residual_conv", "width")
VARIANTS = ("v1", "v2")
FAN_IN_RULES = ("random", "gradmax")


@dataclass(frozen=True)
class Site:
    """A place where a layer can be inserted.

    position: index in the Sequential where the new modules go; width: features (dense kinds)
    or channels (conv kinds) at that point; activation: name of the activation the new layer
    uses. For residual kinds: weights (1 or 2), h (step size), variant ('v1': outer weight 0
    and inner 0.8 I; 'v2': inner 0 and outer 0.8 I; see minisensli.sensli.virtual); the
    plain kinds ignore h and variant. For width sites: position is the Dense layer that grows,
    width its current number of units, neurons the number k of units to add, fan_in the rule
    that picks their fan-in ('random' or 'gradmax').
    """

    position: int
    kind: str
    width: int
    activation: str
    weights: int | None = None  # residual kinds only: 1 or 2
    h: float = 1.0
    variant: str = "v1"
    neurons: int = 0  # width sites only: units to add
    fan_in: str = "random"  # width sites only: 'random' or 'gradmax'

    @property
    def label(self) -> str:
        return f"{self.kind}@{self.position}"

    def __str__(self) -> str:
        """'dense@2 (width 4)'; residual sites add their form: 'residual_dense@3 (width 3, 2 weights v1, h 1, tanh)'."""
        if self.kind.startswith("residual"):
            form = f"{self.weights} weights {self.variant}" if self.weights == 2 else "1 weight"
            return f"{self.label} (width {self.width}, {form}, h {self.h:g}, {self.activation})"
        if self.kind == "width":
            return f"{self.label} (width {self.width} + {self.neurons}, {self.fan_in} fan-in)"
        return f"{self.label} (width {self.width})"

    def __repr__(self) -> str:
        return f"Site({self})"

    @property
    def scored_parameter(self) -> str:
        """Name (inside the new layer) of the weight whose multiplier is the site's score."""
        if self.kind in ("dense", "conv"):
            return "weight"
        if self.kind == "width":
            return "fan_out"
        if self.weights == 2 and self.variant == "v1":
            return "outer.weight"
        return "inner.weight"


def _is_activation(module: object) -> bool:
    return type(module) in ACTIVATIONS.values()


def _hidden_pairs(model: Sequential, layer_type: type) -> list[int]:
    """Indices i where model[i] is a layer_type directly followed by an activation."""
    return [i for i in range(len(model) - 1) if isinstance(model[i], layer_type) and _is_activation(model[i + 1])]


def _width(layer: Dense | Conv2d) -> int:
    return layer.out_features if isinstance(layer, Dense) else layer.out_channels


def _plain_sites(model: Sequential, kind: str) -> list[Site]:
    layer_type = Dense if kind == "dense" else Conv2d
    sites = []
    for i in _hidden_pairs(model, layer_type):
        if kind == "dense" and not any(isinstance(m, Dense) for m in model.layers[i + 2 :]):
            continue  # the output layer: no site after it
        act = activation_name(model[i + 1])
        if act != "relu":
            raise ValueError(
                f"candidate_sites: a {kind} layer after {type(model[i + 1]).__name__} (position {i + 2}) cannot be "
                f"inserted as the identity: act(act(z)) != act(z) for {act}; SensLI's identity insertion needs ReLU "
                "(use residual blocks for other activations)"
            )
        sites.append(Site(i + 2, kind, _width(model[i]), act))
    return sites


def _width_layers(model: Sequential) -> list[int]:
    """Positions i of hidden Dense layers: model[i] Dense, model[i + 1] an activation, model[i + 2] Dense."""
    return [i for i in _hidden_pairs(model, Dense) if i + 2 < len(model) and isinstance(model[i + 2], Dense)]


def matching_neurons(inputs: int, width: int, outputs: int) -> int:
    """The k whose k (inputs + 1 + outputs) new parameters are closest to width^2 + width, the
    parameters of a dense insertion after a layer of ``width`` units (at least 1)."""
    return max(1, round((width * width + width) / (inputs + 1 + outputs)))


def added_parameters(model: Sequential, site: Site) -> int:
    """Number of trainable parameters an insertion at ``site`` adds to ``model``: k (in + 1 + out)
    for a width site, w^2 + w for a dense layer, 9 w^2 + w for a 3x3 conv layer, and for residual
    blocks one such weight per block weight plus the inner bias."""
    if site.kind == "width":
        return site.neurons * (model[site.position].in_features + 1 + model[site.position + 2].out_features)
    taps = 9 if site.kind in ("conv", "residual_conv") else 1
    weights = site.weights if site.kind.startswith("residual") and site.weights else 1
    return weights * taps * site.width * site.width + site.width


def _width_sites(model: Sequential, neurons: int | str, fan_in: str) -> list[Site]:
    sites = []
    for i in _width_layers(model):
        layer, following = model[i], model[i + 2]
        k = matching_neurons(layer.in_features, layer.out_features, following.out_features)
        k = k if neurons == "match" else int(neurons)
        sites.append(Site(i, "width", layer.out_features, activation_name(model[i + 1]), neurons=k, fan_in=fan_in))
    return sites


def _residual_sites(
    model: Sequential, kind: str, weights: int | None, activation: str | None, h: float | None, variant: str
) -> list[Site]:
    block_type, layer_type = (ResidualDense, Dense) if kind == "residual_dense" else (ResidualConv, Conv2d)
    blocks = [i for i, m in enumerate(model) if isinstance(m, block_type)]
    if blocks:
        if blocks != list(range(blocks[0], blocks[-1] + 1)):
            raise ValueError(
                f"candidate_sites: the {block_type.__name__} blocks at positions {blocks} are not "
                "consecutive; SensLI's residual sites assume one run of blocks"
            )
        first = model[blocks[0]]
        positions = list(range(blocks[0], blocks[-1] + 2))
        width = first.features if kind == "residual_dense" else first.channels
        weights = first.weights if weights is None else weights
        activation = activation_name(first.activation) if activation is None else activation
        h = first.h if h is None else h
    else:
        pairs = _hidden_pairs(model, layer_type)
        if not pairs:
            raise ValueError(
                f"candidate_sites: no {layer_type.__name__} + activation in the model to put a "
                f"{block_type.__name__} after"
            )
        positions = [pairs[0] + 2]
        width = _width(model[pairs[0]])
        activation = activation_name(model[pairs[0] + 1]) if activation is None else activation
        weights = 2 if weights is None else weights
        h = 1.0 if h is None else h
    return [Site(p, kind, width, activation, weights, float(h), variant) for p in positions]


def candidate_sites(
    model: Sequential,
    kind: str = "auto",
    weights: int | None = None,
    activation: str | None = None,
    h: float | None = None,
    variant: str = "v1",
    kinds: tuple[str, ...] | list[str] | None = None,
    neurons: int | str = "match",
    fan_in: str = "random",
) -> list[Site]:
    """Every position of ``model`` where SensLI may insert a layer, in order (see module docstring).

    weights, activation, h: settings of new residual blocks (default: those of the existing
    blocks, else 2 weights, the activation of the first layer, h = 1). variant: 'v1' or 'v2'.
    kinds: several kinds at once (their sites concatenated kind by kind; ``kind`` is then ignored).
    neurons, fan_in: settings of width sites (an int >= 1 or 'match'; 'random' or 'gradmax').
    """
    if not isinstance(model, Sequential):
        raise TypeError(f"candidate_sites: expected an nn.Sequential model, got {type(model).__name__}")
    checks.choice("candidate_sites: variant", variant, VARIANTS)
    checks.choice("candidate_sites: fan_in", fan_in, FAN_IN_RULES)
    if neurons != "match":
        checks.integer("candidate_sites: neurons", neurons, 1)
    if kinds is not None:
        if isinstance(kinds, str) or not kinds or len(set(kinds)) != len(kinds):
            raise ValueError(f"candidate_sites: kinds must be a non-empty list of distinct kinds, got {kinds!r}")
        options = {"weights": weights, "activation": activation, "h": h, "variant": variant}
        return [
            site
            for one in kinds
            for site in candidate_sites(model, one, neurons=neurons, fan_in=fan_in, **options)  # type: ignore[arg-type]
        ]
    if weights is not None:
        checks.choice("candidate_sites: weights", weights, (1, 2))
    if activation is not None:
        checks.choice("candidate_sites: activation", activation, tuple(ACTIVATIONS))
    if h is not None:
        checks.positive("candidate_sites: h", h)
    if kind == "auto":
        if any(isinstance(m, ResidualConv) for m in model):
            kind = "residual_conv"
        elif any(isinstance(m, ResidualDense) for m in model):
            kind = "residual_dense"
        elif any(isinstance(m, Conv2d) for m in model):
            kind = "conv"
        else:
            kind = "dense"
    if kind not in KINDS:
        raise ValueError(f"candidate_sites: unknown kind {kind!r}; choose 'auto' or one of {KINDS}")
    if kind in ("dense", "conv"):
        return _plain_sites(model, kind)
    if kind == "width":
        return _width_sites(model, neurons, fan_in)
    return _residual_sites(model, kind, weights, activation, h, variant)


def check_site(model: Sequential, site: Site, where: str = "site") -> None:
    """Raise unless ``site`` is one of ``model``'s candidate sites (same position, kind, width and
    activation) with possible settings (weights 1 or 2, h finite and positive, a known variant)."""
    checks.choice(f"{where}.kind", site.kind, KINDS)
    checks.choice(f"{where}.variant", site.variant, VARIANTS)
    checks.positive(f"{where}.h", site.h)
    if site.kind in ("residual_dense", "residual_conv"):
        checks.choice(f"{where}.weights", site.weights, (1, 2))
        checks.choice(f"{where}.activation", site.activation, tuple(ACTIVATIONS))
        own = candidate_sites(model, site.kind, site.weights, site.activation, site.h, site.variant)
    elif site.kind == "width":
        checks.integer(f"{where}.neurons", site.neurons, 1)
        checks.choice(f"{where}.fan_in", site.fan_in, FAN_IN_RULES)
        own = candidate_sites(model, "width", neurons=site.neurons, fan_in=site.fan_in)
    else:
        own = candidate_sites(model, site.kind)
    match = [s for s in own if s.position == site.position]
    if not match:
        raise ValueError(
            f"{where}: position {site.position} is not a {site.kind} candidate site of this model "
            f"(its sites are at {[s.position for s in own]})"
        )
    if match[0].width != site.width or match[0].activation != site.activation:
        raise ValueError(
            f"{where}: width {site.width} and activation {site.activation!r} do not match the model "
            f"at position {site.position} (width {match[0].width}, activation "
            f"{match[0].activation!r})"
        )
