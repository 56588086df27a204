"""Track adapters (timestamps) and the media probe (counts, non-black, audio level)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from fractions import Fraction
from typing import Any

import av
import numpy as np
import pytest
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from appliance.call.media import (
    AUDIO_TIME_BASE,
    VIDEO_TIME_BASE,
    CameraTrack,
    MediaProbe,
    MicrophoneTrack,
    audio_rms,
    mean_luma,
)
from drivers.camera.simulated import SimulatedCamera
from drivers.microphone.simulated import SimulatedMicrophone


class ListTrack(MediaStreamTrack):
    """Plays a fixed list of frames, then ends."""

    def __init__(self, kind: str, frames: Sequence[av.VideoFrame | av.AudioFrame]) -> None:
        super().__init__()
        self.kind = kind
        self._frames = list(frames)

    async def recv(self) -> av.VideoFrame | av.AudioFrame:
        await asyncio.sleep(0)
        if not self._frames:
            self.stop()
            raise MediaStreamError
        return self._frames.pop(0)


def grey_frame(luma: int) -> av.VideoFrame:
    buf = np.full((240 * 3 // 2, 320), 128, np.uint8)
    buf[:240] = luma
    return av.VideoFrame.from_ndarray(buf, format="yuv420p")


def tone(amplitude: float) -> av.AudioFrame:
    n = np.arange(960)
    samples = (np.sin(2 * np.pi * 440 * n / 48000) * amplitude * 32767).astype(np.int16)
    frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
    frame.sample_rate = 48000
    return frame


class OpusListener:
    """Decodes a microphone track's Opus packets back to audio, as the adviser's side does."""

    def __init__(self) -> None:
        self._decoder = av.CodecContext.create("libopus", "r")

    def __call__(self, packet: av.Packet[Any]) -> av.AudioFrame:
        frames = self._decoder.decode(packet)
        assert len(frames) == 1
        frame = frames[0]
        assert isinstance(frame, av.AudioFrame)
        return frame


async def test_camera_track_stamps_90khz_from_the_monotonic_clock() -> None:
    # The wall clock steps by an hour (first NTP sync on a Pi without RTC) mid-call...
    wall = iter([1000.0, 1000.0 + 3600, 1000.0 - 3600, 1000.0])
    camera = SimulatedCamera(fps=100, clock=lambda: next(wall))
    await camera.start()
    # ...while the monotonic clock advances normally; it alone decides the timestamps.
    mono = iter([50.0, 50.0 + 1 / 30, 50.0 + 2 / 30 + 0.01, 50.0 + 2 / 30 + 0.01])
    track = CameraTrack(camera, clock=lambda: next(mono))
    frames = [await track.recv() for _ in range(4)]
    assert [f.time_base for f in frames] == [VIDEO_TIME_BASE] * 4
    assert [f.pts for f in frames] == [0, 3000, 6900, 6901]  # never repeats or goes back
    track.stop()
    with pytest.raises(MediaStreamError):
        await track.recv()
    await camera.stop()


async def test_camera_track_ends_when_the_camera_fails() -> None:
    track = CameraTrack(SimulatedCamera())  # never started: DeviceNotStarted
    with pytest.raises(MediaStreamError):
        await track.recv()
    assert track.readyState == "ended"


async def test_microphone_track_counts_48khz() -> None:
    for rate, step in ((48000, 960), (16000, 960)):
        mic = SimulatedMicrophone(sample_rate=rate)
        await mic.start()
        track = MicrophoneTrack(mic)
        frames = [await track.recv() for _ in range(3)]
        assert [f.pts for f in frames] == [0, step, 2 * step]
        assert frames[0].time_base == AUDIO_TIME_BASE == Fraction(1, 48000)
        await mic.stop()
    with pytest.raises(MediaStreamError):
        await MicrophoneTrack(SimulatedMicrophone()).recv()


def test_mean_luma_and_audio_rms() -> None:
    assert mean_luma(grey_frame(16)) == 16
    assert mean_luma(grey_frame(200)) == 200
    assert mean_luma(grey_frame(200).reformat(format="rgb24")) == pytest.approx(200, abs=2)
    assert audio_rms(tone(0.0)) == 0
    assert audio_rms(tone(0.5)) == pytest.approx(0.5 / np.sqrt(2), rel=0.01)
    flt = av.AudioFrame.from_ndarray(np.full((1, 960), 0.25, np.float32), format="flt")
    assert audio_rms(flt) == pytest.approx(0.25)


async def test_probe_counts_and_flags() -> None:
    seen: list[int] = []
    clock = iter(float(i) for i in range(100))
    probe = MediaProbe(on_video=lambda f: seen.append(f.width), clock=lambda: next(clock))
    probe.watch(ListTrack("video", [grey_frame(16)] * 20 + [grey_frame(180)] * 20))
    probe.watch(ListTrack("audio", [tone(0.0), tone(0.4), tone(0.1)]))
    async with asyncio.timeout(5):
        await probe.wait_video(40)
        await probe.wait_audio(3)
    assert probe.video_frames == 40 and len(seen) == 40
    assert probe.non_black_seen  # sampled frames 1, 16, 31: the last one is grey
    assert probe.first_video_at is not None and probe.first_audio_at is not None
    assert probe.audio_frames == 3
    assert probe.peak_audio_rms == pytest.approx(0.4 / np.sqrt(2), rel=0.01)
    await probe.stop()
    await probe.stop()


async def test_black_picture_is_not_taken_for_a_picture() -> None:
    probe = MediaProbe()
    probe.watch(ListTrack("video", [grey_frame(16)] * 31))
    async with asyncio.timeout(5):
        await probe.wait_video(31)
    assert not probe.non_black_seen
    assert probe.last_luma == 16
    await probe.stop()


async def test_camera_off_sends_black_and_mute_sends_silence() -> None:
    camera = SimulatedCamera(fps=100)
    mic = SimulatedMicrophone()
    await camera.start()
    await mic.start()
    off = False
    seen: list[av.VideoFrame] = []
    video = CameraTrack(camera, blank=lambda: off, on_frame=seen.append)
    audio = MicrophoneTrack(mic, silence=lambda: off)
    heard = OpusListener()
    assert mean_luma(await video.recv()) > 40 and audio_rms(heard(await audio.recv())) > 0.1
    off = True
    black = await video.recv()
    # The codec's overlap fades out over two frames; then the adviser hears digital silence.
    for _ in range(2):
        heard(await audio.recv())
    quiet = heard(await audio.recv())
    assert abs(mean_luma(black) - 16) < 1 and audio_rms(quiet) == 0.0
    assert (black.width, black.height) == (640, 480) and quiet.samples == 960
    assert seen[-1] is black  # the self view shows what the adviser gets
    off = False
    for _ in range(2):  # and fades the voice back in
        heard(await audio.recv())
    assert mean_luma(await video.recv()) > 40 and audio_rms(heard(await audio.recv())) > 0.1
    stamps = [pts for f in seen if (pts := f.pts) is not None]
    assert len(stamps) == len(seen) and stamps == sorted(stamps)  # one clock throughout
    await camera.stop()
    await mic.stop()
