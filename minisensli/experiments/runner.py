"""Running a comparison: every method on every seed, saved as one results folder.

Per seed, the start model is drawn once; the growth methods ('abs max', 'abs min', 'random',
'threshold') and the 'small' baseline start from those same weights and see the same minibatch
order (as in the reference). 'big' is the final 'abs max' architecture of that seed with fresh
weights (its own seed), trained from scratch for the same total number of epochs: the honest
baseline of sensli-reference.md, not the reference's list-repetition net.
"""

from __future__ import annotations

import datetime
import json
import pathlib
import statistics
from typing import Any

from .. import __version__, backend, sensli
from ..progress import progress_bar
from ..serialization import save
from ..train import History, fit
from .config import GROWTH_METHODS, Config, to_toml
from .plots import draw_all
from .results import SCHEMA_ID, check_results, layer_labels
from .setup import (
    build_model,
    check_device,
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


def quick(config: Config) -> Config:
    """A smoke-test version: every phase's epochs divided by 10 (at least 1), at most 2 seeds."""
    config.training["epochs"] = [max(1, e // 10) for e in config.training["epochs"]]
    config.comparison["seeds"] = config.comparison["seeds"][:2]
    return config


def _run_record(method: str, seed: int, history: History, model: Any, growth: Any = None) -> dict[str, Any]:
    record = {
        "method": method,
        "seed": seed,
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
    }
    if growth is not None:
        record["insertions"] = [r.as_dict() for r in growth.insertions]
        record["chosen_sites"] = [None if s is None else s.label for s in growth.chosen_sites]
        record["inserted_layers"] = _inserted_positions(growth)
        record["train_seconds"] = growth.train_seconds
        record["select_seconds"] = growth.select_seconds
    return record


def _inserted_positions(growth: Any) -> list[int]:
    """Indices, in the final model, of the layers that insertions added."""
    positions: list[int] = []
    for record in growth.insertions:
        site = record.chosen
        if site is None:
            continue
        added = 2 if site.kind in ("dense", "conv") else 1
        positions = [p + added if p >= site.position else p for p in positions]
        positions += list(range(site.position, site.position + added))
    return sorted(positions)


def _summary(runs: list[dict[str, Any]], methods: list[str]) -> dict[str, Any]:
    def stats(values: list[float]) -> dict[str, float]:
        values = [v for v in values if v is not None]
        if not values:
            return {"mean": None, "std": None}
        return {"mean": statistics.fmean(values), "std": statistics.pstdev(values)}

    out = {}
    for method in methods:
        mine = [r for r in runs if r["method"] == method]
        out[method] = {
            "final_train_loss": stats([r["final_train_loss"] for r in mine]),
            "final_test_error": stats([r["final_test_error"] for r in mine]),
            "wall_time": stats([r["wall_time"] for r in mine]),
            "parameters": stats([r["parameters"] for r in mine]),
            "runs": len(mine),
        }
    return out


def summary_table(results: dict[str, Any]) -> str:
    """The per-method table printed at the end of a run (mean ± std over seeds)."""
    def fmt(s: dict[str, Any], scale: float = 1.0, digits: int = 4) -> str:
        if s["mean"] is None:
            return "-"
        return f"{s['mean'] * scale:.{digits}f} ± {s['std'] * scale:.{digits}f}"

    header = f"{'method':<10} {'final train loss':>20} {'test error (%)':>18} {'wall time (s)':>16} {'params':>8}"
    lines = [header, "-" * len(header)]
    for method, s in results["summary"].items():
        lines.append(f"{method:<10} {fmt(s['final_train_loss']):>20} {fmt(s['final_test_error'], 100, 2):>18} "
                     f"{fmt(s['wall_time'], 1, 2):>16} {s['parameters']['mean'] or 0:>8.0f}")
    return "\n".join(lines)


def run_experiment(config: Config, out_root: str | pathlib.Path = "minisensli-results", progress: bool = True,
                   timestamp: str | None = None) -> pathlib.Path:
    """Run every method on every seed of ``config``; write the results folder and return its path."""
    check_device(config)
    stamp = timestamp or datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    out = pathlib.Path(out_root) / f"{config.name}-{stamp}"
    (out / "models").mkdir(parents=True, exist_ok=False)
    (out / "config.toml").write_text(to_toml(config), encoding="utf-8")

    split = datasets(config)
    methods = config.comparison["methods"]
    order = [m for m in methods if m in GROWTH_METHODS] + [m for m in ("small", "big") if m in methods]
    optimizer_name, optimizer_options = optimizer_factory(config)
    scheduler = scheduler_factory(config)
    t = config.training
    runs: list[dict[str, Any]] = []
    start_architecture: list[str] = []
    jobs = [(seed, method) for seed in config.comparison["seeds"] for method in order]
    bar = progress_bar(jobs, desc="runs", disable=not progress)
    finals: dict[int, Any] = {}
    for seed, method in bar:
        bar.set_description(f"{method} seed {seed}")
        backend.manual_seed(seed)
        start = build_model(config, split)
        start_architecture = layer_labels(start)
        train, test = loaders(config, split, seed)
        if method in GROWTH_METHODS:
            growth = sensli.grow(
                start, train, test, epochs=config.phase_epochs, lr=t["lr"], optimizer=optimizer_name,
                optimizer_options=optimizer_options, scheduler=scheduler, lr_factor=t["lr_factor"], mode=method,
                max_insertions=t["max_insertions"], method=config.sensli["method"], norm=sensitivity_norm(config),
                threshold=config.sensli["threshold"], seed=seed, site_options=site_options(config), progress=progress)
            model = growth.model
            record = _run_record(method, seed, growth.history, model, growth)
            if method == "abs max":
                finals[seed] = model
        else:
            model = start if method == "small" else fresh_copy(finals[seed], seed + BIG_SEED_OFFSET)
            opt = make_optimizer(config, model.parameters(), t["lr"])
            history = fit(model, train, opt, config.total_epochs, scheduler=scheduler(opt) if scheduler else None,
                          test_loader=test, progress=progress, description=method)
            record = _run_record(method, seed, history, model)
        model_file = f"models/{method.replace(' ', '-')}-seed{seed}.npz"
        save(model, out / model_file)
        record["model_file"] = model_file
        runs.append(record)
    bar.close()

    results = {
        "schema": SCHEMA_ID,
        "name": config.name,
        "minisensli_version": __version__,
        "created": datetime.datetime.now().isoformat(timespec="seconds"),
        "config": config.as_dict(),
        "phase_epochs": config.phase_epochs,
        "start_architecture": start_architecture,
        "methods": order,
        "seeds": list(config.comparison["seeds"]),
        "runs": runs,
        "summary": _summary(runs, order),
    }
    check_results(results)
    (out / "results.json").write_text(json.dumps(results, separators=(",", ":")), encoding="utf-8")
    draw_all(results, out)
    return out
