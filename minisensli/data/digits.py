"""The UCI optical digits (8x8 handwritten digits, 1,797 images), shipped inside the package.

Attribution and license (CC BY 4.0): minisensli/data/DIGITS_ATTRIBUTION.txt.
"""

from __future__ import annotations

from importlib import resources

from .. import checks
from ..formats import npz
from .dataset import Split, split_dataset, unit_range_images


def digits(train_fraction: float = 0.75, seed: int = 0) -> Split:
    """1,797 grey images of digits 0-9 as NCHW inputs (N, 1, 8, 8) scaled to [0, 1] (pixel / 16)
    in the default float dtype, labels (N,) int64; split with a seeded shuffle
    (default 1,348 train / 449 test). No download: the data ship with minisensli."""
    checks.fraction("digits: train_fraction", train_fraction)
    with resources.files(__package__).joinpath("digits.npz").open("rb") as f:
        arrays = npz.load_arrays(f)
    images = unit_range_images(arrays["images"][:, None, :, :], 16)
    labels = arrays["labels"].astype("int64")
    return split_dataset(images, labels, train_fraction, seed)
