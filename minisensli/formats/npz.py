"""The .npz file format, read within bounds: what a damaged or hostile archive can make us allocate.

numpy.load trusts an archive: it allocates what a header declares and unpickles object arrays
when asked. ArrayArchive reads only plain numeric arrays and checks every declared size against
the bytes that are really there before allocating anything. Used by model files
(minisensli.serialization) and the shipped digits (minisensli.data.digits).

A host-side module: it reads and writes numpy arrays on the CPU and never touches tensor data,
so it imports numpy directly (the choice between numpy and cupy for tensor data stays in
minisensli.backend).
"""

from __future__ import annotations

import math
import struct
import zipfile
import zlib
from typing import Any

import numpy
import numpy.lib.format


def save_arrays(file: Any, arrays: dict[str, Any]) -> None:
    """Write named host (numpy) arrays to a compressed .npz file (a path or binary file).

    The caller moves device arrays to the host first (``backend.to_numpy``): this module only
    ever sees numpy arrays.
    """
    numpy.savez_compressed(file, **arrays)


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
        nbytes = math.prod(shape) * dtype.itemsize
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
                view = buffer.data  # a writable memoryview of the buffer's bytes
                got = stream.readinto(view) if nbytes else 0
                while got < nbytes:  # readinto may return less than asked from a zip stream
                    more = stream.readinto(view[got:])
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
    """The UTF-8 text stored by ``text_to_array`` (UnicodeDecodeError when it is not UTF-8)."""
    return bytes(numpy.asarray(array).astype(numpy.uint8)).decode("utf-8")
