"""Width sites through the experiment layer: config keys, a tiny run, results.json (schema 3)
and the saved widened models."""

import json

import pytest

import minisensli as ms
from minisensli.experiments import SCHEMA_FILE, ConfigError, load_config, load_results, run_experiment
from minisensli.experiments.config import validate
from tests.tiny_configs import tiny_config, write_config

jsonschema = pytest.importorskip("jsonschema")


def width_config(kinds: list[str], fan_in: str = "gradmax", neurons: int = 0) -> str:
    text = tiny_config("tiny-width", [2, 1], ["abs max", "small", "big"], [0, 1])
    return text + "\n".join(
        ["[sensli]", f"kinds = {json.dumps(kinds)}", f'fan_in = "{fan_in}"', f"neurons = {neurons}", ""]
    )


@pytest.mark.parametrize("kinds", [["width"], ["dense", "width"]])
def test_tiny_width_run_writes_valid_results_and_loadable_models(kinds, tmp_path):
    config = load_config(write_config(tmp_path, width_config(kinds)))
    folder = run_experiment(config, tmp_path / "out", progress=False)
    raw = json.loads((folder / "results.json").read_text())
    jsonschema.validate(raw, json.loads(SCHEMA_FILE.read_text()))
    results = load_results(folder)
    assert results["schema"] == "minisensli-results/3"
    for run in results["runs"]:
        model = ms.load(folder / run["model_file"])
        assert model.num_parameters() == run["parameters"]
        if run["method"] == "abs max":
            record = run["insertions"][0]
            assert record["norm"] == ("fro" if kinds == ["width"] else "per_parameter")
            assert len(record["added_parameters"]) == len(record["sites"]) == len(record["neurons"])
            chosen = record["chosen"]
            if chosen.startswith("width"):
                assert run["widened_layers"] == [int(chosen.split("@")[1])] and run["inserted_layers"] == []
    by_seed = {(r["seed"], r["method"]): r for r in results["runs"]}
    for seed in (0, 1):  # 'big' is the grown architecture, widened or deepened, trained from scratch
        assert by_seed[seed, "big"]["architecture"] == by_seed[seed, "abs max"]["architecture"]


def test_width_config_errors():
    base = {"name": "x", "sensli": {"kinds": ["width"]}}
    assert validate(base).sensli["fan_in"] == "random"
    with pytest.raises(ConfigError, match="unknown site kind"):
        validate({"name": "x", "sensli": {"kinds": ["conv"]}})
    with pytest.raises(ConfigError, match="each kind may appear once"):
        validate({"name": "x", "sensli": {"kinds": ["width", "width"]}})
    with pytest.raises(ConfigError, match="feed-forward"):
        validate({"name": "x", "model": {"type": "resnet", "activation": "tanh"}, "sensli": {"kinds": ["width"]}})
    with pytest.raises(ConfigError, match="per_parameter"):
        validate({"name": "x", "sensli": {"norm": "per_parameter"}})
    with pytest.raises(ConfigError, match="fan_in"):
        validate({"name": "x", "sensli": {"kinds": ["width"], "fan_in": "magic"}})
