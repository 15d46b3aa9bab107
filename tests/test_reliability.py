"""Nothing silently wrong, bounded loading, and SensLI scores that do not depend on the loader.

The property and fault tests of the reliability issue; the bad-input table is test_bad_inputs.py.
"""

import gzip
import io
import json
import pickle
import struct
import tracemalloc
import zipfile

import numpy as np
import pytest

import minisensli as ms
import minisensli.functional as F
from minisensli import data, nn, optim, sensli
from minisensli.autograd import Function
from minisensli.formats.restricted_pickle import load_restricted_pickle
from tests.sensli_cases import make_model, relative_error

# ----------------------------------------------------------------------------- precision


@pytest.mark.parametrize(
    "op",
    [
        lambda t: t * 0.1,
        lambda t: 0.1 * t,
        lambda t: t + 0.1,
        lambda t: 0.1 + t,
        lambda t: t - 0.1,
        lambda t: 0.1 - t,
        lambda t: t / 10.1,
        lambda t: 10.1 / t,
    ],
)
@pytest.mark.parametrize("default", ["float32", "float16"])
def test_python_float_meets_float64_tensor_exactly(op, default):
    values = np.array([1.0, 3.0, -7.25])
    ms.set_default_dtype(default)
    got = op(ms.Tensor(values)).data
    ms.set_default_dtype("float64")
    assert got.dtype == np.float64
    np.testing.assert_array_equal(got, op(values))


def test_python_float_keeps_a_float32_tensor_float32():
    got = ms.Tensor(np.array([1.0], dtype=np.float32)) * 0.1
    assert got.dtype == np.float32 and got.data[0] == np.float32(0.1)


def test_model_output_does_not_depend_on_the_default_dtype_at_call_time():
    ms.manual_seed(3)
    model = nn.Sequential(
        nn.Dense(3, 4), nn.Tanh(), nn.ResidualDense(4, h=0.1), nn.ResidualDense(4, weights=1, h=0.3), nn.Dense(4, 2)
    )
    x = ms.Tensor(np.random.default_rng(0).standard_normal((5, 3)))
    outputs = {}
    for default in ("float64", "float32", "float16"):
        ms.set_default_dtype(default)
        outputs[default] = model(x).data
        loss = F.cross_entropy(model(x), np.array([0, 1, 0, 1, 1]))
        outputs[default + " loss"] = loss.data
    ms.set_default_dtype("float64")
    for default in ("float32", "float16"):
        np.testing.assert_array_equal(outputs[default], outputs["float64"])
        np.testing.assert_array_equal(outputs[default + " loss"], outputs["float64 loss"])


# ----------------------------------------------------------------------------- gradcheck


class WrongBackward(Function):
    """x -> 2x with a backward that returns ``ctx.value`` everywhere (to plant NaN or inf)."""

    @staticmethod
    def forward(ctx, x, value):
        ctx.value = value
        return 2 * x

    @staticmethod
    def backward(ctx, grad):
        return (grad * 0 + ctx.value,)


class NanAboveOne(Function):
    """x -> x, but NaN where x > 1: finite at 1, NaN in the central difference's x + eps."""

    @staticmethod
    def forward(ctx, x):
        return np.where(x > 1, np.nan, x)

    @staticmethod
    def backward(ctx, grad):
        return (grad,)


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_gradcheck_fails_on_non_finite_analytic_gradient(value):
    x = ms.Tensor(np.array([0.5, 1.5]), requires_grad=True)
    with pytest.raises(ms.GradcheckError, match="analytic gradient of input 0 .* is (nan|inf|-inf)"):
        ms.gradcheck(lambda t: WrongBackward.apply(t, value=value), [x])


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_gradcheck_fails_on_non_finite_numerical_gradient():
    x = ms.Tensor(np.array([0.5, 1.0]), requires_grad=True)
    with pytest.raises(ms.GradcheckError, match=r"numerical gradient of input 0 .* is nan at entry \(1,\)"):
        ms.gradcheck(NanAboveOne.apply, [x])


def test_gradcheck_takes_non_leaf_inputs_and_leaves_them_untouched():
    leaf = ms.Tensor(np.array([0.3, -1.2, 2.0]), requires_grad=True)
    x = leaf * 2.0  # a non-leaf input
    before = x.data.copy()
    assert ms.gradcheck(lambda t: (t * t).tanh(), [x])
    np.testing.assert_array_equal(x.data, before)
    assert leaf.grad is None and x.grad is None
    x.sum().backward()  # the caller's graph is intact
    np.testing.assert_array_equal(leaf.grad, [2.0, 2.0, 2.0])


def test_gradcheck_still_catches_a_wrong_finite_gradient():
    x = ms.Tensor(np.array([0.5, 1.5]), requires_grad=True)
    with pytest.raises(ms.GradcheckError, match="is wrong at entry"):
        ms.gradcheck(lambda t: WrongBackward.apply(t, value=3.0), [x])


# ----------------------------------------------------------------------------- max_pool2d and NaN


@pytest.mark.parametrize("kernel, stride", [(2, 2), (3, 1), (3, 2)])
@pytest.mark.parametrize("where", [(0, 0), (1, 2), (2, 1), (3, 3), (4, 4)])
def test_max_pool2d_propagates_nan_wherever_it_is_in_the_window(kernel, stride, where):
    x = np.random.default_rng(0).standard_normal((1, 2, 5, 5))
    x[0, 1, where[0], where[1]] = np.nan
    got = F.max_pool2d(ms.Tensor(x), kernel, stride).data
    oh = (5 - kernel) // stride + 1
    for i in range(oh):
        for j in range(oh):
            window = x[0, :, i * stride : i * stride + kernel, j * stride : j * stride + kernel]
            np.testing.assert_array_equal(got[0, :, i, j], window.max(axis=(1, 2)))  # numpy's max: NaN wins


def test_max_pool2d_sends_the_gradient_to_the_nan():
    x = ms.Tensor(np.array([[[[1.0, np.nan], [5.0, 2.0]]]]), requires_grad=True)
    F.max_pool2d(x, 2).sum().backward()
    np.testing.assert_array_equal(x.grad, [[[[0.0, 1.0], [0.0, 0.0]]]])


# ----------------------------------------------------------------------------- truth value


@pytest.mark.parametrize("values", [[0.0], [2.0], [[0.0]], [[-1.0]], 0.0, 3.0, [np.nan], [True], [0]])
def test_bool_of_one_element_follows_numpy(values):
    assert bool(ms.Tensor(values)) == bool(np.array(values))


def test_bool_of_several_elements_is_an_error_like_numpy():
    with pytest.raises(ValueError):
        bool(np.array([1.0, 2.0]))
    with pytest.raises(ValueError, match="ambiguous"):
        bool(ms.Tensor([1.0, 2.0]))
    with pytest.raises(ValueError, match="ambiguous"):
        if ms.Tensor([[1.0], [0.0]]):
            pass


def test_optimizer_with_a_parameter_listed_twice_changes_nothing():
    p = ms.Tensor(np.ones(2), requires_grad=True)
    with pytest.raises(ValueError, match="parameter 1 is the same tensor as parameter 0"):
        optim.SGD([p, p], lr=0.1)
    np.testing.assert_array_equal(p.data, [1.0, 1.0])


def test_module_to_integer_dtype_leaves_the_weights_as_they_were():
    layer = nn.Dense(2, 2)
    before = layer.weight.data.copy()
    with pytest.raises(TypeError, match="floating"):
        layer.to(dtype="int32")
    np.testing.assert_array_equal(layer.weight.data, before)
    assert layer.weight.dtype == np.float64


# ----------------------------------------------------------------------------- divergence keeps the history


class NanAfter:
    """Batches of the spirals; from epoch ``epoch`` on, batch ``step`` carries a NaN input."""

    def __init__(self, epoch, step):
        self.loader = data.DataLoader(data.spirals(n_per_class=20).train, batch_size=10)
        self.epoch, self.step, self.epochs = epoch, step, 0

    def __iter__(self):
        for i, (x, y) in enumerate(self.loader):
            if self.epochs >= self.epoch and i == self.step:
                x = ms.Tensor(np.where(np.arange(x.shape[0])[:, None] == 0, np.nan, x.data))
            yield x, y
        self.epochs += 1

    def __len__(self):
        return len(self.loader)


def test_grow_divergence_names_phase_epoch_step_and_keeps_the_history():
    model = nn.Sequential(nn.Dense(2, 4), nn.ReLU(), nn.Dense(4, 4), nn.ReLU(), nn.Dense(4, 2))
    loader = NanAfter(epoch=4, step=2)  # phase 1 has 3 epochs, then one sensitivity pass
    with pytest.raises(
        ms.NonFiniteLossError,
        match=r"grow: phase 2/2: training loss became nan at epoch 0, "
        r"step 2",
    ) as info:
        sensli.grow(model, loader, epochs=[3, 5], lr=0.05, progress=False)
    err = info.value
    assert (err.phase, err.epoch, err.step) == (2, 0, 2)
    assert len(err.result.history.train_loss) == 3 and err.history is err.result.history
    assert len(err.result.insertions) == 1 and len(err.result.model) == 7  # the inserted layer is kept
    assert len(err.history.minibatch_losses) == 3 * len(loader)


def test_grow_divergence_in_the_sensitivity_pass_keeps_the_history():
    model = nn.Sequential(nn.Dense(2, 4), nn.ReLU(), nn.Dense(4, 4), nn.ReLU(), nn.Dense(4, 2))
    with pytest.raises(ms.NonFiniteLossError, match=r"grow: phase 1/2: sensitivities: the loss of batch 1") as info:
        sensli.grow(model, NanAfter(epoch=2, step=1), epochs=[2, 5], lr=0.05, progress=False)
    assert info.value.phase == 1 and len(info.value.result.history.train_loss) == 2


def test_fit_divergence_keeps_the_finished_epochs():
    model = nn.Sequential(nn.Dense(2, 2))
    with pytest.raises(ms.NonFiniteLossError) as info:
        ms.fit(model, NanAfter(epoch=2, step=0), optim.SGD(model.parameters(), lr=0.1), 5, progress=False)
    history = info.value.history
    assert len(history.train_loss) == 2 and len(history.lrs) == 2 and (info.value.epoch, info.value.step) == (2, 0)


# ----------------------------------------------------------------------------- sensitivities and loader order


def _dataset(kind, n, seed):
    rng = np.random.default_rng(seed)
    shape = (n, 3) if kind in ("dense", "residual_dense") else (n, 2, 4, 4)
    return data.TensorDataset(rng.standard_normal(shape), rng.integers(0, 3, n))


@pytest.mark.parametrize("kind", ["dense", "residual_dense", "conv", "residual_conv"])
@pytest.mark.parametrize("method", ["closed_form", "autograd"])
def test_sensitivities_do_not_depend_on_order_or_batching(kind, method):
    model = make_model(kind, 3, 2, 5, weights=2, activation="tanh")
    dataset = _dataset(kind, 23, 1)  # 23 examples: every batch size below leaves a short last batch
    reference = sensli.sensitivities(model, data.DataLoader(dataset, batch_size=23), method=method, score_existing=True)
    loaders = [
        data.DataLoader(dataset, batch_size=5),
        data.DataLoader(dataset, batch_size=5, shuffle=True, seed=0),
        data.DataLoader(dataset, batch_size=7, shuffle=True, seed=1),
        data.DataLoader(dataset, batch_size=1),
    ]
    shuffled = loaders[1]
    for loader in [*loaders, shuffled]:  # the shuffled loader twice: a new order on its second pass
        result = sensli.sensitivities(model, loader, method=method, score_existing=True)
        assert result.examples == 23
        for got, want in zip(result, reference):
            for name in want.multipliers:
                assert relative_error(got.multipliers[name], want.multipliers[name]) <= 1e-12, (loader, name)
            assert got.score == pytest.approx(want.score, rel=1e-12, abs=1e-300)
        for name, value in reference.existing.items():
            assert result.existing[name] == pytest.approx(value, rel=1e-12, abs=1e-300)


def test_equal_batches_give_the_plain_average_of_the_reference():
    model = make_model("dense", 3, 2, 5)
    dataset = _dataset("dense", 12, 2)
    result = sensli.sensitivities(model, data.DataLoader(dataset, batch_size=4))
    per_batch = [
        sensli.sensitivities(model, data.DataLoader(data.TensorDataset(*dataset[i : i + 4]), batch_size=4))
        for i in range(0, 12, 4)
    ]
    for j, site in enumerate(result):
        average = sum(b[j].multipliers["weight"] for b in per_batch) / 3
        np.testing.assert_allclose(site.multipliers["weight"], average, rtol=1e-12, atol=1e-15)


# ----------------------------------------------------------------------------- bounded loading


def _peak_bytes(action):
    tracemalloc.start()
    try:
        action()
    except (ms.ModelFileError, data.DataFileError):
        pass
    else:
        raise AssertionError("the hostile file was accepted")
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak


def _npy(array):
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def test_model_file_declaring_gigabytes_costs_kilobytes(tmp_path):
    ms.save(nn.Sequential(nn.Dense(2, 3), nn.ReLU(), nn.Dense(3, 2)), tmp_path / "good.npz")
    with zipfile.ZipFile(tmp_path / "good.npz") as archive:
        meta = json.loads(np.load(io.BytesIO(archive.read("__minisensli__.npy"))).tobytes())
    header = "{'descr': '<f8', 'fortran_order': False, 'shape': (30000, 30000), }"
    header += " " * (118 - len(header)) + "\n"
    forged = b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode() + bytes(64)
    huge = json.loads(json.dumps(meta))
    huge["architecture"]["children"][0]["config"]["out_features"] = 400_000_000
    cases = {"forged-header": (meta, forged), "huge-layer": (huge, _npy(np.ones((3, 2))))}
    for name, (description, weight) in cases.items():
        path = tmp_path / f"{name}.npz"
        with zipfile.ZipFile(tmp_path / "good.npz") as source, zipfile.ZipFile(path, "w") as archive:
            archive.writestr("__minisensli__.npy", _npy(np.frombuffer(json.dumps(description).encode(), np.uint8)))
            archive.writestr("param:0.weight.npy", weight)
            for key in ("0.bias", "2.weight", "2.bias"):
                archive.writestr(f"param:{key}.npy", source.read(f"param:{key}.npy"))
        assert path.stat().st_size < 4096
        assert _peak_bytes(lambda p=path: ms.load(p)) < 1_000_000, name


def test_mnist_gzip_declaring_gigabytes_is_refused_before_inflating(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(b"\x00\x00\x08\x03" + struct.pack(">3I", 100_000, 1000, 1000) + bytes(100)))
    assert _peak_bytes(lambda: data.read_idx(path, 3)) < 1_000_000


def test_cifar_pickle_that_asks_numpy_for_gigabytes_is_refused(tmp_path):
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        (tmp_path / name).write_bytes(pickle.dumps({b"data": np.zeros((1, 3072), np.uint8), b"labels": [0]}))
    # _reconstruct(ndarray, (10**9,), 'b'): what a plain unpickler would allocate before BUILD checks sizes
    bomb = b"\x80\x02cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nJ\x00\xca\x9a;\x85U\x01b\x87R."
    (tmp_path / "data_batch_1").write_bytes(bomb)
    assert _peak_bytes(lambda: data.cifar10(tmp_path)) < 5_000_000


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_restricted_unpickler_reads_a_full_size_cifar_batch_layout(protocol):
    n = 10_000  # a real batch: 10,000 labels and file names (the pixels here are fewer, to keep it light)
    batch = {
        b"batch_label": b"training batch 1 of 5",
        b"labels": [i % 10 for i in range(n)],
        b"data": np.arange(n * 8, dtype=np.uint8).reshape(n, 8),
        b"filenames": [b"img_%d.png" % i for i in range(n)],
    }
    loaded = load_restricted_pickle(io.BytesIO(pickle.dumps(batch, protocol=protocol)))
    assert loaded[b"labels"] == batch[b"labels"] and loaded[b"filenames"] == batch[b"filenames"]
    np.testing.assert_array_equal(loaded[b"data"], batch[b"data"])


def test_valid_files_still_load(tmp_path):
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        for protocol in (2, 4, 5):
            batch = {
                b"data": rng.integers(0, 256, (3, 3072)).astype(np.uint8),
                b"labels": [0, 9, 4],
                b"filenames": [b"a.png", b"b.png", b"c.png"],
                b"batch_label": b"batch",
            }
            (tmp_path / name).write_bytes(pickle.dumps(batch, protocol=protocol))
    split = data.cifar10(tmp_path)
    assert split.train.arrays[0].shape == (15, 3, 32, 32) and split.test.arrays[1].tolist() == [0, 9, 4]
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Dense(8, 2))
    ms.save(model, tmp_path / "m.npz")
    loaded = ms.load(tmp_path / "m.npz")
    for (_, p), (_, q) in zip(model.named_parameters(), loaded.named_parameters()):
        np.testing.assert_array_equal(p.data, q.data)
