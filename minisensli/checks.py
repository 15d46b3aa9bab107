"""Checks for settings (hyper-parameters, sizes), shared by every layer of the package.

Each check returns the value (ints as int, numbers as float) or raises with a message that
starts with ``where`` (the function and argument, e.g. ``"SGD: momentum"``): a TypeError
when the value is not of the right kind (a string, a bool, None where a number belongs), a
ValueError when it is out of range. NaN and infinities are never accepted as numbers: a
comparison with NaN is always False, so ``lr <= 0`` alone would let ``lr = nan`` through.
Pure Python, no array module: the backend and everything above may use it.
"""

from __future__ import annotations

import math
import numbers
from typing import Any


def number(
    where: str,
    value: Any,
    minimum: float | None = None,
    *,
    strict: bool = False,
    maximum: float | None = None,
    strict_maximum: bool = False,
) -> float:
    """A finite real number >= minimum (> minimum with strict), <= maximum (< with strict_maximum)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{where}: expected a number, got {value!r} ({type(value).__name__})")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{where}: must be a finite number, got {value}")
    if minimum is not None and (value <= minimum if strict else value < minimum):
        raise ValueError(f"{where}: must be {'>' if strict else '>='} {minimum}, got {value}")
    if maximum is not None and (value >= maximum if strict_maximum else value > maximum):
        raise ValueError(f"{where}: must be {'<' if strict_maximum else '<='} {maximum}, got {value}")
    return value


def positive(where: str, value: Any) -> float:
    """A finite number > 0 (learning rates, step sizes, thresholds)."""
    return number(where, value, 0.0, strict=True)


def non_negative(where: str, value: Any) -> float:
    """A finite number >= 0 (momentum, weight decay, noise)."""
    return number(where, value, 0.0)


def fraction(where: str, value: Any) -> float:
    """A number strictly between 0 and 1."""
    return number(where, value, 0.0, strict=True, maximum=1.0, strict_maximum=True)


def integer(where: str, value: Any, minimum: int | None = None, maximum: int | None = None) -> int:
    """An int (not a bool, not a float) in [minimum, maximum]."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{where}: expected an integer, got {value!r} ({type(value).__name__})")
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{where}: must be an integer >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{where}: must be an integer <= {maximum}, got {value}")
    return value


def choice(where: str, value: Any, allowed: tuple) -> Any:
    """``value`` if it is one of ``allowed``."""
    try:
        ok = value in allowed
    except (TypeError, ValueError):  # an unhashable value, or an array whose truth is ambiguous
        ok = False
    if not ok:
        raise ValueError(f"{where}: {value!r} is not allowed; choose one of {list(allowed)}")
    return value
