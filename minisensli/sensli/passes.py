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
    layers: list[Module],
    x: Tensor,
    capture: set[int],
    with_grad: bool,
    outputs: dict[int, Tensor] | None = None,
    keep: set[int] | frozenset[int] = frozenset(),
) -> tuple[Tensor, dict[int, Tensor]]:
    """Run the layers and keep the tensors entering the layers in ``capture`` (an index equal to
    len(layers) means the output). with_grad: their gradients are kept by the next backward;
    where nothing before a captured tensor needs a gradient, the graph starts there (as a leaf).
    keep: positions whose entering tensor is kept too, as it is (no gradient asked for).
    outputs: if given, receives the output of each layer in ``capture`` or ``keep``."""
    captured = {}
    h = x
    for i, layer in enumerate(layers):
        if i in capture:
            if with_grad:
                h = h.retain_grad() if h.requires_grad else h.detach().requires_grad_()
            captured[i] = h
        elif i in keep:
            captured[i] = h
        h = layer(h)
        if outputs is not None and (i in capture or i in keep):
            outputs[i] = h
    if len(layers) in capture:
        captured[len(layers)] = h.retain_grad() if with_grad else h
    elif len(layers) in keep:
        captured[len(layers)] = h
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


class SamePassOrder:
    """Several update-free passes over one loader, counted as one pass.

    Scoring depth and width sites together, or choosing a GradMax fan-in, takes more than one
    pass. A shuffling loader (minisensli.data.DataLoader with shuffle=True) draws a new order per
    pass, so each extra pass would shift every later training epoch's order, and two growth runs
    that insert the same layer would train on different minibatches. This wrapper gives every
    pass the order of the first one and, at ``finish()``, leaves the loader's generator where
    that single pass left it: any number of passes moves the data order as one pass does. Loaders
    without such a generator (plain iterables) are passed through unchanged.
    """

    def __init__(self, loader: Any) -> None:
        self.loader = loader
        rng = getattr(loader, "_rng", None)  # DataLoader's shuffling generator
        self._generator = getattr(rng, "bit_generator", None)
        self._before = self._generator.state if self._generator is not None else None
        self._after: Any = None

    def __iter__(self) -> Any:
        if self._generator is not None:
            if self._after is None:
                self._after = "pending"
            else:
                if self._after == "pending":
                    self._after = self._generator.state
                self._generator.state = self._before
        return iter(self.loader)

    def finish(self) -> None:
        """Leave the loader's generator as after the first pass."""
        if self._generator is not None and self._after not in (None, "pending"):
            self._generator.state = self._after
