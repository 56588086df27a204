"""The waiting line of one tenant: first come, first served. Pure, no I/O."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class Waiting:
    """A kiosk waiting for an adviser."""

    consultation_id: str
    device: str
    queued_at: float


class ConsultationQueue:
    """FIFO of waiting kiosks, keyed by consultation id."""

    def __init__(self) -> None:
        # dicts keep insertion order, which is exactly arrival order
        self._entries: dict[str, Waiting] = {}

    def add(self, entry: Waiting) -> int:
        """Append ``entry``; return its 1-based position. A duplicate id raises ``ValueError``."""
        if entry.consultation_id in self._entries:
            raise ValueError(f"consultation {entry.consultation_id} is already queued")
        self._entries[entry.consultation_id] = entry
        return len(self._entries)

    def remove(self, consultation_id: str) -> Waiting | None:
        """Take an entry out wherever it stands; None when it is not queued."""
        return self._entries.pop(consultation_id, None)

    def position(self, consultation_id: str) -> int | None:
        """1-based position of an entry, or None when it is not queued."""
        for index, key in enumerate(self._entries, start=1):
            if key == consultation_id:
                return index
        return None

    def snapshot(self) -> tuple[Waiting, ...]:
        """The entries in order, first to be served first."""
        return tuple(self._entries.values())

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, consultation_id: object) -> bool:
        return consultation_id in self._entries

    def __iter__(self) -> Iterator[Waiting]:
        return iter(self.snapshot())
