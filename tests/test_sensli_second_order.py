"""The experimental second-order score (sensli/second_order.py): G^T H G against an explicit
Hessian, the quadratic model's step and decrease, the selection rule, and grow with it."""

import math

import numpy as np
import pytest

import minisensli as ms
from minisensli import nn, sensli
from minisensli.nn import CrossEntropyLoss
from minisensli.sensli.second_order import _site_network, quadratic_step
from tests.sensli_cases import make_loader, make_model


def explicit_curvature(model, loader, site, multipliers):
    """G^T H G with H from ms.hessian of the mean loss over all data w.r.t. the virtual layer's
    parameters (the parameters are swapped for the Hessian's leaves while it runs)."""
    extended, by_name = _site_network(model, site)
    layer = next(m for m in extended.layers if any(p is by_name[n] for n in by_name for p in m.parameters()))
    names = list(multipliers)
    batches = list(loader)
    total = sum(len(labels) for _, labels in batches)

    def mean_loss(*leaves):
        owners = {}
        for name, leaf in zip(names, leaves):
            *path, attr = name.split(".")
            owner = layer
            for part in path:
                owner = getattr(owner, part)
            owners[name] = (owner, attr, getattr(owner, attr))
            object.__setattr__(owner, attr, leaf)
        try:
            return sum(CrossEntropyLoss()(extended(x), y) * (len(y) / total) for x, y in batches)
        finally:
            for owner, attr, original in owners.values():
                object.__setattr__(owner, attr, original)

    for p in model.parameters():
        p.requires_grad = False
    try:
        blocks = ms.hessian(mean_loss, [ms.Tensor(by_name[n].data) for n in names])
    finally:
        for p in model.parameters():
            p.requires_grad = True
    sizes = [by_name[n].size for n in names]
    H = np.block(
        [[blocks[i][j].data.reshape(sizes[i], sizes[j]) for j in range(len(names))] for i in range(len(names))]
    )
    g = np.concatenate([np.asarray(multipliers[n]).ravel() for n in names])
    return float(g @ H @ g)


@pytest.mark.parametrize(
    ("kind", "options"),
    [("dense", {}), ("residual_dense", {"kind": "residual_dense", "weights": 2, "variant": "v1"}), ("conv", {})],
)
def test_curvature_equals_explicit_hessian(kind, options):
    model = make_model(kind, 2, 2, 3, activation="tanh")
    loader = make_loader(kind, 7, 3, 3)  # three batches, the last one short: the batch weights matter
    result = sensli.sensitivities(model, loader, second_order=True, **options)
    assert len(result) >= 1
    for s in result:
        expected = explicit_curvature(model, loader, s.site, s.multipliers)
        np.testing.assert_allclose(s.curvature, expected, rtol=1e-9, atol=1e-14)
        rate = sum(float((g * g).sum()) for g in s.multipliers.values())
        assert (s.step, s.predicted_decrease) == quadratic_step(rate, s.curvature)


def test_second_order_leaves_the_model_and_first_order_scores_alone():
    model = make_model("dense", 3, 3, 0)
    loader = make_loader("dense", 10, 5, 0)
    grads_before = [p.grad for p in model.parameters()]
    plain = sensli.sensitivities(model, loader)
    second = sensli.sensitivities(model, loader, second_order=True)
    assert plain.scores() == second.scores()
    assert all(s.curvature is None for s in plain)
    assert all(p.requires_grad for p in model.parameters())
    assert [p.grad for p in model.parameters()] == grads_before


def test_quadratic_step_cases():
    assert quadratic_step(2.0, 4.0) == (0.5, 0.5)  # t* = s / kappa, D = s^2 / (2 kappa)
    assert quadratic_step(2.0, 0.0) == (math.inf, math.inf)
    assert quadratic_step(2.0, -1.0) == (math.inf, math.inf)
    assert quadratic_step(0.0, 1.0) == (0.0, 0.0)
    t, d = quadratic_step(3.0, 7.0)
    ts = np.linspace(0, 3, 300001)
    np.testing.assert_allclose(d, (ts * 3.0 - 0.5 * ts**2 * 7.0).max(), rtol=1e-9)


def test_select_second_order():
    model = make_model("dense", 3, 3, 1)
    loader = make_loader("dense", 12, 6, 1)
    result = sensli.sensitivities(model, loader, second_order=True)
    chosen = sensli.select(result, "second order")
    assert chosen.predicted_decrease == max(s.predicted_decrease for s in result)
    with pytest.raises(ValueError, match="second_order=True"):
        sensli.select(sensli.sensitivities(model, loader), "second order")
    # kappa <= 0 (an unbounded model) ranks first; among those the larger rate wins
    result[0].predicted_decrease = result[1].predicted_decrease = math.inf
    rates = [sum(float((g * g).sum()) for g in s.multipliers.values()) for s in result[:2]]
    assert sensli.select(result, "second order") is result[int(np.argmax(rates))]


def test_grow_with_the_second_order_rule():
    ms.set_default_dtype("float64")
    model = nn.Sequential(nn.Dense(3, 3), nn.ReLU(), nn.Dense(3, 3), nn.ReLU(), nn.Dense(3, 3))
    loader = make_loader("dense", 12, 12, 2)
    result = sensli.grow(model, loader, epochs=[2, 2], lr=0.1, mode="second order", progress=False)
    assert result.insertions[0].chosen is not None
    assert len(result.model.layers) == len(model.layers) + 2


def test_width_sites_are_refused():
    model = make_model("dense", 3, 2, 0)
    loader = make_loader("dense", 6, 6, 0)
    with pytest.raises(ValueError, match="depth sites"):
        sensli.sensitivities(model, loader, second_order=True, kinds=("width",))
    with pytest.raises(ValueError, match="depth sites only"):
        sensli.grow(model, loader, epochs=[1, 1], lr=0.1, mode="second order", kinds=("width",), progress=False)
