"""A microphone without hardware: a steady sine tone in 20 ms frames, paced in real time."""

from __future__ import annotations

import asyncio
import math
from fractions import Fraction

import av
import numpy as np
import numpy.typing as npt

from drivers.errors import DeviceNotStarted, UnsupportedSetting
from drivers.microphone import FRAME_SECONDS, MicrophoneInfo

SAMPLE_RATES = (8000, 16000, 24000, 32000, 44100, 48000)
# A consumer this far behind has stalled; start a fresh schedule instead of bursting frames.
MAX_LAG_S = 0.2


# The longest repeating stretch kept in memory (one second: 96 KB at 48 kHz). A tone whose
# pattern repeats only after longer is computed frame by frame instead.
MAX_PERIOD_S = 1


class ToneGenerator:
    """The samples of a phase-continuous sine tone, one block at a time (signed 16-bit).

    A sampled tone repeats exactly after ``period`` samples whenever the frequency is a
    fraction of the rate with a small enough denominator (440 Hz at 48 kHz: 1200 samples).
    Such a tone is computed once and each block is a slice of that stretch, so a frame costs
    no trigonometry; any other tone is computed per block with the phase carried over.
    """

    def __init__(self, sample_rate: int, frequency: float, amplitude: float, block: int) -> None:
        self._block = block
        self._step = 2 * math.pi * frequency / sample_rate
        self._scale = amplitude * 32767
        period = (Fraction(frequency) / sample_rate).denominator
        self.period: int | None = period if period <= MAX_PERIOD_S * sample_rate else None
        self._offset = 0  # where the next block starts, in samples (ring) ...
        self._phase = 0.0  # ... or in radians (per-block computation)
        self._ramp = np.arange(block, dtype=np.float64) * self._step
        self.ring: npt.NDArray[np.int16] | None = None
        if self.period is not None:
            # Enough whole periods that any block starting inside the first one fits.
            repeats = 1 + -(-block // self.period)
            one = np.sin(np.arange(self.period, dtype=np.float64) * self._step) * self._scale
            self.ring = np.tile(one.astype(np.int16), repeats)

    def next_block(self) -> npt.NDArray[np.int16]:
        """The next ``block`` samples; consecutive blocks join without a click."""
        if self.ring is not None and self.period is not None:
            start = self._offset
            self._offset = (start + self._block) % self.period
            return self.ring[start : start + self._block]
        samples = np.sin(self._ramp + self._phase) * self._scale
        self._phase = (self._phase + self._step * self._block) % (2 * math.pi)
        return samples.astype(np.int16)


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
        self._tone = ToneGenerator(sample_rate, frequency, amplitude, self._samples)
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
        frame = av.AudioFrame.from_ndarray(
            self._tone.next_block().reshape(1, -1), format="s16", layout="mono"
        )
        frame.sample_rate = self._info.sample_rate
        frame.pts = self._pts
        frame.time_base = Fraction(1, self._info.sample_rate)
        self._pts += self._samples
        return frame

    async def stop(self) -> None:
        """Stop the sample clock; idempotent."""
        self._started_at = None
