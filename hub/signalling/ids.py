"""Consultation ids: unguessable like before, and ordered by the time they were made.

An id is 22 characters of ``protocol.limits.ID_PATTERN``: 8 for 48 bits of milliseconds since
the epoch, in an alphabet whose order is ASCII order (so ids sort as text, SQLite's BINARY
collation included, in time order), then 14 of base64url for 80 random bits from ``secrets``.
Time-ordered ids keep the database's id index appended to at its end rather than written all
over, which is what lets the retention purge delete a year of rows in seconds (docs/storage.md).
"""

from __future__ import annotations

import secrets

__all__ = ["ID_LENGTH", "RANDOM_BITS", "SORTED_ALPHABET", "new_consultation_id"]

# the 64 characters of base64url, in ASCII order: '-' < digits < upper case < '_' < lower case
SORTED_ALPHABET = "-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz"
TIME_SYMBOLS = 8  # 48 bits of milliseconds: until the year 10889
RANDOM_BYTES = 10
RANDOM_BITS = 8 * RANDOM_BYTES
ID_LENGTH = TIME_SYMBOLS + 14  # base64url of 10 bytes is 14 characters without padding
MAX_MS = (1 << (6 * TIME_SYMBOLS)) - 1


def _time_part(ms: int) -> str:
    if not 0 <= ms <= MAX_MS:
        raise ValueError(f"a consultation id's time must be 0..{MAX_MS} ms since the epoch")
    return "".join(SORTED_ALPHABET[(ms >> (6 * i)) & 63] for i in reversed(range(TIME_SYMBOLS)))


def new_consultation_id(now_ms: int) -> str:
    """A fresh consultation id made at ``now_ms`` (milliseconds since the epoch, by the hub's
    clock): ids made in later milliseconds sort after earlier ones, as text."""
    return _time_part(now_ms) + secrets.token_urlsafe(RANDOM_BYTES)
