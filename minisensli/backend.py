"""The array backend: the only module of minisensli that imports numpy or cupy.

Everything above this module works on "array modules" (``xp``): the object returned by
:func:`get_array_module` offers the NumPy API (``xp.exp``, ``xp.zeros``, ``xp.matmul``, ...),
whether the data lives on the CPU (numpy) or on a GPU (cupy). The few operations whose
spelling differs between the two libraries (scatter-add) are wrapped here.

Devices are named ``"cpu"`` and ``"gpu"``. ``import cupy`` can succeed on a machine
without a GPU, so the GPU is only chosen after ``cupy.cuda.is_available()`` says yes.

The default floating dtype (float32; float64 for gradient checks and teaching cells)
is also kept here, because it is a property of how arrays are created.
"""

from __future__ import annotations

import struct
import zipfile
import zlib
from typing import Any

import numpy
import numpy.lib.format

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


def quantiles_by_position(rows: list[list[float | None]], qs: tuple[float, ...]) -> list[list[float]]:
    """For every position i of ragged rows (curves of different lengths; None = no value), the
    q-quantiles of the values the rows have at i, for each q in ``qs``: one list per q, as long as
    the longest row; nan where no row has a value. Linear interpolation between the order
    statistics at q (n - 1), as ``statistics`` and NumPy's default. Vectorised over positions
    (numpy.nanquantile would loop over them in Python): the figures of a 30-seed run have
    thousands of positions."""
    length = max((len(row) for row in rows), default=0)
    table = numpy.full((len(rows), length), numpy.nan)
    for r, row in enumerate(rows):
        table[r, : len(row)] = [numpy.nan if v is None else v for v in row]
    ordered = numpy.sort(table, axis=0)  # nan sorts last, so the n values of a column come first
    count = (~numpy.isnan(table)).sum(axis=0)
    columns = numpy.arange(length)
    out = []
    for q in qs:
        position = q * numpy.maximum(count - 1, 0)
        low = numpy.floor(position).astype(numpy.intp)
        high = numpy.minimum(low + 1, numpy.maximum(count - 1, 0))
        below, above = ordered[low, columns], ordered[high, columns]
        values = below + (above - below) * (position - low)
        out.append(numpy.where(count > 0, values, numpy.nan).tolist())
    return out


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


# ----------------------------------------------------------------------------- files


def save_arrays(path: Any, arrays: dict[str, Any]) -> None:
    """Write named arrays (moved to the CPU) to a compressed .npz file."""
    numpy.savez_compressed(path, **{k: to_numpy(v) for k, v in arrays.items()})


class ArchiveError(ValueError):
    """An .npz archive is damaged, or holds something other than plain numeric arrays."""


# deflate cannot expand a stream by more than about 1032:1, so a member that declares more
# uncompressed bytes than this allows is lying about its size
DEFLATE_MAX_RATIO = 1032
ARCHIVE_READ_ERRORS = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    zlib.error,
    OSError,
    EOFError,
    ValueError,
    NotImplementedError,
    RuntimeError,
    struct.error,
    UnicodeDecodeError,
    KeyError,
)
MAX_NPY_HEADER = 10000
MAX_NDIM = 32


def _product(shape: tuple[int, ...]) -> int:
    total = 1
    for n in shape:
        total *= n
    return total


class ArrayArchive:
    """Bounded reading of the plain numeric arrays of an .npz file (what numpy.savez writes).

    Nothing is read before it is asked for, and nothing is allocated before the sizes agree:
    ``header(name)`` reads only the .npy header of one member and checks that the shape and
    dtype it declares match the member's uncompressed size, and that this size is possible for
    the member's compressed size (deflate expands at most ~1032:1); ``read(name)`` then reads
    exactly those bytes. Object arrays (which numpy would unpickle) are refused. Every damage
    (zip, zlib, .npy header, CRC) raises ArchiveError with what is wrong.

        with ArrayArchive(path) as archive:
            archive.names()                  # array names, without '.npy'
            shape, dtype = archive.header("w")
            w = archive.read("w")
    """

    def __init__(self, file: Any, kinds: str = "biuf") -> None:
        self.kinds = kinds
        self._headers: dict[str, tuple[tuple[int, ...], Any, bool, int]] = {}
        try:
            self._zip = zipfile.ZipFile(file)
            infos = self._zip.infolist()
        except ARCHIVE_READ_ERRORS as err:
            raise ArchiveError(f"not a readable .npz (zip) archive: {err}") from err
        self._members: dict[str, zipfile.ZipInfo] = {}
        for info in infos:
            if not info.filename.endswith(".npy"):
                self.close()
                raise ArchiveError(f"unexpected entry {info.filename!r}: an .npz archive holds only .npy arrays")
            name = info.filename[: -len(".npy")]
            if name in self._members:
                self.close()
                raise ArchiveError(f"entry {info.filename!r} appears twice")
            self._members[name] = info

    def __enter__(self) -> ArrayArchive:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        self._zip.close()

    def names(self) -> list[str]:
        """The names of the stored arrays, in archive order."""
        return list(self._members)

    def _info(self, name: str) -> zipfile.ZipInfo:
        if name not in self._members:
            raise ArchiveError(f"no entry {name!r}")
        return self._members[name]

    def _open_past_header(self, name: str) -> tuple[Any, tuple[int, ...], Any, bool, int]:
        """Open a member, read and check its .npy header; the stream is left at the data."""
        info = self._info(name)
        if info.flag_bits & 0x1:
            raise ArchiveError(f"entry {name!r} is encrypted")
        if info.compress_type == zipfile.ZIP_STORED:
            possible = info.compress_size
        elif info.compress_type == zipfile.ZIP_DEFLATED:
            possible = info.compress_size * DEFLATE_MAX_RATIO + 1024
        else:
            raise ArchiveError(
                f"entry {name!r} uses compression method {info.compress_type}; "
                "only stored and deflated entries are read"
            )
        if info.file_size > possible:
            raise ArchiveError(
                f"entry {name!r} declares {info.file_size} bytes, impossible for its "
                f"{info.compress_size} compressed bytes"
            )
        stream = self._zip.open(info)
        try:
            version = numpy.lib.format.read_magic(stream)
            if version == (1, 0):
                shape, fortran, dtype = numpy.lib.format.read_array_header_1_0(stream, max_header_size=MAX_NPY_HEADER)
            elif version in ((2, 0), (3, 0)):
                shape, fortran, dtype = numpy.lib.format.read_array_header_2_0(stream, max_header_size=MAX_NPY_HEADER)
            else:
                raise ArchiveError(f"entry {name!r}: unknown .npy format version {version}")
            header_size = stream.tell()
        except BaseException:
            stream.close()
            raise
        if dtype.hasobject or dtype.kind not in self.kinds or dtype.fields is not None or dtype.subdtype is not None:
            stream.close()
            raise ArchiveError(
                f"entry {name!r} holds dtype {dtype}; only plain numeric arrays "
                f"(kinds {self.kinds!r}) are read, never pickled objects"
            )
        if len(shape) > MAX_NDIM or not all(isinstance(n, int) and n >= 0 for n in shape):
            stream.close()
            raise ArchiveError(f"entry {name!r} declares an impossible shape {shape}")
        nbytes = _product(shape) * dtype.itemsize
        if header_size + nbytes != info.file_size:
            stream.close()
            raise ArchiveError(
                f"entry {name!r} declares shape {shape} of {dtype} ({nbytes} bytes of data) but "
                f"holds {info.file_size - header_size}"
            )
        return stream, shape, dtype, fortran, nbytes

    def header(self, name: str) -> tuple[tuple[int, ...], Any]:
        """(shape, dtype) that entry ``name`` declares, checked against its stored size."""
        if name not in self._headers:
            try:
                stream, shape, dtype, fortran, nbytes = self._open_past_header(name)
                stream.close()
            except ArchiveError:
                raise
            except ARCHIVE_READ_ERRORS as err:
                raise ArchiveError(f"entry {name!r} is damaged: {err}") from err
            self._headers[name] = (shape, dtype, fortran, nbytes)
        shape, dtype, _, _ = self._headers[name]
        return shape, dtype

    def read(self, name: str) -> Any:
        """The array stored under ``name`` (native byte order, writable, owning its memory)."""
        self.header(name)
        try:
            stream, shape, dtype, fortran, nbytes = self._open_past_header(name)
            with stream:
                buffer = numpy.empty(nbytes, dtype=numpy.uint8)
                got = stream.readinto(memoryview(buffer)) if nbytes else 0
                while got < nbytes:  # readinto may return less than asked from a zip stream
                    more = stream.readinto(memoryview(buffer)[got:])
                    if not more:
                        break
                    got += more
                if got != nbytes or stream.read(1):
                    raise ArchiveError(f"entry {name!r} holds {got} bytes of data, its header declares {nbytes}")
        except ArchiveError:
            raise
        except ARCHIVE_READ_ERRORS as err:
            raise ArchiveError(f"entry {name!r} is damaged: {err}") from err
        array = buffer.view(dtype).reshape(shape, order="F" if fortran else "C")
        if not dtype.isnative:
            array = array.astype(dtype.newbyteorder("="))
        return array


def load_arrays(file: Any) -> dict[str, Any]:
    """Read all arrays of an .npz file (a path or binary file) with ArrayArchive's bounds."""
    with ArrayArchive(file) as archive:
        return {name: archive.read(name) for name in archive.names()}


def text_to_array(text: str) -> Any:
    """Store a string as a uint8 array (for metadata inside an .npz file)."""
    return numpy.frombuffer(text.encode("utf-8"), dtype=numpy.uint8)


def array_to_text(array: Any) -> str:
    return bytes(to_numpy(array).astype(numpy.uint8)).decode("utf-8")


MAX_PICKLE_OPS = 2_000_000  # a CIFAR-10 batch needs ~60,000 (10,000 labels and file names)
MAX_PICKLE_MARKS = 64
MAX_PICKLE_DEPTH = 8


def _restricted_globals() -> dict[tuple[str, str], Any]:
    """The only callables a restricted pickle may name, each bounded in what it can build."""
    try:  # numpy >= 2 keeps it in numpy._core (numpy.core warns that it is deprecated)
        from numpy._core.multiarray import _reconstruct  # noqa: PLC0415
    except ImportError:
        from numpy.core.multiarray import _reconstruct  # noqa: PLC0415

    def reconstruct(subtype: Any, shape: Any, dtype_spec: Any) -> Any:
        # numpy pickles always start an array empty, then BUILD fills it from bytes of the
        # file (ndarray.__setstate__ checks their length), so nothing larger is allowed here
        if subtype is not numpy.ndarray or _product(tuple(shape)) != 0:
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
        return numpy.frombuffer(buffer, dtype=dtype_).reshape(shape, order=order)

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

    allowed = {("_codecs", "encode"): encode}
    for module in ("numpy.core.multiarray", "numpy._core.multiarray"):
        allowed[(module, "_reconstruct")] = reconstruct
        allowed[(module, "scalar")] = scalar
    for module in ("numpy.core.numeric", "numpy._core.numeric"):
        allowed[(module, "_frombuffer")] = frombuffer
    allowed[("numpy", "ndarray")] = numpy.ndarray
    allowed[("numpy", "dtype")] = dtype
    return allowed


def pickle_error(message: str) -> Exception:
    import pickle  # noqa: PLC0415 - only the data readers need it

    return pickle.UnpicklingError(message)


def _scan_pickle(data: bytes, max_ops: int, max_marks: int) -> None:
    """Walk the opcodes without building anything: refuse more than ``max_ops`` operations or
    more than ``max_marks`` open marks (nested tuples, lists or dicts under construction).
    Nesting built through the memo is caught after loading, by _check_depth."""
    import pickletools  # noqa: PLC0415 - only the data readers need it

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
    stack = [(root, 0, ())]
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
    import io  # noqa: PLC0415
    import pickle  # noqa: PLC0415

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


def frombuffer(buffer: bytes, dtype: Any, offset: int = 0, count: int = -1) -> Any:
    """numpy.frombuffer: an array viewing raw bytes (used by file readers)."""
    return numpy.frombuffer(buffer, dtype=dtype, offset=offset, count=count)


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
