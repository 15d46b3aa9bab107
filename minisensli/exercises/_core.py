"""The exercise registry and the checker behind ``check(name, fn)``.

An exercise is a property of the reader's function: ``prop(answer, case)`` draws its inputs
with ``case.draw(strategy, label)`` (the labels name them in a failure report), calls the
answer and raises AssertionError (or any error) when the answer is wrong. Chapter modules
register their exercises with the ``exercise`` decorator:

    @exercise("ch01.relu_backward", max_examples=40)
    def relu_backward(answer, case):
        x = case.draw(arrays((3, 4)), "x")
        ...
"""

from __future__ import annotations

import difflib
import importlib
import os
import pkgutil
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._asserts import reader_line

STRICT_ENV = "MINISENSLI_STRICT_EXERCISES"
GRADING_ENV = "MINISENSLI_GRADING"
TIMEOUT_ENV = "MINISENSLI_CHECK_TIMEOUT"
DEFAULT_CHECK_TIMEOUT = 120.0  # seconds per check; the slowest correct check takes about 3 s on 2 cores
STATUSES = ("passed", "failed", "not attempted", "error", "timeout")
_NAME = re.compile(r"^(ch\d\d)\.[a-z0-9_]+$")
_MAX_LINE = 300  # characters of one line of an error message in a verdict
_MAX_LINES = 6


class ExerciseFailedError(AssertionError):
    """A checked answer is wrong (raised only in strict mode, MINISENSLI_STRICT_EXERCISES=1)."""


class ExerciseSetupError(RuntimeError):
    """A check cannot run at all (hypothesis missing); the message says what to install."""


@dataclass(frozen=True)
class Exercise:
    name: str
    prop: Callable[[Callable, Any], None]
    max_examples: int
    points: int = 1
    forbid: tuple[str, ...] = ()


@dataclass(frozen=True)
class Verdict:
    """What one check found. status: 'passed', 'failed' (a wrong result), 'error' (the answer
    raised), 'not attempted' (it raises NotImplementedError) or 'timeout'; cases: examples that
    passed (for 'passed'); inputs: the shrunk failing input by label; error: the error's type and
    message (bounded); points_possible: what the exercise is worth, earned only when passed."""

    name: str
    status: str
    cases: int = 0
    inputs: dict[str, Any] = field(default_factory=dict)
    error: str = ""
    points_possible: int = 0

    @property
    def points(self) -> int:
        return self.points_possible if self.status == "passed" else 0

    def __str__(self) -> str:
        if self.status == "passed":
            return f"{self.name}: passed {self.cases} cases"
        if self.status == "not attempted":
            return f"{self.name}: not attempted yet (the function raises NotImplementedError)"
        if self.status == "timeout":
            return f"{self.name}: TIMED OUT ({self.error})"
        shown = ", ".join(f"{label}={_short_repr(value)}" for label, value in self.inputs.items())
        where = f" on {shown}" if shown else ""
        word = "ERROR" if self.status == "error" else "FAILED"
        return f"{self.name}: {word}{where}\n    {self.error}"

    def graded(self) -> str:
        """The verdict with its score, as printed in grading mode."""
        return f"{self}\n    score: {self.points}/{self.points_possible} points ({self.status})"


_REGISTRY: dict[str, Exercise] = {}


def exercise(
    name: str, max_examples: int = 30, *, points: int = 1, forbid: tuple[str, ...] = ()
) -> Callable[[Callable], Callable]:
    """Register ``prop(answer, case)`` as the exercise ``name`` ('chNN.snake_case').

    points: what the exercise is worth when graded (by difficulty). forbid: dotted names of
    the package and third-party functions the exercise asks the reader to re-implement
    (e.g. "minisensli.sensli.closed_form.dense_multipliers"); they are switched off while
    the reader's function runs inside ``check``.
    """
    if not _NAME.match(name):
        raise ValueError(f"exercise: name must look like 'ch01.relu_backward', got {name!r}")

    def register(prop: Callable) -> Callable:
        if name in _REGISTRY:
            raise ValueError(f"exercise: {name!r} is registered twice")
        _REGISTRY[name] = Exercise(name, prop, max_examples, points, tuple(forbid))
        return prop

    return register


def _load_chapter(chapter: str) -> None:
    try:
        importlib.import_module(f"{__package__}.{chapter}")
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.split(".")[0] == "hypothesis":
            raise ExerciseSetupError(
                'the exercise checks need hypothesis: pip install "minisensli[notebooks]" (or pip install hypothesis)'
            ) from None
        if exc.name != f"{__package__}.{chapter}":
            raise


def _lookup(name: str) -> Exercise:
    match = _NAME.match(name) if isinstance(name, str) else None
    if match:
        _load_chapter(match.group(1))
    if name not in _REGISTRY:
        names = exercise_names()  # every chapter's, not only those loaded so far
        close = difflib.get_close_matches(str(name), names, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise KeyError(f"check: no exercise named {name!r}; {hint}known: {', '.join(names)}")
    return _REGISTRY[name]


def get_exercise(name: str) -> Exercise:
    """The registered exercise ``name`` (KeyError listing every exercise when there is none)."""
    return _lookup(name)


def exercise_names() -> list[str]:
    """Every exercise of every chapter module, sorted."""
    for module in pkgutil.iter_modules(_package_path()):
        if re.fullmatch(r"ch\d\d", module.name):
            _load_chapter(module.name)
    return sorted(_REGISTRY)


def _package_path() -> list[str]:
    return list(importlib.import_module(__package__).__path__)


class _NotAttemptedError(BaseException):
    """The answer is a stub. A BaseException, so hypothesis stops at once instead of treating
    it as a failure to shrink."""


class _Case:
    """Hands draws to the property and remembers them (label -> value) for the report."""

    def __init__(self, data: Any) -> None:
        self._data = data
        self.drawn: dict[str, Any] = {}

    def draw(self, strategy: Any, label: str) -> Any:
        value = self._data.draw(strategy, label=label)
        self.drawn[label] = _copy(value)
        return value

    def rng(self) -> np.random.Generator:
        """A generator from one drawn integer ("seed"). Arrays made from it shrink as one number
        instead of entry by entry: failures report fast; ``show`` them to name them in the report."""
        from hypothesis import strategies as st  # noqa: PLC0415 - hypothesis only while checking

        return np.random.default_rng(self.draw(st.integers(0, 2**32 - 1), "seed"))

    def show(self, value: Any, label: str) -> Any:
        """Name ``value`` (made from ``rng()``) in the failure report; returns it."""
        self.drawn[label] = _copy(value)
        return value


def _copy(value: Any) -> Any:
    return value.copy() if isinstance(value, np.ndarray) else value


def _short_repr(value: Any) -> str:
    if isinstance(value, np.ndarray):
        text = np.array2string(value, precision=4, separator=", ", threshold=24, edgeitems=3)
        return f"array({text})" if value.ndim else text
    text = _safe_text(repr, value)
    return text if len(text) <= _MAX_LINE else text[: _MAX_LINE - 3] + "..."


def _safe_text(convert: Callable[[Any], str], value: Any) -> str:
    """str()/repr() of something an answer made; its own errors become a description."""
    try:
        text = convert(value)
        return text if isinstance(text, str) else f"<{type(value).__name__}>"
    except BaseException as exc:  # noqa: BLE001 - a broken __str__ must not crash the checker
        return f"<{type(value).__name__} whose {convert.__name__}() raised {type(exc).__name__}>"


def describe_error(exc: BaseException) -> str:
    """'Type: message', at most _MAX_LINES lines of at most _MAX_LINE characters."""
    lines = _safe_text(str, exc).strip().splitlines()[:_MAX_LINES]  # hypothesis appends notes after
    lines = [line if len(line) <= _MAX_LINE else line[: _MAX_LINE - 3] + "..." for line in lines]
    return f"{type(exc).__name__}: " + "\n    ".join(lines) if lines else type(exc).__name__


def _timeout_seconds(timeout: float | None) -> float | None:
    if timeout is not None:
        return timeout if timeout > 0 else None
    raw = os.environ.get(TIMEOUT_ENV, "")
    try:
        value = float(raw) if raw else DEFAULT_CHECK_TIMEOUT
    except ValueError:
        value = DEFAULT_CHECK_TIMEOUT
    return value if value > 0 else None


def run_check(name: str, fn: Callable, *, timeout: float | None = None) -> Verdict:
    """Run the exercise's properties against ``fn`` and return the verdict (prints nothing).

    While ``fn`` runs, the functions the exercise forbids are switched off; after every call of
    ``fn`` the package, the checker and NumPy's namespaces are put back as they were (an
    answer's monkeypatches end with its call). Autograd records whatever the caller's grad mode
    (a check inside ``ms.no_grad()`` gives the same verdict). ``timeout``: seconds for the whole
    check (default MINISENSLI_CHECK_TIMEOUT or 120; 0 for none) - past it, the verdict is
    'timeout'."""
    ex = _lookup(name)
    if not callable(fn):
        return Verdict(
            name,
            "failed",
            error=f"TypeError: check expects a function, got {type(fn).__name__}",
            points_possible=ex.points,
        )
    try:
        from hypothesis import HealthCheck, Phase, Verbosity, given, settings
        from hypothesis import strategies as st
    except ModuleNotFoundError:
        raise ExerciseSetupError(
            'the exercise checks need hypothesis: pip install "minisensli[notebooks]" (or pip install hypothesis)'
        ) from None
    from .. import autograd
    from ._guard import CheckTimeoutError, Inventory, switched_off, time_bound

    passed = 0
    failing: dict[str, Any] = {}
    answer_errors: list[BaseException] = []
    inventory = Inventory()

    def answer(*args: Any, **kwargs: Any) -> Any:
        state = inventory.snapshot()
        try:
            with switched_off(name, ex.forbid):
                return fn(*args, **kwargs)
        except Exception as exc:
            answer_errors.append(exc)
            raise
        finally:
            state.restore()

    # no 'explain' phase (hundreds of extra runs after a failure) and one reported failure:
    # a reader wants the smallest failing input, quickly, with its own message
    @settings(
        max_examples=ex.max_examples,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        verbosity=Verbosity.quiet,
        print_blob=False,
        phases=(Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink),
        report_multiple_bugs=False,
    )
    @given(st.data())
    def prop(data: Any) -> None:
        nonlocal passed, failing
        case = _Case(data)
        try:
            ex.prop(answer, case)
        except NotImplementedError as exc:
            raise _NotAttemptedError() from exc
        except CheckTimeoutError:
            raise
        except BaseException:
            # hypothesis replays the shrunk example last, so the last failure kept is the minimal one
            failing = case.drawn
            raise
        passed += 1

    grad_mode = autograd._grad_enabled  # the oracles record graphs whatever the caller's mode
    autograd._grad_enabled = True
    try:
        with time_bound(_timeout_seconds(timeout)):
            prop()
    except _NotAttemptedError:
        return Verdict(name, "not attempted", points_possible=ex.points)
    except CheckTimeoutError as exc:
        return Verdict(name, "timeout", error=_safe_text(str, exc), points_possible=ex.points)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # any error inside the reader's code is a verdict, not a crash
        from ._guard import ForbiddenCallError

        raised_by_answer = any(exc is e for e in answer_errors) and not isinstance(exc, ForbiddenCallError)
        status = "error" if raised_by_answer and not isinstance(exc, AssertionError) else "failed"
        error = describe_error(exc)
        where = reader_line(exc, fn)  # the reader's line that raised, when the error came from their code
        error = f"{where}\n    {error}" if where else error
        return Verdict(name, status, inputs=failing, error=error, points_possible=ex.points)
    finally:
        autograd._grad_enabled = grad_mode
    return Verdict(name, "passed", cases=passed, points_possible=ex.points)


def grading_mode(grading: bool | None = None) -> bool:
    """``grading`` if given, else whether MINISENSLI_GRADING is set (to anything but 0)."""
    if grading is not None:
        return bool(grading)
    return os.environ.get(GRADING_ENV, "") not in ("", "0")


def check(name: str, fn: Callable, *, grading: bool | None = None) -> None:
    """Check ``fn`` against the exercise ``name`` and print one verdict. Returns None.

    Grading mode (``grading=True`` or MINISENSLI_GRADING=1): the verdict is printed with its
    score; only 'passed' earns the exercise's points, 'not attempted', 'failed', 'error' and
    'timeout' all score 0. Strict mode (MINISENSLI_STRICT_EXERCISES=1): a wrong answer raises
    ExerciseFailedError; in grading mode so does every verdict that scores 0."""
    verdict = run_check(name, fn)
    grading = grading_mode(grading)
    print(verdict.graded() if grading else verdict)
    strict = os.environ.get(STRICT_ENV, "") not in ("", "0")
    scores_nothing = verdict.status != "passed" if grading else verdict.status not in ("passed", "not attempted")
    if strict and scores_nothing:
        raise ExerciseFailedError(str(verdict))


def graded_check(name: str, fn: Callable) -> None:
    """The check of an autograded (nbgrader) test cell: prints the verdict with its score and
    raises ExerciseFailedError unless it passed, so the cell earns all its points or none."""
    verdict = run_check(name, fn)
    print(verdict.graded())
    if verdict.status != "passed":
        raise ExerciseFailedError(str(verdict))
