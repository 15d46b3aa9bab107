"""Sensitivities: the Lagrange multipliers of the virtual layers, and their scores.

For each candidate site p with virtual parameters phi_p held at their identity values phi0,
the multiplier is the loss gradient dL/dphi_p at phi0 (up to sign). One pass over the
training data without any update computes, per virtual parameter,

    G_p = sum_k (n_k / N) dl_k/dphi_p   (l_k = batch-mean loss of minibatch k of n_k examples,
                                         N = sum_k n_k: the gradient of the mean loss over all data)

(averaging before any squaring), and the site's score is a norm of the G of its relevant
weight (see norms.py; bias multipliers are kept but not scored). Weighting each batch by its
size makes G independent of the order and the batching of the loader: a shuffled loader whose
last batch is short gives the same scores as an unshuffled one, up to round-off. When all
batches have the same size this is the reference's plain average (1/K) sum_k dl_k/dphi_p.
Two independent ways:

method="autograd"     build the fully extended network (the model's own modules with every
                      virtual layer interleaved) and backpropagate through it;
method="closed_form"  run only the original network, keep at each site the activation x entering
                      it and its gradient d, and apply the formula of the site's kind
                      (closed_form.py).
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from .. import backend
from ..autograd import Tensor
from ..nn import Conv2d, CrossEntropyLoss, Dense, Module, ResidualConv, ResidualDense, Sequential
from ..train import NonFiniteLossError
from .closed_form import forward_columns, site_multipliers
from .norms import NORMS, default_norm, score
from .sites import Site, candidate_sites, check_site
from .virtual import virtual_modules

METHODS = ("closed_form", "autograd")


@dataclass
class SiteScore:
    """One candidate site's result.

    score: the site's score under ``norm``; scaled_score: ||G||_F^2 / entries of the scored
    weight (used by the threshold rule); multipliers: the averaged gradient G of every virtual
    parameter, by name inside the new layer; feature_shape: (H, W) at conv sites, else None.
    """

    site: Site
    score: float
    norm: str
    scaled_score: float
    multipliers: dict[str, Any] = field(repr=False)
    feature_shape: tuple[int, int] | None = None

    @property
    def kind(self) -> str:
        return self.site.kind

    def __repr__(self) -> str:
        return f"SiteScore({self.site}: score {self.score:.4g} [{self.norm}], scaled {self.scaled_score:.4g})"


class SensitivityResult(list):
    """A list of SiteScore, one per candidate site, in site order, plus:

    existing: scaled scores (||G||_F^2 / entries) of the existing weights of the same kind,
    by parameter name (for the threshold rule), or None when not asked for
    (score_existing=False); method, batches, examples (N, the weight of the average), seconds.
    """

    def __init__(
        self,
        scores: list[SiteScore],
        existing: dict[str, float] | None,
        method: str,
        batches: int,
        seconds: float,
        examples: int | None = None,
    ) -> None:
        super().__init__(scores)
        self.existing = existing
        self.method = method
        self.batches = batches
        self.examples = examples
        self.seconds = seconds

    def scores(self) -> list[float]:
        return [s.score for s in self]

    def __repr__(self) -> str:
        """A table: one row per site with its score and scaled score, the largest marked."""
        batches = f"{self.batches} batch{'es' if self.batches != 1 else ''}"
        head = f"SensitivityResult: {len(self)} sites, {self.method}, {batches}, {self.seconds:.3g} s"
        if not self:
            return head
        best = max(range(len(self)), key=lambda i: self[i].score)
        names = [str(s.site) for s in self]
        width = max(len(n) for n in names + ["site"])
        rows = [f"  {'site':<{width}}  {'score':>10}  {'scaled':>10}  norm"]
        for i, (name, s) in enumerate(zip(names, self)):
            mark = "  <- largest" if i == best and len(self) > 1 else ""
            rows.append(f"  {name:<{width}}  {s.score:>10.4g}  {s.scaled_score:>10.4g}  {s.norm}{mark}")
        if self.existing:
            rows.append("  existing weights (scaled): " + ", ".join(f"{k} {v:.3g}" for k, v in self.existing.items()))
        return "\n".join([head, *rows])

    __str__ = __repr__


def existing_weights(model: Sequential, kind: str, scored_parameter: str) -> dict[str, Any]:
    """The model's weights that play the role of the virtual weight at sites of ``kind``:
    all Dense (dense) or Conv2d (conv) weights, or the scored weight of each residual block."""
    out = {}
    for i, module in enumerate(model):
        if kind == "dense" and isinstance(module, Dense) or kind == "conv" and isinstance(module, Conv2d):
            out[f"{i}.weight"] = module.weight
        elif (
            kind == "residual_dense"
            and isinstance(module, ResidualDense)
            or kind == "residual_conv"
            and isinstance(module, ResidualConv)
        ):
            params = dict(module.named_parameters())
            if scored_parameter in params:
                out[f"{i}.{scored_parameter}"] = params[scored_parameter]
    return out


def _forward_capturing(
    layers: list[Module], x: Tensor, capture: set[int], with_grad: bool, outputs: dict[int, Tensor] | None = None
) -> tuple[Tensor, dict[int, Tensor]]:
    """Run the layers and keep the tensors entering the layers in ``capture`` (an index equal to
    len(layers) means the output). with_grad: their gradients are kept by the next backward;
    where nothing before a captured tensor needs a gradient, the graph starts there (as a leaf).
    outputs: if given, receives the output of each layer in ``capture``."""
    captured = {}
    h = x
    for i, layer in enumerate(layers):
        if i in capture:
            if with_grad:
                h = h.retain_grad() if h.requires_grad else h.detach().requires_grad_()
            captured[i] = h
        h = layer(h)
        if outputs is not None and i in capture:
            outputs[i] = h
    if len(layers) in capture:
        captured[len(layers)] = h.retain_grad() if with_grad else h
    return h, captured


@contextlib.contextmanager
def _frozen(params: list[Any]) -> Iterator[None]:
    """Parameters stop requiring gradients inside the block (restored afterwards), so that
    backward skips their weight gradients when only the multipliers are wanted."""
    flags = [p.requires_grad for p in params]
    for p in params:
        p.requires_grad = False
    try:
        yield
    finally:
        for p, flag in zip(params, flags):
            p.requires_grad = flag


def _validate(model: Any, sites: list[Site], method: str, norm: str | None) -> None:
    if not isinstance(model, Sequential):
        raise TypeError(f"sensitivities: expected an nn.Sequential model, got {type(model).__name__}")
    if method not in METHODS:
        raise ValueError(f"sensitivities: method must be one of {METHODS}, got {method!r}")
    if norm is not None and norm not in NORMS:
        raise ValueError(f"sensitivities: norm must be one of {NORMS} or None, got {norm!r}")
    if not sites:
        raise ValueError("sensitivities: the model has no candidate site")
    for i, site in enumerate(sites):
        if not isinstance(site, Site):
            raise TypeError(f"sensitivities: sites[{i}] is a {type(site).__name__}, expected a Site")
    if len({s.kind for s in sites}) != 1 or len({s.position for s in sites}) != len(sites):
        raise ValueError("sensitivities: sites must share one kind and have distinct positions")
    for i, site in enumerate(sites):
        check_site(model, site, f"sensitivities: sites[{i}]")


def sensitivities(
    model: Sequential,
    loader: Any,
    loss_fn: Module | None = None,
    method: str = "closed_form",
    sites: list[Site] | None = None,
    norm: str | None = None,
    score_existing: bool = False,
    **site_options: Any,
) -> SensitivityResult:
    """Score every candidate site of ``model`` over one pass of ``loader`` (no parameter update).

    sites: the sites to score (default ``candidate_sites(model, **site_options)``).
    norm: 'fro', 'fro_scaled' or 'spectral' (default per kind: see norms.default_norm).
    score_existing: also average the gradients of the existing weights of the same kind (the
    threshold rule needs them); without it the pass skips every existing weight gradient.
    The model's parameters and their ``.grad`` are left as they were.

    Each batch counts with its number of examples (see the module docstring), so the scores
    do not depend on the loader's order or batch size. A batch whose loss is NaN or infinite,
    or multipliers that are not finite (non-finite inputs or weights), raise a ValueError
    rather than scores that a selection rule would rank.
    """
    if sites is not None:
        sites = list(sites)
    else:
        try:
            sites = candidate_sites(model, **site_options)
        except (TypeError, ValueError) as err:  # name this function's setting, not the one it passes it to
            raise type(err)(str(err).replace("candidate_sites: ", "sensitivities: ", 1)) from None
    _validate(model, sites, method, norm)
    loss_fn = loss_fn or CrossEntropyLoss()
    kind = sites[0].kind
    norm = norm or default_norm(kind)
    params = model.parameters()
    saved_grads = [p.grad for p in params]
    run_pass = _closed_form_pass if method == "closed_form" else _autograd_pass
    start = time.perf_counter()
    try:
        for p in params:
            p.grad = None
        with contextlib.nullcontext() if score_existing else _frozen(params):
            sums, shapes, batches, examples = run_pass(model, loader, loss_fn, sites)
        if batches == 0 or examples == 0:
            raise ValueError("sensitivities: the loader yielded no batch (no example to average over)")
        existing_scores = None
        if score_existing:
            existing = existing_weights(model, kind, sites[0].scored_parameter)
            existing_scores = {
                name: score(p.grad / examples, "fro_scaled") if p.grad is not None else 0.0
                for name, p in existing.items()
            }
    finally:
        for p, g in zip(params, saved_grads):
            p.grad = g
    results = []
    for site, total, shape in zip(sites, sums, shapes):
        averaged = {name: g / examples for name, g in total.items()}
        for name, g in averaged.items():
            if not backend.all_finite(g):
                raise ValueError(
                    f"sensitivities: the multiplier {name!r} at site {site.label} is not finite "
                    "(non-finite inputs or weights?)"
                )
        weight = averaged[site.scored_parameter]
        results.append(SiteScore(site, score(weight, norm, shape), norm, score(weight, "fro_scaled"), averaged, shape))
    return SensitivityResult(results, existing_scores, method, batches, time.perf_counter() - start, examples)


def _backward_weighted(loss: Tensor, batch: int, count: int) -> None:
    """Backpropagate ``count`` times the batch-mean loss: the gradients add up to sum_k n_k dl_k
    (divided by N at the end). A non-finite loss stops the pass, naming the batch."""
    value = loss.item()
    if not math.isfinite(value):
        raise NonFiniteLossError(
            f"sensitivities: the loss of batch {batch} is {value} (non-finite inputs or weights?)", step=batch
        )
    loss.backward(float(count))


def _accumulate(total: dict[str, Any], grads: dict[str, Any]) -> None:
    for name, g in grads.items():
        total[name] = g if name not in total else total[name] + g


def _feature_shape(site: Site, x: Tensor) -> tuple[int, int] | None:
    return tuple(x.shape[2:]) if site.kind in ("conv", "residual_conv") else None


def _closed_form_pass(
    model: Sequential, loader: Any, loss_fn: Module, sites: list[Site]
) -> tuple[list[dict], list, int, int]:
    sums: list[dict[str, Any]] = [{} for _ in sites]
    shapes: list[Any] = [None] * len(sites)
    batches = examples = 0
    positions = {s.position for s in sites}
    for inputs, labels in loader:
        outputs: dict[int, Tensor] = {}
        out, captured = _forward_capturing(model.layers, inputs, positions, with_grad=True, outputs=outputs)
        cols = {p: forward_columns(model.layers[p], outputs[p]) for p in outputs}
        # the formulas are linear in the gradient d, so weighting the loss weights the multipliers
        _backward_weighted(loss_fn(out, labels), batches, len(labels))
        for j, site in enumerate(sites):
            x = captured[site.position]
            _accumulate(sums[j], site_multipliers(site, x.data, x.grad, cols.get(site.position)))
            shapes[j] = _feature_shape(site, x)
        batches += 1
        examples += len(labels)
    return sums, shapes, batches, examples


def extended_model(model: Sequential, sites: list[Site]) -> tuple[Sequential, list[list[Module]]]:
    """The fully extended network: the model's own modules (shared, not copied) with the
    virtual layer of every site interleaved. Returns it and the virtual modules per site."""
    reference = model.parameters()[0]
    virtual = [virtual_modules(s, reference.dtype, reference.device) for s in sites]
    layers = list(model.layers)
    for site, modules in sorted(zip(sites, virtual), key=lambda pair: -pair[0].position):
        layers[site.position : site.position] = modules
    return Sequential(*layers), virtual


def _autograd_pass(
    model: Sequential, loader: Any, loss_fn: Module, sites: list[Site]
) -> tuple[list[dict], list, int, int]:
    extended, virtual = extended_model(model, sites)
    entry_index = {}
    for j, modules in enumerate(virtual):
        entry_index[j] = next(i for i, m in enumerate(extended.layers) if m is modules[0])
    shapes: list[Any] = [None] * len(sites)
    batches = examples = 0
    for inputs, labels in loader:
        out, captured = _forward_capturing(extended.layers, inputs, set(entry_index.values()), with_grad=False)
        _backward_weighted(loss_fn(out, labels), batches, len(labels))
        for j, site in enumerate(sites):
            shapes[j] = _feature_shape(site, captured[entry_index[j]])
        batches += 1
        examples += len(labels)
    sums = [
        {name: p.grad if p.grad is not None else p.data * 0 for name, p in modules[0].named_parameters()}
        for modules in virtual
    ]
    return sums, shapes, batches, examples
