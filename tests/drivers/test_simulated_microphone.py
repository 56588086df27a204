"""The simulated microphone: frame shape, tone, phase continuity, pacing, bad settings."""

from __future__ import annotations

import time

import av
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers.errors import DeviceNotStarted, UnsupportedSetting
from drivers.microphone import Microphone
from drivers.microphone.simulated import SAMPLE_RATES, SimulatedMicrophone, ToneGenerator


async def frames(mic: SimulatedMicrophone, count: int) -> list[av.AudioFrame]:
    await mic.start()
    try:
        return [await mic.frame() for _ in range(count)]
    finally:
        await mic.stop()


async def test_frames_are_20ms_s16_mono() -> None:
    mic: Microphone = SimulatedMicrophone()
    assert mic.info.sample_rate == 48000 and mic.info.channels == 1
    got = await frames(SimulatedMicrophone(), 3)
    for i, frame in enumerate(got):
        assert frame.format.name == "s16"
        assert frame.layout.name == "mono"
        assert frame.samples == 960
        assert frame.sample_rate == 48000
        assert frame.pts == 960 * i


async def test_tone_level_and_frequency() -> None:
    got = await frames(SimulatedMicrophone(frequency=1000.0, amplitude=0.5), 5)
    samples = np.concatenate([f.to_ndarray().reshape(-1) for f in got]).astype(np.float64)
    rms = np.sqrt(np.mean((samples / 32768) ** 2))
    assert rms == pytest.approx(0.5 / np.sqrt(2), rel=0.02)
    spectrum = np.abs(np.fft.rfft(samples))
    peak_hz = np.argmax(spectrum) * 48000 / samples.size
    assert peak_hz == pytest.approx(1000, abs=10)


async def test_phase_continuous_across_frames() -> None:
    got = await frames(SimulatedMicrophone(frequency=441.0, amplitude=0.8), 50)
    samples = np.concatenate([f.to_ndarray().reshape(-1) for f in got]).astype(np.float64)
    n = np.arange(samples.size)
    ideal = np.sin(2 * np.pi * 441.0 * n / 48000) * 0.8 * 32767
    # One uninterrupted sine: no jump at any frame boundary.
    assert np.max(np.abs(samples - ideal)) <= 2


async def test_paced_in_real_time() -> None:
    mic = SimulatedMicrophone()
    await mic.start()
    start = time.monotonic()
    for _ in range(25):
        await mic.frame()
    elapsed = time.monotonic() - start
    await mic.stop()
    # Never faster than real time: 25 frames of 20 ms take at least ~0.5 s of wall time.
    assert elapsed >= 0.45


async def test_frame_before_start_is_a_typed_error() -> None:
    with pytest.raises(DeviceNotStarted):
        await SimulatedMicrophone().frame()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"sample_rate": 0}, "sample rate"),
        ({"sample_rate": 44000}, "sample rate"),
        ({"sample_rate": True}, "sample rate"),
        ({"frequency": 0}, "frequency"),
        ({"frequency": 24000}, "frequency"),
        ({"frequency": float("inf")}, "frequency"),
        ({"frequency": "440"}, "frequency"),
        ({"amplitude": 1.5}, "amplitude"),
        ({"amplitude": -0.1}, "amplitude"),
        ({"amplitude": float("nan")}, "amplitude"),
    ],
)
def test_bad_settings_are_typed_errors(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(UnsupportedSetting, match=match):
        SimulatedMicrophone(**kwargs)  # type: ignore[arg-type]


def ideal_tone(rate: int, frequency: float, amplitude: float, count: int) -> np.ndarray:
    n = np.arange(count, dtype=np.float64)
    return np.sin(2 * np.pi * frequency * n / rate) * amplitude * 32767


@given(
    rate=st.sampled_from(SAMPLE_RATES),
    frequency=st.one_of(
        st.integers(1, 3999).map(float),  # whole hertz: a short repeating stretch
        st.floats(0.01, 3999.0, allow_nan=False),  # anything else: computed per block
    ),
    amplitude=st.floats(0.0, 1.0),
    blocks=st.integers(1, 12),
)
def test_tone_blocks_are_one_continuous_sine(
    rate: int, frequency: float, amplitude: float, blocks: int
) -> None:
    block = rate // 50
    tone = ToneGenerator(rate, frequency, amplitude, block)
    got = np.concatenate([tone.next_block() for _ in range(blocks)]).astype(np.float64)
    assert got.size == blocks * block
    assert np.max(np.abs(got - ideal_tone(rate, frequency, amplitude, got.size))) <= 2


def test_a_whole_hertz_tone_is_computed_once_not_per_frame() -> None:
    # 440 Hz at 48 kHz repeats every 1200 samples (11 cycles): frames are slices of that
    # stretch, so the microphone does no trigonometry on the event loop per frame.
    tone = ToneGenerator(48000, 440.0, 0.3, 960)
    assert tone.period == 1200 and tone.ring is not None
    for _ in range(7):  # past the wrap-around of the stretch, too
        block = tone.next_block()
        assert block.size == 960 and np.shares_memory(block, tone.ring)
