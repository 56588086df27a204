"""appliance/call/aiortc_tuning.py: cheaper aiortc internals that behave exactly as aiortc's."""

from __future__ import annotations

import asyncio
import calendar
import datetime
import logging
import queue
import threading
from fractions import Fraction
from types import SimpleNamespace
from typing import Any

import av
import numpy as np
import pytest
from aiortc import (
    RTCPeerConnection,
    RTCSessionDescription,
    clock,
    rtcpeerconnection,
    rtcrtpreceiver,
)
from aiortc.codecs import opus, vpx
from aiortc.jitterbuffer import JitterFrame
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from aiortc.rtcrtpreceiver import RTCRtpReceiver
from hypothesis import given
from hypothesis import strategies as st

from appliance.call import aiortc_tuning
from appliance.call.aiortc_tuning import AiortcShapeError, InlineAudioDecoder, applied
from appliance.call.codecs import open_encoder, video_settings
from appliance.call.connection import rtc_configuration
from appliance.call.media import MicrophoneTrack
from drivers.microphone.simulated import SimulatedMicrophone

ORIGINAL_NTP, ORIGINAL_MS = clock.current_ntp_time, clock.current_ms
ORIGINAL_CONVERT = getattr(opus, "convert_timebase")  # noqa: B009  # not re-exported
ORIGINAL_WORKER = rtcrtpreceiver.decoder_worker
ERROR_ATTRIBUTE = "_RTCRtpReceiver__decoder_error"
CONVERT = "convert_timebase"


def built_receiver() -> Any:
    """The receiver class aiortc's peer connection builds (a name it does not export)."""
    return getattr(rtcpeerconnection, "RTCRtpReceiver")  # noqa: B009


def test_aiortc_still_has_the_shape_the_tuning_replaces() -> None:
    """Fails loudly on an aiortc whose internals moved (pin 1.16 or update aiortc_tuning)."""
    aiortc_tuning.check_shape()


def test_a_changed_aiortc_is_refused_loudly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(clock, "current_ms")
    with pytest.raises(AiortcShapeError, match="update aiortc_tuning"):
        aiortc_tuning.apply()
    assert built_receiver() is RTCRtpReceiver  # nothing half-applied


@pytest.mark.parametrize(
    "moment",
    [
        datetime.datetime(2026, 12, 7, 18, 30, 0, 0, tzinfo=datetime.UTC),
        datetime.datetime(2026, 12, 7, 18, 30, 0, 500_000, tzinfo=datetime.UTC),
        datetime.datetime(2036, 2, 7, 6, 28, 15, 250_000, tzinfo=datetime.UTC),  # NTP era end
        datetime.datetime(1970, 1, 1, 0, 0, 0, 1_000, tzinfo=datetime.UTC),
    ],
)
def test_the_fast_clock_tells_aiortcs_time(moment: datetime.datetime) -> None:
    # The same instant through aiortc's datetime arithmetic and through ours: the same value.
    now_ns = calendar.timegm(moment.timetuple()) * 1_000_000_000 + moment.microsecond * 1000
    assert aiortc_tuning.current_ntp_time(now_ns) == clock.datetime_to_ntp(moment)
    ms_since_ntp_epoch = round((moment - clock.NTP_EPOCH).total_seconds() * 1000)
    assert aiortc_tuning.current_ms(now_ns) == ms_since_ntp_epoch


@given(
    pts=st.integers(0, 2**40),
    num=st.integers(1, 1000),
    den=st.integers(1, 200_000),
    clock_rate=st.sampled_from([8000, 48_000, 90_000]),
)
def test_timebase_conversion_equals_aiortcs(pts: int, num: int, den: int, clock_rate: int) -> None:
    to_base = Fraction(1, clock_rate)
    for from_base in (Fraction(num, den), to_base):
        got = aiortc_tuning.convert_timebase(pts, from_base, to_base)
        assert got == ORIGINAL_CONVERT(pts, from_base, to_base)


def test_apply_and_undo_swap_exactly_the_replaced_names() -> None:
    with applied():
        assert clock.current_ntp_time is aiortc_tuning.current_ntp_time
        assert getattr(vpx, CONVERT) is aiortc_tuning.convert_timebase
        assert built_receiver() is not RTCRtpReceiver
        assert rtcrtpreceiver.decoder_worker is aiortc_tuning.decoder_worker
        with applied():  # a second apply is harmless and its undo leaves the first in place
            pass
        assert clock.current_ms is aiortc_tuning.current_ms
    assert (clock.current_ntp_time, clock.current_ms) == (ORIGINAL_NTP, ORIGINAL_MS)
    assert getattr(opus, CONVERT) is ORIGINAL_CONVERT
    assert built_receiver() is RTCRtpReceiver
    assert rtcrtpreceiver.decoder_worker is ORIGINAL_WORKER


class _Receiver:
    """What InlineAudioDecoder reads of a receiver: its track's queue and error flag."""

    def __init__(self) -> None:
        self.error = threading.Event()
        self.frames: asyncio.Queue[Any] = asyncio.Queue()
        setattr(self, ERROR_ATTRIBUTE, self.error)
        self._track = SimpleNamespace(_queue=self.frames)


class _Codec:
    name = "opus"
    mimeType = "audio/opus"
    clockRate = 48_000
    channels = 2


def test_a_frame_that_does_not_decode_is_flagged_and_dropped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    receiver = _Receiver()
    inline = InlineAudioDecoder(receiver)

    class Broken:
        def decode(self, frame: Any) -> list[Any]:
            raise av.InvalidDataError(1094995529, "Invalid data found", "\x00evil")

    inline._decoder, inline._codec_name = Broken(), "opus"  # noqa: SLF001
    with caplog.at_level(logging.WARNING):
        inline.put((_Codec(), JitterFrame(data=b"\x00evil", timestamp=0)))
    assert receiver.error.is_set()
    assert receiver.frames.empty()
    assert "evil" not in caplog.text  # no received bytes in the log
    # A good frame afterwards still decodes (the decoder was kept).
    inline._decoder, inline._codec_name = None, None  # noqa: SLF001
    encoder = av.CodecContext.create("libopus", "w")
    encoder.bit_rate, encoder.format, encoder.layout, encoder.sample_rate = (
        64_000,
        "s16",
        "mono",
        48_000,
    )
    frame = av.AudioFrame(format="s16", layout="mono", samples=960)
    for plane in frame.planes:
        plane.update(bytes(plane.buffer_size))
    frame.sample_rate, frame.pts = 48_000, 0
    (packet,) = encoder.encode(frame)
    inline.put((_Codec(), JitterFrame(data=bytes(packet), timestamp=0)))
    assert not receiver.frames.empty()


@pytest.mark.usefixtures("loopback_only_netns")
async def test_received_audio_is_decoded_on_the_loop_and_the_stream_still_ends() -> None:
    with applied():
        mic = SimulatedMicrophone()
        await mic.start()
        kiosk = RTCPeerConnection(rtc_configuration(()))
        far = RTCPeerConnection(rtc_configuration(()))
        got: asyncio.Queue[MediaStreamTrack] = asyncio.Queue()
        far.on("track", got.put_nowait)
        kiosk.addTrack(MicrophoneTrack(mic))
        try:
            await kiosk.setLocalDescription(await kiosk.createOffer())
            await far.setRemoteDescription(kiosk.localDescription)
            await far.setLocalDescription(await far.createAnswer())
            await kiosk.setRemoteDescription(
                RTCSessionDescription(sdp=far.localDescription.sdp, type="answer")
            )
            track = await asyncio.wait_for(got.get(), 10)
            frames = [await asyncio.wait_for(track.recv(), 10) for _ in range(5)]
            assert all(isinstance(f, av.AudioFrame) for f in frames)
            (receiver,) = [t.receiver for t in far.getTransceivers()]
            queue = getattr(receiver, "_RTCRtpReceiver__decoder_queue")  # noqa: B009
            assert isinstance(queue, InlineAudioDecoder)
        finally:
            await kiosk.close()
            await far.close()
            await mic.stop()
        # aiortc's decoder thread still ends the track when the receiver stops.
        with pytest.raises(MediaStreamError):
            while True:
                await asyncio.wait_for(track.recv(), 10)


def test_the_kiosk_start_tunes_aiortc_or_says_why_not(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    undo = aiortc_tuning.tune_aiortc()
    assert undo is not None
    try:
        assert built_receiver() is not RTCRtpReceiver
    finally:
        undo()
    monkeypatch.delattr(clock, "current_ntp_time")
    with caplog.at_level(logging.WARNING):
        assert aiortc_tuning.tune_aiortc() is None
    assert "untuned" in caplog.text
    assert built_receiver() is RTCRtpReceiver


async def test_the_video_decoder_thread_hands_frames_back_in_order_and_ends() -> None:
    settings = video_settings("VP8", 64, 48)
    encoder = open_encoder(settings, 64, 48, 30, settings.max_bitrate)
    packets = []
    for i in range(4):
        frame = av.VideoFrame.from_ndarray(
            np.full((72, 64), 40 * i + 20, dtype=np.uint8), format="yuv420p"
        )
        frame.pts = i * 3000
        packets += [bytes(p) for p in encoder.encode(frame)]
    codec = RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90_000, payloadType=96)
    loop = asyncio.get_running_loop()
    work: queue.Queue[Any] = queue.Queue()
    frames: asyncio.Queue[Any] = asyncio.Queue()
    broken = threading.Event()
    worker = threading.Thread(
        target=aiortc_tuning.decoder_worker, args=(loop, work, frames, broken)
    )
    worker.start()
    work.put((codec, JitterFrame(data=b"\x00not vp8", timestamp=0)))
    for i, data in enumerate(packets):
        work.put((codec, JitterFrame(data=data, timestamp=i * 3000)))
    work.put(None)
    got = [await asyncio.wait_for(frames.get(), 10) for _ in range(len(packets) + 1)]
    await asyncio.to_thread(worker.join)
    assert got[-1] is None  # the end of the stream, after every frame
    assert [f.pts for f in got[:-1]] == [i * 3000 for i in range(len(packets))]
    lumas = [float(f.to_ndarray()[:48].mean()) for f in got[:-1]]
    assert lumas == sorted(lumas)  # in the order they were sent
    assert broken.is_set()  # the broken frame asks for a keyframe
