"""Conversation references: what the goodbye screen shows and the data-protection officer types.

Ten Crockford base32 symbols (50 random bits), written ``XXXXX-XXXXX``: unguessable, not the
internal consultation id, and forgiving when read aloud or copied by hand (O is 0, I and L are 1).
"""

from __future__ import annotations

import re
import secrets

from protocol.messages import REFERENCE_PATTERN

__all__ = ["ALPHABET", "REFERENCE_PATTERN", "BadReference", "new_reference", "parse_reference"]

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford: no I, L, O, U
SYMBOLS = 10
BITS = 5 * SYMBOLS
MAX_INPUT = 64  # longer text is no reference, whatever it holds
_READ_AS = str.maketrans({"O": "0", "I": "1", "L": "1"})
_DROPPED = re.compile(r"[\s-]+")


class BadReference(ValueError):
    """Text that is not a conversation reference (the message never repeats the text)."""


def _format(symbols: str) -> str:
    return f"{symbols[:5]}-{symbols[5:]}"


def new_reference() -> str:
    """A fresh reference, ``XXXXX-XXXXX``, from 50 bits of ``secrets``."""
    number = secrets.randbits(BITS)
    symbols = "".join(ALPHABET[(number >> (5 * i)) & 31] for i in reversed(range(SYMBOLS)))
    return _format(symbols)


def parse_reference(text: str) -> str:
    """The canonical form of a reference as typed: case, spaces, dashes, O/I/L forgiven.

    Raises ``BadReference`` for anything else.
    """
    # ASCII first: upper-casing "ı" or "ſ" would otherwise turn them into I and S
    if len(text) > MAX_INPUT or not text.isascii():
        raise BadReference("a conversation reference is ten letters and digits, like 7K3QD-M9X2A")
    symbols = _DROPPED.sub("", text.upper()).translate(_READ_AS)
    if len(symbols) != SYMBOLS or any(s not in ALPHABET for s in symbols):
        raise BadReference("a conversation reference is ten letters and digits, like 7K3QD-M9X2A")
    return _format(symbols)
