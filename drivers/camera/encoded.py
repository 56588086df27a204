"""Cameras whose frames come out already encoded (a Pi's VideoCore, the stand-in).

The protocols live here, below the appliance, so that drivers can implement them without
importing ``appliance`` (import-linter forbids it); ``appliance.call.encoded`` re-exports
:class:`PacketSource` and feeds any of them to aiortc as packets.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

import av

from drivers.camera import Camera


@runtime_checkable
class PacketSource(Protocol):
    """Encoded video for one call: access units, keyframes on request, a target bitrate."""

    codec: str  # the RTP mime subtype: "VP8" | "H264"

    async def packet(self) -> av.Packet[Any]:
        """The next access unit; ``pts`` in its ``time_base`` (90 kHz)."""
        ...

    def request_keyframe(self) -> None:
        """Make the next frame this source emits a keyframe."""
        ...

    def set_target_bitrate(self, bps: int) -> None:
        """Encode at ``bps`` from now on (clamped to the source's limits)."""
        ...

    def set_blank(self, blank: bool) -> None:
        """Camera off: black frames, the stream kept."""
        ...

    async def close(self) -> None:
        """End this source; idempotent."""
        ...


@runtime_checkable
class EncodingCamera(Camera, Protocol):
    """A camera that also hands out encoded video, one :class:`PacketSource` per call."""

    def packet_source(
        self, on_preview: Callable[[av.VideoFrame], None] | None = None
    ) -> PacketSource:
        """A new call's source; it starts on a keyframe. ``on_preview`` gets a small picture
        now and then (the self view). Closing it leaves the camera running."""
        ...
