"""The two-spirals classification problem of the SensLI paper's experiments."""

from __future__ import annotations

import math

from .. import backend, checks
from .dataset import Split, split_dataset

MAX_EXAMPLES = 10**8  # per class; 2 * 10**8 points of 2 floats is already 3 GB


def spirals(
    n_per_class: int = 300,
    r0: float = 0.5,
    circles: float = 1.0,
    noise: float = 0.0,
    train_fraction: float = 0.75,
    seed: int = 1,
) -> Split:
    """Two interleaved spirals, split into train and test sets.

    Point i = 0..n-1 of the spiral has angle phi_i = 2 pi circles i / n and radius
    r_i = r0 + circles i / n; class 1 is r_i (cos phi_i, sin phi_i) and class 0 is its point
    reflection -r_i (cos phi_i, sin phi_i). The defaults are the paper's: 300 points per
    class, r0 = 0.5, one turn, no noise, 75 % train (450) / 25 % test (150).
    ``noise`` adds Gaussian noise of that standard deviation. The shuffle before the split
    uses a seeded numpy generator (the reference used Python's random.seed(1)), so the exact
    train/test membership differs from the reference; the point set is the same.

    Returns Split(train, test); inputs (N, 2) in the default float dtype, labels (N,) int64.
    """
    n_per_class = checks.integer("spirals: n_per_class", n_per_class, 1, MAX_EXAMPLES)
    r0 = checks.non_negative("spirals: r0", r0)
    circles = checks.positive("spirals: circles", circles)
    noise = checks.non_negative("spirals: noise", noise)
    checks.fraction("spirals: train_fraction", train_fraction)
    checks.integer("spirals: seed", seed, 0)
    xp = backend.module_for_device("cpu")
    i = xp.arange(n_per_class)
    phi = 2 * math.pi * circles * i / n_per_class
    r = r0 + circles * i / n_per_class
    arm = xp.stack([r * xp.cos(phi), r * xp.sin(phi)], axis=1)
    inputs = xp.concatenate([-arm, arm])
    labels = xp.concatenate([xp.zeros(n_per_class, dtype=xp.int64), xp.ones(n_per_class, dtype=xp.int64)])
    if noise:
        inputs = inputs + noise * backend.new_rng(seed + 1_000_003).standard_normal(inputs.shape)
    return split_dataset(inputs.astype(backend.get_default_dtype()), labels, train_fraction, seed)
