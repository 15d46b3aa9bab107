"""A strict stand-in for the GPU: NumPy arrays that refuse every implicit trip to the host.

CuPy arrays live in GPU memory; turning one into a NumPy array or a Python number copies it to
the host and makes the host wait for the device. CuPy refuses the implicit conversion
(``numpy.asarray(gpu_array)``) and minisensli promises more: inside a training step nothing
reads a device value back at all, and where a value is needed on the host (a loss once per
epoch, a score once per selection) it goes through ``backend.to_numpy`` / ``scalars_to_host``.

``StrictArray`` is a NumPy array that raises ``HostTransferError`` from ``float()``, ``int()``,
``bool()``, ``.item()``, ``.tolist()``, ``__array__`` and ``__index__``; indexing and full
reductions return 0-d StrictArrays (as CuPy's do) instead of NumPy scalars. ``StrictModule``
is NumPy's namespace with every result moved onto the stand-in device, plus CuPy's ``asnumpy``
(the explicit copy) and ``scatter_add``. Installed with ``backend.use_gpu_module``, it is what
device 'gpu' means in the device-parity tests on a machine without a GPU, so that a stray host
round trip fails a test on any machine.
"""

from __future__ import annotations

import types
from typing import Any

import numpy


class HostTransferError(TypeError):
    """A device array was converted to a host value implicitly."""


def _refuse(what: str):
    def method(self, *args, **kwargs):
        raise HostTransferError(
            f"implicit host conversion of a device array ({what}); use backend.to_numpy or backend.scalars_to_host"
        )

    return method


class StrictArray(numpy.ndarray):
    """An array on the stand-in device (see the module docstring)."""

    __float__ = _refuse("float()")
    __int__ = _refuse("int()")
    __bool__ = _refuse("bool()")
    __index__ = _refuse("__index__")
    __complex__ = _refuse("complex()")
    __array__ = _refuse("__array__")
    item = _refuse(".item()")
    tolist = _refuse(".tolist()")

    def __array_wrap__(self, array: Any, context: Any = None, return_scalar: bool = False) -> Any:
        return on_device(array)  # full reductions stay 0-d device arrays, as in CuPy

    def __getitem__(self, index: Any) -> Any:
        return on_device(super().__getitem__(index))

    def __repr__(self) -> str:
        return f"StrictArray({numpy.ndarray.__repr__(self.view(numpy.ndarray))})"

    __str__ = __repr__


def on_device(value: Any) -> Any:
    """NumPy results (arrays, scalars, tuples of them) as StrictArrays; other values unchanged."""
    if isinstance(value, StrictArray):
        return value
    if isinstance(value, numpy.ndarray):
        return value.view(StrictArray)
    if isinstance(value, numpy.generic):
        return numpy.asarray(value).view(StrictArray)
    if isinstance(value, tuple):
        return type(value)(*map(on_device, value)) if hasattr(value, "_fields") else tuple(map(on_device, value))
    if isinstance(value, list):
        return [on_device(v) for v in value]
    return value


def _host(value: Any) -> Any:
    """Arguments for NumPy: StrictArrays as plain views (no copy, nothing refused)."""
    if isinstance(value, StrictArray):
        return value.view(numpy.ndarray)
    if isinstance(value, (list, tuple)):
        return type(value)(_host(v) for v in value)
    return value


class StrictModule:
    """NumPy's functions with their results on the stand-in device: the stand-in for ``cupy``."""

    ndarray = StrictArray

    def __init__(self, namespace: Any = numpy) -> None:
        self._namespace = namespace

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._namespace, name)
        if isinstance(value, types.ModuleType):
            return StrictModule(value)
        if callable(value) and not isinstance(value, type):

            def on_stand_in(*args: Any, **kwargs: Any) -> Any:
                args = tuple(_host(a) for a in args)
                kwargs = {k: _host(v) for k, v in kwargs.items()}
                return on_device(value(*args, **kwargs))

            return on_stand_in
        return value

    @staticmethod
    def asarray(array: Any, dtype: Any = None) -> StrictArray:
        """Host data -> device (a copy, as cupy.asarray); a device array is returned as it is."""
        if isinstance(array, StrictArray) and (dtype is None or array.dtype == dtype):
            return array
        return numpy.array(_host(array), dtype=dtype).view(StrictArray)

    @staticmethod
    def asnumpy(array: Any) -> Any:
        """The explicit copy to the host (cupy.asnumpy)."""
        return numpy.array(_host(array))

    @staticmethod
    def scatter_add(target: Any, index: Any, values: Any) -> None:
        numpy.add.at(target.view(numpy.ndarray), _host(index), _host(values))
