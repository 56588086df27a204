"""The microphone port: what the appliance needs from any audio capture backend."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import av

# aiortc packetises audio in 20 ms frames; delivering exactly that avoids re-buffering.
FRAME_SECONDS = 0.020


@dataclass(frozen=True)
class MicrophoneInfo:
    """What a started microphone delivers."""

    sample_rate: int
    channels: int
    name: str


class Microphone(Protocol):
    """A source of 20 ms signed 16-bit audio frames.

    Each frame's ``pts`` counts samples since ``start()`` (``time_base = 1/sample_rate``).
    """

    @property
    def info(self) -> MicrophoneInfo:
        """Rate, channels and a name for logs."""
        ...

    async def start(self) -> None:
        """Open the device; raises a ``DriverError`` if it cannot."""
        ...

    async def frame(self) -> av.AudioFrame:
        """Wait for and return the next 20 ms of audio."""
        ...

    async def stop(self) -> None:
        """Release the device; idempotent."""
        ...
