"""What keeps a check honest: forbidden functions switched off while the answer runs, the package
put back after every answer, a time bound, exact types, bounded verdicts, grading mode."""

import subprocess
import sys

import numpy as np
import pytest
from hypothesis import strategies as st

import minisensli as ms
from minisensli.exercises import _core, check, exercise_names, run_check
from minisensli.exercises._asserts import assert_close
from minisensli.exercises._guard import _resolve

NAMES = exercise_names()
WITH_FORBID = [name for name in NAMES if _core.get_exercise(name).forbid]


def test_every_exercise_declares_points_by_difficulty():
    for name in NAMES:
        points = _core.get_exercise(name).points
        assert isinstance(points, int) and 1 <= points <= 5, name
    assert len({_core.get_exercise(n).points for n in NAMES}) > 1  # not all the same


@pytest.mark.parametrize("name", WITH_FORBID)
def test_every_forbidden_function_is_switched_off_while_the_answer_runs(name):
    for dotted in _core.get_exercise(name).forbid:
        found = _resolve(dotted)
        if found is None:  # a third-party module that is not installed: nothing to call
            continue
        function = found[2]

        def calls_it(*args, function=function, **kwargs):
            return function(*args)  # the arguments matter only to NumPy's dispatchers (np.isclose)

        verdict = run_check(name, calls_it)
        assert verdict.status == "failed", (dotted, str(verdict))
        assert f"{name} asks you to write this yourself: {dotted} is switched off" in verdict.error
        assert _resolve(dotted)[2] == function  # back on after the check (== : a bound method is made anew)
        with pytest.raises(Exception) as raised:  # noqa: PT011 - the real function, called wrongly
            function()
        assert "switched off" not in str(raised.value)


def test_the_package_answers_named_in_the_issue_score_nothing():
    from scipy import stats

    from minisensli import sensli
    from minisensli.autograd import Tensor, unbroadcast

    def via_package(x, g, u, c):  # chapter 11's width multiplier by the package's closed form
        return sensli.width_multipliers(x, g, u, c, "relu")["fan_out"]

    def via_autograd(x, weight, upstream):
        tx, tw = Tensor(x, requires_grad=True), Tensor(weight, requires_grad=True)
        tb = Tensor(np.zeros(weight.shape[0]), requires_grad=True)
        ms.functional.linear(tx, tw, tb).backward(upstream)
        return tx.grad, tw.grad, tb.grad

    def via_scipy(d):  # chapter 9's normal-approximation p by SciPy's own test
        return float(stats.wilcoxon(d, correction=False, method="approx").pvalue) if np.any(d) else 1.0

    def via_scipy_norm(d):  # the statistic by hand, the normal tail by SciPy
        d = d[d != 0]
        ranks = stats.rankdata(np.abs(d))
        z = (ranks[d > 0].sum() - ranks.sum() / 2) / np.sqrt((ranks**2).sum() / 4) if d.size else 0.0
        return float(2 * stats.norm.sf(abs(z)))

    cases = [
        ("ch11.width_multiplier", via_package),
        ("ch02.unbroadcast", lambda grad, shape: unbroadcast(grad, shape)),
        ("ch04.dense_backward", via_autograd),
        ("ch09.signed_rank_normal_p", via_scipy),
        ("ch09.signed_rank_normal_p", via_scipy_norm),
    ]
    for name, fn in cases:
        verdict = run_check(name, fn)
        assert verdict.status == "failed" and "asks you to write this yourself" in verdict.error, str(verdict)
        assert verdict.points == 0
    # the switched-off package function works again after the check
    assert sensli.width_multipliers(np.ones((1, 2)), np.ones((1, 3)), np.ones((1, 2)), np.zeros(1), "relu")[
        "fan_out"
    ].shape == (3, 1)


@pytest.fixture
def square():
    @_core.exercise("ch99.square", max_examples=10, points=2)
    def prop(answer, case):
        x = case.draw(st.floats(-3, 3, allow_nan=False), "x")
        assert_close(answer(x), x * x, "x squared")

    yield "ch99.square"
    del _core._REGISTRY["ch99.square"]


def test_an_answer_that_never_returns_times_out(square):
    def forever(x):
        while True:
            try:
                pass
            except BaseException:  # noqa: BLE001 - a student swallowing the interruption
                continue

    verdict = run_check(square, forever, timeout=0.3)
    assert verdict.status == "timeout" and verdict.points == 0
    assert "TIMED OUT" in str(verdict)
    assert run_check(square, lambda x: x * x, timeout=5).status == "passed"  # the alarm is gone


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        (lambda x: complex(x * x, 1.0), "complex"),
        (lambda x: np.array([x * x], dtype=object).reshape(()), "dtype object"),
        (lambda x: x * x > 1, "booleans"),
        (lambda x: "1.0", "array of numbers"),
    ],
)
def test_exact_types(square, answer, words):
    verdict = run_check(square, answer)
    assert verdict.status == "failed" and words in verdict.error, str(verdict)


def test_a_monkeypatch_made_by_an_answer_ends_with_its_call(square):
    import minisensli.exercises._asserts as asserts

    original = asserts.assert_close

    def cheat(x):
        asserts.assert_close = lambda *a, **k: None  # the comparison after the call must stay real
        _core.Verdict.__str__ = lambda self: "passed"
        ms.sensli.dense_multipliers.__code__ = (lambda x, d: {}).__code__
        return 0.0

    assert run_check(square, cheat).status == "failed"
    assert asserts.assert_close is original
    assert "passed" not in str(_core.Verdict("x", "failed", error="e"))
    assert ms.sensli.dense_multipliers(np.ones((1, 2)), np.ones((1, 2)))["weight"].shape == (2, 2)


def test_an_exception_whose_str_raises_is_a_verdict(square):
    class NastyError(Exception):
        def __str__(self):
            raise RuntimeError("no")

    def raises(x):
        raise NastyError

    verdict = run_check(square, raises)
    assert verdict.status == "error" and "NastyError" in str(verdict)


def test_verdict_texts_are_bounded(square):
    def shouts(x):
        raise ValueError("x" * 1_000_000 + "\n" * 1000)

    verdict = run_check(square, shouts)
    assert verdict.status == "error" and len(str(verdict)) < 2000


def test_check_does_not_depend_on_the_callers_grad_mode():
    import answers_ch04 as answers

    name = "ch04.dense_backward"
    with ms.no_grad():
        verdict = run_check(name, answers.ANSWERS[name]["correct"])
        assert not ms.autograd.is_grad_enabled()
    assert verdict.status == "passed", str(verdict)


def test_grading_mode_scores_only_passed(square, capsys, monkeypatch):
    def stub(x):
        raise NotImplementedError

    check(square, lambda x: x * x, grading=True)
    check(square, stub, grading=True)
    monkeypatch.setenv("MINISENSLI_GRADING", "1")
    check(square, lambda x: -x, grading=None)
    out = capsys.readouterr().out
    assert "score: 2/2 points (passed)" in out
    assert "score: 0/2 points (not attempted)" in out
    assert "score: 0/2 points (failed)" in out
    monkeypatch.setenv("MINISENSLI_STRICT_EXERCISES", "1")
    with pytest.raises(_core.ExerciseFailedError):
        check(square, stub)  # in grading mode a stub scores 0, so strict raises


def test_a_check_without_hypothesis_names_the_extra():
    code = (
        "import sys; sys.modules['hypothesis'] = None\n"
        "from minisensli.exercises import check\n"
        "try:\n    check('ch01.tanh_backward', lambda x, u: x)\n"
        "except Exception as exc:\n    print(type(exc).__name__, exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "ExerciseSetupError" in out and 'pip install "minisensli[notebooks]"' in out


def test_every_check_name_in_the_docs_exists():
    import pathlib
    import re

    root = pathlib.Path(__file__).resolve().parents[1]
    texts = [root / "README.md", *sorted((root / "book").glob("*.md"))]
    for path in texts:
        for name in re.findall(r"""check\(\s*["'](ch\d\d\.[a-z0-9_]+)["']""", path.read_text(encoding="utf-8")):
            assert name in NAMES, f"{path.name} mentions {name}, which is not an exercise"
