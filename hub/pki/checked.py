"""Device certificates whose chain and profile already passed, so a hello need not redo them.

Keyed by the SHA-256 of the certificate's DER and remembered with the tenant CA it was checked
against: the result of those checks depends on nothing else. Validity (the clock), the
signature over the connection's nonce and revocation (the database) are checked at every
hello all the same. Bounded: the least recently used entry goes first.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass

from cryptography import x509

CHECKED_MAX = 4096  # a hub's fleet, roughly; a miss only costs the checks (~0.1 ms)


@dataclass(frozen=True)
class Checked:
    """A certificate that chains to ``ca`` and fits the device profile, and its tenant."""

    cert: x509.Certificate
    tenant: str
    ca: x509.Certificate


class CheckedCertificates:
    """A bounded LRU map from a certificate's DER to its passed checks; counts hits."""

    def __init__(self, max_entries: int = CHECKED_MAX) -> None:
        if max_entries < 1:
            raise ValueError("the cache of checked certificates needs room for one at least")
        self._max = max_entries
        self._entries: OrderedDict[bytes, Checked] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, der: bytes) -> Checked | None:
        """The checks ``der`` passed, or None (counted as a miss)."""
        key = hashlib.sha256(der).digest()
        found = self._entries.get(key)
        if found is None:
            self.misses += 1
            return None
        self._entries.move_to_end(key)
        self.hits += 1
        return found

    def add(self, der: bytes, checked: Checked) -> None:
        """Remember that ``der`` passed; the least recently used entry makes room."""
        key = hashlib.sha256(der).digest()
        self._entries[key] = checked
        self._entries.move_to_end(key)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)
