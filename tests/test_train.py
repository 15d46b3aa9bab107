"""Training loops: learning real tasks, determinism, non-finite losses, History."""

import numpy as np
import pytest

import minisensli as ms
from minisensli import data, nn, optim


def spirals_run(seed=0, epochs=150):
    ms.manual_seed(seed)
    split = data.spirals()
    model = nn.Sequential(nn.Dense(2, 20), nn.ReLU(), nn.Dense(20, 20), nn.ReLU(), nn.Dense(20, 2))
    train = data.DataLoader(split.train, batch_size=45, shuffle=True, seed=seed)
    test = data.DataLoader(split.test, batch_size=150)
    history = ms.fit(model, train, optim.Adam(model.parameters(), lr=0.01), epochs, test_loader=test, progress=False)
    return model, history, train


def test_mlp_learns_spirals_below_five_percent_training_error():
    model, history, train = spirals_run()
    _, train_error = ms.evaluate(model, data.DataLoader(data.spirals().train, batch_size=450))
    assert train_error < 0.05
    assert history.train_loss[-1] < 0.2 * history.train_loss[0]


def test_same_seed_gives_identical_loss_history():
    _, a, _ = spirals_run(seed=5, epochs=20)
    _, b, _ = spirals_run(seed=5, epochs=20)
    assert a.minibatch_losses == b.minibatch_losses
    _, c, _ = spirals_run(seed=6, epochs=20)
    assert a.minibatch_losses != c.minibatch_losses


def test_small_cnn_beats_ninety_percent_on_digits():
    ms.set_default_dtype("float32")
    ms.manual_seed(0)
    split = data.digits()
    model = nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Dense(16 * 2 * 2, 10),
    )
    train = data.DataLoader(split.train, batch_size=32, shuffle=True, seed=0)
    test = data.DataLoader(split.test, batch_size=449)
    history = ms.fit(model, train, optim.Adam(model.parameters(), lr=0.01), 8, test_loader=test, progress=False)
    assert history.test_error[-1] < 0.10


def test_history_records_every_step_and_epoch():
    _, history, train = spirals_run(epochs=3)
    assert len(history.minibatch_losses) == 3 * len(train)
    assert len(history.train_loss) == len(history.test_error) == len(history.epoch_times) == 3
    assert history.epoch_times == sorted(history.epoch_times)
    assert all(0 <= e <= 1 for e in history.test_error)


def test_scheduler_steps_once_per_epoch():
    ms.manual_seed(0)
    split = data.spirals()
    model = nn.Sequential(nn.Dense(2, 4), nn.ReLU(), nn.Dense(4, 2))
    opt = optim.SGD(model.parameters(), lr=0.1)
    history = ms.fit(
        model,
        data.DataLoader(split.train, batch_size=450),
        opt,
        4,
        scheduler=optim.StepLR(opt, step_size=2, gamma=0.5),
        progress=False,
    )
    np.testing.assert_allclose(history.lrs, [0.1, 0.1, 0.05, 0.05])


def test_non_finite_loss_stops_training_with_step():
    x = np.ones((6, 2))
    x[4, 0] = np.nan  # lands in the third batch of two
    model = nn.Sequential(nn.Dense(2, 2))
    before = model.state_dict()
    loader = data.DataLoader(data.TensorDataset(x, np.zeros(6, dtype=np.int64)), batch_size=2)
    with pytest.raises(ms.NonFiniteLossError, match=r"training loss became nan at epoch 0, step 2"):
        ms.fit(model, loader, optim.SGD(model.parameters(), lr=0.1), 3, progress=False)
    assert all(np.isfinite(p.data).all() for p in model.parameters())  # the bad step did not update
    assert not np.array_equal(model.state_dict()["0.weight"], before["0.weight"])


def test_evaluate_reports_loss_and_error():
    model = nn.Sequential(nn.Dense(2, 2))
    model[0].weight.data[:] = [[1.0, 0.0], [0.0, 1.0]]
    model[0].bias.data[:] = 0
    ds = data.TensorDataset(np.array([[2.0, 0.0], [0.0, 2.0], [2.0, 0.0]]), np.array([0, 1, 1]))
    loss, error = ms.evaluate(model, data.DataLoader(ds, batch_size=2))
    assert error == pytest.approx(1 / 3)
    expected = np.mean([np.log1p(np.exp(-2)), np.log1p(np.exp(-2)), np.log1p(np.exp(2))])
    assert loss == pytest.approx(expected)


def test_evaluate_restores_the_previous_mode():
    model = nn.Sequential(nn.Dense(2, 2)).eval()
    ds = data.TensorDataset(np.ones((2, 2)), np.array([0, 1]))
    ms.evaluate(model, data.DataLoader(ds, batch_size=2))
    assert not model.training


class _ModeRecorder(nn.Module):
    """Identity layer that records the mode it ran in."""

    def __init__(self):
        self.seen = []

    def forward(self, x):
        self.seen.append(self.training)
        return x


def test_fit_evaluates_in_eval_mode_and_trains_in_training_mode():
    recorder = _ModeRecorder()
    model = nn.Sequential(nn.Dense(2, 2), nn.Sequential(recorder))
    ds = data.TensorDataset(np.ones((4, 2)), np.array([0, 1, 0, 1]))
    ms.fit(
        model,
        data.DataLoader(ds, batch_size=4),
        optim.SGD(model.parameters(), lr=0.1),
        2,
        test_loader=data.DataLoader(ds, batch_size=2),
        progress=False,
    )
    assert recorder.seen == [True, False, False, True, False, False]  # per epoch: one step, two test batches
    assert model.training and recorder.training
