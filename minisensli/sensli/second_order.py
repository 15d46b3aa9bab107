"""An experimental second-order score: the curvature of the loss along each site's multiplier.

An extension of SensLI, not the paper's method. At a site p with virtual parameters phi_p
(identity values phi0) and multiplier G_p = dL/dphi_p (all of the layer's virtual parameters,
weight and bias), take a step against the multiplier, phi_p = phi0 - t G_p, everything else
fixed. Where the loss is twice differentiable, Taylor's formula to second order gives

    L(phi0) - L(phi0 - t G_p) ~ t s_p - t^2 kappa_p / 2,
    s_p = ||G_p||^2 (summed over the layer's parameters),
    kappa_p = G_p^T H_p G_p,  H_p = d^2 L / dphi_p^2 at phi0

(kappa_p: the curvature along the multiplier). For kappa_p > 0 the quadratic model is
largest at the step t*_p = s_p / kappa_p, where it predicts the decrease

    D_p = s_p^2 / (2 kappa_p)

(set the derivative s_p - t kappa_p to 0). For kappa_p <= 0 the model rises on the whole ray
(its derivative s_p - t kappa_p stays positive): it has no optimal step and predicts an
unbounded decrease, reported as t* = D = inf; only a measurement could say how far to go.

kappa_p costs one Hessian-vector product per site: on the network extended by that site's
virtual layer alone, one backward with create_graph=True gives g(phi) = dL/dphi with its
graph, and the gradient of <g, G_p> is H_p G_p. As for G, the loss is the mean over all data,
so with minibatches kappa_p = sum_k (n_k / N) G_p^T H_k G_p (H_k: the Hessian of batch k's
mean loss).

Limits, measured in chapter 6 of the course: at ReLU sites the loss is only piecewise smooth at
the identity. The engine differentiates with relu'(0) = 0 and relu'' = 0, so H_p sees neither
the units that the step switches on (a first-order effect, already missing from s_p) nor the
kinks crossed further along the ray; D_p can overshoot the measured decrease by a large factor.
"""

from __future__ import annotations

import math
from typing import Any

from .. import backend
from ..autograd import Tensor, grad
from ..nn import Module, Sequential
from .passes import _frozen  # the model's own parameters frozen: curvature w.r.t. the virtual ones only
from .virtual import virtual_modules


def quadratic_step(rate: float, curvature: float) -> tuple[float, float]:
    """(t*, D): the step and the decrease at the top of the model t s - t^2 kappa / 2 on t >= 0,
    for a rate s >= 0. kappa > 0: (s / kappa, s^2 / (2 kappa)); kappa <= 0: (inf, inf) when
    s > 0 (no top: the model rises on the whole ray); s = 0: (0, 0)."""
    if rate == 0:
        return 0.0, 0.0
    if curvature <= 0:
        return math.inf, math.inf
    return rate / curvature, rate * rate / (2 * curvature)


def _site_network(model: Sequential, site: Any) -> tuple[Sequential, dict[str, Tensor]]:
    """The model's own modules (shared) with the site's virtual layer inserted, and the new
    layer's parameters by name (the names of SiteScore.multipliers)."""
    reference = model.parameters()[0]
    modules = virtual_modules(site, reference.dtype, reference.device)
    layers = list(model.layers)
    layers[site.position : site.position] = modules
    return Sequential(*layers), dict(modules[0].named_parameters())


def site_curvature(model: Sequential, loader: Any, loss_fn: Module, site: Any, multipliers: dict[str, Any]) -> float:
    """kappa = G^T H G for one site: one Hessian-vector product per batch on the network extended
    by the site's virtual layer, batches weighted by their size (the Hessian of the mean loss).
    multipliers: the averaged G by parameter name inside the new layer (SiteScore.multipliers)."""
    extended, by_name = _site_network(model, site)
    if sorted(by_name) != sorted(multipliers):
        raise ValueError(
            f"site_curvature: {site.label}'s virtual layer has parameters {sorted(by_name)}, "
            f"the multipliers name {sorted(multipliers)}"
        )
    params = [by_name[n] for n in multipliers]
    directions = []
    for n, p in zip(multipliers, params):
        if tuple(multipliers[n].shape) != tuple(p.shape):
            raise ValueError(
                f"site_curvature: multiplier {n!r} has shape {multipliers[n].shape}, its parameter {p.shape}"
            )
        directions.append(Tensor(multipliers[n]))
    total, examples = 0.0, 0
    for inputs, labels in loader:
        loss = loss_fn(extended(inputs), labels)
        gs = grad(loss, params, create_graph=True, allow_unused=True)
        dot = None
        for g, d in zip(gs, directions):
            if g is not None and g.requires_grad:
                term = (g * d).sum()
                dot = term if dot is None else dot + term
        count = len(labels)
        if dot is not None:
            hv = grad(dot, params, allow_unused=True)
            total += count * sum(
                float(backend.to_numpy((h.data * d.data).sum())) for h, d in zip(hv, directions) if h is not None
            )
        examples += count
    if examples == 0:
        raise ValueError("site_curvature: the loader yielded no batch (no example to average over)")
    return total / examples


def add_second_order(model: Sequential, loader: Any, loss_fn: Module, scores: list[Any]) -> None:
    """Fill in ``curvature``, ``step`` and ``predicted_decrease`` of every SiteScore in
    ``scores`` (see the module docstring). The model's parameters and their .grad are left as
    they were."""
    width = [s.site.label for s in scores if s.site.kind == "width"]
    if width:
        raise ValueError(
            f"second order: defined for depth sites (a layer inserted as the identity), not width sites {width}"
        )
    params = model.parameters()
    saved = [p.grad for p in params]
    try:
        with _frozen(params):
            for s in scores:
                kappa = site_curvature(model, loader, loss_fn, s.site, s.multipliers)
                rate = sum(float(backend.to_numpy((g * g).sum())) for g in s.multipliers.values())
                s.curvature = kappa
                s.step, s.predicted_decrease = quadratic_step(rate, kappa)
    finally:
        for p, g in zip(params, saved):
            p.grad = g
