"""DataLoader: minibatches of a dataset as Tensors."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

from .. import backend, checks
from ..autograd import Tensor


class DataLoader:
    """Iterate over ``dataset`` in minibatches of ``batch_size`` examples.

    shuffle: a new order every epoch, drawn from the loader's own generator seeded with
    ``seed`` (so two loaders with the same seed give the same batches, whatever else draws
    random numbers). drop_last: skip a final batch smaller than batch_size.
    Each batch is a tuple of Tensors (inputs, labels, ...) on ``device``. The arrays of a
    TensorDataset are moved to ``device`` once, on the first epoch, and batches are sliced there
    (no copy per batch from the host to the GPU; on the CPU a batch without shuffling is a view).
    """

    def __init__(
        self,
        dataset: Any,
        batch_size: int = 1,
        shuffle: bool = False,
        seed: int | None = None,
        drop_last: bool = False,
        device: str = "cpu",
    ) -> None:
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"DataLoader: batch_size must be a positive int, got {batch_size!r}")
        if len(dataset) == 0:
            raise ValueError("DataLoader: the dataset is empty")
        if drop_last and len(dataset) < batch_size:
            raise ValueError(
                f"DataLoader: drop_last=True with batch_size {batch_size} and {len(dataset)} examples gives no batch "
                "at all; use a smaller batch_size or drop_last=False"
            )
        if seed is not None:
            checks.integer("DataLoader: seed", seed, 0)
        self.dataset, self.batch_size, self.shuffle, self.drop_last = dataset, batch_size, shuffle, drop_last
        self.device = backend.check_device(device)
        self.seed = seed
        self._rng = backend.new_rng(seed)
        self._source: Any = None  # the dataset's arrays that _device_arrays were moved from
        self._device_arrays: tuple = ()

    def __len__(self) -> int:
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def __iter__(self) -> Iterator[tuple[Tensor, ...]]:
        n = len(self.dataset)
        order = self._rng.permutation(n) if self.shuffle else None
        arrays = self._arrays_on_device()
        if order is not None and arrays is not None:
            order = backend.to_device(order, self.device)  # one copy to the device per epoch, not per batch
        for b in range(len(self)):
            start = b * self.batch_size
            stop = start + self.batch_size
            index = order[start:stop] if order is not None else slice(start, stop)
            if arrays is None:
                yield tuple(Tensor(backend.to_device(a, self.device)) for a in self.dataset[index])
            else:
                yield tuple(Tensor._wrap(a[index], False, None) for a in arrays)

    def _arrays_on_device(self) -> tuple | None:
        """The dataset's arrays on the loader's device (moved once), or None for datasets that
        only offer indexing."""
        source = getattr(self.dataset, "arrays", None)
        if source is None:
            return None
        if source is not self._source:
            self._device_arrays = tuple(backend.to_device(a, self.device) for a in source)
            self._source = source
        return self._device_arrays

    def __repr__(self) -> str:
        return (
            f"DataLoader({len(self.dataset)} examples, batch_size={self.batch_size}, shuffle={self.shuffle}, "
            f"seed={self.seed}, drop_last={self.drop_last})"
        )
