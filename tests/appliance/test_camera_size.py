"""The camera's size and rate from ``[devices.camera]``: what ``kiosk run`` builds, and every bad
value refused as a ConfigError naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from appliance.config.kiosk import ConfigError, load_config
from appliance.runner.devices import build_call_devices


def _config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "kiosk.toml"
    path.write_text('token = "t"\nsimulate = true\n' + text, encoding="utf-8")
    return path


def _camera_info(tmp_path: Path, text: str) -> tuple[int, int, float]:
    camera = build_call_devices(load_config(_config(tmp_path, text))).camera
    return camera.info.width, camera.info.height, camera.info.fps


def test_a_simulated_camera_delivers_its_configured_size_even_when_simulating(
    tmp_path: Path,
) -> None:
    # `kiosk run --simulate` used to replace the table with a default simulator (640x480).
    text = '[devices.camera]\nbackend = "simulated"\nwidth = 1280\nheight = 720\nfps = 25\n'
    assert _camera_info(tmp_path, text) == (1280, 720, 25.0)


def test_unset_fields_come_from_the_video_table(tmp_path: Path) -> None:
    video = "[video]\nwidth = 320\nheight = 240\nfps = 15\n"
    text = video + '[devices.camera]\nbackend = "simulated"\nfps = 10\n'
    assert _camera_info(tmp_path, text) == (320, 240, 10.0)
    assert _camera_info(tmp_path, "") == (640, 480, 30.0)


def test_without_simulate_the_configured_simulated_camera_is_built(tmp_path: Path) -> None:
    path = tmp_path / "kiosk.toml"
    path.write_text(
        'token = "t"\n[devices.camera]\nbackend = "simulated"\nwidth = 1920\nheight = 1080\n'
        '[devices.microphone]\nbackend = "simulated"\n'
    )
    camera = build_call_devices(load_config(path)).camera
    assert (camera.info.width, camera.info.height, camera.info.fps) == (1920, 1080, 30.0)


@pytest.mark.parametrize(
    ("line", "key"),
    [
        ("width = 650", "devices.camera.width"),  # not a multiple of 32
        ("width = 32", "devices.camera.width"),
        ("width = 4128", "devices.camera.width"),
        ("width = 1280.0", "devices.camera.width"),
        ('width = "1280"', "devices.camera.width"),
        ("width = true", "devices.camera.width"),
        ("height = 721", "devices.camera.height"),
        ("height = 62", "devices.camera.height"),
        ("height = 2306", "devices.camera.height"),
        ("fps = 0", "devices.camera.fps"),
        ("fps = 121", "devices.camera.fps"),
        ("fps = 29.97", "devices.camera.fps"),
        ("fps = -30", "devices.camera.fps"),
        ("size = 3", "devices.camera.size"),
    ],
)
def test_bad_sizes_name_the_key(tmp_path: Path, line: str, key: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(_config(tmp_path, f'[devices.camera]\nbackend = "simulated"\n{line}\n'))
    assert info.value.key == key
    assert key in str(info.value)
