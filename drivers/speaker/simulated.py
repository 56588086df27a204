"""A speaker without hardware: a sink that measures what it would have played."""

from __future__ import annotations

import math

import av
import numpy as np

from drivers.errors import DeviceNotStarted
from drivers.speaker import SpeakerInfo


def rms_level(frame: av.AudioFrame) -> float:
    """Root mean square of a frame, 0 (silence) to 1 (full scale)."""
    samples = frame.to_ndarray()
    if samples.size == 0:
        return 0.0
    # It runs for every frame played (50 a second): one float32 copy and a BLAS dot product
    # cost a third of square-then-mean in float64.
    flat = samples.reshape(-1).astype(np.float32)
    rms = math.sqrt(float(np.dot(flat, flat)) / flat.size)
    if np.issubdtype(samples.dtype, np.floating):
        return rms
    return rms / float(2 ** (8 * samples.dtype.itemsize - 1))


class SimulatedSpeaker:
    """A :class:`drivers.speaker.Speaker` that keeps level statistics instead of sound."""

    def __init__(self, *, sample_rate: int = 48000, name: str = "simulated speaker") -> None:
        self._info = SpeakerInfo(sample_rate=sample_rate, channels=1, name=name)
        self._started = False
        self.frames = 0
        self.seconds = 0.0
        self.level = 0.0  # RMS of the latest frame
        self.peak_level = 0.0

    @property
    def info(self) -> SpeakerInfo:
        """Rate, channels and name."""
        return self._info

    async def start(self) -> None:
        """Start accepting audio; idempotent."""
        self._started = True

    async def play(self, frame: av.AudioFrame) -> None:
        """Measure ``frame``."""
        if not self._started:
            raise DeviceNotStarted("play() called before start()", device=self._info.name)
        self.frames += 1
        self.seconds += frame.samples / frame.sample_rate
        self.level = rms_level(frame)
        self.peak_level = max(self.peak_level, self.level)

    async def stop(self) -> None:
        """Stop; idempotent."""
        self._started = False
