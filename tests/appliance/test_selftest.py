"""``kiosk selftest``: all simulated devices pass; one failing device fails the run with a hint."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from appliance.__main__ import main
from appliance.config.devices import parse_devices
from appliance.config.kiosk import ConfigError, load_devices


def test_simulate_passes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["selftest", "--simulate", "--json"]) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["ok"] and [d["device"] for d in report["devices"]] == [
        "camera",
        "microphone",
        "speaker",
        "tablet",
        "scanner",
    ]


def test_one_failing_device_fails_the_run_with_a_hint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "kiosk.toml"
    config.write_text(
        '[devices.camera]\nbackend = "pyav"\ndevice = "testsrc=size=320x240:rate=30"\n'
        'format = "lavfi"\n'
        '[devices.microphone]\nbackend = "simulated"\n'
        f'[devices.tablet]\nbackend = "isdv4"\ndevice = "{tmp_path / "ttyUSB9"}"\n'
    )
    assert main(["selftest", "--config", str(config)]) == 1
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].split() == ["DEVICE", "BACKEND", "RESULT", "DETAIL"]
    assert lines[1].split()[:3] == ["camera", "pyav", "PASS"]
    assert lines[2].split()[:3] == ["microphone", "simulated", "PASS"]
    assert lines[3].split()[:3] == ["tablet", "isdv4", "FAIL"] and "does not exist" in lines[3]
    assert "→" in lines[4] and "baud rate" in lines[4]
    assert lines[-1] == "2 passed, 1 failed"


@pytest.mark.parametrize(
    ("devices", "key", "words"),
    [
        ({"camera": {"backend": "v4l1"}}, "devices.camera.backend", "unknown backend"),
        ({"tablet": {"backend": "isdv4"}}, "devices.tablet.device", "missing"),
        (
            {"tablet": {"backend": "isdv4", "device": "/dev/ttyS0", "baud": 9600}},
            "devices.tablet.baud",
            "38400 or 19200",
        ),
        ({"printer": {"backend": "cups"}}, "devices.printer", "unknown device class"),
        ({"scanner": {"backend": "escl", "url": "ftp://x"}}, "devices.scanner.url", "http"),
        (
            {"scanner": {"backend": "sane", "device": "test", "speed": 3}},
            "devices.scanner.speed",
            "not a setting",
        ),
    ],
)
def test_bad_device_config_names_the_key(devices: dict[str, object], key: str, words: str) -> None:
    with pytest.raises(ConfigError, match=words) as info:
        parse_devices(devices)
    assert info.value.key == key


def test_config_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "kiosk.toml"
    config.write_text('[devices.tablet]\nbackend = "isdv4"\ndevice = "/dev/ttyS0"\nbaud = 1\n')
    assert main(["selftest", "--config", str(config)]) == 2
    assert "devices.tablet.baud" in capsys.readouterr().err
    assert main(["selftest", "--config", str(tmp_path / "empty.toml")]) == 2
    (tmp_path / "none.toml").write_text("")
    assert main(["selftest", "--config", str(tmp_path / "none.toml")]) == 2
    assert load_devices(None, simulate=True).camera is not None
