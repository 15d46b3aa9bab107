"""Training loops: one epoch, evaluation, and ``fit`` with a progress bar and a History."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

from . import backend, checks
from .autograd import no_grad
from .nn import CrossEntropyLoss, Module
from .progress import progress_bar


class NonFiniteLossError(FloatingPointError):
    """The training loss became nan or inf (the message says at which epoch and step).

    epoch, step: where (epoch within the ``fit`` call); history: what ``fit`` recorded up to
    the last finished epoch; phase and result: set by ``sensli.grow`` (the phase, counted
    from 1, and the GrowthResult so far, its history included).
    """

    def __init__(self, message: str, epoch: int | None = None, step: int | None = None) -> None:
        super().__init__(message)
        self.epoch, self.step = epoch, step
        self.history: History | None = None
        self.phase: int | None = None
        self.result: Any = None


@dataclass
class History:
    """What ``fit`` recorded.

    minibatch_losses: loss of every step, computed before that step's update
    train_loss, train_error: per epoch, the mean minibatch loss and error rate seen while training
    test_loss, test_error: per epoch (None when no test loader was given); error is a fraction
    epoch_times: cumulative training wall time (seconds) at the end of each epoch
    lrs: learning rate used in each epoch
    """

    minibatch_losses: list[float] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    train_error: list[float] = field(default_factory=list)
    test_loss: list[float | None] = field(default_factory=list)
    test_error: list[float | None] = field(default_factory=list)
    epoch_times: list[float] = field(default_factory=list)
    lrs: list[float] = field(default_factory=list)

    @property
    def wall_time(self) -> float:
        return self.epoch_times[-1] if self.epoch_times else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {k: list(v) for k, v in vars(self).items()}

    def summary(self) -> str:
        """One line: epochs, train loss first -> last, the last test error, wall time."""
        if not self.train_loss:
            return "no epochs"
        text = (
            f"{len(self.train_loss)} epochs, {len(self.minibatch_losses)} steps, "
            f"train loss {self.train_loss[0]:.4g} -> {self.train_loss[-1]:.4g}"
        )
        if self.test_error and self.test_error[-1] is not None:
            text += f", test error {100 * self.test_error[-1]:.1f} %"
        return f"{text}, {self.wall_time:.2f} s"

    def __repr__(self) -> str:
        return f"History({self.summary()})"


def _errors(logits: Any, labels: Any) -> Any:
    """Number of misclassified examples in a batch (logits (N, C), integer labels (N,)), as a
    0-d array on the batch's device: counting on the host would wait for the device every step."""
    return (logits.data.argmax(axis=1) != labels.data).sum()


def _check_finite(value: float, epoch: int, step: int, optimizer: Any) -> None:
    if not math.isfinite(value):
        raise NonFiniteLossError(
            f"training loss became {value} at epoch {epoch}, step {step} "
            f"(lr {optimizer.lr}); lower the learning rate or check the data",
            epoch=epoch,
            step=step,
        )


def check_optimizer_covers(caller: str, model: Module, optimizer: Any) -> None:
    """Raise ValueError unless ``optimizer`` updates every trainable parameter of ``model``.

    An optimizer holds the parameter Tensors it was built with. After a layer insertion the model
    is a new object with new parameters, and an optimizer of the old model would update none of
    them: training would silently do nothing. Parameters with requires_grad=False (frozen) need not
    be held; an optimizer without a ``params`` list (not one of minisensli's) is not checked."""
    held = getattr(optimizer, "params", None)
    if not isinstance(held, (list, tuple)):
        return
    ids = {id(p) for p in held}
    trainable = [(name, p) for name, p in model.named_parameters() if p.requires_grad]
    missing = [name for name, p in trainable if id(p) not in ids]
    if not missing:
        return
    amount = "none" if len(missing) == len(trainable) else f"{len(trainable) - len(missing)}"
    shown = ", ".join(missing[:5]) + (", ..." if len(missing) > 5 else "")
    raise ValueError(
        f"{caller}: the optimizer holds {amount} of the model's {len(trainable)} trainable parameters "
        f"(missing: {shown}), so training would not update them. An optimizer keeps the parameters it was "
        "built with: after an insertion (or for another model) build a new optimizer over the new model's "
        "parameters, e.g. ms.optim.SGD(model.parameters(), lr=...)"
    )


def train_epoch(
    model: Module, loader: Any, optimizer: Any, loss_fn: Module | None = None, epoch: int = 0, progress: Any = None
) -> tuple[list[float], float]:
    """One pass over ``loader`` with an update per minibatch.

    Returns (minibatch losses before each update, training error rate of the epoch). Raises
    NonFiniteLossError when a loss is nan or inf: on the CPU before any update with that loss;
    on the GPU, where every host read stalls the device, once at the end of the epoch (the losses
    and error counts stay on the device and come back in one transfer), naming the first bad step.
    """
    loss_fn = loss_fn or CrossEntropyLoss()
    model.train()
    losses: list[Any] = []
    wrong: Any = 0
    seen = 0
    on_host = True
    for step, (inputs, labels) in enumerate(loader):
        logits = model(inputs)
        loss = loss_fn(logits, labels)
        on_host = loss.device == "cpu"
        if on_host:  # a free check on the CPU: stop before the update a nan would poison
            value = float(loss.data)
            _check_finite(value, epoch, step, optimizer)
            if progress is not None:
                progress.set_postfix(epoch=epoch, loss=f"{value:.4f}", refresh=False)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.data)
        if labels.dtype.kind in "iu":
            wrong = wrong + _errors(logits, labels)
        seen += len(labels)
    if not losses:
        raise ValueError(f"train_epoch: the loader gave no batch ({loader!r}); nothing to train on")
    *values, wrong = backend.scalars_to_host([*losses, wrong])  # one transfer for the epoch
    if not on_host:
        for step, value in enumerate(values):
            _check_finite(value, epoch, step, optimizer)
    return values, wrong / seen


def _evaluate_batches(model: Module, loader: Any, loss_fn: Module) -> tuple[float, float]:
    """(mean loss per example, error rate) in the model's current mode; one host transfer."""
    losses, sizes = [], []
    wrong: Any = 0
    with no_grad():
        for inputs, labels in loader:
            logits = model(inputs)
            losses.append(loss_fn(logits, labels).data)
            sizes.append(len(labels))
            if labels.dtype.kind in "iu":
                wrong = wrong + _errors(logits, labels)
    if not losses:
        raise ValueError(f"evaluate: the loader gave no batch ({loader!r})")
    *values, wrong = backend.scalars_to_host([*losses, wrong])  # one transfer for the pass
    seen = sum(sizes)
    return sum(value * size for value, size in zip(values, sizes)) / seen, wrong / seen


def evaluate(model: Module, loader: Any, loss_fn: Module | None = None) -> tuple[float, float]:
    """(mean loss per example, error rate) of ``model`` on ``loader``, without gradients."""
    was_training = model.training
    model.eval()
    try:
        return _evaluate_batches(model, loader, loss_fn or CrossEntropyLoss())
    finally:
        model.train(was_training)


def fit(
    model: Module,
    train_loader: Any,
    optimizer: Any,
    epochs: int,
    scheduler: Any = None,
    test_loader: Any = None,
    progress: bool = True,
    loss_fn: Module | None = None,
    history: History | None = None,
    description: str = "training",
) -> History:
    """Train for ``epochs`` epochs; evaluate on ``test_loader`` after each; step ``scheduler``
    once per epoch. Shows a tqdm progress bar (notebook-aware) with the epoch and the current
    loss unless progress=False. loss_fn defaults to CrossEntropyLoss. Appends to ``history``
    when one is given (so the phases of a growing network share one). Leaves the model in
    training mode; the evaluation after each epoch runs in eval mode."""
    epochs = checks.integer("fit: epochs", epochs, 0)
    check_optimizer_covers("fit", model, optimizer)
    loss_fn = loss_fn or CrossEntropyLoss()
    history = history if history is not None else History()
    offset = history.wall_time
    elapsed = 0.0
    bar = progress_bar(range(epochs), desc=description, disable=not progress, leave=False)
    for epoch in bar:
        start = time.perf_counter()
        history.lrs.append(optimizer.lr)
        try:
            losses, train_error = train_epoch(model, train_loader, optimizer, loss_fn, epoch, bar if progress else None)
        except NonFiniteLossError as err:
            history.lrs.pop()  # the epoch did not finish: the history keeps the finished ones
            err.history = history
            bar.close()
            raise
        if scheduler is not None:
            scheduler.step()
        elapsed += time.perf_counter() - start
        history.minibatch_losses.extend(losses)
        history.train_loss.append(sum(losses) / len(losses))
        history.train_error.append(train_error)
        history.epoch_times.append(offset + elapsed)
        test_loss: float | None = None
        test_error: float | None = None
        if test_loader is not None:
            model.eval()  # the next train_epoch switches back: one walk of the module tree each way
            test_loss, test_error = _evaluate_batches(model, test_loader, loss_fn)
        history.test_loss.append(test_loss)
        history.test_error.append(test_error)
    bar.close()
    model.train()
    if progress and epochs:
        # the bar was removed (leave=False): leave one line in its place
        bar.write(f"{description}: {history.summary()}", file=getattr(bar, "fp", None))
    return history
