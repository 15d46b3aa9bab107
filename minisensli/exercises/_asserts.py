"""Comparisons for exercise properties, with messages a reader can act on."""

from __future__ import annotations

import pathlib
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
        if got_a.ndim == 0:  # a scalar has no entries to point at
            raise AssertionError(f"{what}: the value is {got_text}, expected {expected_text}")
        raise AssertionError(
            f"{what}: entry {tuple(int(i) for i in worst)} is {got_text}, expected {expected_text} "
            f"(max abs difference {np.abs(got_a - expected_a).max():.3g})"
        )


def assert_scalar(got: Any, expected: float, what: str, rtol: float = 1e-7, atol: float = 1e-9) -> None:
    """``got`` is one number (a float, a 0-d or one-entry array) close to ``expected``."""
    got_a = as_array(got, what)
    if got_a.size != 1:
        raise AssertionError(f"{what}: expected one number, got an array of shape {got_a.shape}")
    assert_close(got_a.reshape(()), np.float64(expected), what, rtol=rtol, atol=atol)


def reader_line(exc: BaseException, fn: Any) -> str:
    """'in name, line N: <source>' for the innermost frame of ``exc``'s traceback that runs the
    reader's code: from the call of ``fn`` inwards, skipping this package and installed
    libraries (NumPy's own frames). '' when the error did not pass through ``fn`` (the checker's
    comparison failed on a returned value)."""
    import linecache  # noqa: PLC0415 - only when a check fails
    import sysconfig  # noqa: PLC0415

    target = getattr(fn, "__code__", None)
    package = str(pathlib.Path(__file__).resolve().parents[1])
    libraries = [str(pathlib.Path(sysconfig.get_paths()[key]).resolve()) for key in ("stdlib", "purelib", "platlib")]
    inside, found = False, ""
    tb = exc.__traceback__
    while tb is not None:
        code = tb.tb_frame.f_code
        inside = inside or code is target
        if inside:
            name = code.co_filename
            path = "" if name.startswith("<frozen") else str(pathlib.Path(name).resolve())
            if path and not path.startswith(package) and not any(path.startswith(lib) for lib in libraries):
                source = linecache.getline(name, tb.tb_lineno).strip()
                found = f"in {code.co_name}, line {tb.tb_lineno}: {source}" if source else f"in {code.co_name}"
        tb = tb.tb_next
    return found
