"""The microphone's Opus packets: what aiortc is handed, their clock, and odd microphones."""

from __future__ import annotations

import dataclasses
from fractions import Fraction
from typing import Any

import av
import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given
from hypothesis import strategies as st

from appliance.call.codecs import OPUS, CodecSettingsError, open_opus_encoder
from appliance.call.media import MicrophoneTrack
from appliance.call.opus_packets import OpusEncodeError, OpusPacketizer
from drivers.microphone.simulated import SAMPLE_RATES, SimulatedMicrophone, ToneGenerator

OPUS_TIME_BASE = Fraction(1, 48000)


def mic_frame(tone: ToneGenerator, rate: int, layout: str = "mono") -> av.AudioFrame:
    samples = tone.next_block()
    if layout == "stereo":
        samples = np.repeat(samples, 2)  # interleaved, both channels alike
    frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout=layout)
    frame.sample_rate = rate
    return frame


def decode_all(packets: list[av.Packet[Any]]) -> npt.NDArray[np.float64]:
    decoder = av.CodecContext.create("libopus", "r")
    out = [f.to_ndarray().reshape(-1, 2)[:, 0] for p in packets for f in decoder.decode(p)]
    return np.concatenate(out).astype(np.float64) / 32768


async def test_the_track_hands_aiortc_opus_packets_not_raw_frames() -> None:
    # A packet makes aiortc's sender only packetise (encoder.pack) on the event loop: no
    # per-sample audio-level loop, no resampler, no executor round trip per 20 ms.
    mic = SimulatedMicrophone()
    await mic.start()
    track = MicrophoneTrack(mic)
    got = [await track.recv() for _ in range(3)]
    await mic.stop()
    assert all(isinstance(p, av.Packet) for p in got)
    assert [p.pts for p in got] == [0, 960, 1920]
    level = decode_all(got)[960:]  # past the codec's start-up
    assert np.sqrt(np.mean(level**2)) == pytest.approx(0.3 / np.sqrt(2), rel=0.1)


@pytest.mark.parametrize("layout", ["mono", "stereo"])
def test_a_48khz_microphone_is_encoded_as_it_is(layout: str) -> None:
    tone = ToneGenerator(48000, 1000.0, 0.5, 960)
    opus = OpusPacketizer()
    packets = [p for _ in range(25) for p in opus.encode(mic_frame(tone, 48000, layout))]
    assert opus.layout == layout  # a mono microphone is not upmixed before encoding
    assert [p.pts for p in packets] == [960 * i for i in range(25)]
    heard = decode_all(packets)[960:]
    peak_hz = np.argmax(np.abs(np.fft.rfft(heard))) * 48000 / heard.size
    assert peak_hz == pytest.approx(1000, abs=10)


@given(rate=st.sampled_from(SAMPLE_RATES), frames=st.integers(1, 30), stereo=st.booleans())
def test_any_microphone_rate_gives_a_20ms_packet_per_20ms_frame(
    rate: int, frames: int, stereo: bool
) -> None:
    tone = ToneGenerator(rate, 300.0, 0.4, rate // 50)
    opus = OpusPacketizer()
    layout = "stereo" if stereo else "mono"
    packets = [p for _ in range(frames) for p in opus.encode(mic_frame(tone, rate, layout))]
    # A resampler may hold back a few samples, never a whole frame more.
    assert frames - 1 <= len(packets) <= frames
    assert [p.pts for p in packets] == [960 * i for i in range(len(packets))]
    assert all(p.time_base == OPUS_TIME_BASE for p in packets)


def test_silence_reuses_one_frame_and_keeps_the_clock() -> None:
    tone = ToneGenerator(16000, 440.0, 0.5, 320)
    opus = OpusPacketizer()
    packets = [p for _ in range(6) for p in opus.encode(mic_frame(tone, 16000))]
    packets += [p for _ in range(6) for p in opus.encode_silence(mic_frame(tone, 16000))]
    assert [p.pts for p in packets] == [960 * i for i in range(len(packets))]
    assert np.max(np.abs(decode_all(packets)[-960:])) == 0.0  # the adviser hears nothing


def test_a_float_surround_microphone_is_resampled_not_refused() -> None:
    opus = OpusPacketizer()
    samples = np.full((6, 960), 0.25, dtype=np.float32)
    frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="5.1")
    frame.sample_rate = 48000
    packets = [p for _ in range(3) for p in opus.encode(frame)]
    assert opus.layout == "stereo" and len(packets) >= 2


def test_settings_the_path_cannot_encode_are_a_typed_error() -> None:
    opus = OpusPacketizer(dataclasses.replace(OPUS, format="flt"))
    tone = ToneGenerator(48000, 440.0, 0.5, 960)
    with pytest.raises(OpusEncodeError, match="s16"):
        opus.encode(mic_frame(tone, 48000))


def test_the_kiosks_opus_is_mono_at_complexity_5() -> None:
    assert (OPUS.layout, OPUS.complexity) == ("mono", 5)


def test_the_complexity_setting_reaches_libopus() -> None:
    # Same audio, same everything but the complexity: libopus is deterministic, so different
    # bytes mean the setting was applied (a silently ignored option would give equal packets).
    def packets(complexity: int) -> list[bytes]:
        tone = ToneGenerator(48000, 440.0, 0.5, 960)
        opus = OpusPacketizer(dataclasses.replace(OPUS, complexity=complexity))
        return [bytes(p) for _ in range(10) for p in opus.encode(mic_frame(tone, 48000))]

    assert packets(5) == packets(5)
    assert packets(0) != packets(10)


@pytest.mark.parametrize("complexity", [-1, 11])
def test_a_complexity_libopus_lacks_is_a_typed_error(complexity: int) -> None:
    with pytest.raises(CodecSettingsError, match="complexity"):
        open_opus_encoder(dataclasses.replace(OPUS, complexity=complexity))
