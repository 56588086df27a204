"""Camera, microphone and speaker through real PyAV inputs and outputs (lavfi, files)."""

from __future__ import annotations

import asyncio
import importlib
from pathlib import Path
from types import ModuleType

import av
import numpy as np
import pytest

from drivers.camera.picamera2 import Picamera2Camera
from drivers.camera.pyav import PyAVCamera
from drivers.errors import BackendUnavailable, DeviceGone, DeviceNotFound, DeviceNotStarted
from drivers.microphone.pyav import PyAVMicrophone
from drivers.speaker.pyav import PyAVSpeaker
from drivers.speaker.simulated import SimulatedSpeaker, rms_level


async def test_camera_from_lavfi_scales_and_keeps_the_photo_full_size() -> None:
    camera = PyAVCamera("testsrc=size=1280x720:rate=30", fmt="lavfi", width=320, height=240)
    await camera.start()
    try:
        frames = [await camera.frame() for _ in range(3)]
        assert {(f.width, f.height, f.format.name) for f in frames} == {(320, 240, "yuv420p")}
        assert float(np.std(frames[0].to_ndarray(format="gray"))) > 10  # real picture content
        assert frames[0].time is not None and frames[1].time > frames[0].time
        photo = await camera.photo()
        assert (photo.width, photo.height) == (1280, 720)
    finally:
        await camera.stop()


async def test_camera_latest_frame_semantics() -> None:
    camera = PyAVCamera("testsrc=size=160x120:rate=50", fmt="lavfi", width=160, height=120)
    await camera.start()
    try:
        first = await camera.frame()
        await asyncio.sleep(0.3)  # ~15 frames captured meanwhile
        second = await camera.frame()
        # We get the newest frame, not the next one in a queue.
        assert second.time - first.time > 0.2
    finally:
        await camera.stop()


async def test_camera_file_that_ends_is_gone_then_comes_back(tmp_path: Path) -> None:
    clip = tmp_path / "clip.y4m"
    with av.open(str(clip), "w") as out:
        stream = out.add_stream("rawvideo", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(3):
            img = np.full((48, 64, 3), i * 60, dtype=np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    camera = PyAVCamera(str(clip), width=64, height=48)
    await camera.start()
    with pytest.raises(DeviceGone):
        for _ in range(10):
            await camera.frame()
    frame = await camera.frame()  # re-opened on the next call
    assert frame.width == 64
    await camera.stop()
    with pytest.raises(DeviceNotStarted):
        await camera.frame()


async def test_missing_camera_is_device_not_found(tmp_path: Path) -> None:
    with pytest.raises(DeviceNotFound, match="does not exist|cannot open"):
        await PyAVCamera(str(tmp_path / "video9")).start()


async def test_picamera2_missing_is_a_clear_typed_error() -> None:
    def no_picamera2(name: str) -> ModuleType:
        raise ModuleNotFoundError(f"No module named {name!r}")

    with pytest.raises(BackendUnavailable, match="Raspberry Pi OS"):
        await Picamera2Camera(importer=no_picamera2).start()
    try:
        importlib.import_module("picamera2")
    except ImportError:  # as on every non-Pi machine: the default importer says the same
        with pytest.raises(BackendUnavailable, match="pi` extra"):
            await Picamera2Camera().start()


async def test_microphone_from_a_lavfi_sine() -> None:
    mic = PyAVMicrophone("sine=frequency=1000:sample_rate=44100", fmt="lavfi", sample_rate=48000)
    await mic.start()
    try:
        frames = [await mic.frame() for _ in range(5)]
    finally:
        await mic.stop()
    assert {(f.samples, f.format.name, f.layout.name, f.sample_rate) for f in frames} == {
        (960, "s16", "mono", 48000)
    }
    assert [f.pts for f in frames] == [0, 960, 1920, 2880, 3840]
    assert rms_level(frames[-1]) == pytest.approx(0.125 / 2**0.5, rel=0.1)  # lavfi sine: 1/8


async def test_microphone_from_a_wav_file_and_its_end(tmp_path: Path) -> None:
    wav = tmp_path / "speech.wav"
    with av.open(str(wav), "w") as out:
        stream = out.add_stream("pcm_s16le", rate=16000, layout="mono")
        pcm = (np.sin(np.arange(1600) / 5) * 8000).astype(np.int16).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout="mono")
        frame.sample_rate = 16000
        for packet in stream.encode(frame):
            out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    mic = PyAVMicrophone(str(wav), fmt=None, sample_rate=16000)
    await mic.start()
    with pytest.raises(DeviceGone, match="stopped delivering"):
        for _ in range(20):
            await mic.frame()
    await mic.stop()


async def test_missing_alsa_device() -> None:
    with pytest.raises(DeviceNotFound):
        await PyAVMicrophone("hw:97,0").start()
    with pytest.raises(DeviceNotFound):
        await PyAVSpeaker("hw:97,0").start()


async def test_speaker_writes_what_it_is_given(tmp_path: Path) -> None:
    out = tmp_path / "heard.wav"
    speaker = PyAVSpeaker(str(out), fmt="wav", sample_rate=48000)
    await speaker.start()
    sim = SimulatedSpeaker()
    await sim.start()
    for i in range(10):
        pcm = (np.sin((np.arange(960) + 960 * i) / 10) * 16000).astype(np.int16).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout="mono")
        frame.sample_rate = 48000
        await speaker.play(frame)
        await sim.play(frame)
    await speaker.stop()
    with av.open(str(out)) as heard:
        samples = np.concatenate([f.to_ndarray().ravel() for f in heard.decode(audio=0)])
    # Frames beyond the 200 ms queue are dropped (latency over completeness); none are lost.
    assert samples.size + 960 * speaker.dropped == 9600 and np.abs(samples).max() > 15000
    assert sim.frames == 10 and sim.seconds == pytest.approx(0.2)
    assert sim.level == pytest.approx(16000 / 32768 / 2**0.5, rel=0.05)
