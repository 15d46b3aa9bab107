"""Where the tasks of a comparison run: in this process, in local worker processes, or on a
Dask distributed cluster. All three offer the same five calls, so the runner has one loop:

    handle = executor.submit(fn, *args)       start (or queue) fn(*args)
    done, running = executor.wait_any(handles) block until at least one handle finished
    executor.outcome(handle)                    its return value, or raises what fn raised
    executor.abandon(handles)                   stop caring: cancel queued ones, stop running ones
    executor.close()

Results never depend on the executor: every task owns its seeds (see tasks.py), and the
runner orders the finished runs itself.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import ctypes
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

PR_SET_PDEATHSIG = 1  # linux/prctl.h
BLAS_THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


class ExecutorError(RuntimeError):
    """An executor could not be set up (bad --jobs, distributed missing, scheduler unreachable)."""


def available_cores() -> int:
    """Cores this process may use (its CPU affinity where the system reports it)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


class InProcessExecutor:
    """Runs one task at a time in this process, when the runner waits for it (``--jobs 1``)."""

    description = "in this process"
    workers = 1
    in_process = True

    def submit(self, fn: Callable[..., Any], *args: Any) -> concurrent.futures.Future:
        future: concurrent.futures.Future = concurrent.futures.Future()
        future.call = (fn, args)  # type: ignore[attr-defined]  # run lazily, in wait_any
        return future

    def wait_any(self, handles: list[Any]) -> tuple[list[Any], list[Any]]:
        done = [h for h in handles if h.done()]
        if not done:
            first = handles[0]
            fn, args = first.call
            try:
                first.set_result(fn(*args))
            except Exception as err:  # reported per task by the runner; Ctrl-C goes through
                first.set_exception(err)
            done = [first]
        return done, [h for h in handles if h not in done]

    def outcome(self, handle: Any) -> Any:
        return handle.result()

    def abandon(self, handles: list[Any]) -> None:
        for handle in handles:
            handle.cancel()

    def close(self) -> None:
        pass


PARENT_POLL_SECONDS = 1.0  # how often a worker looks whether its parent is still alive


def _exit_with_parent(parent: int) -> None:
    """End this worker process when ``parent`` (the process that started it) dies.

    A worker blocks reading its next task from the parent; if the parent is killed (SIGKILL, a crash,
    the OOM killer) nothing would ever arrive and the worker would wait forever. On Linux the kernel
    sends SIGKILL to the worker when its parent dies (prctl PR_SET_PDEATHSIG); everywhere a daemon
    thread also checks every PARENT_POLL_SECONDS whether the worker was re-parented (its parent id
    changes when the parent is gone) and ends the process."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # the parent died before the line above took effect
        os._exit(1)

    def watch() -> None:
        while True:
            time.sleep(PARENT_POLL_SECONDS)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, name="minisensli-parent-watch", daemon=True).start()


def _init_worker(parent: int | None = None) -> None:
    if parent is not None:
        _exit_with_parent(parent)
    # Ctrl-C in a terminal reaches every process of the group; the main process decides what
    # stops, so a worker must not die half-way through sending a result back.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # tqdm's default lock is a named multiprocessing semaphore; a worker ended by Ctrl-C could not
    # release it and Python would warn about a leaked semaphore. Workers draw no bars: a plain lock does.
    from tqdm.std import tqdm  # noqa: PLC0415

    tqdm.set_lock(threading.RLock())


class ProcessExecutor:
    """Local worker processes (``--jobs N``), started with 'spawn' so that each begins from a clean
    interpreter on every platform (no forked locks or threads, no inherited global state)."""

    in_process = False

    def __init__(self, jobs: int) -> None:
        self.workers = jobs
        self.description = f"{jobs} worker processes"
        # One BLAS thread per worker: the parallelism is in the tasks. N workers that each start a BLAS
        # thread per core fight over the cores (on 2 busy cores: 7x the CPU time for the digits CNN), and
        # the rounding of a large matrix product depends on the BLAS thread count, so a fixed count keeps
        # every --jobs N >= 2 bit-identical. A spawned worker reads these when it imports numpy; a setting
        # the user made is kept, ours is removed again in close().
        self._environment = {name: "1" for name in BLAS_THREAD_VARIABLES if name not in os.environ}
        os.environ.update(self._environment)
        self._pool: concurrent.futures.ProcessPoolExecutor | None = concurrent.futures.ProcessPoolExecutor(
            max_workers=jobs,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker,
            initargs=(os.getpid(),),
        )

    def submit(self, fn: Callable[..., Any], *args: Any) -> concurrent.futures.Future:
        if self._pool is None:
            raise RuntimeError("ProcessExecutor: submit after close")
        return self._pool.submit(fn, *args)

    def wait_any(self, handles: list[Any]) -> tuple[list[Any], list[Any]]:
        done, running = concurrent.futures.wait(handles, return_when=concurrent.futures.FIRST_COMPLETED)
        return [h for h in handles if h in done], [h for h in handles if h in running]

    def outcome(self, handle: Any) -> Any:
        return handle.result()

    def abandon(self, handles: list[Any]) -> None:
        # The workers are stopped, and the pool's own thread has failed their pending tasks, before any
        # handle is cancelled: when the pool finds its workers gone it sets an exception on every task
        # still in its table of pending work, and on Python < 3.12 a task cancelled by hand meanwhile
        # makes that thread die with InvalidStateError (a traceback on stderr at Ctrl-C).
        if self._pool is not None:
            terminate = getattr(self._pool, "terminate_workers", None)  # Python >= 3.14
            if terminate is not None:
                terminate()
            else:  # older Pythons have no public way to stop a running task: end the worker processes
                for process in list((getattr(self._pool, "_processes", None) or {}).values()):
                    if process.is_alive():
                        process.terminate()
                self._pool.shutdown(wait=True)  # returns once the pool's thread has seen the workers end
            self.close()
        for handle in handles:
            handle.cancel()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            # drop the pool now: a traceback cycle that still reaches this executor would otherwise keep
            # its queues' semaphores alive until exit, and multiprocessing warns about them there
            self._pool = None
        for name, value in self._environment.items():
            if os.environ.get(name) == value:
                del os.environ[name]
        self._environment = {}


class DaskExecutor:
    """Tasks sent to a Dask distributed scheduler (``--scheduler ADDRESS``); the workers need
    minisensli installed. Needs the optional dependency: pip install 'minisensli[cluster]'."""

    in_process = False

    def __init__(self, address: str, connect_timeout: float = 10.0) -> None:
        try:
            import distributed  # noqa: PLC0415 - optional dependency, imported only when asked for
        except ImportError as err:
            raise ExecutorError(
                "--scheduler needs Dask distributed, which is not installed; install it with: "
                "pip install 'minisensli[cluster]'"
            ) from err
        self._distributed = distributed
        _check_address(distributed, address)  # a Client that failed on a malformed address hangs at exit
        try:
            self._client = distributed.Client(address, timeout=connect_timeout, set_as_default=False)
        except (OSError, TimeoutError, ValueError) as err:
            raise ExecutorError(f"--scheduler {address}: cannot connect to a Dask scheduler there ({err})") from err
        self.workers = max(1, sum(self._client.nthreads().values()))
        self.description = f"Dask scheduler {address}, {self.workers} worker threads"

    def submit(self, fn: Callable[..., Any], *args: Any) -> Any:
        return self._client.submit(fn, *args, pure=False)

    def wait_any(self, handles: list[Any]) -> tuple[list[Any], list[Any]]:
        with self._client.as_current():  # our client, not whatever default the caller has
            finished = self._distributed.wait(handles, return_when="FIRST_COMPLETED")
        return [h for h in handles if h in finished.done], [h for h in handles if h in finished.not_done]

    def outcome(self, handle: Any) -> Any:
        return handle.result()

    def abandon(self, handles: list[Any]) -> None:
        if handles:
            self._client.cancel(handles)

    def close(self) -> None:
        self._client.close()


def _check_address(distributed: Any, address: str) -> None:
    from distributed.comm.addressing import parse_host_port  # noqa: PLC0415

    try:
        scheme, location = distributed.comm.parse_address(address)
        if scheme in ("tcp", "tls"):
            parse_host_port(location)
    except (ValueError, TypeError) as err:
        raise ExecutorError(
            f"--scheduler {address!r}: not a scheduler address such as tcp://host:8786 ({err})"
        ) from err


def make_executor(jobs: int = 1, scheduler: str | None = None, tasks: int | None = None) -> Any:
    """The executor for ``--jobs``/``--scheduler``: Dask when a scheduler address is given, else
    ``min(jobs, tasks)`` local processes, or this process when that is 1."""
    if scheduler is not None:
        if not isinstance(scheduler, str) or not scheduler.strip():
            raise ExecutorError(f"--scheduler: expected an address such as tcp://host:8786, got {scheduler!r}")
        return DaskExecutor(scheduler)
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ExecutorError(f"--jobs: must be a whole number of at least 1, got {jobs!r}")
    if tasks is not None:
        jobs = min(jobs, max(tasks, 1))
    return InProcessExecutor() if jobs == 1 else ProcessExecutor(jobs)
