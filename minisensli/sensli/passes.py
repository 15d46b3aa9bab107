"""One pass over the data without updates, keeping the activations and gradients that the
multipliers need (shared by sensitivity.py and fan_in.py)."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from typing import Any

from ..autograd import Tensor
from ..nn import Module
from ..train import NonFiniteLossError


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


def _backward_weighted(loss: Tensor, batch: int, count: int) -> None:
    """Backpropagate ``count`` times the batch-mean loss: the gradients add up to sum_k n_k dl_k
    (divided by N at the end). A non-finite loss stops the pass, naming the batch."""
    value = loss.item()
    if not math.isfinite(value):
        raise NonFiniteLossError(
            f"sensitivities: the loss of batch {batch} is {value} (non-finite inputs or weights?)", step=batch
        )
    loss.backward(float(count))
