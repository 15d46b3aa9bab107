"""The growth loop: it beats the fixed start on spirals, follows the rules, records the run."""

import json

import numpy as np
import pytest

import minisensli as ms
from minisensli import data, nn, optim, sensli


def spirals_loaders():
    split = data.spirals()
    return data.DataLoader(split.train, batch_size=450), data.DataLoader(split.test, batch_size=150)


def test_grow_beats_fixed_start_architecture_on_spirals():
    """The paper's Exp2 setting: start 2-5-2 ReLU, full batch SGD lr 0.2, insert after 450 of 1850 epochs."""
    ms.set_default_dtype("float32")
    ms.manual_seed(0)
    start = nn.Sequential(nn.Dense(2, 5), nn.ReLU(), nn.Dense(5, 2))
    train, test = spirals_loaders()
    result = sensli.grow(start, train, test, epochs=[450, 1400], lr=0.2, progress=False)
    fixed = start.copy()
    history = ms.fit(fixed, train, optim.SGD(fixed.parameters(), lr=0.2), 1850, progress=False)
    assert result.history.train_loss[-1] < history.train_loss[-1]
    assert len(result.model) == 5 and len(start) == 3
    assert len(result.minibatch_losses) == 1850
    # the identity insertion keeps the loss continuous: the first loss after it equals the last before
    # up to one SGD step's change
    assert abs(result.minibatch_losses[450] - result.minibatch_losses[449]) < 0.01


def small_resnet():
    ms.manual_seed(1)
    return nn.Sequential(nn.Dense(2, 3), nn.Tanh(), nn.ResidualDense(3), nn.ResidualDense(3), nn.Dense(3, 2))


@pytest.mark.parametrize("mode", ["abs max", "abs min", "pos 1", 2])
def test_selection_rules_pick_the_site_they_promise(mode):
    train, test = spirals_loaders()
    result = sensli.grow(small_resnet(), train, test, epochs=[5, 2], lr=0.1, mode=mode, progress=False)
    record = result.insertions[0]
    chosen = record.sites.index(record.chosen)
    expected = {"abs max": int(np.argmax(record.scores)), "abs min": int(np.argmin(record.scores)), "pos 1": 1, 2: 2}[
        mode
    ]
    assert chosen == expected
    assert len(result.model) == 6


def test_random_mode_is_seeded():
    train, _ = spirals_loaders()
    picks = [
        sensli.grow(
            small_resnet(), train, epochs=[1, 0], max_insertions=1, mode="random", seed=s, progress=False
        ).chosen_sites[0]
        for s in (3, 3, 4, 5, 6)
    ]
    assert picks[0] == picks[1]
    assert len({p.position for p in picks}) > 1


def test_threshold_rule_follows_its_definition():
    train, _ = spirals_loaders()
    model = small_resnet()
    scores = sensli.sensitivities(model, train, score_existing=True)
    with pytest.raises(ValueError, match="score_existing=True"):
        sensli.select(sensli.sensitivities(model, train), "threshold")
    best = max(scores, key=lambda s: s.scaled_score)
    pool = [s.scaled_score for s in scores] + list(scores.existing.values())
    tau_yes = 0.5 * best.scaled_score / np.mean(pool)
    tau_no = 2.0 * best.scaled_score / np.mean(pool)
    assert sensli.select(scores, "threshold", threshold=tau_yes) is best
    assert sensli.select(scores, "threshold", threshold=tau_no) is None
    result = sensli.grow(model, train, epochs=[0, 1], mode="threshold", threshold=1e9, progress=False)
    assert result.insertions[0].chosen is None and len(result.model) == len(model)


def test_lr_factor_optimizer_rebuild_and_max_insertions():
    train, test = spirals_loaders()
    ms.manual_seed(0)
    model = nn.Sequential(nn.Dense(2, 4), nn.ReLU(), nn.Dense(4, 4), nn.ReLU(), nn.Dense(4, 2))
    result = sensli.grow(
        model,
        train,
        test,
        epochs=[3, 2],
        max_insertions=2,
        lr=0.1,
        lr_factor=0.5,
        optimizer="sgd",
        optimizer_options={"momentum": 0.9},
        progress=False,
        scheduler=lambda opt: optim.StepLR(opt, step_size=2, gamma=0.1),
    )
    assert result.phase_end_epochs == [3, 5, 7]
    # phase 1 runs 0.1, 0.1, 0.01 and ends (after 3 scheduler steps) at 0.01; times 0.5 -> 0.005
    # phase 2 runs 0.005, 0.005 and ends at 0.0005 (new StepLR from 0.005); times 0.5 -> 0.00025
    np.testing.assert_allclose(result.history.lrs, [0.1, 0.1, 0.01, 0.005, 0.005, 2.5e-4, 2.5e-4])
    assert [len(a.splitlines()) for a in result.architectures] == [7, 9, 11]
    assert len(result.insertions) == 2 and all(r.chosen is not None for r in result.insertions)
    assert result.train_seconds > 0 and result.select_seconds > 0
    json.dumps(result.as_dict())  # JSON-compatible record


def test_target_test_error_stops_training():
    train, test = spirals_loaders()
    result = sensli.grow(small_resnet(), train, test, epochs=[2, 50], lr=0.1, target_test_error=1.0, progress=False)
    assert result.stopped_early and result.phase_end_epochs == [2] and not result.insertions


def test_grow_does_not_change_its_input_model():
    train, _ = spirals_loaders()
    model = small_resnet()
    before = model.state_dict()
    sensli.grow(model, train, epochs=[2, 1], progress=False)
    assert len(model) == 5
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(value, before[name])


def test_growth_plot_is_drawn(tmp_path):
    train, test = spirals_loaders()
    result = sensli.grow(small_resnet(), train, test, epochs=[3, 3], progress=False)
    fig = result.plot(tmp_path / "growth.png")
    assert (tmp_path / "growth.png").stat().st_size > 1000
    assert len(fig.axes) == 2


def test_grow_errors_before_training():
    train, _ = spirals_loaders()
    with pytest.raises(ValueError, match="unknown selection mode 'best'"):
        sensli.grow(small_resnet(), train, mode="best")
    with pytest.raises(ValueError, match="unknown optimizer 'rmsprop'"):
        sensli.grow(small_resnet(), train, optimizer="rmsprop", epochs=[1, 1], progress=False)
    with pytest.raises(ValueError, match="target_test_error needs a test_loader"):
        sensli.grow(small_resnet(), train, target_test_error=0.1)
    with pytest.raises(ValueError, match="cannot be inserted as the identity"):
        sensli.grow(nn.Sequential(nn.Dense(2, 3), nn.Tanh(), nn.Dense(3, 2)), train)
