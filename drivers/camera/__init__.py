"""The camera port: what the appliance needs from any camera backend."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import av


@dataclass(frozen=True)
class CameraInfo:
    """What a started camera delivers."""

    width: int
    height: int
    fps: float
    name: str


class Camera(Protocol):
    """A source of video frames.

    ``frame()`` has latest-frame semantics: it returns the next picture captured after the
    call (or the newest one not yet returned), never a backlog of stale frames. Each frame's
    ``time`` (``pts * time_base``) is its capture time in seconds since the epoch, so the
    consumer can derive RTP timestamps and latency from it.
    """

    @property
    def info(self) -> CameraInfo:
        """Size, rate and a name for logs."""
        ...

    async def start(self) -> None:
        """Open the device; raises a ``DriverError`` if it cannot."""
        ...

    async def frame(self) -> av.VideoFrame:
        """Wait for and return the next captured frame."""
        ...

    async def photo(self) -> av.VideoFrame:
        """A still picture at the camera's full resolution (for documents and ID photos)."""
        ...

    async def stop(self) -> None:
        """Release the device; idempotent."""
        ...
