"""Chapter 8 exercises: the insertion algorithm.

ch08.full_data_score  the score of the whole training set's multiplier from per-minibatch
                      multipliers of unequal minibatches (sum_k n_k G_k / N, then the norm)
ch08.reindex_state    an optimizer's per-parameter state carried over an insertion: the old
                      parameters keep their state under their new index, the new ones have no key,
                      and the state dict passed in comes back unchanged

Oracles: the gradient of the full-data mean loss (each minibatch gradient is the mean of
per-sample gradients drawn here, so the truth is the mean over all samples) with
sensli.score; and a real nn.Sequential grown with Sequential.with_inserted, whose parameters
are the old model's own objects (with_inserted shares modules), matched by identity.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from .. import nn, sensli
from ._asserts import as_array, assert_scalar
from ._core import exercise


def _weight_shapes() -> st.SearchStrategy:
    dense = st.integers(1, 4).map(lambda w: (w, w))
    conv = st.integers(1, 3).map(lambda c: (c, c, 3, 3))
    return st.one_of(dense, conv)


@exercise("ch08.full_data_score", max_examples=40, points=3)
def full_data_score(answer, case):
    shape = case.draw(_weight_shapes(), "shape")
    sizes = case.draw(st.lists(st.integers(1, 12), min_size=2, max_size=4), "sizes")
    if len(set(sizes)) == 1:  # unequal minibatches are the point: make the last one smaller
        sizes = [*sizes[:-1], max(1, sizes[-1] // 2)] if sizes[-1] > 1 else [*sizes[:-1], 2]
        case.drawn["sizes"] = sizes
    norm = case.draw(st.sampled_from(["fro", "fro_scaled"]), "norm")
    rng = case.rng()
    # per-sample gradients with a common signal, so the batch means differ by their sizes' weights
    samples = [rng.uniform(-1, 1, (k, *shape)) + rng.uniform(0, 1) for k in sizes]
    grads = case.show([s.mean(axis=0) for s in samples], "grads (G_k, the gradient of minibatch k's mean loss)")
    full = np.concatenate(samples).mean(axis=0)  # the gradient of the mean loss over all N samples
    got = as_array(answer([g.copy() for g in grads], list(sizes), norm), "score")
    assert_scalar(got, sensli.score(full, norm), f"the {norm} score of the full-data multiplier", rtol=1e-9)


def _small_sequential(rng: np.random.Generator, widths: list[int]) -> nn.Sequential:
    """Dense + ReLU layers; some Dense layers without bias, so module and parameter indices differ."""
    layers: list = [nn.Flatten()] if rng.random() < 0.5 else []
    for a, b in zip(widths[:-1], widths[1:]):
        layers += [nn.Dense(a, b, bias=bool(rng.random() < 0.6), rng=rng), nn.ReLU()]
    return nn.Sequential(*layers[:-1])


@exercise("ch08.reindex_state", max_examples=30, points=2)
def reindex_state(answer, case):
    hidden = case.draw(st.integers(1, 3), "hidden layers")
    seed = case.draw(st.integers(0, 2**16), "seed")
    rng = np.random.default_rng(seed)
    widths = [2, *rng.integers(2, 5, hidden).tolist(), 2]
    model = _small_sequential(rng, widths)
    sites = [i + 1 for i, m in enumerate(model) if isinstance(m, nn.ReLU)]  # after each hidden ReLU
    position = case.draw(st.sampled_from(sites), "position")
    width = model[position - 2].out_features  # the Dense before that ReLU
    new_dense = nn.Dense(width, width, bias=bool(rng.random() < 0.5), rng=rng)
    grown = model.with_inserted(position, new_dense, nn.ReLU())
    counts = case.show([len(m.parameters()) for m in model], "params_per_module")
    case.show(f"{len(model)} modules: {[type(m).__name__ for m in model]}", "model")
    # a momentum buffer per old parameter, tagged by a value no other parameter's buffer has
    old = model.parameters()
    state = {i: {"momentum_buffer": np.full(p.shape, float(i + 1))} for i, p in enumerate(old)}
    given = {i: dict(s) for i, s in state.items()}  # what the answer gets; it must come back unchanged
    entries = {i: (s, dict(s)) for i, s in given.items()}
    got = answer(given, list(counts), position, [len(new_dense.parameters()), 0])
    new = grown.parameters()
    old_index = {id(q): k for k, q in enumerate(old)}  # with_inserted shares the old modules
    mapping = {old_index[id(p)]: j for j, p in enumerate(new) if id(p) in old_index}
    expected = f"expected old -> new index {mapping}, no key for the inserted layer's parameters"
    _assert_unchanged(given, entries, expected)
    if not isinstance(got, dict):
        raise AssertionError(f"return a dict (new parameter index -> state), got {type(got).__name__}; {expected}")
    new_layer = {id(p) for p in grown[position].parameters()}
    for j, p in enumerate(new):
        if id(p) in new_layer:
            if j in got:
                raise AssertionError(
                    f"index {j} is a parameter of the inserted layer: leave its key out (not even {{}}), "
                    f"it starts fresh; {expected}"
                )
            continue
        i = old_index[id(p)]
        if j not in got:
            raise AssertionError(f"new index {j} (old parameter {i}, shape {p.shape}) lost its state; {expected}")
        buffer = as_array(got[j].get("momentum_buffer"), f"state[{j}]['momentum_buffer']")
        if buffer.shape != p.shape or not np.all(buffer == i + 1):
            found = sorted({float(v) - 1 for v in np.ravel(buffer)})[:3] if buffer.size else []
            raise AssertionError(
                f"new index {j} holds the parameter that was old index {i} (shape {p.shape}), "
                f"but got the state of old index {found} (shape {buffer.shape}); {expected}"
            )
    extra = sorted(set(got) - set(range(len(new))))
    if extra:
        raise AssertionError(f"indices {extra} do not exist in the grown network ({len(new)} parameters); {expected}")


def _assert_unchanged(given: dict, entries: dict, expected: str) -> None:
    """The state dict handed to the answer still has its keys, its entry objects and their buffers."""
    if sorted(given) != sorted(entries):
        raise AssertionError(
            f"the state dict passed in was modified (keys {sorted(entries)} became {sorted(given)}): "
            f"build a new dict instead; {expected}"
        )
    for i, (entry, contents) in entries.items():
        same = given[i] is entry and entry.keys() == contents.keys()
        same = same and all(entry[k] is v and np.all(v == i + 1) for k, v in contents.items())
        if not same:
            raise AssertionError(f"the state dict passed in was modified at key {i}: leave it as it was; {expected}")
