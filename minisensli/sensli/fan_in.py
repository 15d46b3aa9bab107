"""Fan-in of the new units at a width site: 'random' or 'gradmax'.

random   U and c drawn as the layer's own initialisation draws its weights (uniform in
         +-1/sqrt(in)), from the generator the caller passes (seeded: reproducible).

gradmax  GradMax (Evci, van Merrienboer, Unterthiner, Vladymyrov, Pedregosa, "GradMax: Growing
         Neural Networks using Gradient Information", ICLR 2022): pick U so that the new
         fan-out weights V (held at 0) get the largest gradient, i.e. the largest multiplier.
         With c = 0 the multiplier is dL/dV = G^T act(X U^T) (G: gradients at the next
         Dense's output, X: the layer's inputs, over all examples, weighted as in
         sensitivity.py). For an activation that is linear near 0 with slope 1 (GradMax's
         assumption), act(X U^T) ~ X U^T and

             dL/dV ~ M U^T,   M = G^T X   (out x in, averaged over the data)

         Under the constraint U U^T = s^2 I (orthogonal rows of norm s; ||U||_F^2 = k s^2),
         ||M U^T||_F^2 = s^2 tr(P M^T M P^T) with P = U / s having orthonormal rows; by Ky Fan's
         maximum principle the maximum is s^2 (sigma_1^2 + ... + sigma_k^2), attained at the top-k
         right singular vectors of M. (Under the Frobenius bound alone the maximum is
         k s^2 sigma_1^2 with every row along v_1: k copies of one unit, which stay copies under
         gradient descent; the orthogonality constraint is what makes the units different.)

         Where we differ for ReLU: relu(X U^T) is not linear in U and relu'(0) = 0, so the
         surrogate above is not the ReLU multiplier. What is exact: relu(z) - relu(-z) = z, so
         M v = a(v) - a(-v), where a(u) = G^T relu(X u) is the exact multiplier of a unit with
         fan-in u. The singular directions therefore maximise exactly the multiplier of the
         *pair* of units (v, -v); we add one unit per direction and keep the sign whose exact
         multiplier is larger: ||a(s v)|| >= ||M v|| / 2 for that sign (triangle inequality).
         So for ReLU we maximise ||M U^T||_F (the linear surrogate, i.e. the pairs' multiplier)
         exactly, and the exact multiplier only up to that factor 2 per unit. The same sign
         choice is applied to every activation (tanh is odd: both signs give the same norm).

         M has rank <= r = min(in, out) (with a 2-class softmax output: rank 1): at most r
         directions carry surrogate gain. When k > r,
         units r+1..k get random fan-in as under 'random' (orthogonal rows beyond r cannot be
         ranked by the surrogate: for k >= in every tight frame U^T U = (k s^2 / in) I gives
         the same value). Row norms: s = 1/sqrt(3), the expected row norm of the layer's own
         initialisation, so 'random' and 'gradmax' units start at the same size. Bias c = 0.

The data passes use the original network only (the multipliers' closed form; see
closed_form.width_multipliers and book/derivations.md, section derivation-width-gradmax).
"""

from __future__ import annotations

import math
from typing import Any

from .. import backend
from ..nn import Module, Sequential
from .closed_form import width_multipliers
from .passes import _backward_weighted, _forward_capturing, _frozen
from .sites import Site

ROW_NORM = 1.0 / math.sqrt(3.0)  # expected row norm of uniform(+-1/sqrt(in)) weights: sqrt(in / (3 in))


def random_fan_in(model: Sequential, site: Site, rng: Any) -> tuple[Any, Any]:
    """(U, c) drawn uniform in +-1/sqrt(in) from ``rng``, as the layer's own initialisation
    (c = 0 for a layer without bias); in the dtype and on the device of the layer's weight."""
    layer = model[site.position]
    bound = 1.0 / math.sqrt(layer.in_features)
    weight = rng.uniform(-bound, bound, size=(site.neurons, layer.in_features))
    bias = rng.uniform(-bound, bound, size=(site.neurons,))
    if layer.bias is None:
        bias = bias * 0  # drawn all the same, so that later draws do not depend on the bias flag
    dtype, device = layer.weight.dtype, layer.weight.device
    return backend.to_device(weight.astype(dtype), device), backend.to_device(bias.astype(dtype), device)


def gradmax_directions(m: Any, count: int) -> Any:
    """The top ``count`` right singular vectors of m (out x in) as rows (count x in), each of
    norm ROW_NORM; count <= min(out, in)."""
    xp = backend.get_array_module(m)
    _, _, vt = xp.linalg.svd(m, full_matrices=False)
    return ROW_NORM * vt[:count]


def _site_arrays(
    model: Sequential, loader: Any, loss_fn: Module, sites: list[Site], compute: Any
) -> tuple[list[Any], int]:
    """One pass: for every batch and site, compute(j, x, g) with x the widened layer's input and
    g the gradient at the following Dense's output (weighted by the batch size); the sums
    per site, and the number of examples."""
    capture = {s.position for s in sites} | {s.position + 3 for s in sites}
    sums: list[Any] = [None] * len(sites)
    examples = batches = 0
    with _frozen(model.parameters()):
        for inputs, labels in loader:
            out, captured = _forward_capturing(model.layers, inputs, capture, with_grad=True)
            _backward_weighted(loss_fn(out, labels), batches, len(labels))
            for j, site in enumerate(sites):
                value = compute(j, captured[site.position].data, captured[site.position + 3].grad)
                sums[j] = value if sums[j] is None else sums[j] + value
            batches += 1
            examples += len(labels)
    if examples == 0:
        raise ValueError("sensitivities: the loader yielded no batch (no example to average over)")
    return sums, examples


def choose_fan_in(
    model: Sequential, loader: Any, loss_fn: Module, sites: list[Site], rng: Any
) -> dict[Site, tuple[Any, Any]]:
    """(U, c) for every width site: random ones from ``rng`` (site order), gradmax ones from two
    passes over ``loader`` (M, then the sign of each direction); see the module docstring."""
    values: dict[Site, tuple[Any, Any]] = {}
    gradmax = [s for s in sites if s.fan_in == "gradmax"]
    for site in sites:
        values[site] = random_fan_in(model, site, rng)  # also the filling of gradmax sites beyond rank
    if not gradmax:
        return values
    sums, examples = _site_arrays(model, loader, loss_fn, gradmax, lambda j, x, g: g.T @ x)
    candidates = []
    for site, total in zip(gradmax, sums):
        m = total / examples
        count = min(site.neurons, *m.shape)
        directions = gradmax_directions(m, count)
        xp = backend.get_array_module(directions)
        candidates.append(xp.concatenate([directions, -directions], axis=0))

    def exact(j: int, x: Any, g: Any) -> Any:
        zero = backend.get_array_module(x).zeros(len(candidates[j]), dtype=x.dtype)
        return width_multipliers(x, g, candidates[j], zero, gradmax[j].activation)["fan_out"]

    multipliers, _ = _site_arrays(model, loader, loss_fn, gradmax, exact)
    for site, both, a in zip(gradmax, candidates, multipliers):
        xp = backend.get_array_module(a)
        count = len(both) // 2
        norms = (a * a).sum(axis=0)
        chosen = xp.where((norms[:count] >= norms[count:])[:, None], both[:count], both[count:])
        weight, bias = values[site]
        weight[:count] = chosen
        bias[:count] = 0
        values[site] = (weight, bias)
    return values
