"""The kiosk's video leaves as encoded packets: aiortc only packetises, protects and sends.

A :class:`PacketSource` hands out access units (``av.Packet``, pts in 90 kHz).
:class:`SoftwareVideoSource` encodes a camera's raw frames with the settings of
``appliance.call.codecs`` in one long-lived thread of its own (never the event loop, never
the shared default executor); a hardware camera (``drivers.camera.encoded.EncodingCamera``)
brings its own source. :class:`EncodedVideoTrack` is what aiortc's sender reads, and
:func:`tap_sender` routes the browser's PLI/FIR and REMB to the source, which aiortc would
otherwise apply only to its own encoder (docs/media-path.md).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import av
from aiortc import RTCPeerConnection, RTCRtpCodecCapability, RTCRtpSender
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.rtp import (
    RTCP_PSFB_APP,
    RTCP_PSFB_FIR,
    RTCP_PSFB_PLI,
    RtcpPsfbPacket,
    unpack_remb_fci,
)
from av.video.codeccontext import VideoCodecContext

from appliance.call.codecs import (
    VIDEO_CLOCK_RATE,
    VIDEO_TIME_BASE,
    CodecSettingsError,
    VideoCodecSettings,
    open_encoder,
)
from appliance.call.media import black_like
from drivers.camera import Camera
from drivers.camera.encoded import PacketSource as PacketSource
from drivers.errors import DriverError

log = logging.getLogger(__name__)

# Reopening libvpx/libx264 is the only way PyAV changes the bitrate (measured: setting
# bit_rate on an open context changes nothing) and each reopen costs a keyframe, so small
# REMB wobbles are ignored and reopens are at least this far apart.
BITRATE_STEP = 0.10
REOPEN_INTERVAL_S = 1.0


class SourceError(Exception):
    """A packet source cannot deliver (closed, its camera stopped, or its encoder failed)."""


class SourceClosed(SourceError):
    """``packet()`` after ``close()``: the call is over, build a new source for the next one."""


class AiortcSeamError(RuntimeError):
    """aiortc's sender no longer has the RTCP hook we tap: pin aiortc or update tap_sender."""


class SoftwareVideoSource:
    """Camera frames -> PyAV encoder (``open_encoder``) in this source's own thread.

    ``on_frame`` gets every raw frame first (the self view; black while blanked). Frames are
    stamped from the monotonic clock, so the pts keep increasing whatever the wall clock does.
    """

    def __init__(
        self,
        camera: Camera,
        settings: VideoCodecSettings,
        *,
        on_frame: Callable[[av.VideoFrame], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.codec: str = settings.codec
        self.settings = settings
        self._camera = camera
        self._on_frame = on_frame
        self._clock = clock
        # One worker: frames are encoded in order, and the encoder is only touched there.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="video-encode")
        self._encoder: VideoCodecContext | None = None
        self._reopened_at: float | None = None  # pts seconds of the last bitrate reopen
        self._keyframe = True  # the far end can decode nothing before a keyframe
        self._target = settings.start_bitrate
        self._blank = False
        self._pending: deque[av.Packet[Any]] = deque()
        self._first_capture: float | None = None
        self._last_pts = -1
        self._closed = False

    @property
    def target_bitrate(self) -> int:
        """The bitrate asked for (clamped); the encoder follows on its next frame."""
        return self._target

    @property
    def bitrate(self) -> int | None:
        """The bitrate the encoder runs at, once it is open."""
        encoder = self._encoder
        return None if encoder is None else encoder.bit_rate

    def request_keyframe(self) -> None:
        """The next frame this source encodes is a keyframe."""
        self._keyframe = True

    def set_target_bitrate(self, bps: int) -> None:
        """Aim for ``bps``, clamped to the settings' min/max."""
        self._target = self.settings.clamp(bps)

    def set_blank(self, blank: bool) -> None:
        """Camera off: encode black frames (the stream and its clock keep running)."""
        self._blank = blank

    async def prepare(self) -> None:
        """Open the encoder now, in the source's thread, at the camera's size and rate.

        The kiosk calls this while it waits in the queue with its pre-gathered offer: opening
        libvpx costs 10-70 ms (more at 720p), which would otherwise delay the call's first
        frame after the adviser accepts. Idempotent; a size change later still reopens.
        """
        if self._closed:
            raise SourceClosed("the video source is closed")
        info = self._camera.info
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self._warm, info.width, info.height)

    async def packet(self) -> av.Packet[Any]:
        """The next access unit, pts in ``VIDEO_TIME_BASE``."""
        while not self._pending:
            if self._closed:
                raise SourceClosed("the video source is closed")
            try:
                frame = await self._camera.frame()
            except DriverError as exc:
                raise SourceError(f"the camera stopped delivering: {exc}") from exc
            if self._closed:  # closed while waiting for the camera: the thread is gone
                raise SourceClosed("the video source is closed")
            if self._blank:
                frame = black_like(frame)
            if self._on_frame is not None:
                self._on_frame(frame)
            self._stamp(frame)
            keyframe, self._keyframe = self._keyframe, False
            loop = asyncio.get_running_loop()
            packets = await loop.run_in_executor(
                self._executor, self._encode, frame, keyframe, self._target
            )
            if self._closed:
                raise SourceClosed("the video source is closed")
            self._pending.extend(packets)
        return self._pending.popleft()

    def _stamp(self, frame: av.VideoFrame) -> None:
        # A monotonic clock, not the frame's wall-clock time: a Pi has no RTC, and the first
        # NTP sync can step the wall clock by hours mid-call, which would freeze the video.
        captured = self._clock()
        if self._first_capture is None:
            self._first_capture = captured
        pts = round((captured - self._first_capture) * VIDEO_CLOCK_RATE)
        self._last_pts = pts = max(pts, self._last_pts + 1)  # strictly increasing for RTP
        frame.pts = pts
        frame.time_base = VIDEO_TIME_BASE

    def _encode(self, frame: av.VideoFrame, keyframe: bool, target: int) -> list[av.Packet[Any]]:
        """Runs in the source's thread only."""
        if frame.format.name != "yuv420p":
            frame = frame.reformat(format="yuv420p")
        encoder = self._encoder
        now_s = (frame.pts or 0) / VIDEO_CLOCK_RATE
        if encoder is not None and (encoder.width, encoder.height) != (frame.width, frame.height):
            encoder = None
        elif encoder is not None and self._should_reopen(encoder, target, now_s):
            self._reopened_at = now_s
            encoder = None
        if encoder is None:
            encoder = self._open(frame.width, frame.height, target)
        frame.pict_type = (
            av.video.frame.PictureType.I if keyframe else av.video.frame.PictureType.NONE
        )
        packets = encoder.encode(frame)
        for packet in packets:
            packet.time_base = VIDEO_TIME_BASE
        return packets

    def _warm(self, width: int, height: int) -> None:
        """Runs in the source's thread only: open the encoder unless one of that size is."""
        encoder = self._encoder
        if encoder is None or (encoder.width, encoder.height) != (width, height):
            self._open(width, height, self._target)

    def _open(self, width: int, height: int, target: int) -> VideoCodecContext:
        """Runs in the source's thread only: a new encoder, kept for the next frames."""
        fps = float(getattr(self._camera.info, "fps", 30.0)) or 30.0
        encoder = open_encoder(self.settings, width, height, fps, target)
        self._encoder = encoder
        return encoder

    def _should_reopen(self, encoder: VideoCodecContext, target: int, now_s: float) -> bool:
        current = encoder.bit_rate or self.settings.start_bitrate
        if abs(target - current) <= BITRATE_STEP * current:
            return False
        return self._reopened_at is None or now_s - self._reopened_at >= REOPEN_INTERVAL_S

    async def close(self) -> None:
        """Stop encoding and release the thread; idempotent. The camera stays open."""
        if self._closed:
            return
        self._closed = True
        self._pending.clear()
        loop = asyncio.get_running_loop()
        # The encoder belongs to the thread: let it finish and drop it there.
        await loop.run_in_executor(self._executor, self._release)
        self._executor.shutdown(wait=False)

    def _release(self) -> None:
        self._encoder = None


class EncodedVideoTrack(MediaStreamTrack):
    """A video track whose ``recv()`` gives aiortc ready packets from a :class:`PacketSource`.

    If the source fails or is closed the track ends (aiortc stops sending); the source is
    the caller's to close.
    """

    kind = "video"

    def __init__(self, source: PacketSource) -> None:
        super().__init__()
        self.source = source

    async def recv(self) -> av.Packet[Any]:
        """The source's next access unit."""
        if self.readyState != "live":
            raise MediaStreamError
        try:
            return await self.source.packet()
        except SourceClosed:
            self.stop()
            raise MediaStreamError from None
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # any failure ends the video, never the call's loop
            log.warning("the video source failed, video stops: %s", type(exc).__name__)
            self.stop()
            raise MediaStreamError from exc


RtcpHandler = Callable[[Any], Awaitable[None]]


def tap_sender(sender: RTCRtpSender, source: PacketSource) -> None:
    """Route the browser's PLI/FIR to ``source.request_keyframe`` and REMB to its bitrate.

    aiortc applies both to its own encoder only, which packets bypass; we wrap the sender's
    RTCP handler (an instance attribute, so only this sender) and still forward everything.
    """
    original = getattr(sender, "_handle_rtcp_packet", None)
    if original is None or not inspect.iscoroutinefunction(original):
        raise AiortcSeamError(
            "aiortc's RTCRtpSender has no async _handle_rtcp_packet: keyframe requests and "
            "bandwidth estimates would be lost; pin aiortc 1.16 or update tap_sender"
        )
    ssrc = getattr(sender, "_ssrc", None)
    if not isinstance(ssrc, int):
        raise AiortcSeamError("aiortc's RTCRtpSender has no _ssrc: update tap_sender")
    forward: RtcpHandler = original

    async def handle(packet: Any) -> None:
        if isinstance(packet, RtcpPsfbPacket):
            if packet.fmt in (RTCP_PSFB_PLI, RTCP_PSFB_FIR):
                source.request_keyframe()
            elif packet.fmt == RTCP_PSFB_APP:
                try:
                    bitrate, ssrcs = unpack_remb_fci(packet.fci)
                except ValueError:
                    pass  # not a REMB (or a broken one): aiortc ignores it too
                else:
                    if ssrc in ssrcs:
                        source.set_target_bitrate(bitrate)
        await forward(packet)

    sender._handle_rtcp_packet = handle  # type: ignore[method-assign]  # noqa: SLF001


def codec_preferences(codec: str) -> list[RTCRtpCodecCapability]:
    """aiortc's video codecs restricted to ``codec`` (and its retransmissions)."""
    capabilities = RTCRtpSender.getCapabilities("video").codecs
    mime = f"video/{codec}".lower()
    chosen = [c for c in capabilities if c.mimeType.lower() == mime]
    if not chosen:
        raise SourceError(f"aiortc cannot send {codec!r} video: use VP8 or H264")
    return chosen + [c for c in capabilities if c.mimeType.lower() == "video/rtx"]


async def prepare_source(source: PacketSource) -> None:
    """Warm ``source`` up before the call (its encoder opened), if it is a software source.

    A warm-up that fails is only logged: the first frame tries again, and if that fails too
    the video ends (``EncodedVideoTrack``), never the call.
    """
    if not isinstance(source, SoftwareVideoSource):
        return  # a hardware source's encoder runs from the camera's start
    try:
        await source.prepare()
    except (av.FFmpegError, CodecSettingsError, ValueError) as exc:
        log.warning("the video encoder did not open ahead of the call: %s", type(exc).__name__)


def add_encoded_video(pc: RTCPeerConnection, source: PacketSource) -> EncodedVideoTrack:
    """Send ``source`` on ``pc``: its packets as a track, RTCP tapped, only its codec offered.

    Offering only the source's codec makes sure VP8 packets never go out labelled H.264 (or
    the reverse), whatever the browser would have preferred.
    """
    track = EncodedVideoTrack(source)
    sender = pc.addTrack(track)
    tap_sender(sender, source)
    transceiver = next(t for t in pc.getTransceivers() if t.sender is sender)
    transceiver.setCodecPreferences(codec_preferences(source.codec))
    return track
