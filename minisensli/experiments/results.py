"""The results.json of a run: its schema, and reading it back.

The full JSON Schema is results.schema.json beside this file. In short:

    schema              "minisensli-results/3"
    name, created, minisensli_version
    complete            false while runs are missing (a run in progress, stopped by Ctrl-C/SIGTERM,
                        or with failed runs; `minisensli run --resume DIR` completes it); documents
                        written before this key existed are complete
    unfinished          the missing runs: method, seed, status ("not started", "running",
                        "interrupted", "failed", "skipped": its 'abs max' run failed), error
    dtype               default float dtype of the run (a resumed run uses it too)
    config              the configuration as used (every key, defaults filled in)
    phase_epochs        epochs of each training phase (growth methods insert between phases)
    start_architecture  layer labels of the start model
    methods, seeds      what was compared
    runs                one object per finished (method, seed), seed by seed in `methods` order:
        method, seed, minibatch_losses (loss of every step, before its update),
        train_loss / train_error / test_error / lrs (per epoch; errors are fractions),
        epoch_times (cumulative seconds, selection time included), wall_time,
        final_train_loss (mean minibatch loss of the last epoch), final_test_error,
        architecture (final layer labels), inserted_layers (their indices), widened_layers
        (indices of the Dense layers that width insertions made wider; growth runs only), parameters,
        insertions (per selection: sites, scores, chosen, norm, method, seconds, ...),
        chosen_sites, train_seconds, select_seconds, model_file (relative path of the saved model)
    summary             per method: the spread over seeds (n, mean, sd with n - 1, median, q1, q3,
                        min, max) of final_train_loss, final_test_error, wall_time, parameters;
                        and the number of runs
    comparisons         every pair of methods (a, b) on both metrics, paired per seed: n, wins,
                        losses, ties, median_difference (a - b), p_value (Wilcoxon signed-rank)
    upgraded_from       (only in a document read from an older schema) the schema it was read as

Schema 1 (before paired statistics) had summary = mean and population std only and no
comparisons. Its runs hold everything needed, so ``load_results`` reads it and recomputes
summary and comparisons from the runs (marking ``upgraded_from``); other schemas are refused.
Schema 2 (before width sites) differs from 3 only in what 3 adds: the run key widened_layers,
the insertion keys added_parameters and neurons, and the norm 'per_parameter'; it is read the
same way.
"""

from __future__ import annotations

import json
import pathlib
from typing import Any

from ..nn import AvgPool2d, Conv2d, Dense, Flatten, MaxPool2d, Module, ResidualConv, ResidualDense
from .summary import summarize

SCHEMA_ID = "minisensli-results/3"
OLD_SCHEMAS = (
    "minisensli-results/1",
    "minisensli-results/2",
)  # read by recomputing summary and comparisons from the runs
SCHEMA_FILE = pathlib.Path(__file__).parent / "results.schema.json"
TOP_LEVEL_KEYS = (
    "schema",
    "name",
    "created",
    "minisensli_version",
    "config",
    "phase_epochs",
    "start_architecture",
    "methods",
    "seeds",
    "runs",
    "summary",
    "comparisons",
)


class ResultsError(ValueError):
    """A results folder or file is missing or not in the expected format."""


def layer_label(module: Module) -> str:
    """A short name for one layer, as drawn in the architecture figure."""
    if isinstance(module, Dense):
        return f"Dense {module.in_features}→{module.out_features}"
    if isinstance(module, Conv2d):
        return f"Conv{module.kernel_size}x{module.kernel_size} {module.in_channels}→{module.out_channels}"
    if isinstance(module, ResidualDense):
        return f"Res{module.weights}({module.features})"
    if isinstance(module, ResidualConv):
        return f"ResConv{module.weights}({module.channels})"
    if isinstance(module, (MaxPool2d, AvgPool2d)):
        return f"{type(module).__name__[:3]}Pool{module.kernel_size}"
    if isinstance(module, Flatten):
        return "Flatten"
    return type(module).__name__


def layer_labels(model: Any) -> list[str]:
    return [layer_label(m) for m in model]


def check_results(results: Any) -> None:
    """Raise ResultsError unless ``results`` looks like a results.json document of this schema."""
    if not isinstance(results, dict) or results.get("schema") != SCHEMA_ID:
        found = results.get("schema") if isinstance(results, dict) else type(results).__name__
        readable = ", ".join(repr(s) for s in (SCHEMA_ID, *OLD_SCHEMAS))
        raise ResultsError(
            f"not a minisensli results document this version reads (schema {found!r}; this minisensli reads {readable})"
        )
    missing = [k for k in TOP_LEVEL_KEYS if k not in results]
    if missing:
        raise ResultsError(f"results document lacks the keys {missing}")
    if not isinstance(results.get("complete", True), bool):
        raise ResultsError(f"results key 'complete': expected true or false, got {results['complete']!r}")
    if not isinstance(results.get("unfinished", []), list) or not isinstance(results["runs"], list):
        raise ResultsError("results keys 'runs' and 'unfinished' must be lists")
    if results.get("dtype", "float32") not in ("float16", "float32", "float64"):
        raise ResultsError(f"results key 'dtype': {results['dtype']!r} is not a float dtype")
    for i, run in enumerate(results["runs"]):
        if not isinstance(run, dict):
            raise ResultsError(f"run {i} of the results is not an object")
        for key in ("method", "seed", "minibatch_losses", "test_error", "epoch_times", "insertions"):
            if key not in run:
                raise ResultsError(f"run {i} of the results lacks the key {key!r}")


def load_results(folder: str | pathlib.Path) -> dict[str, Any]:
    """Read and check ``folder``/results.json."""
    path = pathlib.Path(folder) / "results.json"
    if not path.is_file():
        raise ResultsError(f"no results.json in {folder}")
    try:
        results = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ResultsError(f"{path}: not valid JSON ({err})") from err
    if isinstance(results, dict) and results.get("schema") in OLD_SCHEMAS:
        results = upgrade(results)
    check_results(results)
    return results


def is_complete(results: dict[str, Any]) -> bool:
    """True when every (method, seed) run of the document finished."""
    return bool(results.get("complete", True))


def completeness_note(results: dict[str, Any], folder: str | pathlib.Path) -> str:
    """'' for a complete document, else one line saying what is missing."""
    if is_complete(results):
        return ""
    unfinished = results.get("unfinished", [])
    total = len(results["runs"]) + len(unfinished)
    failed = sum(1 for u in unfinished if isinstance(u, dict) and u.get("status") == "failed")
    failed_text = f", {failed} failed" if failed else ""
    return (
        f"incomplete results: {len(results['runs'])} of {total} runs finished{failed_text}; figures show the "
        f"finished runs (complete them with: minisensli run --resume {folder})"
    )


def upgrade(results: dict[str, Any]) -> dict[str, Any]:
    """An older document as the current schema: the same runs, summary and comparisons recomputed from them."""
    for i, run in enumerate(results.get("runs", [])):
        if not isinstance(run, dict) or "method" not in run or "seed" not in run:
            raise ResultsError(f"run {i} of the {results['schema']} document lacks 'method' or 'seed'; cannot upgrade")
    methods = results.get("methods") or sorted({r["method"] for r in results["runs"]})
    return {**results, "schema": SCHEMA_ID, "upgraded_from": results["schema"], **summarize(results["runs"], methods)}
