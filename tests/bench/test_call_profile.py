"""bench/call_profile.py: a recorded py-spy sample of a call (the kiosk at 640x480, before issue
17) summarised per thread and kind of work, and bad sample files refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bench.call_proc import CLK_TCK, StatLine
from bench.call_profile import (
    OTHER,
    WAITING,
    SampleFormatError,
    Stack,
    by_kind,
    kind_of,
    markdown_budget,
    parse_raw,
    role_of,
    summarise,
)

RECORDED = Path(__file__).resolve().parents[1] / "fixtures" / "bench" / "pyspy_call_640x480.raw"
MAIN, EXEC0, EXEC1, VDEC, ADEC = 1030, 1172, 1173, 1555, 1556  # the recording's thread ids


@pytest.fixture(scope="module")
def stacks() -> list[Stack]:
    return parse_raw(RECORDED.read_text())


def test_the_recording_parses_into_named_threads(stacks: list[Stack]) -> None:
    names = {s.tid: s.thread for s in stacks}
    assert names == {
        MAIN: "MainThread",
        EXEC0: "asyncio_0",
        EXEC1: "asyncio_1",
        VDEC: "video-decoder",
        ADEC: "audio-decoder",
    }
    assert sum(s.count for s in stacks) == 234
    assert stacks[0].frames[0] == ("<module>", "kiosk")  # the console script


@pytest.mark.parametrize(
    ("frames", "kind"),
    [
        ((("Vp8Encoder.encode", "aiortc/codecs/vpx.py"),), "encode"),
        ((("Vp8Decoder.decode", "aiortc/codecs/vpx.py"),), "decode"),
        ((("Vp8Encoder._packetize", "aiortc/codecs/vpx.py"),), "RTP send"),
        ((("OpusEncoder.encode", "aiortc/codecs/opus.py"),), "audio"),
        ((("RTCRtpSender._run_rtcp", "aiortc/rtcrtpsender.py"),), "RTCP/bandwidth estimation"),
        ((("Session.protect", "pylibsrtp/__init__.py"),), "SRTP/DTLS"),
        # stdlib helpers count for their caller; our code calling aiortc counts as aiortc
        (
            (
                ("CallMedia.run", "appliance/call/media.py"),
                ("RTCRtpReceiver._handle_rtp_packet", "aiortc/rtcrtpreceiver.py"),
                ("Fraction.__mul__", "fractions.py"),
            ),
            "RTP receive/jitter/depacketize",
        ),
        ((("TestPicture.render", "drivers/camera/simulated.py"),), "camera capture"),
        ((("MediaProbe.on_frame", "appliance/call/media.py"),), "our code"),
        ((("EncodedVideoTrack.recv", "appliance/call/encoded.py"),), "our code"),
        ((("SoftwareVideoSource._encode", "appliance/call/encoded.py"),), "encode"),
        ((("OpusPacketizer._encode_direct", "appliance/call/opus_packets.py"),), "audio"),
        (
            (("BaseEventLoop._run_once", "asyncio/base_events.py"),),
            "asyncio scheduling/thread handoff",
        ),
        (
            (("_SelectorDatagramTransport.sendto", "asyncio/selector_events.py"),),
            "ICE/UDP transport",
        ),
        ((("EpollSelector.select", "selectors.py"),), WAITING),
        ((("Condition.wait", "threading.py"),), WAITING),
        ((("mystery", "elsewhere.py"),), OTHER),
        ((), OTHER),
    ],
)
def test_kinds_of_work(frames: tuple[tuple[str, str], ...], kind: str) -> None:
    assert kind_of(frames) == kind


def test_roles_of_threads() -> None:
    assert role_of("MainThread") == "asyncio loop"
    assert role_of("asyncio_3") == "default executor"
    assert role_of("video-decoder") == "aiortc video decoder"
    assert role_of("video-encode_0") == "kiosk video encoder"
    assert role_of("camera-encoder") == "camera-encoder"


def test_each_threads_exact_cpu_is_split_by_its_busy_samples(stacks: list[Stack]) -> None:
    ms = CLK_TCK // 10  # 100 ms of CPU in ticks
    before = {tid: StatLine("kiosk", 0) for tid in (MAIN, EXEC0, EXEC1, VDEC, ADEC, 7)}
    after = {
        MAIN: StatLine("kiosk", 6 * ms),  # 600 ms in 2 s: 300 ms/s
        EXEC0: StatLine("kiosk", 4 * ms),
        EXEC1: StatLine("kiosk", 0),  # idle in this window: left out
        VDEC: StatLine("kiosk", ms),
        ADEC: StatLine("kiosk", ms),
        7: StatLine("vpx-worker", 2 * ms),  # a native thread py-spy never saw
    }
    table = summarise(stacks, before, after, 2.0)
    assert list(table) == [
        "asyncio loop",
        "default executor",
        "vpx-worker (no Python samples)",
        "aiortc video decoder",
        "aiortc audio decoder",
    ]
    loop = table["asyncio loop"]
    assert loop["total"] == 300.0
    # 59 busy samples of 121 (62 wait in epoll): capture 12, handoff 26, UDP 6, ...
    assert loop["camera capture"] == round(300 * 12 / 59, 1)
    assert loop["asyncio scheduling/thread handoff"] == round(300 * 26 / 59, 1)
    assert WAITING not in loop
    assert table["default executor"] == {
        "total": 200.0,
        "encode": 125.0,
        "asyncio scheduling/thread handoff": 45.0,
        "audio": 30.0,
    }
    assert table["vpx-worker (no Python samples)"] == {"total": 100.0, "native": 100.0}
    assert table["aiortc video decoder"] == {
        "total": 50.0,
        "decode": 40.0,
        "asyncio scheduling/thread handoff": 10.0,
    }
    kinds = by_kind(table)
    assert sum(kinds.values()) == pytest.approx(300 + 200 + 100 + 50 + 50, abs=0.5)
    assert kinds["encode"] == 125.0


def test_a_thread_that_only_waited_keeps_its_cpu_as_waiting() -> None:
    stacks = parse_raw("thread (5): MainThread;EpollSelector.select (selectors.py:468) 9\n")
    table = summarise(stacks, {5: StatLine("k", 0)}, {5: StatLine("k", CLK_TCK)}, 1.0)
    assert table == {"asyncio loop": {"total": 1000.0, WAITING: 1000.0}}


@pytest.mark.parametrize(
    "text",
    [
        "not a sample",
        "thread (12): MainThread;f (a.py:1)",  # no count
        "thread (0xZZ): MainThread;f (a.py:1) 3",
        "process 12;f (a.py:1) 3",
        "thread (12): MainThread;f (a.py:1) -3",
    ],
)
def test_bad_sample_lines_are_refused(text: str) -> None:
    with pytest.raises(SampleFormatError, match="line 1"):
        parse_raw(text)


@given(st.text(max_size=300))
def test_any_text_parses_or_is_refused(text: str) -> None:
    try:
        stacks = parse_raw(text)
    except SampleFormatError:
        return
    assert all(s.count >= 0 for s in stacks)


def test_hex_thread_ids_from_older_py_spy_versions() -> None:
    (stack,) = parse_raw("thread (0x7F1A): asyncio_0;_worker (concurrent/futures/thread.py:83) 4")
    assert (stack.tid, stack.thread, stack.count) == (0x7F1A, "asyncio_0", 4)
    assert stack.frames == (("_worker", "concurrent/futures/thread.py"),)


def test_the_budget_table_has_a_row_per_thread_and_kind_and_a_process_total() -> None:
    small = {"asyncio loop": {"total": 100.0, "RTP send": 60.0, "SRTP/DTLS": 40.0}}
    big = {
        "asyncio loop": {"total": 150.0, "RTP send": 150.0},
        "default executor": {"total": 300.0, "encode": 300.0},
    }
    table = markdown_budget({"640x480": small, "1280x720": big}).splitlines()
    assert table == [
        "| thread | work | 640x480 | 1280x720 |",
        "| --- | --- | ---: | ---: |",
        "| default executor | **all** | **0.0** | **300.0** |",
        "| default executor | encode | 0.0 | 300.0 |",
        "| asyncio loop | **all** | **100.0** | **150.0** |",
        "| asyncio loop | RTP send | 60.0 | 150.0 |",
        "| asyncio loop | SRTP/DTLS | 40.0 | 0.0 |",
        "| **process** | **all** | **100.0** | **450.0** |",
    ]
