"""bench/call_baseline.py: the baseline feeds the kiosk's frames at a live camera's pace."""

from __future__ import annotations

import asyncio

import pytest

from appliance.call.codecs import open_decoder, open_encoder, video_settings
from bench.call_baseline import capture_frames, encode_decode


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
    packets = encode_decode(
        frames, encoder, open_decoder(settings), fps=30, clock=fake.clock, sleep=fake.sleep
    )
    # frame 0 at once, then each frame waits for its slot: 1/30 s after the one before
    assert len(fake.slept) == len(frames) - 1
    assert fake.now - 100.0 == pytest.approx((len(frames) - 1) / 30)
    assert [p.pts for p in packets] == [i * 3000 for i in range(len(packets))]
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
