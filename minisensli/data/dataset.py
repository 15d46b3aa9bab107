"""Datasets: indexable collections of (input, label) examples, and train/test splits."""

from __future__ import annotations

from typing import Any, NamedTuple

from .. import backend, checks


class TensorDataset:
    """Examples stored as arrays with a common first axis: ``ds[i] = (x[i], y[i], ...)``."""

    def __init__(self, *arrays: Any) -> None:
        if not arrays:
            raise ValueError("TensorDataset: needs at least one array")
        arrays = tuple(a.data if hasattr(a, "requires_grad") else backend.as_array(a) for a in arrays)
        for i, a in enumerate(arrays):
            if a.ndim == 0:
                raise ValueError(
                    f"TensorDataset: array {i} is 0-d (a single value); examples are indexed along the first "
                    "axis, so each array needs at least one axis (shape (N, ...))"
                )
        lengths = {len(a) for a in arrays}
        if len(lengths) != 1:
            raise ValueError(f"TensorDataset: arrays have different lengths {[len(a) for a in arrays]}")
        self.arrays = arrays

    def __len__(self) -> int:
        return len(self.arrays[0])

    def __getitem__(self, index: Any) -> tuple:
        return tuple(a[index] for a in self.arrays)

    def __repr__(self) -> str:
        shapes = ", ".join(f"{tuple(a.shape)} {a.dtype}" for a in self.arrays)
        return f"TensorDataset({len(self)} examples: {shapes})"


class Split(NamedTuple):
    """A train and a test dataset."""

    train: TensorDataset
    test: TensorDataset


def unit_range_images(pixels: Any, max_value: float) -> Any:
    """Integer pixels in [0, max_value] -> floats in [0, 1] of the default dtype."""
    return pixels.astype(backend.get_default_dtype()) / max_value


def split_dataset(inputs: Any, labels: Any, train_fraction: float, seed: int) -> Split:
    """Shuffle examples with a seeded generator and cut them into train and test sets."""
    checks.fraction("split_dataset: train_fraction", train_fraction)
    if not hasattr(inputs, "shape") or not hasattr(labels, "shape") or not inputs.shape or not labels.shape:
        raise ValueError("split_dataset: inputs and labels must be arrays with a first axis of examples")
    if len(inputs) != len(labels):
        raise ValueError(f"split_dataset: {len(inputs)} inputs but {len(labels)} labels; they must match")
    n_train = int(round(train_fraction * len(inputs)))
    if not 0 < n_train < len(inputs):
        part = "training" if n_train == 0 else "test"
        raise ValueError(
            f"split_dataset: train_fraction {train_fraction} of {len(inputs)} examples leaves the {part} set empty"
        )
    order = backend.new_rng(seed).permutation(len(inputs))
    train, test = order[:n_train], order[n_train:]
    return Split(TensorDataset(inputs[train], labels[train]), TensorDataset(inputs[test], labels[test]))
