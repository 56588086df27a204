"""The kiosk's video as packets: codec settings, the software source, and aiortc carrying it.

The peer tests run a real aiortc pair on loopback: the kiosk side sends a
``SoftwareVideoSource`` through ``add_encoded_video``; the far side decodes what arrives and
sends real RTCP (PLI, REMB) back through its receiver's transport.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import Callable
from typing import Any

import av
import pytest
from aiortc import RTCPeerConnection, RTCRtpSender, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.rtcdtlstransport import RTCDtlsTransport
from aiortc.rtp import RTCP_PSFB_APP, RTCP_PSFB_PLI, RtcpPsfbPacket, pack_remb_fci
from hypothesis import given
from hypothesis import strategies as st

from appliance.call.codecs import (
    CodecSettingsError,
    open_decoder,
    open_encoder,
    video_settings,
)
from appliance.call.connection import rtc_configuration
from appliance.call.encoded import (
    AiortcSeamError,
    EncodedVideoTrack,
    SoftwareVideoSource,
    SourceClosed,
    SourceError,
    add_encoded_video,
    tap_sender,
)
from appliance.call.media import mean_luma
from appliance.runner.local_media import LocalMedia
from drivers.camera.simulated import SimulatedCamera
from drivers.errors import DeviceGone
from drivers.microphone.simulated import SimulatedMicrophone
from tests.support.aiortc_internals import send_rtcp
from tests.support.sdp import video_codecs

BLACK = 22.0  # appliance.call.media.NON_BLACK_LUMA: a black picture stays below


class Recording(SoftwareVideoSource):
    """A software source that remembers what it emitted and what it was asked."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.emitted: list[tuple[int, bool]] = []  # (pts, keyframe)
        self.keyframe_requests: list[int] = []  # packets emitted when each request came
        self.targets: list[tuple[int, int]] = []  # (asked, clamped)
        self.new_packet = asyncio.Event()

    async def packet(self) -> av.Packet[Any]:
        packet = await super().packet()
        self.emitted.append((int(packet.pts or 0), packet.is_keyframe))
        self.new_packet.set()
        return packet

    def request_keyframe(self) -> None:
        self.keyframe_requests.append(len(self.emitted))
        super().request_keyframe()

    def set_target_bitrate(self, bps: int) -> None:
        super().set_target_bitrate(bps)
        self.targets.append((bps, self.target_bitrate))

    async def wait_packets(self, count: int) -> None:
        while len(self.emitted) < count:
            self.new_packet.clear()
            await self.new_packet.wait()


async def until(
    check: Callable[[], bool], progress: asyncio.Event, what: str, timeout_s: float = 10.0
) -> None:
    """Re-check after every packet sent or frame decoded, with a generous bound."""
    try:
        async with asyncio.timeout(timeout_s):
            while not check():
                progress.clear()
                await progress.wait()
    except TimeoutError:
        raise AssertionError(f"never happened: {what}") from None


class Far:
    """The far end: decodes the kiosk's video and keeps the luma of each frame."""

    def __init__(self, progress: asyncio.Event) -> None:
        self.pc = RTCPeerConnection(rtc_configuration(()))
        self.progress = progress
        self.lumas: list[float] = []
        self._task: asyncio.Task[None] | None = None
        self.pc.on("track", self._track)

    def _track(self, track: MediaStreamTrack) -> None:
        self._task = asyncio.create_task(self._consume(track))

    async def _consume(self, track: MediaStreamTrack) -> None:
        try:
            while True:
                frame = await track.recv()
                assert isinstance(frame, av.VideoFrame)
                self.lumas.append(mean_luma(frame))
                self.progress.set()
        except MediaStreamError:
            return

    async def send_rtcp(self, packet: Any) -> None:
        (transceiver,) = self.pc.getTransceivers()
        await send_rtcp(transceiver.receiver, packet)

    async def close(self) -> None:
        await self.pc.close()
        if self._task is not None:
            self._task.cancel()


async def connect(kiosk: RTCPeerConnection, far: Far) -> str:
    """Offer from the kiosk, answer from the far end; the offer's SDP."""
    await kiosk.setLocalDescription(await kiosk.createOffer())
    offer = kiosk.localDescription.sdp
    await far.pc.setRemoteDescription(RTCSessionDescription(sdp=offer, type="offer"))
    await far.pc.setLocalDescription(await far.pc.createAnswer())
    await kiosk.setRemoteDescription(far.pc.localDescription)
    return offer


@pytest.fixture
async def camera() -> Any:
    cam = SimulatedCamera(width=320, height=240, fps=30)
    await cam.start()
    yield cam
    await cam.stop()


# -- settings --------------------------------------------------------------------------


def test_settings_refuse_what_cannot_be_encoded() -> None:
    with pytest.raises(CodecSettingsError, match="unknown video codec"):
        video_settings("AV1")
    with pytest.raises(CodecSettingsError, match="even"):
        video_settings("VP8", 641, 480)
    with pytest.raises(CodecSettingsError, match="outside"):
        video_settings("H264", 8, 8)
    with pytest.raises(CodecSettingsError, match="frame rate"):
        open_encoder(video_settings(), 640, 480, 0, 500_000)


@given(
    codec=st.sampled_from(["VP8", "H264"]),
    width=st.integers(8, 2048).map(lambda w: w * 2),
    height=st.integers(8, 1152).map(lambda h: h * 2),
    asked=st.integers(-(10**9), 10**10),
)
def test_settings_keep_every_bitrate_in_their_range(
    codec: str, width: int, height: int, asked: int
) -> None:
    settings = video_settings(codec, width, height)
    assert settings.codec == codec
    assert settings.min_bitrate <= settings.start_bitrate <= settings.max_bitrate
    assert settings.min_bitrate <= settings.clamp(asked) <= settings.max_bitrate


@pytest.mark.parametrize("codec", ["VP8", "H264"])
async def test_first_packet_is_a_decodable_keyframe_with_increasing_pts(
    camera: SimulatedCamera, codec: str
) -> None:
    source = SoftwareVideoSource(camera, video_settings(codec, 320, 240))
    decoder = open_decoder(source.settings)
    packets = [await source.packet() for _ in range(5)]
    await source.close()
    assert [p.is_keyframe for p in packets] == [True, False, False, False, False]
    pts = [int(p.pts or 0) for p in packets]
    assert pts == sorted(set(pts)) and pts[0] == 0
    frames = [f for p in packets for f in decoder.decode(p)]
    assert len(frames) == 5 and mean_luma(frames[-1]) > BLACK


async def test_keyframe_request_makes_the_next_frame_a_keyframe(
    camera: SimulatedCamera,
) -> None:
    source = SoftwareVideoSource(camera, video_settings("VP8", 320, 240))
    await source.packet()
    assert not (await source.packet()).is_keyframe
    source.request_keyframe()
    assert (await source.packet()).is_keyframe
    assert not (await source.packet()).is_keyframe
    await source.close()


async def test_bitrate_is_clamped_and_the_encoder_follows(camera: SimulatedCamera) -> None:
    settings = video_settings("VP8", 320, 240)
    source = SoftwareVideoSource(camera, settings)
    await source.packet()
    assert source.bitrate == settings.start_bitrate
    source.set_target_bitrate(10**9)
    assert source.target_bitrate == settings.max_bitrate
    await source.packet()
    assert source.bitrate == settings.max_bitrate
    source.set_target_bitrate(1)
    assert source.target_bitrate == settings.min_bitrate
    await source.close()


async def test_blank_encodes_black_and_self_view_sees_every_frame(
    camera: SimulatedCamera,
) -> None:
    shown: list[av.VideoFrame] = []
    source = SoftwareVideoSource(camera, video_settings("VP8", 320, 240), on_frame=shown.append)
    decoder = open_decoder(source.settings)
    source.set_blank(True)
    frames = [f for _ in range(3) for f in decoder.decode(await source.packet())]
    await source.close()
    assert len(shown) == 3 and all(mean_luma(f) < BLACK for f in shown)
    assert frames and all(mean_luma(f) < BLACK for f in frames)


# -- bad input: the track ends, nothing is left running -------------------------------------


class Failing:
    """A source whose packets fail the way ``error`` says."""

    codec = "VP8"

    def __init__(self, error: Exception) -> None:
        self.error = error

    async def packet(self) -> av.Packet[Any]:
        raise self.error

    def request_keyframe(self) -> None: ...
    def set_target_bitrate(self, bps: int) -> None: ...
    def set_blank(self, blank: bool) -> None: ...
    async def close(self) -> None: ...


@pytest.mark.parametrize(
    "error", [SourceClosed("closed"), SourceError("broken"), RuntimeError("bug")]
)
async def test_a_failing_source_ends_the_track(error: Exception) -> None:
    track = EncodedVideoTrack(Failing(error))
    with pytest.raises(MediaStreamError):
        await track.recv()
    assert track.readyState == "ended"
    with pytest.raises(MediaStreamError):
        await track.recv()


async def test_a_closed_source_refuses_and_a_dead_camera_is_a_source_error(
    camera: SimulatedCamera,
) -> None:
    source = SoftwareVideoSource(camera, video_settings("VP8", 320, 240))
    await source.packet()
    await source.close()
    await source.close()  # idempotent
    with pytest.raises(SourceClosed):
        await source.packet()

    class Dead(SimulatedCamera):
        async def frame(self) -> av.VideoFrame:
            raise DeviceGone("unplugged", device="camera")

    dead = SoftwareVideoSource(Dead(), video_settings())
    with pytest.raises(SourceError, match="camera stopped"):
        await dead.packet()
    await dead.close()


def test_the_rtcp_seam_is_still_in_aiortc() -> None:
    """Fails loudly on an aiortc that no longer routes RTCP through the sender's method."""
    assert inspect.iscoroutinefunction(RTCRtpSender._handle_rtcp_packet)  # noqa: SLF001
    assert "recipient._handle_rtcp_packet(" in inspect.getsource(
        RTCDtlsTransport._handle_rtcp_data  # noqa: SLF001
    )
    with pytest.raises(AiortcSeamError, match="pin aiortc"):
        tap_sender(object(), Failing(SourceError("x")))  # type: ignore[arg-type]


# -- a real peer pair on loopback -----------------------------------------------------------


@pytest.mark.usefixtures("loopback_only_netns")
@pytest.mark.parametrize("codec", ["VP8", "H264"])
async def test_peer_gets_only_the_sources_codec_and_answers_pli_remb_and_blank(
    camera: SimulatedCamera, codec: str
) -> None:
    source = Recording(camera, video_settings(codec, 320, 240))
    kiosk = RTCPeerConnection(rtc_configuration(()))
    track = add_encoded_video(kiosk, source)
    far = Far(source.new_packet)
    progress = source.new_packet
    try:
        offer = await connect(kiosk, far)
        assert video_codecs(offer) == {codec, "rtx"}
        await until(lambda: len(far.lumas) >= 5, progress, "the far end decodes video")
        assert max(far.lumas) > BLACK
        pts = [p for p, _ in source.emitted]
        assert pts == sorted(set(pts))

        # PLI from the far end: the source's next frames include a keyframe at once.
        (sender,) = [t.sender for t in kiosk.getTransceivers()]
        ssrc = sender._ssrc  # noqa: SLF001
        await source.wait_packets(len(source.emitted) + 2)
        before = len(source.keyframe_requests)
        await far.send_rtcp(RtcpPsfbPacket(fmt=RTCP_PSFB_PLI, ssrc=1, media_ssrc=ssrc))
        await until(
            lambda: len(source.keyframe_requests) > before, progress, "the PLI reaches the source"
        )
        answered_at = source.keyframe_requests[before]
        await source.wait_packets(answered_at + 2)
        # The frame taken next (or, if one was being encoded, the one after) is a keyframe...
        assert any(key for _, key in source.emitted[answered_at : answered_at + 2])
        # ...and no keyframe goes out unasked after the first.
        keys = [i for i, (_, key) in enumerate(source.emitted) if key and i > 0]
        assert all(any(0 <= i - r < 2 for r in source.keyframe_requests) for i in keys)

        # REMB far above the range: clamped to the settings' maximum.
        remb = pack_remb_fci(9_999_999, [ssrc])
        await far.send_rtcp(RtcpPsfbPacket(fmt=RTCP_PSFB_APP, ssrc=1, media_ssrc=0, fci=remb))
        top = source.settings.max_bitrate
        clamped = lambda: any(a > top and c == top for a, c in source.targets)  # noqa: E731
        await until(clamped, progress, "REMB")

        # Camera off: what the far end decodes goes black, the stream keeps running.
        source.set_blank(True)
        seen = len(far.lumas)
        black = lambda: len(far.lumas) > seen + 3 and far.lumas[-1] < BLACK  # noqa: E731
        await until(black, progress, "the far end sees black")
    finally:
        await far.close()
        await kiosk.close()
        track.stop()
        await source.close()


# -- the kiosk's wiring ------------------------------------------------------------------------


async def test_local_media_encodes_the_camera_and_camera_off_reaches_the_live_source(
    camera: SimulatedCamera,
) -> None:
    media = LocalMedia(camera, SimulatedMicrophone())
    source = media.video_source()
    assert isinstance(source, SoftwareVideoSource) and source.codec == "VP8"
    decoder = open_decoder(source.settings)
    (shown,) = decoder.decode(await source.packet())
    assert mean_luma(shown) > BLACK
    media.camera_off = True  # mid-call: the customer's switch
    (hidden,) = decoder.decode(await source.packet())
    assert mean_luma(hidden) < BLACK
    assert media.latest_local_frame is not None and mean_luma(media.latest_local_frame) < BLACK
    media.reset()  # the wipe switches the camera back on
    (again,) = decoder.decode(await source.packet())
    assert mean_luma(again) > BLACK
    await source.close()


class Blanks(Failing):
    def __init__(self) -> None:
        super().__init__(SourceClosed("unused"))
        self.blank: list[bool] = []

    def set_blank(self, blank: bool) -> None:
        self.blank.append(blank)


class EncodingSimulated(SimulatedCamera):
    """A camera that brings its own packets (as the stand-in and a Pi's VideoCore do)."""

    def __init__(self) -> None:
        super().__init__(width=320, height=240)
        self.source = Blanks()
        self.previews: list[Callable[[av.VideoFrame], None] | None] = []

    def packet_source(self, on_preview: Callable[[av.VideoFrame], None] | None = None) -> Blanks:
        self.previews.append(on_preview)
        return self.source


async def test_local_media_takes_an_encoding_cameras_own_source() -> None:
    camera = EncodingSimulated()
    await camera.start()
    media = LocalMedia(camera, SimulatedMicrophone())
    media.camera_off = True
    assert media.video_source() is camera.source
    assert camera.previews[0] is not None  # the self view is fed by the camera's preview
    media.camera_off = False
    assert camera.source.blank == [True, False]
    await camera.stop()


async def test_frames_are_encoded_in_the_sources_one_thread(camera: SimulatedCamera) -> None:
    threads: list[str] = []

    class Watched(SoftwareVideoSource):
        def _encode(self, *args: Any) -> list[av.Packet[Any]]:
            threads.append(threading.current_thread().name)
            return super()._encode(*args)

    source = Watched(camera, video_settings("VP8", 320, 240))
    for _ in range(3):
        await source.packet()
    await source.close()
    assert len(set(threads)) == 1 and threads[0].startswith("video-encode")
    assert threads[0] != threading.main_thread().name


async def test_closing_while_a_packet_waits_for_the_camera_ends_it_as_closed(
    camera: SimulatedCamera,
) -> None:
    source = SoftwareVideoSource(camera, video_settings("VP8", 320, 240))
    await source.packet()
    waiting = asyncio.create_task(source.packet())
    await asyncio.sleep(0)  # let it reach the camera
    await source.close()
    with pytest.raises(SourceClosed):
        await waiting
