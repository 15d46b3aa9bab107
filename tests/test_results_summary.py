"""results.json carries spread and paired comparisons (schema 2); schema 1 files are upgraded on
reading; the printed tables line up whatever the values."""

import json

import pytest

from minisensli.experiments import SCHEMA_ID, ResultsError, load_results, summarize
from minisensli.experiments.statistics import METRICS
from minisensli.experiments.summary import aligned, comparison_table, summary_table

jsonschema = pytest.importorskip("jsonschema")


def run(method, seed, loss, error):
    return {
        "method": method,
        "seed": seed,
        "final_train_loss": loss,
        "final_test_error": error,
        "wall_time": 1.0 + seed,
        "parameters": 42,
        "minibatch_losses": [loss],
        "train_loss": [loss],
        "train_error": [error],
        "test_error": [error],
        "epoch_times": [1.0],
        "lrs": [0.1],
        "architecture": ["Dense 2→2"],
        "inserted_layers": [],
        "insertions": [],
        "chosen_sites": [],
        "train_seconds": 1.0,
        "select_seconds": 0.0,
        "model_file": f"models/{method.replace(' ', '-')}-seed{seed}.npz",
    }


RUNS = [run("abs max", s, 0.1 * s, 0.01 * s) for s in range(5)] + [
    run("small", s, 0.1 * s + 0.05, 0.01 * s) for s in range(5)
]


def test_summarize_gives_spread_per_method_and_every_pair_on_both_metrics():
    out = summarize(RUNS, ["abs max", "small"])
    loss = out["summary"]["abs max"]["final_train_loss"]
    assert (loss["n"], loss["median"], loss["q1"], loss["q3"]) == (5, 0.2, 0.1, 0.30000000000000004)
    assert loss["sd"] == pytest.approx(0.15811388)  # sample sd of 0, .1, .2, .3, .4
    assert out["summary"]["small"]["runs"] == 5
    assert [(c["a"], c["b"], c["metric"]) for c in out["comparisons"]] == [("abs max", "small", m) for m in METRICS]
    by_metric = {c["metric"]: c for c in out["comparisons"]}
    assert (by_metric["final_train_loss"]["wins"], by_metric["final_train_loss"]["losses"]) == (5, 0)
    assert by_metric["final_train_loss"]["median_difference"] == pytest.approx(-0.05)
    assert by_metric["final_test_error"]["ties"] == 5 and by_metric["final_test_error"]["p_value"] is None


def test_tables_align_their_columns_whatever_the_values():
    lines = aligned([["method", "loss"], ["a", "1.0"], ["a much longer name", "12345.678 ± 9.1"]])
    assert len({len(line) for line in lines[:1] + lines[2:]}) == 1
    results = {
        "summary": summarize(RUNS, ["abs max", "small"])["summary"],
        "comparisons": summarize(RUNS, ["abs max", "small"])["comparisons"],
    }
    results["summary"]["small"]["final_train_loss"]["mean"] = 12345.6789
    table = summary_table(results).splitlines()
    assert table[2].index("abs max") == table[3].index("small") == 0
    assert table[0].index("params") + len("params") == len(table[2]) == len(table[3])
    rows = comparison_table(results).splitlines()
    assert rows[2].startswith("abs max vs small") and "5/0/0" in rows[2] and "0/0/5" in rows[2]


def test_schema_1_results_are_read_with_summary_and_comparisons_recomputed(tmp_path):
    old = {
        "schema": "minisensli-results/1",
        "name": "old",
        "created": "",
        "minisensli_version": "0",
        "config": {"name": "old", "data": {}, "model": {}, "training": {}, "sensli": {}, "comparison": {}},
        "phase_epochs": [1],
        "start_architecture": [],
        "methods": ["abs max", "small"],
        "seeds": list(range(5)),
        "runs": RUNS,
        "summary": {"abs max": {"final_train_loss": {"mean": 0.2, "std": 0.14}}},
    }
    (tmp_path / "results.json").write_text(json.dumps(old))
    results = load_results(tmp_path)
    assert results["schema"] == SCHEMA_ID and results["upgraded_from"] == "minisensli-results/1"
    assert results["summary"]["abs max"]["final_train_loss"]["sd"] == pytest.approx(0.15811388)
    assert len(results["comparisons"]) == 2
    assert json.loads((tmp_path / "results.json").read_text())["schema"] == "minisensli-results/1"  # untouched


def test_unknown_schema_is_refused_naming_the_readable_ones(tmp_path):
    (tmp_path / "results.json").write_text(json.dumps({"schema": "minisensli-results/9"}))
    with pytest.raises(
        ResultsError,
        match=r"schema 'minisensli-results/9'; this minisensli reads "
        r"'minisensli-results/2', 'minisensli-results/1'",
    ):
        load_results(tmp_path)
