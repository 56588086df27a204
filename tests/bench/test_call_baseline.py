"""bench/call_baseline.py: the baseline feeds the kiosk's frames at a live camera's pace."""

from __future__ import annotations

import asyncio

from appliance.call.codecs import open_decoder, open_encoder, video_settings
from appliance.call.opus_packets import OpusPacketizer
from bench.call_baseline import capture_frames, encode_decode, opus_both_ways, opus_codecs, tone


class FakeTime:
    """A clock that only moves when slept on, and a log of when each frame was encoded."""

    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_frames_are_encoded_at_the_cameras_pace_and_decoded() -> None:
    frames = asyncio.run(capture_frames(64, 64, 0.1, fps=30))  # 3 real frames
    settings = video_settings("VP8", 64, 64)
    encoder = open_encoder(settings, 64, 64, 30, settings.max_bitrate)
    fake = FakeTime()
    # 16 fps: each slot (1/16 s) is exact in binary, so the fake clock's sums are exact too
    packets = encode_decode(
        frames, encoder, open_decoder(settings), fps=16, clock=fake.clock, sleep=fake.sleep
    )
    # frame 0 at once, then each frame waits for its slot: 1/16 s after the one before
    assert fake.slept == [1 / 16] * (len(frames) - 1)
    assert fake.now == 100.0 + (len(frames) - 1) / 16
    assert [p.pts for p in packets] == [i * 5625 for i in range(len(packets))]
    assert packets and packets[0].is_keyframe


def test_unpaced_encoding_never_sleeps() -> None:
    frames = asyncio.run(capture_frames(64, 64, 0.1, fps=30))
    settings = video_settings("VP8", 64, 64)
    fake = FakeTime()
    encode_decode(
        frames,
        open_encoder(settings, 64, 64, 30, settings.max_bitrate),
        None,
        paced=False,
        clock=fake.clock,
        sleep=fake.sleep,
    )
    assert fake.slept == []


def test_the_baselines_opus_is_the_kiosks_own() -> None:
    # Byte-identical packets from the same microphone frames: the baseline encodes with
    # exactly the settings the kiosk's microphone track uses (layout, bitrate, complexity).
    encoder, _decoder, layout = opus_codecs(kiosk_settings=True)
    assert layout == "mono"
    frames = tone(0.2, layout)
    kiosk = OpusPacketizer()
    ours = [bytes(p) for f in frames for p in kiosk.encode(f)]
    theirs = []
    for i, f in enumerate(frames):
        f.pts = i * 960
        theirs += [bytes(p) for p in encoder.encode(f)]
    assert ours and ours == theirs


def test_the_baseline_times_opus_both_ways() -> None:
    work = opus_both_ways(0.1, kiosk_settings=True)
    work()  # the kiosk's direction and the adviser's, without error
