"""Cost of one sensitivity pass (closed form and autograd) against one training epoch.

Three workloads (float32, minibatches):
  fnn     spirals, 2-64-64-64-2 ReLU MLP, batch 45 (3 dense sites)
  cnn     digits, conv 1->16, relu, conv 16->16, relu, maxpool, conv 16->32, relu, maxpool, dense 128->10,
          batch 64 (3 conv sites)
  resnet  spirals, Dense 2->32 + tanh, 4 two-weight residual blocks, Dense 32->2, batch 45 (5 sites)

A training epoch is forward + backward + SGD step for every minibatch. Targets from the issue:
closed form at most 1.2x an epoch, autograd at most 2x. The three are timed alternately, round
by round (machine.py), with one BLAS thread: a second OpenBLAS thread on a loaded 2-core machine
made the CNN epoch 25x slower (15 s instead of 0.6 s) in our measurements. Wall and CPU time
medians are printed, with the machine's load and BLAS.
Run:  python benchmarks/bench_sensitivity.py [--repeats 7]
"""

from __future__ import annotations

import argparse

import machine

machine.blas_threads_variables("1")  # before numpy loads

import minisensli as ms  # noqa: E402
from minisensli import data, nn, optim, sensli  # noqa: E402


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


def measure(model, loader, repeats: int) -> dict[str, machine.Timings]:
    """Timings of one training epoch, one closed-form pass and one autograd pass, alternating."""
    opt = optim.SGD(model.parameters(), lr=1e-3)
    return machine.interleaved(
        {
            "epoch": lambda: ms.train_epoch(model, loader, opt),
            "closed": lambda: sensli.sensitivities(model, loader, method="closed_form"),
            "auto": lambda: sensli.sensitivities(model, loader, method="autograd"),
        },
        repeats,
        warmup=1,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    ms.set_default_dtype("float32")
    print(f"machine: {machine.describe()}")
    print(f"median of {args.repeats} runs, alternating, float32; wall time (cpu time of this process)")
    print(f"{'net':7s} {'sites':>5s} {'epoch':>22s} {'closed form':>30s} {'autograd':>30s}")
    for name, build in (("fnn", fnn), ("cnn", cnn), ("resnet", resnet)):
        ms.manual_seed(0)
        model, loader = build()
        t = measure(model, loader, args.repeats)
        sites = len(sensli.candidate_sites(model))
        cells = [f"{t['epoch'].median() * 1e3:8.1f} ({t['epoch'].median(cpu=True) * 1e3:7.1f}) ms"]
        for key in ("closed", "auto"):
            wall, cpu = t[key].median() / t["epoch"].median(), t[key].median(cpu=True) / t["epoch"].median(cpu=True)
            cells.append(f"{t[key].median() * 1e3:8.1f} ms {wall:4.2f}x ({cpu:4.2f}x cpu)")
        print(f"{name:7s} {sites:5d} {cells[0]:>22s} {cells[1]:>30s} {cells[2]:>30s}")
    print(f"machine after: {machine.load_average()}")


if __name__ == "__main__":
    main()
