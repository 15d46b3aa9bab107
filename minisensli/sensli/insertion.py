"""Function-preserving insertion of one layer at a chosen site."""

from __future__ import annotations

from ..nn import Sequential
from .sites import Site, candidate_sites
from .virtual import virtual_modules


def insert(model: Sequential, site: Site) -> Sequential:
    """A new model: a deep copy of ``model`` with the site's layer inserted at its identity
    values (trainable). The network computes the same function as before.

    ``model`` is never changed, also when the site does not fit it (then a ValueError names
    the site and lists the valid ones).
    """
    if not isinstance(model, Sequential):
        raise TypeError(f"insert: expected an nn.Sequential model, got {type(model).__name__}")
    if not isinstance(site, Site):
        raise TypeError(f"insert: expected a Site (from sensli.candidate_sites), got {type(site).__name__}")
    block_options = {"weights": site.weights, "h": site.h, "activation": site.activation}
    valid = candidate_sites(
        model, kind=site.kind, variant=site.variant, **(block_options if site.kind.startswith("residual") else {})
    )
    if site not in valid:
        raise ValueError(
            f"insert: {site} does not fit this model; valid {site.kind} sites are "
            f"{[f'{s.label} (width {s.width}, {s.activation})' for s in valid]}"
        )
    reference = model.parameters()[0]
    modules = virtual_modules(site, reference.dtype, reference.device)
    return model.copy().with_inserted(site.position, *modules)
