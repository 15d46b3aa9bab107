"""Virtual layers: new layers whose parameters make them the identity map.

dense          Dense(w, w) with weight I and bias 0, then ReLU. Exact because its input is a
               ReLU output (a >= 0) and relu(a) = a there.
conv           Conv2d(c, c, 3, padding=1) with the dirac kernel (K[o, i, 1, 1] = 1 if o == i)
               and bias 0, then ReLU: the centre tap copies each channel, zero padding never
               mixes pixels, and the input is non-negative.
residual, v1   two weights: outer W2 = 0 (the branch is cut), inner W1 = 0.8 I, b = 0.
               Exact for any activation. 0.8 I rather than 0 keeps dL/dW2 = h d^T act(0.8 x)
               nonzero for tanh (act(0) = 0 would make it vanish); 0.8 is the reference's choice.
residual, v2   two weights: inner W1 = 0, b = 0, outer W2 = 0.8 I. Exact only if act(0) = 0.
residual, one weight: W = 0, b = 0. Exact only if act(0) = 0.
The convolutional residual blocks use 0.8 * dirac where the dense ones use 0.8 I.
"""

from __future__ import annotations

from typing import Any

from .. import backend
from ..autograd import no_grad
from ..nn import Conv2d, Dense, Module, ResidualConv, ResidualDense, init
from ..nn.activation import activation_from_name
from .sites import Site

INNER_SCALE = 0.8  # the reference's scale of the identity in residual blocks
ACT_AT_ZERO = {"relu": 0.0, "tanh": 0.0, "sigmoid": 0.5}
ACT_SLOPE_AT_ZERO = {"relu": 0.0, "tanh": 1.0, "sigmoid": 0.25}  # relu'(0) = 0 by convention


def _set(param: Any, values: Any) -> None:
    """Overwrite a parameter's values (keeping its dtype and device)."""
    with no_grad():
        param.data = backend.to_device(values, param.device).astype(param.dtype)


def _identity_values(layer: Module, scale: float = 1.0) -> Any:
    """scale * identity weight for a square Dense (I) or Conv2d (dirac kernel)."""
    if isinstance(layer, Dense):
        return init.identity(layer.out_features, scale).data
    assert isinstance(layer, Conv2d), f"identity values of a {type(layer).__name__}"
    return init.dirac(layer.out_channels, layer.kernel_size).data * scale


def _zero(param: Any) -> None:
    _set(param, param.data * 0)


def check_function_preserving(site: Site) -> None:
    """Raise ValueError when the site's new layer cannot be the identity."""
    needs_zero_at_zero = site.kind.startswith("residual") and (site.weights == 1 or site.variant == "v2")
    if needs_zero_at_zero and ACT_AT_ZERO[site.activation] != 0:
        form = "one-weight" if site.weights == 1 else "two-weight v2"
        raise ValueError(
            f"{site.label}: a {form} residual block with {site.activation} is not the identity "
            f"(act(0) = {ACT_AT_ZERO[site.activation]} != 0); use the v1 variant or tanh/relu"
        )
    if site.kind in ("dense", "conv") and site.activation != "relu":
        raise ValueError(f"{site.label}: identity insertion of a {site.kind} layer needs ReLU, got {site.activation}")


def virtual_modules(site: Site, dtype: Any, device: str = "cpu") -> list[Module]:
    """The modules to insert at ``site``, set to their function-preserving values, with
    parameters of ``dtype`` on ``device`` (trainable: the caller decides whether to freeze)."""
    check_function_preserving(site)
    previous, previous_rng = backend.get_default_dtype(), backend.init_rng()
    backend.set_default_dtype(dtype)
    # the layers' random initial values are overwritten: draw them from a throwaway generator so
    # that an insertion does not shift the weights of layers created after it under the same seed
    backend.set_init_rng(backend.new_rng(0))
    try:
        modules = _build(site)
    finally:
        backend.set_default_dtype(previous)
        backend.set_init_rng(previous_rng)
    for m in modules:
        m.to(device)
    return modules


def _build(site: Site) -> list[Module]:
    if site.kind in ("dense", "conv"):
        layer = Dense(site.width, site.width) if site.kind == "dense" else Conv2d(site.width, site.width, 3, padding=1)
        _set(layer.weight, _identity_values(layer))
        _zero(layer.bias)
        return [layer, activation_from_name(site.activation)]
    block_type = ResidualDense if site.kind == "residual_dense" else ResidualConv
    assert site.weights is not None, "a residual site says how many weights its branch has"
    block = block_type(site.width, weights=site.weights, activation=site.activation, h=site.h)
    inner: Any = block.inner  # Dense or Conv2d, by the block's kind
    outer: Any = getattr(block, "outer", None)  # a one-weight block has no outer layer
    _zero(inner.bias)
    if site.weights == 1:
        _zero(inner.weight)
    elif site.variant == "v1":
        _zero(outer.weight)
        _set(inner.weight, _identity_values(inner, INNER_SCALE))
    else:
        _zero(inner.weight)
        _set(outer.weight, _identity_values(outer, INNER_SCALE))
    return [block]
