"""Readers for image data a user already has on disk (nothing is downloaded).

mnist(path):   a folder with the four IDX files of MNIST or Fashion-MNIST, plain or .gz
cifar10(path): the folder 'cifar-10-batches-py' (python pickle batches)
"""

from __future__ import annotations

import gzip
import pathlib
import struct
from typing import Any

from .. import backend
from .dataset import Split, TensorDataset, unit_range_images

MNIST_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
IDX_UBYTE = 0x08


class DataFileError(ValueError):
    """A data file is missing, truncated or not in the expected format (the message names it)."""


def _find(folder: pathlib.Path, name: str) -> pathlib.Path:
    for candidate in (folder / name, folder / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    raise DataFileError(f"missing file: expected {folder / name} or {folder / name}.gz")


def read_idx(path: str | pathlib.Path, ndim: int) -> Any:
    """Read an IDX file of unsigned bytes with ``ndim`` dimensions (gzip allowed) -> uint8 array."""
    path = pathlib.Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as err:
        raise DataFileError(f"{path}: cannot read file ({err})") from err
    if len(raw) < 4 + 4 * ndim:
        raise DataFileError(f"{path}: file too short for an IDX header with {ndim} dimensions ({len(raw)} bytes)")
    zero, dtype_code, dims = struct.unpack(">HBB", raw[:4])
    if zero != 0 or dtype_code != IDX_UBYTE or dims != ndim:
        raise DataFileError(f"{path}: not an IDX file of unsigned bytes with {ndim} dimensions "
                            f"(magic bytes {raw[:4].hex()}, expected 0000080{ndim})")
    shape = struct.unpack(f">{ndim}I", raw[4 : 4 + 4 * ndim])
    expected = 1
    for n in shape:
        expected *= n
    body = len(raw) - 4 - 4 * ndim
    if body != expected:
        raise DataFileError(f"{path}: header announces shape {shape} ({expected} bytes of data) but the file "
                            f"holds {body}")
    return backend.frombuffer(raw, "uint8", offset=4 + 4 * ndim).reshape(shape)


def _mnist_part(folder: pathlib.Path, part: str) -> TensorDataset:
    images_path = _find(folder, MNIST_FILES[f"{part}_images"])
    labels_path = _find(folder, MNIST_FILES[f"{part}_labels"])
    images = read_idx(images_path, 3)
    labels = read_idx(labels_path, 1)
    if len(images) != len(labels):
        raise DataFileError(f"{images_path} holds {len(images)} images but {labels_path} {len(labels)} labels")
    if labels.size and labels.max() > 9:
        raise DataFileError(f"{labels_path}: labels must be digits 0-9, found {int(labels.max())}")
    return TensorDataset(unit_range_images(images[:, None, :, :], 255), labels.astype("int64"))


def mnist(path: str | pathlib.Path) -> Split:
    """MNIST or Fashion-MNIST from ``path`` (a folder with the four standard IDX files, plain or
    .gz): inputs (N, 1, 28, 28) in [0, 1], labels (N,) int64; Split(train, test)."""
    folder = pathlib.Path(path)
    if not folder.is_dir():
        raise DataFileError(f"mnist: {folder} is not a folder (expected the four IDX files inside it)")
    return Split(_mnist_part(folder, "train"), _mnist_part(folder, "test"))


def _cifar_batch(path: pathlib.Path) -> tuple[Any, Any]:
    import pickle  # noqa: PLC0415 - for its error type only

    if not path.is_file():
        raise DataFileError(f"missing file: {path}")
    try:
        with open(path, "rb") as f:
            batch = backend.load_restricted_pickle(f)
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as err:
        raise DataFileError(f"{path}: not a CIFAR-10 python batch ({err})") from err
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        raise DataFileError(f"{path}: expected a dict with keys b'data' and b'labels'")
    data = backend.as_array(batch[b"data"])
    labels = backend.as_array(batch[b"labels"]).astype("int64")
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or len(data) != len(labels):
        raise DataFileError(f"{path}: expected data of shape (N, 3072) and N labels, got {data.shape} and "
                            f"{labels.shape}")
    return data.reshape(-1, 3, 32, 32), labels


def cifar10(path: str | pathlib.Path) -> Split:
    """CIFAR-10 from ``path`` (the folder with data_batch_1..5 and test_batch, python version):
    inputs (N, 3, 32, 32) in [0, 1], labels (N,) int64; Split(train, test)."""
    folder = pathlib.Path(path)
    if not folder.is_dir():
        raise DataFileError(f"cifar10: {folder} is not a folder (expected data_batch_1..5 and test_batch inside)")
    xp = backend.module_for_device("cpu")
    parts = [_cifar_batch(folder / f"data_batch_{i}") for i in range(1, 6)]
    test_x, test_y = _cifar_batch(folder / "test_batch")
    train_x = unit_range_images(xp.concatenate([p[0] for p in parts]), 255)
    train_y = xp.concatenate([p[1] for p in parts])
    return Split(TensorDataset(train_x, train_y), TensorDataset(unit_range_images(test_x, 255), test_y))
