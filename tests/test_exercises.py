"""The exercise checker, and a meta-test for every exercise of every chapter: the correct
answer passes, every planted wrong answer fails, a stub reports "not attempted" without
raising. A checker that cannot fail is a defect; so is one that fails a right answer.

Answers live in tests/answers_chNN.py as ANSWERS = {name: {"correct": fn, "wrong": {why: fn}}}.
"""

import ast
import importlib
import pathlib
import re
import subprocess
import sys

import jupytext
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from minisensli.exercises import ExerciseFailedError, _core, check, exercise_names, run_check
from minisensli.exercises._asserts import assert_close

HERE = pathlib.Path(__file__).parent


def load_answers() -> dict:
    answers = {}
    for path in sorted(HERE.glob("answers_ch[0-9][0-9].py")):
        module = importlib.import_module(path.stem)
        overlap = answers.keys() & module.ANSWERS.keys()
        assert not overlap, f"{path.name} repeats {sorted(overlap)}"
        answers.update(module.ANSWERS)
    return answers


ANSWERS = load_answers()
NAMES = exercise_names()


def stub(*args, **kwargs):
    raise NotImplementedError


def test_every_exercise_has_answers_and_every_answer_an_exercise():
    assert sorted(ANSWERS) == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_correct_answer_passes(name):
    verdict = run_check(name, ANSWERS[name]["correct"])
    assert verdict.status == "passed", str(verdict)
    assert verdict.cases > 0


@pytest.mark.parametrize("name", NAMES)
def test_planted_wrong_answers_fail(name):
    wrong = ANSWERS[name]["wrong"]
    assert len(wrong) >= 3, f"{name}: plant at least three wrong answers"
    for why, fn in wrong.items():
        verdict = run_check(name, fn)
        assert verdict.status in ("failed", "error"), f"{name}: the wrong answer '{why}' was not caught ({verdict})"
        assert verdict.error


@pytest.mark.parametrize("name", NAMES)
def test_stub_is_not_attempted_and_does_not_raise_even_when_strict(name, monkeypatch, capsys):
    monkeypatch.setenv("MINISENSLI_STRICT_EXERCISES", "1")
    assert check(name, stub) is None
    assert "not attempted" in capsys.readouterr().out


# --- the checker itself, on an exercise registered for these tests -------------------------


@pytest.fixture
def demo_exercise():
    @_core.exercise("ch99.square", max_examples=15)
    def square(answer, case):
        x = case.draw(st.floats(-3, 3, allow_nan=False), "x")
        assert_close(answer(x), x * x, "x squared")

    yield "ch99.square"
    del _core._REGISTRY["ch99.square"]


def test_check_prints_one_verdict_and_returns_none(demo_exercise, capsys, monkeypatch):
    monkeypatch.delenv("MINISENSLI_STRICT_EXERCISES", raising=False)
    assert check(demo_exercise, lambda x: x * x) is None
    assert capsys.readouterr().out == "ch99.square: passed 15 cases\n"
    assert check(demo_exercise, lambda x: x * abs(x)) is None  # wrong for x < 0, must not raise
    out = capsys.readouterr().out
    assert out.startswith("ch99.square: FAILED on x=-") and "AssertionError: x squared" in out


def test_failure_reports_the_shrunk_input(demo_exercise):
    verdict = run_check(demo_exercise, lambda x: x * x if x < 1 else 0.0)
    assert verdict.status == "failed"
    assert verdict.inputs == {"x": 1.0}  # hypothesis shrinks to the boundary


def test_strict_mode_raises_on_a_wrong_answer_only(demo_exercise, monkeypatch, capsys):
    monkeypatch.setenv("MINISENSLI_STRICT_EXERCISES", "1")
    check(demo_exercise, lambda x: x * x)
    with pytest.raises(ExerciseFailedError, match="ch99.square: FAILED"):
        check(demo_exercise, lambda x: 2 * x)
    monkeypatch.setenv("MINISENSLI_STRICT_EXERCISES", "0")
    check(demo_exercise, lambda x: 2 * x)


def test_errors_inside_the_answer_are_verdicts(demo_exercise):
    verdict = run_check(demo_exercise, lambda x: np.zeros(3) + x)
    assert verdict.status == "failed" and "shape (3,), expected ()" in verdict.error
    verdict = run_check(demo_exercise, lambda x: undefined_name)  # noqa: F821
    assert verdict.status == "error" and "NameError" in verdict.error
    verdict = run_check(demo_exercise, lambda x: None)
    assert "returned None" in verdict.error
    assert run_check(demo_exercise, 3).status == "failed"


def test_unknown_exercise_names_the_known_ones():
    with pytest.raises(KeyError, match="no exercise named 'ch01.nope'") as raised:
        run_check("ch01.nope", stub)
    for name in NAMES:  # every chapter's exercises, not only those loaded so far
        assert name in str(raised.value)


def test_importing_minisensli_does_not_import_hypothesis():
    code = "import sys, minisensli, minisensli.exercises; print('hypothesis' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_a_check_leaves_no_hypothesis_folder_where_the_reader_works(tmp_path):
    code = "from minisensli.exercises import check, exercise_names\ncheck(exercise_names()[0], lambda *a, **k: 0.0)"
    env = {k: v for k, v in __import__("os").environ.items() if k != "HYPOTHESIS_STORAGE_DIRECTORY"}
    subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, check=True, capture_output=True)
    assert list(tmp_path.iterdir()) == []


def test_a_near_miss_is_reported_with_the_digits_that_differ():
    with pytest.raises(AssertionError, match=r"is -0.00099503\d*, expected -0.00099009\d*"):
        assert_close(np.array([-0.000995037]), np.array([-0.000990099]), "new_p")
    with pytest.raises(AssertionError, match=r"is 1.0000001000000001, expected 1 "):
        assert_close(np.array([1.0000001]), np.array([1.0]), "x", rtol=1e-9, atol=0)


def test_an_error_raised_in_the_answer_shows_the_readers_line_then_the_error(demo_exercise):
    def answer(x):
        values = np.ones(2)
        return values[5] * x

    verdict = run_check(demo_exercise, answer)
    where, error = verdict.error.split("\n", 1)
    assert where.startswith("in answer, line") and "values[5] * x" in where
    assert error.strip().startswith("IndexError")
    # a wrong value is the checker's verdict, not an error in the reader's code: no line shown
    assert run_check(demo_exercise, lambda x: 2 * x).error.startswith("AssertionError: x squared")


def test_a_scalar_is_reported_as_a_value_not_an_entry():
    with pytest.raises(AssertionError, match=r"^w: the value is 2, expected 1$"):
        assert_close(2.0, 1.0, "w")


def test_every_exercise_declares_its_points():
    for name in NAMES:
        points = _core._lookup(name).points
        assert 1 <= points <= 5, f"{name}: {points} points"


# --- the chapters' exercises ------------------------------------------------------------------

CHAPTER_FILES = sorted((HERE.parent / "notebooks").glob("ch[0-9][0-9]_*.py"))
HEADING = re.compile(r"^#+ *Exercise (\d+)[:.—-]+ *(.+?) \((\d+) points?\)\s*$", re.M)


class _Erase(ast.NodeTransformer):
    """Names, argument names and constants erased: two pieces of code that differ only in the
    names they chose (or a comment, or layout) compare equal."""

    def visit_Name(self, node):  # noqa: N802
        return ast.copy_location(ast.Name(id="_", ctx=node.ctx), node)

    def visit_arg(self, node):
        node.arg, node.annotation = "_", None
        return node

    def visit_Attribute(self, node):  # noqa: N802
        self.generic_visit(node)
        return node


def _statements(source: str) -> list[list[str]]:
    """Every block of statements (module level and each function body), normalised."""
    tree = _Erase().visit(ast.parse(source))
    blocks = [tree.body] + [n.body for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.For, ast.With))]
    return [[ast.dump(s) for s in block] for block in blocks]


def _solution_bodies(source: str) -> list[list[str]]:
    tree = _Erase().visit(ast.parse(source))
    bodies = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            body = [s for s in node.body if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))]
            bodies.append([ast.dump(s) for s in body])
    return bodies


def _contains(block: list[str], body: list[str]) -> bool:
    return any(block[i : i + len(body)] == body for i in range(len(block) - len(body) + 1))


@pytest.mark.parametrize("path", CHAPTER_FILES, ids=lambda p: p.stem)
def test_no_solution_appears_in_the_chapters_other_cells(path):
    notebook = jupytext.read(path)
    solutions = [c for c in notebook.cells if "solution" in c.metadata.get("tags", [])]
    others = [c for c in notebook.cells if c.cell_type == "code" and c not in solutions]
    blocks = [b for c in others for b in _statements(c.source)]
    for cell in solutions:
        for body in _solution_bodies(cell.source):
            assert not any(_contains(block, body) for block in blocks), (
                f"{path.name}: a solution's body appears (up to names) in another cell:\n{cell.source[:400]}"
            )


@pytest.mark.parametrize("path", [p for p in CHAPTER_FILES if int(p.name[2:4]) >= 6], ids=lambda p: p.stem)
def test_exercise_headings_show_the_checkers_points(path):
    notebook = jupytext.read(path)
    cells = notebook.cells
    headings = [(i, m) for i, c in enumerate(cells) if c.cell_type == "markdown" for m in HEADING.finditer(c.source)]
    solutions = [i for i, c in enumerate(cells) if "solution" in c.metadata.get("tags", [])]
    assert len(headings) == len(solutions), (
        f"{path.name}: {len(headings)} headings with points, {len(solutions)} exercises"
    )
    for (index, match), solution in zip(headings, solutions):
        name = re.search(r'check\("([a-z0-9_.]+)"', cells[solution].source).group(1)
        assert solution > index, f"{path.name}: heading '{match.group(2)}' after its solution"
        declared = _core._lookup(name).points
        assert int(match.group(3)) == declared, (
            f"{path.name}: '{match.group(2)}' shows {match.group(3)} points, {name} has {declared}"
        )


# --- oracles checked against an independent implementation -----------------------------------


@given(
    d=hnp.arrays(np.float64, st.integers(1, 12), elements=st.integers(-6, 6).map(lambda k: k / 4)),
    seed=st.integers(0, 2**32 - 1),
    near=st.booleans(),
)
@settings(max_examples=200)
def test_the_signed_rank_oracle_is_scipys_normal_approximation(d, seed, near):
    from scipy import stats

    from minisensli.exercises.ch09 import _near, _signed_rank_normal_p

    if near:  # some entries a hair away: sizes that are not ties, tiny differences that are not zeros
        rng = np.random.default_rng(seed)
        d = np.where(rng.random(len(d)) < 0.5, _near(d, rng), d)
    expected = (
        1.0 if not np.any(d) else stats.wilcoxon(d, zero_method="wilcox", correction=False, method="approx").pvalue
    )
    assert _signed_rank_normal_p(d) == pytest.approx(expected, rel=1e-9, abs=1e-15)
