"""The bad-input table: one row per case, grouped by class, several inputs per class.

Every row asserts the error type and that the message names what is wrong: the argument,
the config key, the op, or the file. Settings errors must come before any work: the grow
rows use a loader that fails when it is iterated, the config rows never reach the runner.
"""

import gzip
import io
import json
import math
import pickle
import struct
import zipfile

import numpy as np
import pytest

import minisensli as ms
from minisensli import data, nn, optim, sensli
from minisensli.experiments.config import ConfigError, validate
from minisensli.sensli.sites import Site

# ----------------------------------------------------------------------------- hostile model files


def _npy(array) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=True)
    return buffer.getvalue()


def _npy_header(shape, descr="<f8") -> bytes:
    header = f"{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}"
    header += " " * (118 - len(header)) + "\n"
    return b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode()


def _good_entries():
    """The entries of a valid file for Dense(2, 3) + ReLU + Dense(3, 2), as name -> .npy bytes."""
    ms.manual_seed(0)
    model = nn.Sequential(nn.Dense(2, 3), nn.ReLU(), nn.Dense(3, 2))
    entries = {f"param:{name}.npy": _npy(p.data) for name, p in model.named_parameters()}
    meta = {
        "format": "minisensli-model",
        "version": 1,
        "minisensli": ms.__version__,
        "architecture": {
            "type": "Sequential",
            "config": {},
            "children": [
                {"type": "Dense", "config": {"in_features": 2, "out_features": 3, "bias": True}},
                {"type": "ReLU", "config": {}},
                {"type": "Dense", "config": {"in_features": 3, "out_features": 2, "bias": True}},
            ],
        },
    }
    return entries, meta


def _write(path, entries, meta=None, meta_text=None):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        if meta is not None or meta_text is not None:
            text = meta_text if meta_text is not None else json.dumps(meta)
            archive.writestr("__minisensli__.npy", _npy(np.frombuffer(text.encode(), np.uint8)))
        for name, raw in entries.items():
            archive.writestr(name, raw)
    return path


def _changed(change):
    """A file maker: the good entries and metadata, passed through ``change(entries, meta)``."""

    def make(path):
        entries, meta = _good_entries()
        result = change(entries, meta)
        if isinstance(result, str):
            return _write(path, entries, meta_text=result)
        return _write(path, entries, meta)

    return make


def _set_config(index, key, value):
    def change(entries, meta):
        meta["architecture"]["children"][index]["config"][key] = value

    return change


def _raw_bytes(content):
    def make(path):
        path.write_bytes(content)
        return path

    return make


def _from_good(transform):
    def make(path):
        entries, meta = _good_entries()
        _write(path, entries, meta)
        path.write_bytes(transform(path.read_bytes()))
        return path

    return make


def _flip(raw):
    damaged = bytearray(raw)
    damaged[len(raw) // 3] ^= 0xFF
    return bytes(damaged)


def _deep_meta(depth):
    node = '{"type": "Sequential", "children": [' * depth + '{"type": "ReLU"}' + "]}" * depth
    return '{"format": "minisensli-model", "version": 1, "minisensli": "0", "architecture": ' + node + "}"


MODEL_FILES = [
    pytest.param(_raw_bytes(b"definitely not a zip file"), "not a readable .npz", id="not-a-zip"),
    pytest.param(_from_good(lambda raw: raw[: len(raw) // 2]), "not a readable .npz", id="truncated"),
    pytest.param(_from_good(_flip), "damaged|not a readable", id="bit-flip"),
    pytest.param(
        _changed(lambda e, m: e.update({"junk.npy": _npy(np.ones(3))})), "unknown entries .*junk", id="unknown-entry"
    ),
    pytest.param(
        _changed(lambda e, m: e.update({"notes.txt": b"hello"})), "unexpected entry 'notes.txt'", id="non-npy-entry"
    ),
    pytest.param(lambda path: _write(path, _good_entries()[0]), "no __minisensli__ entry", id="no-metadata"),
    pytest.param(
        _changed(lambda e, m: e.update({"param:0.weight.npy": _npy(np.array([[object()] * 2] * 3))})),
        "param:0.weight.* dtype object.*never pickled",
        id="object-array",
    ),
    pytest.param(
        _changed(lambda e, m: e.update({"param:0.weight.npy": _npy(np.ones((3, 2), np.int64))})),
        "weight '0.weight' has dtype int64",
        id="integer-weights",
    ),
    pytest.param(
        _changed(lambda e, m: e.update({"param:0.weight.npy": _npy_header((30000, 30000)) + bytes(48)})),
        r"param:0.weight.*declares shape \(30000, 30000\)",
        id="forged-npy-shape",
    ),
    pytest.param(
        _changed(lambda e, m: e.update({"param:0.weight.npy": _npy(np.ones((3, 2)))[:-8]})),
        r"param:0.weight.*declares shape \(3, 2\)",
        id="short-npy-data",
    ),
    pytest.param(
        _changed(lambda e, m: e.update({"param:0.weight.npy": _npy(np.ones((2, 3)))})),
        r"0.weight: stored \(2, 3\), expected \(3, 2\)",
        id="wrong-weight-shape",
    ),
    pytest.param(_changed(lambda e, m: e.pop("param:2.bias.npy")), r"missing \['2.bias'\]", id="missing-weight"),
    pytest.param(
        _changed(_set_config(0, "out_features", 10**6)),
        "needs far more weights than the file stores",
        id="huge-layer-in-json",
    ),
    pytest.param(_changed(_set_config(0, "out_features", "3")), "cannot rebuild Dense", id="string-size"),
    pytest.param(
        _changed(_set_config(0, "out_features", [3])), "config 'out_features' must be a number", id="list-size"
    ),
    pytest.param(_changed(_set_config(0, "rng", 5)), "unknown config key 'rng'", id="rng-key"),
    pytest.param(_changed(_set_config(0, "units", 5)), "unknown config key 'units'", id="unknown-config-key"),
    pytest.param(
        _changed(lambda e, m: m["architecture"]["children"].append({"type": "Evil"})),
        "unknown module type 'Evil'",
        id="unknown-module",
    ),
    pytest.param(
        _changed(lambda e, m: m["architecture"]["children"][1].update({"children": []})),
        "only Sequential has children",
        id="children-on-relu",
    ),
    pytest.param(
        _changed(lambda e, m: m["architecture"].update({"extra": 1})),
        r"unknown keys \['extra'\]",
        id="unknown-node-key",
    ),
    pytest.param(_changed(lambda e, m: m.update({"version": 99})), "version 99", id="future-version"),
    pytest.param(
        _changed(
            lambda e, m: json.dumps(m).replace('"bias": true}}, {"type": "ReLU"', '"bias": NaN}}, {"type": "ReLU"')
        ),
        "non-finite number NaN",
        id="nan-in-json",
    ),
    pytest.param(_changed(lambda e, m: "[1, 2, 3]"), "must be a JSON object", id="metadata-not-object"),
    pytest.param(_changed(lambda e, m: '{"format": '), "architecture description is damaged", id="broken-json"),
    pytest.param(_changed(lambda e, m: _deep_meta(40)), "nested deeper than 32", id="deep-nesting"),
    pytest.param(
        _changed(lambda e, m: _deep_meta(20_000)),
        "architecture description is damaged",
        id="deeper-than-the-json-parser",
    ),
]


@pytest.mark.parametrize("make, message", MODEL_FILES)
def test_load_names_the_file_and_what_is_wrong(tmp_path, make, message):
    path = make(tmp_path / "model.npz")
    with pytest.raises(ms.ModelFileError, match=message) as info:
        ms.load(path)
    assert str(path) in str(info.value)


# ----------------------------------------------------------------------------- hostile MNIST files


def _idx(magic: bytes, shape, body: bytes) -> bytes:
    return magic + struct.pack(f">{len(shape)}I", *shape) + body


IDX_FILES = [
    pytest.param(
        "x.idx", _idx(b"\x00\x00\x09\x01", (3,), bytes(3)), 1, "not an IDX file of unsigned bytes", id="wrong-type-code"
    ),
    pytest.param(
        "x.idx",
        _idx(b"\x00\x00\x08\x02", (3, 1), bytes(3)),
        1,
        "not an IDX file .* with 1 dimensions",
        id="wrong-dimensions",
    ),
    pytest.param("x.idx", b"\x00\x00", 1, "file ends after 2 of the 4 bytes", id="no-header"),
    pytest.param(
        "x.idx",
        _idx(b"\x00\x00\x08\x03", (60000, 28, 28), bytes(10)),
        3,
        r"header announces shape \(60000, 28, 28\)",
        id="declares-more-than-it-holds",
    ),
    pytest.param(
        "x.idx",
        _idx(b"\x00\x00\x08\x01", (3,), bytes(5)),
        1,
        r"header announces shape \(3,\).* holds 5",
        id="trailing-bytes",
    ),
    pytest.param(
        "x.idx.gz",
        gzip.compress(_idx(b"\x00\x00\x08\x03", (4_000_000_000, 1000, 1000), bytes(10))),
        3,
        r"at most",
        id="gzip-declares-impossible-size",
    ),
    pytest.param(
        "x.idx.gz",
        gzip.compress(_idx(b"\x00\x00\x08\x01", (1000,), bytes(10))),
        1,
        r"header announces shape \(1000,\)",
        id="gzip-short-body",
    ),
    pytest.param("x.idx.gz", b"\x1f\x8b\x08\x00garbage-not-deflate", 1, "cannot read file", id="broken-gzip"),
    pytest.param(
        "x.idx.gz", _idx(b"\x00\x00\x08\x01", (3,), bytes(3)), 1, "cannot read file", id="plain-file-named-gz"
    ),
]


@pytest.mark.parametrize("name, content, ndim, message", IDX_FILES)
def test_read_idx_checks_sizes_before_reading(tmp_path, name, content, ndim, message):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(data.DataFileError, match=message) as info:
        data.read_idx(path, ndim)
    assert str(path) in str(info.value)


# ----------------------------------------------------------------------------- hostile CIFAR-10 files


class Evil:
    def __reduce__(self):
        return (print, ("this must never run",))


def _batch(**changes):
    batch = {b"data": np.zeros((2, 3072), np.uint8), b"labels": [1, 2], b"batch_label": b"x"}
    batch.update({k.encode(): v for k, v in changes.items()})
    return pickle.dumps(batch, protocol=2)


def _nested(depth):
    value = []
    for _ in range(depth):
        value = [value]
    return value


RECONSTRUCT_BOMB = (  # numpy's _reconstruct asked for 10**9 float64 entries by a 100-byte file
    b"\x80\x02cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nJ\x00\xca\x9a;\x85U\x01b\x87R."
)

CIFAR_FILES = [
    pytest.param(b"not a pickle", "not a CIFAR-10 python batch", id="not-a-pickle"),
    pytest.param(pickle.dumps({b"data": Evil(), b"labels": []}), "refusing to load builtins.print", id="code"),
    pytest.param(RECONSTRUCT_BOMB, "refusing numpy _reconstruct", id="allocation-bomb"),
    pytest.param(
        pickle.dumps({b"data": np.array([object()]), b"labels": []}, protocol=2),
        "refusing numpy dtype|object",
        id="object-array",
    ),
    pytest.param(pickle.dumps(_nested(100), protocol=2), "nested deeper than", id="deep-memo-nesting"),
    pytest.param(
        b"\x80\x02" + b"(" * 100 + b"N" + b"t" * 100 + b".", "nesting deeper than 64 open marks", id="deep-marks"
    ),
    pytest.param(_batch(extra=_nested(20)), "nested deeper than", id="deep-structure"),
    pytest.param(_batch(labels=[1, 10]), "labels must be integers 0..9, found 10", id="label-10"),
    pytest.param(_batch(labels=[1, -1]), "labels must be integers 0..9, found -1", id="negative-label"),
    pytest.param(_batch(labels=[1, 2.0]), "labels must be integers 0..9, found 2.0", id="float-label"),
    pytest.param(_batch(labels=[1, True]), "labels must be integers 0..9, found True", id="bool-label"),
    pytest.param(
        _batch(labels=np.array([0.5, 1.0])), "labels must be integers 0..9, got dtype float64", id="float-label-array"
    ),
    pytest.param(_batch(labels=[1, 2, 3]), "2 images but 3 labels", id="length-mismatch"),
    pytest.param(_batch(data=np.full((2, 3072), 300.0)), r"pixel values must be integers 0..255", id="pixel-300"),
    pytest.param(_batch(data=np.full((2, 3072), np.nan)), r"pixel values must be integers 0..255", id="pixel-nan"),
    pytest.param(_batch(data=np.full((2, 3072), 0.5)), r"pixel values must be integers 0..255", id="pixel-half"),
    pytest.param(_batch(data=np.zeros((2, 10), np.uint8)), r"expected data of shape \(N, 3072\)", id="data-shape"),
    pytest.param(_batch(data=b"raw bytes"), "b'data' must be a numeric array", id="data-not-array"),
]


@pytest.mark.parametrize("content, message", CIFAR_FILES)
def test_cifar10_batch_is_bounded_and_validated(tmp_path, content, message):
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {b"data": rng.integers(0, 256, (2, 3072)).astype(np.uint8), b"labels": [0, 9]}
        (tmp_path / name).write_bytes(pickle.dumps(batch))
    (tmp_path / "data_batch_2").write_bytes(content)
    with pytest.raises(data.DataFileError, match=message) as info:
        data.cifar10(tmp_path)
    assert "data_batch_2" in str(info.value)


# ----------------------------------------------------------------------------- grow settings


class MustNotIterate:
    """A loader that fails the test if anything starts iterating it (training or scoring)."""

    def __iter__(self):
        raise AssertionError("work started before the settings were checked")

    def __len__(self):
        return 1


def _grow_model():
    return nn.Sequential(nn.Dense(2, 3), nn.ReLU(), nn.Dense(3, 3), nn.ReLU(), nn.Dense(3, 2))


GROW_SETTINGS = [
    pytest.param({"epochs": []}, ValueError, "grow: epochs", id="epochs-empty"),
    pytest.param({"epochs": [0, 0]}, ValueError, "grow: epochs.*at least one epoch", id="epochs-all-zero"),
    pytest.param({"epochs": [5, -1]}, ValueError, r"grow: epochs\[1\]: must be an integer >= 0", id="epochs-negative"),
    pytest.param({"epochs": [5, 1.5]}, TypeError, r"grow: epochs\[1\]: expected an integer", id="epochs-float"),
    pytest.param({"epochs": "450"}, TypeError, "grow: epochs: expected an integer", id="epochs-string"),
    pytest.param({"epochs": True}, TypeError, "grow: epochs: expected an integer", id="epochs-bool"),
    pytest.param({"lr": math.nan}, ValueError, "grow: lr: must be a finite number", id="lr-nan"),
    pytest.param({"lr": math.inf}, ValueError, "grow: lr: must be a finite number", id="lr-inf"),
    pytest.param({"lr": 0.0}, ValueError, "grow: lr: must be > 0", id="lr-zero"),
    pytest.param({"lr": "0.1"}, TypeError, "grow: lr: expected a number", id="lr-string"),
    pytest.param({"lr_factor": math.nan}, ValueError, "grow: lr_factor", id="lr-factor-nan"),
    pytest.param({"lr_factor": -0.5}, ValueError, "grow: lr_factor", id="lr-factor-negative"),
    pytest.param({"max_insertions": -1}, ValueError, "grow: max_insertions", id="max-insertions-negative"),
    pytest.param({"max_insertions": 1.5}, TypeError, "grow: max_insertions", id="max-insertions-float"),
    pytest.param({"mode": "abs maxx"}, ValueError, "unknown selection mode 'abs maxx'", id="mode"),
    pytest.param({"method": "exact"}, ValueError, "grow: method: 'exact'", id="method"),
    pytest.param({"norm": "l1"}, ValueError, "grow: norm: 'l1'", id="norm"),
    pytest.param({"threshold": math.nan}, ValueError, "grow: threshold", id="threshold-nan"),
    pytest.param({"threshold": 0}, ValueError, "grow: threshold", id="threshold-zero"),
    pytest.param({"target_test_error": 1.5}, ValueError, "grow: target_test_error", id="target-above-one"),
    pytest.param({"optimizer": "rmsprop"}, ValueError, "unknown optimizer 'rmsprop'", id="optimizer-name"),
    pytest.param({"optimizer_options": {"momentum": math.nan}}, ValueError, "SGD: momentum", id="momentum-nan"),
    pytest.param({"optimizer_options": {"nesterov": True}}, TypeError, "nesterov", id="unknown-option"),
    pytest.param({"scheduler": "step"}, TypeError, "grow: scheduler", id="scheduler-not-callable"),
    pytest.param({"site_options": {"kind": "conv"}}, ValueError, "candidate_sites", id="site-kind-for-dense"),
    pytest.param({"mode": "pos 5"}, ValueError, "grow: mode 'pos 5' but the model has 2", id="pos-beyond-sites"),
    pytest.param({"mode": -1}, ValueError, "unknown selection mode -1", id="pos-negative"),
    pytest.param({"seed": 1.5}, TypeError, "grow: seed", id="seed-float"),
    pytest.param({"loss_fn": "mse"}, TypeError, "grow: loss_fn", id="loss-fn-string"),
]


@pytest.mark.parametrize("settings, error, message", GROW_SETTINGS)
def test_grow_checks_every_setting_before_training(settings, error, message):
    options = {"epochs": [1, 1], "progress": False, **settings}
    with pytest.raises(error, match=message):
        sensli.grow(_grow_model(), MustNotIterate(), MustNotIterate(), **options)


def test_grow_checks_residual_site_options_before_training():
    model = nn.Sequential(nn.Dense(2, 3), nn.Tanh(), nn.ResidualDense(3), nn.Dense(3, 2))
    for options, message in [
        ({"weights": 3}, "grow: site_options: weights"),
        ({"h": -1.0}, "grow: site_options: h"),
        ({"h": math.nan}, "grow: site_options: h"),
        ({"activation": "gelu"}, "activation"),
    ]:
        with pytest.raises(ValueError, match=message):
            sensli.grow(model, MustNotIterate(), epochs=[1, 1], site_options=options, progress=False)


# ----------------------------------------------------------------------------- experiment configs


def _config(**sections):
    raw = {"name": "bad"}
    for section, values in sections.items():
        raw[section] = values
    return raw


CONFIGS = [
    pytest.param(_config(training={"lr": math.nan}), "training.lr: must be a finite number", id="lr-nan"),
    pytest.param(_config(training={"lr": math.inf}), "training.lr: must be a finite number", id="lr-inf"),
    pytest.param(_config(data={"noise": math.nan}), "data.noise: must be a finite number", id="noise-nan"),
    pytest.param(_config(training={"momentum": -math.inf}), "training.momentum", id="momentum-inf"),
    pytest.param(_config(sensli={"threshold": math.nan}), "sensli.threshold", id="threshold-nan"),
    pytest.param(_config(training={"epochs": [0, 0]}), "training.epochs: every phase has 0 epochs", id="zero-epochs"),
    pytest.param(
        _config(comparison={"methods": ["abs max", "abs max"]}),
        "comparison.methods: each method may appear once",
        id="duplicate-methods",
    ),
    pytest.param(
        _config(data={"name": "digits"}, model={"type": "cnn", "channels": [4, 4, 4, 4]}),
        "model.channels: 4 conv stages",
        id="too-many-poolings",
    ),
    pytest.param(
        _config(model={"hidden": [10**6]}),
        "model.hidden: every entry must be an integer >= 1 and <=",
        id="layer-too-wide",
    ),
    pytest.param(
        _config(model={"hidden": [90_000, 90_000]}), "model: the network would grow to about", id="too-many-weights"
    ),
    pytest.param(_config(model={"type": "resnet", "blocks": 50_000}), "model.blocks", id="too-many-blocks"),
    pytest.param(
        _config(data={"n_per_class": 10**9}), "data.n_per_class: .* beyond any machine", id="too-many-examples"
    ),
    pytest.param(_config(training={"epochs": [10**9]}), "training.epochs: every entry", id="too-many-epochs"),
    pytest.param(
        _config(training={"max_insertions": 5000, "epochs": [1]}), "training.max_insertions", id="too-many-insertions"
    ),
    pytest.param(
        _config(comparison={"seeds": list(range(2000))}), "comparison.seeds: 2000 entries", id="too-many-seeds"
    ),
    pytest.param(_config(comparison={"seeds": [2**70]}), "comparison.seeds", id="seed-beyond-64-bits"),
]


@pytest.mark.parametrize("raw, message", CONFIGS)
def test_config_refuses_values_no_run_can_use(raw, message):
    with pytest.raises(ConfigError, match=message):
        validate(raw)


# ----------------------------------------------------------------------------- sensitivity sites


def _site_model():
    ms.manual_seed(0)
    return nn.Sequential(nn.Dense(2, 3), nn.ReLU(), nn.Dense(3, 3), nn.ReLU(), nn.Dense(3, 2))


def _residual_model():
    ms.manual_seed(0)
    return nn.Sequential(nn.Dense(2, 3), nn.Tanh(), nn.ResidualDense(3), nn.Dense(3, 2))


SITES = [
    pytest.param(
        _site_model, Site(99, "dense", 3, "relu"), ValueError, r"sites\[0\]: position 99 is not", id="position-outside"
    ),
    pytest.param(
        _site_model, Site(1, "dense", 3, "relu"), ValueError, r"sites\[0\]: position 1 is not", id="position-not-a-site"
    ),
    pytest.param(
        _site_model,
        Site(2, "dense", 7, "relu"),
        ValueError,
        r"sites\[0\]: width 7 .* do not match",
        id="width-mismatch",
    ),
    pytest.param(
        _site_model,
        Site(2, "dense", 3, "tanh"),
        ValueError,
        r"activation 'tanh' do not match",
        id="activation-mismatch",
    ),
    pytest.param(_site_model, Site(2, "weird", 3, "relu"), ValueError, r"sites\[0\].kind: 'weird'", id="kind"),
    pytest.param(_site_model, (2, "dense", 3, "relu"), TypeError, r"sites\[0\] is a tuple", id="not-a-site"),
    pytest.param(
        _residual_model,
        Site(2, "residual_dense", 3, "tanh", weights=3),
        ValueError,
        r"sites\[0\].weights: 3",
        id="weights-3",
    ),
    pytest.param(
        _residual_model,
        Site(2, "residual_dense", 3, "tanh", weights=2, h=0.0),
        ValueError,
        r"sites\[0\].h: must be > 0",
        id="h-zero",
    ),
    pytest.param(
        _residual_model,
        Site(2, "residual_dense", 3, "tanh", weights=2, h=math.nan),
        ValueError,
        r"sites\[0\].h: must be a finite",
        id="h-nan",
    ),
    pytest.param(
        _residual_model,
        Site(2, "residual_dense", 3, "tanh", weights=2, variant="v3"),
        ValueError,
        r"sites\[0\].variant: 'v3'",
        id="variant",
    ),
    pytest.param(
        _residual_model,
        Site(2, "residual_dense", 5, "tanh", weights=2),
        ValueError,
        r"sites\[0\]: width 5",
        id="residual-width",
    ),
]


@pytest.mark.parametrize("model, site, error, message", SITES)
@pytest.mark.parametrize("method", ["closed_form", "autograd"])
def test_sensitivities_refuse_sites_that_are_not_the_models(model, site, error, message, method):
    with pytest.raises(error, match=message):
        sensli.sensitivities(model(), MustNotIterate(), method=method, sites=[site])


# ----------------------------------------------------------------------------- hyper-parameters


def _param():
    return ms.Tensor(np.ones(2), requires_grad=True)


def _sgd():
    return optim.SGD([_param()], lr=0.1)


HYPER_PARAMETERS = [
    pytest.param(lambda: optim.SGD([_param()], lr=math.nan), ValueError, "SGD: lr", id="sgd-lr-nan"),
    pytest.param(lambda: optim.SGD([_param()], lr=math.inf), ValueError, "SGD: lr", id="sgd-lr-inf"),
    pytest.param(
        lambda: optim.SGD([_param()], lr=0.1, momentum=math.nan), ValueError, "SGD: momentum", id="sgd-momentum-nan"
    ),
    pytest.param(
        lambda: optim.SGD([_param()], lr=0.1, weight_decay=math.nan),
        ValueError,
        "SGD: weight_decay",
        id="sgd-weight-decay-nan",
    ),
    pytest.param(lambda: optim.SGD([_param()], lr="fast"), TypeError, "SGD: lr", id="sgd-lr-string"),
    pytest.param(
        lambda: optim.Adam([_param()], betas=(math.nan, 0.9)), ValueError, r"Adam: betas\[0\]", id="adam-beta-nan"
    ),
    pytest.param(lambda: optim.Adam([_param()], betas=(0.9, 1.0)), ValueError, r"Adam: betas\[1\]", id="adam-beta-one"),
    pytest.param(
        lambda: optim.Adam([_param()], betas=0.9), TypeError, "Adam: betas must be a pair", id="adam-beta-scalar"
    ),
    pytest.param(lambda: optim.Adam([_param()], eps=math.nan), ValueError, "Adam: eps", id="adam-eps-nan"),
    pytest.param(
        lambda: optim.Adam([_param()], weight_decay=math.inf),
        ValueError,
        "Adam: weight_decay",
        id="adam-weight-decay-inf",
    ),
    pytest.param(
        lambda: optim.StepLR(_sgd(), step_size=2, gamma=math.nan), ValueError, "StepLR: gamma", id="steplr-gamma-nan"
    ),
    pytest.param(lambda: optim.StepLR(_sgd(), step_size=0), ValueError, "StepLR: step_size", id="steplr-step-0"),
    pytest.param(
        lambda: optim.MultiStepLR(_sgd(), [2], gamma=math.nan),
        ValueError,
        "MultiStepLR: gamma",
        id="multisteplr-gamma-nan",
    ),
    pytest.param(
        lambda: optim.MultiStepLR(_sgd(), [2.5]), TypeError, "MultiStepLR: milestones", id="multisteplr-float-milestone"
    ),
    pytest.param(lambda: data.spirals(noise=math.nan), ValueError, "spirals: noise", id="spirals-noise-nan"),
    pytest.param(lambda: data.spirals(r0=math.inf), ValueError, "spirals: r0", id="spirals-r0-inf"),
    pytest.param(lambda: data.spirals(circles=math.nan), ValueError, "spirals: circles", id="spirals-circles-nan"),
    pytest.param(lambda: data.spirals(n_per_class=2.5), TypeError, "spirals: n_per_class", id="spirals-n-float"),
    pytest.param(lambda: data.spirals(n_per_class=10**12), ValueError, "spirals: n_per_class", id="spirals-n-huge"),
    pytest.param(
        lambda: data.spirals(train_fraction=math.nan), ValueError, "spirals: train_fraction", id="spirals-fraction-nan"
    ),
    pytest.param(
        lambda: data.digits(train_fraction=math.nan), ValueError, "digits: train_fraction", id="digits-fraction-nan"
    ),
    pytest.param(
        lambda: data.DataLoader(data.spirals().train, batch_size=4, shuffle=True, seed=math.nan),
        TypeError,
        "DataLoader: seed",
        id="loader-seed-nan",
    ),
    pytest.param(
        lambda: ms.fit(nn.Dense(2, 2), MustNotIterate(), _sgd(), 2.5, progress=False),
        TypeError,
        "fit: epochs",
        id="fit-epochs-float",
    ),
]


@pytest.mark.parametrize("make, error, message", HYPER_PARAMETERS)
def test_hyper_parameters_refuse_nan_and_out_of_range(make, error, message):
    with pytest.raises(error, match=message):
        make()


# ----------------------------------------------------------------------------- misuse of tensors and modules


def _twice(optimizer):
    def make():
        p = _param()
        return optimizer([p, _param(), p], lr=0.1)

    return make


def _gradcheck(**settings):
    return lambda: ms.gradcheck(lambda x: x * x, [ms.Tensor(np.ones(2), requires_grad=True)], **settings)


MISUSE = [
    pytest.param(lambda: nn.Dense(2.5, 3), TypeError, "Dense: in_features: expected an integer", id="dense-float"),
    pytest.param(lambda: nn.Dense(2, 0), ValueError, "Dense: out_features: must be an integer >= 1", id="dense-zero"),
    pytest.param(lambda: nn.Conv2d(1, 2, 3, padding=-1), ValueError, "Conv2d: padding", id="conv-padding"),
    pytest.param(lambda: nn.Conv2d(1, 2, "3"), TypeError, "Conv2d: kernel_size", id="conv-kernel-string"),
    pytest.param(
        lambda: nn.ResidualDense(3, h=math.nan), ValueError, "ResidualDense: step size h", id="residual-h-nan"
    ),
    pytest.param(
        lambda: nn.ResidualDense(3, h=math.inf), ValueError, "ResidualDense: step size h", id="residual-h-inf"
    ),
    pytest.param(lambda: nn.ResidualConv(0), ValueError, "ResidualConv: channels", id="residual-conv-zero"),
    pytest.param(
        lambda: nn.Dense(2, 2).to(dtype="int64"), TypeError, "Dense.to: dtype must be a floating", id="to-int64"
    ),
    pytest.param(
        lambda: nn.Sequential(nn.Dense(2, 2)).to(dtype="bool"),
        TypeError,
        "Sequential.to: dtype must be a floating",
        id="to-bool",
    ),
    pytest.param(lambda: nn.Dense(2, 2).to(dtype="uint8"), TypeError, "'uint8'", id="to-uint8"),
    pytest.param(
        lambda: bool(ms.Tensor([1.0, 2.0])), ValueError, r"bool: .* shape \(2,\) .* ambiguous", id="bool-two-elements"
    ),
    pytest.param(lambda: bool(ms.Tensor(np.zeros((0,)))), ValueError, "bool: .* 0 elements", id="bool-empty"),
    pytest.param(
        _twice(optim.SGD), ValueError, "SGD: parameter 2 is the same tensor as parameter 0", id="sgd-parameter-twice"
    ),
    pytest.param(
        _twice(optim.Adam), ValueError, "Adam: parameter 2 is the same tensor as parameter 0", id="adam-parameter-twice"
    ),
    pytest.param(_gradcheck(eps=math.nan), ValueError, "gradcheck: eps", id="gradcheck-eps-nan"),
    pytest.param(_gradcheck(eps=math.inf), ValueError, "gradcheck: eps", id="gradcheck-eps-inf"),
    pytest.param(_gradcheck(eps=0.0), ValueError, "gradcheck: eps", id="gradcheck-eps-zero"),
    pytest.param(_gradcheck(atol=math.nan), ValueError, "gradcheck: atol", id="gradcheck-atol-nan"),
    pytest.param(_gradcheck(rtol=-1.0), ValueError, "gradcheck: rtol", id="gradcheck-rtol-negative"),
]


@pytest.mark.parametrize("make, error, message", MISUSE)
def test_misuse_of_tensors_and_modules_is_named(make, error, message):
    with pytest.raises(error, match=message):
        make()


# ----------------------------------------------------------------------------- non-finite data in a SensLI pass


def _loader_with(value, where):
    x = np.ones((6, 2))
    x[where] = value
    return data.DataLoader(data.TensorDataset(x, np.zeros(6, dtype=np.int64)), batch_size=4)


def _nan_weights():
    model = _site_model()
    model[2].weight.data[0, 0] = np.nan
    return model


NON_FINITE = [
    pytest.param(
        _site_model,
        _loader_with(np.nan, (0, 0)),
        ms.NonFiniteLossError,
        "sensitivities: the loss of batch 0 is nan",
        id="nan-input-first-batch",
    ),
    pytest.param(
        _site_model,
        _loader_with(np.nan, (5, 1)),
        ms.NonFiniteLossError,
        "sensitivities: the loss of batch 1 is nan",
        id="nan-input-last-batch",
    ),
    pytest.param(
        _site_model,
        _loader_with(np.inf, (1, 0)),
        ms.NonFiniteLossError,
        "sensitivities: the loss of batch 0 is (nan|inf)",
        id="inf-input",
    ),
    pytest.param(
        _nan_weights,
        _loader_with(1.0, (0, 0)),
        ms.NonFiniteLossError,
        "sensitivities: the loss of batch 0 is nan",
        id="nan-weight",
    ),
]


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # numpy warns about the NaN it computes
@pytest.mark.parametrize("model, loader, error, message", NON_FINITE)
@pytest.mark.parametrize("method", ["closed_form", "autograd"])
def test_sensitivities_on_non_finite_data_raise(model, loader, error, message, method):
    with pytest.raises(error, match=message):
        sensli.sensitivities(model(), loader, method=method)
