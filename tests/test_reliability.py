"""Nothing silently wrong, bounded loading, and SensLI scores that do not depend on the loader.

The property and fault tests of the reliability issue; the bad-input table is test_bad_inputs.py.
"""

import gzip
import io
import json
import os
import pathlib
import pickle
import re
import signal
import struct
import subprocess
import sys
import time
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
from tests.tiny_configs import tiny_config, write_config

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


# ----------------------------------------------------------------------------- growth: stale optimizers


def test_fit_refuses_an_optimizer_that_holds_none_or_part_of_the_models_parameters():
    model = nn.Sequential(nn.Dense(2, 3), nn.ReLU(), nn.Dense(3, 2))
    grown = sensli.insert(model, sensli.candidate_sites(model)[0])
    split = data.spirals(n_per_class=10)
    loader = data.DataLoader(split.train, batch_size=5)
    old = optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="holds none of the model's 6 trainable parameters.*new optimizer"):
        ms.fit(grown, loader, old, 1, progress=False)
    part = optim.SGD(grown.parameters()[:2], lr=0.1)
    with pytest.raises(ValueError, match="holds 2 of the model's 6 trainable parameters"):
        ms.fit(grown, loader, part, 1, progress=False)
    before = [p.data.copy() for p in grown.parameters()]
    assert all(np.array_equal(a, p.data) for a, p in zip(before, grown.parameters()))  # nothing trained
    ms.fit(grown, loader, optim.SGD(grown.parameters(), lr=0.1), 1, progress=False)


def test_grow_refuses_optimizer_objects_factories_that_ignore_params_and_dropped_phases():
    model = nn.Sequential(nn.Dense(2, 3), nn.ReLU(), nn.Dense(3, 2))
    loader = data.DataLoader(data.spirals(n_per_class=10).train, batch_size=5)
    with pytest.raises(TypeError, match="grow builds a new optimizer after each insertion"):
        sensli.grow(model, loader, epochs=[1, 1], optimizer=optim.SGD(model.parameters(), lr=0.1), progress=False)
    stale = model.parameters()
    with pytest.raises(ValueError, match="holds none of the model's"):
        sensli.grow(model, loader, epochs=[1, 1], optimizer=lambda params, lr: optim.SGD(stale, lr=lr), progress=False)
    with pytest.raises(ValueError, match="epochs lists 3 phases but max_insertions = 1 allows 2"):
        sensli.grow(model, loader, epochs=[2, 2, 2], max_insertions=1, progress=False)


def test_growth_result_prints_training_no_longer_than_the_total():
    history = ms.train.History(train_loss=[1.0], minibatch_losses=[1.0], epoch_times=[0.254])
    result = sensli.GrowthResult(model=nn.Sequential(nn.Dense(1, 1)), history=history)
    result.train_seconds, result.select_seconds = 0.25, 0.004
    text = repr(result)
    total, training, selecting = (float(x) for x in re.findall(r"([0-9.]+) s\b", text)[-3:])
    assert training <= total and selecting <= total, text


# ----------------------------------------------------------------------------- data and modules: named errors


def test_bad_data_and_state_dicts_raise_errors_that_name_the_problem():
    model = nn.Sequential(nn.Dense(2, 3), nn.ReLU(), nn.Dense(3, 2))
    state = {name: p.data.tolist() for name, p in model.named_parameters()}  # nested lists, e.g. from JSON
    other = nn.Sequential(nn.Dense(2, 3), nn.ReLU(), nn.Dense(3, 2))
    other.load_state_dict(state)
    assert all(np.array_equal(p.data, q.data) for p, q in zip(model.parameters(), other.parameters()))
    with pytest.raises(ValueError, match="entry '0.weight' is not a rectangular array"):
        other.load_state_dict({**state, "0.weight": [[1.0, 2.0], [3.0]]})
    with pytest.raises(TypeError, match="entry '0.bias' has dtype"):
        other.load_state_dict({**state, "0.bias": ["a", "b", "c"]})
    x, y = np.zeros((3, 2), np.float32), np.zeros(3, np.int64)
    with pytest.raises(ValueError, match="drop_last=True with batch_size 5 and 3 examples gives no batch"):
        data.DataLoader(data.TensorDataset(x, y), batch_size=5, drop_last=True)
    with pytest.raises(ValueError, match="array 0 is 0-d"):
        data.TensorDataset(np.array(3.0))
    with pytest.raises(ValueError, match="5 inputs but 4 labels"):
        data.split_dataset(np.zeros((5, 2)), np.zeros(4), 0.5, 0)
    with pytest.raises(ValueError, match="leaves the test set empty"):
        data.split_dataset(np.zeros((2, 2)), np.zeros(2), 0.75, 0)


def test_an_empty_loader_is_named_not_a_division_by_zero():
    class Empty:
        def __iter__(self):
            return iter(())

        def __len__(self):
            return 0

    model = nn.Sequential(nn.Dense(2, 2))
    with pytest.raises(ValueError, match="the loader gave no batch"):
        ms.fit(model, Empty(), optim.SGD(model.parameters(), lr=0.1), 1, progress=False)


def test_sensitivities_name_their_own_setting():
    model = nn.Sequential(nn.Dense(2, 3), nn.Tanh(), nn.ResidualDense(3), nn.Dense(3, 2))
    loader = data.DataLoader(data.spirals(n_per_class=10).train, batch_size=5)
    with pytest.raises(ValueError, match=r"^sensitivities: h: must be > 0"):
        sensli.sensitivities(model, loader, kind="residual_dense", h=-1)


# ----------------------------------------------------------------------------- processes, signals, hints

LONG_TASKS = tiny_config("orphans", [40, 20], ["abs max", "small", "big"], [0, 1, 2])


def _children(pid):
    """Process ids whose parent is ``pid`` (Linux /proc)."""
    found = []
    for stat in pathlib.Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _alive(pid):
    """True while ``pid`` runs (a zombie that nobody reaps has ended)."""
    try:
        return pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_workers_end_when_the_main_process_is_killed(tmp_path):
    out = tmp_path / "out"
    command = [sys.executable, "-m", "minisensli", "run", write_config(tmp_path, LONG_TASKS)]
    command += ["--out", str(out), "--jobs", "2", "--no-progress"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    workers: list[int] = []
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and len(workers) < 2:  # both workers started
            assert process.poll() is None, "the run ended before the test could kill it"
            workers = [pid for pid in _children(process.pid) if b"spawn_main" in _cmdline(pid)]
            time.sleep(0.1)
        assert len(workers) >= 2, "no worker processes appeared"
        process.kill()  # SIGKILL: the main process gets no chance to stop anything
        process.wait(timeout=60)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and any(_alive(pid) for pid in workers):
            time.sleep(0.2)
        assert not [pid for pid in workers if _alive(pid)], "worker processes outlived their parent"
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=60)
        for pid in workers:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


def _cmdline(pid):
    try:
        return pathlib.Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


@pytest.fixture
def tiny_folder(tmp_path):
    from minisensli.experiments import load_config, run_experiment

    text = tiny_config("sig nals", [2, 1], ["abs max", "small", "big"], [0, 1])
    return run_experiment(load_config(write_config(tmp_path, text)), tmp_path / "out dir", progress=False, jobs=1)


def _savefig_then_signal(monkeypatch, sig):
    """Make the first figure written send ``sig`` to this process half-way through its file."""
    from matplotlib.figure import Figure

    original, sent = Figure.savefig, []

    def savefig(self, file, **options):
        file.write(b"half a figure")
        if not sent:
            sent.append(sig)
            os.kill(os.getpid(), sig)
            time.sleep(10)  # the handler raises here, in the main thread
        return original(self, file, **options)

    monkeypatch.setattr(Figure, "savefig", savefig)
    return sent


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_while_figures_are_written_leaves_no_partial_file_and_exits_130(tiny_folder, monkeypatch, capsys, sig):
    from minisensli import cli

    before = {p.name: p.read_bytes() for p in tiny_folder.glob("*.png")}
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    assert _savefig_then_signal(monkeypatch, sig) is not None
    assert cli.main(["plot", str(tiny_folder)]) == 130
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and f"stopped by {signal.Signals(sig).name}" in lines[0], lines
    assert not list(tiny_folder.glob("*.partial")) and not list(tiny_folder.glob(".*partial"))
    assert {p.name: p.read_bytes() for p in tiny_folder.glob("*.png")} == before  # old figures intact
    assert {s: signal.getsignal(s) for s in handlers} == handlers  # main() restored the handlers


def test_sigterm_while_a_run_draws_its_final_figures(tmp_path, monkeypatch, capsys):
    from minisensli import cli

    _savefig_then_signal(monkeypatch, signal.SIGTERM)
    config = write_config(tmp_path, tiny_config("late", [1], ["small"], [0]))
    assert cli.main(["run", config, "--out", str(tmp_path / "out"), "--jobs", "1", "--no-progress"]) == 130
    assert len([line for line in capsys.readouterr().err.splitlines() if line.strip()]) == 1
    assert not [p for p in (tmp_path / "out").rglob("*") if "partial" in p.name]


def test_resume_says_what_ran_and_refuses_a_model_that_does_not_match_its_record(tiny_folder, capsys, tmp_path):
    import shutil

    from minisensli import cli

    results = json.loads((tiny_folder / "results.json").read_text())
    assert cli.main(["run", "--resume", str(tiny_folder), "--jobs", "1", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "6 of 6 runs finished before; running the other 0" in out and "0 runs in" in out
    assert "6 kept from before" in out

    small = [r for r in results["runs"] if (r["method"], r["seed"]) == ("small", 1)][0]
    results["runs"].remove(small)
    results["complete"] = False
    (tiny_folder / "results.json").write_text(json.dumps(results))
    assert cli.main(["run", "--resume", str(tiny_folder), "--jobs", "1", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "5 of 6 runs finished before; running the other 1" in out and "\nsig nals: 1 run in" in out

    swapped = shutil.copytree(tiny_folder, tmp_path / "swapped")
    results = json.loads((swapped / "results.json").read_text())
    results["runs"] = [r for r in results["runs"] if (r["method"], r["seed"]) != ("big", 0)]
    results["complete"] = False
    (swapped / "results.json").write_text(json.dumps(results))
    (swapped / "models" / "abs-max-seed0.npz").write_bytes((swapped / "models" / "small-seed1.npz").read_bytes())
    assert cli.main(["run", "--resume", str(swapped), "--jobs", "1", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "abs-max-seed0.npz" in err and "does not match the run recorded in results.json" in err


def test_printed_hints_are_shell_quoted(monkeypatch, capsys, tmp_path):
    import shlex

    from minisensli import cli, notebooks
    from minisensli.experiments import RunFailedError, RunInterruptedError, completeness_note

    folder = tmp_path / "results of today" / "it's here"
    for error, code in [
        (RunInterruptedError(folder, "SIGTERM", 1, 4), 130),
        (RunFailedError(folder, [("'small' seed 0", "ValueError: x")], 3, 4), 1),
    ]:

        def fail(*args, error=error, **kwargs):
            raise error

        monkeypatch.setattr(cli, "run_experiment", fail)
        assert cli.main(["run", "spirals", "--no-progress", "--jobs", "1"]) == code
        hint = capsys.readouterr().err.split("minisensli run --resume ", 1)[1].strip()
        assert shlex.split(hint) == [str(folder)]
    note = completeness_note({"complete": False, "runs": [], "unfinished": []}, folder)
    assert shlex.split(note.split("--resume ", 1)[1].rstrip(")")) == [str(folder)]
    monkeypatch.setattr(notebooks, "export", lambda *args, **kwargs: [])
    assert cli.main(["notebooks", "my notebooks; rm -rf x"]) == 0
    assert shlex.split(capsys.readouterr().out.split("jupyter lab ", 1)[1]) == ["my notebooks; rm -rf x"]


def test_counts_are_validated_before_anything_is_allocated(tmp_path, capsys):
    from minisensli import cli

    tracemalloc.start()
    try:
        assert cli.main(["run", "spirals", "--seeds", "1000000000", "--out", str(tmp_path / "out")]) == 2
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert "--seeds: must be between 1 and 1000" in capsys.readouterr().err
    assert peak < 50 * 2**20 and not (tmp_path / "out").exists()


def test_configs_that_cannot_run_are_refused_before_the_folder_exists(tmp_path, capsys):
    from minisensli import cli

    latin1 = tmp_path / "latin1.toml"
    latin1.write_bytes('name = "caf\xe9"\n'.encode("latin-1"))
    assert cli.main(["run", str(latin1), "--out", str(tmp_path / "out")]) == 2
    assert "not UTF-8 text" in capsys.readouterr().err
    one = tiny_config("one", [1], ["small"], [0]).replace("n_per_class = 40", "n_per_class = 1")
    assert cli.main(["run", write_config(tmp_path, one), "--out", str(tmp_path / "out")]) == 2
    assert "leave the test set empty" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_the_python_api_stops_cleanly_on_sigterm_while_drawing(tmp_path, monkeypatch):
    from minisensli.experiments import load_config, run_experiment

    _savefig_then_signal(monkeypatch, signal.SIGTERM)
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    config = load_config(write_config(tmp_path, tiny_config("api", [1], ["small"], [0])))
    with pytest.raises(KeyboardInterrupt) as stop:
        run_experiment(config, tmp_path / "out", progress=False, jobs=1)
    assert getattr(stop.value, "signal_name", None) == "SIGTERM"
    assert not [p for p in (tmp_path / "out").rglob("*") if "partial" in p.name]
    assert {s: signal.getsignal(s) for s in handlers} == handlers
