"""The runner's tasks and executors: the same numbers in this process, in worker processes and on a
Dask cluster; Ctrl-C / SIGTERM keep every finished run and --resume completes them to the numbers
of an uninterrupted run; a failing task is reported and retried by --resume."""

import json
import os
import signal
import subprocess
import sys
import time
import warnings

import pytest

import minisensli as ms
from minisensli import cli, sensli
from minisensli.experiments import (
    SCHEMA_FILE,
    RunFailedError,
    RunInterruptedError,
    load_config,
    load_results,
    resume_experiment,
    run_experiment,
)
from tests.tiny_configs import tiny_config, write_config

jsonschema = pytest.importorskip("jsonschema")

TINY = tiny_config("tiny", [2, 1], ["abs max", "random", "small", "big"], [0, 1], "a few epochs, two seeds")
# long enough per task that a signal sent after the first finished run arrives before the last one
LONGER = tiny_config("longer", [20, 10], ["abs max", "small", "big"], [0, 1, 2], "a few epochs, two seeds")

TIMING_KEYS = {"epoch_times", "wall_time", "train_seconds", "select_seconds"}


def numbers(folder):
    """Everything in results.json and the models that must not depend on how the run was executed."""
    results = load_results(folder)
    runs = []
    for run in results["runs"]:
        run = {k: v for k, v in run.items() if k not in TIMING_KEYS}
        run["insertions"] = [{k: v for k, v in r.items() if k != "seconds"} for r in run["insertions"]]
        model = ms.load(folder / run["model_file"])
        # values and dtypes exactly; the sign of a zero may differ (NumPy's vectorised loops can give
        # -0.0 or +0.0 for the same sum depending on memory alignment), and -0.0 == 0.0
        run["weights"] = {name: (str(p.dtype), p.data.tolist()) for name, p in model.named_parameters()}
        runs.append(run)
    return {
        "runs": runs,
        "summary": {m: {k: v for k, v in s.items() if k != "wall_time"} for m, s in results["summary"].items()},
        "start_architecture": results["start_architecture"],
        "methods": results["methods"],
    }


def only_folder(root):
    (folder,) = [p for p in root.iterdir() if p.is_dir()]
    return folder


def reference_run(root, text, dtype):
    """``text`` run uninterrupted in this process with default dtype ``dtype`` (restored afterwards)."""
    previous = ms.get_default_dtype()
    ms.set_default_dtype(dtype)
    try:
        return run_experiment(load_config(write_config(root, text)), root / "out", progress=False, jobs=1)
    finally:
        ms.set_default_dtype(previous)


@pytest.fixture(scope="module")
def tiny_reference(tmp_path_factory):
    """The tiny config run in this process (float64, as every test here)."""
    return reference_run(tmp_path_factory.mktemp("reference"), TINY, "float64")


@pytest.fixture(scope="module")
def longer_reference(tmp_path_factory):
    """The longer config, uninterrupted, in this process with the command's default dtype (float32)."""
    return reference_run(tmp_path_factory.mktemp("longer"), LONGER, "float32")


def test_reference_run_is_complete_and_valid(tiny_reference):
    results = json.loads((tiny_reference / "results.json").read_text())
    jsonschema.validate(results, json.loads(SCHEMA_FILE.read_text()))
    assert results["complete"] is True and results["unfinished"] == [] and results["dtype"] == "float64"
    assert [(r["seed"], r["method"]) for r in results["runs"]] == [
        (s, m) for s in (0, 1) for m in ("abs max", "random", "small", "big")
    ]


def test_two_worker_processes_give_bit_identical_results(tmp_path, tiny_reference):
    environment = dict(os.environ)
    folder = run_experiment(load_config(write_config(tmp_path, TINY)), tmp_path / "out", progress=False, jobs=2)
    assert numbers(folder) == numbers(tiny_reference)
    assert dict(os.environ) == environment  # the workers' BLAS thread limits are not left behind


def test_dask_local_cluster_gives_bit_identical_results(tmp_path, tiny_reference):
    distributed = pytest.importorskip("distributed")
    # two threads in one worker: tasks share a process, so this also checks that they do not share state
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None, protocol="tcp://", host="127.0.0.1"
    ) as cluster:  # a real socket, on loopback
        folder = run_experiment(
            load_config(write_config(tmp_path, TINY)),
            tmp_path / "out",
            progress=False,
            scheduler=cluster.scheduler_address,
        )
    assert numbers(folder) == numbers(tiny_reference)


def start_run(tmp_path, *args):
    out = tmp_path / "out"
    command = [
        sys.executable,
        "-m",
        "minisensli",
        "run",
        str(write_config(tmp_path, LONGER)),
        "--out",
        str(out),
        "--no-progress",
        *args,
    ]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True), out


def wait_for_first_finished_run(process, out, timeout=300):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, "the run ended before a signal could be sent"
        for path in out.glob("*/results.json"):
            try:
                if json.loads(path.read_text())["runs"]:
                    return path.parent
            except (ValueError, KeyError):  # never a half-written file, but be exact about what is checked
                pytest.fail(f"results.json is not a complete JSON document: {path.read_text()[:200]!r}")
        time.sleep(0.05)
    pytest.fail("no run finished in time")


@pytest.mark.parametrize(
    "sig,jobs", [(signal.SIGINT, "1"), (signal.SIGTERM, "2")], ids=["SIGINT-in-process", "SIGTERM-two-workers"]
)
def test_signal_keeps_finished_runs_and_resume_gives_the_uninterrupted_numbers(tmp_path, longer_reference, sig, jobs):
    process, out = start_run(tmp_path, "--jobs", jobs)
    folder = wait_for_first_finished_run(process, out)
    os.kill(process.pid, sig)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    messages = [line for line in stderr.splitlines() if line.strip()]
    assert len(messages) == 1, stderr  # one line, no traceback, no warning from a killed worker
    assert f"stopped by {signal.Signals(sig).name}" in messages[0]
    assert f"--resume {folder}" in messages[0]

    results = json.loads((folder / "results.json").read_text())
    jsonschema.validate(results, json.loads(SCHEMA_FILE.read_text()))
    assert results["complete"] is False
    assert 1 <= len(results["runs"]) < 9
    assert len(results["runs"]) + len(results["unfinished"]) == 9
    assert {u["status"] for u in results["unfinished"]} <= {"interrupted", "not started"}
    for run in results["runs"]:
        assert ms.load(folder / run["model_file"]).num_parameters() == run["parameters"]

    assert cli.main(["run", "--resume", str(folder), "--jobs", jobs, "--no-progress"]) == 0
    assert load_results(folder)["complete"] is True
    assert numbers(folder) == numbers(longer_reference)


def test_failed_task_is_reported_its_dependent_skipped_and_resume_retries_them(
    tmp_path, capsys, monkeypatch, tiny_reference
):
    real_grow = sensli.grow

    def grow_failing_on_seed_1(*args, **kwargs):
        if kwargs["seed"] == 1 and kwargs["mode"] == "abs max":
            raise FloatingPointError("training diverged in phase 1")
        return real_grow(*args, **kwargs)

    monkeypatch.setattr(sensli, "grow", grow_failing_on_seed_1)
    config = write_config(tmp_path, TINY)
    assert cli.main(["run", str(config), "--out", str(tmp_path / "out"), "--jobs", "1", "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "'abs max' seed 1 failed: FloatingPointError: training diverged in phase 1" in err
    folder = only_folder(tmp_path / "out")
    assert f"--resume {folder}" in err
    results = load_results(folder)
    assert results["complete"] is False and len(results["runs"]) == 6
    status = {(u["method"], u["seed"]): u["status"] for u in results["unfinished"]}
    assert status == {("abs max", 1): "failed", ("big", 1): "skipped"}

    assert cli.main(["plot", str(folder)]) == 0
    assert "incomplete results: 6 of 8 runs finished, 1 failed" in capsys.readouterr().err

    monkeypatch.setattr(sensli, "grow", real_grow)
    assert resume_experiment(folder, progress=False) == folder
    assert numbers(folder) == numbers(tiny_reference)


def test_failures_raise_run_failed_error_from_the_library(tmp_path, monkeypatch):
    def always_fails(*args, **kwargs):
        raise ValueError("no")

    monkeypatch.setattr(sensli, "grow", always_fails)
    config = load_config(write_config(tmp_path, tiny_config("tiny", [2, 1], ["abs max"], [0, 1])))
    with pytest.raises(RunFailedError) as info:
        run_experiment(config, tmp_path / "out", progress=False)
    assert info.value.finished == 0 and len(info.value.failures) == 2


def test_resume_of_a_complete_folder_changes_no_number(tiny_reference, tmp_path):
    import shutil

    copy = shutil.copytree(tiny_reference, tmp_path / "copy")
    assert cli.main(["run", "--resume", str(copy), "--no-progress"]) == 0
    assert numbers(copy) == numbers(tiny_reference)


def test_resume_refuses_other_run_arguments_and_missing_folders(tmp_path, capsys, tiny_reference):
    assert cli.main(["run", "spirals", "--resume", str(tiny_reference)]) == 2
    assert "cannot honour EXPERIMENT; leave it out" in capsys.readouterr().err
    assert cli.main(["run", "--resume", str(tiny_reference), "--out", str(tmp_path), "--seeds", "3"]) == 2
    assert "cannot honour --seeds, --out; leave them out" in capsys.readouterr().err
    assert cli.main(["run", "--resume", str(tiny_reference), "--device", "gpu"]) == 2  # not silently ignored
    assert "cannot honour --device" in capsys.readouterr().err
    assert cli.main(["run", "--resume", str(tmp_path / "nothing")]) == 2
    assert "no results.json" in capsys.readouterr().err


def test_bad_jobs_or_scheduler_exit_2_before_any_folder_exists(tmp_path, capsys):
    config = str(write_config(tmp_path, TINY))
    out = tmp_path / "out"
    assert cli.main(["run", config, "--out", str(out), "--jobs", "0"]) == 2
    assert "--jobs: must be at least 1" in capsys.readouterr().err
    pytest.importorskip("distributed")
    assert cli.main(["run", config, "--out", str(out), "--scheduler", "no-port-here"]) == 2
    assert "--scheduler 'no-port-here': not a scheduler address" in capsys.readouterr().err
    assert not out.exists()


def test_concurrent_runs_into_one_out_get_distinct_complete_folders(tmp_path):
    config = write_config(tmp_path, tiny_config("tiny", [2, 1], ["small"], [0, 1]))
    out = tmp_path / "out"
    command = [
        sys.executable,
        "-m",
        "minisensli",
        "run",
        str(config),
        "--out",
        str(out),
        "--no-progress",
        "--jobs",
        "1",
    ]
    processes = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(3)]
    for process in processes:
        _, stderr = process.communicate(timeout=300)
        assert process.returncode == 0, stderr
    folders = sorted(p for p in out.iterdir())
    assert len(folders) == 3
    first = numbers(folders[0])
    for folder in folders:
        assert load_results(folder)["complete"] is True
        assert numbers(folder) == first


def test_keyboard_interrupt_inside_a_task_keeps_the_finished_runs(tmp_path, monkeypatch):
    real_grow = sensli.grow

    def interrupted_on_seed_1(*args, **kwargs):
        if kwargs["seed"] == 1:
            raise KeyboardInterrupt  # what a notebook kernel's interrupt does
        return real_grow(*args, **kwargs)

    monkeypatch.setattr(sensli, "grow", interrupted_on_seed_1)
    config = load_config(write_config(tmp_path, tiny_config("tiny", [2, 1], ["abs max"], [0, 1])))
    with pytest.raises(RunInterruptedError) as info:
        run_experiment(config, tmp_path / "out", progress=False)
    assert (info.value.finished, info.value.total) == (1, 2)
    results = load_results(info.value.folder)
    assert results["complete"] is False and [r["seed"] for r in results["runs"]] == [0]
    assert results["unfinished"] == [{"method": "abs max", "seed": 1, "status": "interrupted", "error": None}]


def test_disk_full_while_recording_exits_1_and_keeps_a_valid_results_file(tmp_path, capsys, monkeypatch):
    from minisensli.experiments import runner

    real_save = runner.save
    calls = []

    def disk_full_on_second_model(model, path):
        calls.append(path)
        if len(calls) == 2:
            raise OSError(28, "No space left on device", str(path))
        real_save(model, path)

    monkeypatch.setattr(runner, "save", disk_full_on_second_model)
    config = write_config(tmp_path, TINY)
    assert cli.main(["run", str(config), "--out", str(tmp_path / "out"), "--jobs", "1", "--no-progress"]) == 1
    assert "No space left on device" in capsys.readouterr().err
    results = load_results(only_folder(tmp_path / "out"))
    assert results["complete"] is False and len(results["runs"]) == 1


def test_plot_of_a_folder_stopped_before_any_run_finished(tmp_path, capsys, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(sensli, "grow", interrupted)
    config = load_config(write_config(tmp_path, TINY))
    with pytest.raises(RunInterruptedError) as info:
        run_experiment(config, tmp_path / "out", progress=False)
    assert info.value.finished == 0
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "legend without artists" or empty-mean warnings either
        assert cli.main(["plot", str(info.value.folder)]) == 0
    assert "incomplete results: 0 of 8 runs finished" in capsys.readouterr().err


def test_models_are_saved_while_no_task_can_touch_process_state(tmp_path, monkeypatch):
    # ms.save swaps the process's init generator for a moment; a task seeding its start weights in
    # another thread of this process (a Dask cluster inside it) must not run meanwhile.
    from minisensli.experiments import runner, tasks

    seen = []
    real_save = runner.save

    def save_checking_the_lock(model, path):
        seen.append(tasks.PROCESS_STATE_LOCK.locked())
        return real_save(model, path)

    monkeypatch.setattr(runner, "save", save_checking_the_lock)
    run_experiment(load_config(write_config(tmp_path, TINY)), tmp_path / "out", progress=False, jobs=1)
    assert seen and all(seen)
