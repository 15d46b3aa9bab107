"""Readers for image data a user already has on disk (nothing is downloaded).

mnist(path):   a folder with the four IDX files of MNIST or Fashion-MNIST, plain or .gz
cifar10(path): the folder 'cifar-10-batches-py' (python pickle batches)
"""

from __future__ import annotations

import gzip
import math
import pathlib
import struct
import zlib
from typing import Any

from .. import backend
from ..formats import buffers, restricted_pickle
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


GZIP_MAX_RATIO = 1032  # deflate cannot expand more than ~1032:1
MNIST_IMAGE_SIZE = (28, 28)
CIFAR_CLASSES = 10


def _read_exactly(f: Any, count: int, path: pathlib.Path, what: str) -> bytes:
    raw = f.read(count)
    if len(raw) != count:
        raise DataFileError(f"{path}: file ends after {len(raw)} of the {count} bytes of {what}")
    return raw


def read_idx(path: str | pathlib.Path, ndim: int) -> Any:
    """Read an IDX file of unsigned bytes with ``ndim`` dimensions (gzip allowed) -> uint8 array.

    The header (magic number, sizes) is read and checked first; the data are read only when
    the sizes it declares agree with the file's size (for gzip: are possible for it, and then
    exactly that many bytes are inflated), so a small file cannot make the reader allocate
    more than it holds.
    """
    path = pathlib.Path(path)
    compressed = path.suffix == ".gz"
    opener = gzip.open if compressed else open
    header_size = 4 + 4 * ndim
    try:
        file_size = path.stat().st_size
        with opener(path, "rb") as f:
            magic = _read_exactly(f, 4, path, "the IDX magic number")
            zero, dtype_code, dims = struct.unpack(">HBB", magic)
            if zero != 0 or dtype_code != IDX_UBYTE or dims != ndim:
                raise DataFileError(
                    f"{path}: not an IDX file of unsigned bytes with {ndim} dimensions "
                    f"(magic bytes {magic.hex()}, expected 0000080{ndim})"
                )
            shape = struct.unpack(f">{ndim}I", _read_exactly(f, 4 * ndim, path, "the IDX sizes"))
            expected = math.prod(shape)
            possible = file_size * GZIP_MAX_RATIO if compressed else file_size - header_size
            if expected > possible or not compressed and expected != possible:
                raise DataFileError(
                    f"{path}: header announces shape {shape} ({expected} bytes of data) but the "
                    f"file holds {'at most ' if compressed else ''}{possible}"
                )
            body = f.read(expected + 1)
    except DataFileError:
        raise
    except (OSError, EOFError, zlib.error) as err:
        raise DataFileError(f"{path}: cannot read file ({err})") from err
    if len(body) != expected:
        raise DataFileError(
            f"{path}: header announces shape {shape} ({expected} bytes of data) but the file "
            f"holds {'more' if len(body) > expected else len(body)}"
        )
    return buffers.frombuffer(body, "uint8").reshape(shape)


def _mnist_part(folder: pathlib.Path, part: str) -> TensorDataset:
    images_path = _find(folder, MNIST_FILES[f"{part}_images"])
    labels_path = _find(folder, MNIST_FILES[f"{part}_labels"])
    images = read_idx(images_path, 3)
    labels = read_idx(labels_path, 1)
    if images.shape[1:] != MNIST_IMAGE_SIZE:
        raise DataFileError(f"{images_path}: images of size {images.shape[1:]}, MNIST has {MNIST_IMAGE_SIZE}")
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
    """One python-pickle batch: data (N, 3072) of pixel values 0..255, labels 0..9 -> (N, 3, 32, 32), (N,)."""
    import pickle  # noqa: PLC0415 - for its error type only

    if not path.is_file():
        raise DataFileError(f"missing file: {path}")
    try:
        with open(path, "rb") as f:
            batch = restricted_pickle.load_restricted_pickle(f)
    except (
        pickle.UnpicklingError,
        EOFError,
        ValueError,
        TypeError,
        AttributeError,
        IndexError,
        KeyError,
        MemoryError,
        OverflowError,
    ) as err:
        raise DataFileError(f"{path}: not a CIFAR-10 python batch ({type(err).__name__}: {err})") from err
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        raise DataFileError(f"{path}: expected a dict with keys b'data' and b'labels'")
    data, labels = batch[b"data"], batch[b"labels"]
    if not hasattr(data, "dtype") or data.dtype.kind not in "iuf":
        raise DataFileError(f"{path}: b'data' must be a numeric array, got {type(data).__name__}")
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise DataFileError(f"{path}: expected data of shape (N, 3072), got {data.shape}")
    if (
        data.dtype != "uint8"
        and data.size
        and not ((data >= 0).all() and (data <= 255).all() and (data == data.round()).all())
    ):
        raise DataFileError(
            f"{path}: pixel values must be integers 0..255 (dtype {data.dtype}, range {data.min()}..{data.max()})"
        )
    if not isinstance(labels, list) and not (hasattr(labels, "dtype") and labels.ndim == 1):
        raise DataFileError(f"{path}: b'labels' must be a list of integers, got {type(labels).__name__}")
    if isinstance(labels, list):
        bad = [v for v in labels if type(v) is not int or not 0 <= v < CIFAR_CLASSES]
        if bad:
            raise DataFileError(f"{path}: labels must be integers 0..{CIFAR_CLASSES - 1}, found {bad[0]!r}")
        labels = backend.as_array(labels, dtype="int64") if labels else backend.as_array([], dtype="int64")
    elif labels.dtype.kind not in "iu":
        raise DataFileError(f"{path}: labels must be integers 0..{CIFAR_CLASSES - 1}, got dtype {labels.dtype}")
    elif labels.size and (labels.min() < 0 or labels.max() >= CIFAR_CLASSES):
        raise DataFileError(
            f"{path}: labels must be integers 0..{CIFAR_CLASSES - 1}, found {int(labels.min())}..{int(labels.max())}"
        )
    if len(data) != len(labels):
        raise DataFileError(f"{path}: {len(data)} images but {len(labels)} labels")
    return data.astype("uint8").reshape(-1, 3, 32, 32), labels.astype("int64")


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
