"""The `minisensli` command end to end on a tiny config, and its errors (exit code 2)."""

import json
import subprocess
import sys

import pytest

from minisensli import __version__, cli
from minisensli.experiments import FIGURES, SCHEMA_FILE, builtin_names, resolve
from tests.tiny_configs import tiny_config, write_config

jsonschema = pytest.importorskip("jsonschema")

ALL_METHODS = ["abs max", "abs min", "random", "threshold", "small", "big"]
TINY = tiny_config("tiny", [3, 2], ALL_METHODS, [0, 1], "a few epochs of every method")


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    config = write_config(root, TINY)
    code = cli.main(["run", config, "--out", str(root / "out"), "--no-progress"])
    assert code == 0
    (folder,) = (root / "out").iterdir()
    return folder


def test_run_writes_config_results_models_and_figures(tiny_run, capsys):
    assert tiny_run.name.startswith("tiny-")
    assert (tiny_run / "config.toml").read_text().startswith('name = "tiny"')
    results = json.loads((tiny_run / "results.json").read_text())
    jsonschema.validate(results, json.loads(SCHEMA_FILE.read_text()))
    assert len(results["runs"]) == 12 and results["seeds"] == [0, 1]
    for run in results["runs"]:
        assert (tiny_run / run["model_file"]).stat().st_size > 0
        assert len(run["minibatch_losses"]) == 5 * 3  # 5 epochs of 60 training points / 20 per batch
    for name in FIGURES:
        png = (tiny_run / name).read_bytes()
        assert png.startswith(b"\x89PNG") and len(png) > 2000


def test_runs_share_start_weights_and_big_is_final_sensli_architecture(tiny_run):
    results = json.loads((tiny_run / "results.json").read_text())
    runs = {(r["method"], r["seed"]): r for r in results["runs"]}
    for seed in (0, 1):
        first = {runs[(m, seed)]["minibatch_losses"][0] for m in ("abs max", "abs min", "small")}
        assert len(first) == 1  # same start weights, same first batch
        assert runs[("big", seed)]["architecture"] == runs[("abs max", seed)]["architecture"]
        assert runs[("big", seed)]["minibatch_losses"][0] != runs[("abs max", seed)]["minibatch_losses"][0]
        assert len(runs[("abs max", seed)]["architecture"]) == 7


def test_summary_table_is_printed(tmp_path, capsys):
    config = write_config(tmp_path, tiny_config("tiny", [3, 2], ["abs max", "small"], [0, 1]))
    assert cli.main(["run", config, "--out", str(tmp_path), "--no-progress", "--seeds", "1"]) == 0
    out = capsys.readouterr().out
    assert "final train loss" in out and "abs max" in out and "small" in out and "±" in out
    assert "results, models and figures:" in out


def test_plot_redraws_from_saved_results(tiny_run, capsys):
    for name in FIGURES:
        (tiny_run / name).unlink()
    assert cli.main(["plot", str(tiny_run)]) == 0
    assert all((tiny_run / name).stat().st_size > 2000 for name in FIGURES)


def test_list_and_version(capsys):
    assert cli.main(["list"]) == 0
    out = capsys.readouterr().out
    for name in builtin_names():
        assert name in out
    assert "(default)" in out
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--version"])
    assert exit_info.value.code == 0
    assert __version__ in capsys.readouterr().out


def test_every_builtin_config_is_valid():
    for name in builtin_names():
        config = resolve(name)
        assert config.name == name and config.description and config.differs_from_paper


INVALID = [
    ("[data]\nbatch = 3\n", "[data] unknown key 'batch'; allowed keys are"),
    ("[training]\nepochs = [-1, 4]\n", "training.epochs: every entry must be an integer >= 0"),
    ("[training]\nlr = 'fast'\n", "training.lr: expected a number"),
    ("[data]\nname = 'cifar'\n", "data.name: 'cifar' is not allowed; choose one of ['spirals', 'digits']"),
    ("[comparison]\nmethods = ['abs max', 'best']\n", "comparison.methods: unknown method 'best'"),
    ("[sensli]\nmethod = 'magic'\n", "sensli.method: 'magic' is not allowed"),
    ("colour = 'red'\n", "unknown key 'colour'"),
    ("[model]\ntype = 'fnn'\nactivation = 'tanh'\n", "model.activation"),
    ("[comparison]\nmethods = ['big']\n", "needs 'abs max'"),
]


@pytest.mark.parametrize("body,message", INVALID)
def test_invalid_config_exits_2_naming_the_key(tmp_path, capsys, body, message):
    config = write_config(tmp_path, 'name = "bad"\n' + body)
    assert cli.main(["run", config, "--out", str(tmp_path / "out"), "--no-progress"]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()  # rejected before any work started


def test_missing_name_broken_toml_and_unknown_experiment(tmp_path, capsys):
    assert cli.main(["run", write_config(tmp_path, "[data]\n", "a.toml")]) == 2
    assert "the key 'name' is required" in capsys.readouterr().err
    assert cli.main(["run", write_config(tmp_path, "name = \n", "b.toml")]) == 2
    assert "not valid TOML" in capsys.readouterr().err
    assert cli.main(["run", "no-such-experiment"]) == 2
    assert "unknown experiment 'no-such-experiment'" in capsys.readouterr().err
    assert cli.main(["run", "spirals", "--seeds", "0"]) == 2
    assert "--seeds: must be between 1 and 1000" in capsys.readouterr().err


def test_plot_of_a_folder_without_results_exits_2(tmp_path, capsys):
    assert cli.main(["plot", str(tmp_path)]) == 2
    assert "no results.json" in capsys.readouterr().err


def test_bad_usage_exits_2():
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["run", "--seeds", "many"])
    assert exit_info.value.code == 2
    assert cli.main([]) == 2


def test_python_dash_m_entry_point():
    done = subprocess.run([sys.executable, "-m", "minisensli", "--version"], capture_output=True, text=True)
    assert done.returncode == 0 and __version__ in done.stdout


@pytest.mark.parametrize("name", builtin_names())
def test_every_builtin_experiment_runs_in_quick_mode(tmp_path, name):
    assert cli.main(["run", name, "--quick", "--seeds", "1", "--out", str(tmp_path), "--no-progress"]) == 0
    (folder,) = tmp_path.iterdir()
    results = json.loads((folder / "results.json").read_text())
    jsonschema.validate(results, json.loads(SCHEMA_FILE.read_text()))
    assert {r["method"] for r in results["runs"]} == set(resolve(name).comparison["methods"])


def test_list_shows_seed_count_and_expected_time(capsys):
    assert cli.main(["list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:4] == ["experiment", "seeds", "time", "(2"]
    for name in builtin_names():
        (line,) = [row for row in lines if row.startswith(name + " ")]
        config = resolve(name)
        assert f" {len(config.comparison['seeds'])} " in line
        assert ("~" in line) == (config.comparison["seconds_per_epoch"] > 0)
    assert "seconds per epoch of one run x epochs x methods x seeds / 2" in lines[-1]


def test_expected_seconds_multiplies_the_measured_constant():
    from minisensli.experiments.config import FIXED_SECONDS, expected_seconds

    config = resolve("spirals")
    config.comparison["seconds_per_epoch"] = 0.002
    runs = len(config.comparison["methods"]) * len(config.comparison["seeds"])
    assert expected_seconds(config) == pytest.approx(FIXED_SECONDS + 0.002 * 1850 * runs / 2)  # two workers
    assert expected_seconds(config, workers=1) == pytest.approx(FIXED_SECONDS + 0.002 * 1850 * runs)
    assert expected_seconds(config, workers=10 * runs) == pytest.approx(FIXED_SECONDS + 0.002 * 1850)
    config.comparison["seconds_per_epoch"] = 0.0
    assert expected_seconds(config) is None


def test_overrides_say_what_they_changed():
    config = resolve("spirals")
    said = cli.apply_overrides(config, seeds=5, quick_run=True)
    assert said[0] == "--seeds 5: 5 seeds (0..4) instead of the config's 10 seeds (0..9)"
    assert said[1] == "--quick: epochs per phase [450, 1400] -> [45, 140] (a tenth, at least 1)"
    assert said[2] == "--quick: runs 2 seeds [0, 1] of the 5 seeds (0..4) asked for (a quick run keeps at most 2)"
    assert config.comparison["seeds"] == [0, 1] and config.phase_epochs == [45, 140]
    assert cli.apply_overrides(resolve("spirals"), seeds=None, quick_run=False) == []
    assert cli.apply_overrides(resolve("spirals"), seeds=10, quick_run=False) == []  # the config's seeds anyway


def test_unknown_experiment_suggests_the_closest_name(capsys):
    assert cli.main(["run", "spiral-resnet"]) == 2
    assert "did you mean 'spirals-resnet'?" in capsys.readouterr().err
    assert cli.main(["run", "zzzz"]) == 2
    assert "did you mean" not in capsys.readouterr().err


def test_run_prints_spread_and_paired_comparisons_and_writes_vector_figures(tmp_path, capsys):
    config = write_config(tmp_path, tiny_config("tiny", [3, 2], [m for m in ALL_METHODS if m != "threshold"], [0, 1]))
    assert cli.main(["run", config, "--out", str(tmp_path / "out"), "--no-progress", "--format", "pdf"]) == 0
    out = capsys.readouterr().out
    assert "median [IQR]" in out and "sd over seeds with n - 1" in out
    assert "abs max vs abs min" in out and "W/L/T" in out and "Wilcoxon signed-rank" in out
    (folder,) = (tmp_path / "out").iterdir()
    for name in FIGURES:
        assert (folder / name).is_file() and (folder / name.replace(".png", ".pdf")).read_bytes()[:4] == b"%PDF"


def test_plot_accepts_a_format_and_rejects_others(tiny_run, capsys):
    assert cli.main(["plot", str(tiny_run), "--format", "svg"]) == 0
    assert all((tiny_run / name.replace(".png", ".svg")).is_file() for name in FIGURES)
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["plot", str(tiny_run), "--format", "gif"])
    assert exit_info.value.code == 2


def test_results_carry_spread_and_paired_comparisons_that_match_the_runs(tiny_run):
    import statistics
    from itertools import combinations

    results = json.loads((tiny_run / "results.json").read_text())
    assert results["schema"] == "minisensli-results/3"
    pairs = {(c["a"], c["b"], c["metric"]) for c in results["comparisons"]}
    assert pairs == {
        (a, b, m) for a, b in combinations(results["methods"], 2) for m in ("final_train_loss", "final_test_error")
    }
    for method in results["methods"]:
        losses = [r["final_train_loss"] for r in results["runs"] if r["method"] == method]
        spread = results["summary"][method]["final_train_loss"]
        assert spread["median"] == pytest.approx(statistics.median(losses))
        assert spread["sd"] == pytest.approx(statistics.stdev(losses))
    for c in results["comparisons"]:
        assert c["wins"] + c["losses"] + c["ties"] == c["n"] == len(results["seeds"])
