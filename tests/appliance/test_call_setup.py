"""Call setup with the kiosk encoding its own video, and the ``[video] codec`` choice.

The encoder opens while the kiosk waits in the queue (``Call.prepare``), so the adviser's
accept is never followed by an encoder open; the first packet is a keyframe. ``[video] codec =
"h264"`` makes the kiosk's software encoder send H.264 end to end (a real aiortc pair).
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import av
import pytest
from hypothesis import given
from hypothesis import strategies as st

from appliance.call.codecs import video_settings
from appliance.call.connection import Call
from appliance.call.encoded import SoftwareVideoSource, SourceClosed
from appliance.call.media import MicrophoneTrack
from appliance.config.kiosk import ConfigError, config_from_mapping
from appliance.runner.local_media import LocalMedia
from drivers.camera import CameraInfo
from drivers.camera.simulated import SimulatedCamera
from drivers.microphone.simulated import SimulatedMicrophone
from tests.support.adviser import AdviserPeer
from tests.support.sdp import video_codecs

BASE = Path("/nonexistent-base")  # no relative paths are read by these configurations


class CountingCamera(SimulatedCamera):
    """A simulated camera that counts the frames it was asked for."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.asked = 0

    async def frame(self) -> av.VideoFrame:
        self.asked += 1
        return await super().frame()


class SizelessCamera(SimulatedCamera):
    """A camera whose reported size no encoder can open (a broken driver)."""

    @property
    def info(self) -> CameraInfo:
        real = super().info
        return CameraInfo(width=0, height=0, fps=real.fps, name=real.name)


# -- the encoder opens before the accept ---------------------------------------------------


async def test_prepare_opens_the_encoder_before_any_frame_and_the_first_is_a_keyframe() -> None:
    camera = CountingCamera(width=320, height=240, fps=30)
    await camera.start()
    source = SoftwareVideoSource(camera, video_settings("VP8", 320, 240))
    call = Call(video=source, audio=MicrophoneTrack(SimulatedMicrophone()))
    try:
        await call.prepare()
        # Open while the customer waits, and no frame taken for it.
        assert source.bitrate == source.settings.start_bitrate
        assert camera.asked == 0
        first = await source.packet()
        assert first.is_keyframe
        assert source.bitrate == source.settings.start_bitrate  # not reopened at the frame
    finally:
        await call.close()
        await camera.stop()


async def test_a_warm_up_that_fails_is_logged_and_the_call_still_prepares(
    caplog: pytest.LogCaptureFixture,
) -> None:
    camera = SizelessCamera(width=320, height=240, fps=30)
    source = SoftwareVideoSource(camera, video_settings("VP8", 320, 240))
    call = Call(video=source, audio=MicrophoneTrack(SimulatedMicrophone()))
    try:
        with caplog.at_level(logging.WARNING, logger="appliance.call.encoded"):
            await call.prepare()
        assert call.offer_sdp.startswith("v=0")
        assert source.bitrate is None
        assert any("did not open ahead" in r.getMessage() for r in caplog.records)
    finally:
        await call.close()


async def test_a_closed_source_refuses_to_prepare() -> None:
    source = SoftwareVideoSource(SimulatedCamera(), video_settings("VP8"))
    await source.close()
    with pytest.raises(SourceClosed):
        await source.prepare()


# -- [video] codec ------------------------------------------------------------------------------


@pytest.mark.parametrize(("written", "codec"), [(None, "VP8"), ("vp8", "VP8"), ("h264", "H264")])
def test_video_codec_key_names_the_rtp_codec(written: str | None, codec: str) -> None:
    video: dict[str, Any] = {} if written is None else {"codec": written}
    config = config_from_mapping({"token": "t", "video": video}, base_dir=BASE)
    assert config.video_codec == codec
    assert video_settings(config.video_codec).codec == codec


@pytest.mark.parametrize("bad", ["H264", "vp9", "h265", "", " vp8", 264, True, ["vp8"]])
def test_a_bad_video_codec_is_a_config_error_naming_the_key(bad: object) -> None:
    with pytest.raises(ConfigError) as info:
        config_from_mapping({"token": "t", "video": {"codec": bad}}, base_dir=BASE)
    assert info.value.key == "video.codec"
    assert "vp8" in info.value.problem and "h264" in info.value.problem


@given(st.text(max_size=12).filter(lambda s: s not in ("vp8", "h264")))
def test_any_other_codec_name_is_refused(bad: str) -> None:
    with pytest.raises(ConfigError) as info:
        config_from_mapping({"token": "t", "video": {"codec": bad}}, base_dir=BASE)
    assert info.value.key == "video.codec"


@pytest.mark.usefixtures("loopback_only_netns")
async def test_h264_from_the_config_is_what_the_far_end_decodes() -> None:
    config = config_from_mapping({"token": "t", "video": {"codec": "h264"}}, base_dir=BASE)
    camera = SimulatedCamera(width=320, height=240, fps=30)
    microphone = SimulatedMicrophone()
    media = LocalMedia(camera, microphone, video_codec=config.video_codec)
    await media.start(lambda _line: None)
    source = media.video_source()
    call = Call(video=source, audio=media.audio_track())
    adviser = AdviserPeer()
    try:
        await call.prepare()
        assert source.codec == "H264"
        assert video_codecs(call.offer_sdp) == {"H264", "rtx"}
        answer = await adviser.answer(call.offer_sdp)
        assert "H264" in video_codecs(answer)
        await call.accept_answer(answer)
        async with asyncio.timeout(15):
            await adviser.probe.wait_video(15)
        assert adviser.probe.non_black_seen
        assert adviser.captures_are_from_this_call()
    finally:
        await adviser.close()
        await call.close()
        await media.stop()
