"""File formats read and written on the host: bounded .npz archives, restricted pickles, raw bytes.

These modules import numpy directly: they turn bytes of a file into numpy arrays on the CPU (and
back) and never see tensor data, so the one decision "numpy or cupy" stays in
minisensli.backend. They import nothing else from minisensli, so any layer may use them
(serialization for model files, data for datasets on disk).

    npz                 ArrayArchive (bounded .npz reading), load_arrays, save_arrays,
                        text_to_array / array_to_text (JSON metadata inside an archive)
    restricted_pickle   load_restricted_pickle (CIFAR-10 batches: containers and numeric arrays only)
    buffers             frombuffer (raw bytes, e.g. the body of an IDX file, as an array)
"""

from .buffers import frombuffer
from .npz import ArchiveError, ArrayArchive, array_to_text, load_arrays, save_arrays, text_to_array
from .restricted_pickle import load_restricted_pickle

__all__ = [
    "ArchiveError",
    "ArrayArchive",
    "array_to_text",
    "frombuffer",
    "load_arrays",
    "load_restricted_pickle",
    "save_arrays",
    "text_to_array",
]
