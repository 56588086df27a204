"""The speaker port: plays the adviser's audio."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import av


@dataclass(frozen=True)
class SpeakerInfo:
    """What a started speaker plays."""

    sample_rate: int
    channels: int
    name: str


class Speaker(Protocol):
    """A sink for audio frames (any format or rate: the backend converts)."""

    @property
    def info(self) -> SpeakerInfo:
        """Rate, channels and a name for logs."""
        ...

    async def start(self) -> None:
        """Open the device; raises a ``DriverError`` if it cannot."""
        ...

    async def play(self, frame: av.AudioFrame) -> None:
        """Queue ``frame`` for playback without waiting for it to be heard."""
        ...

    async def stop(self) -> None:
        """Release the device; idempotent."""
        ...
