"""Counts per hour of one day, stored as a blob in the statistics roll-ups (``stats_days``).

One roll-up row per tenant, UTC day and branch holds how many counted consultations queued in
each hour of that day were accepted and abandoned, so a year's page reads a few thousand rows
instead of one row per hour (docs/statistics.md, "Roll-ups").

Blob format: ``b""`` for none; otherwise exactly ``2 × 24`` little-endian uint32: the accepted
per UTC hour 0–23, then the abandoned per hour (queued = accepted + abandoned).
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

HOURS = 24
SIZE = 2 * HOURS * 4  # bytes of a non-empty blob
_LAYOUT = struct.Struct(f"<{2 * HOURS}I")
_MAX_COUNT = 2**32 - 1


class HourCountsError(ValueError):
    """A blob that is not a day's hour counts, or an impossible count."""


def encode(accepted: Sequence[int], abandoned: Sequence[int]) -> bytes:
    """The blob of 24 accepted and 24 abandoned counts; ``b""`` when all are zero."""
    if len(accepted) != HOURS or len(abandoned) != HOURS:
        raise HourCountsError(f"hour counts come in two lists of {HOURS}")
    counts = [*accepted, *abandoned]
    if any(
        isinstance(n, bool) or not isinstance(n, int) or not 0 <= n <= _MAX_COUNT for n in counts
    ):
        raise HourCountsError(f"an hour count must be a whole number in [0, {_MAX_COUNT}]")
    if not any(counts):
        return b""
    return _LAYOUT.pack(*counts)


def decode(blob: bytes) -> tuple[list[int], list[int]]:
    """``(accepted, abandoned)``, 24 counts each, of a blob."""
    if not blob:
        return [0] * HOURS, [0] * HOURS
    if len(blob) != SIZE:
        raise HourCountsError(f"hour counts are {SIZE} bytes, not {len(blob)}")
    counts = list(_LAYOUT.unpack(blob))
    return counts[:HOURS], counts[HOURS:]


def adjust(blob: bytes, hour: int, *, accepted: bool, delta: int) -> bytes:
    """The blob with ``delta`` added to one hour's accepted (or abandoned) count.

    A count below zero means a consultation was taken out twice: a bug, refused.
    """
    if isinstance(hour, bool) or not isinstance(hour, int) or not 0 <= hour < HOURS:
        raise HourCountsError(f"an hour of the day is a whole number in [0, {HOURS - 1}]")
    counts = decode(blob)
    column = counts[0 if accepted else 1]
    if column[hour] + delta < 0:
        raise HourCountsError(f"taking {-delta} from a count of {column[hour]} leaves it negative")
    column[hour] += delta
    return encode(*counts)


def decode_many(blobs: Sequence[bytes]) -> npt.NDArray[np.int64]:
    """Many blobs at once (numpy): shape ``(len(blobs), 2, 24)``, [i, 0] accepted, [i, 1]
    abandoned per hour."""
    bad = [len(blob) for blob in blobs if len(blob) not in (0, SIZE)]
    if bad:
        raise HourCountsError(f"hour counts are {SIZE} bytes, not {bad[0]}")
    empty = bytes(SIZE)
    flat = np.frombuffer(b"".join(blob or empty for blob in blobs), dtype="<u4")
    return flat.astype(np.int64).reshape(len(blobs), 2, HOURS)
