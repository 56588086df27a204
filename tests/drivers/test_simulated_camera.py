"""The simulated camera: test picture, time code through a real codec, pacing, bad settings."""

from __future__ import annotations

import asyncio
import math
import time
from fractions import Fraction
from typing import cast

import av
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers.camera import Camera
from drivers.camera.simulated import (
    BARS_RGB,
    SimulatedCamera,
    TestPicture,
    luma_plane,
    read_capture_clock,
    yuv420p_frame,
)
from drivers.errors import DeviceNotStarted, DriverError, UnsupportedSetting
from tests.support.requirements import require

FIXED_S = 1_700_000_123.456  # 1700000123456 ms; modulo 2**32 it still has both bit values


def fixed_clock() -> float:
    return FIXED_S


def expected_code(seconds: float) -> int:
    return int(seconds * 1000) % 2**32


async def one_frame(camera: SimulatedCamera) -> av.VideoFrame:
    await camera.start()
    try:
        return await camera.frame()
    finally:
        await camera.stop()


async def test_is_a_camera() -> None:
    camera: Camera = SimulatedCamera()
    assert camera.info.width == 640 and camera.info.height == 480 and camera.info.fps == 30


async def test_clock_reads_back_from_raw_luma_and_rgb() -> None:
    frame = await one_frame(SimulatedCamera(clock=fixed_clock))
    assert (frame.width, frame.height, frame.format.name) == (640, 480, "yuv420p")
    # Stamped with its slot's time: the clock's reading less however late the frame woke.
    assert FIXED_S - 1 < frame.time <= FIXED_S
    code = expected_code(frame.time)
    assert read_capture_clock(luma_plane(frame)) == code
    assert read_capture_clock(frame.to_ndarray(format="rgb24")) == code
    assert frame.time_base == Fraction(1, 1_000_000)


def test_clock_layout_matches_the_contract() -> None:
    picture = TestPicture(640, 480)
    code = 0b1010_0000_0000_0000_0000_0000_0000_0001
    buf = picture.render(code, 0)
    luma = buf[:480]
    assert luma[0, 0] == 235 and luma[15, 19] == 235  # MSB = 1, block 20 px wide
    assert luma[0, 20] == 16  # bit 30 = 0
    assert luma[0, 40] == 235  # bit 29 = 1
    assert luma[0, 639] == 235  # LSB = 1
    assert (luma[16:32] == 251 - luma[0:16]).all()  # inverted copy
    u = buf[480 : 480 + 120].reshape(240, 320)
    assert (u[:16] == 128).all()  # chroma neutral in the clock rows


def test_random_codes_round_trip() -> None:
    picture = TestPicture(320, 240)
    rng = np.random.default_rng(7)
    for code in [0, 2**32 - 1, *rng.integers(0, 2**32, 50).tolist()]:
        assert read_capture_clock(picture.render(int(code), 3)[:240]) == code


@pytest.mark.parametrize("codec", ["libvpx", "libx264"])
def test_clock_survives_encode_and_decode(codec: str) -> None:
    # PyAV's wheels bundle both encoders; a build without one must not pass silently.
    require(codec in av.codecs_available, f"{codec} is missing from this PyAV build")
    picture = TestPicture(640, 480)
    encoder = cast(av.VideoCodecContext, av.CodecContext.create(codec, "w"))
    encoder.width, encoder.height, encoder.pix_fmt = 640, 480, "yuv420p"
    encoder.time_base = Fraction(1, 30)
    encoder.bit_rate = 500_000  # modest, like a real call
    decoder = av.CodecContext.create("vp8" if codec == "libvpx" else "h264", "r")
    codes = [1_700_000_000_000 % 2**32 + 33 * i for i in range(20)]
    decoded: list[av.VideoFrame] = []
    for i, code in enumerate(codes):
        frame = av.VideoFrame.from_ndarray(picture.render(code, i), format="yuv420p")
        frame.pts = i
        for packet in encoder.encode(frame):
            decoded.extend(decoder.decode(packet))
    for packet in encoder.encode(None):
        decoded.extend(decoder.decode(packet))
    decoded.extend(decoder.decode(None))
    assert len(decoded) == len(codes)
    read = [read_capture_clock(luma_plane(f)) for f in decoded]
    assert read == codes


async def test_colour_bars() -> None:
    frame = await one_frame(SimulatedCamera(clock=fixed_clock))
    rgb = frame.to_ndarray(format="rgb24").astype(int)
    row = (32 + 360) // 2
    for i, expected in enumerate(BARS_RGB):
        centre = rgb[row, i * 80 + 40]
        assert np.abs(centre - np.array(expected)).max() <= 6, (i, centre, expected)
    # Dark grey below the bars, somewhere the square is not.
    lower = luma_plane(frame)[360:]
    assert np.median(lower) == 70
    assert (lower == 235).sum() > 100  # the square


async def test_square_moves() -> None:
    camera = SimulatedCamera(fps=100, clock=fixed_clock)
    await camera.start()
    a = luma_plane(await camera.frame())[360:].copy()
    b = luma_plane(await camera.frame())[360:].copy()
    await camera.stop()
    assert not np.array_equal(a, b)


async def test_paced_to_fps() -> None:
    camera = SimulatedCamera(fps=50)
    await camera.start()
    frames = [await camera.frame() for _ in range(25)]
    await camera.stop()
    # Paced by its own capture clock: frames never come closer than one period (20 ms).
    times = [pts for f in frames if (pts := f.pts) is not None]
    assert len(times) == len(frames)
    assert all(b - a >= 19_000 for a, b in zip(times, times[1:], strict=False))


async def test_slow_consumer_gets_fresh_frames_not_a_backlog() -> None:
    camera = SimulatedCamera(fps=100)
    await camera.start()
    await camera.frame()
    await asyncio.sleep(0.2)  # 20 slots go by
    before = time.time()
    frame = await camera.frame()
    await camera.stop()
    assert frame.time >= before - 0.001
    code = read_capture_clock(luma_plane(frame))
    # The picture carries exactly the frame's own capture time (ms, mod 2^32).
    assert frame.pts is not None
    assert code == (frame.pts // 1000) % 2**32


async def test_a_late_first_wake_does_not_stamp_later_frames_in_the_future() -> None:
    fps = 50
    camera = SimulatedCamera(fps=fps)
    await camera.start()
    await asyncio.sleep(0.005)  # the first frame now has a slot ahead to sleep for
    first_task = asyncio.create_task(camera.frame())
    await asyncio.sleep(0)  # it picks its slot and sleeps
    # The event loop stalls (a busy machine): the first frame wakes only after the stall.
    stall_ended: list[float] = []

    def stall() -> None:
        time.sleep(0.15)  # the stall is the point (a sync callback, so ASYNC251 does not apply)
        stall_ended.append(time.time())

    asyncio.get_running_loop().call_soon(stall)
    first = await first_task
    # Its capture time is its slot's, from before the stall, not the late wake's.
    assert first.time < stall_ended[0]
    captures: list[tuple[float, float]] = []
    for _ in range(5):
        frame = await camera.frame()
        captures.append((frame.time, time.time()))
    await camera.stop()
    # Every frame is captured before it is delivered: never a stamp from the future.
    assert all(taken <= delivered for taken, delivered in captures)
    # Stamped on the slot grid: consecutive frames a whole number (at least one) of slots apart.
    slots = [(b[0] - a[0]) * fps for a, b in zip(captures, captures[1:], strict=False)]
    assert all(round(n) >= 1 and math.isclose(n, round(n), abs_tol=1e-3) for n in slots), slots


async def test_frame_before_start_is_a_typed_error() -> None:
    camera = SimulatedCamera()
    with pytest.raises(DeviceNotStarted, match="start"):
        await camera.frame()
    await camera.start()
    await camera.stop()
    await camera.stop()  # idempotent
    with pytest.raises(DriverError):
        await camera.frame()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"fps": 0}, "fps"),
        ({"fps": -5}, "fps"),
        ({"fps": float("nan")}, "fps"),
        ({"fps": 1000}, "fps"),
        ({"fps": "30"}, "fps"),
        ({"width": 641}, "width"),
        ({"width": 650}, "multiple of 32"),
        ({"width": 32}, "width"),
        ({"height": 481}, "height"),
        ({"height": 10}, "height"),
        ({"width": True}, "width"),
        ({"height": 480.0}, "height"),
        ({"width": 8192}, "width"),
    ],
)
def test_bad_settings_are_typed_errors(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(UnsupportedSetting, match=match):
        SimulatedCamera(**kwargs)  # type: ignore[arg-type]


def test_noise_is_not_a_code() -> None:
    rng = np.random.default_rng(1)
    assert read_capture_clock(rng.integers(0, 256, (480, 640), dtype=np.uint8)) is None
    assert read_capture_clock(np.full((480, 640), 128, np.uint8)) is None
    assert read_capture_clock(np.zeros((10, 640), np.uint8)) is None
    assert read_capture_clock(np.zeros((480, 40), np.uint8)) is None


def test_render_is_cheap() -> None:
    picture = TestPicture(640, 480)
    start = time.perf_counter()
    for i in range(300):
        av.VideoFrame.from_ndarray(picture.render(i, i), format="yuv420p")
    per_frame = (time.perf_counter() - start) / 300
    assert per_frame < 0.003  # far below one 30 fps slot, and below a VP8 encode


@given(
    width=st.integers(1, 80).map(lambda n: 2 * n),
    height=st.integers(1, 60).map(lambda n: 2 * n),
    seed=st.integers(0, 2**32 - 1),
)
def test_a_buffer_goes_into_the_frame_planes_unchanged(width: int, height: int, seed: int) -> None:
    # The camera hands its buffer over by writing the frame's planes directly (cheaper than
    # VideoFrame.from_ndarray); the frame must hold exactly the same picture.
    buf = np.random.default_rng(seed).integers(0, 256, (height * 3 // 2, width), dtype=np.uint8)
    frame = yuv420p_frame(buf, width, height)
    assert (frame.width, frame.height, frame.format.name) == (width, height, "yuv420p")
    assert np.array_equal(frame.to_ndarray(), buf)
