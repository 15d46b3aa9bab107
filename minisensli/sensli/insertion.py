"""Function-preserving insertion of one layer at a chosen site."""

from __future__ import annotations

from typing import Any

from .. import backend
from ..nn import Sequential
from .fan_in import random_fan_in
from .sites import Site, candidate_sites
from .virtual import virtual_modules
from .widening import widen


def insert(model: Sequential, site: Site, values: dict[str, Any] | None = None, seed: Any = 0) -> Sequential:
    """A new model: a deep copy of ``model`` with the site's layer inserted at its identity
    values (trainable). The network computes the same function as before.

    Width sites add site.neurons units to the layer at site.position instead, with fan-out 0
    and the fan-in ``values`` = {'fan_in': U (k x in), 'fan_in_bias': c (k)}: the values the
    multipliers were computed at (SiteScore.values). Without values, a 'random' width site
    draws them as fan_in.random_fan_in does from a generator seeded with ``seed``; a 'gradmax'
    one needs them (they come from the data).

    ``model`` is never changed, also when the site does not fit it (then a ValueError names
    the site and lists the valid ones).
    """
    if not isinstance(model, Sequential):
        raise TypeError(f"insert: expected an nn.Sequential model, got {type(model).__name__}")
    if not isinstance(site, Site):
        raise TypeError(f"insert: expected a Site (from sensli.candidate_sites), got {type(site).__name__}")
    block_options: dict[str, Any] = {"weights": site.weights, "h": site.h, "activation": site.activation}
    if site.kind.startswith("residual"):
        valid = candidate_sites(model, kind=site.kind, variant=site.variant, **block_options)
    elif site.kind == "width":
        if not isinstance(site.neurons, int) or site.neurons < 1:
            raise ValueError(f"insert: {site} must add at least one unit, got neurons={site.neurons!r}")
        valid = candidate_sites(model, kind="width", neurons=site.neurons, fan_in=site.fan_in)
    else:
        valid = candidate_sites(model, kind=site.kind, variant=site.variant)
    if site not in valid:
        raise ValueError(
            f"insert: {site} does not fit this model; valid {site.kind} sites are "
            f"{[f'{s.label} (width {s.width}, {s.activation})' for s in valid]}"
        )
    if site.kind == "width":
        return _insert_width(model, site, values, seed)
    reference = model.parameters()[0]
    modules = virtual_modules(site, reference.dtype, reference.device)
    return model.copy().with_inserted(site.position, *modules)


def _insert_width(model: Sequential, site: Site, values: dict[str, Any] | None, seed: Any) -> Sequential:
    if values is None:
        if site.fan_in != "random":
            raise ValueError(
                f"insert: {site} takes its fan-in from the data; pass values=score.values from sensli.sensitivities"
            )
        weight, bias = random_fan_in(model, site, backend.new_rng(seed))
    else:
        if not isinstance(values, dict) or set(values) != {"fan_in", "fan_in_bias"}:
            raise ValueError(f"insert: values for {site} must be a dict with keys 'fan_in' and 'fan_in_bias'")
        weight, bias = values["fan_in"], values["fan_in_bias"]
    copied: Any = model.copy()
    return widen(copied, site, weight, bias)
