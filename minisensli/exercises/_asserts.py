"""Comparisons for exercise properties, with messages a reader can act on."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..autograd import Tensor


def as_array(value: Any, what: str) -> np.ndarray:
    """The answer as a float64 NumPy array (a Tensor gives its data). Refused: None, complex
    values (casting would drop the imaginary part), booleans where numbers are expected, object
    and string arrays, anything NumPy cannot read as real numbers."""
    if isinstance(value, Tensor):
        value = value.data
    if value is None:
        raise AssertionError(f"{what}: the function returned None (did you forget `return`?)")
    if isinstance(value, (str, bytes)):
        raise AssertionError(f"{what}: expected an array of numbers, got {type(value).__name__}")
    try:
        array = np.asarray(value)
    except (TypeError, ValueError) as exc:
        raise AssertionError(f"{what}: expected an array, got {type(value).__name__}") from exc
    kind = array.dtype.kind
    if kind == "c":
        raise AssertionError(f"{what}: expected real numbers, got complex values (dtype {array.dtype})")
    if kind == "b":
        raise AssertionError(f"{what}: expected numbers, got booleans (dtype bool); return the values, not a mask")
    if kind not in "iuf":
        raise AssertionError(
            f"{what}: expected an array of real numbers, got dtype {array.dtype} from {type(value).__name__} "
            "(ragged lists, objects or strings)"
        )
    return array.astype(np.float64, copy=False)


def unpack(result: Any, what: str, names: tuple[str, ...]) -> tuple[Any, ...]:
    """The items of an answer that must be a tuple (or list) of ``len(names)`` values, unconverted;
    anything else is refused with a message naming the expected items."""
    if not isinstance(result, (tuple, list)) or len(result) != len(names):
        length = f" of length {len(result)}" if isinstance(result, (tuple, list)) else ""
        raise AssertionError(f"{what}: return a tuple ({', '.join(names)}), got {type(result).__name__}{length}")
    return tuple(result)


def assert_close(got: Any, expected: Any, what: str, rtol: float = 1e-7, atol: float = 1e-9) -> None:
    """Same shape and |got - expected| <= atol + rtol |expected| everywhere; the message names
    the worst entry."""
    got_a, expected_a = as_array(got, what), as_array(expected, what)
    if got_a.shape != expected_a.shape:
        raise AssertionError(f"{what}: shape {got_a.shape}, expected {expected_a.shape}")
    if not np.all(np.isfinite(got_a)):
        raise AssertionError(f"{what}: contains NaN or inf")
    excess = np.abs(got_a - expected_a) - (atol + rtol * np.abs(expected_a))
    if excess.size and excess.max() > 0:
        worst = np.unravel_index(int(np.argmax(excess)), excess.shape)
        got_text, expected_text = f"{got_a[worst]:.6g}", f"{expected_a[worst]:.6g}"
        if got_text == expected_text:  # close but not close enough: show the digits that differ
            got_text, expected_text = f"{got_a[worst]:.17g}", f"{expected_a[worst]:.17g}"
        raise AssertionError(
            f"{what}: entry {tuple(int(i) for i in worst)} is {got_text}, expected {expected_text} "
            f"(max abs difference {np.abs(got_a - expected_a).max():.3g})"
        )
