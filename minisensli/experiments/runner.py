"""Running a comparison: every method on every seed, saved as one results folder.

Per seed, the start model is drawn once; the growth methods ('abs max', 'abs min', 'random',
'threshold') and the 'small' baseline start from those same weights and see the same minibatch
order (as in the reference). 'big' is the final 'abs max' architecture of that seed with fresh
weights (its own seed), trained from scratch for the same total number of epochs: the honest
baseline of sensli-reference.md, not the reference's list-repetition net.

Each (method, seed) training is a task (tasks.py) run by an executor (executors.py): this
process, local worker processes, or a Dask cluster. Whenever a task finishes, its model and
an updated results.json (marked incomplete until the last one) are written atomically, so
Ctrl-C, SIGTERM, a failing task or a crash keep every finished run, and ``resume_experiment``
runs only the missing ones. Each task owns its seeds, so the numbers do not depend on the
executor, the number of workers, the order of completion or an interruption in between.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import pathlib
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from .. import __version__, backend
from ..files import write_text
from ..progress import progress_bar
from ..serialization import load, save
from .config import Config, ConfigError, check_run_name, load_config, to_toml
from .executors import ExecutorError, make_executor
from .plots import draw_all
from .results import SCHEMA_ID, ResultsError, check_results, check_run, layer_labels, load_results
from .setup import check_data, check_device
from .summary import summarize
from .tasks import PROCESS_STATE_LOCK, Task, TaskResult, all_tasks, method_order, run_task

MAX_FOLDER_ATTEMPTS = 1000
# results.json grows with every run (all losses and errors): rewriting it after each of many short
# tasks would cost more than the tasks; between two writes, wait this long and this many times the last write
MIN_SECONDS_BETWEEN_WRITES = 2.0
WRITE_TIME_FACTOR = 5.0


class RunFolderError(ValueError):
    """--out cannot hold a results folder (a file, not writable, unreachable), or a name would leave it."""


class RunInterruptedError(Exception):
    """Ctrl-C or SIGTERM stopped a run; every finished run is kept in ``folder``."""

    def __init__(self, folder: pathlib.Path, signal_name: str, finished: int, total: int) -> None:
        super().__init__(f"{signal_name}: stopped with {finished} of {total} runs finished; they are kept in {folder}")
        self.folder, self.signal_name, self.finished, self.total = folder, signal_name, finished, total


class RunFailedError(Exception):
    """Some tasks raised; the others finished and are kept in ``folder``. ``failures``: (task label, error)."""

    def __init__(self, folder: pathlib.Path, failures: list[tuple[str, str]], finished: int, total: int) -> None:
        super().__init__(f"{len(failures)} of {total} runs failed, {finished} finished; they are kept in {folder}")
        self.folder, self.failures, self.finished, self.total = folder, failures, finished, total


def quick(config: Config) -> Config:
    """A smoke-test version: every phase's epochs divided by 10 (at least 1), at most 2 seeds."""
    config.training["epochs"] = [max(1, e // 10) for e in config.training["epochs"]]
    config.comparison["seeds"] = config.comparison["seeds"][:2]
    return config


# ----------------------------------------------------------------------------- the results folder


def create_run_folder(out_root: str | pathlib.Path, name: str, stamp: str) -> pathlib.Path:
    """Create ``out_root``/``name``-``stamp`` (with a suffix -2, -3, ... when it exists) exclusively,
    so that runs started in the same second never share a folder; raises RunFolderError or ConfigError."""
    check_run_name(name)
    root = pathlib.Path(out_root)
    try:
        root.mkdir(parents=True, exist_ok=True)
    except FileExistsError as err:
        raise RunFolderError(f"--out {root}: exists and is not a folder") from err
    except NotADirectoryError as err:
        raise RunFolderError(f"--out {root}: part of that path is a file, not a folder") from err
    except OSError as err:
        raise RunFolderError(f"--out {root}: cannot create it ({err.strerror or err})") from err
    if not root.is_dir():
        raise RunFolderError(f"--out {root}: exists and is not a folder")
    for attempt in range(1, MAX_FOLDER_ATTEMPTS + 1):
        folder = root / (f"{name}-{stamp}" if attempt == 1 else f"{name}-{stamp}-{attempt}")
        # check_run_name makes this impossible; a second guard costs nothing. mkdir creates exactly this
        # entry of root (an existing entry, a symlink included, is a collision and gets the next suffix)
        if folder.parent != root or folder.name in (".", "..") or "/" in folder.name or "\\" in folder.name:
            raise RunFolderError(f"name: {name!r} would put the results folder outside --out {root}")
        try:
            folder.mkdir()
        except FileExistsError:
            continue
        except OSError as err:
            raise RunFolderError(f"--out {root}: cannot create a results folder in it ({err.strerror or err})") from err
        (folder / "models").mkdir()
        return folder
    raise RunFolderError(f"--out {root}: {MAX_FOLDER_ATTEMPTS} folders named {name}-{stamp}* exist already")


# ----------------------------------------------------------------------------- results


@dataclass
class _Record:
    """The results folder being filled: finished runs by task, and what became of the others."""

    folder: pathlib.Path
    config: Config
    created: str
    tasks: list[Task]
    dtype: str
    runs: dict[Task, dict[str, Any]] = field(default_factory=dict)
    start_architecture: list[str] = field(default_factory=list)
    failed: dict[Task, str] = field(default_factory=dict)
    running: set[Task] = field(default_factory=set)
    stopped: bool = False
    _encoded: dict[Task, str] = field(default_factory=dict, init=False)  # each run's JSON, encoded once
    _next_write: float = field(default=0.0, init=False)  # finished tasks wait for this perf_counter time

    def document(self) -> dict[str, Any]:
        order = method_order(self.config.comparison["methods"])
        runs = [self.runs[t] for t in self.tasks if t in self.runs]  # results order, whatever finished first
        return {
            "schema": SCHEMA_ID,
            "name": self.config.name,
            "minisensli_version": __version__,
            "created": self.created,
            "complete": len(runs) == len(self.tasks),
            "dtype": self.dtype,
            "unfinished": [self._unfinished(t) for t in self.tasks if t not in self.runs],
            "config": self.config.as_dict(),
            "phase_epochs": self.config.phase_epochs,
            "start_architecture": self.start_architecture,
            "methods": order,
            "seeds": list(self.config.comparison["seeds"]),
            "runs": runs,
            **summarize(runs, order),
        }

    def _unfinished(self, task: Task) -> dict[str, Any]:
        error = self.failed.get(task)
        dependency = task.depends_on
        if error is not None:
            status = "failed"
        elif dependency is not None and dependency in self.failed:
            status, error = "skipped", f"needs {dependency.label}, which failed"
        elif task in self.running and self.stopped:
            status = "interrupted"
        elif task in self.running:
            status = "running"
        else:
            status = "not started"
        return {"method": task.method, "seed": task.seed, "status": status, "error": error}

    def write(self) -> dict[str, Any]:
        """Write results.json (atomically) as it stands; returns the document."""
        started = time.perf_counter()
        results = self.document()
        check_results({**results, "runs": []})  # each run is checked once, when it is first encoded
        for task in self.tasks:
            if task in self.runs and task not in self._encoded:
                check_run(self.runs[task], task.label)
                self._encoded[task] = json.dumps(self.runs[task], separators=(",", ":"))
        runs_text = "[" + ",".join(self._encoded[t] for t in self.tasks if t in self.runs) + "]"
        text = (
            "{"
            + ",".join(
                json.dumps(key) + ":" + (runs_text if key == "runs" else json.dumps(value, separators=(",", ":")))
                for key, value in results.items()
            )
            + "}"
        )
        write_text(self.folder / "results.json", text)
        now = time.perf_counter()
        self._next_write = now + max(MIN_SECONDS_BETWEEN_WRITES, WRITE_TIME_FACTOR * (now - started))
        return results

    def finish_task(self, result: TaskResult) -> None:
        """Save the task's model, then list it in results.json (both atomically). A large results.json is
        rewritten at most every few seconds; the first finished run, the end and every stop always are."""
        save(result.model, self.folder / result.task.model_file)
        first = not self.runs
        self.runs[result.task] = result.record
        self.running.discard(result.task)
        if not self.start_architecture:
            self.start_architecture = result.start_architecture
        if first or time.perf_counter() >= self._next_write:
            self.write()


# ----------------------------------------------------------------------------- stopping on signals


class _StopRequested(KeyboardInterrupt):
    def __init__(self, signal_name: str) -> None:
        super().__init__(signal_name)
        self.signal_name = signal_name


class _StopSignals:
    """While active, SIGINT and SIGTERM raise _StopRequested in the main thread, except inside
    ``protected()`` (recording a finished task), where the stop waits until the block is done.
    After the first signal, further ones are ignored so that the clean-up can finish."""

    def __init__(self) -> None:
        self.protecting = False
        self.pending: str | None = None
        self.received: str | None = None

    def _handle(self, signum: int, frame: Any) -> None:
        name = signal.Signals(signum).name
        if self.received is not None:
            return
        if self.protecting:
            self.pending = self.pending or name
            return
        self.received = name
        raise _StopRequested(name)

    @contextlib.contextmanager
    def active(self) -> Iterator[_StopSignals]:
        if threading.current_thread() is not threading.main_thread():
            yield self  # signal handlers live in the main thread only; Ctrl-C then arrives as KeyboardInterrupt
            return
        previous = {s: signal.signal(s, self._handle) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield self
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)

    @contextlib.contextmanager
    def protected(self) -> Iterator[None]:
        self.protecting = True
        try:
            yield
        finally:
            self.protecting = False
        if self.pending is not None:
            self.received, self.pending = self.pending, None
            raise _StopRequested(self.received)

    def stop_quietly(self) -> None:
        """From now on, ignore signals (the clean-up runs to its end)."""
        self.received = self.received or "SIGINT"


# ----------------------------------------------------------------------------- running

MAX_ERROR_TEXT = 2000  # characters of a failed run's error kept in results.json and printed


def _error_text(err: BaseException) -> str:
    """'Type: message', at most MAX_ERROR_TEXT characters (an error's str() may be huge, or raise)."""
    try:
        text = f"{type(err).__name__}: {err}"
    except Exception:  # noqa: BLE001 - a broken __str__ must not stop the run's bookkeeping
        text = f"{type(err).__name__} (its message could not be shown)"
    return text if len(text) <= MAX_ERROR_TEXT else text[: MAX_ERROR_TEXT - 3] + "..."


def _execute(record: _Record, todo: list[Task], bases: dict[Task, Any], executor: Any, progress: bool) -> None:
    """Run ``todo`` through ``executor``, recording each task when it finishes; raises RunInterruptedError
    on Ctrl-C/SIGTERM and RunFailedError when tasks failed (after the others finished)."""
    in_process = executor.in_process
    waiting = [t for t in todo if t.depends_on is not None and t.depends_on not in record.runs]
    ready = [t for t in todo if t not in waiting]
    handles: dict[Any, Task] = {}
    bar = progress_bar(
        None,  # type: ignore[arg-type]  # a bar updated by hand
        total=len(record.tasks),
        initial=len(record.runs),
        disable=not progress,
        desc=f"{record.config.name}: runs ({executor.description})",
        unit="run",
    )
    signals = _StopSignals()
    caller_dtype = backend.get_default_dtype()
    try:
        if in_process:
            backend.set_default_dtype(record.dtype)  # the run's dtype, also when another caller resumes it
        with signals.active():
            try:
                while ready or handles:
                    for task in ready:
                        args = (
                            record.config,
                            task,
                            None if task.depends_on is None else bases.get(task.depends_on),
                            progress and in_process,
                            None if in_process else record.dtype,
                        )
                        try:
                            handles[executor.submit(run_task, *args)] = task
                        except Exception as err:  # e.g. a pool whose worker process died: no new tasks
                            record.failed[task] = "not started: " + _error_text(err)
                            continue
                        record.running.add(task)
                    ready = []
                    if not handles:
                        break
                    done, _ = executor.wait_any(list(handles))
                    for handle in done:
                        task = handles.pop(handle)
                        with signals.protected():
                            try:
                                result = executor.outcome(handle)
                            except Exception as err:  # the task failed: keep going with the others
                                record.running.discard(task)
                                record.failed[task] = _error_text(err)
                                bar.write(f"minisensli: {task.label} failed: {record.failed[task]}", file=sys.stderr)
                                record.write()
                                continue
                            with PROCESS_STATE_LOCK:  # saves the model: see tasks.PROCESS_STATE_LOCK
                                record.finish_task(result)
                            bar.set_postfix_str(f"last: {task.label}", refresh=False)
                            bar.update(1)
                        for dependent in [t for t in waiting if t.depends_on == task]:
                            bases[task] = result.model
                            waiting.remove(dependent)
                            ready.append(dependent)
            except KeyboardInterrupt as stop:
                signals.stop_quietly()
                record.stopped = True
                executor.abandon(list(handles))
                record.write()
                name = getattr(stop, "signal_name", "SIGINT")
                raise RunInterruptedError(record.folder, name, len(record.runs), len(record.tasks)) from None
            except Exception:  # recording failed (disk full, folder removed): stop the others, keep what we can
                executor.abandon(list(handles))
                with contextlib.suppress(Exception):
                    record.write()
                raise
    finally:
        bar.close()
        executor.close()
        backend.set_default_dtype(caller_dtype)
    if record.failed:
        record.write()
        failures = [(t.label, e) for t, e in sorted(record.failed.items())]
        raise RunFailedError(record.folder, failures, len(record.runs), len(record.tasks))


def _finish(record: _Record) -> pathlib.Path:
    """Write the final results.json and the figures. SIGINT/SIGTERM here raise KeyboardInterrupt (with
    the signal's name as ``signal_name``) also for a caller of the Python API, so the file being
    written is removed (files.atomic_write) instead of the process dying with a .partial file."""
    with _StopSignals().active():
        results = record.write()
        draw_all(results, record.folder)
    return record.folder


def run_experiment(
    config: Config,
    out_root: str | pathlib.Path = "minisensli-results",
    progress: bool = True,
    timestamp: str | None = None,
    jobs: int = 1,
    scheduler: str | None = None,
) -> pathlib.Path:
    """Run every method on every seed of ``config``; write the results folder and return its path.

    jobs: local processes (1: in this process); scheduler: a Dask scheduler address instead.
    Worker processes are started with 'spawn', so a script that calls this with jobs > 1 needs the
    usual ``if __name__ == "__main__":`` guard.
    Raises RunInterruptedError (Ctrl-C, SIGTERM) or RunFailedError (some tasks raised): the folder then
    holds every finished run, and ``resume_experiment`` completes it.
    """
    check_run_name(config.name)
    check_device(config)
    check_data(config)  # e.g. too few examples for a test set: refused before the folder exists
    tasks = all_tasks(config)
    executor = make_executor(jobs, scheduler, len(tasks))  # a bad setting fails before any folder exists
    try:
        stamp = timestamp or datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        folder = create_run_folder(out_root, config.name, stamp)
        write_text(folder / "config.toml", to_toml(config))
        record = _Record(
            folder,
            config,
            datetime.datetime.now().isoformat(timespec="seconds"),
            tasks,
            backend.get_default_dtype().name,
        )
        record.write()
    except BaseException:
        executor.close()
        raise
    _execute(record, tasks, {}, executor, progress)
    return _finish(record)


def resume_experiment(
    folder: str | pathlib.Path,
    progress: bool = True,
    jobs: int = 1,
    scheduler: str | None = None,
    on_start: Callable[[int, int], None] | None = None,
) -> pathlib.Path:
    """Run the missing runs of an interrupted or failed results folder (same seeds, same numbers as
    an uninterrupted run) and complete its results.json and figures; returns the folder.

    on_start(finished, total): called once the folder is checked, before any run starts, with the
    number of runs finished before and of all runs (the CLI says what it is about to run)."""
    folder = pathlib.Path(folder)
    results = load_results(folder)
    try:
        config = load_config(folder / "config.toml")
    except ConfigError as err:
        raise ResultsError(f"--resume {folder}: {err}") from err
    if config.as_dict() != results["config"]:
        raise ResultsError(f"--resume {folder}: config.toml and results.json describe different configurations")
    tasks = all_tasks(config)
    known = set(tasks)
    runs: dict[Task, dict[str, Any]] = {}
    for run in results["runs"]:
        task = Task(run["seed"], run["method"])
        if task not in known:
            raise ResultsError(
                f"--resume {folder}: results.json holds a run ({task.label}) that its config.toml does not ask for"
            )
        runs[task] = run
    todo = [t for t in tasks if t not in runs]
    bases: dict[Task, Any] = {}
    for task in todo:
        dependency = task.depends_on
        if dependency is not None and dependency in runs:
            bases[dependency] = _load_finished_model(folder, runs[dependency])
    executor = make_executor(jobs, scheduler, len(todo))
    if on_start is not None:
        on_start(len(runs), len(tasks))
    record = _Record(
        folder,
        config,
        results["created"],
        tasks,
        results.get("dtype", "float32"),
        runs=runs,
        start_architecture=list(results["start_architecture"]),
    )
    _execute(record, todo, bases, executor, progress)
    return _finish(record)


def _load_finished_model(folder: pathlib.Path, run: dict[str, Any]) -> Any:
    """The saved model of a finished run, checked against the architecture and parameter count that
    results.json recorded for it (a model file swapped or damaged since would otherwise become, e.g.,
    the architecture of the 'big' baseline)."""
    path = folder / run["model_file"]
    if path.resolve().parent != (folder / "models").resolve():
        raise ResultsError(f"--resume {folder}: model_file {run['model_file']!r} lies outside the models folder")
    where = f"the finished model {path} that '{run['method']}' seed {run['seed']} left"
    try:
        model = load(path)
    except (OSError, ValueError) as err:
        raise ResultsError(f"--resume {folder}: cannot read {where} ({err})") from err
    labels = layer_labels(model)
    if labels != run["architecture"] or model.num_parameters() != run["parameters"]:
        raise ResultsError(
            f"--resume {folder}: {where} does not match the run recorded in results.json (layers {labels}, "
            f"{model.num_parameters()} parameters; recorded: {run['architecture']}, {run['parameters']} parameters)"
        )
    return model


__all__ = [
    "ExecutorError",
    "RunFailedError",
    "RunFolderError",
    "RunInterruptedError",
    "create_run_folder",
    "quick",
    "resume_experiment",
    "run_experiment",
]
