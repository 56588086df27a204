"""Speakers through PyAV's ALSA output (``url="default"`` or ``"hw:0,0"``), or any muxer
(a WAV file in tests).

Writes block on the sound card, so a writer thread drains a short queue; when the adviser's
audio arrives faster than it plays (clock drift), the oldest frame is dropped, which keeps
the delay of the conversation from growing.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from typing import Any

import av

from drivers.errors import BackendUnavailable, DeviceGone, DeviceNotFound, DeviceNotStarted
from drivers.speaker import SpeakerInfo

MAX_QUEUE = 10  # 200 ms of 20 ms frames
HINT = "check the speaker's cable and `aplay -l`"


class PyAVSpeaker:
    """A :class:`drivers.speaker.Speaker` writing s16 audio to a PyAV output."""

    def __init__(
        self,
        url: str = "default",
        *,
        fmt: str = "alsa",
        sample_rate: int = 48000,
        channels: int = 1,
        name: str = "speaker",
    ) -> None:
        self._url = url
        self._fmt = fmt
        self._info = SpeakerInfo(sample_rate=sample_rate, channels=channels, name=name)
        layout = "mono" if channels == 1 else "stereo"
        self._resampler = av.AudioResampler(format="s16", layout=layout, rate=sample_rate)
        self._queue: queue.Queue[av.AudioFrame | None] = queue.Queue(MAX_QUEUE)
        self._thread: threading.Thread | None = None
        self._error: DeviceGone | None = None
        self.dropped = 0

    @property
    def info(self) -> SpeakerInfo:
        """Rate, channels and name."""
        return self._info

    async def start(self) -> None:
        """Open the output (again after ``DeviceGone``)."""
        if self._thread is not None and self._error is None:
            return
        await self.stop()
        if self._fmt not in av.formats_available:
            raise BackendUnavailable(
                f"this FFmpeg build has no {self._fmt!r} output", device=self._info.name
            )
        container = await asyncio.to_thread(self._open)
        self._error = None
        self._queue = queue.Queue(MAX_QUEUE)
        self._thread = threading.Thread(target=self._write, args=(container,), daemon=True)
        self._thread.start()

    def _open(self) -> Any:
        try:
            container = av.open(self._url, mode="w", format=self._fmt)
        except (av.FFmpegError, OSError, ValueError) as exc:
            raise DeviceNotFound(
                f"cannot open {self._url} ({exc}): {HINT}", device=self._info.name
            ) from None
        layout = "mono" if self._info.channels == 1 else "stereo"
        stream = container.add_stream("pcm_s16le", rate=self._info.sample_rate, layout=layout)
        try:
            container.start_encoding()  # ALSA opens the card here: fail now, not mid-call
        except (av.FFmpegError, OSError) as exc:
            container.close()
            raise DeviceNotFound(
                f"cannot open {self._url} ({exc}): {HINT}", device=self._info.name
            ) from None
        return container, stream

    def _write(self, opened: tuple[Any, Any]) -> None:
        container, stream = opened
        try:
            while (frame := self._queue.get()) is not None:
                for packet in stream.encode(frame):
                    container.mux(packet)
            for packet in stream.encode(None):
                container.mux(packet)
        except (av.FFmpegError, OSError) as exc:
            self._error = DeviceGone(
                f"the speaker vanished ({type(exc).__name__}): {HINT}", device=self._info.name
            )
        finally:
            container.close()

    async def play(self, frame: av.AudioFrame) -> None:
        """Queue ``frame`` (converted to the speaker's format)."""
        if self._error is not None:
            error, self._thread = self._error, None
            raise error
        if self._thread is None:
            raise DeviceNotStarted("play() called before start()", device=self._info.name)
        frame.pts = None
        for out in self._resampler.resample(frame):
            while True:
                try:
                    self._queue.put_nowait(out)
                    break
                except queue.Full:
                    try:
                        self._queue.get_nowait()
                        self.dropped += 1
                    except queue.Empty:
                        pass

    async def stop(self) -> None:
        """Flush and close; idempotent."""
        thread, self._thread = self._thread, None
        if thread is not None:
            try:  # flush: what was queued still plays
                await asyncio.to_thread(self._queue.put, None, True, 5.0)
            except queue.Full:
                pass  # the writer is stuck on a dead card; it is a daemon thread
            await asyncio.to_thread(thread.join, 5.0)
