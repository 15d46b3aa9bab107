"""The width-vs-depth study tables: pairing by seed across the four folders of one dataset."""

import json

from minisensli.experiments import width_study
from minisensli.experiments.results import SCHEMA_ID


def fake_run(method, seed, loss, chosen=None):
    return {
        "method": method,
        "seed": seed,
        "minibatch_losses": [1.0, loss],
        "test_error": [0.5],
        "epoch_times": [0.1],
        "insertions": [],
        "final_train_loss": loss,
        "final_test_error": loss / 2,
        "parameters": 57 if method != "small" else 27,
        "wall_time": 1.0,
        "chosen_sites": [chosen] if chosen else [],
        # the rest of a run record, so that the document passes the results reader's schema check
        "train_loss": [loss],
        "train_error": [loss / 2],
        "lrs": [0.1],
        "architecture": ["dense 2->4", "relu"],
        "inserted_layers": [],
        "train_seconds": 0.5,
        "select_seconds": 0.1,
        "model_file": f"models/{method}-seed{seed}.npz",
    }


def write_folder(root, dataset, variant, growth_losses, small_losses, chosen):
    folder = root / f"{dataset}-study-{variant}-20261207-0150{len(variant):02d}"
    folder.mkdir()
    runs = []
    for seed, (g, s) in enumerate(zip(growth_losses, small_losses)):
        runs += [fake_run("abs max", seed, g, chosen), fake_run("small", seed, s), fake_run("big", seed, g + 0.1)]
    document = {
        "schema": SCHEMA_ID,
        "name": folder.name,
        "created": "now",
        "minisensli_version": "0",
        "config": {key: {} for key in ("data", "model", "training", "sensli", "comparison")} | {"name": dataset},
        "phase_epochs": [1, 1],
        "start_architecture": [],
        "methods": ["abs max", "small", "big"],
        "seeds": list(range(len(growth_losses))),
        "runs": runs,
        "summary": {},
        "comparisons": [],
    }
    (folder / "results.json").write_text(json.dumps(document))


def test_study_pairs_runs_by_seed_across_folders(tmp_path, capsys):
    small = [0.5, 0.6, 0.7, 0.8]
    write_folder(tmp_path, "spirals", "depth", [0.4, 0.5, 0.6, 0.7], small, "dense@2")
    write_folder(tmp_path, "spirals", "width-random", [0.3, 0.4, 0.5, 0.6], small, "width@0")
    write_folder(tmp_path, "spirals", "width-gradmax", [0.2, 0.3, 0.4, 0.5], small, "width@0")
    write_folder(tmp_path, "spirals", "both", [0.45, 0.3, 0.4, 0.5], small, "width@0")
    study = width_study.collect(tmp_path, "spirals")
    assert study["small_mismatch"] == 0.0
    assert set(study["runs"]) == {
        "small",
        "depth",
        "width random",
        "width gradmax",
        "both",
        "big (depth)",
        "big (width random)",
        "big (width gradmax)",
        "big (both)",
    }
    table = width_study.comparison_table(study)
    assert "| width gradmax vs depth | train loss | 4 | 4 / 0 / 0 | -0.2 |" in table
    assert "| both vs depth | train loss | 4 | 3 / 1 / 0 | -0.2 |" in table
    summary = width_study.summary_table(study)
    assert "| width random | 4 |" in summary and "width 4" in summary
    figure = tmp_path / "study.png"
    assert width_study.main([str(tmp_path), "spirals", "--figure", str(figure)]) == 0
    assert figure.stat().st_size > 1000
    assert "largest difference 0" in capsys.readouterr().out
