"""The README's code runs as written, each block on its own (with fewer epochs, in a scratch
folder), and its comments show what the objects print."""

import pathlib
import re

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"


def python_blocks():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    assert blocks, "README has no python examples"
    return blocks


def test_readme_python_blocks_each_run_on_their_own(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    namespaces = []
    for block in python_blocks():
        code = block.replace("epochs=150", "epochs=3").replace("epochs=[450, 1400]", "epochs=[20, 5]")
        namespace: dict = {}  # a fresh namespace: no block may rely on another
        exec(compile(code, str(README), "exec"), namespace)
        namespaces.append(namespace)
    assert (tmp_path / "spirals.npz").is_file() and (tmp_path / "growth.png").is_file()
    growth = next(ns for ns in namespaces if "result" in ns)  # the growth example (not necessarily the last block)
    assert growth["result"].chosen_sites[0] is not None
    printed = capsys.readouterr().out
    assert "[[3. 3.]]" in printed
    assert "[Site(dense@2 (width 4)), Site(dense@4 (width 4))]" in printed
    assert "dense@2 (width 4)   0.0003193   1.996e-05  fro  <- largest" in printed  # no training before it
    assert printed.count("GrowthResult: 2 phases (20 + 5 epochs), 1 insertion") == 1


def test_readme_test_command_is_marked_for_ci():
    text = README.read_text(encoding="utf-8")
    marked = re.search(r"<!-- test-command:start -->\n```\n(.*?)\n```\n<!-- test-command:end -->", text, re.S)
    assert marked and "pytest" in marked.group(1)


def test_every_exercise_named_in_the_readme_and_the_book_exists():
    from minisensli.exercises import exercise_names

    root = README.parents[0]
    texts = {README: README.read_text(encoding="utf-8")}
    # the book's pages, and the chapters (book/chapters is a link to notebooks/, which rglob does not follow)
    pages = [*(root / "book").rglob("*.md"), *(root / "notebooks").rglob("*.md"), *(root / "notebooks").glob("ch*.py")]
    texts.update({p: p.read_text(encoding="utf-8") for p in sorted(pages)})
    known = set(exercise_names())
    named = {(path.name, name) for path, text in texts.items() for name in re.findall(CHECK_CALL, text)}
    assert len(named) >= 20
    assert not [(where, name) for where, name in named if name not in known]


CHECK_CALL = r"""check\(\s*["'](ch\d+\.\w+)["']"""


def test_readme_states_the_one_run_time_estimate_of_the_main_job():
    from minisensli.cli import DEFAULT_EXPERIMENT, duration
    from minisensli.experiments import resolve
    from minisensli.experiments.config import expected_seconds

    stated = re.search(r"over 10 seeds, about (\d+) s on 2 cores \(the estimate `minisensli list`", README.read_text())
    assert stated, "README no longer states the main job's estimate where this test looks for it"
    estimate = duration(expected_seconds(resolve(DEFAULT_EXPERIMENT)))
    assert f"~{stated.group(1)} s" == estimate
    assert len(resolve(DEFAULT_EXPERIMENT).comparison["seeds"]) == 10
