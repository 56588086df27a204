"""Microphones through PyAV: ALSA capture (``fmt="alsa"``, ``url="hw:1,0"`` or ``"default"``)
and any FFmpeg input (a lavfi ``sine``, a speech file) for tests and demos.

A reader thread decodes and resamples to signed 16-bit 20 ms frames; the event loop only
hands them out. Files and lavfi are paced to real time, as a sound card would be.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import Mapping
from fractions import Fraction
from typing import Any

import av

from drivers.av_input import LIVE_FORMATS, open_input, wake
from drivers.errors import DeviceGone, DeviceNotStarted, DriverError, DriverTimeout
from drivers.microphone import FRAME_SECONDS, MicrophoneInfo

FRAME_TIMEOUT_S = 2.0
# 0.5 s of audio: beyond that the consumer has stalled and old audio is worthless in a call.
MAX_BACKLOG = 25
HINT = "check the microphone's cable and `arecord -l`"


class PyAVMicrophone:
    """A :class:`drivers.microphone.Microphone` on a PyAV input.

    ``overruns`` counts frames dropped because the consumer fell behind.
    """

    def __init__(
        self,
        url: str = "default",
        *,
        fmt: str | None = "alsa",
        options: Mapping[str, str] | None = None,
        sample_rate: int = 48000,
        channels: int = 1,
        name: str = "microphone",
    ) -> None:
        self._url = url
        self._fmt = fmt
        self._options = dict(options or {})
        if fmt == "alsa":
            self._options.setdefault("sample_rate", str(sample_rate))
            self._options.setdefault("channels", str(channels))
        self._pace = fmt not in LIVE_FORMATS
        self._info = MicrophoneInfo(sample_rate=sample_rate, channels=channels, name=name)
        self._samples = round(sample_rate * FRAME_SECONDS)
        self._frames: deque[av.AudioFrame] = deque()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._wakeup: asyncio.Event | None = None
        self._error: DriverError | None = None
        self._pts = 0
        self.overruns = 0

    @property
    def info(self) -> MicrophoneInfo:
        """Rate, channels and name."""
        return self._info

    async def start(self) -> None:
        """Open the input and start capturing (again after ``DeviceGone``)."""
        if self._thread is not None and self._error is None:
            return
        await self.stop()
        container = await asyncio.to_thread(
            open_input, self._url, self._fmt, self._options, device=self._info.name, hint=HINT
        )
        if not container.streams.audio:
            container.close()
            raise DeviceGone(f"{self._url} has no audio stream", device=self._info.name)
        self._stop.clear()
        self._error = None
        self._pts = 0
        self._wakeup = asyncio.Event()
        self._thread = threading.Thread(
            target=self._read,
            args=(container, asyncio.get_running_loop(), self._wakeup),
            name="microphone",
            daemon=True,
        )
        self._thread.start()

    def _read(self, container: Any, loop: asyncio.AbstractEventLoop, wakeup: asyncio.Event) -> None:
        layout = "mono" if self._info.channels == 1 else "stereo"
        resampler = av.AudioResampler(
            format="s16", layout=layout, rate=self._info.sample_rate, frame_size=self._samples
        )
        error: DriverError | None = None
        origin = time.monotonic()
        delivered = 0
        try:
            for decoded in container.decode(container.streams.audio[0]):
                for frame in resampler.resample(decoded):
                    if self._stop.is_set():
                        return
                    if self._pace:
                        delay = origin + delivered * FRAME_SECONDS - time.monotonic()
                        if delay > 0 and self._stop.wait(delay):
                            return
                    delivered += 1
                    with self._lock:
                        self._frames.append(frame)
                        while len(self._frames) > MAX_BACKLOG:
                            self._frames.popleft()
                            self.overruns += 1
                    wake(loop, wakeup)
            error = DeviceGone(f"{self._url} stopped delivering audio", device=self._info.name)
        except (av.FFmpegError, OSError) as exc:
            error = DeviceGone(
                f"the microphone vanished ({type(exc).__name__}): {HINT}", device=self._info.name
            )
        finally:
            container.close()
            if error is not None and not self._stop.is_set():
                self._error = error
                wake(loop, wakeup)

    async def frame(self) -> av.AudioFrame:
        """The next 20 ms, s16, ``pts`` in samples since ``start()``."""
        wakeup = self._wakeup
        if self._thread is None or wakeup is None:
            raise DeviceNotStarted("frame() called before start()", device=self._info.name)
        try:
            async with asyncio.timeout(FRAME_TIMEOUT_S):
                while True:
                    with self._lock:
                        frame = self._frames.popleft() if self._frames else None
                    if frame is not None:
                        break
                    if self._error is not None:
                        self._thread = None  # the next start() re-opens the device
                        raise self._error
                    wakeup.clear()
                    await wakeup.wait()
        except TimeoutError:
            raise DriverTimeout(
                f"no audio for {FRAME_TIMEOUT_S:g} s: {HINT}", device=self._info.name
            ) from None
        frame.pts = self._pts
        frame.time_base = Fraction(1, self._info.sample_rate)
        self._pts += frame.samples
        return frame

    async def stop(self) -> None:
        """Stop capturing and close the device; idempotent."""
        thread, self._thread = self._thread, None
        if thread is not None:
            self._stop.set()
            await asyncio.to_thread(thread.join, 5.0)
        with self._lock:
            self._frames.clear()
