"""Printed objects are short and useful: a site's name and width, a table of scores, a
one-line history, never thousands of floats."""

import numpy as np

import minisensli as ms
from minisensli import data, nn, optim, sensli


def small_net():
    ms.manual_seed(0)
    return nn.Sequential(nn.Dense(2, 4), nn.ReLU(), nn.Dense(4, 4), nn.ReLU(), nn.Dense(4, 2))


def spirals_loader():
    return data.DataLoader(data.spirals().train, batch_size=450)


def test_site_prints_its_label_and_width():
    sites = sensli.candidate_sites(small_net())
    assert [str(s) for s in sites] == ["dense@2 (width 4)", "dense@4 (width 4)"]
    assert repr(sites[0]) == "Site(dense@2 (width 4))"
    block = sensli.Site(position=3, kind="residual_dense", width=3, activation="tanh", weights=2, h=0.5)
    assert str(block) == "residual_dense@3 (width 3, 2 weights v1, h 0.5, tanh)"


def test_sensitivity_result_prints_a_table_with_the_largest_marked():
    scores = sensli.sensitivities(small_net(), spirals_loader(), score_existing=True)
    text = repr(scores)
    lines = text.splitlines()
    assert lines[0].startswith("SensitivityResult: 2 sites, closed_form, 1 batch, ")
    assert "site" in lines[1] and "score" in lines[1] and "scaled" in lines[1]
    best = int(np.argmax(scores.scores()))
    assert lines[2 + best].endswith("<- largest") and "dense@" in lines[2 + best]
    assert lines[-1].startswith("  existing weights (scaled): 0.weight")
    assert len(text) < 600
    assert repr(scores[0]).startswith("SiteScore(dense@2 (width 4): score ")


def test_history_and_growth_result_print_one_line_each():
    model = small_net()
    loader = spirals_loader()
    history = ms.fit(model, loader, optim.SGD(model.parameters(), lr=0.1), epochs=3, test_loader=loader, progress=False)
    text = repr(history)
    assert text.startswith("History(3 epochs, 3 steps, train loss ") and "test error" in text
    assert "\n" not in text and len(text) < 150
    result = sensli.grow(small_net(), loader, loader, epochs=[2, 2], lr=0.1, progress=False)
    text = repr(result)
    assert text.startswith("GrowthResult: 2 phases (2 + 2 epochs), 1 insertion (dense@")
    assert "\n" not in text and len(text) < 300
    assert repr(result.insertions[0]).startswith("InsertionRecord(phase 0, after epoch 2: inserted at dense@")


def test_fit_leaves_a_one_line_summary_when_its_bar_closes(capsys):
    model = small_net()
    ms.fit(model, spirals_loader(), optim.SGD(model.parameters(), lr=0.1), epochs=2, description="warm-up")
    err = capsys.readouterr().err
    assert err.rstrip().splitlines()[-1].startswith("warm-up: 2 epochs, 2 steps, train loss ")
    ms.fit(model, spirals_loader(), optim.SGD(model.parameters(), lr=0.1), epochs=2, progress=False)
    assert capsys.readouterr().err == ""
