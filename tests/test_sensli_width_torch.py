"""Width multipliers and the GradMax fan-in against an independent PyTorch computation on the
same weights (skipped where torch is not installed)."""

import numpy as np
import pytest

import minisensli as ms
from minisensli import nn, sensli

torch = pytest.importorskip("torch")


def _net(seed):
    ms.manual_seed(seed)
    return nn.Sequential(nn.Dense(4, 5), nn.ReLU(), nn.Dense(5, 6), nn.ReLU(), nn.Dense(6, 3))


def _apply(layer, h):
    if isinstance(layer, nn.Dense):
        return h @ torch.tensor(layer.weight.data).T + torch.tensor(layer.bias.data)
    return torch.relu(h)


def _torch_forward(model, x, widen_at=None, u=None, c=None, v=None):
    """The model's function in torch (float64); at widen_at the extra units relu(x U^T + c) feed
    the next Dense through V."""
    h = torch.tensor(x)
    layers = list(model)
    i = 0
    while i < len(layers):
        layer = layers[i]
        if isinstance(layer, nn.Dense):
            w, b = torch.tensor(layer.weight.data), torch.tensor(layer.bias.data)
            if i == widen_at:
                hidden = torch.relu(h @ w.T + b)
                extra = torch.relu(h @ u.T + c)
                following = layers[i + 2]
                w2, b2 = torch.tensor(following.weight.data), torch.tensor(following.bias.data)
                h = hidden @ w2.T + b2 + extra @ v.T
                i += 3
                continue
            h = h @ w.T + b
        else:
            h = torch.relu(h)
        i += 1
    return h


@pytest.mark.parametrize("fan_in", ["random", "gradmax"])
def test_width_multipliers_match_torch(fan_in):
    model = _net(1)
    rng = np.random.default_rng(2)
    x, y = rng.standard_normal((11, 4)), rng.integers(0, 3, 11)
    loader = ms.data.DataLoader(ms.data.TensorDataset(x, y), batch_size=4)  # the last batch is short
    result = sensli.sensitivities(model, loader, kind="width", neurons=2, fan_in=fan_in, fan_in_seed=5)
    for s in result:
        u = torch.tensor(s.values["fan_in"])
        c = torch.tensor(s.values["fan_in_bias"])
        out = model[s.site.position + 2].out_features
        v = torch.zeros((out, s.site.neurons), dtype=torch.float64, requires_grad=True)
        u.requires_grad_(True)
        logits = _torch_forward(model, x, s.site.position, u, c, v)
        loss = torch.nn.functional.cross_entropy(logits, torch.tensor(y))
        grad_v, grad_u = torch.autograd.grad(loss, [v, u])
        np.testing.assert_allclose(s.multipliers["fan_out"], grad_v.numpy(), rtol=1e-10, atol=1e-14)
        np.testing.assert_allclose(s.multipliers["fan_in"], grad_u.numpy(), atol=0)


def test_gradmax_fan_in_matches_torch_svd():
    model = _net(3)
    rng = np.random.default_rng(4)
    x, y = rng.standard_normal((20, 4)), rng.integers(0, 3, 20)
    loader = ms.data.DataLoader(ms.data.TensorDataset(x, y), batch_size=20)
    result = sensli.sensitivities(model, loader, kind="width", neurons=2, fan_in="gradmax")
    for s in result:
        i = s.site.position
        # torch: the gradient g at the next Dense's output, and the layer's input x_i
        h = torch.tensor(x)
        for layer in list(model)[:i]:
            h = _apply(layer, h)
        x_i = h
        following = model[i + 2]
        y_next = _apply(following, _apply(model[i + 1], _apply(model[i], x_i))).detach()
        y_next.requires_grad_(True)
        h = y_next
        for layer in list(model)[i + 3 :]:
            h = _apply(layer, h)
        (g,) = torch.autograd.grad(torch.nn.functional.cross_entropy(h, torch.tensor(y)), [y_next])
        m = g.T @ x_i
        _, sigma, vt = torch.linalg.svd(m)
        assert sigma[1] > 1e-6 * sigma[0]  # two directions carry gain here
        scale = 1 / np.sqrt(3)
        u = s.values["fan_in"]
        for j in range(2):
            direction = scale * vt[j].numpy()
            sign = 1.0 if np.dot(u[j], direction) > 0 else -1.0
            np.testing.assert_allclose(u[j], sign * direction, rtol=1e-8, atol=1e-12)
            # the kept sign has the larger exact ReLU multiplier (torch)
            kept = torch.linalg.norm(g.T @ torch.relu(x_i @ torch.tensor(u[j])))
            other = torch.linalg.norm(g.T @ torch.relu(-x_i @ torch.tensor(u[j])))
            assert kept >= other - 1e-15
