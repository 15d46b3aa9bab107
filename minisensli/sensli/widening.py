"""Width insertion: k new units in a hidden Dense layer, function-preserving.

At a width site (position i; model[i] = Dense(in, w), model[i + 1] = act, model[i + 2] =
Dense(w, out)) the widened layer computes, for a batch x (n x in),

    z = x [W; U]^T + [b; c]        (n x (w + k))     the k new rows: fan-in U (k x in), bias c
    y = act(z) [W2, V]^T + b2      (n x out)          the k new columns of the next weight: V (out x k)

With V = 0 the new units' outputs are multiplied by zero, so y is the old output exactly, for
any U, c and any activation (no identity trick needed, unlike a depth insertion). The virtual
parameters are U, c and V, held at (U0, c0, 0); only V's multiplier can be nonzero at that
point (see closed_form.width_multipliers).
"""

from __future__ import annotations

from typing import Any

from .. import backend
from ..nn import Dense, Sequential
from .sites import Site


def _grown(layer: Dense, out_rows: Any = None, bias_rows: Any = None, in_columns: Any = None) -> Dense:
    """A copy of ``layer`` with rows appended to its weight (and bias), or columns to its weight."""
    xp = backend.get_array_module(layer.weight.data)
    weight = layer.weight.data
    bias = None if layer.bias is None else layer.bias.data
    if out_rows is not None:
        weight = xp.concatenate([weight, xp.asarray(out_rows, dtype=weight.dtype)], axis=0)
        if bias is not None:
            bias = xp.concatenate([bias, xp.asarray(bias_rows, dtype=bias.dtype)])
    if in_columns is not None:
        weight = xp.concatenate([weight, xp.asarray(in_columns, dtype=weight.dtype)], axis=1)
    previous = backend.init_rng()
    backend.set_init_rng(backend.new_rng(0))  # its random values are overwritten: do not consume the caller's draws
    try:
        new = Dense(weight.shape[1], weight.shape[0], bias=bias is not None)
    finally:
        backend.set_init_rng(previous)
    new.weight.data = weight.copy()
    if bias is not None and new.bias is not None:
        new.bias.data = bias.copy()
    new.to(layer.weight.device)
    return new


def check_width_values(model: Sequential, site: Site, fan_in: Any, fan_in_bias: Any) -> None:
    """Raise ValueError unless fan_in is (k, in) and fan_in_bias (k,) for the site, all finite."""
    layer = model[site.position]
    want = {"fan_in": (site.neurons, layer.in_features), "fan_in_bias": (site.neurons,)}
    for name, value in (("fan_in", fan_in), ("fan_in_bias", fan_in_bias)):
        shape = tuple(getattr(value, "shape", ()))
        if shape != want[name]:
            raise ValueError(f"{site.label}: {name} must have shape {want[name]}, got {shape}")
        if not backend.all_finite(value):
            raise ValueError(f"{site.label}: {name} is not finite")
    if layer.bias is None and bool((fan_in_bias != 0).any()):
        raise ValueError(f"{site.label}: the layer has no bias, so fan_in_bias must be 0")


def widen(model: Sequential, site: Site, fan_in: Any, fan_in_bias: Any, fan_out: Any = None) -> Sequential:
    """A new Sequential: ``model`` with site.neurons units added to layer site.position, their
    fan-in ``fan_in`` (k x in), bias ``fan_in_bias`` (k) and fan-out ``fan_out`` (out x k;
    default 0, which preserves the function). The modules other than the two changed Dense
    layers are shared with ``model`` (copy the result for independence; insert() does)."""
    check_width_values(model, site, fan_in, fan_in_bias)
    layer, following = model[site.position], model[site.position + 2]
    xp = backend.get_array_module(layer.weight.data)
    if fan_out is None:
        fan_out = xp.zeros((following.out_features, site.neurons), dtype=following.weight.dtype)
    layers = list(model.layers)
    layers[site.position] = _grown(layer, out_rows=fan_in, bias_rows=fan_in_bias)
    layers[site.position + 2] = _grown(following, in_columns=fan_out)
    return Sequential(*layers)


def widened_parameters(model: Sequential, site: Site, inputs: int, outputs: int) -> dict[str, Any]:
    """In a model widened at ``site`` (and possibly at later sites too): the Parameters holding
    the new units' values, with the index that selects them: name -> (parameter, index).
    outputs: the following layer's number of outputs before any widening (its rows beyond
    that belong to a later site's new units, not to this site's fan-out V); inputs: the
    widened layer's inputs before any widening (columns beyond belong to an earlier site)."""
    layer, following = model[site.position], model[site.position + 2]
    start = site.width
    new = slice(start, start + site.neurons)
    return {
        "fan_in": (layer.weight, (new, slice(0, inputs))),
        "fan_in_bias": (layer.bias, (new,)),  # None for a layer without bias (its c is 0)
        "fan_out": (following.weight, (slice(0, outputs), new)),
    }
