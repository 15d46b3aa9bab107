"""The spirals protocol written directly in PyTorch: the reference point of bench_experiment.py.

One training as SensLI's spirals experiment runs it: a 2-4-4-2 ReLU net, full-batch SGD
(lr 0.2) for 450 epochs, the closed-form sensitivities of the two candidate sites (a virtual
Dense(4, 4) + ReLU after each hidden layer: G = (d * 1[x > 0])^T x, scored by ||G||_F^2), the
identity layer inserted at the larger score, then 1400 more epochs; after every epoch the loss
and error on the training batch and on the test set are read back to the host, as
minisensli's History records them. Written the way a PyTorch user would write it, in memory,
with no framework around it. PyTorch is an optional, benchmark-only dependency: import this
module only after checking that torch is installed.
"""

from __future__ import annotations

import torch
from torch import nn


def _train(model: nn.Sequential, x, y, x_test, y_test, epochs: int, lr: float, history: dict) -> None:
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    loss_fn = nn.CrossEntropyLoss()
    for _ in range(epochs):
        model.train()
        logits = model(x)
        loss = loss_fn(logits, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        history["train_loss"].append(loss.item())
        history["train_error"].append((logits.argmax(1) != y).float().mean().item())
        model.eval()
        with torch.no_grad():
            test_logits = model(x_test)
            history["test_loss"].append(loss_fn(test_logits, y_test).item())
            history["test_error"].append((test_logits.argmax(1) != y_test).float().mean().item())


def _site_scores(model: nn.Sequential, x, y, positions: list[int]) -> list[float]:
    """||G||_F^2 of the virtual Dense layer at each position (the input of model[position])."""
    captured = []
    h = x
    for i, layer in enumerate(model):
        if i in positions:
            if h.requires_grad:
                h.retain_grad()
            else:  # nothing before this site needs a gradient: the graph starts here
                h = h.detach().requires_grad_()
            captured.append(h)
        h = layer(h)
    nn.functional.cross_entropy(h, y).backward()
    scores = []
    for a in captured:
        g = (a.grad * (a > 0)).T @ a
        scores.append(float((g * g).sum().detach()))
    return scores


def run_protocol(weights: list, x, y, x_test, y_test, epochs: tuple[int, int] = (450, 1400), lr: float = 0.2) -> dict:
    """One training from the given start weights (numpy arrays, minisensli's parameter order);
    returns the history and the chosen site's position."""
    torch.set_num_threads(1)
    x, x_test = torch.from_numpy(x), torch.from_numpy(x_test)
    y, y_test = torch.from_numpy(y).long(), torch.from_numpy(y_test).long()
    model = nn.Sequential(nn.Linear(2, 4), nn.ReLU(), nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 2))
    with torch.no_grad():
        for p, w in zip(model.parameters(), weights):
            p.copy_(torch.from_numpy(w))
    history = {"train_loss": [], "train_error": [], "test_loss": [], "test_error": []}
    _train(model, x, y, x_test, y_test, epochs[0], lr, history)
    positions = [2, 4]
    scores = _site_scores(model, x, y, positions)
    position = positions[max(range(len(scores)), key=scores.__getitem__)]
    new = nn.Linear(4, 4)
    with torch.no_grad():
        new.weight.copy_(torch.eye(4))
        new.bias.zero_()
    layers = list(model)
    layers[position:position] = [new, nn.ReLU()]
    model = nn.Sequential(*layers)
    _train(model, x, y, x_test, y_test, epochs[1], lr, history)
    return {"history": history, "position": position, "scores": scores}
