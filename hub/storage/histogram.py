"""Exact histograms of whole seconds, stored as blobs in the statistics roll-ups.

A roll-up row keeps, per day and branch, how many consultations waited (or talked) each whole
number of seconds. Percentiles over any range of days are then exact: merge the day's
histograms and take the nearest rank (docs/statistics.md).

Blob format: ``b""`` for no values; otherwise a version byte (1) followed by little-endian
uint32 pairs ``(value, count)``, values strictly increasing in ``[0, CAP_S]``, counts ≥ 1.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import numpy.typing as npt

CAP_S = 86_399  # a day less a second: longer waits and calls count as this
VERSION = 1
_MAX_COUNT = 2**32 - 1
_PAIR = np.dtype("<u4")


class HistogramError(ValueError):
    """A blob that is not a histogram of this format, or an impossible count."""


def bucket(seconds: float) -> int:
    """Whole seconds of a duration: floored, clamped to ``[0, CAP_S]`` (NaN is refused)."""
    if math.isnan(seconds):
        raise HistogramError("a duration of NaN seconds cannot be counted")
    if seconds >= CAP_S:
        return CAP_S
    if seconds <= 0:
        return 0
    return math.floor(seconds)


def _check_value(value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= CAP_S:
        raise HistogramError(f"a histogram value must be a whole second in [0, {CAP_S}]")


def encode(counts: Mapping[int, int]) -> bytes:
    """The blob of ``{value: count}``; zero counts are left out, ``b""`` when none remain."""
    pairs: list[int] = []
    for value in sorted(counts):
        count = counts[value]
        _check_value(value)
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise HistogramError("a histogram count must be a whole number ≥ 0")
        if count > _MAX_COUNT:
            raise HistogramError(f"a histogram count must be at most {_MAX_COUNT}")
        if count:
            pairs += (value, count)
    if not pairs:
        return b""
    return bytes((VERSION,)) + np.array(pairs, dtype=_PAIR).tobytes()


def _pairs(blob: bytes) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Values and counts of one blob, checked."""
    if not blob:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    if blob[0] != VERSION or (len(blob) - 1) % 8:
        raise HistogramError("not a histogram blob of version 1 (bad header or length)")
    flat = np.frombuffer(blob, dtype=_PAIR, offset=1).astype(np.int64)
    values, counts = flat[0::2], flat[1::2]
    if not len(values) or values[-1] > CAP_S or np.any(np.diff(values) <= 0) or np.any(counts <= 0):
        raise HistogramError("a histogram blob with unsorted, out-of-range or zero entries")
    return values, counts


def decode(blob: bytes) -> dict[int, int]:
    """``{value: count}`` of a blob (counts ≥ 1)."""
    values, counts = _pairs(blob)
    return dict(zip(values.tolist(), counts.tolist(), strict=True))


def adjust(blob: bytes | None, value: int, delta: int) -> bytes:
    """The blob with ``delta`` added to ``value``'s count (``None`` is empty).

    A count below zero means a row was taken out twice: a bug, refused with ``HistogramError``.
    """
    _check_value(value)
    counts = decode(blob or b"")
    new = counts.get(value, 0) + delta
    if new < 0:
        raise HistogramError(f"taking {-delta} from a count of {new - delta} leaves it negative")
    counts[value] = new
    return encode(counts)


def _flat(
    blobs: Iterable[bytes],
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64], npt.NDArray[np.int64]]:
    """Values and counts of all blobs end to end, checked, and how many pairs each blob has.

    A few numpy passes over all blobs at once: a year of a tenant's days is thousands of blobs.
    Counts come as floats, which numpy's weighted sums take (exact below 2**53).
    """
    blobs = list(blobs)
    lengths = np.fromiter(map(len, blobs), dtype=np.int64, count=len(blobs))
    heads = b"".join([blob[:1] for blob in blobs])
    filled = lengths > 0
    sizes = np.where(filled, (lengths - 1) // 8, 0)
    if (
        heads.count(VERSION) != len(heads)
        or np.any((lengths[filled] - 1) % 8 != 0)
        or np.any(filled & (sizes == 0))
    ):
        raise HistogramError("not a histogram blob of version 1 (bad header or length)")
    pairs = np.frombuffer(b"".join([blob[1:] for blob in blobs]), dtype=_PAIR).reshape(-1, 2)
    values = pairs[:, 0].astype(np.int64)
    counts = pairs[:, 1].astype(np.float64)
    if len(values):
        steps = np.diff(values)
        ends = np.cumsum(sizes)
        # where one blob ends and the next begins, values may fall
        steps[ends[(ends > 0) & (ends < len(values))] - 1] = 1
        if values.max() > CAP_S or counts.min() == 0 or (len(steps) and steps.min() <= 0):
            raise HistogramError("a histogram blob with unsorted, out-of-range or zero entries")
    return values, counts, sizes


def dense(blobs: Iterable[bytes]) -> npt.NDArray[np.int64]:
    """The sum of several histograms as counts indexed by value (``CAP_S + 1`` of them)."""
    values, counts, _sizes = _flat(blobs)
    return np.bincount(values, weights=counts, minlength=CAP_S + 1).astype(np.int64)


@dataclass(frozen=True)
class Percentiles:
    """How many values a group of histograms holds and its percentiles (None when empty)."""

    n: int
    ranks: tuple[int | None, ...]


_WIDTH = CAP_S + 1
_BLOCK = 360  # divides _WIDTH: ranks are found per block first, then within one block
# cells of one group-by-value table at a time (8 bytes each): bounds memory for many groups
_TABLE_CELLS = 1 << 21


def grouped_percentiles(
    blobs: Sequence[bytes], groups: Sequence[int], n_groups: int, ps: Sequence[float]
) -> tuple[list[Percentiles], Percentiles]:
    """Nearest-rank percentiles ``ps`` of each group's merged histograms, and of all of them.

    ``groups[i]`` (in ``[0, n_groups)``) is the group of ``blobs[i]``. Exact: the same as
    ``nearest_rank(*merge(blobs of the group), p)``, in a few numpy passes over all blobs.
    """
    group = np.asarray(groups, dtype=np.int64)
    if len(group) != len(blobs) or (len(group) and not 0 <= group.min() <= group.max() < n_groups):
        raise ValueError("every blob needs a group in [0, n_groups)")
    for p in ps:
        _rank(p, 0)  # a bad percentile is refused also when there is nothing to rank
    if np.any(group[1:] < group[:-1]):  # the caller may hand them over in group order already
        order = np.argsort(group, kind="stable")
        blobs, group = [blobs[i] for i in order], group[order]
    values, counts, sizes = _flat(blobs)
    # pairs are in group order: each chunk of groups is one slice of them
    pair_group = np.repeat(group, sizes)
    group_ends = np.cumsum(np.bincount(pair_group, minlength=n_groups))
    found: list[Percentiles] = []
    total = np.zeros((1, _WIDTH))
    step = max(1, _TABLE_CELLS // _WIDTH)
    for first in range(0, n_groups, step):
        last = min(n_groups, first + step)
        start = int(group_ends[first - 1]) if first else 0
        stop = int(group_ends[last - 1])
        keys = (pair_group[start:stop] - first) * _WIDTH
        keys += values[start:stop]
        sums = np.bincount(keys, weights=counts[start:stop], minlength=(last - first) * _WIDTH)
        # weighted, so already floats (no copy): the stubs only know the unweighted kind
        table = np.asarray(sums, dtype=np.float64).reshape(last - first, _WIDTH)
        total += table.sum(axis=0)
        found += _table_percentiles(table, ps)
    return found, _table_percentiles(total, ps)[0]


def _table_percentiles(table: npt.NDArray[np.float64], ps: Sequence[float]) -> list[Percentiles]:
    """Nearest ranks of each row of a value-indexed count table (a row per group)."""
    # running totals per block of values, then within the one block where the rank falls:
    # a full running total of every row would cost a pass over the whole table
    blocks = np.cumsum(table.reshape(len(table), -1, _BLOCK).sum(axis=2), axis=1)
    found = []
    for row, running in zip(table, blocks, strict=True):
        n = int(running[-1])
        if n == 0:
            found.append(Percentiles(0, tuple(None for _ in ps)))
            continue
        ranks = []
        for p in ps:
            k = _rank(p, n)
            block = int(np.searchsorted(running, k, side="left"))
            before = running[block - 1] if block else 0.0
            within = np.cumsum(row[block * _BLOCK : (block + 1) * _BLOCK])
            ranks.append(block * _BLOCK + int(np.searchsorted(within, k - before, side="left")))
        found.append(Percentiles(n, tuple(ranks)))
    return found


def _rank(p: float, n: int) -> int:
    """k of the nearest rank: max(1, ⌈p/100 · n⌉) in exact arithmetic (0.9 · 10 must be 9)."""
    if not 0 <= p <= 100 or math.isnan(p):
        raise HistogramError("a percentile must be between 0 and 100")
    return max(1, math.ceil(Fraction(str(p)) * n / 100))


def merge(blobs: Iterable[bytes]) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """The sum of several histograms: sorted distinct values and their counts (numpy)."""
    totals = dense(blobs)
    present = np.flatnonzero(totals)
    return present.astype(np.int64), totals[present]


def nearest_rank(
    values: npt.NDArray[np.int64] | list[int],
    counts: npt.NDArray[np.int64] | list[int],
    p: float,
) -> int | None:
    """The ``p``-th percentile by nearest rank: the k-th smallest, k = max(1, ⌈p/100 · n⌉).

    ``values`` sorted ascending with their ``counts``; ``None`` when there are none.
    """
    if not 0 <= p <= 100 or math.isnan(p):
        raise HistogramError("a percentile must be between 0 and 100")
    cumulative = np.cumsum(np.asarray(counts, dtype=np.int64))
    n = int(cumulative[-1]) if len(cumulative) else 0
    if n == 0:
        return None
    index = int(np.searchsorted(cumulative, _rank(p, n), side="left"))
    return int(np.asarray(values)[index])
