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
_NAME = re.compile(r"^(ch\d\d)\.[a-z0-9_]+$")


class ExerciseFailedError(AssertionError):
    """A checked answer is wrong (raised only in strict mode, MINISENSLI_STRICT_EXERCISES=1)."""


@dataclass(frozen=True)
class Exercise:
    name: str
    prop: Callable[[Callable, Any], None]
    max_examples: int
    points: int = 1
    forbid: tuple[str, ...] = ()


@dataclass(frozen=True)
class Verdict:
    """What one check found. status: 'passed', 'not attempted' or 'failed'; cases: examples
    that passed (for 'passed'); inputs: the shrunk failing input by label; error: the error's
    type and message."""

    name: str
    status: str
    cases: int = 0
    inputs: dict[str, Any] = field(default_factory=dict)
    error: str = ""

    def __str__(self) -> str:
        if self.status == "passed":
            return f"{self.name}: passed {self.cases} cases"
        if self.status == "not attempted":
            return f"{self.name}: not attempted yet (the function raises NotImplementedError)"
        shown = ", ".join(f"{label}={_short_repr(value)}" for label, value in self.inputs.items())
        where = f" on {shown}" if shown else ""
        return f"{self.name}: FAILED{where}\n    {self.error}"


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
        if exc.name != f"{__package__}.{chapter}":
            raise


def _lookup(name: str) -> Exercise:
    match = _NAME.match(name) if isinstance(name, str) else None
    if match:
        _load_chapter(match.group(1))
    if name not in _REGISTRY:
        known = ", ".join(sorted(_REGISTRY)) or "none loaded"
        raise KeyError(f"check: no exercise named {name!r} (known: {known})")
    return _REGISTRY[name]


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
    text = repr(value)
    return text if len(text) <= 300 else text[:297] + "..."


def run_check(name: str, fn: Callable) -> Verdict:
    """Run the exercise's properties against ``fn`` and return the verdict (prints nothing)."""
    ex = _lookup(name)
    if not callable(fn):
        return Verdict(name, "failed", error=f"TypeError: check expects a function, got {type(fn).__name__}")
    from hypothesis import HealthCheck, Phase, Verbosity, given, settings
    from hypothesis import strategies as st

    passed = 0
    failing: dict[str, Any] = {}

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
            ex.prop(fn, case)
        except NotImplementedError as exc:
            raise _NotAttemptedError() from exc
        except BaseException:
            # hypothesis replays the shrunk example last, so the last failure kept is the minimal one
            failing = case.drawn
            raise
        passed += 1

    try:
        prop()
    except _NotAttemptedError:
        return Verdict(name, "not attempted")
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # any error inside the reader's code is a verdict, not a crash
        lines = str(exc).strip().splitlines()[:4]  # hypothesis appends notes; the error's own lines come first
        message = "\n    ".join(lines)
        error = f"{type(exc).__name__}: {message}".rstrip(": ")
        where = reader_line(exc, fn)  # the reader's line that raised, when the error came from their code
        return Verdict(name, "failed", inputs=failing, error=f"{where}\n    {error}" if where else error)
    return Verdict(name, "passed", cases=passed)


def check(name: str, fn: Callable) -> None:
    """Check ``fn`` against the exercise ``name`` and print one verdict. Returns None; raises
    ExerciseFailedError on a wrong answer only when MINISENSLI_STRICT_EXERCISES=1."""
    verdict = run_check(name, fn)
    print(verdict)
    if verdict.status == "failed" and os.environ.get(STRICT_ENV, "") not in ("", "0"):
        raise ExerciseFailedError(str(verdict))
