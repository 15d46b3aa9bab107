"""Device parity: every op, a training run, the sensitivities of every site kind, insertion and
save/load give on device 'gpu' what they give on the CPU.

With a CUDA GPU and CuPy present, 'gpu' is the GPU. Without one, 'gpu' is the strict stand-in of
tests/strict_device.py: NumPy arrays that raise on every implicit host conversion (float(),
.item(), bool(), .tolist(), ...), so that a stray host round trip inside a step fails here on
any machine.
"""

import numpy as np
import pytest

import minisensli as ms
import minisensli.functional as F
from minisensli import backend, data, nn, optim, sensli
from minisensli.experiments import load_results, quick, resolve, run_experiment
from tests.sensli_cases import SITE_KINDS, make_loader, make_model
from tests.strict_device import HostTransferError, StrictModule


def _real_gpu() -> bool:
    try:
        import cupy  # noqa: F401, PLC0415 - only to know whether a real GPU can be used
    except ImportError:
        return False
    return backend.gpu_available()


REAL_GPU = _real_gpu()


@pytest.fixture
def gpu():
    """The device name 'gpu': the real GPU when there is one, else the strict stand-in."""
    if REAL_GPU:
        yield "gpu"
        return
    previous = backend.use_gpu_module(StrictModule())
    try:
        yield "gpu"
    finally:
        backend.use_gpu_module(previous)


def host(array):
    return backend.to_numpy(array)


def test_stand_in_refuses_implicit_host_conversion(gpu):
    if REAL_GPU:
        pytest.skip("the stand-in is only installed without a GPU")
    t = ms.Tensor([1.5, 2.5], device=gpu)
    assert t.device == "gpu"
    total = t.data.sum()
    for convert in (float, int, bool, lambda a: a.item(), lambda a: a.tolist()):
        with pytest.raises(HostTransferError):
            convert(total)
    with pytest.raises(HostTransferError):
        float(t.data[0])  # indexing gives a 0-d device array, not a host scalar
    assert t.sum().item() == 4.0  # the explicit way, through the backend
    np.testing.assert_array_equal(t.numpy(), [1.5, 2.5])


# ----------------------------------------------------------------------------- every op

rng = np.random.default_rng(0)
OPS = {  # name: (function of tensors, input arrays); inputs chosen inside each op's domain
    "add": (lambda a, b: a + b, [(3, 4), (4,)]),
    "sub": (lambda a, b: a - b, [(3, 4), (3, 1)]),
    "mul": (lambda a, b: a * b, [(3, 4), (3, 4)]),
    "div": (lambda a, b: a / (b * b + 1), [(3, 4), (4,)]),
    "neg": (lambda a: -a, [(3, 4)]),
    "pow": (lambda a: a**3, [(3, 4)]),
    "rpow": (lambda a: 2.0**a, [(3, 4)]),
    "exp": (lambda a: a.exp(), [(3, 4)]),
    "log": (lambda a: (a * a + 1).log(), [(3, 4)]),
    "sqrt": (lambda a: (a * a + 1).sqrt(), [(3, 4)]),
    "matmul": (lambda a, b: a @ b, [(3, 4), (4, 5)]),
    "matmul batched": (lambda a, b: a @ b, [(2, 3, 4), (4,)]),
    "linear": (lambda x, w, b: F.linear(x, w, b), [(5, 4), (3, 4), (3,)]),
    "relu": (F.relu, [(3, 4)]),
    "tanh": (F.tanh, [(3, 4)]),
    "sigmoid": (F.sigmoid, [(3, 4)]),
    "softmax": (lambda a: F.softmax(a, axis=1), [(3, 4)]),
    "log_softmax": (lambda a: F.log_softmax(a, axis=1), [(3, 4)]),
    "sum": (lambda a: a.sum(axis=1), [(3, 4)]),
    "mean": (lambda a: a.mean(), [(3, 4)]),
    "max": (lambda a: a.max(axis=0), [(3, 4)]),
    "min": (lambda a: a.min(axis=1, keepdims=True), [(3, 4)]),
    "reshape": (lambda a: a.reshape(4, 3), [(3, 4)]),
    "transpose": (lambda a: a.transpose(2, 0, 1), [(2, 3, 4)]),
    "flatten": (F.flatten, [(2, 3, 4)]),
    "getitem slice": (lambda a: a[1:, ::2], [(3, 4)]),
    "getitem repeated rows": (lambda a: a[[0, 2, 2]], [(3, 4)]),
    "concatenate": (lambda a, b: F.concatenate([a, b], axis=1), [(3, 4), (3, 2)]),
    "stack": (lambda a, b: F.stack([a, b], axis=0), [(3, 4), (3, 4)]),
    "pad": (lambda a: F.pad(a, ((0, 0), (1, 2))), [(3, 4)]),
    "conv2d": (lambda x, w, b: F.conv2d(x, w, b, padding=1), [(2, 3, 6, 6), (4, 3, 3, 3), (4,)]),
    "conv2d strided": (lambda x, w: F.conv2d(x, w, stride=2), [(2, 3, 7, 7), (4, 3, 3, 3)]),
    "max_pool2d": (lambda x: F.max_pool2d(x, 2), [(2, 3, 6, 6)]),
    "avg_pool2d": (lambda x: F.avg_pool2d(x, 3, stride=2, padding=1), [(2, 3, 6, 6)]),
    "cross_entropy": (lambda z: F.cross_entropy(z, np.array([0, 2, 1, 2, 0])), [(5, 3)]),
    "mse_loss": (lambda p, t: F.mse_loss(p, t), [(3, 4), (3, 4)]),
    "astype": (lambda a: a.astype("float32").astype("float64"), [(3, 4)]),
}


def _run_op(function, arrays, device):
    inputs = [ms.Tensor(a, requires_grad=True, device=device) for a in arrays]
    if device != "cpu":  # integer constants such as labels move along with the op's inputs
        function = _on(function, device)
    out = function(*inputs)
    upstream = np.random.default_rng(1).standard_normal(out.shape)
    out.backward(ms.Tensor(upstream, device=device))
    return host(out.data), [host(t.grad) for t in inputs]


def _on(function, device):
    def moved(*tensors):
        with _constants_on(device):
            return function(*tensors)

    return moved


class _constants_on:  # noqa: N801 - used like a function
    """Inside: raw numpy constants (cross-entropy labels) given to F ops are moved to ``device``."""

    def __init__(self, device):
        self.device = device

    def __enter__(self):
        self.original = F.cross_entropy
        device = self.device
        F.cross_entropy = lambda z, labels: self.original(z, ms.Tensor(labels, device=device))

    def __exit__(self, *exc):
        F.cross_entropy = self.original


@pytest.mark.parametrize("name", sorted(OPS))
def test_op_forward_and_gradient_match_cpu(name, gpu):
    function, shapes = OPS[name]
    arrays = [rng.standard_normal(s) for s in shapes]
    out_cpu, grads_cpu = _run_op(function, arrays, "cpu")
    out_gpu, grads_gpu = _run_op(function, arrays, gpu)
    np.testing.assert_allclose(out_gpu, out_cpu, rtol=1e-10, atol=1e-12)
    for g_gpu, g_cpu in zip(grads_gpu, grads_cpu):
        np.testing.assert_allclose(g_gpu, g_cpu, rtol=1e-10, atol=1e-12)


def test_gradient_flows_back_across_devices(gpu):
    x = ms.Tensor(rng.standard_normal((3, 4)), requires_grad=True)
    y = (x.to(gpu) * 2.0).sum()
    y.backward()
    assert x.grad is not None and backend.device_of(x.grad) == "cpu"
    np.testing.assert_allclose(x.grad, 2.0)


# ----------------------------------------------------------------------------- training


def _spirals_loaders(device):
    split = data.spirals(n_per_class=60)
    train = data.DataLoader(split.train, batch_size=30, shuffle=True, seed=3, device=device)
    test = data.DataLoader(split.test, batch_size=25, device=device)
    return train, test


def _trained(device):
    ms.manual_seed(0)
    model = nn.Sequential(nn.Dense(2, 8), nn.ReLU(), nn.Dense(8, 2)).to(device)
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    train, test = _spirals_loaders(device)
    history = ms.fit(model, train, opt, epochs=3, test_loader=test, progress=False)
    return model, history


def test_training_run_matches_cpu_and_keeps_batches_on_the_device(gpu):
    train, _ = _spirals_loaders(gpu)
    inputs, labels = next(iter(train))
    assert inputs.device == gpu and labels.device == gpu
    model_cpu, history_cpu = _trained("cpu")
    model_gpu, history_gpu = _trained(gpu)
    assert all(p.device == gpu for p in model_gpu.parameters())
    for p_gpu, p_cpu in zip(model_gpu.parameters(), model_cpu.parameters()):
        np.testing.assert_allclose(host(p_gpu.data), p_cpu.data, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(history_gpu.minibatch_losses, history_cpu.minibatch_losses, rtol=1e-9)
    np.testing.assert_allclose(history_gpu.test_loss, history_cpu.test_loss, rtol=1e-9)
    assert history_gpu.train_error == history_cpu.train_error
    assert history_gpu.test_error == history_cpu.test_error


def test_non_finite_loss_on_the_device_is_reported_with_its_step(gpu):
    ms.manual_seed(0)
    model = nn.Sequential(nn.Dense(2, 4), nn.ReLU(), nn.Dense(4, 2)).to(gpu)
    first = model.parameters()[0]
    first.data = first.data * float("nan")
    train, _ = _spirals_loaders(gpu)
    with pytest.raises(ms.NonFiniteLossError, match="became nan at epoch 0, step 0"):
        ms.train_epoch(model, train, optim.SGD(model.parameters(), lr=0.1))


# ----------------------------------------------------------------------------- SensLI


@pytest.mark.parametrize("kind", SITE_KINDS)
@pytest.mark.parametrize("method", sensli.METHODS)
def test_sensitivities_of_every_site_kind_match_cpu(kind, method, gpu):
    model = make_model(kind, width=3, depth=2, rng_seed=4)
    cpu_loader = make_loader(kind, n=12, batch_size=5, seed=2)
    gpu_loader = data.DataLoader(cpu_loader.dataset, batch_size=5, device=gpu)
    on_cpu = sensli.sensitivities(model, cpu_loader, method=method, score_existing=True)
    on_gpu = sensli.sensitivities(model.copy().to(gpu), gpu_loader, method=method, score_existing=True)
    np.testing.assert_allclose(on_gpu.scores(), on_cpu.scores(), rtol=1e-9)
    assert on_gpu.existing.keys() == on_cpu.existing.keys()
    np.testing.assert_allclose(list(on_gpu.existing.values()), list(on_cpu.existing.values()), rtol=1e-9)
    for s_gpu, s_cpu in zip(on_gpu, on_cpu):
        for name, g in s_cpu.multipliers.items():
            assert backend.device_of(s_gpu.multipliers[name]) == gpu
            np.testing.assert_allclose(host(s_gpu.multipliers[name]), g, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("kind", SITE_KINDS)
def test_insert_on_the_device_preserves_the_function(kind, gpu):
    model = make_model(kind, width=3, depth=2, rng_seed=5).to(gpu)
    site = sensli.candidate_sites(model)[0]
    grown = sensli.insert(model, site)
    assert all(p.device == gpu for p in grown.parameters())
    inputs = next(
        iter(data.DataLoader(make_loader(kind, n=6, batch_size=6, seed=1).dataset, batch_size=6, device=gpu))
    )[0]
    with ms.no_grad():
        np.testing.assert_allclose(host(grown(inputs).data), host(model(inputs).data), rtol=1e-12, atol=1e-12)


def test_save_and_load_a_model_from_the_device(gpu, tmp_path):
    model = make_model("conv", width=3, depth=2, rng_seed=6)
    ms.save(model.copy().to(gpu), tmp_path / "model.npz")
    loaded = ms.load(tmp_path / "model.npz")
    for (name, p), (_, q) in zip(model.named_parameters(), loaded.named_parameters()):
        np.testing.assert_array_equal(host(q.data), p.data, err_msg=name)
    moved = loaded.to(gpu)
    assert all(p.device == gpu for p in moved.parameters())


def test_experiment_on_the_device_matches_cpu(gpu, tmp_path):
    results = {}
    for device in ("cpu", gpu):
        config = quick(resolve("spirals"))
        config.comparison["seeds"] = [0]
        config.training["epochs"] = [4, 3]
        config.training["device"] = device
        out = run_experiment(config, tmp_path / device, progress=False, timestamp="t")
        results[device] = load_results(out)
    for run_cpu, run_gpu in zip(results["cpu"]["runs"], results[gpu]["runs"]):
        assert run_gpu["method"] == run_cpu["method"]
        np.testing.assert_allclose(run_gpu["minibatch_losses"], run_cpu["minibatch_losses"], rtol=1e-5)
        assert run_gpu["chosen_sites"] == run_cpu["chosen_sites"]


def test_config_device_key_is_validated():
    from minisensli.experiments import ConfigError, validate  # noqa: PLC0415

    assert validate({"name": "x"}).training["device"] == "cpu"
    with pytest.raises(ConfigError, match=r"training.device: 'tpu' is not allowed; choose one of \['cpu', 'gpu'\]"):
        validate({"name": "x", "training": {"device": "tpu"}})


def test_cli_device_gpu_without_a_gpu_fails_before_any_work(tmp_path, capsys):
    if REAL_GPU:
        pytest.skip("this machine has a GPU")
    from minisensli.cli import main  # noqa: PLC0415

    assert main(["run", "--quick", "--no-progress", "--device", "gpu", "--out", str(tmp_path)]) == 2
    assert "training.device: device 'gpu'" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_loader_moves_the_data_set_to_its_device_once(gpu):
    ds = data.TensorDataset(np.arange(12.0).reshape(6, 2), np.arange(6))
    loader = data.DataLoader(ds, batch_size=3, device=gpu)
    first = [next(iter(loader))[0].data for _ in range(2)]
    assert first[0].base is not None and first[0].base is first[1].base  # views of one device copy
    ds.arrays = (ds.arrays[0] * 2, ds.arrays[1])  # a new array is moved again
    np.testing.assert_array_equal(host(next(iter(loader))[0].data), [[0, 2], [4, 6], [8, 10]])
