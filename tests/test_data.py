"""Datasets, DataLoader, spirals, digits, and the MNIST/CIFAR-10 readers on tiny files."""

import gzip
import pickle
import struct

import numpy as np
import pytest

from minisensli import data


def test_tensor_dataset_and_length_check():
    ds = data.TensorDataset(np.arange(10.0).reshape(5, 2), np.arange(5))
    assert len(ds) == 5
    x, y = ds[1]
    np.testing.assert_array_equal(x, [2.0, 3.0])
    with pytest.raises(ValueError, match=r"different lengths \[5, 4\]"):
        data.TensorDataset(np.zeros((5, 2)), np.zeros(4))


def test_loader_batches_drop_last_and_order():
    ds = data.TensorDataset(np.arange(10.0)[:, None], np.arange(10))
    batches = list(data.DataLoader(ds, batch_size=4))
    assert [len(b[1]) for b in batches] == [4, 4, 2]
    np.testing.assert_array_equal(np.concatenate([b[1].data for b in batches]), np.arange(10))
    assert len(data.DataLoader(ds, batch_size=4, drop_last=True)) == 2
    assert [len(b[1]) for b in data.DataLoader(ds, batch_size=4, drop_last=True)] == [4, 4]


def test_loader_shuffle_is_seeded_and_changes_every_epoch():
    ds = data.TensorDataset(np.arange(20.0)[:, None], np.arange(20))
    a = data.DataLoader(ds, batch_size=5, shuffle=True, seed=7)
    b = data.DataLoader(ds, batch_size=5, shuffle=True, seed=7)
    epoch1 = np.concatenate([y.data for _, y in a])
    assert sorted(epoch1) == list(range(20)) and list(epoch1) != list(range(20))
    np.testing.assert_array_equal(epoch1, np.concatenate([y.data for _, y in b]))
    epoch2 = np.concatenate([y.data for _, y in a])
    assert list(epoch2) != list(epoch1)


def test_loader_errors():
    ds = data.TensorDataset(np.zeros((3, 1)), np.zeros(3))
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        data.DataLoader(ds, batch_size=0)
    with pytest.raises(ValueError, match="unknown device"):
        data.DataLoader(ds, device="tpu")


def test_spirals_follow_the_paper_formula():
    split = data.spirals()
    assert len(split.train) == 450 and len(split.test) == 150
    x = np.concatenate([split.train.arrays[0], split.test.arrays[0]]).astype(np.float64)
    y = np.concatenate([split.train.arrays[1], split.test.arrays[1]])
    assert np.bincount(y).tolist() == [300, 300]
    i = np.arange(300)
    phi, r = 2 * np.pi * i / 300, 0.5 + i / 300
    arm = np.stack([r * np.cos(phi), r * np.sin(phi)], 1)
    for label, points in ((1, arm), (0, -arm)):
        got = x[y == label]
        order = np.lexsort(got.T)
        want = points[np.lexsort(points.T)]
        np.testing.assert_allclose(got[order], want, atol=1e-6)


def test_spirals_split_is_seeded():
    a, b, c = data.spirals(seed=3), data.spirals(seed=3), data.spirals(seed=4)
    np.testing.assert_array_equal(a.train.arrays[0], b.train.arrays[0])
    assert not np.array_equal(a.train.arrays[0], c.train.arrays[0])


def test_digits_ship_with_the_package():
    split = data.digits()
    assert len(split.train) + len(split.test) == 1797
    x, y = split.train.arrays
    assert x.shape[1:] == (1, 8, 8) and x.min() >= 0 and x.max() <= 1
    assert set(np.unique(y)) == set(range(10)) and y.dtype == np.int64


def write_idx(path, array, compress=False):
    header = struct.pack(">HBB", 0, 8, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    payload = header + array.astype(np.uint8).tobytes()
    if compress:
        with gzip.open(str(path) + ".gz", "wb") as f:
            f.write(payload)
    else:
        path.write_bytes(payload)


def make_mnist(folder, n_train=5, n_test=3, compress=False):
    rng = np.random.default_rng(0)
    parts = {"train": n_train, "t10k": n_test}
    for prefix, n in parts.items():
        write_idx(folder / f"{prefix}-images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28)), compress)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte", rng.integers(0, 10, n), compress)


@pytest.mark.parametrize("compress", [False, True])
def test_mnist_reader_plain_and_gzip(tmp_path, compress):
    make_mnist(tmp_path, compress=compress)
    split = data.mnist(tmp_path)
    x, y = split.train.arrays
    assert x.shape == (5, 1, 28, 28) and y.shape == (5,) and len(split.test) == 3
    assert 0 <= x.min() and x.max() <= 1


def test_mnist_reader_errors_name_the_file(tmp_path):
    with pytest.raises(data.DataFileError, match="is not a folder"):
        data.mnist(tmp_path / "nowhere")
    make_mnist(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(data.DataFileError, match="missing file: expected .*t10k-labels-idx1-ubyte"):
        data.mnist(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(b"\x00\x00\x08\x03" + b"\x00" * 20)
    with pytest.raises(data.DataFileError, match="t10k-labels-idx1-ubyte: not an IDX file of unsigned bytes with 1"):
        data.mnist(tmp_path)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.zeros(3))
    raw = (tmp_path / "train-images-idx3-ubyte").read_bytes()
    (tmp_path / "train-images-idx3-ubyte").write_bytes(raw[:-10])
    with pytest.raises(data.DataFileError, match=r"train-images-idx3-ubyte: header announces shape \(5, 28, 28\)"):
        data.mnist(tmp_path)


def make_cifar(folder, n=4):
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {
            b"data": rng.integers(0, 256, (n, 3072)).astype(np.uint8),
            b"labels": list(rng.integers(0, 10, n).tolist()),
            b"batch_label": b"x",
        }
        with open(folder / name, "wb") as f:
            pickle.dump(batch, f)


def test_cifar10_reader(tmp_path):
    make_cifar(tmp_path)
    split = data.cifar10(tmp_path)
    x, y = split.train.arrays
    assert x.shape == (20, 3, 32, 32) and y.shape == (20,) and len(split.test) == 4
    assert x.max() <= 1


class Evil:
    def __reduce__(self):
        return (print, ("this must never run",))


def test_cifar10_reader_errors(tmp_path):
    make_cifar(tmp_path)
    (tmp_path / "data_batch_3").unlink()
    with pytest.raises(data.DataFileError, match="missing file: .*data_batch_3"):
        data.cifar10(tmp_path)
    (tmp_path / "data_batch_3").write_bytes(b"not a pickle")
    with pytest.raises(data.DataFileError, match="data_batch_3: not a CIFAR-10 python batch"):
        data.cifar10(tmp_path)
    with open(tmp_path / "data_batch_3", "wb") as f:
        pickle.dump({b"data": Evil(), b"labels": []}, f)
    with pytest.raises(data.DataFileError, match="refusing to load builtins.print"):
        data.cifar10(tmp_path)
    with open(tmp_path / "data_batch_3", "wb") as f:
        pickle.dump({b"data": np.zeros((2, 10), np.uint8), b"labels": [1, 2]}, f)
    with pytest.raises(data.DataFileError, match=r"expected data of shape \(N, 3072\)"):
        data.cifar10(tmp_path)
