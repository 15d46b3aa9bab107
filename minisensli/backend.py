"""The array backend: the one module of minisensli that decides between numpy and cupy.

Everything above this module works on "array modules" (``xp``): the object returned by
:func:`get_array_module` offers the NumPy API (``xp.exp``, ``xp.zeros``, ``xp.matmul``, ...),
whether the data lives on the CPU (numpy) or on a GPU (cupy). The few operations whose
spelling differs between the two libraries (scatter-add) are wrapped here.

Devices are named ``"cpu"`` and ``"gpu"``. ``import cupy`` can succeed on a machine
without a GPU, so the GPU is only chosen after ``cupy.cuda.is_available()`` says yes.

The default floating dtype (float32; float64 for gradient checks and teaching cells)
is also kept here, because it is a property of how arrays are created.

The rule (enforced by tests/test_backend.py): tensor data is created and moved only through
this module, and only this module imports cupy. Host-side code that turns files into numpy
arrays (minisensli.formats) or computes statistics of results (minisensli.experiments.quantiles)
imports numpy directly; it never sees tensor data and imports no tensor layer.
"""

from __future__ import annotations

from typing import Any

import numpy

DEVICES = ("cpu", "gpu")
DEVICE_ALIASES = {"cuda": "gpu"}  # the name PyTorch and CuPy users type for the GPU
FLOAT_DTYPES = ("float16", "float32", "float64")

_cupy: Any = None  # the cupy module once it was imported successfully
_default_dtype = numpy.dtype("float32")
_init_rng = numpy.random.default_rng()  # draws initial weights unless a layer gets its own rng


# ----------------------------------------------------------------------------- devices


def _load_cupy() -> Any:
    """Import cupy on first use and check that a GPU is present."""
    global _cupy
    if _cupy is not None:
        return _cupy
    try:
        import cupy  # noqa: PLC0415 - optional dependency, imported only when asked for
    except ImportError as err:
        raise RuntimeError(
            "device 'gpu' needs CuPy, which is not installed; install it with: pip install 'minisensli[gpu]'"
        ) from err
    try:
        available = cupy.cuda.is_available()
    except Exception:  # a broken CUDA install raises instead of returning False
        available = False
    if not available:
        raise RuntimeError("device 'gpu' was requested: CuPy is installed but no CUDA GPU is available on this machine")
    _cupy = cupy
    return cupy


def use_gpu_module(module: Any) -> Any:
    """Make ``module`` the array module of device 'gpu'; returns the previous one (None: none loaded).

    For tests: a stand-in with CuPy's interface (``ndarray``, ``asarray``, ``asnumpy``,
    ``scatter_add`` and NumPy's functions) runs every GPU code path on a machine without a GPU
    (tests/strict_device.py refuses implicit host conversions, as CuPy does). ``None`` goes back
    to importing CuPy on first use.
    """
    global _cupy
    previous, _cupy = _cupy, module
    return previous


def gpu_available() -> bool:
    """True when CuPy is installed and sees a CUDA device."""
    try:
        _load_cupy()
    except RuntimeError:
        return False
    return True


def check_device(device: str) -> str:
    """The device ``device`` names ('cuda' is another name for 'gpu'); a ValueError listing the
    allowed names for anything else."""
    device = DEVICE_ALIASES.get(device, device) if isinstance(device, str) else device
    if device not in DEVICES:
        raise ValueError(f"unknown device {device!r}; allowed devices are {DEVICES} (and 'cuda' for 'gpu')")
    return device


def device_of(array: Any) -> str:
    """'cpu' for numpy arrays (and scalars), 'gpu' for cupy arrays."""
    if _cupy is not None and isinstance(array, _cupy.ndarray):
        return "gpu"
    return "cpu"


def get_array_module(*arrays: Any) -> Any:
    """The array module (numpy or cupy) that owns the given arrays.

    Raises a ValueError when the arrays live on different devices.
    """
    if _cupy is None:  # no GPU module was ever loaded, so every array is a numpy array
        return numpy
    devices = {device_of(a) for a in arrays}
    if len(devices) > 1:
        raise ValueError("arrays live on different devices (cpu and gpu); move them with .to(device) first")
    if devices == {"gpu"}:
        return _cupy
    return numpy


def module_for_device(device: str) -> Any:
    """The array module that creates arrays on ``device``."""
    if check_device(device) == "gpu":
        return _load_cupy()
    return numpy


def to_device(array: Any, device: str) -> Any:
    """Return ``array`` on ``device`` (no copy when it is already there)."""
    if check_device(device) == "gpu":
        return _load_cupy().asarray(array)
    return to_numpy(array)


def to_numpy(array: Any) -> Any:
    """Return a numpy array with the values of ``array`` (copies from the GPU)."""
    if device_of(array) == "gpu":
        return _cupy.asnumpy(array)
    return numpy.asarray(array)


def all_finite(array: Any) -> bool:
    """True when no entry is nan or inf; one explicit host read on a GPU."""
    xp = get_array_module(array)
    return bool(scalars_to_host([xp.isfinite(array).all()])[0])


def scalars_to_host(values: list) -> list[float]:
    """Python numbers of 0-d arrays (and numbers) that live on one device, in one transfer.

    Training loops keep per-step losses and error counts on the device and call this once per
    epoch, so that the GPU never waits for the host inside a step.
    """
    arrays = [v for v in values if hasattr(v, "shape")]
    if not arrays or get_array_module(*arrays) is numpy:
        return [float(v) for v in values]
    xp = get_array_module(*arrays)
    host = iter(to_numpy(xp.stack(arrays)).tolist())
    return [next(host) if hasattr(v, "shape") else float(v) for v in values]


def as_array(data: Any, dtype: Any = None, device: str | None = None, keep_python_precision: bool = False) -> Any:
    """Convert array-like ``data`` to an array of the array module of ``device``.

    ``device=None`` keeps an existing array where it is (and means 'cpu' for lists and
    scalars). ``dtype=None`` keeps the dtype of an existing array, and for Python data uses the
    default float dtype when the values are floats (like PyTorch), unless
    ``keep_python_precision`` (then Python floats stay float64, for a caller that casts once).
    """
    if device is None:
        device = device_of(data)
    if hasattr(data, "dtype") and hasattr(data, "shape"):
        array = to_device(data, device)
    else:
        array = numpy.asarray(data)
        if array.dtype.kind == "f" and dtype is None and not keep_python_precision:
            array = array.astype(_default_dtype)
        array = to_device(array, device)
    if dtype is not None:
        array = array.astype(as_dtype(dtype), copy=False)
    return array


# ----------------------------------------------------------------------------- dtypes


def as_dtype(dtype: Any) -> Any:
    """Turn a dtype name or object into a numpy dtype (cupy uses numpy's dtypes too)."""
    try:
        return numpy.dtype(dtype)
    except TypeError as err:
        raise TypeError(f"unknown dtype {dtype!r}; use e.g. 'float32' or 'float64'") from err


def _kind(dtype: Any) -> str:
    # dtype objects carry .kind; converting only names and types keeps this cheap on hot paths
    return dtype.kind if isinstance(dtype, numpy.dtype) else numpy.dtype(dtype).kind


def is_floating(dtype: Any) -> bool:
    """True for floating-point dtypes."""
    return _kind(dtype) == "f"


def is_integer(dtype: Any) -> bool:
    """True for signed or unsigned integer dtypes."""
    return _kind(dtype) in "iu"


def set_default_dtype(dtype: Any) -> None:
    """Set the dtype used for new float tensors and parameters ('float32' or 'float64')."""
    global _default_dtype
    dt = as_dtype(dtype)
    if dt.name not in FLOAT_DTYPES:
        raise ValueError(f"set_default_dtype: expected one of {FLOAT_DTYPES}, got {dt.name!r}")
    _default_dtype = dt


def get_default_dtype() -> Any:
    """The dtype used for new float tensors and parameters."""
    return _default_dtype


# ----------------------------------------------------------------------------- random numbers


def manual_seed(seed: int) -> None:
    """Seed the generator that initialises parameters (layers built without their own rng)."""
    global _init_rng
    _init_rng = numpy.random.default_rng(seed)


def init_rng() -> Any:
    """The generator used for parameter initialisation (a numpy.random.Generator)."""
    return _init_rng


def set_init_rng(rng: Any) -> None:
    """Install ``rng`` (a numpy.random.Generator) as the initialisation generator."""
    global _init_rng
    _init_rng = rng


def new_rng(seed: Any = None) -> Any:
    """A new numpy.random.Generator; ``seed`` may be an int, None, or an existing Generator."""
    return numpy.random.default_rng(seed)


# ----------------------------------------------------------------------------- operations that differ


def scatter_add(target: Any, index: Any, values: Any) -> None:
    """In place: ``target[index] += values``, adding repeated indices once per occurrence.

    Plain ``target[index] += values`` keeps only one contribution when an integer index
    repeats; numpy spells the unbuffered version ``np.add.at``, cupy ``cupyx.scatter_add``.
    """
    if device_of(target) == "gpu":
        add = getattr(_cupy, "scatter_add", None)  # a stand-in GPU module brings its own
        if add is None:
            import cupyx  # noqa: PLC0415 - ships with cupy, only used on the GPU path

            add = cupyx.scatter_add
        add(target, index, values)
    else:
        numpy.add.at(target, index, values)
