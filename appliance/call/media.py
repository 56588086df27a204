"""Adapters between our drivers and aiortc tracks, and a probe for received media.

``CameraTrack`` and ``MicrophoneTrack`` turn a driver into an aiortc ``MediaStreamTrack`` with
RTP-ready timestamps. ``MediaProbe`` consumes the adviser's tracks and records cheap evidence
that picture and sound arrived (frame counts, first-frame time, non-black, audio level).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable
from fractions import Fraction
from typing import Any

import av
import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from appliance.call.opus_packets import OpusPacketizer
from drivers.camera import Camera
from drivers.errors import DriverError
from drivers.microphone import Microphone

log = logging.getLogger(__name__)

VIDEO_CLOCK_RATE = 90_000
VIDEO_TIME_BASE = Fraction(1, VIDEO_CLOCK_RATE)
AUDIO_RATE = 48_000
AUDIO_TIME_BASE = Fraction(1, AUDIO_RATE)
# Limited-range black is luma 16 and an encoder keeps it within a step or two; a real picture,
# even a dark one (Chromium's fake camera averages ~30), is clearly above.
NON_BLACK_LUMA = 22.0
# Look at one video frame in this many: enough evidence, negligible CPU.
SAMPLE_EVERY = 15
# The audio level is measured on every frame, not sampled: a sound as short as one frame
# (Chromium's fake microphone beeps 20 ms every 500 ms, 25 frames) could be missed every time.


class CameraTrack(MediaStreamTrack):
    """A video track fed by a :class:`drivers.camera.Camera`.

    The camera stays owned by the caller (it outlives calls); stopping the track only ends
    this track. Timestamps follow the monotonic clock at 90 kHz, starting at 0.
    """

    kind = "video"

    def __init__(
        self,
        camera: Camera,
        clock: Callable[[], float] = time.monotonic,
        *,
        blank: Callable[[], bool] = lambda: False,
        on_frame: Callable[[av.VideoFrame], None] | None = None,
    ) -> None:
        super().__init__()
        self._camera = camera
        self._clock = clock
        self._blank = blank  # the customer turned the camera off: send black, keep the stream
        self._on_frame = on_frame  # the kiosk's self view
        self._first_capture: float | None = None
        self._last_pts = -1

    async def recv(self) -> av.VideoFrame:
        """The camera's next frame, stamped for RTP."""
        if self.readyState != "live":
            raise MediaStreamError
        try:
            frame = await self._camera.frame()
        except DriverError as exc:
            log.warning("camera stopped delivering: %s", exc)
            self.stop()
            raise MediaStreamError from exc
        if self._blank():
            frame = black_like(frame)
        if self._on_frame is not None:
            self._on_frame(frame)
        # A monotonic clock, not the frame's wall-clock time: a Pi has no RTC, and the first
        # NTP sync can step the wall clock by hours mid-call, which would freeze the video.
        captured = self._clock()
        if self._first_capture is None:
            self._first_capture = captured
        pts = round((captured - self._first_capture) * VIDEO_CLOCK_RATE)
        self._last_pts = pts = max(pts, self._last_pts + 1)  # strictly increasing for RTP
        frame.pts = pts
        frame.time_base = VIDEO_TIME_BASE
        return frame


class MicrophoneTrack(MediaStreamTrack):
    """An audio track fed by a :class:`drivers.microphone.Microphone`: Opus packets.

    The track encodes the microphone's 20 ms frames itself (appliance/call/opus_packets.py) so
    that aiortc only packetises them; packets are stamped in the 48 kHz RTP clock. Encoding
    runs on the event loop: one frame costs less than handing it to a thread.
    """

    kind = "audio"

    def __init__(
        self, microphone: Microphone, *, silence: Callable[[], bool] = lambda: False
    ) -> None:
        super().__init__()
        self._microphone = microphone
        self._silence = silence  # the customer muted: send silence, keep the stream and clock
        self._opus = OpusPacketizer()
        self._ready: deque[av.Packet[Any]] = deque()  # a resampling microphone may give several

    async def recv(self) -> av.Packet[Any]:
        """The next 20 ms of the microphone as an Opus packet, stamped for RTP."""
        while not self._ready:
            if self.readyState != "live":
                raise MediaStreamError
            try:
                frame = await self._microphone.frame()
            except DriverError as exc:
                log.warning("microphone stopped delivering: %s", exc)
                self.stop()
                raise MediaStreamError from exc
            if self._silence():
                self._ready.extend(self._opus.encode_silence(frame))
            else:
                self._ready.extend(self._opus.encode(frame))
        return self._ready.popleft()


def black_like(frame: av.VideoFrame) -> av.VideoFrame:
    """A black yuv420p frame of ``frame``'s size (what goes out while the camera is off)."""
    width, height = frame.width, frame.height
    planes = np.empty((height * 3 // 2, width), dtype=np.uint8)
    planes[:height] = 16  # limited-range black
    planes[height:] = 128  # no colour
    return av.VideoFrame.from_ndarray(planes, format="yuv420p")


def mean_luma(frame: av.VideoFrame, step: int = 16) -> float:
    """Mean luma over a sparse grid of the frame (every ``step``-th pixel both ways)."""
    if frame.format.name != "yuv420p":
        frame = frame.reformat(format="yuv420p")
    plane = frame.planes[0]
    rows = np.frombuffer(memoryview(plane), dtype=np.uint8).reshape(-1, plane.line_size)
    return float(rows[: frame.height : step, : frame.width : step].mean())


def audio_rms(frame: av.AudioFrame) -> float:
    """Root mean square of an audio frame, 0 (silence) to 1 (full scale)."""
    samples = frame.to_ndarray()
    if samples.size == 0:
        return 0.0
    # One float32 copy and a BLAS dot product: a third of the cost of square-then-mean in
    # float64, and exact enough for a level (24-bit mantissa per product).
    flat = samples.reshape(-1).astype(np.float32)
    rms = math.sqrt(float(np.dot(flat, flat)) / flat.size)
    if np.issubdtype(samples.dtype, np.floating):
        return rms
    return rms / float(2 ** (8 * samples.dtype.itemsize - 1))  # signed PCM full scale


class MediaProbe:
    """Watches received tracks and keeps numbers that prove media arrived.

    ``on_video`` is called with every decoded video frame (tests read the capture clock from
    it); keep it cheap, it runs on the event loop. Frames of the adviser's screen (the second,
    receive-only video of docs/exchange.md) go to ``on_screen`` instead and are counted apart.
    """

    def __init__(
        self,
        *,
        on_video: Callable[[av.VideoFrame], None] | None = None,
        on_screen: Callable[[av.VideoFrame], None] | None = None,
        audio_sink: Callable[[av.AudioFrame], Awaitable[None]] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._on_video = on_video
        self._on_screen = on_screen
        self.screen_frames = 0
        self._audio_sink = audio_sink  # the speaker: the customer hears the adviser
        self._clock = clock
        self._tasks: list[asyncio.Task[None]] = []
        self.video_frames = 0
        self.audio_frames = 0
        self.first_video_at: float | None = None  # ``clock()`` time
        self.first_video_wall_ms: int | None = None  # wall clock, to compare with other hosts
        self.first_audio_at: float | None = None
        self.non_black_seen = False
        self.last_luma: float | None = None
        self.audio_rms = 0.0  # of the latest audio frame
        self.peak_audio_rms = 0.0
        self._video_event = asyncio.Event()
        self._audio_event = asyncio.Event()

    def watch(self, track: MediaStreamTrack) -> None:
        """Start consuming ``track`` (video or audio) until it ends or ``stop()``."""
        consume = self._consume_video if track.kind == "video" else self._consume_audio
        self._tasks.append(asyncio.create_task(consume(track), name=f"probe-{track.kind}"))

    def watch_screen(self, track: MediaStreamTrack) -> None:
        """Start consuming the adviser's screen track until it ends or ``stop()``."""
        self._tasks.append(asyncio.create_task(self._consume_screen(track), name="probe-screen"))

    async def _consume_screen(self, track: MediaStreamTrack) -> None:
        with contextlib.suppress(MediaStreamError):
            while True:
                frame = await track.recv()
                if not isinstance(frame, av.VideoFrame):
                    continue
                self.screen_frames += 1
                if self._on_screen is not None:
                    self._on_screen(frame)

    async def _consume_video(self, track: MediaStreamTrack) -> None:
        with contextlib.suppress(MediaStreamError):
            while True:
                frame = await track.recv()
                if not isinstance(frame, av.VideoFrame):
                    continue
                self.video_frames += 1
                if self.first_video_at is None:
                    self.first_video_at = self._clock()
                    self.first_video_wall_ms = int(time.time() * 1000)
                if self.video_frames % SAMPLE_EVERY == 1:
                    self.last_luma = mean_luma(frame)
                    self.non_black_seen = self.non_black_seen or self.last_luma > NON_BLACK_LUMA
                if self._on_video is not None:
                    self._on_video(frame)
                self._video_event.set()

    async def _consume_audio(self, track: MediaStreamTrack) -> None:
        with contextlib.suppress(MediaStreamError):
            while True:
                frame = await track.recv()
                if not isinstance(frame, av.AudioFrame):
                    continue
                self.audio_frames += 1
                if self.first_audio_at is None:
                    self.first_audio_at = self._clock()
                self.audio_rms = audio_rms(frame)
                self.peak_audio_rms = max(self.peak_audio_rms, self.audio_rms)
                if self._audio_sink is not None:
                    try:
                        await self._audio_sink(frame)
                    except DriverError as exc:
                        # A speaker that vanished must not end the call; say so once.
                        log.warning("speaker stopped playing: %s", exc)
                        self._audio_sink = None
                self._audio_event.set()

    async def wait_video(self, frames: int = 1) -> None:
        """Return once at least ``frames`` video frames were decoded."""
        while self.video_frames < frames:
            self._video_event.clear()
            await self._video_event.wait()

    async def wait_audio(self, frames: int = 1) -> None:
        """Return once at least ``frames`` audio frames were decoded."""
        while self.audio_frames < frames:
            self._audio_event.clear()
            await self._audio_event.wait()

    async def stop(self) -> None:
        """Stop consuming; idempotent."""
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
