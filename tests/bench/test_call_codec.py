"""bench call --codec: the kiosk is configured with the codec, and the baseline uses the same."""

from __future__ import annotations

import asyncio
import tomllib
from pathlib import Path

import pytest

from appliance.config.kiosk import config_from_mapping
from bench.call import kiosk_config
from bench.call_baseline import capture_frames, encode_decode, video_codecs


@pytest.mark.parametrize("codec", ["VP8", "H264"])
def test_the_kiosk_config_carries_the_codec_and_the_camera(codec: str, tmp_path: Path) -> None:
    text = kiosk_config("simulated", 1280, 720, legacy=False, codec=codec)
    mapping = {**tomllib.loads(text), "token": "t" * 43}  # the bench passes its token apart
    config = config_from_mapping(mapping, base_dir=tmp_path)
    assert config.video_codec == codec
    camera = tomllib.loads(text)["devices"]["camera"]
    assert camera == {"backend": "simulated", "width": 1280, "height": 720, "fps": 30}


def test_a_tree_from_before_the_codec_key_is_refused_other_than_vp8() -> None:
    assert "codec" not in kiosk_config("simulated", 640, 480, legacy=True)
    with pytest.raises(ValueError, match="VP8 only"):
        kiosk_config("simulated", 640, 480, legacy=True, codec="H264")
    with pytest.raises(ValueError, match="VP8 only"):
        video_codecs(640, 480, kiosk_settings=False, codec="H264")


@pytest.mark.parametrize(("codec", "name"), [("VP8", "libvpx"), ("H264", "h264")])
def test_the_baseline_encodes_and_decodes_in_the_kiosks_codec(codec: str, name: str) -> None:
    frames = asyncio.run(capture_frames(64, 64, 0.1, fps=30))
    encoder, decoder, described = video_codecs(64, 64, kiosk_settings=True, codec=codec)
    assert encoder.codec.name == ("libvpx" if codec == "VP8" else "libx264")
    assert decoder.codec.name == name
    assert codec in described
    packets = encode_decode(frames, encoder, decoder, fps=30, paced=False)
    assert packets, "the encoder produced nothing"
