"""The stand-in hardware encoder with its real child process: what a Pi's encoder must do.

Packets are Annex-B constrained baseline H.264 with SPS/PPS before every IDR; a call starts on
an IDR; a keyframe request is answered by the very next frame; blank sends black; bitrate is
clamped; a broken child ends the sources with a typed error and is reaped on stop.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from fractions import Fraction
from typing import Any

import av
import numpy as np
import pytest

from drivers.camera import Camera
from drivers.camera.encoded import EncodingCamera, PacketSource
from drivers.camera.h264_standin import H264StandinCamera
from drivers.camera.h264_standin_worker import REOPEN_INTERVAL_S, StandinEncoder, preview_step
from drivers.camera.simulated import luma_plane
from drivers.camera.standin_wire import WireError
from drivers.errors import DeviceGone, DeviceNotStarted, DriverError, UnsupportedSetting

WIDTH, HEIGHT = 128, 96
NAL_SPS, NAL_PPS, NAL_IDR = 7, 8, 5


def nal_types(data: bytes) -> list[int]:
    """NAL unit types of an Annex-B access unit, in order."""
    types = []
    i = data.find(b"\x00\x00\x01")
    while i >= 0:
        types.append(data[i + 3] & 0x1F)
        i = data.find(b"\x00\x00\x01", i + 3)
    return types


@pytest.fixture
async def camera() -> AsyncIterator[H264StandinCamera]:
    cam = H264StandinCamera(WIDTH, HEIGHT, 30)
    await cam.start()
    yield cam
    await cam.stop()


async def test_it_is_a_camera_and_hands_out_packet_sources(camera: H264StandinCamera) -> None:
    as_camera: Camera = camera  # mypy checks the Camera protocol; EncodingCamera at runtime too
    assert isinstance(as_camera, EncodingCamera)
    source = camera.packet_source()
    assert isinstance(source, PacketSource) and source.codec == "H264"
    await source.close()


async def test_packets_decode_start_on_an_idr_and_answer_keyframe_requests(
    camera: H264StandinCamera,
) -> None:
    previews: list[av.VideoFrame] = []
    source = camera.packet_source(on_preview=previews.append)
    decoder = av.CodecContext.create("h264", "r")
    first = await source.packet()
    # A call starts on an IDR that carries its own SPS and PPS, in Annex-B form.
    assert first.is_keyframe and bytes(first).startswith(b"\x00\x00\x00\x01")
    assert nal_types(bytes(first))[:2] == [NAL_SPS, NAL_PPS] and NAL_IDR in nal_types(bytes(first))
    assert first.time_base == Fraction(1, 90_000)
    packets = [first]
    while camera.keyframes.next_frame < 1:  # the source's own request (the child's frame 0
        packets.append(await source.packet())  # is an IDR too, when the source saw it)
    packets += [await source.packet() for _ in range(9)]
    assert all(not p.is_keyframe for p in packets[-9:])  # no IDR unless asked (or every gop)
    pts = [p.pts or 0 for p in packets]
    assert pts == sorted(set(pts))
    before = camera.keyframes.next_frame
    source.request_keyframe()
    for _ in range(10):
        packets.append(await source.packet())
    # The child acknowledged the request and its very next frame was an IDR with headers.
    assert camera.keyframes.next_frame == before + 1 and camera.keyframes.late == 0
    idrs = [p for p in packets[-10:] if p.is_keyframe]
    assert len(idrs) == 1 and nal_types(bytes(idrs[0]))[:2] == [NAL_SPS, NAL_PPS]
    frames = [f for p in packets for f in decoder.decode(p)]
    # zerolatency, no B-frames: every packet decodes to its own frame, none held back
    assert len(frames) == len(packets) and (frames[0].width, frames[0].height) == (WIDTH, HEIGHT)
    assert float(luma_plane(frames[-1]).mean()) > 40  # the test picture, not black
    assert previews and previews[0].format.name == "yuv420p"
    await source.close()


async def test_blank_sends_black_and_the_stream_goes_on(camera: H264StandinCamera) -> None:
    source = camera.packet_source()
    decoder = av.CodecContext.create("h264", "r")
    for _ in range(3):
        for f in decoder.decode(await source.packet()):
            assert float(luma_plane(f).mean()) > 40
    source.set_blank(True)
    lumas = []
    for _ in range(15):
        lumas += [float(luma_plane(f).mean()) for f in decoder.decode(await source.packet())]
    assert lumas[-1] < 20, lumas
    await source.close()


async def test_bitrate_is_clamped_and_a_closed_source_refuses(camera: H264StandinCamera) -> None:
    source = camera.packet_source()
    source.set_target_bitrate(10)
    assert camera.target_bitrate == camera.min_bitrate
    source.set_target_bitrate(10**9)
    assert camera.target_bitrate == camera.max_bitrate
    await source.packet()  # the child took both commands and goes on
    await source.close()
    with pytest.raises(DeviceNotStarted):
        await source.packet()


async def test_a_waiting_packet_wakes_when_its_source_closes_or_the_camera_stops() -> None:
    silent = [sys.executable, "-c", "import time; time.sleep(60)"]  # never sends a packet
    cam = H264StandinCamera(WIDTH, HEIGHT, command=silent)
    cam.exit_grace_s = 0.2
    await cam.start()
    first, second = cam.packet_source(), cam.packet_source()
    waiting = [asyncio.create_task(s.packet()) for s in (first, second)]
    await asyncio.sleep(0)
    await first.close()
    with pytest.raises(DeviceNotStarted, match="source closed"):
        await asyncio.wait_for(waiting[0], 10)
    await cam.stop()
    with pytest.raises(DeviceNotStarted, match="stopped"):
        await asyncio.wait_for(waiting[1], 10)


def test_the_worker_encoder_follows_a_new_bitrate() -> None:
    # What the child does on `bitrate`: the encoder's output follows the new target, and
    # reopens (each an IDR) stay REOPEN_INTERVAL_S apart.
    now = [0.0]
    rng = np.random.default_rng(7)
    encoder = StandinEncoder(320, 240, 30, 3_000_000, 3000, clock=lambda: now[0])

    def one_second() -> tuple[int, int]:
        size = keyframes = 0
        for i in range(30):
            buf = (112 + rng.integers(0, 6, (240 * 3 // 2, 320))).astype(np.uint8)
            for p in encoder.encode(buf, i, i * 3000, False):
                size, keyframes = size + len(p.data), keyframes + p.keyframe
            now[0] += 1 / 30
        return size * 8, keyframes

    high, _ = one_second()
    now[0] += REOPEN_INTERVAL_S
    encoder.set_bitrate(150_000)
    one_second()  # the rate control settles
    low, _ = one_second()
    assert low < 300_000 < 2_000_000 < high, (high, low)
    encoder.set_bitrate(1_000_000)  # a reopen: its first frame is an IDR
    assert one_second()[1] == 1 and encoder.bitrate == 1_000_000
    encoder.set_bitrate(3_000_000)  # too soon after that reopen: later, not now
    assert one_second()[1] == 0 and encoder.bitrate == 1_000_000
    now[0] += REOPEN_INTERVAL_S
    encoder.set_bitrate(1_100_000)  # a small step keeps the encoder (no IDR for it)
    assert one_second()[1] == 0 and encoder.bitrate == 1_000_000


def test_preview_sizes() -> None:
    assert preview_step(640, 480) == 2 and preview_step(1280, 720) == 4
    assert preview_step(128, 96) == 1


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"width": 100}, "multiple of 32"),
        ({"fps": 0}, "fps"),
        ({"bitrate": 10}, "bitrates"),
    ],
)
def test_bad_settings(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(UnsupportedSetting, match=match):
        H264StandinCamera(**kwargs)


def _alive(pid: int) -> bool:
    """True while ``pid`` exists at all (a zombie counts: it was not reaped)."""
    return os.path.exists(f"/proc/{pid}")


async def test_garbage_from_the_child_is_a_typed_error_and_the_child_is_reaped() -> None:
    script = (
        "import sys, time; sys.stdout.buffer.write(b'garbage' * 9); sys.stdout.flush(); "
        "time.sleep(60)"
    )
    cam = H264StandinCamera(WIDTH, HEIGHT, command=[sys.executable, "-c", script])
    await cam.start()
    source = cam.packet_source()
    with pytest.raises(WireError, match="no message start"):
        await asyncio.wait_for(source.packet(), 30)
    with pytest.raises(WireError):  # and stays failed, it does not hang
        await source.packet()
    pid = cam.child_pid
    assert pid is not None
    await cam.stop()
    assert not _alive(pid)


async def test_a_child_that_dies_ends_the_call_source() -> None:
    cam = H264StandinCamera(WIDTH, HEIGHT, command=[sys.executable, "-c", "raise SystemExit(3)"])
    await cam.start()
    source = cam.packet_source()
    with pytest.raises(DeviceGone, match="exited"):
        await asyncio.wait_for(source.packet(), 30)
    with pytest.raises(DriverError):
        await cam.frame()
    await cam.stop()


async def test_stop_kills_a_child_that_ignores_its_stdin_closing() -> None:
    script = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)"
    cam = H264StandinCamera(WIDTH, HEIGHT, command=[sys.executable, "-c", script])
    cam.exit_grace_s = 0.2
    await cam.start()
    pid = cam.child_pid
    assert pid is not None
    await cam.stop()
    assert not _alive(pid)
    await cam.stop()  # idempotent


async def test_nothing_before_start() -> None:
    cam = H264StandinCamera(WIDTH, HEIGHT)
    with pytest.raises(DeviceNotStarted):
        cam.packet_source()
    with pytest.raises(DeviceNotStarted):
        await cam.frame()


def test_the_worker_refuses_a_bad_command() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "drivers.camera.h264_standin_worker", "--width=128", "--height=96"],
        input=b"make coffee\n",
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert b"unknown command" in result.stderr
