"""A restricted unpickler for data files that are pickles of numpy arrays (the CIFAR-10 batches).

pickle.load runs whatever code a file names. load_restricted_pickle builds only builtin
containers and plain numeric numpy arrays, with bounded work: see its docstring. Used by
minisensli.data.readers.cifar10.

A host-side module: it builds numpy arrays on the CPU and never touches tensor data, so it
imports numpy directly (the choice between numpy and cupy for tensor data stays in
minisensli.backend).
"""

from __future__ import annotations

import importlib
import io
import math
import pickle
import pickletools
from typing import Any

import numpy

MAX_PICKLE_OPS = 2_000_000  # a CIFAR-10 batch needs ~60,000 (10,000 labels and file names)
MAX_PICKLE_MARKS = 64
MAX_PICKLE_DEPTH = 8


def _numpy_multiarray() -> Any:
    """numpy's multiarray module: numpy >= 2 keeps it in numpy._core (numpy.core warns that it
    is deprecated there), numpy 1 in numpy.core."""
    try:
        return importlib.import_module("numpy._core.multiarray")
    except ImportError:
        return importlib.import_module("numpy.core.multiarray")


def _restricted_globals() -> dict[tuple[str, str], Any]:
    """The only callables a restricted pickle may name, each bounded in what it can build."""
    _reconstruct = _numpy_multiarray()._reconstruct

    def reconstruct(subtype: Any, shape: Any, dtype_spec: Any) -> Any:
        # numpy pickles always start an array empty, then BUILD fills it from bytes of the
        # file (ndarray.__setstate__ checks their length), so nothing larger is allowed here
        if subtype is not numpy.ndarray or math.prod(tuple(shape)) != 0:
            raise pickle_error(f"refusing numpy _reconstruct of {subtype!r} with shape {shape!r}")
        return _reconstruct(subtype, shape, dtype_spec)

    def dtype(spec: Any, align: bool = False, copy: bool = False) -> Any:
        if not isinstance(spec, str):
            raise pickle_error(f"refusing numpy dtype {spec!r}: only plain numeric dtypes are allowed")
        result = numpy.dtype(spec)
        if result.kind not in "biuf":
            raise pickle_error(f"refusing numpy dtype {spec!r}: only plain numeric dtypes are allowed")
        return result

    def frombuffer(buffer: Any, dtype_: Any, shape: Any, order: str) -> Any:
        if order not in ("C", "F"):
            raise pickle_error(f"refusing numpy _frombuffer with order {order!r}")
        return numpy.frombuffer(buffer, dtype=dtype_).reshape(shape, order="F" if order == "F" else "C")

    def scalar(dtype_: Any, data: Any = None) -> Any:
        if (
            not isinstance(dtype_, numpy.dtype)
            or dtype_.kind not in "biuf"
            or not isinstance(data, bytes)
            or len(data) != dtype_.itemsize
        ):
            raise pickle_error("refusing a numpy scalar that is not a plain number")
        return numpy.frombuffer(data, dtype=dtype_)[0]

    def encode(text: str, encoding: str = "utf-8") -> bytes:
        # Python 2 pickles store byte strings as latin-1 text
        if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
            raise pickle_error(f"refusing _codecs.encode with encoding {encoding!r}")
        return text.encode("latin1")

    allowed: dict[tuple[str, str], Any] = {("_codecs", "encode"): encode}
    for module in ("numpy.core.multiarray", "numpy._core.multiarray"):
        allowed[(module, "_reconstruct")] = reconstruct
        allowed[(module, "scalar")] = scalar
    for module in ("numpy.core.numeric", "numpy._core.numeric"):
        allowed[(module, "_frombuffer")] = frombuffer
    allowed[("numpy", "ndarray")] = numpy.ndarray
    allowed[("numpy", "dtype")] = dtype
    return allowed


def pickle_error(message: str) -> pickle.UnpicklingError:
    """The error of every refusal."""
    return pickle.UnpicklingError(message)


def _scan_pickle(data: bytes, max_ops: int, max_marks: int) -> None:
    """Walk the opcodes without building anything: refuse more than ``max_ops`` operations or
    more than ``max_marks`` open marks (nested tuples, lists or dicts under construction).
    Nesting built through the memo is caught after loading, by _check_depth."""
    open_marks = 0
    for count, (op, _, _) in enumerate(pickletools.genops(data)):
        if count >= max_ops:
            raise pickle_error(f"more than {max_ops} pickle operations")
        if pickletools.stackslice in op.stack_before:
            open_marks -= 1
        if op.stack_after == [pickletools.markobject]:
            open_marks += 1
            if open_marks > max_marks:
                raise pickle_error(f"pickle nesting deeper than {max_marks} open marks")


def _check_depth(root: Any, max_depth: int) -> None:
    """Refuse containers nested deeper than ``max_depth`` (or containing themselves)."""
    stack: list[tuple[Any, int, tuple[int, ...]]] = [(root, 0, ())]
    while stack:
        value, depth, path = stack.pop()
        if isinstance(value, (list, tuple, dict, set, frozenset)):
            if depth >= max_depth or id(value) in path:
                raise pickle_error(f"containers nested deeper than {max_depth} levels")
            items = list(value.keys()) + list(value.values()) if isinstance(value, dict) else list(value)
            stack.extend((item, depth + 1, (*path, id(value))) for item in items)


def load_restricted_pickle(file: Any, max_ops: int = MAX_PICKLE_OPS, max_depth: int = MAX_PICKLE_DEPTH) -> Any:
    """Unpickle data that holds only builtin containers and numpy arrays (e.g. CIFAR-10 batches).

    Bounded: the opcodes are scanned first (at most ``max_ops``, at most MAX_PICKLE_MARKS
    containers open at once); an array can only be built from bytes stored in the file
    (numpy's empty _reconstruct, then __setstate__ that checks their length), dtypes only
    plain numbers; the result may nest containers at most ``max_depth`` deep. Any other
    global (a class or function that could run code) is refused, so a foreign or malicious
    file cannot execute anything. Every refusal is an UnpicklingError.
    """
    data = file.read()
    _scan_pickle(data, max_ops, MAX_PICKLE_MARKS)
    allowed = _restricted_globals()

    class _ArraysOnly(pickle.Unpickler):
        def find_class(self, module: str, name: str) -> Any:
            if (module, name) in allowed:
                return allowed[(module, name)]
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}: only numpy arrays are allowed")

    result = _ArraysOnly(io.BytesIO(data), encoding="bytes").load()
    _check_depth(result, max_depth)
    return result
