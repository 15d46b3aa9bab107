"""The SensLI growth loop: training phases separated by sensitivity-based insertions.

Reference behaviour (the authors' code; chapter 8 of the book, notebooks/ch08_insertion.py, walks through it):

    lr <- lr0
    for k in 0 .. n_insertions - 1:
        new optimizer and scheduler over the current parameters (their state starts empty:
        momentum buffers and Adam moments of the old parameters are not carried over)
        train epochs[k] epochs (stop everything once the test error reaches the target)
        one pass without updates: scores of all candidate sites
        choose a site by the selection rule; model <- model with that layer (identity values)
        lr <- lr_factor * (lr at the end of the phase)    (only when a layer was inserted)
    train the final model for epochs[n_insertions]

The time spent selecting is added to the time axis at the end of its phase, as the reference
does; the sensitivity pass's losses are not part of the loss curve.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .. import backend, checks
from ..nn import Module, Sequential
from ..optim import SGD, Adam, Optimizer
from ..train import History, NonFiniteLossError, check_optimizer_covers, fit
from .insertion import insert
from .norms import SITE_SCORES
from .selection import parse_mode, select
from .sensitivity import METHODS, sensitivities
from .sites import Site, candidate_sites

MAX_INSERTIONS = 10_000  # selection steps of one grow call (each a pass over the data)
OPTIMIZERS: dict[str, Callable[..., Optimizer]] = {"sgd": SGD, "adam": Adam}


@dataclass
class InsertionRecord:
    """One selection step: the scores of all sites, the chosen site (None: no insertion)."""

    phase: int
    iteration: int  # number of minibatch steps trained before this selection
    epoch: int  # number of epochs trained before this selection
    sites: list[Site]
    scores: list[float]
    chosen: Site | None
    norm: str
    method: str
    existing: dict[str, float] | None
    seconds: float
    added_parameters: list[int] = field(default_factory=list)  # per site: parameters an insertion there adds

    def __repr__(self) -> str:
        chosen = "no insertion" if self.chosen is None else f"inserted at {self.chosen}"
        scores = ", ".join(f"{site.label} {value:.3g}" for site, value in zip(self.sites, self.scores))
        return f"InsertionRecord(phase {self.phase}, after epoch {self.epoch}: {chosen}; {self.norm} scores {scores})"

    def as_dict(self) -> dict[str, Any]:
        return {
            "phase": self.phase,
            "iteration": self.iteration,
            "epoch": self.epoch,
            "sites": [s.label for s in self.sites],
            "scores": list(self.scores),
            "chosen": None if self.chosen is None else self.chosen.label,
            "chosen_index": None if self.chosen is None else self.sites.index(self.chosen),
            "norm": self.norm,
            "method": self.method,
            "existing": self.existing,
            "seconds": self.seconds,
            "added_parameters": list(self.added_parameters),
            "neurons": [s.neurons if s.kind == "width" else None for s in self.sites],
        }


@dataclass
class GrowthResult:
    """What ``grow`` returns: the final model and the record of the run.

    history: per-minibatch losses over all phases, per-epoch train loss/error, test loss/error,
    cumulative times (selection time included) and learning rates; phase_end_epochs: epoch
    count at the end of each phase; phase_test_error: test error at the end of each phase;
    architectures: repr of the model in each phase; insertions: one InsertionRecord per
    selection; train_seconds / select_seconds: wall time spent training vs selecting.
    """

    model: Module
    history: History
    phase_end_epochs: list[int] = field(default_factory=list)
    phase_test_error: list[float | None] = field(default_factory=list)
    architectures: list[str] = field(default_factory=list)
    insertions: list[InsertionRecord] = field(default_factory=list)
    train_seconds: float = 0.0
    select_seconds: float = 0.0
    stopped_early: bool = False

    @property
    def minibatch_losses(self) -> list[float]:
        return self.history.minibatch_losses

    @property
    def chosen_sites(self) -> list[Site | None]:
        return [r.chosen for r in self.insertions]

    def __repr__(self) -> str:
        phases = " + ".join(str(b - a) for a, b in zip([0, *self.phase_end_epochs], self.phase_end_epochs))
        inserted = [str(s) for s in self.chosen_sites if s is not None]
        where = f"{len(inserted)} insertion{'s' if len(inserted) != 1 else ''}" + (
            f" ({'; '.join(inserted)})" if inserted else ""
        )
        early = ", stopped early" if self.stopped_early else ""
        # the total (history.summary, 2 decimals) is training + selecting: the same rounding keeps
        # the printed parts no larger than the printed total
        n_phases = len(self.phase_end_epochs)
        return (
            f"GrowthResult: {n_phases} phases ({phases} epochs{early}), {where}; "
            f"{self.history.summary()}; {self.train_seconds:.2f} s training, {self.select_seconds:.2f} s selecting"
        )

    def as_dict(self) -> dict[str, Any]:
        """A JSON-compatible summary (without the model)."""
        return {
            "history": self.history.as_dict(),
            "phase_end_epochs": list(self.phase_end_epochs),
            "phase_test_error": list(self.phase_test_error),
            "architectures": list(self.architectures),
            "insertions": [r.as_dict() for r in self.insertions],
            "train_seconds": self.train_seconds,
            "select_seconds": self.select_seconds,
            "stopped_early": self.stopped_early,
        }

    def plot(self, path: Any = None) -> Any:
        """Loss curve with insertion marks, and the per-site scores at each insertion
        (a matplotlib Figure; saved to ``path`` when given)."""
        from .plotting import plot_growth  # noqa: PLC0415 - matplotlib is only needed for plots

        return plot_growth(self, path)


def _epochs_per_phase(epochs: Any, max_insertions: int | None) -> list[int]:
    if isinstance(epochs, (list, tuple)):
        listed = [checks.integer(f"grow: epochs[{i}]", e, 0) for i, e in enumerate(epochs)]
    else:
        listed = [checks.integer("grow: epochs", epochs, 0)]
    if not listed or not any(listed):
        raise ValueError(
            f"grow: epochs must be a non-negative int or a non-empty list of them with at least one "
            f"epoch to train, got {epochs!r}"
        )
    if max_insertions is not None:
        checks.integer("grow: max_insertions", max_insertions, 0, MAX_INSERTIONS)
        if len(listed) > max_insertions + 1:
            raise ValueError(
                f"grow: epochs lists {len(listed)} phases but max_insertions = {max_insertions} allows "
                f"{max_insertions + 1}; give at most {max_insertions + 1} entries or raise max_insertions"
            )
    phases = (max_insertions if max_insertions is not None else max(len(listed) - 1, 1)) + 1
    return (listed + [listed[-1]] * phases)[:phases]


def _check_settings(model: Any, test_loader: Any, settings: dict[str, Any]) -> None:
    """Every setting of ``grow`` that needs no training, checked before phase 1."""
    parse_mode(settings["mode"])
    checks.positive("grow: lr", settings["lr"])
    checks.positive("grow: lr_factor", settings["lr_factor"])
    checks.positive("grow: threshold", settings["threshold"])
    checks.choice("grow: method", settings["method"], METHODS)
    if settings["norm"] is not None:
        checks.choice("grow: norm", settings["norm"], SITE_SCORES)
    if settings["target_test_error"] is not None:
        checks.number("grow: target_test_error", settings["target_test_error"], 0.0, maximum=1.0)
        if test_loader is None:
            raise ValueError("grow: target_test_error needs a test_loader")
    if settings["scheduler"] is not None and not callable(settings["scheduler"]):
        raise TypeError(f"grow: scheduler must be a callable(optimizer) or None, got {settings['scheduler']!r}")
    if not isinstance(model, Sequential):
        raise TypeError(f"grow: expected an nn.Sequential model, got {type(model).__name__}")
    if settings["loss_fn"] is not None and not callable(settings["loss_fn"]):
        raise TypeError(f"grow: loss_fn must be a callable(logits, labels) or None, got {settings['loss_fn']!r}")
    if settings["seed"] is not None and not hasattr(settings["seed"], "integers"):  # an int, or a Generator
        checks.integer("grow: seed", settings["seed"], 0)


def _diverged(
    err: NonFiniteLossError, phase: int, phases: int, result: GrowthResult, model: Module
) -> NonFiniteLossError:
    """The error of a diverged phase, naming the phase, carrying the GrowthResult so far."""
    new = NonFiniteLossError(f"grow: phase {phase + 1}/{phases}: {err}", epoch=err.epoch, step=err.step)
    new.phase = phase + 1
    result.model = model
    new.result = result
    new.history = result.history
    return new


def _make_optimizer(optimizer: Any, params: list, lr: float, options: dict[str, Any]) -> Optimizer:
    if isinstance(optimizer, Optimizer):
        raise TypeError(
            f"grow: optimizer is an optimizer object ({type(optimizer).__name__}); grow builds a new optimizer "
            "after each insertion, over the new model's parameters, so it needs a name ('sgd', 'adam') or a "
            "callable(params, lr=..., **optimizer_options) such as ms.optim.SGD"
        )
    if callable(optimizer):
        return optimizer(params, lr=lr, **options)
    if optimizer not in OPTIMIZERS:
        raise ValueError(
            f"grow: unknown optimizer {optimizer!r}; choose one of {sorted(OPTIMIZERS)} or pass a callable"
        )
    return OPTIMIZERS[optimizer](params, lr=lr, **options)


def grow(
    model: Sequential,
    train_loader: Any,
    test_loader: Any = None,
    *,
    epochs: Any = (450, 1400),
    lr: float = 0.1,
    optimizer: Any = "sgd",
    optimizer_options: dict[str, Any] | None = None,
    scheduler: Callable[[Optimizer], Any] | None = None,
    lr_factor: float = 1.0,
    mode: Any = "abs max",
    max_insertions: int | None = None,
    method: str = "closed_form",
    norm: str | None = None,
    threshold: float = 1.0,
    target_test_error: float | None = None,
    loss_fn: Module | None = None,
    seed: int | None = 0,
    site_options: dict[str, Any] | None = None,
    kinds: tuple[str, ...] | list[str] | None = None,
    progress: bool = True,
) -> GrowthResult:
    """Train ``model`` in phases and insert layers between them by the rule ``mode``.

    epochs: per phase (an int: the same for every phase; a short list is padded with its last
    entry); max_insertions: number of selection steps (default len(epochs) - 1, at least 1).
    optimizer: 'sgd' | 'adam' | a callable(params, lr=..., **optimizer_options); scheduler: a
    callable(optimizer) -> scheduler, rebuilt every phase; lr_factor: multiplies the lr after
    an insertion. mode: 'abs max' (SensLI), 'abs min', 'random' (seeded by ``seed``),
    'pos K', or 'threshold' (insert only if the best scaled score > threshold * mean).
    method / norm: how sensitivities are computed and scored. target_test_error: stop all
    training once the test error (a fraction) is at or below it. The input model is not changed.
    kinds: grow by sites of several kinds, e.g. ("dense", "width") (depth and width); with more
    than one kind the default norm is 'per_parameter' (norms.py), which makes them comparable.
    site_options: candidate_sites' settings, e.g. {"neurons": 4, "fan_in": "gradmax"} for
    width sites. The random fan-in of width sites draws from the generator seeded by ``seed``.
    """
    _check_settings(
        model,
        test_loader,
        {
            "mode": mode,
            "lr": lr,
            "lr_factor": lr_factor,
            "threshold": threshold,
            "method": method,
            "norm": norm,
            "target_test_error": target_test_error,
            "scheduler": scheduler,
            "loss_fn": loss_fn,
            "seed": seed,
        },
    )
    phases = _epochs_per_phase(epochs, max_insertions)
    site_options = dict(site_options or {})
    if kinds is not None:
        site_options["kinds"] = tuple(kinds)
    try:  # fail before any training if there is nowhere to insert
        sites = candidate_sites(model, **site_options)
    except (TypeError, ValueError) as err:  # name grow's setting, not the function it is passed on to
        raise type(err)(str(err).replace("candidate_sites: ", "grow: site_options: ", 1)) from None
    if not sites:
        raise ValueError(f"grow: candidate_sites found no site in the model with site_options {site_options}")
    name, position = parse_mode(mode)
    site_kinds = sorted({s.kind for s in sites})
    if name == "threshold" and (len(site_kinds) > 1 or site_kinds == ["width"]):
        raise ValueError(
            f"grow: the 'threshold' rule compares with existing weights of one depth kind; not defined for {site_kinds}"
        )
    if name == "second order" and "width" in site_kinds:
        raise ValueError("grow: the 'second order' rule is defined for depth sites only, not width sites")
    if name == "pos" and position is not None and position >= len(sites):
        raise ValueError(f"grow: mode 'pos {position}' but the model has {len(sites)} candidate sites")
    optimizer_options = dict(optimizer_options or {})
    rng = backend.new_rng(seed)
    model = model.copy()
    # the optimizer, its options and the scheduler are tried on the copy before any training
    first = _make_optimizer(optimizer, model.parameters(), lr, optimizer_options)
    check_optimizer_covers("grow: the optimizer factory's result", model, first)
    if scheduler is not None:
        scheduler(first)
    result = GrowthResult(model=model, history=History())
    history = result.history
    for phase, phase_epochs in enumerate(phases):
        result.architectures.append(repr(model))
        opt = _make_optimizer(optimizer, model.parameters(), lr, optimizer_options)
        sched = scheduler(opt) if scheduler is not None else None
        before = history.wall_time
        try:
            fit(
                model,
                train_loader,
                opt,
                phase_epochs,
                loss_fn=loss_fn,
                scheduler=sched,
                test_loader=test_loader,
                progress=progress,
                history=history,
                description=f"phase {phase + 1}/{len(phases)}",
            )
        except NonFiniteLossError as err:
            raise _diverged(err, phase, len(phases), result, model) from err
        result.train_seconds += history.wall_time - before
        result.phase_end_epochs.append(len(history.train_loss))
        test_error = history.test_error[-1] if history.test_error else None
        result.phase_test_error.append(test_error)
        lr = opt.lr
        if target_test_error is not None and test_error is not None and test_error <= target_test_error:
            result.stopped_early = phase < len(phases) - 1
            break
        if phase == len(phases) - 1:
            break
        start = time.perf_counter()
        try:
            scores = sensitivities(
                model,
                train_loader,
                loss_fn,
                method=method,
                norm=norm,
                score_existing=parse_mode(mode)[0] == "threshold",
                second_order=parse_mode(mode)[0] == "second order",
                fan_in_seed=rng,
                **site_options,
            )
        except NonFiniteLossError as err:
            raise _diverged(err, phase, len(phases), result, model) from err
        choice = select(scores, mode, rng=rng, threshold=threshold)
        if choice is not None:
            model = insert(model, choice.site, choice.values)
            lr *= lr_factor
        seconds = time.perf_counter() - start
        result.select_seconds += seconds
        if history.epoch_times:
            history.epoch_times[-1] += seconds
        result.insertions.append(
            InsertionRecord(
                phase=phase,
                iteration=len(history.minibatch_losses),
                epoch=len(history.train_loss),
                sites=[s.site for s in scores],
                scores=scores.scores(),
                chosen=None if choice is None else choice.site,
                norm=scores[0].norm,
                method=method,
                existing=scores.existing,
                seconds=seconds,
                added_parameters=[s.added_parameters for s in scores],
            )
        )
    result.model = model
    return result
