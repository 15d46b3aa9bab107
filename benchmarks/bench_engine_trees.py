"""Training steps of several minisensli source trees, side by side in one process.

Issue 18 asks that a change to the engine not slow training down by more than 3 %, "measured side
by side against the previous commit in one run". Separate processes on a shared 2-core machine
differ by more than that from one minute to the next, so this script imports each tree in turn
into the same process (clearing ``minisensli`` from ``sys.modules`` in between: every tree's
functions keep their own modules), builds the steps of bench_engine.py with each (spirals 2-4-4-2
batch 450, MLP 784-256-256-10 batch 128, CNN on 28x28 batch 64; forward, cross-entropy, backward,
``p.data -= lr * p.grad``), and times them in alternating rounds (the order reversed every other
round). Each round's time is the process CPU time of ``steps`` steps (steadier than wall time
under load: machine.py); the printed ratio is median [min, max] over rounds of the per-round
ratio to the first tree, so that both sides of every ratio saw the same minute of the machine.

Run, e.g. against the commit before a change (a tree is a directory holding ``minisensli/``):
    git archive <commit> | tar -x -C /tmp/before
    python benchmarks/bench_engine_trees.py before=/tmp/before after=. [--rounds 41] [--steps 200]
"""

from __future__ import annotations

import argparse
import functools
import importlib
import statistics
import sys
import time
from collections.abc import Callable

import machine

machine.blas_threads_variables("1")  # before numpy loads, as bench_engine.py

import numpy as np  # noqa: E402

# the workloads of bench_engine.py itself (it imports the default minisensli, which load_tree then
# sets aside before importing each tree)
from bench_engine import conv_setup, mlp_setup, spirals_setup  # noqa: E402

LR = 0.01
WORKLOADS = ("spirals", "mlp", "cnn")


def load_tree(path: str) -> dict[str, Callable[[], None]]:
    """The three training steps built with the minisensli found under ``path``."""
    for name in [m for m in sys.modules if m == "minisensli" or m.startswith("minisensli.")]:
        del sys.modules[name]
    sys.path.insert(0, path)
    try:
        ms = importlib.import_module("minisensli")
        F = importlib.import_module("minisensli.functional")  # noqa: N806 - the usual name
    finally:
        sys.path.remove(path)

    def update(params, loss):
        for p in params:
            p.grad = None
        loss.backward()
        for p in params:
            p.data -= LR * p.grad

    def mlp(params, x, y):
        w1, b1, w2, b2, w3, b3 = params
        h = F.linear(F.linear(x, w1, b1).relu(), w2, b2).relu()
        update(params, F.cross_entropy(F.linear(h, w3, b3), y))

    def cnn(params, x, y):
        k1, c1, k2, c2, w3, b3 = params
        h = F.max_pool2d(F.conv2d(x, k1, c1, padding=1).relu(), 2)
        h = F.max_pool2d(F.conv2d(h, k2, c2, padding=1).relu(), 2)
        update(params, F.cross_entropy(F.linear(F.flatten(h), w3, b3), y))

    setups = {
        "spirals": (spirals_setup, mlp),
        "mlp": (mlp_setup, mlp),
        "cnn": (conv_setup, cnn),
    }
    steps: dict[str, Callable[[], None]] = {}
    for name, (setup, step) in setups.items():
        params, x, y = setup(np.random.default_rng(0))
        tensors = [ms.Tensor(p.copy(), requires_grad=True) for p in params]
        steps[name] = functools.partial(step, tensors, ms.Tensor(x), y)
    return steps


def compare(trees: dict[str, dict[str, Callable[[], None]]], workload: str, rounds: int, steps: int) -> None:
    names = list(trees)
    times: dict[str, list[float]] = {n: [] for n in names}
    for n in names:  # warm up every tree (first calls allocate, caches fill)
        for _ in range(5):
            trees[n][workload]()
    for r in range(rounds):
        for n in names if r % 2 == 0 else names[::-1]:
            step = trees[n][workload]
            t0 = time.process_time()
            for _ in range(steps):
                step()
            times[n].append((time.process_time() - t0) / steps)
    for n in names:
        ratios = [a / b for a, b in zip(times[n], times[names[0]])]
        print(
            f"{workload:8s} {n:10s} {statistics.median(times[n]) * 1e6:9.1f} us/step (cpu)   "
            f"ratio to {names[0]}: {statistics.median(ratios):.3f} [{min(ratios):.3f}, {max(ratios):.3f}]"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("trees", nargs="+", help="name=path, the first is the reference")
    parser.add_argument("--rounds", type=int, default=41)
    parser.add_argument("--steps", type=int, default=200, help="spirals steps per round (MLP, CNN: 1/20 of it)")
    parser.add_argument("--workloads", default=",".join(WORKLOADS))
    args = parser.parse_args()
    pairs = [t.split("=", 1) for t in args.trees]
    if any(len(p) != 2 for p in pairs):
        parser.error("each tree is name=path")
    print(f"machine: {machine.describe()}")
    trees = {name: load_tree(path) for name, path in pairs}
    for workload in args.workloads.split(","):
        if workload not in WORKLOADS:
            parser.error(f"unknown workload {workload!r} (choose from {', '.join(WORKLOADS)})")
        compare(trees, workload, args.rounds, args.steps if workload == "spirals" else max(args.steps // 20, 3))
    print(f"machine after: {machine.load_average()}")


if __name__ == "__main__":
    main()
