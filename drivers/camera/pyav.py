"""Cameras through PyAV: USB/UVC webcams (``format="v4l2"``), and any FFmpeg input.

A reader thread decodes frames as the device produces them and keeps only the newest, so the
call never sends a stale picture (latest-frame semantics); decoding and scaling stay off the
event loop. Files and lavfi sources (``testsrc``) are paced to real time, as a device would be.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Mapping
from fractions import Fraction
from typing import Any

import av

from drivers.av_input import LIVE_FORMATS, open_input, wake
from drivers.camera import CameraInfo
from drivers.errors import DeviceGone, DeviceNotStarted, DriverError, DriverTimeout

TIME_BASE = Fraction(1, 1_000_000)
FRAME_TIMEOUT_S = 5.0
HINT = "check the camera's USB cable, or `v4l2-ctl --list-devices`"


class PyAVCamera:
    """A :class:`drivers.camera.Camera` on a PyAV input.

    ``url`` is ``/dev/video0`` (with ``fmt="v4l2"``), a file, or a lavfi graph such as
    ``testsrc=size=1280x720:rate=30`` (``fmt="lavfi"``). Frames for the call are scaled to
    ``width`` x ``height`` yuv420p; ``photo()`` returns the newest frame at the capture size.
    For V4L2, ``capture_size`` asks the device for a size (``video_size``) and ``options``
    pass anything else (``input_format="mjpeg"``...).
    """

    def __init__(
        self,
        url: str,
        *,
        fmt: str | None = None,
        options: Mapping[str, str] | None = None,
        width: int = 640,
        height: int = 480,
        fps: float = 30.0,
        capture_size: tuple[int, int] | None = None,
        name: str = "camera",
    ) -> None:
        self._url = url
        self._fmt = fmt
        self._options = dict(options or {})
        if fmt in ("v4l2", "video4linux2"):
            self._options.setdefault("framerate", f"{fps:g}")
            if capture_size is not None:
                self._options.setdefault("video_size", f"{capture_size[0]}x{capture_size[1]}")
        self._pace = fmt not in LIVE_FORMATS
        self._info = CameraInfo(width=width, height=height, fps=float(fps), name=name)
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._latest: av.VideoFrame | None = None
        self._latest_native: av.VideoFrame | None = None
        self._seq = 0
        self._returned = 0
        self._error: DriverError | None = None
        self._error_reported = False
        self._wakeup: asyncio.Event | None = None
        self._started = False

    @property
    def info(self) -> CameraInfo:
        """Size and rate of the frames for the call."""
        return self._info

    async def start(self) -> None:
        """Open the input and start the reader thread (again after ``DeviceGone``)."""
        if self._thread is not None and self._error is None:
            return
        await self.stop()
        container = await asyncio.to_thread(
            open_input, self._url, self._fmt, self._options, device=self._info.name, hint=HINT
        )
        if not container.streams.video:
            container.close()
            raise DeviceGone(f"{self._url} has no video stream", device=self._info.name)
        loop = asyncio.get_running_loop()
        self._wakeup = asyncio.Event()
        self._error, self._error_reported = None, False
        self._stop.clear()
        self._started = True
        self._thread = threading.Thread(
            target=self._read, args=(container, loop, self._wakeup), name="camera", daemon=True
        )
        self._thread.start()

    def _read(self, container: Any, loop: asyncio.AbstractEventLoop, wakeup: asyncio.Event) -> None:
        error: DriverError | None = None
        try:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            origin: float | None = None
            for frame in container.decode(stream):
                if self._stop.is_set():
                    return
                if self._pace and frame.time is not None:
                    # Files and lavfi decode faster than real time: hold each frame to its slot.
                    now = time.monotonic()
                    if origin is None:
                        origin = now - float(frame.time)
                    delay = origin + float(frame.time) - now
                    if delay > 0 and self._stop.wait(delay):
                        return
                scaled = frame.reformat(self._info.width, self._info.height, "yuv420p")
                scaled.pts = int(time.time() * 1_000_000)
                scaled.time_base = TIME_BASE
                with self._lock:
                    self._latest, self._latest_native = scaled, frame
                    self._seq += 1
                wake(loop, wakeup)
            error = DeviceGone(f"{self._url} stopped delivering frames", device=self._info.name)
        except (av.FFmpegError, OSError) as exc:
            error = DeviceGone(
                f"the camera vanished ({type(exc).__name__}): {HINT}", device=self._info.name
            )
        finally:
            container.close()
            if error is not None and not self._stop.is_set():
                self._error = error
                wake(loop, wakeup)

    async def frame(self) -> av.VideoFrame:
        """The newest frame not yet returned, waiting for one if necessary.

        After ``DeviceGone`` the next call tries to re-open the camera, so a replugged webcam
        comes back without restarting the kiosk.
        """
        if not self._started:
            raise DeviceNotStarted("frame() called before start()", device=self._info.name)
        if self._error is not None and self._seq == self._returned:
            if self._error_reported:
                await self.start()  # reported last time: try to come back
            else:
                self._error_reported = True
                raise self._error
        wakeup = self._wakeup
        assert wakeup is not None  # noqa: S101 - set by start()
        try:
            async with asyncio.timeout(FRAME_TIMEOUT_S):
                while self._seq == self._returned:
                    if self._error is not None:
                        self._error_reported = True
                        raise self._error
                    wakeup.clear()
                    await wakeup.wait()
        except TimeoutError:
            raise DriverTimeout(
                f"no frame for {FRAME_TIMEOUT_S:g} s: {HINT}", device=self._info.name
            ) from None
        with self._lock:
            frame, self._returned = self._latest, self._seq
        assert frame is not None  # noqa: S101 - seq > 0 implies a frame
        return frame

    async def photo(self) -> av.VideoFrame:
        """A still at the capture size: the newest frame the device delivered."""
        await self.frame()
        with self._lock:
            native = self._latest_native
        assert native is not None  # noqa: S101 - frame() returned, so one exists
        return native

    async def stop(self) -> None:
        """Stop the reader and close the device; idempotent."""
        self._started = False
        thread, self._thread = self._thread, None
        if thread is not None:
            self._stop.set()
            await asyncio.to_thread(thread.join, 5.0)
        with self._lock:
            self._latest = self._latest_native = None
            self._returned = self._seq
