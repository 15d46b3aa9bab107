"""Cost of one sensitivity pass (closed form and autograd) against one training epoch.

Three workloads (float32, minibatches):
  fnn     spirals, 2-64-64-64-2 ReLU MLP, batch 45 (3 dense sites)
  cnn     digits, conv 1->16, relu, conv 16->16, relu, maxpool, conv 16->32, relu, maxpool, dense 128->10,
          batch 64 (3 conv sites)
  resnet  spirals, Dense 2->32 + tanh, 4 two-weight residual blocks, Dense 32->2, batch 45 (5 sites)

A training epoch is forward + backward + SGD step for every minibatch. Targets from the issue:
closed form at most 1.2x an epoch, autograd at most 2x.
Run:  python benchmarks/bench_sensitivity.py [--repeats 7]
"""

from __future__ import annotations

import argparse
import statistics
import time

import minisensli as ms
from minisensli import data, nn, optim, sensli


def fnn():
    split = data.spirals()
    model = nn.Sequential(
        nn.Dense(2, 64), nn.ReLU(), nn.Dense(64, 64), nn.ReLU(), nn.Dense(64, 64), nn.ReLU(), nn.Dense(64, 2)
    )
    return model, data.DataLoader(split.train, batch_size=45, shuffle=True, seed=0)


def cnn():
    split = data.digits()
    model = nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(16, 16, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Dense(32 * 2 * 2, 10),
    )
    return model, data.DataLoader(split.train, batch_size=64, shuffle=True, seed=0)


def resnet():
    split = data.spirals()
    model = nn.Sequential(nn.Dense(2, 32), nn.Tanh(), *[nn.ResidualDense(32) for _ in range(4)], nn.Dense(32, 2))
    return model, data.DataLoader(split.train, batch_size=45, shuffle=True, seed=0)


def median_seconds(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(model, loader, repeats: int) -> tuple[float, float, float]:
    """Median seconds of one training epoch, one closed-form pass and one autograd pass."""
    opt = optim.SGD(model.parameters(), lr=1e-3)
    epoch = median_seconds(lambda: ms.train_epoch(model, loader, opt), repeats)
    closed = median_seconds(lambda: sensli.sensitivities(model, loader, method="closed_form"), repeats)
    auto = median_seconds(lambda: sensli.sensitivities(model, loader, method="autograd"), repeats)
    return epoch, closed, auto


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    ms.set_default_dtype("float32")
    print(f"median of {args.repeats} runs, float32")
    print(f"{'net':7s} {'sites':>5s} {'epoch':>10s} {'closed form':>18s} {'autograd':>18s}")
    for name, build in (("fnn", fnn), ("cnn", cnn), ("resnet", resnet)):
        ms.manual_seed(0)
        model, loader = build()
        epoch, closed, auto = measure(model, loader, args.repeats)
        sites = len(sensli.candidate_sites(model))
        print(
            f"{name:7s} {sites:5d} {epoch * 1e3:8.1f}ms {closed * 1e3:8.1f}ms ({closed / epoch:4.2f}x) "
            f"{auto * 1e3:8.1f}ms ({auto / epoch:4.2f}x)"
        )


if __name__ == "__main__":
    main()
