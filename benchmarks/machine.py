"""What a benchmark's numbers depend on, printed with them: the machine, its load, the BLAS.

On a shared 2-core machine the same step varies by 2x with the load, and a BLAS that runs two
threads instead of one changes the GEMM-bound steps (and lets a benchmark compete with itself);
the CPU clock of a VM is fixed or hidden. So every benchmark prints ``describe()`` before and
after its runs, and times by ``interleaved``: wall-clock and process CPU time per call, the
contenders alternating round by round so that they see the same machine state. CPU time counts
only this process's own work (including page faults), not the time it waited for a core, so
on a loaded machine it is the steadier of the two; the ratio of medians side by side is the
number to trust.

BLAS threads and kernel come from threadpoolctl when it is installed, else from OpenBLAS's own
query functions (numpy's wheels bundle OpenBLAS), else from the *_NUM_THREADS variables.
"""

from __future__ import annotations

import ctypes
import os
import platform
import statistics
import time
from collections.abc import Callable


def blas_threads_variables(value: str = "1") -> None:
    """Set the BLAS/OpenMP thread variables to ``value`` unless already set; effective only
    before numpy (or torch) is imported."""
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(name, value)


def _openblas_from_maps() -> str:
    """numpy's OpenBLAS as the loaded library says: '<kernel>, <n> threads' or ''."""
    try:
        with open("/proc/self/maps") as maps:
            paths = sorted({line.split()[-1] for line in maps if "openblas" in line.lower() and ".so" in line})
    except OSError:
        return ""
    for path in paths:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for prefix, suffix in (("scipy_", "64_"), ("", "64_"), ("", "")):
            threads = getattr(lib, f"{prefix}openblas_get_num_threads{suffix}", None)
            corename = getattr(lib, f"{prefix}openblas_get_corename{suffix}", None)
            if threads is not None and corename is not None:
                corename.restype = ctypes.c_char_p
                return f"OpenBLAS {corename().decode()}, {threads()} thread(s)"
    return ""


def blas_description() -> str:
    """numpy's BLAS: library, kernel (architecture) and number of threads."""
    import numpy  # noqa: PLC0415 - after the caller had the chance to set thread variables

    try:
        from threadpoolctl import threadpool_info  # noqa: PLC0415 - optional

        pools = [p for p in threadpool_info() if p.get("user_api") == "blas"]
        if pools:
            return "; ".join(
                f"{p.get('internal_api')} {p.get('architecture', '?')}, {p.get('num_threads')} thread(s)" for p in pools
            )
    except ImportError:
        pass
    found = _openblas_from_maps()
    if found:
        return found
    variables = {n: os.environ.get(n) for n in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    return f"numpy {numpy.__version__} BLAS (threads unknown; {variables})"


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as info:
            lines = info.read().splitlines()
    except OSError:
        return platform.processor() or "unknown CPU"
    model = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), "unknown CPU")
    mhz = [float(line.split(":", 1)[1]) for line in lines if line.startswith("cpu MHz")]
    clock = f", {statistics.mean(mhz):.0f} MHz as reported" if mhz else ""
    return f"{model}, {os.cpu_count()} cores{clock}"


def load_average() -> str:
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:
        return "load unknown"
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} (1/5/15 min)"


def describe(torch_module=None) -> str:
    """One paragraph: CPU, load, numpy and its BLAS, and PyTorch's threads when given."""
    import numpy  # noqa: PLC0415

    parts = [cpu_model(), load_average(), f"numpy {numpy.__version__} with {blas_description()}"]
    if torch_module is not None:
        parts.append(f"torch {torch_module.__version__}, {torch_module.get_num_threads()} intra-op thread(s)")
    return "; ".join(parts)


class Timings:
    """Wall and CPU seconds of repeated calls of one contender."""

    def __init__(self) -> None:
        self.wall: list[float] = []
        self.cpu: list[float] = []

    def median(self, cpu: bool = False) -> float:
        return statistics.median(self.cpu if cpu else self.wall)

    def summary(self, scale: float = 1e3, unit: str = "ms") -> str:
        """'median [min-max] unit wall, median unit CPU'."""
        return (
            f"{self.median() * scale:8.3f} [{min(self.wall) * scale:.3f}-{max(self.wall) * scale:.3f}] {unit} wall, "
            f"{self.median(cpu=True) * scale:8.3f} {unit} cpu"
        )


def interleaved(contenders: dict[str, Callable[[], object]], rounds: int, warmup: int = 3) -> dict[str, Timings]:
    """Time every contender once per round, in turn, for ``rounds`` rounds (after ``warmup``)."""
    for _ in range(warmup):
        for run in contenders.values():
            run()
    timings = {name: Timings() for name in contenders}
    for _ in range(rounds):
        for name, run in contenders.items():
            wall, cpu = time.perf_counter(), time.process_time()
            run()
            timings[name].cpu.append(time.process_time() - cpu)
            timings[name].wall.append(time.perf_counter() - wall)
    return timings
