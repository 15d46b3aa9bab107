"""The experiment figures show seed spread and choices: checked on the Figure objects against the
numbers of results.json (artists the figures are about carry a gid), and in every file format."""

import copy
import json

import pytest
from matplotlib.collections import PolyCollection

from minisensli import cli, data, nn, sensli
from minisensli.experiments import FIGURES, load_results
from minisensli.experiments.plots import (
    DPI,
    draw_all,
    figure_paths,
    plot_architectures,
    plot_losses,
    plot_sensitivities,
    plot_test_error,
)
from minisensli.sensli.plotting import plain_number
from tests.tiny_configs import tiny_config, write_config

TWO_INSERTIONS = tiny_config(
    "grow-twice", [3, 2, 2], ["abs max", "abs min", "random", "small", "big"], [0, 1, 2], max_insertions=2
)


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    root = tmp_path_factory.mktemp("figures")
    config = write_config(root, TWO_INSERTIONS, "grow-twice.toml")
    assert cli.main(["run", config, "--out", str(root / "out"), "--no-progress"]) == 0
    (folder,) = (root / "out").iterdir()
    return load_results(folder)


def gid_artists(ax, gid):
    return [a for a in ax.get_children() if a.get_gid() == gid]


def growth_methods(results):
    return [m for m in results["methods"] if m not in ("small", "big")]


@pytest.mark.parametrize("against", ["iterations", "time"])
def test_loss_figure_draws_median_and_interquartile_band_per_method(results, against):
    ax = plot_losses(results, None, against).axes[0]
    bands = gid_artists(ax, "iqr-band")
    assert len(bands) == len(results["methods"]) and all(isinstance(b, PolyCollection) for b in bands)
    medians = gid_artists(ax, "median")
    assert len(medians) == len(results["methods"])
    steps = len(results["runs"][0]["minibatch_losses"])
    abs_max = sorted(r["minibatch_losses"][-1] for r in results["runs"] if r["method"] == "abs max")
    median_line = medians[results["methods"].index("abs max")]
    assert median_line.get_ydata()[steps - 1] == pytest.approx(abs_max[1])  # the median of 3 seeds
    title = ax.get_title()
    assert ("vs iterations" in title) if against == "iterations" else ("vs wall time" in title and "load" in title)


def test_wall_time_figure_marks_every_runs_own_insertion_time(results):
    ax = plot_losses(results, None, "time").axes[0]
    marks = gid_artists(ax, "insertion-times")
    assert len(marks) == len(growth_methods(results))
    drawn = sorted(x for line in marks for x in line.get_xdata())
    expected = sorted(
        r["epoch_times"][rec["epoch"] - 1]
        for r in results["runs"]
        for rec in r["insertions"]
        if rec["chosen"] is not None
    )
    assert drawn == pytest.approx(expected)


def test_log_axes_have_plain_decimal_labels():
    assert [plain_number(v) for v in (0.6, 0.05, 2.0, 300.0, 1e-5)] == ["0.6", "0.05", "2", "300", "1e-05"]


def test_test_error_figure_shows_bands_in_percent(results):
    ax = plot_test_error(results, None).axes[0]
    assert len(gid_artists(ax, "iqr-band")) == len(results["methods"])
    assert "vs epochs" in ax.get_title() and ax.get_ylabel() == "test error (%)"
    small = sorted(r["test_error"][-1] for r in results["runs"] if r["method"] == "small")
    line = gid_artists(ax, "median")[results["methods"].index("small")]
    assert line.get_ydata()[-1] == pytest.approx(100 * small[1])


def test_sensitivities_show_every_seeds_score_and_the_chosen_sites(results):
    fig = plot_sensitivities(results, None)
    assert len(fig.axes) == 2  # two selections
    ax = fig.axes[0]
    growth_runs = [r for r in results["runs"] if r["insertions"]]
    dots = gid_artists(ax, "seed-scores")
    assert len(dots) == len(growth_methods(results))
    drawn = sorted(y for d in dots for _, y in d.get_offsets())
    assert drawn == pytest.approx(sorted(s for r in growth_runs for s in r["insertions"][0]["scores"]))
    rings = sorted(y for d in gid_artists(ax, "chosen-sites") for _, y in d.get_offsets())
    chosen = sorted(r["insertions"][0]["scores"][r["insertions"][0]["chosen_index"]] for r in growth_runs)
    assert rings == pytest.approx(chosen)
    assert [t.get_text() for t in ax.get_xticklabels()] == growth_runs[0]["insertions"][0]["sites"]
    counts = [t.get_text() for t in ax.texts if "/" in t.get_text()]
    assert sum(int(c.split("/")[0]) for c in counts) == len(growth_runs)  # every choice counted once


def test_second_selection_keeps_sites_of_different_networks_apart(results):
    ax = plot_sensitivities(results, None).axes[1]
    groups = {}
    for run in results["runs"]:
        if len(run["insertions"]) > 1:
            groups.setdefault(run["insertions"][0]["chosen"], run["insertions"][1]["sites"])
    ticks = [t.get_text() for t in ax.get_xticklabels()]
    assert len(ticks) == sum(len(sites) for sites in groups.values())  # one column per site of each network
    if len(groups) > 1:
        notes = [t.get_text() for t in ax.texts if "sites numbered in this network" in t.get_text()]
        assert len(notes) == len(groups)


def test_architecture_figure_shows_every_final_network_with_its_seed_count(results):
    fig = plot_architectures(results, None)
    ax = fig.axes[0]
    names = [t.get_text() for t in ax.texts if "seeds)" in t.get_text()]
    for method in results["methods"]:
        counts = [int(n.split("(")[1].split(" of ")[0]) for n in names if n.startswith(method + "\n")]
        assert sum(counts) == len(results["seeds"])
    distinct = {(r["method"], tuple(r["architecture"]), tuple(r["inserted_layers"])) for r in results["runs"]}
    assert len(gid_artists(ax, "inserted-layer")) == sum(len(inserted) for _, _, inserted in distinct)


def test_long_architectures_wrap_instead_of_growing_a_strip(results):
    deep = dict(
        results,
        start_architecture=["Dense 4→4", "ReLU"] * 20,
        runs=[dict(r, architecture=["Dense 4→4", "ReLU"] * 21) for r in results["runs"]],
    )
    width, height = plot_architectures(deep, None, per_line=7).get_size_inches()
    assert width <= 12 and height > 5


def test_draw_all_writes_every_figure_in_each_format(results, tmp_path):
    from PIL import Image

    for fmt, magic in [("png", b"\x89PNG"), ("svg", b"<?xml"), ("pdf", b"%PDF")]:
        paths = draw_all(results, tmp_path, fmt)
        assert [p.name for p in paths] == [name.replace(".png", f".{fmt}") for name in FIGURES]
        for path in paths:
            assert path.read_bytes().startswith(magic)
    with Image.open(tmp_path / "loss_vs_iterations.png") as image:
        assert image.info["dpi"][0] == pytest.approx(DPI, abs=0.5)
    with pytest.raises(ValueError, match="figure format 'jpg' is not supported"):
        figure_paths(tmp_path, "jpg")


def test_growth_plot_labels_each_selections_own_sites(tmp_path):
    split = data.spirals(n_per_class=30)
    loader = data.DataLoader(split.train, batch_size=45)
    model = nn.Sequential(nn.Dense(2, 3), nn.ReLU(), nn.Dense(3, 3), nn.ReLU(), nn.Dense(3, 2))
    result = sensli.grow(model, loader, epochs=[2, 2, 2], lr=0.1, max_insertions=2, progress=False)
    fig = result.plot(tmp_path / "growth.png")
    ticks = [t.get_text() for t in fig.axes[1].get_xticklabels()]
    assert ticks == [s.label for record in result.insertions for s in record.sites]
    assert len(result.insertions[1].sites) > len(result.insertions[0].sites)  # the second has more sites


def test_results_figures_are_consistent_with_saved_json(results, tmp_path):
    (tmp_path / "results.json").write_text(json.dumps(results))
    assert cli.main(["plot", str(tmp_path), "--format", "svg"]) == 0
    assert all((tmp_path / name.replace(".png", ".svg")).stat().st_size > 2000 for name in FIGURES)


# ----------------------------------------------------------------------------- long curves


def test_thin_line_keeps_every_buckets_extremes_and_short_curves_whole():
    from minisensli.experiments.plots import thin_band, thin_line

    xs = list(range(10))
    assert thin_line(xs, [float(x) for x in xs], most=20) == (xs, [float(x) for x in xs])
    ys = [((i * 7919) % 1000) / 7.0 for i in range(100_000)]
    ys[123] = float("nan")
    ys[54_321], ys[99_999] = 1e6, -1e6
    line_x, line_y = thin_line(list(range(len(ys))), ys, most=1000)
    assert len(line_x) <= 1000 and line_x == sorted(line_x)
    assert max(line_y) == 1e6 and min(line_y) == -1e6  # peaks survive the thinning
    assert all(ys[x] == y for x, y in zip(line_x, line_y))  # only points of the curve itself
    band_x, low, high = thin_band(list(range(len(ys))), ys, [y + 1 for y in ys], most=1000)
    assert len(band_x) <= 1000 and min(low) == -1e6 and max(high) == 1e6 + 1


def test_a_million_steps_per_run_draw_in_bounded_points(results):
    """Minibatches of one example give 10^6 steps per run; the figures draw at most a few thousand
    points per curve (matplotlib's Agg refuses paths beyond its cell block limit)."""
    import random
    import time

    from minisensli.experiments.plots import MAX_POINTS_PER_LINE

    rng = random.Random(0)
    long = copy.deepcopy(results)
    long["runs"] = [r for r in long["runs"] if r["method"] == "abs max"][:2]
    steps = 300_000  # 10^6 in the red-team case; the cost per step is the same
    for run in long["runs"]:
        run["minibatch_losses"] = [1.0 / (1 + i) + 0.01 * rng.random() for i in range(steps)]
    start = time.perf_counter()
    for against in ("iterations", "time"):
        fig = plot_losses(long, None, against)
        fig.canvas.draw()
        curves = [line for line in fig.axes[0].lines if line.get_gid() == "median"]
        assert curves and all(len(line.get_xdata()) <= MAX_POINTS_PER_LINE for line in curves)
        (band,) = [c for c in fig.axes[0].collections if c.get_gid() == "iqr-band"]
        assert len(band.get_paths()[0].vertices) <= 2 * MAX_POINTS_PER_LINE + 10
    assert time.perf_counter() - start < 120  # a few seconds unloaded


def test_sensitivities_figure_draws_runs_of_one_network_with_different_site_lists(results):
    odd = copy.deepcopy(results)
    growth = [r for r in odd["runs"] if r["insertions"]]
    record = growth[0]["insertions"][0]
    record["sites"] = [*record["sites"], "dense@99 (width 9)"]  # a hand-edited document
    record["scores"] = [*record["scores"], 0.5]
    fig = plot_sensitivities(odd, None)
    labels = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert "dense@99 (width 9)" in labels


def test_many_selections_and_long_networks_draw_within_image_limits(results):
    """max_insertions up to 1,000 and networks of thousands of layers are legitimate: the figures
    show the first and last selections and shorten long networks instead of growing without bound."""
    from minisensli.experiments.plots import MAX_DRAWN_LAYERS, MAX_SELECTION_PANELS, shorten_layers

    big = copy.deepcopy(results)
    run = [r for r in big["runs"] if r["insertions"]][0]
    big["runs"] = [run]
    run["insertions"] = [copy.deepcopy(run["insertions"][0]) for _ in range(40)]
    run["architecture"] = [f"Dense {i}" for i in range(3000)]
    run["inserted_layers"] = [0, 1, 2999]
    fig = plot_sensitivities(big, None)
    assert len(fig.axes) == MAX_SELECTION_PANELS
    fig = plot_architectures(big, None)
    width, height = fig.get_size_inches() * DPI
    assert width < 2**15 and height < 2**15
    boxes = [p for p in fig.axes[0].patches]
    assert len(boxes) <= 2 * MAX_DRAWN_LAYERS + 5
    layers, new = shorten_layers([str(i) for i in range(100)], [0, 50, 99], most=11)
    assert layers[:5] == ["0", "1", "2", "3", "4"] and layers[5] == "… 90 layers …" and layers[-1] == "99"
    assert [layers[i] for i in new] == ["0", "99"]  # an index inside the gap is not drawn
