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
        r"'minisensli-results/3', 'minisensli-results/1', 'minisensli-results/2'",
    ):
        load_results(tmp_path)


# ----------------------------------------------------------------------------- the bounded reader


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A real results folder: growth, 'small' and 'big' on two seeds (about 10 s)."""
    from minisensli.experiments import load_config, run_experiment
    from tests.tiny_configs import tiny_config, write_config

    root = tmp_path_factory.mktemp("reader")
    text = tiny_config("reader", [2, 2], ["abs max", "small", "big"], [0, 1])
    return run_experiment(load_config(write_config(root, text)), root / "out", progress=False, jobs=1)


def schema():
    from minisensli.experiments import SCHEMA_FILE

    return json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))


def write(folder, document):
    folder.mkdir(exist_ok=True)
    (folder / "results.json").write_text(json.dumps(document), encoding="utf-8")
    return folder


def leaves(node, path=()):
    """Every (path, value) of a JSON document; long lists contribute their first entry only."""
    yield path, node
    if isinstance(node, dict):
        for key, value in node.items():
            yield from leaves(value, (*path, key))
    elif isinstance(node, list) and node:
        yield from leaves(node[0], (*path, 0))


def replaced(document, path, value):
    document = json.loads(json.dumps(document))
    target = document
    for key in path[:-1]:
        target = target[key]
    if value is DELETE:
        if isinstance(target, dict):
            del target[path[-1]]
        else:
            target.pop(path[-1])
    else:
        target[path[-1]] = value
    return document


DELETE = object()
ODD_VALUES = [DELETE, None, "x", -1, True, {}]


def test_every_required_key_and_type_is_checked_as_the_schema_says(finished, tmp_path):
    """Mutations of a real document: the reader refuses exactly what the schema (checked with the
    jsonschema package) refuses, always as a ResultsError, and the tables accept what it reads."""
    from minisensli.experiments.results import check_results

    document = json.loads((finished / "results.json").read_text(encoding="utf-8"))
    document["runs"] = document["runs"][:1]  # a growth run: every kind of entry, and fast to copy
    validator = jsonschema.Draft202012Validator(schema())
    refused = accepted = 0
    for path, _ in list(leaves(document)):
        if not path:
            continue
        for value in ODD_VALUES:
            mutated = replaced(document, path, value)
            try:
                check_results(mutated)
            except ResultsError:
                refused += 1
                continue
            assert validator.is_valid(mutated), f"{path} = {value!r} was read although the schema refuses it"
            accepted += 1
            summary_table(mutated), comparison_table(mutated)
    assert refused > 300 and accepted > 10
    for required in [("runs", 0, "lrs"), ("runs", 0, "insertions", 0, "existing"), ("summary", "small", "runs")]:
        with pytest.raises(ResultsError, match="lacks the required key"):
            check_results(replaced(document, required, DELETE))


def test_odd_documents_give_one_clear_error_from_plot(finished, tmp_path, capsys):
    from minisensli import cli

    document = json.loads((finished / "results.json").read_text(encoding="utf-8"))
    for path, value in [
        (("runs", 0, "insertions", 0, "chosen_index"), 99),  # outside the sites
        (("runs", 0, "insertions", 0, "scores"), [1.0]),  # fewer scores than sites
        (("runs", 0, "insertions", 0, "epoch"), 10_000),  # after an epoch the run never had
        (("runs", 0, "method"), "random"),  # a run of a method the document does not compare
        (("runs", 1, "method"), "abs max"),  # the same (method, seed) twice
        (("runs", 0, "minibatch_losses", 0), float("nan")),
        (("runs", 0, "architecture", 0), "D" * 10_000),
    ]:
        folder = write(tmp_path / "odd", replaced(document, path, value))
        assert cli.main(["plot", str(folder)]) == 2, path
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "results.json" in err and "Traceback" not in err, err


def test_huge_or_malformed_files_are_refused_before_they_are_parsed(finished, tmp_path):
    import time

    from minisensli.experiments.results import MAX_RESULTS_BYTES

    sparse = tmp_path / "sparse"
    sparse.mkdir()
    with open(sparse / "results.json", "wb") as file:
        file.truncate(3 * 2**30)  # 3 GB that take no disk space
    with pytest.raises(ResultsError, match="MiB, more than a results file may have"):
        load_results(sparse)
    assert MAX_RESULTS_BYTES >= 2**30  # generous: 50 runs of 10^6 steps fit
    text = (finished / "results.json").read_text(encoding="utf-8")
    with pytest.raises(ResultsError, match="more than a results file may have"):
        load_results(finished, max_bytes=len(text) // 2)
    for name, raw in [
        ("nested", b"[" * 100_000 + b"]" * 100_000),
        ("digits", b'{"schema": ' + b"9" * 100_000 + b"}"),
        ("latin1", text.replace('"reader"', '"r\\u00e9ader"').encode().replace(b"\\u00e9", b"\xe9")),
        ("array", b"[1, 2, 3]"),
    ]:
        (tmp_path / name).mkdir()
        (tmp_path / name / "results.json").write_bytes(raw)
        with pytest.raises(ResultsError):
            load_results(tmp_path / name)
    long_name = json.loads(text)
    long_name["name"] = "n" * 300_000
    start = time.perf_counter()
    with pytest.raises(ResultsError, match="name: a string of 300000 characters"):
        load_results(write(tmp_path / "long", long_name))
    assert time.perf_counter() - start < 10  # refused at once, not drawn for minutes


def test_the_validator_follows_the_schema_file(monkeypatch):
    """A field added to results.schema.json (as a schema bump does) is enforced without code changes."""
    from minisensli.experiments import results as results_module
    from minisensli.experiments.schema_check import SchemaError, Validator

    bumped = schema()
    bumped["$defs"]["run"]["required"].append("width_sites")
    bumped["$defs"]["run"]["properties"]["width_sites"] = {"type": "array", "items": {"type": "string"}}
    monkeypatch.setattr(results_module, "_VALIDATOR", Validator(bumped))
    run_record = {k: v for k, v in RUNS[0].items()}
    with pytest.raises(ResultsError, match="lacks the required key 'width_sites'"):
        results_module.check_run(run_record)
    results_module.check_run({**run_record, "width_sites": ["a"]})
    with pytest.raises(SchemaError, match="not understood"):
        Validator({"type": "object", "patternProperties": {}})
