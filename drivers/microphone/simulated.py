"""A microphone without hardware: a steady sine tone in 20 ms frames, paced in real time."""

from __future__ import annotations

import asyncio
import math
from fractions import Fraction

import av
import numpy as np

from drivers.errors import DeviceNotStarted, UnsupportedSetting
from drivers.microphone import FRAME_SECONDS, MicrophoneInfo

SAMPLE_RATES = (8000, 16000, 24000, 32000, 44100, 48000)
# A consumer this far behind has stalled; start a fresh schedule instead of bursting frames.
MAX_LAG_S = 0.2


class SimulatedMicrophone:
    """A :class:`drivers.microphone.Microphone` that plays a phase-continuous tone.

    Frames are signed 16-bit mono; consecutive frames join without a click because the phase
    carries over from one frame to the next.
    """

    def __init__(
        self,
        sample_rate: int = 48000,
        frequency: float = 440.0,
        amplitude: float = 0.3,
        *,
        name: str = "simulated microphone",
    ) -> None:
        if isinstance(sample_rate, bool) or sample_rate not in SAMPLE_RATES:
            raise UnsupportedSetting(
                f"sample rate {sample_rate!r} is not one of {', '.join(map(str, SAMPLE_RATES))}",
                device=name,
            )
        if isinstance(frequency, bool) or not isinstance(frequency, int | float):
            raise UnsupportedSetting(f"frequency must be a number, not {frequency!r}", device=name)
        if not (math.isfinite(frequency) and 0 < frequency < sample_rate / 2):
            raise UnsupportedSetting(
                f"frequency {frequency} Hz must be above 0 and below {sample_rate / 2:g} Hz",
                device=name,
            )
        if isinstance(amplitude, bool) or not isinstance(amplitude, int | float):
            raise UnsupportedSetting(f"amplitude must be a number, not {amplitude!r}", device=name)
        if not (math.isfinite(amplitude) and 0 <= amplitude <= 1):
            raise UnsupportedSetting(
                f"amplitude {amplitude} must be between 0 and 1 (full scale)", device=name
            )
        self._info = MicrophoneInfo(sample_rate=sample_rate, channels=1, name=name)
        self._samples = round(sample_rate * FRAME_SECONDS)
        self._step = 2 * math.pi * frequency / sample_rate
        self._ramp = np.arange(self._samples, dtype=np.float64) * self._step
        self._scale = amplitude * 32767
        self._phase = 0.0
        self._pts = 0
        self._started_at: float | None = None  # event-loop time of the schedule's frame 0
        self._index = -1

    @property
    def info(self) -> MicrophoneInfo:
        """Rate, channels and name."""
        return self._info

    async def start(self) -> None:
        """Start the sample clock; idempotent."""
        if self._started_at is None:
            self._started_at = asyncio.get_running_loop().time()
            self._index = -1

    async def frame(self) -> av.AudioFrame:
        """Wait for the next 20 ms slot and return its samples."""
        if self._started_at is None:
            raise DeviceNotStarted("frame() called before start()", device=self._info.name)
        loop = asyncio.get_running_loop()
        self._index += 1
        due = self._started_at + self._index * FRAME_SECONDS
        now = loop.time()
        if now - due > MAX_LAG_S:
            self._started_at, self._index, due = now, 0, now
        elif due > now:
            await asyncio.sleep(due - now)
        if self._started_at is None:  # stopped while we slept
            raise DeviceNotStarted("microphone was stopped", device=self._info.name)
        samples = np.sin(self._ramp + self._phase) * self._scale
        self._phase = (self._phase + self._step * self._samples) % (2 * math.pi)
        frame = av.AudioFrame.from_ndarray(
            samples.astype(np.int16).reshape(1, -1), format="s16", layout="mono"
        )
        frame.sample_rate = self._info.sample_rate
        frame.pts = self._pts
        frame.time_base = Fraction(1, self._info.sample_rate)
        self._pts += self._samples
        return frame

    async def stop(self) -> None:
        """Stop the sample clock; idempotent."""
        self._started_at = None
