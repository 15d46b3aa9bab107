"""Module machinery: registration, names, modes, state_dict, devices/dtypes, repr, copies."""

import numpy as np
import pytest

import minisensli as ms
from minisensli import nn


class TwoLayer(nn.Module):
    def __init__(self):
        self.first = nn.Dense(3, 4)
        self.act = nn.ReLU()
        self.blocks = [nn.Dense(4, 4), nn.Dense(4, 4, bias=False)]
        self.scale = nn.Parameter([1.0])
        self.not_a_param = np.ones(2)

    def forward(self, x):
        h = self.act(self.first(x))
        for block in self.blocks:
            h = block(h)
        return h * self.scale


def test_parameters_found_by_attribute_in_registration_order():
    names = [n for n, _ in TwoLayer().named_parameters()]
    assert names == ["first.weight", "first.bias", "blocks.0.weight", "blocks.0.bias", "blocks.1.weight", "scale"]


def test_shared_parameter_is_listed_once():
    m = nn.Sequential(nn.Dense(2, 2), nn.ReLU())
    m.layers.append(m[0])  # the same layer twice
    assert len(m.parameters()) == 2


def test_sequential_names_follow_pytorch():
    m = nn.Sequential(nn.Dense(2, 3), nn.ReLU(), nn.Dense(3, 1))
    assert [n for n, _ in m.named_parameters()] == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert m.num_parameters() == 2 * 3 + 3 + 3 + 1


def test_zero_grad_and_train_eval_modes():
    m = TwoLayer()
    m(ms.Tensor(np.ones((2, 3)))).sum().backward()
    assert all(p.grad is not None for p in m.parameters())
    m.zero_grad()
    assert all(p.grad is None for p in m.parameters())
    m.eval()
    assert not m.training and not m.first.training and not m.blocks[0].training
    m.train()
    assert m.blocks[1].training


def test_state_dict_round_trip_and_copies():
    a, b = TwoLayer(), TwoLayer()
    state = a.state_dict()
    state["first.weight"][0, 0] = 123.0  # a copy: the model is unchanged
    assert a.first.weight.data[0, 0] != 123.0
    b.load_state_dict(a.state_dict())
    x = ms.Tensor(np.random.default_rng(0).standard_normal((5, 3)))
    np.testing.assert_array_equal(a(x).data, b(x).data)


def test_load_state_dict_errors_name_the_entry_and_change_nothing():
    m = TwoLayer()
    before = m.state_dict()
    bad = m.state_dict()
    del bad["scale"]
    bad["extra"] = np.ones(1)
    with pytest.raises(KeyError, match=r"missing entries \['scale'\], unexpected entries \['extra'\]"):
        m.load_state_dict(bad)
    bad = {k: v + 1 for k, v in m.state_dict().items()}
    bad["blocks.1.weight"] = np.ones((4, 5))
    with pytest.raises(ValueError, match=r"entry 'blocks.1.weight' has shape \(4, 5\), the parameter has \(4, 4\)"):
        m.load_state_dict(bad)
    for name, value in m.state_dict().items():
        np.testing.assert_array_equal(value, before[name])


def test_to_dtype_converts_all_parameters():
    ms.set_default_dtype("float32")
    m = TwoLayer()
    assert all(p.dtype == np.float32 for p in m.parameters())
    m.to(dtype="float64")
    assert all(p.dtype == np.float64 for p in m.parameters())


def test_to_unknown_device_fails_before_moving_anything():
    m = TwoLayer()
    with pytest.raises(ValueError, match="unknown device 'tpu'"):
        m.to("tpu")
    assert all(p.device == "cpu" for p in m.parameters())


def test_repr_is_a_tree_one_layer_per_line():
    m = nn.Sequential(nn.Dense(2, 3), nn.ReLU(), nn.ResidualDense(3), nn.Dense(3, 1))
    text = repr(m)
    assert text.splitlines()[0] == "Sequential("
    assert "  (0): Dense(in_features=2, out_features=3, bias=True)" in text
    assert "    (outer): Dense(in_features=3, out_features=3, bias=False)" in text
    assert text.endswith(")")


def test_copy_is_independent():
    m = nn.Sequential(nn.Dense(2, 2))
    c = m.copy()
    c[0].weight.data += 1
    assert not np.array_equal(c[0].weight.data, m[0].weight.data)


def test_parameter_defaults():
    ms.set_default_dtype("float32")
    p = nn.Parameter([1.0, 2.0])
    assert p.requires_grad and p.dtype == np.float32
    assert repr(p).startswith("Parameter(")
