"""Experiment throughput: the spirals experiment, per seed and per training, and one training
of its protocol against the same protocol written in PyTorch.

Part 1, one training (side by side, alternating, median of --repeats): the paper's spirals
protocol, 2-4-4-2 ReLU net, 450 + 1400 full-batch epochs, test error after every epoch, one
insertion chosen by the closed-form sensitivities: ``sensli.grow`` against
benchmarks/torch_spirals.py (skipped when PyTorch is not installed), both from the same start
weights, on one core.

Part 2, the spirals experiment (``minisensli run spirals``: 5 trainings per seed, every model
saved, figures drawn) on --seeds seeds, one process, with the time split into training (the
epochs' forward/backward/update), evaluation (test error after every epoch), selection
(sensitivities + insertion), figures, and the rest (building models and loaders, saving).
What varies is mostly the machine's load. On the shared 2-core machine (2026-12-07) at a load
average of 15-16, one training took 4.4 s in minisensli and 9.4 s in PyTorch (0.47x; CPU time of
the process 0.84 s vs 2.09 s, 0.40x), where earlier sessions measured 0.30 s against 0.44 s
(0.68x) and 0.56x on a quieter machine: the load slows PyTorch's many small kernels more than
minisensli's. Two BLAS/OpenMP threads instead of one changed little here (0.47x wall, 0.48x
CPU); the VM reports a fixed CPU clock. So the benchmark prints, with its numbers, the machine
(CPU, load average before and after, numpy's BLAS kernel and threads, torch's threads) and both
the wall and the CPU time of this process per contender; on a loaded machine the CPU-time ratio
is the steadier one.
Run:  python benchmarks/bench_experiment.py [--repeats 3] [--seeds 2]
"""

from __future__ import annotations

import machine

machine.blas_threads_variables("1")  # one core, before numpy (and torch) load

import argparse  # noqa: E402
import importlib.util  # noqa: E402
import json  # noqa: E402
import pathlib  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import minisensli as ms  # noqa: E402
from minisensli import data, nn, sensli  # noqa: E402
from minisensli import train as train_module  # noqa: E402
from minisensli.experiments import resolve, runner  # noqa: E402

HAVE_TORCH = importlib.util.find_spec("torch") is not None


def start_model(seed: int) -> nn.Sequential:
    ms.manual_seed(seed)
    return nn.Sequential(nn.Dense(2, 4), nn.ReLU(), nn.Dense(4, 4), nn.ReLU(), nn.Dense(4, 2))


def minisensli_protocol(split: data.Split, seed: int) -> sensli.GrowthResult:
    train = data.DataLoader(split.train, batch_size=450)
    test = data.DataLoader(split.test, batch_size=150)
    return sensli.grow(start_model(seed), train, test, epochs=[450, 1400], lr=0.2, mode="abs max", progress=False)


def one_training(repeats: int) -> None:
    split = data.spirals()
    x, y = split.train.arrays
    x_test, y_test = split.test.arrays
    weights = [p.numpy() for p in start_model(0).parameters()]
    runs = {"minisensli": lambda: minisensli_protocol(split, 0)}
    if HAVE_TORCH:
        sys.path.insert(0, str(pathlib.Path(__file__).parent))
        from torch_spirals import run_protocol  # noqa: PLC0415 - optional dependency

        runs["pytorch"] = lambda: run_protocol(weights, x, y, x_test, y_test)
    finals = {}

    def recorded(name, run):
        def call():
            out = run()
            history = out.history.test_error if name == "minisensli" else out["history"]["test_error"]
            finals[name] = history[-1]

        return call

    torch = sys.modules.get("torch")
    print(f"machine: {machine.describe(torch)}")
    timings = machine.interleaved({name: recorded(name, run) for name, run in runs.items()}, repeats, warmup=1)
    print(
        f"one training of the spirals protocol (2-4-4-2, 450 + 1400 full-batch epochs, one insertion), "
        f"median [range] of {repeats}, alternating"
    )
    for name, timing in timings.items():
        print(f"  {name:10s} {timing.summary(1.0, 's')}  final test error {100 * finals[name]:.2f} %")
    if "pytorch" in timings:
        wall = timings["minisensli"].median() / timings["pytorch"].median()
        cpu = timings["minisensli"].median(cpu=True) / timings["pytorch"].median(cpu=True)
        print(f"  ratio minisensli / pytorch: {wall:.2f} wall, {cpu:.2f} cpu")
    else:
        print("  pytorch: not installed, column skipped (pip install torch)")
    print(f"machine after: {machine.load_average()}")


class Stopwatch:
    """Wraps a function so that the seconds spent in it add up in ``seconds``."""

    def __init__(self, function):
        self.function, self.seconds = function, 0.0

    def __call__(self, *args, **kwargs):
        start = time.perf_counter()
        try:
            return self.function(*args, **kwargs)
        finally:
            self.seconds += time.perf_counter() - start


def experiment(seeds: int) -> None:
    config = resolve("spirals")
    config.comparison["seeds"] = list(range(seeds))
    # fit evaluates through _evaluate_batches (earlier versions: through evaluate); both are timed, so the
    # same benchmark also measures the code before this change
    evaluator = "_evaluate_batches" if hasattr(train_module, "_evaluate_batches") else "evaluate"
    evaluation = Stopwatch(getattr(train_module, evaluator))
    figures = Stopwatch(runner.draw_all)
    setattr(train_module, evaluator, evaluation)
    runner.draw_all = figures
    try:
        with tempfile.TemporaryDirectory() as folder:
            start = time.perf_counter()
            out = runner.run_experiment(config, folder, progress=False, timestamp="bench")
            total = time.perf_counter() - start
            results = json.loads((out / "results.json").read_text())
    finally:
        setattr(train_module, evaluator, evaluation.function)
        runner.draw_all = figures.function
    runs = results["runs"]
    training = sum(r["train_seconds"] for r in runs)
    selection = sum(r["select_seconds"] for r in runs)
    rest = total - training - evaluation.seconds - selection - figures.seconds
    print(f"\nspirals experiment: {seeds} seeds x {len(runs) // seeds} trainings, one process")
    print(f"  {'':12s} {'per seed':>10s} {'per training':>13s}")
    for name, seconds in (
        ("training", training),
        ("evaluation", evaluation.seconds),
        ("selection", selection),
        ("figures", figures.seconds),
        ("other", rest),
        ("total", total),
    ):
        per_training = "" if name == "figures" else f"{seconds / len(runs):12.3f}s"
        print(f"  {name:12s} {seconds / seeds:9.3f}s {per_training:>13s}")
    print(
        f"  compute per seed (total without figures): {(total - figures.seconds) / seeds:.3f} s; "
        f"figures once per run: {figures.seconds:.3f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3, help="timed trainings per framework (median reported)")
    parser.add_argument("--seeds", type=int, default=2, help="seeds of the spirals experiment (0: skip part 2)")
    args = parser.parse_args()
    ms.set_default_dtype("float32")
    one_training(args.repeats)
    if args.seeds > 0:
        experiment(args.seeds)


if __name__ == "__main__":
    main()
