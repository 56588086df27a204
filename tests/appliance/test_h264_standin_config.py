"""`[devices.camera] backend = "h264-standin"`: what `kiosk run` builds, and bad values refused
as a ConfigError naming the key (docs/hardware-video.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from appliance.config.kiosk import ConfigError, load_config
from appliance.runner.devices import build_call_devices
from drivers.camera.encoded import EncodingCamera
from drivers.camera.h264_standin import H264StandinCamera

STANDIN = '[devices.camera]\nbackend = "h264-standin"\n'


def _load(tmp_path: Path, text: str, *, simulate: bool = True) -> H264StandinCamera:
    path = tmp_path / "kiosk.toml"
    sim = "simulate = true\n" if simulate else ""
    mic = "" if simulate else '[devices.microphone]\nbackend = "simulated"\n'
    path.write_text(f'token = "t"\n{sim}{text}{mic}', encoding="utf-8")
    camera = build_call_devices(load_config(path)).camera
    assert isinstance(camera, H264StandinCamera) and isinstance(camera, EncodingCamera)
    return camera


def test_the_standin_is_built_with_its_size_rate_and_bitrate(tmp_path: Path) -> None:
    camera = _load(tmp_path, STANDIN + "width = 1280\nheight = 720\nfps = 25\nbitrate = 2000000\n")
    assert (camera.info.width, camera.info.height, camera.info.fps) == (1280, 720, 25.0)
    assert camera.target_bitrate == 2_000_000
    assert "--width=1280" in camera.worker_command() and "--fps=25" in camera.worker_command()


def test_unset_fields_come_from_the_video_table_also_without_simulate(tmp_path: Path) -> None:
    text = "[video]\nwidth = 320\nheight = 240\nfps = 15\n" + STANDIN
    camera = _load(tmp_path, text, simulate=False)
    assert (camera.info.width, camera.info.height, camera.info.fps) == (320, 240, 15.0)


@pytest.mark.parametrize(
    ("line", "key"),
    [
        ("width = 650", "devices.camera.width"),
        ("height = 721", "devices.camera.height"),
        ("fps = 0", "devices.camera.fps"),
        ("bitrate = 100", "devices.camera.bitrate"),
        ("bitrate = 5000000", "devices.camera.bitrate"),
        ('bitrate = "fast"', "devices.camera.bitrate"),
        ('device = "/dev/video11"', "devices.camera.device"),
    ],
)
def test_bad_values_name_the_key(tmp_path: Path, line: str, key: str) -> None:
    with pytest.raises(ConfigError) as info:
        _load(tmp_path, f"{STANDIN}{line}\n")
    assert info.value.key == key
