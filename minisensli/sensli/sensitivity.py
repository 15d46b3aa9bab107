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
import time
from dataclasses import dataclass, field
from typing import Any

from .. import backend
from ..autograd import Tensor
from ..nn import Conv2d, CrossEntropyLoss, Dense, Module, ReLU, ResidualConv, ResidualDense, Sequential
from .closed_form import forward_columns, site_multipliers, width_multipliers
from .fan_in import choose_fan_in
from .norms import SITE_SCORES, default_norm, score
from .passes import SamePassOrder, _backward_weighted, _forward_capturing, _frozen
from .second_order import add_second_order
from .sites import Site, added_parameters, candidate_sites, check_site
from .virtual import virtual_modules
from .widening import widen, widened_parameters

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
    values: dict[str, Any] | None = field(default=None, repr=False)
    added_parameters: int = 0
    decrease: float = 0.0
    # second_order=True only (experimental, second_order.py): G^T H G, the optimal step, the predicted decrease
    curvature: float | None = None
    step: float | None = None
    predicted_decrease: float | None = None

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


def _validate(model: Any, sites: list[Site], method: str, norm: str | None) -> None:
    if not isinstance(model, Sequential):
        raise TypeError(f"sensitivities: expected an nn.Sequential model, got {type(model).__name__}")
    if method not in METHODS:
        raise ValueError(f"sensitivities: method must be one of {METHODS}, got {method!r}")
    if norm is not None and norm not in SITE_SCORES:
        raise ValueError(f"sensitivities: norm must be one of {SITE_SCORES} or None, got {norm!r}")
    if not sites:
        raise ValueError("sensitivities: the model has no candidate site")
    for i, site in enumerate(sites):
        if not isinstance(site, Site):
            raise TypeError(f"sensitivities: sites[{i}] is a {type(site).__name__}, expected a Site")
    if len({(s.kind, s.position) for s in sites}) != len(sites):
        raise ValueError("sensitivities: two sites of the same kind at the same position")
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
    fan_in_seed: Any = 0,
    second_order: bool = False,
    **site_options: Any,
) -> SensitivityResult:
    """Score every candidate site of ``model`` over one pass of ``loader`` (no parameter update).

    sites: the sites to score (default ``candidate_sites(model, **site_options)``).
    norm: 'fro', 'fro_scaled', 'spectral' or 'per_parameter' (default per kind: see
    norms.default_norm; 'per_parameter' when the sites are of several kinds).
    Sites may be of several kinds (e.g. dense and width): each kind gets its own pass.
    fan_in_seed: seed (or numpy Generator) of the random fan-in of width sites (fan_in.py).
    score_existing: also average the gradients of the existing weights of the same kind (the
    threshold rule needs them); without it the pass skips every existing weight gradient.
    The model's parameters and their ``.grad`` are left as they were.

    Each batch counts with its number of examples (see the module docstring), so the scores
    do not depend on the loader's order or batch size. A batch whose loss is NaN or infinite,
    or multipliers that are not finite (non-finite inputs or weights), raise a ValueError
    rather than scores that a selection rule would rank.

    second_order (experimental, not the paper's method; depth sites only): also fill in each
    SiteScore's ``curvature`` kappa = G^T H G along the multiplier G (all of the layer's virtual
    parameters; H: the Hessian of the mean loss w.r.t. them at the identity, one Hessian-vector
    product per site and batch), ``step`` t* = ||G||^2 / kappa and ``predicted_decrease``
    ||G||^4 / (2 kappa), the top of the quadratic model t ||G||^2 - t^2 kappa / 2 of the decrease
    along -G; both are inf when kappa <= 0 (no top). See second_order.py and book/derivations.md.
    """
    if sites is not None:
        sites = list(sites)
    else:
        try:
            sites = candidate_sites(model, **site_options)
        except (TypeError, ValueError) as err:  # name this function's setting, not the one it passes it to
            raise type(err)(str(err).replace("candidate_sites: ", "sensitivities: ", 1)) from None
    _validate(model, sites, method, norm)
    kinds = list(dict.fromkeys(s.kind for s in sites))
    if score_existing and (len(kinds) > 1 or kinds == ["width"]):
        raise ValueError(
            f"sensitivities: score_existing (the threshold rule) compares sites with the existing weights of "
            f"one depth kind; it is not defined for the kinds {kinds}"
        )
    loss_fn = loss_fn or CrossEntropyLoss()
    norm = norm or (default_norm(kinds[0]) if len(kinds) == 1 else "per_parameter")
    params = model.parameters()
    saved_grads = [p.grad for p in params]
    start = time.perf_counter()
    loader = SamePassOrder(loader)  # several passes move a shuffling loader's order as one pass
    found: dict[int, tuple[dict, Any, dict | None]] = {}
    existing_scores = None
    try:
        for kind in kinds:
            group = [j for j, site in enumerate(sites) if site.kind == kind]
            group_sites = [sites[j] for j in group]
            for p in params:
                p.grad = None
            values: list[dict | None] = [None] * len(group)
            with contextlib.nullcontext() if score_existing else _frozen(params):
                if kind == "width":
                    chosen = choose_fan_in(model, loader, loss_fn, group_sites, backend.new_rng(fan_in_seed))
                    values = [{"fan_in": chosen[s][0], "fan_in_bias": chosen[s][1]} for s in group_sites]
                    run = _width_closed_form_pass if method == "closed_form" else _width_autograd_pass
                    sums, shapes, batches, examples = run(model, loader, loss_fn, group_sites, values)
                else:
                    run_pass = _closed_form_pass if method == "closed_form" else _autograd_pass
                    sums, shapes, batches, examples = run_pass(model, loader, loss_fn, group_sites)
            if batches == 0 or examples == 0:
                raise ValueError("sensitivities: the loader yielded no batch (no example to average over)")
            for j, total, shape, value in zip(group, sums, shapes, values):
                found[j] = ({name: g / examples for name, g in total.items()}, shape, value)
            if score_existing:
                existing = existing_weights(model, kind, sites[0].scored_parameter)
                existing_scores = {
                    name: score(p.grad / examples, "fro_scaled") if p.grad is not None else 0.0
                    for name, p in existing.items()
                }
    finally:
        loader.finish()
        for p, g in zip(params, saved_grads):
            p.grad = g
    results = []
    for j, site in enumerate(sites):
        averaged, shape, value = found[j]
        for name, g in averaged.items():
            if not backend.all_finite(g):
                raise ValueError(
                    f"sensitivities: the multiplier {name!r} at site {site.label} is not finite "
                    "(non-finite inputs or weights?)"
                )
        weight = averaged[site.scored_parameter]
        added = added_parameters(model, site)
        decrease = sum(score(g, "fro") for g in averaged.values())
        value_of_score = decrease / added if norm == "per_parameter" else score(weight, norm, shape)
        results.append(
            SiteScore(site, value_of_score, norm, score(weight, "fro_scaled"), averaged, shape, value, added, decrease)
        )
    if second_order:
        add_second_order(model, loader, loss_fn, results)
    return SensitivityResult(results, existing_scores, method, batches, time.perf_counter() - start, examples)


def _accumulate(total: dict[str, Any], grads: dict[str, Any]) -> None:
    for name, g in grads.items():
        total[name] = g if name not in total else total[name] + g


def _feature_shape(site: Site, x: Tensor) -> tuple[int, int] | None:
    return (int(x.shape[2]), int(x.shape[3])) if site.kind in ("conv", "residual_conv") else None


def _relu_fed(model: Sequential, sites: list[Site]) -> set[int]:
    """Positions p of the dense and conv sites whose layer p - 1 is a ReLU. Their formulas want
    the masked gradient d * 1[x > 0] at x = relu(z): exactly what the ReLU's own backward
    computes for its input z (grad * (out > 0)), so the pass takes the gradient at z instead of
    masking d again."""
    plain = ("dense", "conv")
    return {s.position for s in sites if s.kind in plain and s.position > 0 and type(model[s.position - 1]) is ReLU}


def _closed_form_pass(
    model: Sequential, loader: Any, loss_fn: Module, sites: list[Site]
) -> tuple[list[dict], list, int, int]:
    """The multipliers of every site, batch by batch, from the original network: each site's
    input x and the gradient d there, or for a site right after a ReLU the gradient at the
    ReLU's input, d * 1[x > 0] (see _relu_fed)."""
    sums: list[dict[str, Any]] = [{} for _ in sites]
    shapes: list[Any] = [None] * len(sites)
    batches = examples = 0
    positions = {s.position for s in sites}
    relu_fed = _relu_fed(model, sites)
    with_grad = {p - 1 if p in relu_fed else p for p in positions}
    for inputs, labels in loader:
        outputs: dict[int, Tensor] = {}
        out, captured = _forward_capturing(model.layers, inputs, with_grad, True, outputs, keep=positions)
        cols = {p: forward_columns(model.layers[p], outputs[p]) for p in outputs}
        # the formulas are linear in the gradient d, so weighting the loss weights the multipliers
        _backward_weighted(loss_fn(out, labels), batches, len(labels))
        # sites with forward columns first: once used, those columns are the scratch in which
        # the next conv sites build theirs (no new memory for them in every minibatch)
        scratch = None
        for j in sorted(range(len(sites)), key=lambda j: cols.get(sites[j].position) is None):
            p = sites[j].position
            x, used = captured[p], cols.get(p)
            d, masked = (None, captured[p - 1].grad) if p in relu_fed else (x.grad, None)
            _accumulate(sums[j], site_multipliers(sites[j], x.data, d, used, masked, scratch))
            if used is not None and (scratch is None or used.size > scratch.size):
                scratch = used
            shapes[j] = _feature_shape(sites[j], x)
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


def _width_closed_form_pass(
    model: Sequential, loader: Any, loss_fn: Module, sites: list[Site], values: list[Any]
) -> tuple[list[dict], list, int, int]:
    """Width multipliers from the original network: x at the widened layer's input, g at the
    following Dense's output (closed_form.width_multipliers)."""
    sums: list[dict[str, Any]] = [{} for _ in sites]
    batches = examples = 0
    capture = {s.position for s in sites} | {s.position + 3 for s in sites}
    for inputs, labels in loader:
        out, captured = _forward_capturing(model.layers, inputs, capture, with_grad=True)
        _backward_weighted(loss_fn(out, labels), batches, len(labels))
        for j, site in enumerate(sites):
            x, g = captured[site.position].data, captured[site.position + 3].grad
            grads = width_multipliers(x, g, values[j]["fan_in"], values[j]["fan_in_bias"], site.activation)
            _accumulate(sums[j], grads)
        batches += 1
        examples += len(labels)
    return sums, [None] * len(sites), batches, examples


def widened_model(model: Sequential, sites: list[Site], values: list[Any]) -> Sequential:
    """The fully widened network: every width site's units added (fan-out 0), widest position
    first so that each site's U and V keep their shapes; shares the unchanged modules."""
    widened = model
    for site, value in sorted(zip(sites, values), key=lambda pair: -pair[0].position):
        widened = widen(widened, site, value["fan_in"], value["fan_in_bias"])
    return widened


def _width_autograd_pass(
    model: Sequential, loader: Any, loss_fn: Module, sites: list[Site], values: list[Any]
) -> tuple[list[dict], list, int, int]:
    """Width multipliers by backpropagation through the widened network: the gradients of the
    new rows of the widened layer and of the new columns of the following one."""
    widened = widened_model(model, sites, values)
    batches = examples = 0
    for inputs, labels in loader:
        _backward_weighted(loss_fn(widened(inputs), labels), batches, len(labels))
        batches += 1
        examples += len(labels)
    sums = []
    for site in sites:
        inputs_before, outputs_before = model[site.position].in_features, model[site.position + 2].out_features
        parts = widened_parameters(widened, site, inputs_before, outputs_before)
        grads = {}
        for name, (p, index) in parts.items():
            if p is None:  # no bias in the layer: c is held at 0 and its multiplier is 0
                weight = model[site.position].weight
                grads[name] = backend.get_array_module(weight.data).zeros(site.neurons, dtype=weight.dtype)
            else:
                grads[name] = p.grad[index] if p.grad is not None else p.data[index] * 0
        sums.append(grads)
    return sums, [None] * len(sites), batches, examples
