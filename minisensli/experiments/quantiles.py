"""Quantiles of ragged curves, position by position: the median and quartile bands of the figures.

A host-side helper on Python lists of numbers (the curves of results.json): it imports numpy
directly, as it never touches tensor data (the choice between numpy and cupy for tensor data
stays in minisensli.backend).
"""

from __future__ import annotations

import numpy


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
