"""Raw bytes as numpy arrays (the body of an IDX file after its header was checked).

A host-side module: see minisensli.formats.
"""

from __future__ import annotations

from typing import Any

import numpy


def frombuffer(buffer: bytes, dtype: Any, offset: int = 0, count: int = -1) -> Any:
    """numpy.frombuffer: a read-only array viewing ``buffer`` (``count`` items of ``dtype`` from
    byte ``offset``; -1: all). The caller checks the length against the header first."""
    return numpy.frombuffer(buffer, dtype=dtype, offset=offset, count=count)
