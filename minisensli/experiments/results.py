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
import os
import pathlib
import shlex
from typing import Any

from ..nn import AvgPool2d, Conv2d, Dense, Flatten, MaxPool2d, Module, ResidualConv, ResidualDense
from .config import MAX_INSERTIONS, MAX_LIST, RUN_NAME_MAX_LENGTH
from .schema_check import DocumentError, Validator
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


# results.json holds every minibatch loss of every run: 50 runs of 10^6 steps are about 1 GB of text.
# Beyond this a file is refused before it is read (parsing needs several times its size in memory);
# load_results(folder, max_bytes=...) reads larger ones on a machine that has the memory.
MAX_RESULTS_BYTES = 1 << 30
MAX_TEXT = 10_000  # characters of any string in the document (error messages of failed runs included)
MAX_LABEL = 200  # characters of a site, layer or chosen-site label (drawn as tick and box labels)
MAX_SITES = 100_000  # candidate sites of one selection
MAX_LAYERS = 100_000  # layers of one architecture
_VALIDATOR: Validator | None = None


def _validator() -> Validator:
    """The validator of results.schema.json, built once (the schema file is the truth)."""
    global _VALIDATOR
    if _VALIDATOR is None:
        _VALIDATOR = Validator(json.loads(SCHEMA_FILE.read_text(encoding="utf-8")), max_string=MAX_TEXT)
    return _VALIDATOR


def check_results(results: Any) -> None:
    """Raise ResultsError unless ``results`` is a results document of this schema: every required key
    with its type as results.schema.json says, strings and arrays within bounds, and the entries that
    refer to each other consistent (so that the tables, the figures and --resume can use it as it is)."""
    if not isinstance(results, dict) or results.get("schema") != SCHEMA_ID:
        found = results.get("schema") if isinstance(results, dict) else type(results).__name__
        readable = ", ".join(repr(s) for s in (SCHEMA_ID, *OLD_SCHEMAS))
        shown = found if not isinstance(found, str) or len(found) <= 60 else found[:57] + "..."
        raise ResultsError(
            f"not a minisensli results document this version reads (schema {shown!r}; this minisensli reads {readable})"
        )
    try:
        _validator().validate(results)
    except DocumentError as err:
        raise ResultsError(f"results document: {err}") from None
    _check_consistency(results)


def check_run(run: Any, where: str = "run") -> None:
    """Raise ResultsError unless ``run`` is one entry of a document's runs (the writer checks each
    finished run once, rather than the whole document at every write)."""
    try:
        _validator().validate_definition("run", run, where)
    except DocumentError as err:
        raise ResultsError(f"results document: {err}") from None
    _check_run(where, run)


def _check_consistency(results: dict[str, Any]) -> None:
    """What the schema cannot say: bounds that the figures need and entries that must agree."""
    name = results["name"]
    if len(name) > RUN_NAME_MAX_LENGTH:
        raise ResultsError(
            f"results document: name: {len(name)} characters; a run name has at most {RUN_NAME_MAX_LENGTH}"
        )
    if len(results["methods"]) > MAX_LIST or len(results["seeds"]) > MAX_LIST:
        raise ResultsError(f"results document: methods and seeds: at most {MAX_LIST} entries each")
    if len(results["runs"]) > len(results["methods"]) * len(results["seeds"]):
        raise ResultsError(
            f"results document: {len(results['runs'])} runs, more than its {len(results['methods'])} methods x "
            f"{len(results['seeds'])} seeds"
        )
    _labels("start_architecture", results["start_architecture"], MAX_LAYERS)
    methods, seeds, seen = set(results["methods"]), set(results["seeds"]), set()
    for i, run in enumerate(results["runs"]):
        key = (run["method"], run["seed"])
        if run["method"] not in methods or run["seed"] not in seeds or key in seen:
            raise ResultsError(
                f"results document: runs[{i}] ({run['method']!r} seed {run['seed']}) is not one of its methods x "
                "seeds, or appears twice"
            )
        seen.add(key)
        _check_run(f"runs[{i}]", run)


def _check_run(where: str, run: dict[str, Any]) -> None:
    _labels(f"{where}.architecture", run["architecture"], MAX_LAYERS)
    _labels(f"{where}.chosen_sites", [s for s in run["chosen_sites"] if s is not None], MAX_INSERTIONS + 1)
    if len(run["insertions"]) > MAX_INSERTIONS:
        raise ResultsError(f"results document: {where}.insertions: more than {MAX_INSERTIONS} selections")
    for k, rec in enumerate(run["insertions"]):
        _check_insertion(f"{where}.insertions[{k}]", rec, len(run["epoch_times"]))


def _labels(where: str, labels: list[str], most: int) -> None:
    if len(labels) > most:
        raise ResultsError(f"results document: {where}: {len(labels)} entries; at most {most}")
    long = next((label for label in labels if len(label) > MAX_LABEL), None)
    if long is not None:
        raise ResultsError(f"results document: {where}: a label of {len(long)} characters; at most {MAX_LABEL}")


def _check_insertion(where: str, rec: dict[str, Any], epochs: int) -> None:
    sites, index = rec["sites"], rec["chosen_index"]
    _labels(f"{where}.sites", sites, MAX_SITES)
    if len(rec["scores"]) != len(sites):
        raise ResultsError(f"results document: {where}: {len(rec['scores'])} scores for {len(sites)} sites")
    if (index is None) != (rec["chosen"] is None) or (
        index is not None and not (0 <= index < len(sites) and sites[index] == rec["chosen"])
    ):
        raise ResultsError(f"results document: {where}: chosen {rec['chosen']!r} and chosen_index {index} disagree")
    if rec["epoch"] > epochs:
        raise ResultsError(f"results document: {where}: after epoch {rec['epoch']}, but the run has {epochs} epochs")


def read_results_text(path: pathlib.Path, max_bytes: int = MAX_RESULTS_BYTES) -> str:
    """The text of a results.json, refused before reading when it is larger than ``max_bytes``."""
    try:
        with open(path, "rb") as file:
            size = os.fstat(file.fileno()).st_size
            if size > max_bytes:
                raise ResultsError(
                    f"{path}: {size / 2**20:.0f} MiB, more than a results file may have "
                    f"({max_bytes / 2**20:.0f} MiB; load_results(folder, max_bytes=...) reads larger ones)"
                )
            raw = file.read(max_bytes + 1)
    except OSError as err:
        raise ResultsError(f"{path}: cannot read it ({err.strerror or err})") from err
    if len(raw) > max_bytes:  # grew while being read
        raise ResultsError(f"{path}: more than {max_bytes} bytes")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ResultsError(f"{path}: not UTF-8 text ({err.reason} at byte {err.start})") from None


def load_results(folder: str | pathlib.Path, max_bytes: int = MAX_RESULTS_BYTES) -> dict[str, Any]:
    """Read and check ``folder``/results.json: the one reader of results files (``minisensli plot``,
    ``--resume`` and the Python API). A file over ``max_bytes`` (default 1 GiB) is refused before it is
    read; the document must match results.schema.json completely (check_results); schema-1 documents
    are upgraded first. Raises ResultsError naming the file and what is wrong."""
    path = pathlib.Path(folder) / "results.json"
    if not path.is_file():
        raise ResultsError(f"no results.json in {folder}")
    text = read_results_text(path, max_bytes)
    try:
        results = json.loads(text)
    except ValueError as err:  # JSONDecodeError, or an integer with more digits than Python converts
        raise ResultsError(f"{path}: not valid JSON ({str(err)[:200]})") from None
    except RecursionError:
        raise ResultsError(f"{path}: nested too deeply to be a results file") from None
    try:
        if isinstance(results, dict) and results.get("schema") in OLD_SCHEMAS:
            results = upgrade(results)
        check_results(results)
    except ResultsError as err:
        raise ResultsError(f"{path}: {err}") from None
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
        f"finished runs (complete them with: minisensli run --resume {shlex.quote(str(folder))})"
    )


def upgrade(results: dict[str, Any]) -> dict[str, Any]:
    """An older (schema 1 or 2) document as the current schema: the same runs (checked first, as
    in any document), summary and comparisons recomputed from them."""
    old = results["schema"]
    check_results({**results, "schema": SCHEMA_ID, "summary": {}, "comparisons": []})
    return {**results, "schema": SCHEMA_ID, "upgraded_from": old, **summarize(results["runs"], results["methods"])}
