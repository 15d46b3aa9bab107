"""One training of a comparison, (method, seed), as a task that any executor can run.

A task owns its randomness: the start model is drawn from a generator seeded with the task's
seed (the same weights for every method of that seed), the training loader shuffles with
that seed, the 'random' rule draws from it, and 'big' draws its fresh weights from
seed + BIG_SEED_OFFSET. Nothing depends on which tasks ran before in the same process, so
a task gives bit-identical numbers in the main process, in a worker process or on a Dask
worker, in any order, as long as the BLAS library computes matrix products with the same
number of threads: local worker processes use one (executors.py); the main process and Dask
workers use what they were started with (OPENBLAS_NUM_THREADS=1 matches the local workers).
The small spirals nets are too small for BLAS to use threads at all.

The only dependency between tasks: 'big' trains the final 'abs max' architecture of its
seed from scratch, so it takes that finished model (``base``) as input.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import Any

from .. import backend, data, nn, sensli
from ..train import History, fit
from .config import GROWTH_METHODS, Config
from .results import layer_labels
from .setup import (
    build_model,
    datasets,
    fresh_copy,
    loaders,
    make_optimizer,
    optimizer_factory,
    scheduler_factory,
    sensitivity_norm,
    site_options,
)

BIG_SEED_OFFSET = 100_000  # the 'big' baseline's init seed: independent of the start weights

# The grad mode (no_grad), the default dtype and the initialisation generator are process-wide, so
# tasks in threads of one process (a Dask worker with several threads) take turns: one at a time.
# So does the runner when it records a finished task: ms.save swaps in a generator of its own to
# build a throwaway copy, which a task seeding its start weights in another thread of the same
# process (a Dask cluster started inside it) would otherwise draw from.
# For parallel trainings use processes (--jobs N, or dask workers started with --nthreads 1).
PROCESS_STATE_LOCK = threading.Lock()


@dataclass(frozen=True, order=True)
class Task:
    """One training: ``method`` on ``seed``."""

    seed: int
    method: str

    @property
    def label(self) -> str:
        return f"{self.method!r} seed {self.seed}"

    @property
    def model_file(self) -> str:
        """Where its trained model goes, relative to the results folder."""
        return f"models/{self.method.replace(' ', '-')}-seed{self.seed}.npz"

    @property
    def depends_on(self) -> Task | None:
        """The task whose finished model this one needs ('big' needs its seed's 'abs max')."""
        return Task(self.seed, "abs max") if self.method == "big" else None


@dataclass
class TaskResult:
    """What a finished task sends back: its results.json record, the trained model and the
    start architecture's layer labels."""

    task: Task
    record: dict[str, Any]
    model: nn.Sequential
    start_architecture: list[str]


def method_order(methods: list[str]) -> list[str]:
    """Growth methods first (in the config's order), then 'small' and 'big'."""
    return [m for m in methods if m in GROWTH_METHODS] + [m for m in ("small", "big") if m in methods]


def all_tasks(config: Config) -> list[Task]:
    """Every task of a comparison in results order: seed by seed, methods in ``method_order``."""
    order = method_order(config.comparison["methods"])
    return [Task(seed, method) for seed in config.comparison["seeds"] for method in order]


_SPLITS: dict[str, data.Split] = {}


def _cached_split(config: Config) -> data.Split:
    """The config's train/test split, built once per process (tasks of one run share it)."""
    key = json.dumps([config.data, str(backend.get_default_dtype())], sort_keys=True)
    if key not in _SPLITS:
        _SPLITS.clear()  # keep one experiment's data, not every one a long-lived worker ever saw
        _SPLITS[key] = datasets(config)
    return _SPLITS[key]


def _seeded(seed: int, build: Any) -> Any:
    """``build()`` with the initialisation generator seeded by ``seed``; the caller's generator is restored."""
    previous = backend.init_rng()
    backend.manual_seed(seed)
    try:
        return build()
    finally:
        backend.set_init_rng(previous)


def run_task(
    config: Config, task: Task, base: nn.Sequential | None = None, progress: bool = False, dtype: str | None = None
) -> TaskResult:
    """Train ``task.method`` on ``task.seed`` and return its record and model.

    base: for 'big', the finished 'abs max' model of the same seed. dtype: set as the default
    dtype first (a worker process starts with float32; the main process passes its own).
    """
    with PROCESS_STATE_LOCK:
        return _run_task(config, task, base, progress, dtype)


def _run_task(config: Config, task: Task, base: nn.Sequential | None, progress: bool, dtype: str | None) -> TaskResult:
    if dtype is not None:
        backend.set_default_dtype(dtype)
    if task.depends_on is not None and base is None:
        raise ValueError(f"task {task.label}: needs the finished model of {task.depends_on.label}")
    split = _cached_split(config)
    start = _seeded(task.seed, lambda: build_model(config, split))
    start_architecture = layer_labels(start)
    train, test = loaders(config, split, task.seed)
    t = config.training
    scheduler = scheduler_factory(config)
    if task.method in GROWTH_METHODS:
        optimizer_name, optimizer_options = optimizer_factory(config)
        growth = sensli.grow(
            start,
            train,
            test,
            epochs=config.phase_epochs,
            lr=t["lr"],
            optimizer=optimizer_name,
            optimizer_options=optimizer_options,
            scheduler=scheduler,
            lr_factor=t["lr_factor"],
            mode=task.method,
            max_insertions=t["max_insertions"],
            method=config.sensli["method"],
            norm=sensitivity_norm(config),
            threshold=config.sensli["threshold"],
            seed=task.seed,
            site_options=site_options(config),
            progress=progress,
        )
        model: nn.Sequential = growth.model  # type: ignore[assignment]  # grow returns the Sequential it grew
        record = _run_record(task, growth.history, model, growth)
    else:
        if task.method == "small" or base is None:  # base is None only for 'small' (checked above)
            model = start
        else:
            model = fresh_copy(base, task.seed + BIG_SEED_OFFSET)
        opt = make_optimizer(config, model.parameters(), t["lr"])
        history = fit(
            model,
            train,
            opt,
            config.total_epochs,
            scheduler=scheduler(opt) if scheduler else None,
            test_loader=test,
            progress=progress,
            description=task.method,
        )
        record = _run_record(task, history, model)
    for p in model.parameters():
        p.grad = None  # not needed by anyone, and it would double what travels back from a worker
    return TaskResult(task, record, model, start_architecture)


def _run_record(task: Task, history: History, model: Any, growth: Any = None) -> dict[str, Any]:
    record = {
        "method": task.method,
        "seed": task.seed,
        "minibatch_losses": history.minibatch_losses,
        "train_loss": history.train_loss,
        "train_error": history.train_error,
        "test_error": history.test_error,
        "epoch_times": history.epoch_times,
        "lrs": history.lrs,
        "wall_time": history.wall_time,
        "final_train_loss": history.train_loss[-1] if history.train_loss else None,
        "final_test_error": history.test_error[-1] if history.test_error else None,
        "architecture": layer_labels(model),
        "parameters": model.num_parameters(),
        "insertions": [],
        "chosen_sites": [],
        "inserted_layers": [],
        "train_seconds": history.wall_time,
        "select_seconds": 0.0,
        "model_file": task.model_file,
    }
    if growth is not None:
        record["insertions"] = [r.as_dict() for r in growth.insertions]
        record["chosen_sites"] = [None if s is None else s.label for s in growth.chosen_sites]
        record["inserted_layers"] = _inserted_positions(growth)
        record["widened_layers"] = _widened_positions(growth)
        record["train_seconds"] = growth.train_seconds
        record["select_seconds"] = growth.select_seconds
    return record


def _inserted_positions(growth: Any) -> list[int]:
    """Indices, in the final model, of the layers that insertions added."""
    positions: list[int] = []
    for record in growth.insertions:
        site = record.chosen
        if site is None or site.kind == "width":  # widening adds no layer
            continue
        added = 2 if site.kind in ("dense", "conv") else 1
        positions = [p + added if p >= site.position else p for p in positions]
        positions += list(range(site.position, site.position + added))
    return sorted(positions)


def _widened_positions(growth: Any) -> list[int]:
    """Indices, in the final model, of the Dense layers that width insertions made wider."""
    positions: set[int] = set()
    for record in growth.insertions:
        site = record.chosen
        if site is None:
            continue
        if site.kind == "width":
            positions.add(site.position)
        else:
            added = 2 if site.kind in ("dense", "conv") else 1
            positions = {p + added if p >= site.position else p for p in positions}
    return sorted(positions)
