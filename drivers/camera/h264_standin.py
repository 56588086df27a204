"""A stand-in for a hardware H.264 camera: the encoder runs in a child process.

On a Pi 4 the VideoCore encodes the camera's frames (docs/hardware-video.md); the kiosk only
packetises. This camera reproduces that shape here: ``python -m
drivers.camera.h264_standin_worker`` draws the test picture and encodes it (constrained
baseline, SPS/PPS before every IDR, IDR on request, bitrate on command), so the kiosk's own
process spends nothing on encoding and the child's CPU can be counted apart.

The child starts with :meth:`H264StandinCamera.start` and lives across calls; each call takes
a :meth:`~H264StandinCamera.packet_source`, which begins on an IDR. A broken stream (bad
framing, the child dying) ends every source with a :class:`~drivers.errors.DriverError`;
:meth:`~H264StandinCamera.stop` kills and reaps the child.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import av
import numpy as np

from drivers.camera import CameraInfo
from drivers.camera.simulated import TIME_BASE, TestPicture
from drivers.camera.standin_wire import (
    MAX_BITRATE,
    MIN_BITRATE,
    Bitrate,
    Blank,
    Command,
    EncodedPacket,
    Keyframe,
    KeyframeAck,
    Preview,
    WireError,
    WireParser,
    encode_command,
)
from drivers.errors import DeviceGone, DeviceNotStarted, DriverError, UnsupportedSetting

log = logging.getLogger(__name__)

VIDEO_TIME_BASE = Fraction(1, 90_000)
DEFAULT_BITRATE = 1_000_000
# Packets a call may fall behind by before it skips to the next IDR (about a second).
QUEUE_PACKETS = 32
# The child ends on its own when its stdin closes; one that does not is terminated, then killed.
EXIT_GRACE_S = 1.0


@dataclass
class KeyframeStats:
    """How keyframe requests were answered (the e2e test and the benchmark read these)."""

    requests: int = 0  # acknowledged by the child
    next_frame: int = 0  # answered by the very next frame the child produced
    late: int = 0  # the next frame was not an IDR (a bug in the stand-in)


class H264StandinCamera:
    """A :class:`drivers.camera.encoded.EncodingCamera` backed by the stand-in child."""

    codec = "H264"
    exit_grace_s = EXIT_GRACE_S

    def __init__(
        self,
        width: int = 640,
        height: int = 480,
        fps: int = 30,
        *,
        bitrate: int = DEFAULT_BITRATE,
        min_bitrate: int = 300_000,
        max_bitrate: int = 4_000_000,
        command: Sequence[str] | None = None,
        name: str = "h264 stand-in camera",
    ) -> None:
        self._picture = TestPicture(width, height)  # checks the size as the simulator does
        if isinstance(fps, bool) or not isinstance(fps, int) or not 1 <= fps <= 120:
            raise UnsupportedSetting(f"fps {fps!r} must be a whole number 1..120", device=name)
        if not MIN_BITRATE <= min_bitrate <= bitrate <= max_bitrate <= MAX_BITRATE:
            raise UnsupportedSetting(
                f"bitrates must satisfy {MIN_BITRATE} <= min <= start <= max <= {MAX_BITRATE}",
                device=name,
            )
        self._info = CameraInfo(width=width, height=height, fps=float(fps), name=name)
        self._bitrate = bitrate
        self.min_bitrate, self.max_bitrate = min_bitrate, max_bitrate
        self._command = list(command) if command is not None else self.worker_command()
        self._proc: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None
        self._sources: list[StandinPacketSource] = []
        self._failure: DriverError | None = None
        self._await_after_ack: int | None = None  # an ack was read; the next packet is judged
        self._preview_waiters: list[asyncio.Future[av.VideoFrame]] = []
        self.keyframes = KeyframeStats()
        self.packets = 0
        self.child_pid: int | None = None  # for the benchmark's /proc reading

    def worker_command(self) -> list[str]:
        """The child's command line for this camera's size, rate and start bitrate."""
        info = self._info
        return [
            sys.executable,
            "-m",
            "drivers.camera.h264_standin_worker",
            f"--width={info.width}",
            f"--height={info.height}",
            f"--fps={int(info.fps)}",
            f"--bitrate={self._bitrate}",
        ]

    @property
    def info(self) -> CameraInfo:
        """Size, rate and name."""
        return self._info

    async def start(self) -> None:
        """Start the encoder child; idempotent. Raises DriverError if it cannot run."""
        if self._proc is not None:
            return
        try:
            proc = await asyncio.create_subprocess_exec(
                *self._command, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE
            )
        except OSError as exc:
            raise DriverError(
                f"cannot start the encoder child: {exc}", device=self._info.name
            ) from exc
        self._proc, self.child_pid, self._failure = proc, proc.pid, None
        self._reader = asyncio.create_task(self._read(proc), name="h264-standin-reader")

    async def _read(self, proc: asyncio.subprocess.Process) -> None:
        if proc.stdout is None:  # started with a pipe: cannot happen
            raise DeviceGone("encoder child has no stdout", device=self._info.name)
        parser = WireParser()
        try:
            while chunk := await proc.stdout.read(1 << 16):
                for message in parser.feed(chunk):
                    self._dispatch(message)
            parser.finish()
            code = await proc.wait()
            self._fail(DeviceGone(f"encoder child exited ({code})", device=self._info.name))
        except WireError as exc:
            # Only our numbers go to the log: the stream's bytes stay out of it.
            log.warning("stand-in encoder stream broken, stopping it: %s", exc)
            self._fail(exc)
            with contextlib.suppress(ProcessLookupError):
                proc.kill()

    def _fail(self, error: DriverError) -> None:
        if self._failure is not None:
            return  # the first cause is the one worth telling (a stop, a broken stream...)
        self._failure = error
        for source in self._sources:
            source.fail(error)
        for waiter in self._preview_waiters:
            if not waiter.done():
                waiter.set_exception(error)
        self._preview_waiters.clear()

    def _dispatch(self, message: EncodedPacket | Preview | KeyframeAck) -> None:
        match message:
            case EncodedPacket():
                self.packets += 1
                if self._await_after_ack is not None:
                    answered = message.keyframe and message.index == self._await_after_ack
                    if answered:
                        self.keyframes.next_frame += 1
                    else:
                        self.keyframes.late += 1
                    log.info(
                        "keyframe request %d: frame %d %s",
                        self.keyframes.requests,
                        message.index,
                        "is an IDR (next frame)" if answered else "is NOT an IDR",
                    )
                    self._await_after_ack = None
                packet = av.Packet(message.data)
                packet.pts = packet.dts = message.pts
                packet.time_base = VIDEO_TIME_BASE
                packet.is_keyframe = message.keyframe
                for source in self._sources:
                    source.offer(packet, message.keyframe)
            case KeyframeAck():
                self.keyframes.requests += 1
                self._await_after_ack = message.index
            case Preview():
                self._preview(message)

    def _preview(self, message: Preview) -> None:
        planes = np.frombuffer(message.planes, dtype=np.uint8)
        array = planes.reshape(message.height * 3 // 2, message.width)
        frame = av.VideoFrame.from_ndarray(array, format="yuv420p")
        frame.pts = int(time.time() * 1_000_000)
        frame.time_base = TIME_BASE
        for source in self._sources:
            source.show(frame)
        waiters, self._preview_waiters = self._preview_waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(frame)

    def send(self, command: Command) -> None:
        """Send one command to the child (dropped when it is not running)."""
        proc = self._proc
        if proc is None or proc.stdin is None or proc.stdin.is_closing():
            return
        proc.stdin.write(encode_command(command))

    def request_keyframe(self) -> None:
        """The child's next frame is an IDR."""
        self.send(Keyframe())

    def set_target_bitrate(self, bps: int) -> None:
        """Encode at ``bps``, clamped to ``min_bitrate..max_bitrate``."""
        self._bitrate = max(self.min_bitrate, min(int(bps), self.max_bitrate))
        self.send(Bitrate(self._bitrate))

    @property
    def target_bitrate(self) -> int:
        """The bitrate last asked of the child."""
        return self._bitrate

    def set_blank(self, blank: bool) -> None:
        """Black frames (camera off) or the picture."""
        self.send(Blank(blank))

    def packet_source(
        self, on_preview: Callable[[av.VideoFrame], None] | None = None
    ) -> StandinPacketSource:
        """A call's source of packets; it starts on the IDR it asks for."""
        if self._proc is None:
            raise DeviceNotStarted("packet_source() before start()", device=self._info.name)
        source = StandinPacketSource(self, on_preview)
        self._sources.append(source)
        if self._failure is not None:
            source.fail(self._failure)
        self.request_keyframe()
        return source

    def detach(self, source: StandinPacketSource) -> None:
        """``source`` ended: it gets no more packets."""
        with contextlib.suppress(ValueError):
            self._sources.remove(source)

    async def frame(self) -> av.VideoFrame:
        """The next preview picture (small: the stand-in's frames leave encoded)."""
        if self._proc is None:
            raise DeviceNotStarted("frame() called before start()", device=self._info.name)
        if self._failure is not None:
            raise self._failure
        waiter = asyncio.get_running_loop().create_future()
        self._preview_waiters.append(waiter)
        frame: av.VideoFrame = await waiter
        return frame

    async def photo(self) -> av.VideoFrame:
        """A still at full size: the test picture, drawn here (documents, ID photos)."""
        if self._proc is None:
            raise DeviceNotStarted("photo() called before start()", device=self._info.name)
        now = time.time()
        buf = self._picture.render(int(now * 1000), 0)
        frame = av.VideoFrame.from_ndarray(buf, format="yuv420p")
        frame.pts, frame.time_base = int(now * 1_000_000), TIME_BASE
        return frame

    async def stop(self) -> None:
        """Close the child's stdin, then terminate, kill and reap it; idempotent."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        self._fail(DeviceNotStarted("camera was stopped", device=self._info.name))
        if proc.stdin is not None:
            proc.stdin.close()
        for end in (proc.terminate, proc.kill):
            try:
                await asyncio.wait_for(proc.wait(), self.exit_grace_s)
                break
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    end()
        await proc.wait()  # reaped: no zombie left behind
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        self._sources.clear()


class StandinPacketSource:
    """One call's view of the stand-in: a :class:`drivers.camera.encoded.PacketSource`."""

    codec = "H264"

    def __init__(
        self, camera: H264StandinCamera, on_preview: Callable[[av.VideoFrame], None] | None
    ) -> None:
        self._camera = camera
        self._on_preview = on_preview
        self._queue: asyncio.Queue[av.Packet[Any] | DriverError] = asyncio.Queue(QUEUE_PACKETS)
        self._need_keyframe = True  # a decoder can only start on an IDR
        self._closed = False

    def offer(self, packet: av.Packet[Any], keyframe: bool) -> None:
        """The camera's next packet (this call starts at an IDR; a full queue skips to one)."""
        if self._need_keyframe and not keyframe:
            return
        if self._queue.full():
            # The call fell behind: drop what it missed and restart on a fresh IDR.
            self._drain()
            self._need_keyframe = True
            self._camera.request_keyframe()
            return
        self._need_keyframe = False
        self._queue.put_nowait(packet)

    def _drain(self) -> None:
        while not self._queue.empty():
            self._queue.get_nowait()

    def fail(self, error: DriverError) -> None:
        """The camera failed: ``packet()`` raises ``error`` from now on."""
        self._drain()
        self._queue.put_nowait(error)

    def show(self, frame: av.VideoFrame) -> None:
        """A preview picture for the self view."""
        if self._on_preview is not None:
            self._on_preview(frame)

    async def packet(self) -> av.Packet[Any]:
        """The next access unit (90 kHz pts); raises DriverError when the camera failed."""
        if self._closed:
            raise DeviceNotStarted("packet() after close()", device=self._camera.info.name)
        item = await self._queue.get()
        if isinstance(item, DriverError):
            self._queue.put_nowait(item)  # every later call fails the same way
            raise item
        return item

    def request_keyframe(self) -> None:
        """The child's next frame is an IDR (PLI/FIR from the far end)."""
        self._camera.request_keyframe()

    def set_target_bitrate(self, bps: int) -> None:
        """Bitrate from the congestion feedback, clamped to the camera's limits."""
        self._camera.set_target_bitrate(bps)

    def set_blank(self, blank: bool) -> None:
        """Camera off: the child encodes black frames; the stream goes on."""
        self._camera.set_blank(blank)

    async def close(self) -> None:
        """Stop receiving packets; the child keeps running for the next call."""
        if not self._closed:
            self._closed = True
            self._camera.detach(self)
            # A packet() still waiting wakes up with the reason instead of hanging.
            self.fail(DeviceNotStarted("source closed", device=self._camera.info.name))
